"""A deployment: its data directory, and the one place its parts are put together.

Threat model: see ``directory`` (never clobber a deployment; open a log with its own
settings) and ``assembly`` (every store and service opened once, in dependency order, and
closed in reverse, so nothing outlives what it writes through).

``Deployment`` is imported on first use: ``ombud log append``, the one hot path of the command
line, opens a log and needs none of the assembly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ombud.deployment.directory import (
    default_origin,
    init_deployment,
    migrate_deployment,
    open_database_of,
    open_log,
    set_witness_policy,
)

if TYPE_CHECKING:
    from ombud.deployment.assembly import Deployment

__all__ = [
    "Deployment",
    "default_origin",
    "init_deployment",
    "migrate_deployment",
    "open_database_of",
    "open_log",
    "set_witness_policy",
]


def __getattr__(name: str) -> Any:
    if name == "Deployment":
        from ombud.deployment.assembly import Deployment

        return Deployment
    raise AttributeError(f"module 'ombud.deployment' has no attribute {name!r}")
