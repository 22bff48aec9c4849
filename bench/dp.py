"""Differential privacy benchmark: the error of a released mean, and the time of a release.

Accuracy: 50 districts x 11 services, every cell with 500 residents (one tokened post each,
satisfaction -1, 0 or 1 drawn with a per-cell mix), released again and again at rho = 0.5 per
release (the weekly release). Reports, over all cells and releases, the median and 95th
percentile of |released mean - true mean|, the error bound each release reports (OpenDP's 95%
accuracy of count and sum, union bound), and how often the true mean fell within it.

Speed: 1,000,000 tokened posts of one period in the deployment database (SQLite, inserted
directly: issuing a million tokens is the issuer's work, not the platform's), released through
``PrivacyOffice.release`` as ``ombud privacy release`` runs it: read the period's posts,
OpenDP, the ``dp.released`` ledger event. The baseline, measured in the same run, is the same
read and an exact (non-private) group-by of the same cells. Medians over repeats.
Usage: python bench/dp.py [--repeats N] [--posts N] [--releases N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ombud.config import PrivacySettings
from ombud.database import SqliteDatabase
from ombud.ledger import note
from ombud.ledger.log import Log
from ombud.ledger.store_sql import SqlStore
from ombud.migrations import upgrade
from ombud.privacy.consent import ConsentBook
from ombud.privacy.dp import SCORES, DpParameters, ReleaseBook, satisfaction
from ombud.privacy.master_key import MasterKey
from ombud.privacy.office import PrivacyOffice
from ombud.privacy.vault import Vault
from ombud.voice.posts import PostStore
from ombud.voice.redemption import TokenBook
from ombud.voice.reports import PostReports
from ombud.voice.services import CATEGORIES

RESULTS = Path(__file__).resolve().parent / "results"
DISTRICTS = [f"district-{n:02d}" for n in range(50)]
SERVICES = list(CATEGORIES)
RHO = 0.5
PERIOD = "2026-W49"
LABELS = list(SCORES)


def accuracy(residents: int, releases: int, seed: int = 1) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    cells = [(d, s) for d in DISTRICTS for s in SERVICES]
    mixes = rng.dirichlet([1.0, 1.0, 1.0], size=len(cells))
    frames, truth = [], {}
    for (district, service), mix in zip(cells, mixes, strict=True):
        labels = rng.choice(list(SCORES), size=residents, p=mix)
        truth[district, service] = float(np.mean([SCORES[x] for x in labels]))
        frames.append(
            pl.DataFrame(
                {
                    "unit": [f"{district}/{service}/{i}" for i in range(residents)],
                    "district": district,
                    "service": service,
                    "label": labels,
                }
            )
        )
    rows = pl.concat(frames)
    errors, bounds, covered = [], [], 0
    for _ in range(releases):
        outcome = satisfaction(rows, DISTRICTS, SERVICES, DpParameters(RHO, 1))
        for cell in outcome.cells:
            assert cell.mean is not None and cell.error is not None
            error = abs(cell.mean - truth[cell.district, cell.service])
            errors.append(error)
            bounds.append(cell.error)
            covered += error <= cell.error
    return {
        "residents_per_cell": residents,
        "cells": len(cells),
        "releases": releases,
        "rho_per_release": RHO,
        "abs_error_median": round(statistics.median(errors), 5),
        "abs_error_p95": round(float(np.quantile(errors, 0.95)), 5),
        "abs_error_max": round(max(errors), 5),
        "reported_bound_median": round(statistics.median(bounds), 5),
        "coverage": round(covered / len(errors), 4),
        "target": "error <= 0.05 at 95%",
        "met": float(np.quantile(errors, 0.95)) <= 0.05 and statistics.median(bounds) <= 0.05,
    }


def _deployment(directory: Path, posts: int) -> PrivacyOffice:
    db = SqliteDatabase.create(directory / "ombud.db")
    upgrade(db)
    log = Log(SqlStore.create(db, "bench.example/log"), note.Signer.generate("bench.example/log"))
    store = PostStore(db, log, TokenBook(db, origin="bench.example/log"))
    rng = np.random.default_rng(2)
    districts = rng.integers(0, len(DISTRICTS), posts)
    services = rng.integers(0, len(SERVICES), posts)
    labels = rng.integers(0, 3, posts)
    received = int(datetime(2026, 12, 2, tzinfo=UTC).timestamp())
    with db.transaction() as tx:
        tx.executemany(
            "INSERT INTO posts (id, received, district, period, channel, service_given,"
            " service, sentiment, scores, text, salt, commitment, expires, source_ref,"
            " ledger_index, unit) VALUES (?, ?, ?, ?, 'api', NULL, ?, ?, '{}', NULL, NULL,"
            " ?, ?, NULL, ?, ?)",
            (
                (
                    f"{n:032x}",
                    received,
                    DISTRICTS[districts[n]],
                    PERIOD,
                    SERVICES[services[n]],
                    LABELS[labels[n]],
                    b"\0" * 32,
                    received + 30 * 86400,
                    n,
                    f"token:{n:064x}",
                )
                for n in range(posts)
            ),
        )
    settings = PrivacySettings(dp_rho_per_period=1000.0)
    vault = Vault(db, [MasterKey.generate()])
    week_over = datetime(2026, 12, 7, 0, 5, tzinfo=UTC)  # a week is released once it ended
    releases = ReleaseBook(db, log, RHO, 1000.0, clock=lambda: week_over)
    return PrivacyOffice(
        settings,
        tuple(DISTRICTS),
        log,
        vault,
        ConsentBook(vault, log),
        releases,
        store,
        PostReports(db),
    )


def speed(posts: int, repeats: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        office = _deployment(Path(tmp), posts)
        private, exact = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            rows = office.reports.contributions(period=PERIOD)
            frame = pl.DataFrame(
                {
                    "district": [r[1] for r in rows],
                    "service": [r[2] for r in rows],
                    "score": [SCORES[r[3]] for r in rows],
                }
            )
            frame.group_by("district", "service").agg(pl.len(), pl.col("score").mean())
            exact.append(time.perf_counter() - started)
            started = time.perf_counter()
            release = office.release("satisfaction", PERIOD, actor="bench")
            private.append(time.perf_counter() - started)
            assert len(release.result["cells"]) == len(DISTRICTS) * len(SERVICES)
    return {
        "posts": posts,
        "cells": len(DISTRICTS) * len(SERVICES),
        "release_s_median": round(statistics.median(private), 3),
        "exact_baseline_s_median": round(statistics.median(exact), 3),
        "ratio_to_baseline": round(statistics.median(private) / statistics.median(exact), 2),
        "target": "<= 10 s",
        "met": statistics.median(private) <= 10,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--releases", type=int, default=20)
    parser.add_argument("--residents", type=int, default=500)
    args = parser.parse_args()
    out = {
        "benchmark": "dp",
        "accuracy": accuracy(args.residents, args.releases),
        "speed": speed(args.posts, args.repeats),
    }
    print(json.dumps(out, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dp.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
