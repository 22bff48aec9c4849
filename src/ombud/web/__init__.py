"""The transparency portal: what an official, a resident and an auditor see, served by
``ombud serve`` under ``/`` (DESIGN §8).

Threat model: public pages show public data only and load nothing but this server's own
assets; a resident's pages need their session and are never cached; ledger events are
verified in the reader's browser against keys the page shows, so the server is trusted for
nothing it could lie about undetected.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from ombud.api.app import create_app
from ombud.deployment import Deployment
from ombud.web.pages import MAP_FILE, create_router

__all__ = ["MAP_FILE", "create_portal", "create_router"]


def create_portal(deployment: Deployment, **options: Any) -> FastAPI:
    """The API (``create_app(deployment, **options)``) with the portal's pages under ``/``;
    both read the same insight, recomputed at most once a minute."""
    app = create_app(deployment, **options)
    app.include_router(create_router(deployment, app.state.insight, clock=deployment.clock))
    return app
