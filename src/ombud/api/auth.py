"""Route authorisation: ``require_scope("devices:write")``, declared once on each route.

Threat model: a privileged route must never run for a request without a token carrying its
scope. Declaring the scope as a FastAPI dependency puts the check before the handler, next to
the route's other parameters, where a reviewer (and the OpenAPI description) sees it; a route
cannot forget to call it halfway. The check itself is ``TokenStore.authorize`` (constant-time,
revocation honoured at once).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Request

from ombud.tokens import TokenInfo, TokenStore

__all__ = ["BearerHeader", "require_scope", "tokens_of"]

BearerHeader = Annotated[str | None, Header(description="Bearer token with the route's scope.")]


def tokens_of(request: Request) -> TokenStore:
    """The token store of the deployment the app serves."""
    tokens: TokenStore = request.app.state.deployment.tokens
    return tokens


def require_scope(scope: str) -> Any:
    """A route parameter's dependency: the token of the request's ``Authorization: Bearer``
    header, which must carry ``scope`` (401 without a valid token, 403 without the scope).

    ``token: Annotated[TokenInfo, require_scope("devices:write")]``, or
    ``dependencies=[require_scope(...)]`` when the handler does not name the token.
    """

    def authorized(request: Request, authorization: BearerHeader = None) -> TokenInfo:
        return tokens_of(request).authorize(authorization, scope)

    authorized.__name__ = f"require_{scope.replace(':', '_')}"
    return Depends(authorized)
