"""The HTTP API: ``create_app(deployment)`` builds the FastAPI application.

``create_app`` is imported on first use, so that a command needing only a small part of this
package (the token scopes, say) does not load the web framework.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ombud.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from ombud.api.app import create_app

        return create_app
    raise AttributeError(f"module 'ombud.api' has no attribute {name!r}")
