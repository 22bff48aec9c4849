"""Differentially private releases: residents' satisfaction per district x service x period.

Threat model: a published figure must not reveal whether any one resident took part, however
many figures are combined, and the operator must not be able to spend more privacy than
declared unseen. Every release goes through OpenDP (Gaussian mechanism, zero-concentrated DP,
DESIGN §7) with each resident's contribution bounded by construction — one token per period,
or ``dp_max_contributions`` cells per pseudonymised author of imported posts — over the
public key set of districts x services, so a cell's presence says nothing; cells whose noisy
number of contributors is below the k-threshold are suppressed (post-processing of the noisy
count, so suppression itself is private). Each release is a ``dp.released`` event carrying its
parameters and the budget spent, and a release that would exceed the period's budget is refused.
Noise comes from OpenDP's own CSPRNG; it cannot be passed in (tests check distributions).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from ombud.canonical import canonical_json, parse_json
from ombud.clock import format_time, from_seconds, to_seconds, utc_now, week_shaped, week_window
from ombud.database import Database, Tx
from ombud.errors import BudgetExceededError, ConflictError, MalformedError, NotFoundError
from ombud.events import Event
from ombud.ledger.log import Log

__all__ = [
    "DATASETS",
    "EARLIEST_YEAR",
    "OPENDP_VERSION",
    "SCORES",
    "Cell",
    "DpParameters",
    "Release",
    "ReleaseBook",
    "check_dataset",
    "releases_before",
    "satisfaction",
]

OPENDP_VERSION = "0.16.0"
DATASETS = {
    "satisfaction": "posts paid with a resident token: one resident, one post per period",
    "imported": "imported public posts: pseudonymised authors, a bounded number of cells each",
}
SCORES = {"negative": -1.0, "neutral": 0.0, "positive": 1.0}
"""A post's satisfaction score from its sentiment label: the mean is on a -1..1 scale."""

_PERIOD = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_RELEASE_ID = re.compile(r"[0-9a-f]{32}")
EARLIEST_YEAR = 2000
"""A week released must not begin before this year: ombud holds nothing older."""


def check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise MalformedError(f"unknown dataset {dataset!r}; datasets are {', '.join(DATASETS)}")


@dataclass(frozen=True)
class DpParameters:
    rho: float
    """zCDP rho this release may spend."""
    contributions: int
    """Cells one privacy unit may contribute to (one post counted per cell)."""
    k_threshold: int = 20
    alpha: float = 0.05
    """Error bounds hold with probability 1 - alpha (95%)."""

    def __post_init__(self) -> None:
        if not 0 < self.rho <= 100 or not math.isfinite(self.rho):
            raise MalformedError("rho must be a number in (0, 100]")
        if not 1 <= self.contributions <= 1000:
            raise MalformedError("contributions must be 1 to 1000")
        if not 0 <= self.k_threshold <= 1_000_000:
            raise MalformedError("the k-threshold must be 0 to 1,000,000")
        if not 0 < self.alpha < 1:
            raise MalformedError("alpha must be in (0, 1)")


@dataclass(frozen=True)
class Cell:
    """One district x service cell of a release; figures are None when it is suppressed."""

    district: str
    service: str
    contributors: int | None
    """Noisy number of residents (privacy units) counted: the sum of the noisy label counts."""
    mean: float | None
    """Mean satisfaction from the noisy counts, -1 (all negative) … 1 (all positive), as the
    classifier labelled the posts (``ombud.insight`` corrects it for the classifier's errors)."""
    error: float | None
    """The mean is within ± this of the labels' true mean with probability 1 - alpha."""
    counts: Mapping[str, int] | None = None
    """Noisy number of posts per sentiment label (each with the release's ``countScale``)."""

    @property
    def suppressed(self) -> bool:
        return self.contributors is None

    def to_json(self) -> dict[str, Any]:
        return {
            "district": self.district,
            "service": self.service,
            "suppressed": self.suppressed,
            "contributors": self.contributors,
            "counts": None if self.counts is None else dict(self.counts),
            "meanSatisfaction": None if self.mean is None else round(self.mean, 4),
            "error95": None if self.error is None else round(self.error, 4),
        }


@dataclass(frozen=True)
class Outcome:
    """What ``satisfaction`` computed: the cells and the exact privacy spent."""

    cells: tuple[Cell, ...]
    rho: float
    count_scale: float
    count_error: float
    """Each noisy label count is within ± this of the true count with probability 1 - alpha/2;
    a sum of n counts within ± sqrt(n) times this."""


