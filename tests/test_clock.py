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
    week_window,
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


def test_a_week_window_is_monday_to_monday_in_utc() -> None:
    assert week_window("2026-W49") == (
        datetime(2026, 11, 30, tzinfo=UTC),
        datetime(2026, 12, 7, tzinfo=UTC),
    )
    assert week_window("2026-W53")[1] == datetime(2027, 1, 4, tzinfo=UTC)  # 2026 has 53 weeks
    assert week_window("0001-W01")[0] == datetime(1, 1, 1, tzinfo=UTC)
    assert week_window("9999-W51")[1] == datetime(9999, 12, 27, tzinfo=UTC)


@pytest.mark.parametrize(
    ("week", "named"),
    [
        ("9999-W52", "ends after the year 9999"),  # its next Monday overflowed: a 500 for good
        ("2026-W99", "not a week of its year"),
        ("2025-W53", "not a week of its year"),
        ("2026-W00", "not a week of its year"),
        ("0000-W01", "not a week of its year"),
        ("2026-W4", "ISO week like"),
        ("2026W49", "ISO week like"),
    ],
)
def test_a_week_out_of_range_is_malformed_never_an_overflow(week: str, named: str) -> None:
    """Attack finding: ``week_window("9999-W52")`` raised OverflowError, which a release of
    that period turned into a 500 on /insight and a traceback in the CLI."""
    with pytest.raises(MalformedError, match=named):
        week_window(week)
