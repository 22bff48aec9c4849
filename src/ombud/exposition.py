"""The Prometheus text exposition format (version 0.0.4), written in one place.

Threat model: a label value comes from configuration or a peer (a witness's name, a broker's
address); escaping it here keeps a quote or newline in it from forging other samples.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["Exposition", "label"]


def label(name: str, value: str) -> str:
    """``name="value"`` with the value escaped as the format requires."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'{name}="{escaped}"'


class Exposition:
    """Lines of the text format: each metric with its HELP and TYPE, then its samples."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def metric(
        self, name: str, kind: str, help_text: str, samples: Mapping[str, int] | int
    ) -> None:
        """``samples``: one value, or values by label text (``label("witness", "a")``)."""
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        if isinstance(samples, int):
            self.lines.append(f"{name} {samples}")
        else:
            self.lines += [f"{name}{{{labels}}} {value}" for labels, value in samples.items()]