def satisfaction(
    rows: Any, districts: Sequence[str], services: Sequence[str], params: DpParameters
) -> Outcome:
    """The DP release of the number of posts per sentiment label per district x service.

    ``rows`` is a polars DataFrame with columns ``unit`` (the privacy unit's identifier),
    ``district``, ``service`` and ``label`` (negative, neutral or positive). Each unit keeps
    one row per cell in at most ``params.contributions`` cells; each count of the histogram
    (district x service x label, over the public key set) gets Gaussian noise calibrated by
    OpenDP to spend at most ``params.rho`` (zCDP). A cell whose noisy total is below the
    k-threshold is suppressed. Everything else is post-processing of the noisy counts: the
    mean satisfaction ``(positive - negative) / total`` and its error bound, from OpenDP's
    accuracy of one count at alpha/2, times sqrt(2) for the difference and sqrt(3) for the
    total (a union bound over the two, at alpha/2 each:
    ``|mean - true| <= (err_diff + err_total) / total`` since |true mean| <= 1).
    """
    import opendp.prelude as dp
    import polars as pl
    from opendp.accuracy import summarize_polars_measurement
    from opendp.extras.polars import Margin

    dp.enable_features("contrib")
    if not districts or not services:
        raise MalformedError("a release needs the public lists of districts and services")
    by = ["district", "service", "label"]
    keys = (
        pl.DataFrame({"district": list(districts)})
        .join(pl.DataFrame({"service": list(services)}), how="cross")
        .join(pl.DataFrame({"label": list(SCORES)}), how="cross")
    )
    data = rows.select(
        # a 64-bit hash of the unit: the same grouping with far less to hash, window and hand
        # to OpenDP; a collision would merge two units, which truncation then bounds as one
        pl.col("unit").cast(pl.String).hash(seed=0x6F6D627564),
        pl.col("district").cast(pl.String),
        pl.col("service").cast(pl.String),
        pl.col("label").cast(pl.String),
    ).lazy()
    # The domain and the privacy unit (one identifier per resident) as OpenDP's Context
    # derives them; the query plan is written out below so its noise scale can be calibrated
    # in closed form instead of by OpenDP's generic binary search (hundreds of plan builds).
    # The plan is built on an empty frame of the same schema: OpenDP serialises the plan's
    # source with every measurement it builds, and the data is needed only to run it.
    empty = data.clear()
    accountant = dp.Context.compositor(
        data=empty,
        privacy_unit=dp.unit_of(contributions=1, identifier="unit"),
        privacy_loss=dp.loss_of(rho=params.rho),
        split_evenly_over=1,
        margins=[Margin(by=by, max_length=max(1, rows.height))],
    ).accountant
    plan = (
        empty
        # Each unit keeps one row per cell (one label in it), then at most `contributions`
        # rows in all: OpenDP reads these two truncations (its truncate_per_group, by cell and
        # overall) as l_inf = 1 and l_0 = c. Not truncate_num_groups: in 0.16 its filter
        # "dense rank < k" keeps k - 1 groups while the analysis charges for k.
        .filter(pl.int_range(pl.len()).over("unit", "district", "service") < 1)
        .filter(pl.int_range(pl.len()).over("unit") < params.contributions)
        .group_by(by)
        .agg(dp.len(signed=True))  # type: ignore[attr-defined]
    )
    # the public key set, joined after truncation (a Margin's invariant keys would be lost)
    plan = keys.lazy().join(plan, how="left", on=by, nulls_equal=True)

    def measure(scale: float) -> Any:
        return dp.m.make_private_lazyframe(
            accountant.input_domain,
            accountant.input_metric,
            dp.zero_concentrated_divergence(),
            plan,
            global_scale=scale,
        )

    # Gaussian noise in zCDP: rho = sensitivity^2 / (2 scale^2), so rho * scale^2 is constant;
    # one measurement at a trial scale gives the scale that spends exactly params.rho.
    trial = math.sqrt(params.contributions / params.rho)
    scale = trial * math.sqrt(float(measure(trial).map(1)) / params.rho) * (1 + 1e-9)
    measurement = measure(scale)
    while float(measurement.map(1)) > params.rho:  # float rounding: nudge up until it fits
        scale *= 1.0001
        measurement = measure(scale)
    summary = summarize_polars_measurement(measurement, params.alpha / 2)
    count_scale = float(summary["scale"].to_list()[0])
    count_error = float(summary["accuracy"].to_list()[0])
    spent = float(measurement.map(1))
    released = measurement(data).collect()
    noisy: dict[tuple[str, str], dict[str, int]] = {}
    for district, service, label, count in released.select(
        "district", "service", "label", "len"
    ).iter_rows():
        noisy.setdefault((district, service), {})[label] = int(count or 0)
    # the accuracy of a sum of n counts' independent Gaussian noise is sqrt(n) times one's
    err_diff, err_total = count_error * math.sqrt(2), count_error * math.sqrt(3)
    cells = []
    for (district, service), counts in sorted(noisy.items()):
        total = sum(counts.values())
        if total < max(params.k_threshold, 1):
            cells.append(Cell(district, service, None, None, None))
            continue
        mean = min(1.0, max(-1.0, (counts["positive"] - counts["negative"]) / total))
        error = min(2.0, (err_diff + err_total) / total)
        ordered = {label: counts[label] for label in SCORES}
        cells.append(Cell(district, service, total, mean, error, MappingProxyType(ordered)))
    return Outcome(tuple(cells), spent, count_scale, count_error)


