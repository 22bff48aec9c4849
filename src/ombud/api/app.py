"""The deployment's HTTP face, assembled: ``create_app(deployment)``.

Threat model: anyone may call these routes. Each router states its own (``tlog``: read-only,
published state only; ``ngsi_ld``: observations signed by registered devices; ``admin``,
``integrity``, ``voice``, ``privacy``: scoped tokens or a resident's own key). Here every
request is wrapped once: bodies are capped as they stream (``limits``) and parsed by one strict
parser (``bodies``), every response carries the security headers (``headers``), the request log
names no client (``accesslog``), and bad input is answered with RFC 9457 problem details (ETSI
NGSI-LD error types on the NGSI-LD routes) — never a traceback.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import anyio.to_thread
from fastapi import FastAPI, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware

from ombud import __version__
from ombud.api import access as access_routes
from ombud.api import (
    admin,
    decisions,
    docs,
    governance,
    insight,
    integrity,
    ngsi_ld,
    tenders,
    tlog,
    voice,
)
from ombud.api import privacy as privacy_routes
from ombud.api.accesslog import AccessLog
from ombud.api.bodies import StrictRoute
from ombud.api.headers import SecurityHeaders
from ombud.api.limits import BodyLimit
from ombud.api.metrics import metrics_text
from ombud.api.openapi import describe
from ombud.api.problems import (
    http_error_handler,
    ombud_error_handler,
    unexpected_error_handler,
    validation_error_handler,
)
from ombud.api.tasks import background_rounds, rounds
from ombud.clock import utc_now
from ombud.deployment import Deployment
from ombud.errors import OmbudError
from ombud.insight.published import PublishedInsight

__all__ = ["create_app"]

logger = logging.getLogger("ombud.api")


def create_app(
    deployment: Deployment,
    *,
    sign_checkpoints: bool = False,
    screen: bool = False,
    access_log: bool = False,
) -> FastAPI:
    """The API over ``deployment`` (which the caller opened and closes after the app stops).

    ``sign_checkpoints`` publishes witnessed checkpoints and ``screen`` screens new
    observations, tends posts and runs retention in the background, at the intervals the
    settings give; ``access_log`` logs each request without its client's address (``ombud
    serve`` sets all three)."""
    settings = deployment.settings
    if (problem := deployment.privacy_problem) is not None:  # the rest serves on
        logger.error("privacy features and retention are unavailable: %s", problem)
    deployment.prepare()  # every part built now, not by two first requests at once
    scheduled = background_rounds(deployment, publish=sign_checkpoints, screen=screen)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The routes' blocking work runs on anyio's threads, each with its own database
        # connection: their number bounds the connections a server holds.
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = settings.server.worker_threads
        try:
            async with rounds(scheduled):
                yield
        finally:
            if sign_checkpoints:
                await deployment.publisher.aclose()

    app = FastAPI(
        title="ombud",
        version=__version__,
        summary="A witnessed, tamper-evident ledger for a city's sensors and residents.",
        lifespan=lifespan,
        # /insight/cells/ is not found, not redirected: the redirect's URL would be built from
        # the request's Host header, which a cache in front could then serve to others.
        redirect_slashes=False,
        docs_url=None,  # served by ombud.api.docs from an installed package, not a CDN
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.router.route_class = StrictRoute
    app.state.deployment = deployment
    app.add_exception_handler(OmbudError, ombud_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
    max_body = settings.server.max_request_bytes
    # Outermost last: the request log sees every answer; every answer gets the security
    # headers; bodies are capped before any route or parser reads them.
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(
        BodyLimit, max_ingest=max_body, max_small=settings.server.max_small_body_bytes
    )
    app.add_middleware(SecurityHeaders)
    if access_log:
        app.add_middleware(AccessLog)

    app.include_router(tlog.create_router(deployment.log, deployment.observations))

    @app.get(
        "/metrics",
        summary="Publishing health in Prometheus text format.",
        response_class=Response,
        tags=["operations"],
    )
    def get_metrics() -> Response:
        return Response(
            metrics_text(deployment, publishing=sign_checkpoints, now=utc_now()),
            media_type="text/plain; version=0.0.4; charset=utf-8",
        )

    app.include_router(
        ngsi_ld.create_router(
            deployment.intake,
            deployment.observations,
            max_body=max_body,
            max_batch=settings.ingest.max_batch,
        )
    )
    app.include_router(admin.create_router(deployment.registry, deployment.privacy))
    app.include_router(admin.create_registry_router(deployment.registry))
    app.include_router(docs.create_router())
    app.include_router(integrity.create_router(deployment))
    app.state.insight = PublishedInsight(deployment.log, deployment.db)  # the portal's too
    app.include_router(insight.create_router(app.state.insight))
    app.include_router(
        voice.create_router(
            deployment.posts,
            deployment.acceptor,
            deployment.flags,
            deployment.post_reports,
            deployment.privacy,
            deployment.cover.policy,
        )
    )
    app.include_router(privacy_routes.create_router(deployment.privacy))
    app.include_router(access_routes.create_router(lambda: deployment.access, deployment.privacy))
    app.include_router(governance.create_router(deployment))
    app.include_router(tenders.create_router(deployment))
    app.include_router(decisions.create_router(deployment))
    describe(app)
    return app
