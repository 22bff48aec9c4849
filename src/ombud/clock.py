"""Time: the one source of "now", and the one way times are written, read and stored.

Threat model: a time in a ledger leaf must have exactly one spelling, or two encodings of one
event could both be logged; a naive time (no zone) is read in the host's zone, so it is refused
wherever a time comes in. Times are written as RFC 3339 in UTC with a ``Z``, stored as integer
microseconds or seconds since the epoch, and "now" comes from ``utc_now`` — or from a clock
passed in, which is how tests and simulations move time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from ombud.errors import MalformedError

__all__ = [
    "Clock",
    "aware",
    "format_time",
    "from_micros",
    "from_seconds",
    "iso_week",
    "parse_iso_time",
    "parse_rfc3339",
    "parse_time",
    "to_micros",
    "to_seconds",
    "utc_now",
    "week_shaped",
    "week_window",
]

Clock = Callable[[], datetime]
"""What components take to know the time: ``utc_now``, or a test's clock."""

_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc_now() -> datetime:
    """The time now, in UTC (timezone-aware)."""
    return datetime.now(UTC)


def format_time(at: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``: seconds, plus microseconds when there are any."""
    if at.tzinfo is None:
        raise MalformedError("event time must be timezone-aware")
    at = at.astimezone(UTC)
    spec = "-%m-%dT%H:%M:%S.%fZ" if at.microsecond else "-%m-%dT%H:%M:%SZ"
    return f"{at.year:04d}{at.strftime(spec)}"  # %Y does not pad years before 1000


def parse_time(text: str) -> datetime:
    """The time ``format_time`` wrote (``MalformedError`` for any other spelling or type)."""
    if not isinstance(text, str):
        raise MalformedError("a time is an RFC 3339 UTC string like 2026-01-31T12:00:00Z")
    if not _TIME.fullmatch(text):
        raise MalformedError(f"{text[:40]!r} is not an RFC 3339 UTC time like 2026-01-31T12:00:00Z")
    try:
        at = datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    except ValueError:
        raise MalformedError(f"{text!r} is not a valid date and time") from None
    if format_time(at) != text:
        raise MalformedError(f"{text!r} is not in canonical form ({format_time(at)})")
    return at


def to_micros(at: datetime) -> int:
    """Microseconds since the epoch: how observation times are stored and compared (exact, in
    any dialect)."""
    delta = at.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, UTC)


def to_seconds(at: datetime) -> int:
    """Whole seconds since the epoch: how coarser times (posts, payloads) are stored."""
    return int(at.timestamp())


def from_seconds(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def parse_rfc3339(value: object, name: str = "a time") -> datetime:
    """An RFC 3339 date-time with its offset (``2026-12-04T10:00:00Z``, ``…+01:00``), in UTC:
    how ombud's own API reads a time parameter. Anything else — no zone, a bare number,
    another spelling — is ``MalformedError`` naming ``name``, never a guess."""
    if isinstance(value, datetime):  # already parsed (a default, or a caller in Python)
        return aware(value, name)
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        shown = f" {value[:40]!r}" if isinstance(value, str) else ""
        raise MalformedError(
            f"{name}{shown} must be an RFC 3339 date-time with a time zone, "
            "e.g. 2026-12-04T10:00:00Z"
        )
    try:
        return datetime.fromisoformat(value.upper()).astimezone(UTC)
    except (ValueError, OverflowError):
        raise MalformedError(f"{name} {value[:40]!r} is not a valid date and time in UTC") from None


def parse_iso_time(value: str, name: str = "a time") -> datetime:
    """An ISO 8601 date-time with a zone, as Python reads them (``+0000``, a space for the
    ``T``, more than six fraction digits…), in UTC: for times inside data that other systems
    wrote (a social-media export, an NGSI-LD temporal query), which ombud did not design. A
    time without a zone is still refused: it would be read in the host's zone."""
    try:
        at = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise MalformedError(
            f"{name} {str(value)[:40]!r} is not an RFC 3339 (ISO 8601) date-time"
        ) from None
    try:
        return aware(at, name).astimezone(UTC)
    except OverflowError:
        raise MalformedError(f"{name} {value[:40]!r} is outside the years 1 to 9999") from None


def aware(at: datetime, name: str) -> datetime:
    """``at``, refused if naive: a time without a zone would be read in the host's zone."""
    if at.tzinfo is None:
        raise MalformedError(f"{name} must carry a time zone (e.g. Z)")
    return at


_WEEK = re.compile(r"([0-9]{4})-W([0-9]{2})")


def week_shaped(text: str) -> bool:
    """Whether ``text`` is spelled as an ISO week (``2026-W49``), a real one or not: a period of
    this shape is read as that week wherever ombud meets it (a release, a token period), so it
    must be one (``week_window`` says whether it is)."""
    return _WEEK.fullmatch(text) is not None


def week_window(period: str) -> tuple[datetime, datetime]:
    """The window of ISO week ``period`` (``2026-W49``): its Monday 00:00Z and the next one.

    ``MalformedError`` for anything else: another spelling, a week its year does not have
    (``2026-W99``, ``2025-W53``, ``0000-W01``), or a week whose window ends past the year 9999
    (``9999-W52``: its next Monday is not a date Python can hold) — never ``OverflowError``."""
    match = _WEEK.fullmatch(period) if isinstance(period, str) else None
    if match is None:
        raise MalformedError(f"a week is an ISO week like 2026-W49, not {str(period)[:32]!r}")
    try:
        monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise MalformedError(f"{period} is not a week of its year") from None
    start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
    try:
        return start, start + timedelta(days=7)
    except OverflowError:
        raise MalformedError(f"{period} ends after the year 9999") from None


def iso_week(at: datetime) -> str:
    """The ISO week ``at`` falls in, as ``2026-W49``."""
    year, week, _ = aware(at, "a time").astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"
