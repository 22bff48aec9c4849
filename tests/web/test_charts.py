"""The portal's charts: Vega-Lite specs from public figures, rendered to SVG by vl-convert that
a strict CSP can inline (no script, no style attribute)."""

from __future__ import annotations

import itertools
import json
from importlib import resources

from ombud.web import charts

CITY = json.loads((resources.files("ombud.citysim") / "data" / "city.geojson").read_bytes())


def _signed_area(ring: list[list[float]]) -> float:
    return sum(a[0] * b[1] - b[0] * a[1] for a, b in itertools.pairwise(ring))


def test_the_map_is_a_geoshape_of_every_district_with_rings_d3_reads() -> None:
    values = {"north": -0.5, "centre": 0.25}
    spec = charts.satisfaction_map_spec(CITY, values, {"north": "North"}, "noise", "2026-W46")
    features = spec["data"]["values"]["features"]
    assert len(features) == len(CITY["features"]) == 6
    assert spec["layer"][0]["mark"]["type"] == "geoshape"
    for feature in features:  # clockwise exterior rings, as d3-geo wants them
        assert _signed_area(feature["geometry"]["coordinates"][0]) < 0
    shown = {f["properties"]["district"]: f["properties"]["shown"] for f in features}
    assert shown["North"] == "-0.50" and shown["harbour"] == "no figure"


def test_rendered_charts_can_be_inlined_under_a_strict_csp() -> None:
    points = [
        {"series": s, "period": p, "satisfaction": v, "low": v - 0.2, "high": v + 0.2}
        for s, v in (("noise", -0.4), ("waste", 0.1))
        for p in ("2026-W45", "2026-W46")
    ]
    noise = [
        {"label": "north W46", "figure": f, "value": v} for f, v in (("Lden", 59), ("Lnight", 41))
    ]
    for spec in (
        charts.satisfaction_map_spec(CITY, {"north": -0.9}, {}, "noise", "2026-W46"),
        charts.trend_spec(points, "trend"),
        charts.noise_spec(noise, "noise"),
    ):
        svg = charts.render_svg(spec)
        assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
        assert "style=" not in svg and "<script" not in svg and "href=" not in svg
        assert spec["description"] in svg or "aria-label" in svg


def test_the_noise_chart_marks_what_is_past_the_who_guideline() -> None:
    rows = [
        {"label": "a", "figure": "Lden", "value": 60.0},
        {"label": "b", "figure": "Lden", "value": 50.0},
    ]
    rows += [{"label": "a", "figure": "Lnight", "value": 46.0}]
    spec = charts.noise_spec(rows, "noise")
    lden, lnight = spec["hconcat"]
    assert [v["over"] for v in lden["data"]["values"]] == ["above", "within"]
    assert lden["layer"][1]["data"]["values"] == [{"limit": charts.WHO_LDEN}]
    assert [v["over"] for v in lnight["data"]["values"]] == ["above"]
