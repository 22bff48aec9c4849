"""Strict JSON in, canonical JSON out."""

from __future__ import annotations

import pytest

from ombud.canonical import canonical_json, is_json_number, is_text, parse_json
from ombud.errors import MalformedError


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"a": 1, "a": 2}', "duplicate JSON member 'a'"),
        (b'{"a": NaN}', "NaN is not JSON"),
        (b"[Infinity]", "Infinity is not JSON"),
        (b'{"a": "\xff"}', "not JSON"),
        (b'{"a": ', "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (b'{"a": ["ok", "\\ud800"]}', "lone surrogate"),  # RFC 7493 (I-JSON) 2.1
        (b'{"a": {"\\udc00": 1}}', "lone surrogate"),  # in a member name
        (b'"\\uDBFFx"', "lone surrogate"),
        (b'"\\udc00\\ud800"', "lone surrogate"),  # a pair the wrong way round
    ],
)
def test_strict_parsing(data: bytes, message: str) -> None:
    with pytest.raises(MalformedError, match=message):
        parse_json(data, "the body")


def test_escaped_characters_outside_the_bmp_and_escaped_backslashes_are_text() -> None:
    assert parse_json(b'["\\ud83d\\ude00"]') == ["\U0001f600"]  # a surrogate pair: one character
    assert parse_json(b'["\\\\ud800"]') == ["\\ud800"]  # a backslash, then "ud800"
    assert is_text("caf\u00e9 \U0001f600") and not is_text("\udcff")  # surrogateescape's byte


def test_canonical_form() -> None:
    assert canonical_json({"b": [1, 2.5, "é"], "a": None}) == b'{"a":null,"b":[1,2.5,"\xc3\xa9"]}'
    assert parse_json(canonical_json({"z": {"y": 1}})) == {"z": {"y": 1}}
    for bad in ({"x": float("nan")}, {"x": 2**60}, {"x": object()}):
        with pytest.raises(MalformedError, match="RFC 8785"):
            canonical_json(bad)


# --- the fast serialiser agrees with the reference implementation ------------------------------

import rfc8785  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


def _holds_whole_number_beyond_exact(value: object) -> bool:
    """Whether ``value`` holds a float that ECMAScript writes as an integer over 2**53 - 1."""
    if isinstance(value, float):
        return value.is_integer() and 2**53 <= abs(value) < 1e21
    if isinstance(value, dict):
        return any(_holds_whole_number_beyond_exact(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_whole_number_beyond_exact(v) for v in value)
    return False


@settings(max_examples=500, deadline=None)
@given(_values)
def test_canonical_json_agrees_with_rfc8785(value: object) -> None:
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        with pytest.raises(MalformedError):
            canonical_json(value)
        return
    if _holds_whole_number_beyond_exact(value):  # ombud's one refusal beyond RFC 8785's
        with pytest.raises(MalformedError, match="outside the exact range"):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


@settings(max_examples=500, deadline=None)
@given(_values | st.floats(min_value=2.0**52, max_value=1e22))
def test_what_is_written_reads_back_as_the_same_bytes(value: object) -> None:
    """Every canonical text parses, and canonicalises again to itself: a stored or logged value
    can always be read back (1e16 was written as an integer the parser then refused)."""
    try:
        written = canonical_json(value)
    except MalformedError:
        return
    assert canonical_json(parse_json(written)) == written


@pytest.mark.parametrize(
    "number",
    [1.0, -0.0, 1e21, 1e-6, 1e-7, 5e-324, 1.7976931348623157e308,
     0.1, 4.35, 333333333.3333333, 9007199254740991.0, 1e300],
)  # fmt: skip
def test_numbers_take_their_ecmascript_form(number: float) -> None:
    """RFC 8785 §3.2.2.3 and Appendix B: ECMAScript's Number.prototype.toString."""
    assert canonical_json(number) == rfc8785.dumps(number)


@pytest.mark.parametrize(
    "number", [9007199254740992.0, -9007199254740992.0, 1e16, 123456789012345680.0, 1e20]
)
def test_whole_numbers_outside_the_exact_range_are_refused_as_floats_too(number: float) -> None:
    """ECMAScript writes them as plain digits, an integer ombud would refuse to read back."""
    with pytest.raises(MalformedError, match="outside the exact range"):
        canonical_json(number)
    with pytest.raises(MalformedError, match="outside the exact range"):
        canonical_json(int(number))


def test_keys_sort_by_utf16_code_units() -> None:
    """RFC 8785 §3.2.3: U+1F600 (a surrogate pair, D83D DE00) sorts before U+FB33."""
    value = {"\ufb33": 1, "\U0001f600": 2, "a": 3}
    assert canonical_json(value) == rfc8785.dumps(value)
    assert canonical_json(value).index("😀".encode()) < canonical_json(value).index(
        "\ufb33".encode()
    )


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(), _values, max_size=6), st.sets(st.text(), max_size=3))
def test_canonical_members_assemble_the_object_with_and_without_members(
    obj: dict[str, object], excluded: set[str]
) -> None:
    from ombud.canonical import CanonicalMembers

    try:
        whole = canonical_json(obj)
    except MalformedError:
        return
    members = CanonicalMembers(obj)
    assert members.whole() == whole
    rest = {k: v for k, v in obj.items() if k not in excluded}
    assert members.without(*excluded) == canonical_json(rest)


@settings(max_examples=2000)
@given(
    st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(2**52, 2**70).map(float)
    | st.sampled_from([2.0**53, -(2.0**53), 2.0**53 - 1, 1e21, 9.99e20, 5e-324, -0.0])
)
def test_is_json_number_says_exactly_what_canonical_json_writes_and_reads_back(x: float) -> None:
    try:
        written = canonical_json(x)
    except MalformedError:
        assert not is_json_number(x)
    else:
        assert is_json_number(x) and parse_json(written) == x
