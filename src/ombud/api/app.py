"""The deployment's HTTP face: the C2SP tlog-tiles read API, JSON proofs, metrics, NGSI-LD
sensor ingest (``ombud.api.ngsi_ld``) and the token-guarded admin routes.

Threat model: anyone may call these routes. The ledger routes are read-only and serve only what
the latest published checkpoint commits to (no unpublished entries, no proofs for sizes no
quorum of witnesses cosigned); ingest accepts only observations signed by registered devices;
admin routes need a scoped token. Request bodies are capped as they stream and parsed by one
strict parser, every response carries the security headers, and bad input is answered with RFC
9457 problem details (ETSI NGSI-LD error types on the NGSI-LD routes) — never a traceback.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware

from ombud import __version__
from ombud.api import admin, docs, integrity, ngsi_ld, voice
from ombud.api import privacy as privacy_routes
from ombud.api.accesslog import AccessLog
from ombud.api.auth import TokenStore
from ombud.api.bodies import StrictRoute
from ombud.api.headers import SecurityHeaders
from ombud.api.limits import BodyLimit
from ombud.api.openapi import describe, problems
from ombud.api.params import DeviceId
from ombud.api.problems import (
    http_error_handler,
    ombud_error_handler,
    unexpected_error_handler,
    validation_error_handler,
)
from ombud.clock import format_time
from ombud.config import Settings
from ombud.deployment import open_log
from ombud.errors import MasterKeyError, NotFoundError, OmbudError
from ombud.ingest.broker_health import metrics_lines as mqtt_broker_metrics
from ombud.ingest.intake import VerdictCounts, intake_for
from ombud.ledger.log import Log
from ombud.ledger.store import StoredCheckpoint
from ombud.ledger.tiles import TILE_HEIGHT, TILE_WIDTH, parse_path
from ombud.privacy.office import PrivacyOffice, open_privacy
from ombud.sensors.screening import Screener
from ombud.voice.posts import PostStore, post_store_for
from ombud.witness.publisher import Publisher

__all__ = ["create_app"]

logger = logging.getLogger("ombud.api")

IMMUTABLE = "public, max-age=31536000, immutable"
CHECKPOINT_CACHE = "public, max-age=2, must-revalidate"
_MAX_SIZE = (1 << 64) - 1


def _b64(h: bytes) -> str:
    return base64.b64encode(h).decode()


def _published(log: Log) -> StoredCheckpoint:
    latest = log.published_checkpoint()
    if latest is None:
        raise NotFoundError("the log has not published a checkpoint yet")
    return latest


def _published_size(log: Log, size: int | None) -> int:
    """``size``, or the published size when it is None; refuses sizes not yet published."""
    published = _published(log).size
    if size is None:
        return published
    if size > published:
        raise NotFoundError(f"tree size {size} is larger than the published size {published}")
    return size


async def _every(
    interval: float, stop: asyncio.Event, work: Callable[[], Awaitable[None]], what: str
) -> None:
    """Run ``work`` every ``interval`` seconds until ``stop`` is set. A round is never cut
    short: its thread may be writing the database, which must not be closed under it, so
    shutting down waits for the round in progress to end."""
    while not stop.is_set():
        try:
            await work()
        except OmbudError as exc:
            logger.error("could not %s: %s", what, exc)
        except Exception:  # keep going after a bug; nothing is lost, nothing half-written
            logger.exception("%s failed unexpectedly", what)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


def _publishing(publisher: Publisher) -> Callable[[], Awaitable[None]]:
    """Sign and publish a checkpoint if the log has grown or the last one is still waiting
    for its witnesses (the publisher logs its own outcome; nothing unwitnessed is published)."""
    log = publisher.log

    async def publish() -> None:
        published = log.published_checkpoint()
        if published is None or log.state().size > published.size:
            await publisher.publish()

    return publish


def _screening(screener: Screener) -> Callable[[], Awaitable[None]]:
    """Screen the observations that have settled since the last round (in a worker thread: it
    reads and writes the database; after a failure the cursor stays put)."""

    async def screen() -> None:
        result = await asyncio.to_thread(screener.screen_all)
        if result.quarantined or result.devices:
            logger.warning(
                "screening quarantined %d observations and %d devices (%s)",
                result.quarantined,
                len(result.devices),
                ", ".join(result.devices) or "no device",
            )

    return screen


def _tending(posts: PostStore) -> Callable[[], Awaitable[None]]:
    """Flag coordinated posts and delete the text of expired ones (in a worker thread)."""

    async def tend() -> None:
        flagged = await asyncio.to_thread(posts.screen)
        purged = await asyncio.to_thread(posts.purge_expired)
        if flagged or purged:
            logger.warning("voice: %d posts flagged, %d texts purged", flagged, purged)

    return tend


def _retaining(office: PrivacyOffice) -> Callable[[], Awaitable[None]]:
    """Purge vault payloads past their retention and finish interrupted erasures (in a worker
    thread). Post texts are purged by the voice task, on its own shorter schedule."""

    async def retain() -> None:
        report = await asyncio.to_thread(office.retention, post_texts=False)
        if report.payloads or report.scrubbed:
            logger.warning(
                "privacy: %d payloads purged, %d erasures scrubbed",
                report.payloads,
                report.scrubbed,
            )

    return retain


def _metrics(
    log: Log,
    publisher: Publisher | None,
    counts: VerdictCounts,
    screener: Screener,
    posts: PostStore,
    privacy: PrivacyOffice | None,
) -> str:
    """Prometheus text exposition (version 0.0.4) of the publishing health of the log."""
    signed = log.latest_checkpoint()
    published = log.published_checkpoint()
    rows = [
        ("ombud_log_size", "gauge", "Entries integrated into the tree.", log.state().size),
        (
            "ombud_checkpoint_signed_size",
            "gauge",
            "Size of the latest signed checkpoint.",
            signed.size if signed else 0,
        ),
        (
            "ombud_checkpoint_published_size",
            "gauge",
            "Size of the latest published (witnessed) checkpoint.",
            published.size if published else 0,
        ),
    ]
    lines: list[str] = []
    for name, kind, help_text, value in rows:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value}"]
    if publisher is not None:
        blocked = int(publisher.last is not None and not publisher.last.published)
        lines += [
            "# HELP ombud_publish_blocked Whether the last publishing round lacked a quorum.",
            "# TYPE ombud_publish_blocked gauge",
            f"ombud_publish_blocked {blocked}",
            "# HELP ombud_publish_rounds_total Publishing rounds that asked the witnesses.",
            "# TYPE ombud_publish_rounds_total counter",
            f"ombud_publish_rounds_total {publisher.rounds}",
            "# HELP ombud_publish_failed_rounds_total Publishing rounds without a quorum.",
            "# TYPE ombud_publish_failed_rounds_total counter",
            f"ombud_publish_failed_rounds_total {publisher.failed_rounds}",
            "# HELP ombud_witness_failures_total Requests a witness did not cosign.",
            "# TYPE ombud_witness_failures_total counter",
        ]
        for name, count in sorted(publisher.cosign_failures.items()):
            label = name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            lines.append(f'ombud_witness_failures_total{{witness="{label}"}} {count}')
    lines += [
        "# HELP ombud_observations_accepted_total Observations accepted by this process.",
        "# TYPE ombud_observations_accepted_total counter",
        f"ombud_observations_accepted_total {counts.accepted}",
        "# HELP ombud_observations_duplicate_total Observations received again (not stored).",
        "# TYPE ombud_observations_duplicate_total counter",
        f"ombud_observations_duplicate_total {counts.duplicates}",
        "# HELP ombud_observations_refused_total Observations refused, by error type.",
        "# TYPE ombud_observations_refused_total counter",
    ]
    for reason, count in sorted(counts.refused.items()):
        lines.append(f'ombud_observations_refused_total{{reason="{reason}"}} {count}')
    totals = screener.totals
    lines += [
        "# HELP ombud_screened_total Observations screened by this process.",
        "# TYPE ombud_screened_total counter",
        f"ombud_screened_total {totals.screened}",
        "# HELP ombud_screen_quarantined_total Observations screening quarantined (this process).",
        "# TYPE ombud_screen_quarantined_total counter",
        f"ombud_screen_quarantined_total {totals.quarantined}",
        "# HELP ombud_devices_quarantined_total Devices screening quarantined (this process).",
        "# TYPE ombud_devices_quarantined_total counter",
        f"ombud_devices_quarantined_total {len(totals.devices)}",
        "# HELP ombud_screen_cursor Ledger index of the last observation screened.",
        "# TYPE ombud_screen_cursor gauge",
        f"ombud_screen_cursor {totals.cursor}",
        "# HELP ombud_voice_screen_rounds_total Coordination screening passes (this process).",
        "# TYPE ombud_voice_screen_rounds_total counter",
        f"ombud_voice_screen_rounds_total {posts.screen_rounds}",
        "# HELP ombud_posts_flagged_total Posts flagged as coordinated (this process).",
        "# TYPE ombud_posts_flagged_total counter",
        f"ombud_posts_flagged_total {posts.flagged_total}",
        "# HELP ombud_posts_purged_total Post texts deleted at retention's end (this process).",
        "# TYPE ombud_posts_purged_total counter",
        f"ombud_posts_purged_total {posts.purged_total}",
    ]
    if privacy is not None:
        lines += [
            "# HELP ombud_retention_rounds_total Retention passes (this process).",
            "# TYPE ombud_retention_rounds_total counter",
            f"ombud_retention_rounds_total {privacy.retention_rounds}",
            "# HELP ombud_payloads_purged_total Vault payloads purged at retention's end.",
            "# TYPE ombud_payloads_purged_total counter",
            f"ombud_payloads_purged_total {privacy.vault.purged_total}",
        ]
    # MQTT ingest workers are processes of their own: they record the broker's dropped-message
    # counter in the deployment's database, and this renders what they recorded (reads only).
    lines += mqtt_broker_metrics(log.store.db, now=datetime.now(UTC))
    return "\n".join(lines) + "\n"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings,
    *,
    log: Log | None = None,
    sign_checkpoints: bool = False,
    screen: bool = False,
    access_log: bool = False,
    clock: Callable[[], datetime] = _utc_now,
    environ: Mapping[str, str] | None = None,
) -> FastAPI:
    """Build the API over the deployment in ``settings.data_dir`` (or over ``log``).

    ``sign_checkpoints`` publishes witnessed checkpoints and ``screen`` screens new
    observations in the background, at the intervals the settings give; ``access_log`` logs
    each request without its client's address (``ombud serve`` sets all three)."""
    owned = log is None
    the_log = (
        open_log(settings.data_dir, settings, with_key=sign_checkpoints) if log is None else log
    )
    intake = intake_for(the_log, settings, clock=clock)
    registry, observations = intake.registry, intake.store
    tokens = TokenStore(the_log.store.db)

    publisher = Publisher(the_log, settings.witnesses) if sign_checkpoints else None
    screener = Screener(the_log.store.db, the_log, settings.integrity, clock=clock)
    posts = post_store_for(
        the_log, settings.voice.retention_days, settings.voice.origin, clock=clock
    )
    try:
        privacy: PrivacyOffice | MasterKeyError = open_privacy(
            the_log, settings, posts, environ=environ, clock=clock
        )
    except MasterKeyError as exc:
        logger.error("privacy features are unavailable: %s", exc)
        privacy = exc

    def office() -> PrivacyOffice:
        if isinstance(privacy, MasterKeyError):
            raise privacy
        return privacy

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rounds: list[tuple[float, Callable[[], Awaitable[None]], str]] = []
        if publisher is not None:
            rounds.append(
                (settings.log.checkpoint_interval_s, _publishing(publisher), "publish a checkpoint")
            )
        if screen and settings.integrity.screen_interval_s > 0:
            rounds.append(
                (settings.integrity.screen_interval_s, _screening(screener), "screen observations")
            )
        if screen and settings.voice.screen_interval_s > 0:
            rounds.append((settings.voice.screen_interval_s, _tending(posts), "tend posts"))
        if (
            screen
            and settings.privacy.retention_interval_s > 0
            and not isinstance(privacy, MasterKeyError)
        ):
            rounds.append(
                (settings.privacy.retention_interval_s, _retaining(privacy), "run retention")
            )
        stop = asyncio.Event()
        tasks = [asyncio.create_task(_every(i, stop, work, what)) for i, work, what in rounds]
        try:
            yield
        finally:
            stop.set()  # each task ends its round in progress, then returns
            await asyncio.gather(*tasks, return_exceptions=True)
            if publisher is not None:
                await publisher.aclose()
            if owned:
                the_log.close()

    app = FastAPI(
        title="ombud",
        version=__version__,
        summary="A witnessed, tamper-evident ledger for a city's sensors and residents.",
        lifespan=lifespan,
        docs_url=None,  # served by ombud.api.docs from an installed package, not a CDN
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.router.route_class = StrictRoute
    app.state.log = the_log
    app.state.intake = intake
    app.state.screener = screener
    app.state.posts = posts
    app.state.privacy = office
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

    @app.head(
        "/checkpoint",
        operation_id="head_checkpoint",
        responses=problems(404),
        summary="The headers of GET /checkpoint, without its body.",
        response_class=Response,
        tags=["tlog-tiles"],
    )
    @app.get(
        "/checkpoint",
        responses=problems(404),
        summary="The latest signed checkpoint (C2SP tlog-checkpoint).",
        response_class=Response,
        tags=["tlog-tiles"],
    )
    def get_checkpoint() -> Response:
        latest = _published(the_log)
        return Response(
            latest.note,
            media_type="text/plain; charset=utf-8",
            headers={"Cache-Control": CHECKPOINT_CACHE},
        )

    @app.head(
        "/tile/{path:path}",
        operation_id="head_tile",
        responses=problems(404),
        summary="The headers of GET /tile/…, without its body.",
        response_class=Response,
        tags=["tlog-tiles"],
    )
    @app.get(
        "/tile/{path:path}",
        responses=problems(404),
        summary="A hash tile or entry bundle (C2SP tlog-tiles).",
        response_class=Response,
        tags=["tlog-tiles"],
    )
    def get_tile(path: str) -> Response:
        ref = parse_path("tile/" + path)
        size = _published(the_log).size
        count = size if ref.is_entries else size >> (TILE_HEIGHT * ref.level)
        if ref.index * TILE_WIDTH + ref.width > count:
            raise NotFoundError(f"{ref.path} is beyond the published tree of size {size}")
        if ref.is_entries:
            data = the_log.bundle(ref.index, ref.width)
        else:
            data = the_log.tile(ref.level, ref.index, ref.width)
        return Response(
            data, media_type="application/octet-stream", headers={"Cache-Control": IMMUTABLE}
        )

    @app.get(
        "/metrics",
        summary="Publishing health in Prometheus text format.",
        response_class=Response,
        tags=["operations"],
    )
    def get_metrics() -> Response:
        return Response(
            _metrics(
                the_log,
                publisher,
                intake.counts,
                screener,
                posts,
                None if isinstance(privacy, MasterKeyError) else privacy,
            ),
            media_type="text/plain; version=0.0.4; charset=utf-8",
        )

    @app.get(
        "/proof/inclusion",
        responses=problems(404),
        summary="RFC 9162 inclusion proof.",
        tags=["proofs"],
    )
    def get_inclusion(
        index: Annotated[int, Query(ge=0, le=_MAX_SIZE, description="0-based leaf index")],
        size: Annotated[
            int | None, Query(ge=1, le=_MAX_SIZE, description="tree size (default: published)")
        ] = None,
    ) -> dict[str, Any]:
        size = _published_size(the_log, size)
        proof = the_log.inclusion_proof(index, size)
        return {
            "index": index,
            "size": size,
            "leaf_hash": _b64(the_log.node(0, index)),
            "proof": [_b64(h) for h in proof],
        }

    @app.get(
        "/proof/consistency",
        responses=problems(404),
        summary="RFC 9162 consistency proof.",
        tags=["proofs"],
    )
    def get_consistency(
        old: Annotated[int, Query(ge=0, le=_MAX_SIZE, description="earlier tree size")],
        new: Annotated[
            int | None,
            Query(ge=0, le=_MAX_SIZE, description="later tree size (default: published)"),
        ] = None,
    ) -> dict[str, Any]:
        new = _published_size(the_log, new)
        proof = the_log.consistency_proof(old, new)
        return {"old": old, "new": new, "proof": [_b64(h) for h in proof]}

    app.include_router(
        ngsi_ld.create_router(
            intake, observations, max_body=max_body, max_batch=settings.ingest.max_batch
        )
    )
    app.include_router(admin.create_router(registry, tokens, office))
    app.include_router(admin.create_registry_router(registry))
    app.include_router(docs.create_router())
    describe(app)
    app.include_router(integrity.create_router(intake, tokens, clock=clock))
    app.include_router(voice.create_router(posts, tokens, office))
    app.include_router(privacy_routes.create_router(office, tokens))

    @app.get(
        "/observations/{device_id}/{counter}",
        responses=problems(404),
        summary="An accepted observation as signed, with its ledger event and index.",
        tags=["proofs"],
    )
    def get_observation(
        device_id: DeviceId,
        counter: Annotated[int, Path(ge=0, le=(1 << 63) - 1)],
    ) -> dict[str, Any]:
        stored = observations.observation(device_id, counter)
        published = the_log.published_checkpoint()
        return {
            "device": stored.device,
            "counter": stored.counter,
            "entity": stored.entity(),
            "created": format_time(stored.created),
            "ledgerIndex": stored.ledger_index,
            "event": the_log.entry(stored.ledger_index).decode(),
            "published": published is not None and stored.ledger_index < published.size,
        }

    return app
