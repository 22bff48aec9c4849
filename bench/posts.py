"""Post-acceptance benchmark: residents' posts accepted per second over HTTP, on SQLite.

Measures ``POST /voice/posts`` end to end — token verification (RFC 9578 type 2), the spent
token's nullifier, normalisation, the shipped sentiment model and the service classifier, the
post row and its ``post.accepted`` ledger entry, committed (fsync'd) before the answer — from C
concurrent clients (64 by default, keep-alive) against `ombud serve` (one uvicorn worker) on
loopback. Tokens are issued before any timing (the identity service's work, not the
platform's); texts are simulated residents' posts (``ombud.citysim.writing``). Every answer
must be 201.
  * group commit (``voice.post_batch`` 256, the default): the posts that arrive together are
    labelled in one model call and committed in one transaction;
  * the old path, same run (``voice.post_batch`` 1): one model call and one transaction per post;
  * ceilings, same run: the model alone on the same texts (batched), and token verification.
Figures are medians over --repeats; ratios compare numbers measured in this run.
Usage: python bench/posts.py [--posts N] [--clients C] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import shutil
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from ombud.citysim.writing import SUBJECTS, write_post
from ombud.deployment import Deployment, init_deployment
from ombud.process import LocalProcess, free_port
from ombud.voice.issuer import Issuer
from ombud.voice.normalise import normalise
from ombud.voice.sentiment import default_model
from ombud.voice.tokens import finalize_token, load_public_key, period_challenge, request_token

ROOT = Path(__file__).resolve().parent
WORK = ROOT / "work" / "posts"
RESULTS = ROOT / "results"
PERIOD = "bench-posts"  # a free label: a week's tokens pay only during that week
FEELINGS = ("negative", "neutral", "positive")


def prepare(name: str, posts: int, seed: int) -> tuple[Path, list[tuple[bytes, dict[str, Any]]]]:
    """A deployment with a published issuer key, and ``posts`` (token, body) pairs."""
    data_dir = WORK / name
    shutil.rmtree(data_dir, ignore_errors=True)
    init_deployment(data_dir, "bench.ombud.localhost/posts")
    issuer = Issuer.init(data_dir / "issuer", "id.bench.ombud.localhost")
    key = issuer.create_period(PERIOD)
    with Deployment.open(data_dir) as deployment:
        book = deployment.posts.book
        clock = deployment.clock
        book.publish(deployment.log, PERIOD, issuer.name, key, actor="bench", clock=clock)
        origin = book.origin
    public = load_public_key(key)
    challenge = period_challenge(issuer.name, PERIOD, origin)
    rng = random.Random(seed)
    pending = [request_token(public, challenge) for _ in range(posts)]
    responses = issuer.issue_many(PERIOD, [(f"r{i}", p.request) for i, p in enumerate(pending)])
    out = []
    for p, response in zip(pending, responses, strict=True):
        assert isinstance(response, bytes)
        token = finalize_token(public, p, response).to_bytes()
        service = rng.choice(list(SUBJECTS))
        text = write_post(service, rng.choice(FEELINGS), rng)
        out.append((token, {"text": text, "district": "centre", "service": service}))
    return data_dir, out


def run(name: str, posts: int, clients: int, batch: int, seed: int) -> float:
    import base64

    data_dir, work = prepare(name, posts, seed)
    port = free_port()
    args = ["serve", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}"]
    env = {"OMBUD_VOICE_POST_BATCH": str(batch), "OMBUD_VOICE_SCREEN_INTERVAL_S": "0"}
    server = LocalProcess(args, port, "/metrics", data_dir / "server.log", env=env)
    server.start(timeout=90)
    statuses: list[int] = []
    lock = threading.Lock()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as warm:  # load the model
            warm.get("/voice/services")

        def send(share: list[tuple[bytes, dict[str, Any]]]) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
                for token, body in share:
                    header = base64.urlsafe_b64encode(token).decode().rstrip("=")
                    r = client.post(
                        "/voice/posts",
                        json=body,
                        headers={"Authorization": f'PrivateToken token="{header}"'},
                    )
                    with lock:
                        statuses.append(r.status_code)

        threads = [threading.Thread(target=send, args=(work[c::clients],)) for c in range(clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
    finally:
        server.stop()
    bad = [s for s in statuses if s != 201]
    if bad or len(statuses) != posts:
        raise RuntimeError(f"{name}: {len(bad)} posts not accepted: {bad[:5]}")
    return posts / elapsed


def model_ceiling(posts: int, seed: int) -> float:
    rng = random.Random(seed)
    texts = [
        normalise(write_post(rng.choice(list(SUBJECTS)), rng.choice(FEELINGS), rng))
        for _ in range(posts)
    ]
    model = default_model()
    model.classify(texts[:64])
    started = time.perf_counter()
    for start in range(0, posts, 256):
        model.classify(texts[start : start + 256])
    return posts / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    grouped, old, model = [], [], []
    for r in range(args.repeats):  # alternate, so drift on the machine hits both alike
        grouped.append(run("grouped", args.posts, args.clients, 256, r))
        old.append(run("old", args.posts, args.clients, 1, r))
        model.append(model_ceiling(args.posts, r))
    result = {
        "benchmark": "posts",
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPUs",
        "posts": args.posts,
        "clients": args.clients,
        "repeats": args.repeats,
        "posts_per_s_group_commit": round(statistics.median(grouped)),
        "posts_per_s_old_path": round(statistics.median(old)),
        "group_commit_vs_old": round(statistics.median(grouped) / statistics.median(old), 2),
        "model_alone_posts_per_s": round(statistics.median(model)),
        "runs": {"group_commit": [round(x) for x in grouped], "old": [round(x) for x in old]},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "posts.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
