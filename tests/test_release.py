"""One rule for every release of a held item (``ombud.release``)."""

from __future__ import annotations

import pytest

from ombud.errors import ConflictError, MalformedError
from ombud.release import MAX_REASON, AlreadyReleasedError, check_reason


@pytest.mark.parametrize("reason", ["", "   ", "x" * (MAX_REASON + 1), None, 7])
def test_a_reason_is_one_to_500_characters_never_truncated(reason: object) -> None:
    with pytest.raises(MalformedError, match="1-500 characters"):
        check_reason(reason)


@pytest.mark.parametrize("reason", ["\x7f", "ok\x00", "a\x1bb", "x\ud800", "a\x85b"])
def test_a_reason_holds_no_control_character(reason: str) -> None:
    with pytest.raises(MalformedError, match="control character"):
        check_reason(reason)


def test_a_good_reason_is_kept_as_given() -> None:
    assert check_reason("x" * MAX_REASON) == "x" * MAX_REASON
    assert check_reason(" sensor replaced ") == " sensor replaced "
    text = "replaced\n\tby the vendor, café ✓ \u200fשנה"  # bidi marks are text, not controls
    assert check_reason(text) == text


def test_releasing_twice_is_a_conflict() -> None:
    assert issubclass(AlreadyReleasedError, ConflictError)
    assert AlreadyReleasedError("released already").current is None
