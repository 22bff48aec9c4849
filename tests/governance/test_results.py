"""Tracked results, pure: an update is signed by the office that answers for the result, in
sequence; the export has Decidim's accountability columns."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import date

import pytest

from ombud.errors import (
    ForeignUpdateError,
    MalformedError,
    SignatureError,
    UnboundUpdateError,
)
from ombud.governance.results import (
    DECIDIM_COLUMNS,
    Milestone,
    Result,
    ResultUpdate,
    decidim_csv,
    decidim_rows,
    sign_update,
    verify_update,
)
from tests.governance.test_decisions import ORIGIN
from tests.governance.test_roster import GENESIS, KEYS

RESULT = Result(
    "r-harbour-quiet",
    None,
    "Quieter nights on the harbour front",
    "Construction noise limited to daytime; night-time noise measured and reported.",
    date(2027, 1, 1),
    date(2027, 6, 30),
    "officer-a",
    "m-2026-17",
    None,
    (Milestone("Limits in force", date(2027, 1, 1)), Milestone("First report", date(2027, 3, 31))),
    "north",
)


def test_updates_are_signed_by_the_responsible_office() -> None:
    first = sign_update(
        RESULT.id, 0, "planned", 0, "", "officer-a", KEYS["officer-a"], RESULT, origin=ORIGIN
    )
    verify_update(GENESIS, "officer-a", first, origin=ORIGIN)
    assert ResultUpdate.from_json(first.to_json()) == first
    by_other = sign_update(
        RESULT.id, 1, "completed", 100, "", "officer-b", KEYS["officer-b"], origin=ORIGIN
    )
    with pytest.raises(SignatureError):
        verify_update(GENESIS, "officer-a", by_other, origin=ORIGIN)
    delayed = sign_update(
        RESULT.id, 1, "delayed", 10, "", "officer-a", KEYS["officer-a"], origin=ORIGIN
    )
    edited = replace(delayed, progress=90)
    with pytest.raises(SignatureError):
        verify_update(GENESIS, "officer-a", edited, origin=ORIGIN)
    with pytest.raises(MalformedError):
        sign_update(RESULT.id, 1, "done", 100, "", "officer-a", KEYS["officer-a"], origin=ORIGIN)
    with pytest.raises(MalformedError):
        replace(RESULT, contract="ocds-0mbud0-x")  # one decision or one contract, not both


def test_the_export_has_decidims_columns() -> None:
    update = sign_update(
        RESULT.id, 0, "in-progress", 40, "", "officer-a", KEYS["officer-a"], RESULT, origin=ORIGIN
    )
    rows = decidim_rows([(RESULT, update, "2027-02-01T10:00:00Z", 123)])
    parsed = list(csv.DictReader(io.StringIO(decidim_csv(rows))))
    assert tuple(parsed[0]) == DECIDIM_COLUMNS
    assert parsed[0]["progress"] == "40" and parsed[0]["parent_id"] == ""
    assert parsed[0]["decision"] == "m-2026-17" and parsed[0]["status"] == "in-progress"


def test_the_csv_export_keeps_formulas_as_text() -> None:
    """CSV injection (OWASP): a title a spreadsheet would run is exported after an apostrophe;
    the JSON rows keep it as it is."""
    update = sign_update(
        RESULT.id, 0, "planned", 0, "", "officer-a", KEYS["officer-a"], RESULT, origin=ORIGIN
    )
    for title in ['=HYPERLINK("http://x.example","y")', "+1", "-1+1", "@SUM(A1)", "\tx", "\rx"]:
        rows = decidim_rows([(replace(RESULT, title=title), update, "2027-02-01T10:00:00Z", 1)])
        assert rows[0]["title"] == title
        exported = io.StringIO(decidim_csv(rows), newline="")
        assert next(csv.DictReader(exported))["title"] == "'" + title
    rows = decidim_rows([(replace(RESULT, title="a = b"), update, "2027-02-01T10:00:00Z", 1)])
    assert next(csv.DictReader(io.StringIO(decidim_csv(rows))))["title"] == "a = b"
    # a carriage return inside a title cannot start a row of its own
    title = "x\r999,forged,row"
    rows = decidim_rows([(replace(RESULT, title=title), update, "2027-02-01T10:00:00Z", 1)])
    parsed = list(csv.DictReader(io.StringIO(decidim_csv(rows), newline="")))
    assert len(parsed) == 1 and parsed[0]["title"] == title


def test_an_update_names_its_deployment_since_version_2() -> None:
    """As votes: version 2 binds the origin; another deployment's update is refused by name; a
    version-1 update keeps its exact form and counts only as recorded history."""
    key = KEYS["officer-a"]
    bound = sign_update(RESULT.id, 0, "planned", 0, "", "officer-a", key, RESULT, origin=ORIGIN)
    assert bound.version == 2 and bound.to_json()["v"] == 2
    assert ResultUpdate.from_json(bound.to_json()) == bound
    assert bound.signed_message().startswith(b"ombud-result-update/v2\n")
    with pytest.raises(ForeignUpdateError, match="signed for deployment"):
        verify_update(GENESIS, "officer-a", bound, origin="staging.example/log")
    moved = replace(bound, origin="staging.example/log")
    with pytest.raises(SignatureError):
        verify_update(GENESIS, "officer-a", moved, origin="staging.example/log")
    old = sign_update(RESULT.id, 0, "planned", 0, "", "officer-a", key, RESULT, origin=None)
    assert old.version == 1 and "v" not in old.to_json() and "origin" not in old.to_json()
    assert old.signed_message().startswith(b"ombud-result-update/v1\n")
    assert ResultUpdate.from_json(old.to_json()) == old
    with pytest.raises(UnboundUpdateError, match="names no deployment"):
        verify_update(GENESIS, "officer-a", old, origin=ORIGIN)
    verify_update(GENESIS, "officer-a", old, origin=ORIGIN, recorded=True)
    with pytest.raises(SignatureError):  # a downgrade
        verify_update(
            GENESIS, "officer-a", replace(bound, origin=None), origin=ORIGIN, recorded=True
        )
    for bad in ({**bound.to_json(), "v": 1}, {**old.to_json(), "origin": ORIGIN}):
        with pytest.raises(MalformedError):
            ResultUpdate.from_json(bad)
