"""Campaign benchmark: a coordinated campaign of near-duplicate posts in one district.

A district receives 400 organic posts over a week (tweets of the TweetEval validation split,
as stand-ins for what residents write: varied text, a real mix of sentiment). An organised
group, holding enough resident tokens, adds a campaign of negative posts so that it makes up a
fraction f ∈ {10%, 20%, 30%} of the district's posts. Its posts are variants of a few
templates: synonyms swapped, words added, hashtags and emoji, case and punctuation changes,
typos, and obfuscation (zero-width characters, Cyrillic homoglyphs, leetspeak) that
normalisation removes. Two timings: a burst (within six hours) and spread over the week.

Everything runs on the real path: a token per post from the issuer (RFC 9474 blind
signatures), ``PostStore.submit`` (normalisation, sentiment model, ledger, nullifier), then
``PostStore.screen`` with the default coordination settings, as ``ombud serve`` does. The
district's net sentiment, (positive - negative) / posts, is compared with the organic posts'
own figure (same labels, so the classifier's own error is not counted), counting every post
(undefended) and leaving flagged posts out (defended). Reports the shift in points of net
sentiment, the campaign posts flagged and the organic posts flagged, as medians over seeds.
Usage: python bench/campaign.py [--seeds N] [--organic N]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ombud.database import SqliteDatabase
from ombud.ledger import note
from ombud.ledger.log import Log
from ombud.ledger.store_sql import SqlStore
from ombud.migrations import upgrade
from ombud.voice.flags import FlagBook
from ombud.voice.issuer import Issuer
from ombud.voice.posts import PostStore, Submission
from ombud.voice.redemption import TokenBook
from ombud.voice.reports import PostReports
from ombud.voice.tokens import finalize_token, load_public_key, period_challenge, request_token

RESULTS = Path(__file__).resolve().parent / "results"
VAL = Path(__file__).resolve().parents[2] / "shared/data/tweeteval-sentiment/val_text.txt"
START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
FRACTIONS = (0.10, 0.20, 0.30)
TIMINGS = ("burst", "spread")
ORIGIN = "bench.example/log"
PERIOD = "2026-11"

TEMPLATES = (
    "The new parking scheme in the centre is a disgrace and the council should scrap it now",
    "Bin collections in the centre have been a shambles for weeks and nobody at the council cares",
    "The road works on the high street are a total mess, badly planned and dangerous for everyone",
)
SYNONYMS = {
    "disgrace": ("scandal", "joke", "disaster"),
    "scrap": ("drop", "bin", "cancel"),
    "shambles": ("mess", "farce", "disaster"),
    "mess": ("shambles", "farce", "nightmare"),
    "dangerous": ("unsafe", "hazardous", "risky"),
    "weeks": ("months", "ages"),
    "council": ("city", "town hall"),
}
EXTRAS = ("!!", "!!!", " #scrapit", " #fail", " 😡", " 👎👎", " Sort it out.", " Unacceptable.")
PREFIXES = ("Honestly, ", "Seriously ", "Yet again: ", "", "", "")
HOMOGLYPHS = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "c": "\u0441", "p": "\u0440"}
"""Cyrillic letters that look like Latin ones."""
LEET = {"e": "3", "a": "4", "o": "0", "i": "1"}


def variant(rng: random.Random, template: str) -> str:
    """One campaign post: the template, reworded and disguised at random."""
    words = template.split()
    for i, word in enumerate(words):
        if word in SYNONYMS and rng.random() < 0.5:
            words[i] = rng.choice(SYNONYMS[word])
    if rng.random() < 0.3:  # a typo: two letters swapped in one word
        i = rng.randrange(len(words))
        w = words[i]
        if len(w) > 3:
            j = rng.randrange(len(w) - 1)
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    if rng.random() < 0.3:  # obfuscation in one word
        i = rng.randrange(len(words))
        how = rng.choice(("zero-width", "homoglyph", "leet"))
        if how == "zero-width":
            words[i] = "\u200b".join(words[i])
        elif how == "homoglyph":
            words[i] = "".join(HOMOGLYPHS.get(c, c) for c in words[i])
        else:
            words[i] = "".join(LEET.get(c, c) for c in words[i])
    text = rng.choice(PREFIXES) + " ".join(words) + rng.choice(EXTRAS)
    return text.upper() if rng.random() < 0.1 else text


class Residents:
    """An issuer and residents who each obtain one token of the period."""

    def __init__(self, directory: Path) -> None:
        self.issuer = Issuer.init(directory / "issuer", "id.bench.example")
        self.key = self.issuer.create_period(PERIOD)
        self.public = load_public_key(self.key)
        self.count = 0

    def token(self) -> bytes:
        self.count += 1
        pending = request_token(self.public, period_challenge(self.issuer.name, PERIOD, ORIGIN))
        response = self.issuer.issue(PERIOD, f"resident-{self.count}", pending.request)
        return finalize_token(self.public, pending, response).to_bytes()


def net(counts: dict[str, int]) -> float:
    n = sum(counts.values())
    return (counts["positive"] - counts["negative"]) / n if n else 0.0


def scenario(
    directory: Path,
    residents: Residents,
    organic: list[tuple[datetime, str]],
    campaign: list[tuple[datetime, str]],
) -> dict[str, Any]:
    db = SqliteDatabase.create(directory / "ombud.sqlite")
    upgrade(db)
    now = [START]
    log = Log(SqlStore.create(db, ORIGIN), note.Signer.generate(ORIGIN))
    book = TokenBook(db, origin=ORIGIN)
    book.publish(
        log, PERIOD, residents.issuer.name, residents.key, actor="bench", clock=lambda: START
    )
    posts = PostStore(db, log, book, 30, lambda: now[0])
    reports = PostReports(db)
    kinds: dict[str, str] = {}
    timeline = sorted(
        [(t, x, "organic") for t, x in organic] + [(t, x, "campaign") for t, x in campaign]
    )
    tokens = [residents.token() for _ in timeline]  # the issuer's work, not the platform's
    started = time.perf_counter()
    for (at, text, kind), token in zip(timeline, tokens, strict=True):
        now[0] = at
        kinds[posts.submit(Submission(text, "centre"), token).post.id] = kind
    submitted = time.perf_counter() - started
    labels = {p.id: p.sentiment for p in reports.list(limit=1000)}
    truth, everything = _counts(), _counts()
    for post_id, kind in kinds.items():
        everything[labels[post_id]] += 1
        if kind == "organic":
            truth[labels[post_id]] += 1
    now[0] = START + WEEK
    started = time.perf_counter()
    FlagBook(posts).screen()
    screened = time.perf_counter() - started
    flagged = {p.id for p in reports.list(flagged=True, limit=1000)}
    summary = reports.sentiment(district="centre").to_json()["tokened"]
    defended = {k: summary[k] for k in ("negative", "neutral", "positive")}
    n_campaign = sum(1 for k in kinds.values() if k == "campaign")
    n_organic = len(kinds) - n_campaign
    db.close()
    return {
        "truth_net": net(truth),
        "undefended_shift": abs(net(everything) - net(truth)),
        "defended_shift": abs(net(defended) - net(truth)),
        "campaign_flagged": sum(1 for i in flagged if kinds[i] == "campaign") / max(n_campaign, 1),
        "organic_flagged": sum(1 for i in flagged if kinds[i] == "organic") / n_organic,
        "posts_per_s": len(kinds) / submitted,
        "screen_s": screened,
    }


def _counts() -> dict[str, int]:
    return {"negative": 0, "neutral": 0, "positive": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--organic", type=int, default=400)
    args = parser.parse_args()
    if not VAL.is_file():
        raise SystemExit(f"{VAL} is absent: this benchmark needs ../shared/data")
    tweets = [t.strip() for t in VAL.read_text(encoding="utf-8").splitlines() if t.strip()]
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        residents = Residents(Path(tmp))
        for seed in range(args.seeds):
            rng = random.Random(seed)
            texts = rng.sample(tweets, args.organic)
            organic = [(START + WEEK * rng.random(), t) for t in texts]
            for fraction in FRACTIONS:
                size = round(fraction / (1 - fraction) * args.organic)
                for timing in TIMINGS:
                    burst_at = START + timedelta(days=4, hours=9)
                    campaign = [
                        (
                            burst_at + timedelta(hours=6) * rng.random()
                            if timing == "burst"
                            else START + WEEK * rng.random(),
                            variant(rng, rng.choice(TEMPLATES)),
                        )
                        for _ in range(size)
                    ]
                    directory = Path(tmp) / f"{seed}-{fraction}-{timing}"
                    directory.mkdir()
                    result = scenario(directory, residents, organic, campaign)
                    runs.setdefault(f"{timing} {fraction:.0%}", []).append(result)
                    print(f"seed {seed} {timing} {fraction:.0%}: {json.dumps(result)}")
    out: dict[str, Any] = {
        "benchmark": "campaign",
        "organic_posts": args.organic,
        "seeds": args.seeds,
        "unit": "shift in points of net sentiment (positive - negative share), medians",
        "scenarios": {
            name: {key: round(statistics.median(r[key] for r in results), 4) for key in results[0]}
            for name, results in runs.items()
        },
    }
    print(json.dumps(out, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "campaign.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
