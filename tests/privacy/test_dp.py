"""Differentially private releases on synthetic data: error bounds, contribution bounds, the
k-threshold, the public key set, and the budget accountant."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from ombud.database import Database
from ombud.errors import BudgetExceededError, MalformedError
from ombud.events import Event
from ombud.privacy.dp import SCORES, DpParameters, ReleaseBook, satisfaction

from .conftest import Office

DISTRICTS = ["north", "south", "east"]
SERVICES = ["waste", "transport"]


def _rows(cells: dict[tuple[str, str], tuple[int, float]], seed: int = 7) -> pl.DataFrame:
    """``(district, service) -> (residents, share positive)``; the rest negative."""
    rng = np.random.default_rng(seed)
    frames = []
    for (district, service), (n, positive) in cells.items():
        label = np.where(rng.random(n) < positive, "positive", "negative")
        frames.append(
            pl.DataFrame(
                {
                    "unit": [f"{district}/{service}/{i}" for i in range(n)],
                    "district": [district] * n,
                    "service": [service] * n,
                    "label": label,
                }
            )
        )
    return pl.concat(frames)


def _score() -> pl.Expr:
    return pl.col("label").replace_strict(SCORES, return_dtype=pl.Float64)


def test_cells_of_500_residents_are_within_0_05_at_95_percent() -> None:
    truth = {
        (d, s): (500, share)
        for d, share in zip(DISTRICTS, (0.2, 0.5, 0.9), strict=True)
        for s in SERVICES
    }
    rows = _rows(truth)
    exact = rows.group_by("district", "service").agg(_score().mean())
    expected = {(d, s): m for d, s, m in exact.iter_rows()}
    outcome = satisfaction(rows, DISTRICTS, SERVICES, DpParameters(rho=0.5, contributions=1))
    assert outcome.rho <= 0.5
    assert len(outcome.cells) == 6
    for cell in outcome.cells:
        assert cell.error is not None and cell.error <= 0.05
        assert cell.contributors is not None and abs(cell.contributors - 500) < 25
        assert (
            cell.mean is not None
            and abs(cell.mean - expected[cell.district, cell.service]) <= cell.error * 2
        )


def test_the_error_bound_holds_at_its_confidence_over_many_releases() -> None:
    rows = _rows({("north", "waste"): (40, 0.5)})
    true = rows.select(_score().mean()).item()
    misses = 0
    for _ in range(200):
        (cell,) = [
            c
            for c in satisfaction(
                rows, ["north"], ["waste"], DpParameters(rho=0.05, contributions=1, k_threshold=0)
            ).cells
        ]
        assert cell.mean is not None and cell.error is not None
        misses += abs(cell.mean - true) > cell.error  # type: ignore[operator]
    assert misses <= 200 * 0.05 + 8  # at most alpha of releases miss (with slack for chance)


def test_one_unit_counts_once_per_cell_and_in_a_bounded_number_of_cells() -> None:
    honest = _rows({("north", "waste"): (300, 0.5), ("south", "waste"): (300, 0.5)})
    stuffed = pl.DataFrame(
        {
            "unit": ["troll"] * 3000,
            "district": (["north"] * 1000) + (["south"] * 1000) + (["east"] * 1000),
            "service": ["waste"] * 3000,
            "label": ["negative"] * 3000,
        }
    )
    outcome = satisfaction(
        pl.concat([honest, stuffed]),
        DISTRICTS,
        SERVICES,
        DpParameters(rho=100.0, contributions=1, k_threshold=0),
    )
    counts = {(c.district, c.service): c.contributors for c in outcome.cells}
    assert sum(counts[d, "waste"] or 0 for d in DISTRICTS) <= 600 + 1 + 3  # one cell, once
    assert (counts["east", "waste"] or 0) <= 3  # the troll's posts there are not counted


def test_small_cells_are_suppressed_and_every_public_key_is_present() -> None:
    rows = _rows({("north", "waste"): (300, 0.5), ("south", "transport"): (5, 1.0)})
    rows = pl.concat(
        [
            rows,
            pl.DataFrame(
                {
                    "unit": ["x"],
                    "district": ["secret-place"],
                    "service": ["waste"],
                    "label": ["positive"],
                }
            ),
        ]
    )
    outcome = satisfaction(rows, DISTRICTS, SERVICES, DpParameters(rho=0.5, contributions=1))
    keys = {(c.district, c.service) for c in outcome.cells}
    assert keys == {(d, s) for d in DISTRICTS for s in SERVICES}  # nothing from the data
    by_key = {(c.district, c.service): c for c in outcome.cells}
    assert not by_key["north", "waste"].suppressed
    assert by_key["south", "transport"].suppressed  # 5 residents < k = 20
    assert by_key["east", "waste"].suppressed and by_key["east", "waste"].mean is None


def test_parameters_are_checked() -> None:
    with pytest.raises(MalformedError):
        DpParameters(rho=0, contributions=1)
    with pytest.raises(MalformedError):
        DpParameters(rho=0.5, contributions=0)
    with pytest.raises(MalformedError, match="districts"):
        satisfaction(_rows({("north", "waste"): (5, 0.5)}), [], SERVICES, DpParameters(0.5, 1))


def test_a_release_past_the_budget_is_refused_and_each_spend_is_on_the_ledger(
    office: Office, database: Database
) -> None:
    book = ReleaseBook(database, office.log, 0.5, 1.0, clock=office.clock)
    rows = _rows({("north", "waste"): (100, 0.5)})

    def release(period: str) -> object:
        return book.release(
            "satisfaction",
            period,
            rows,
            DISTRICTS,
            SERVICES,
            contributions=1,
            k_threshold=20,
            actor="operator",
        )

    first = release("2026-12")
    release("2026-12")
    assert book.spent("satisfaction", "2026-12") == pytest.approx(1.0, rel=1e-6)
    size = office.log.state().size
    with pytest.raises(BudgetExceededError, match="would exceed"):
        release("2026-12")
    assert office.log.state().size == size  # refused before anything was drawn or written
    release("2027-01")  # another period has its own budget
    event = Event.from_bytes(office.log.entry(first.ledger_index))  # type: ignore[attr-defined]
    assert event.kind == "dp.released"
    assert event.body["rho"] <= 0.5 and event.body["rhoPeriodBudget"] == 1.0
    assert event.body["cells"] == 6
    stored = book.get(first.id)  # type: ignore[attr-defined]
    assert stored.result["cells"][0].keys() >= {"meanSatisfaction", "error95", "suppressed"}
    assert [b["rhoSpent"] for b in book.budget()] == [pytest.approx(1.0), pytest.approx(0.5)]
    with pytest.raises(MalformedError, match="unknown dataset"):
        book.spent("everything", "2026-12")
