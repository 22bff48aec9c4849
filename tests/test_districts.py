"""One district-id pattern, the same wherever a district comes in."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import StringConstraints, TypeAdapter, ValidationError

from ombud.config import VoiceSettings
from ombud.districts import DISTRICT_PATTERN, is_district
from ombud.errors import ConfigError, MalformedError
from ombud.insight.report import view
from ombud.voice.posts import check_district


@pytest.mark.parametrize("value", ["north", "N-1", "cell_12.3", "0", "a" * 64])
def test_district_ids(value: str) -> None:
    assert is_district(value)


@pytest.mark.parametrize(
    "value",
    ["", "-north", ".x", "a" * 65, "north\n", "Main St 12", "48.85,2.35", "nörth", "a/b", None, 7],
)
def test_not_district_ids(value: Any) -> None:
    assert not is_district(value)


_AS_THE_API_READS = TypeAdapter(Annotated[str, StringConstraints(pattern=DISTRICT_PATTERN)])


@given(st.one_of(st.text(max_size=70), st.from_regex(DISTRICT_PATTERN)))
def test_the_api_pattern_and_the_check_agree(value: str) -> None:
    """The anchored pattern the OpenAPI description states, run by pydantic's own regex engine
    as the API runs it, takes exactly the ids every package's check takes."""
    try:
        _AS_THE_API_READS.validate_python(value)
        taken = True
    except ValidationError:
        taken = False
    assert taken == is_district(value)


@pytest.mark.parametrize("value", ["north", "-north", "Main St 12"])
def test_every_entry_point_checks_the_same_pattern(value: str) -> None:
    """A post, a deployment's district list and a report filter take and refuse the same ids."""
    entry_points = [
        lambda: check_district(value),
        lambda: VoiceSettings(districts=value),
        lambda: view({"cells": [], "changes": []}, district=value),
    ]
    for accept in entry_points:
        if is_district(value):
            accept()
        else:
            with pytest.raises((MalformedError, ConfigError)):
                accept()
