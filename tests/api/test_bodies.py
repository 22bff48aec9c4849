"""Every JSON and form body goes through one strict parser with a depth limit."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ombud.api.bodies import MAX_DEPTH, MAX_FORM_FIELDS, parse_form, parse_json_body
from ombud.errors import MalformedError

from .conftest import Api

JSON_ROUTES = [
    "/voice/posts",
    "/voice/receipts",
    "/voice/issuer-keys",
    "/admin/devices",
    "/admin/devices/noise-1/revoke",
    "/privacy/consents",
    "/privacy/releases",
    "/integrity/quarantine/noise-1/1/release",
    "/voice/flags/" + "0" * 32 + "/release",
]


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 956, 30_000])  # 30,000: just under the cap
def test_deep_json_to_open311_is_a_400_not_a_500(
    api: Api, depth: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Finding 5: 956 nested arrays posted to Open311 raised an uncaught RecursionError — a
    500 and 11 KB of traceback in the log for a 1.9 KB request."""
    caplog.set_level(logging.DEBUG)
    deep = b"[" * depth + b"]" * depth
    response = api.client.post(
        "/open311/v2/requests.json", content=deep, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    (error,) = response.json()
    assert error["code"] == 400 and (
        "deeper" in error["description"] or "JSON" in error["description"]
    )
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.levelno >= 40]


@pytest.mark.parametrize("route", JSON_ROUTES)
def test_deep_or_ambiguous_json_is_refused_on_every_route(api: Api, route: str) -> None:
    for body, reason in (
        (b"[" * 5000 + b"]" * 5000, ""),
        (b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1), "deeper"),
        (b'{"reason": "a", "reason": "b"}', "duplicate"),
        (b'{"reason": NaN}', "NaN"),
        (b'{"reason": "\xff"}', "JSON"),
    ):
        response = api.client.post(
            route, content=body, headers={"Content-Type": "application/json", **api.bearer}
        )
        assert response.status_code == 400, (route, body[:20], response.text)
        assert reason in response.json()["detail"]
    assert api.log.state().size == 0  # nothing was written


def test_sixteen_levels_of_nesting_are_read() -> None:
    assert MAX_DEPTH == 16  # README: "at most 16 levels of nesting"
    deepest = b'{"a":' * (MAX_DEPTH - 1) + b"[1]" + b"}" * (MAX_DEPTH - 1)
    value = parse_json_body(deepest)
    for _ in range(MAX_DEPTH - 1):
        value = value["a"]
    assert value == [1]
    with pytest.raises(MalformedError, match="deeper"):
        parse_json_body(b"[" + deepest + b"]")


def test_forms_are_strict_and_bounded() -> None:
    assert parse_form(b"a=1&b=&a=2") == {"a": ["1", "2"], "b": [""]}
    assert parse_form(b"") == {}
    for bad in (b"a=%ff", b"\xff=1", b"a&&b", "&".join(["x=1"] * (MAX_FORM_FIELDS + 1)).encode()):
        with pytest.raises(MalformedError):
            parse_form(bad)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=40,
    )
)
def test_what_the_parser_accepts_it_reads_back(value: object) -> None:
    import json

    text = json.dumps(value).encode()
    try:
        assert parse_json_body(text) == value
    except MalformedError as exc:
        assert "deeper" in str(exc)
