"""The portal's charts: Vega-Lite specifications built from public figures, rendered to SVG on
the server by ``vl-convert`` (Vega's own renderer, shipped in the wheel; nothing is fetched).

Threat model: the figures are public (DP releases, sensor aggregates) and so are the charts;
labels come from district and service ids the insight already validated, and the SVG Vega
writes has no scripts and no ``style`` attributes, so it is inlined under a CSP without
``unsafe-inline``. Specs are pure functions of their figures; rendering is cached by the
caller per checkpoint.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "WHO_LDEN",
    "WHO_LNIGHT",
    "noise_spec",
    "render_svg",
    "satisfaction_map_spec",
    "trend_spec",
]

_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
WHO_LDEN = 53.0
"""WHO Environmental Noise Guidelines (2018), road traffic, L_den in dB."""
WHO_LNIGHT = 45.0
"""The same guidelines, L_night in dB."""
_FONT = "DejaVu Sans, Verdana, sans-serif"
_CONFIG: dict[str, Any] = {
    "font": _FONT,
    "view": {"stroke": None},
    "axis": {"labelColor": "#1a1a1a", "titleColor": "#1a1a1a", "labelFontSize": 12},
    "legend": {"labelColor": "#1a1a1a", "titleColor": "#1a1a1a", "labelFontSize": 12},
    "title": {"color": "#1a1a1a", "fontSize": 14},
}
_DIVERGING = {"scheme": "redblue", "domain": [-1, 1]}
_WEEK = {"field": "period", "type": "ordinal", "title": "ISO week"}
_render_lock = threading.Lock()


def _spec(description: str, **body: Any) -> dict[str, Any]:
    return {"$schema": _SCHEMA, "description": description, "config": _CONFIG, **body}


def _clockwise(geometry: Mapping[str, Any]) -> dict[str, Any]:
    """The polygon with clockwise rings, as d3-geo (under Vega) reads them: RFC 7946 asks for
    counter-clockwise exterior rings, which d3 would take for the whole globe minus the
    district."""

    def ring(points: Sequence[Sequence[float]]) -> list[list[float]]:
        area = sum(a[0] * b[1] - b[0] * a[1] for a, b in itertools.pairwise(points))
        ordered = [list(p) for p in points]
        return ordered[::-1] if area > 0 else ordered

    return {"type": "Polygon", "coordinates": [ring(r) for r in geometry["coordinates"]]}


def satisfaction_map_spec(
    geojson: Mapping[str, Any],
    satisfaction: Mapping[str, float | None],
    names: Mapping[str, str],
    service: str,
    period: str,
) -> dict[str, Any]:
    """A choropleth of one service's satisfaction per district (a ``geoshape`` over the city's
    GeoJSON); districts without a figure are grey and say why in their tooltip."""
    features = []
    for feature in geojson["features"]:
        district = str(feature["id"])
        value = satisfaction.get(district)
        features.append(
            {
                "type": "Feature",
                "geometry": _clockwise(feature["geometry"]),
                "properties": {
                    "district": names.get(district, district),
                    "satisfaction": value,
                    "shown": "no figure" if value is None else f"{value:+.2f}",
                },
            }
        )
    data = {"values": {"type": "FeatureCollection", "features": features}}
    data["format"] = {"type": "json", "property": "features"}
    return _spec(
        f"Map of satisfaction with {service} per district, {period}",
        width=560,
        height=360,
        title=f"Satisfaction with {service.replace('_', ' ')}, {period}",
        data=data,
        projection={"type": "mercator"},
        layer=[
            {
                "mark": {
                    "type": "geoshape",
                    "stroke": "#1a1a1a",
                    "strokeWidth": 1.5,
                    "invalid": None,
                },
                "encoding": {
                    "color": {
                        "condition": {
                            "test": "!isValid(datum.properties.satisfaction)",
                            "value": "#c8c8c8",
                        },
                        "field": "properties.satisfaction",
                        "type": "quantitative",
                        "scale": _DIVERGING,
                        "title": "satisfaction (\u22121 to 1); grey: no figure",
                        "legend": {"orient": "bottom", "gradientLength": 240, "titleLimit": 400},
                    },
                    "tooltip": [
                        {"field": "properties.district", "title": "district"},
                        {"field": "properties.shown", "title": "satisfaction"},
                    ],
                },
            },
            {
                "mark": {"type": "text", "fontSize": 12, "fontWeight": "bold", "color": "#000"},
                "encoding": {
                    "longitude": {"field": "lon", "type": "quantitative"},
                    "latitude": {"field": "lat", "type": "quantitative"},
                    "text": {"field": "label"},
                },
                "transform": [
                    {"calculate": "geoCentroid(null, datum)[0]", "as": "lon"},
                    {"calculate": "geoCentroid(null, datum)[1]", "as": "lat"},
                    {
                        "calculate": "datum.properties.district + ' ' + datum.properties.shown",
                        "as": "label",
                    },
                ],
            },
        ],
    )


def trend_spec(
    points: Sequence[Mapping[str, Any]], title: str, *, zero: bool = True
) -> dict[str, Any]:
    """Satisfaction per week with its 95% interval (``period``, ``satisfaction``, ``low``,
    ``high``; one line and band per ``series``)."""
    rows = [dict(p) for p in points]
    layers: list[dict[str, Any]] = [
        {
            "mark": {"type": "errorband", "opacity": 0.25},
            "encoding": {
                "x": _WEEK,
                "y": {"field": "low", "type": "quantitative", "title": "satisfaction"},
                "y2": {"field": "high"},
                "color": {"field": "series", "type": "nominal", "title": None},
            },
        },
        {
            "mark": {"type": "line", "point": True},
            "encoding": {
                "x": _WEEK,
                "y": {
                    "field": "satisfaction",
                    "type": "quantitative",
                    "scale": {"domain": [-1, 1]},
                },
                "color": {"field": "series", "type": "nominal", "title": None},
                "tooltip": [
                    {"field": "series"},
                    {"field": "period"},
                    {"field": "satisfaction", "format": "+.2f"},
                    {"field": "low", "format": "+.2f"},
                    {"field": "high", "format": "+.2f"},
                ],
            },
        },
    ]
    if zero:
        layers.append(
            {
                "data": {"values": [{"y": 0}]},
                "mark": {"type": "rule", "color": "#555", "strokeDash": [4, 4]},
                "encoding": {"y": {"field": "y", "type": "quantitative"}},
            }
        )
    return _spec(
        title,
        width=520,
        height=240,
        title=title,
        data={"values": rows},
        layer=layers,
    )


def noise_spec(rows: Sequence[Mapping[str, Any]], title: str) -> dict[str, Any]:
    """L_den and L_night per district and week against the WHO 2018 guideline values
    (``label``, ``figure``, ``value``)."""

    def panel(figure: str, limit: float) -> dict[str, Any]:
        values = [
            {**r, "over": "above" if r["value"] > limit else "within"}
            for r in rows
            if r["figure"] == figure
        ]
        return {
            "title": f"{figure} (WHO guideline {limit:g} dB)",
            "width": 260,
            "height": 220,
            "data": {"values": values},
            "layer": [
                {
                    "mark": "bar",
                    "encoding": {
                        "x": {"field": "label", "type": "nominal", "title": None, "sort": None},
                        "y": {"field": "value", "type": "quantitative", "title": "dB(A)"},
                        "color": {
                            "field": "over",
                            "type": "nominal",
                            "title": "WHO guideline",
                            "scale": {
                                "domain": ["above", "within"],
                                "range": ["#b2182b", "#2166ac"],
                            },
                        },
                        "tooltip": [
                            {"field": "label", "title": "where, when"},
                            {"field": "value", "format": ".1f", "title": "dB(A)"},
                        ],
                    },
                },
                {
                    "data": {"values": [{"limit": limit}]},
                    "mark": {"type": "rule", "color": "#000", "strokeDash": [6, 3]},
                    "encoding": {"y": {"field": "limit", "type": "quantitative"}},
                },
            ],
        }

    return _spec(
        title,
        title=title,
        hconcat=[panel("Lden", WHO_LDEN), panel("Lnight", WHO_LNIGHT)],
    )


def render_svg(spec: Mapping[str, Any]) -> str:
    """The chart as SVG (Vega's renderer in ``vl-convert``; one render at a time)."""
    import vl_convert

    with _render_lock:
        return str(vl_convert.vegalite_to_svg(json.loads(json.dumps(spec))))
