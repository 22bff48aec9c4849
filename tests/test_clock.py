"""Time in one place (``ombud.clock``): RFC 3339 in, UTC out, never a guess."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ombud.clock import (
    aware,
    format_time,
    from_micros,
    parse_iso_time,
    parse_rfc3339,
    parse_time,
    to_micros,
)
from ombud.errors import MalformedError


def test_an_rfc_3339_time_with_any_offset_is_read_in_utc() -> None:
    assert parse_rfc3339("2026-12-04T11:00:00+01:00") == datetime(2026, 12, 4, 10, tzinfo=UTC)
    assert parse_rfc3339("2026-12-04t10:00:00.5z").microsecond == 500_000


@pytest.mark.parametrize(
    "bad", ["0.5", "1733313600", "2026-12-04", "2026-12-04T10:00:00", "2026-12-04 10:00:00Z", 7]
)
def test_anything_else_is_refused_by_name(bad: object) -> None:
    with pytest.raises(MalformedError, match="created_at"):
        parse_rfc3339(bad, "created_at")


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(MalformedError, match="since must carry a time zone"):
        aware(datetime(2026, 12, 4), "since")
    zone = timezone(timedelta(hours=2))
    assert parse_rfc3339(datetime(2026, 12, 4, tzinfo=zone), "since").tzinfo is zone


def test_stored_forms_round_trip() -> None:
    at = datetime(2026, 12, 4, 10, 0, 0, 123456, tzinfo=UTC)
    assert parse_time(format_time(at)) == at
    assert from_micros(to_micros(at)) == at


@pytest.mark.parametrize("year", [1, 99, 999, 1000, 2026, 9999])
def test_every_year_is_written_with_four_digits_and_read_back(year: int) -> None:
    at = datetime(year, 1, 2, 3, 4, 5, tzinfo=UTC)
    written = format_time(at)
    assert written == f"{year:04d}-01-02T03:04:05Z" and parse_time(written) == at
    assert format_time(at.replace(microsecond=7)) == f"{year:04d}-01-02T03:04:05.000007Z"


@pytest.mark.parametrize(
    "written",
    [
        "2026-12-02T09:00:00+0000",
        "2026-12-02 09:00:00Z",
        "2026-12-02T09:00:00.1234567Z",
        "2026-12-02T10:00+01",
    ],
)
def test_times_inside_other_systems_data_are_read_as_iso_8601(written: str) -> None:
    """Review finding: imports and NGSI-LD temporal queries took any ISO 8601 time with a zone
    before the strict API parser replaced it there; they keep doing so."""
    got = parse_iso_time(written, "created_at")
    assert got.replace(microsecond=0) == datetime(2026, 12, 2, 9, tzinfo=UTC)


def test_but_never_a_time_without_a_zone() -> None:
    with pytest.raises(MalformedError, match="created_at must carry a time zone"):
        parse_iso_time("2026-12-02T09:00:00", "created_at")
    with pytest.raises(MalformedError, match="ISO 8601"):
        parse_iso_time("yesterday", "created_at")
