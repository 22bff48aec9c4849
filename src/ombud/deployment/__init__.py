"""A deployment: its data directory, and the one place its parts are put together.

Threat model: see ``directory`` (never clobber a deployment; open a log with its own
settings) and ``assembly`` (every store and service opened once, in dependency order, and
closed in reverse, so nothing outlives what it writes through).
"""

from __future__ import annotations

from ombud.deployment.assembly import Deployment
from ombud.deployment.directory import (
    default_origin,
    init_deployment,
    migrate_deployment,
    open_database_of,
    open_log,
    set_witness_policy,
)

__all__ = [
    "Deployment",
    "default_origin",
    "init_deployment",
    "migrate_deployment",
    "open_database_of",
    "open_log",
    "set_witness_policy",
]
