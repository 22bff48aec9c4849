"""``view``: narrowing a report to a district, a service or a week, and refusing a filter of the
wrong form (the CLI's ``insight report`` and the API share it)."""

from __future__ import annotations

import pytest

from ombud.errors import MalformedError
from ombud.insight.report import view

REPORT = {
    "cells": [
        {"district": "north", "service": "noise", "period": "2026-W46"},
        {"district": "south", "service": "waste", "period": "2026-W47"},
    ],
    "changes": [],
    "scorecards": {"north": [{"service": "noise"}], "south": [{"service": "waste"}]},
    "relations": [{"service": "noise"}],
}


def test_a_view_keeps_what_matches_every_filter() -> None:
    assert view(REPORT, district="north")["cells"] == [REPORT["cells"][0]]
    assert view(REPORT, week="2026-W47", service="waste")["cells"] == [REPORT["cells"][1]]
    assert view(REPORT, district="east")["cells"] == []  # well formed, nothing there
    narrowed = view(REPORT, service="noise")
    assert narrowed["scorecards"] == {"north": [{"service": "noise"}], "south": []}
    assert narrowed["filter"] == {"district": None, "service": "noise", "week": None}


@pytest.mark.parametrize(
    ("filters", "named"),
    [
        ({"week": "garbage"}, "ISO week"),
        ({"week": "2026-W4"}, "ISO week"),
        ({"week": "2026-W99"}, "2026-W99 is not a week of its year"),  # was an empty view
        ({"week": "0000-W00"}, "0000-W00 is not a week of its year"),
        ({"week": "2025-W53"}, "2025-W53 is not a week of its year"),
        ({"week": "9999-W52"}, "9999-W52 ends after the year 9999"),
        ({"district": "no/such"}, "district id"),
        ({"district": "x" * 65}, "district id"),
        ({"service": "Noise"}, "service category"),
        ({"service": ""}, "service category"),
    ],
)
def test_a_filter_of_the_wrong_form_is_refused(filters: dict[str, str], named: str) -> None:
    with pytest.raises(MalformedError, match=named):
        view(REPORT, **filters)
