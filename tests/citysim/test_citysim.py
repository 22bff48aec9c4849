"""The simulated city: its district file is checked strictly, and its residents write like
people, not like a campaign."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from ombud.citysim.geography import load_city, shipped_city
from ombud.citysim.writing import SUBJECTS, write_post
from ombud.errors import ConfigError
from ombud.integrity.coordination import shingles


def test_the_shipped_city_has_its_districts() -> None:
    city = shipped_city()
    assert set(city.ids) == {"harbour", "old-town", "centre", "north", "riverside", "university"}
    assert all(-180 <= d.centre[0] <= 180 and d.weight > 0 for d in city.districts)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(type="Feature"),
        lambda d: d["features"][0].update(id="Not A District!"),
        lambda d: d["features"][0]["geometry"].update(type="Point"),
        lambda d: d["features"][1].update(id=d["features"][0]["id"]),
        lambda d: d["features"][0]["properties"].update(residents=-1),
        lambda d: d.update(features=[]),
    ],
)
def test_a_bad_city_file_is_refused(mutate: object) -> None:
    doc = json.loads(json.dumps(_doc()))
    mutate(doc)  # type: ignore[operator]
    with pytest.raises(ConfigError):
        load_city(json.dumps(doc).encode())


def _doc() -> dict[str, object]:
    from importlib import resources

    text = (resources.files("ombud.citysim") / "data" / "city.geojson").read_text("utf-8")
    return dict(json.loads(text))


def test_residents_rarely_write_near_duplicates() -> None:
    """The campaign detector joins posts whose character 5-grams resemble at 0.5 or more; among
    300 posts of one cell and one feeling, fewer than 1 pair in 1,000 does."""
    rng = random.Random(3)
    for service in ("noise", "waste"):
        texts = [shingles(write_post(service, "negative", rng)) for _ in range(300)]
        close = sum(len(a & b) / len(a | b) >= 0.5 for a, b in itertools.combinations(texts, 2))
        assert close < 300 * 299 / 2 / 1000
    assert all(write_post(s, "neutral", rng) for s in SUBJECTS)