@dataclass(frozen=True)
class Release:
    id: str
    dataset: str
    period: str
    rho: float
    created: datetime
    ledger_index: int
    result: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "dataset": self.dataset,
            "period": self.period,
            "rho": self.rho,
            "created": format_time(self.created),
            "ledgerIndex": self.ledger_index,
            **self.result,
        }


@dataclass
class ReleaseBook:
    """The privacy accountant and the releases of a deployment, written through the ledger."""

    db: Database
    log: Log
    rho_per_release: float
    rho_per_period: float
    clock: Callable[[], datetime] = utc_now
    random_bytes: Callable[[int], bytes] = os.urandom

    @staticmethod
    def _check(dataset: str, period: str) -> None:
        check_dataset(dataset)
        if not isinstance(period, str) or not _PERIOD.fullmatch(period):
            raise MalformedError("a period is 1-32 letters, digits, . _ -")

    def check_period(self, dataset: str, period: str) -> None:
        """Refuse a release of ``dataset`` for ``period`` that must not spend budget now.

        An ``imported`` period is an ISO week (the week *is* the window), and so is a
        ``satisfaction`` period spelled like one (``2026-W49``): the insight reads it as that
        week. Such a period must be a real week (``MalformedError`` for ``2026-W99``,
        ``2025-W53``, ``9999-W52``…) and must have ended by the book's clock
        (``ConflictError``): a release of a week still running — or not begun — spends the
        week's budget on part of its posts, or none, and the rest could then never be released.
        A week before ``EARLIEST_YEAR`` is refused too (``MalformedError``). Another satisfaction
        period is a token period's free label, whose end only the issuer knows; it is checked
        for its form only."""
        self._check(dataset, period)
        if dataset != "imported" and not week_shaped(period):  # the insight reads it as a week
            return
        start, end = week_window(period)
        if start.year < EARLIEST_YEAR:
            raise MalformedError(
                f"{dataset} {period} is before {EARLIEST_YEAR}: ombud holds no post from then "
                "(a typo of a year?)"
            )
        if self.clock() < end:
            raise ConflictError(
                f"{dataset} {period} has not ended: it can be released from {format_time(end)}, "
                "once all its posts are in (a release now would spend its budget on part of them)"
            )

    def spent(self, dataset: str, period: str) -> float:
        """rho spent so far on ``dataset`` in ``period`` (zCDP composes by addition)."""
        self._check(dataset, period)
        rows = self.db.read(
            "SELECT coalesce(sum(rho), 0) FROM dp_releases WHERE dataset = ? AND period = ?",
            (dataset, period),
        )
        return float(rows[0][0])

    def budget(self) -> list[dict[str, Any]]:
        rows = self.db.read(
            "SELECT dataset, period, sum(rho), count(*) FROM dp_releases"
            " GROUP BY dataset, period ORDER BY dataset, period"
        )
        return [
            {
                "dataset": d,
                "period": p,
                "rhoSpent": round(float(r), 9),
                "rhoBudget": self.rho_per_period,
                "releases": int(n),
            }
            for d, p, r, n in rows
        ]

    def release(
        self,
        dataset: str,
        period: str,
        rows: Any,
        districts: Sequence[str],
        services: Sequence[str],
        *,
        contributions: int,
        k_threshold: int,
        actor: str,
    ) -> Release:
        """Release ``rows`` (see ``satisfaction``) as ``dataset`` for ``period``, spending
        ``rho_per_release`` of the period's budget; refused (``BudgetExceededError``), before
        any noise is drawn, when that would pass ``rho_per_period``, and refused as
        ``check_period`` says for a week that is not one or has not ended."""
        self.check_period(dataset, period)
        rho = self.rho_per_release
        self._refuse_over_budget(self.spent(dataset, period), rho, dataset, period)
        params = DpParameters(rho, contributions, k_threshold)
        outcome = satisfaction(rows, districts, services, params)
        now = self.clock()
        release_id = self.random_bytes(16).hex()
        result = {
            "mechanism": f"Gaussian, zero-concentrated DP (OpenDP {OPENDP_VERSION})",
            "contributionsPerUnit": contributions,
            "kThreshold": k_threshold,
            "alpha": params.alpha,
            "histogram": "negative, neutral and positive posts per cell, each count noisy",
            "countScale": round(outcome.count_scale, 6),
            "countError": round(outcome.count_error, 4),
            "cells": [c.to_json() for c in outcome.cells],
        }
        digest = hashlib.sha256(canonical_json(result)).hexdigest()

        def build(tx: Tx) -> list[bytes]:
            rows_ = tx.execute(
                "SELECT coalesce(sum(rho), 0) FROM dp_releases WHERE dataset = ? AND period = ?",
                (dataset, period),
            )
            before = float(rows_[0][0])
            self._refuse_over_budget(before, outcome.rho, dataset, period)
            body = {
                "v": 1,
                "release": release_id,
                "dataset": dataset,
                "period": period,
                "mechanism": "gaussian-zcdp",
                "opendp": OPENDP_VERSION,
                "rho": outcome.rho,
                "rhoPeriodSpent": before + outcome.rho,
                "rhoPeriodBudget": self.rho_per_period,
                "contributionsPerUnit": contributions,
                "kThreshold": k_threshold,
                "cells": len(outcome.cells),
                "suppressed": sum(c.suppressed for c in outcome.cells),
                "result": digest,
            }
            return [Event("dp.released", now, actor, body).to_bytes()]

        def record(tx: Tx, index: int) -> None:
            tx.execute(
                "INSERT INTO dp_releases (id, dataset, period, rho, created, result, ledger_index)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    release_id,
                    dataset,
                    period,
                    outcome.rho,
                    to_seconds(now),
                    canonical_json(result).decode("utf-8"),
                    index,
                ),
            )

        index = self.log.append_with(build, record)
        return Release(release_id, dataset, period, outcome.rho, now, index, result)

    def _refuse_over_budget(self, spent: float, rho: float, dataset: str, period: str) -> None:
        if spent + rho > self.rho_per_period * (1 + 1e-9):
            raise BudgetExceededError(
                f"{dataset} {period}: rho {spent:g} of {self.rho_per_period:g} is spent; a release "
                f"of rho {rho:g} would exceed the period's budget"
            )

    def get(self, release_id: str) -> Release:
        if not isinstance(release_id, str) or not _RELEASE_ID.fullmatch(release_id):
            raise MalformedError("a release id is 32 lower-case hex digits")
        rows = self.db.read(
            "SELECT id, dataset, period, rho, created, result, ledger_index FROM dp_releases"
            " WHERE id = ?",
            (release_id,),
        )
        if not rows:
            raise NotFoundError(f"no release {release_id}")
        return _release(rows[0])

    def list(self, dataset: str | None = None, limit: int = 100) -> list[Release]:
        sql = "SELECT id, dataset, period, rho, created, result, ledger_index FROM dp_releases"
        args: tuple[object, ...] = ()
        if dataset is not None:
            check_dataset(dataset)
            sql += " WHERE dataset = ?"
            args = (dataset,)
        rows = self.db.read(sql + " ORDER BY ledger_index DESC LIMIT ?", (*args, limit))
        return [_release(r) for r in rows]


def _release(row: Sequence[Any]) -> Release:
    result = parse_json(str(row[5]).encode("utf-8"), "release")
    return Release(
        str(row[0]),
        str(row[1]),
        str(row[2]),
        float(row[3]),
        from_seconds(int(row[4])),
        int(row[6]),
        dict(result),
    )


def releases_before(db: Database, dataset: str, log_size: int) -> list[Release]:
    """Every release of ``dataset`` whose ``dp.released`` entry is before ``log_size``, oldest
    first: what was public at a checkpoint of that size."""
    check_dataset(dataset)
    rows = db.read(
        "SELECT id, dataset, period, rho, created, result, ledger_index FROM dp_releases"
        " WHERE dataset = ? AND ledger_index < ? ORDER BY ledger_index",
        (dataset, log_size),
    )
    return [_release(r) for r in rows]
