"""Time parameters are RFC 3339 date-times with a time zone, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ombud.api.params import parse_rfc3339

from .conftest import Api

WINDOW = {"since": "2026-12-01T00:00:00Z", "until": "2026-12-02T00:00:00Z"}
ROUTES = [
    ("/integrity/quarantine", {}),
    (
        "/integrity/indicators",
        {"district": "north", "type": "NoiseLevelObserved", "attribute": "LAeq"},
    ),
    ("/integrity/coverage/noise-1", {}),
    ("/voice/sentiment", {}),
]


@pytest.mark.parametrize(("path", "params"), ROUTES)
@pytest.mark.parametrize(
    "bad",
    ["0.5", "1733313600", "2026-12-01", "2026-12-01T00:00:00", "yesterday", "2026-13-01T00:00:00Z"],
)
def test_a_time_that_is_not_rfc_3339_is_refused(
    api: Api, path: str, params: dict[str, str], bad: str
) -> None:
    """Finding: until=0.5 was accepted as a date (half a second after 1970)."""
    response = api.client.get(path, params={**params, **WINDOW, "until": bad}, headers=api.bearer)
    assert response.status_code == 400, (path, bad, response.text)
    assert ("until" in response.json()["detail"] and "RFC 3339" in response.json()["detail"]) or (
        "valid date" in response.json()["detail"]
    )


@pytest.mark.parametrize(("path", "params"), ROUTES)
def test_rfc_3339_times_are_accepted(api: Api, path: str, params: dict[str, str]) -> None:
    for until in ("2026-12-02T00:00:00Z", "2026-12-02T01:00:00+01:00", "2026-12-02t00:00:00.5z"):
        response = api.client.get(
            path, params={**params, **WINDOW, "until": until}, headers=api.bearer
        )
        assert response.status_code in (200, 404), (path, until, response.text)  # 404: no data


def test_a_release_window_in_a_body_is_rfc_3339_too(api: Api) -> None:
    body = {"dataset": "imported", "period": "2026-W49", "since": 0, "until": 0.5}
    response = api.client.post("/privacy/releases", json=body, headers=api.bearer)
    assert response.status_code == 400 and "RFC 3339" in response.json()["detail"]


@given(st.datetimes(timezones=st.just(UTC)), st.integers(-23, 23))
def test_any_rfc_3339_time_reads_back(at: datetime, hours: int) -> None:
    zone = timezone(timedelta(hours=hours))
    try:
        local = at.astimezone(zone)
    except OverflowError:
        return
    if local.year < 1 or local.year > 9999:
        return
    assert parse_rfc3339(local.isoformat()) == at
