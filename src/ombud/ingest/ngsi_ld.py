"""A faithful subset of the ETSI NGSI-LD API (GS CIM 009) over the signed observation store.

Threat model: these routes take input from any device on the network. A body is read up to the
configured cap (with or without ``Content-Length``), must be strict UTF-8 JSON without NaN,
Infinity, duplicate members or deep nesting, and must arrive with a content type the spec
allows (§6.3.4: ``application/json`` with the context, if any, in a ``Link`` header, or
``application/ld+json`` with ``@context`` in the body). Every refusal is an NGSI-LD
ProblemDetails (§5.5.2, ``https://uri.etsi.org/ngsi-ld/errors/…``), never a 500; a batch
reports a verdict for every entity (§6.15: 207 with ``success`` and ``errors``), nothing is
dropped silently. No route needs a token: an observation is authenticated by its device's
signature, checked by ``Intake``.

Supported: create (``POST /entities``), batch upsert (``POST /entityOperations/upsert``), read
(``GET /entities/{id}``), query (``GET /entities?type=&q=`` with ``;``-joined comparisons of
attribute values), temporal read (``GET /temporal/entities/{id}?timerel=&timeAt=&endTimeAt=``,
``lastN``). The ``application/ld+json`` representation of an entity is the signed document as
received, so its ``proof`` verifies; ``application/json`` moves ``@context`` to a ``Link``
header as the spec requires.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from ombud.api.problems import NGSI_LD_ERRORS
from ombud.canonical import parse_json
from ombud.errors import (
    AlreadyExistsError,
    ForbiddenError,
    MalformedError,
    NotFoundError,
    OmbudError,
    ReplayError,
    StorageError,
    UnavailableError,
    VerificationError,
)
from ombud.events import format_time
from ombud.ingest.intake import Accepted, Duplicate, Intake, Refused, Verdict
from ombud.ingest.models import ENTITY_ID
from ombud.ingest.timeseries import ObservationStore, StoredObservation

__all__ = ["CORE_CONTEXT", "ERRORS", "create_router", "problem_details", "problem_response"]

ERRORS = NGSI_LD_ERRORS
CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
_CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"
JSON = "application/json"
JSON_LD = "application/ld+json"
MAX_DEPTH = 16
"""JSON nesting allowed in a request body; Smart Data Model entities need six at most."""
MAX_LIMIT = 1000


# --- problem details ---------------------------------------------------------------------------


def problem_details(kind: str, status: int, title: str, detail: str) -> dict[str, Any]:
    return {"type": ERRORS + kind, "title": title, "status": status, "detail": detail}


def problem_response(kind: str, status: int, title: str, detail: str) -> Response:
    body = json.dumps(problem_details(kind, status, title, detail), ensure_ascii=False)
    return Response(body, status_code=status, media_type=JSON)


def _classify(exc: OmbudError) -> tuple[str, int, str]:
    """NGSI-LD error type, HTTP status and title of a refusal."""
    if isinstance(exc, AlreadyExistsError):
        return "AlreadyExists", 409, "Already exists"
    if isinstance(exc, ReplayError):
        return "BadRequestData", 400, "Replayed or reordered observation"
    if isinstance(exc, VerificationError):
        return "BadRequestData", 400, "Invalid signature"
    if isinstance(exc, ForbiddenError):
        return "BadRequestData", 400, "Device not allowed"
    if isinstance(exc, NotFoundError):
        return "BadRequestData", 400, "Unknown device"
    if isinstance(exc, MalformedError):
        return "BadRequestData", 400, "Invalid entity"
    if isinstance(exc, StorageError | UnavailableError):
        return "InternalError", 503, "Storage unavailable"
    return "InternalError", 500, "Internal error"


def _error_body(exc: OmbudError) -> dict[str, Any]:
    kind, status, title = _classify(exc)
    detail = str(exc) if status < 500 else "the observation could not be stored; retry later"
    return problem_details(kind, status, title, detail)


def _error(exc: OmbudError) -> Response:
    body = _error_body(exc)
    headers = {"Retry-After": "1"} if body["status"] == 503 else None
    return Response(json.dumps(body), status_code=body["status"], media_type=JSON, headers=headers)


# --- request parsing ---------------------------------------------------------------------------


class _Refusal(Exception):
    """A request refused before it reaches the intake; carries its ProblemDetails response."""

    def __init__(self, response: Response) -> None:
        self.response = response


_TITLES = {
    400: "Bad request",
    406: "Not acceptable",
    413: "Request too large",
    415: "Unsupported media type",
}


def _bad(detail: str, kind: str = "BadRequestData", status: int = 400) -> _Refusal:
    return _Refusal(problem_response(kind, status, _TITLES[status], detail))


async def _read_body(request: Request, cap: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise _bad(f"request bodies are limited to {cap} bytes", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


async def _payload(request: Request, cap: int) -> Any:
    """The parsed body, checked as NGSI-LD §6.3.4 and §6.3.5 say."""
    media = _media_type(request.headers.get("content-type"))
    if media not in (JSON, JSON_LD):
        raise _bad(
            f"Content-Type must be {JSON} or {JSON_LD}, not {media or 'missing'!r}",
            "InvalidRequest",
            415,
        )
    body = await _read_body(request, cap)
    try:
        value = parse_json(body, "the request body", max_depth=MAX_DEPTH)
    except MalformedError as exc:
        raise _bad(str(exc), "InvalidRequest") from None
    items = value if isinstance(value, list) else [value]
    has_link = "link" in request.headers
    for item in items:
        if not isinstance(item, dict):
            continue
        if media == JSON and "@context" in item:
            raise _bad(
                f"a {JSON} body must not carry @context: send it in a Link header, "
                f"or send the body as {JSON_LD}"
            )
        if media == JSON_LD and "@context" not in item:
            raise _bad(f"a {JSON_LD} body must carry @context")
    if media == JSON_LD and has_link:
        raise _bad(f"a {JSON_LD} request must not carry a JSON-LD context Link header")
    return value


def _accept(request: Request) -> str:
    """The representation to answer with: JSON (default) or JSON-LD (§6.3.6)."""
    header = request.headers.get("accept", "")
    ranked = []
    for position, part in enumerate(header.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        if media and quality > 0:
            ranked.append((-quality, position, media.lower()))
    if not ranked:
        return JSON
    for _, _, media in sorted(ranked):
        if media in (JSON, JSON_LD):
            return media
        if media in ("*/*", "application/*"):
            return JSON
    raise _bad(f"this API answers {JSON} or {JSON_LD}", "InvalidRequest", 406)


def _entity_response(entity: dict[str, Any], accept: str, status: int = 200) -> Response:
    return _json_response(_represent(entity, accept), accept, status, _context_of([entity]))


def _context_of(entities: Sequence[Mapping[str, Any]]) -> str:
    for entity in entities:
        context = entity.get("@context")
        if isinstance(context, str):
            return context
        if isinstance(context, list):
            for item in context:
                if isinstance(item, str):
                    return item
    return CORE_CONTEXT


def _represent(entity: dict[str, Any], accept: str) -> dict[str, Any]:
    if accept == JSON_LD:
        return entity if "@context" in entity else {**entity, "@context": CORE_CONTEXT}
    return {k: v for k, v in entity.items() if k != "@context"}


def _json_response(body: Any, accept: str, status: int, context: str) -> Response:
    headers = {}
    if accept == JSON:
        headers["Link"] = f'<{context}>; rel="{_CONTEXT_REL}"; type="{JSON_LD}"'
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status_code=status,
        media_type=accept,
        headers=headers,
    )


def _check_entity_id(entity_id: str) -> None:
    if not ENTITY_ID.fullmatch(entity_id):
        raise _bad(f"{entity_id[:80]!r} is not an entity id (a URI such as urn:ngsi-ld:…)")


# --- q (NGSI-LD §4.9, the simple subset) ------------------------------------------------------

_TERM = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(==|!=|>=|<=|>|<)(.+)")


def _parse_q(q: str) -> list[tuple[str, str, Any]]:
    """``attr==value;attr>number…`` → terms, all of which must hold (AND)."""
    terms = []
    for part in q.split(";"):
        match = _TERM.fullmatch(part.strip())
        if match is None:
            raise _bad(
                f"q term {part[:80]!r} is not supported: use attribute, one of "
                '== != > >= < <=, and a number, true/false or a "quoted" string, '
                "joined by ;"
            )
        attr, op, raw = match.groups()
        if raw.startswith('"'):
            if len(raw) < 2 or not raw.endswith('"'):
                raise _bad(f"q value {raw[:80]} has an unclosed quote")
            value: Any = raw[1:-1]
        elif raw in ("true", "false"):
            value = raw == "true"
        else:
            try:
                value = float(raw) if any(c in raw for c in ".eE") else int(raw)
            except ValueError:
                value = raw
        if op not in ("==", "!=") and not isinstance(value, int | float | str):
            raise _bad(f"q: {op} compares numbers or strings")
        terms.append((attr, op, value))
    return terms


def _matches(entity: Mapping[str, Any], terms: list[tuple[str, str, Any]]) -> bool:
    for attr, op, expected in terms:
        member = entity.get(attr)
        if isinstance(member, Mapping):
            actual = member.get("value", member.get("object"))
        else:
            return False
        if isinstance(actual, bool) != isinstance(expected, bool):
            return False
        if op == "==":
            ok = actual == expected
        elif op == "!=":
            ok = actual != expected
        else:
            comparable = isinstance(actual, str) == isinstance(expected, str) and isinstance(
                actual, int | float | str
            )
            if not comparable:
                return False
            ok = {
                ">": actual > expected,
                ">=": actual >= expected,
                "<": actual < expected,
                "<=": actual <= expected,
            }[op]
        if not ok:
            return False
    return True


# --- temporal ------------------------------------------------------------------------------------


def _time(value: str | None, name: str) -> datetime:
    if value is None:
        raise _bad(f"{name} is required for this timerel")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise _bad(f"{name} {value[:40]!r} is not a date-time") from None
    if at.tzinfo is None:
        raise _bad(f"{name} must carry a time zone (e.g. Z)")
    try:
        return at.astimezone(UTC)
    except OverflowError:
        raise _bad(f"{name} {value[:40]!r} is outside the years 1 to 9999 in UTC") from None


def _temporal(entity_id: str, observations: list[StoredObservation]) -> dict[str, Any]:
    """NGSI-LD temporal representation (§5.2.19): each attribute as an array of instances."""
    result: dict[str, Any] = {"id": entity_id}
    for observation in observations:
        entity = observation.entity()
        result.setdefault("type", entity.get("type"))
        observed = format_time(observation.created)
        for name, member in entity.items():
            if name in ("id", "type", "@context", "proof") or not isinstance(member, dict):
                continue
            instance = dict(member)
            instance.setdefault("observedAt", observed)
            instance["instanceId"] = f"urn:ngsi-ld:ombud:ledger:{observation.ledger_index}"
            result.setdefault(name, []).append(instance)
    return result


# --- routes --------------------------------------------------------------------------------------


def _verdict_error(verdict: Refused | Duplicate) -> OmbudError:
    if isinstance(verdict, Refused):
        return verdict.error
    return AlreadyExistsError(
        f"observation {verdict.counter} of device {verdict.device} was already accepted (a replay)"
    )


def create_router(
    intake: Intake, store: ObservationStore, *, max_body: int, max_batch: int
) -> APIRouter:
    router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD"])

    @router.post(
        "/entities",
        summary="Create an entity from a signed observation (NGSI-LD §6.4.3.1).",
        status_code=201,
        response_class=Response,
    )
    async def create_entity(request: Request) -> Response:
        try:
            entity = await _payload(request, max_body)
        except _Refusal as refusal:
            return refusal.response
        if isinstance(entity, list):
            return _bad("POST /entities takes one entity; use entityOperations/upsert").response
        try:
            (verdict,) = await run_in_threadpool(intake.submit, [entity], create_only=True)
        except OmbudError as exc:
            return _error(exc)
        if isinstance(verdict, Accepted):
            return Response(
                status_code=201, headers={"Location": f"/ngsi-ld/v1/entities/{verdict.entity_id}"}
            )
        return _error(_verdict_error(verdict))

    @router.post(
        "/entityOperations/upsert",
        summary="Create or update a batch of entities (NGSI-LD §6.15.3.1).",
        response_class=Response,
    )
    async def upsert(request: Request) -> Response:
        try:
            entities = await _payload(request, max_body)
        except _Refusal as refusal:
            return refusal.response
        if not isinstance(entities, list) or not entities:
            return _bad("entityOperations/upsert takes a non-empty JSON array of entities").response
        if len(entities) > max_batch:
            return _bad(
                f"a batch of {len(entities)} entities is over the limit of {max_batch}; "
                "nothing was processed: split it"
            ).response
        # Each observation is a whole signed document, so ``update`` (merging attributes into
        # the stored entity) would store something no device signed: both options store the
        # new signed version, and the entity's latest state is that version.
        options = request.query_params.get("options", "replace")
        if options not in ("replace", "update"):
            return _bad(f"options must be replace or update, not {options[:40]!r}").response
        try:
            verdicts: list[Verdict] = await run_in_threadpool(intake.submit, entities)
        except OmbudError as exc:
            return _error(exc)
        success = [v.entity_id for v in verdicts if isinstance(v, Accepted)]
        errors = [
            {"entityId": v.entity_id, "error": _error_body(_verdict_error(v))}
            for v in verdicts
            if not isinstance(v, Accepted)
        ]
        if errors:
            return Response(
                json.dumps({"success": success, "errors": errors}, ensure_ascii=False),
                status_code=207,
                media_type=JSON,
            )
        created = [v.entity_id for v in verdicts if isinstance(v, Accepted) and v.created_entity]
        if created:
            return Response(json.dumps(created), status_code=201, media_type=JSON)
        return Response(status_code=204)

    @router.get(
        "/entities/{entity_id}",
        summary="An entity: its latest signed observation (NGSI-LD §6.5.3.1).",
        response_class=Response,
    )
    def get_entity(entity_id: str, request: Request) -> Response:
        try:
            accept = _accept(request)
            _check_entity_id(entity_id)
        except _Refusal as refusal:
            return refusal.response
        try:
            observation = store.latest(entity_id)
        except NotFoundError as exc:
            return problem_response("ResourceNotFound", 404, "Not found", str(exc))
        except OmbudError as exc:
            return _error(exc)
        return _entity_response(observation.entity(), accept)

    @router.get(
        "/entities",
        summary="Query entities by type and q (NGSI-LD §6.4.3.2).",
        response_class=Response,
    )
    def query_entities(request: Request) -> Response:
        params = request.query_params
        try:
            accept = _accept(request)
            entity_type, q = params.get("type"), params.get("q")
            if entity_type is None and q is None:
                raise _bad("a query needs type or q (NGSI-LD §6.4.3.2)")
            terms = _parse_q(q) if q else []
            limit = _int_param(params.get("limit"), "limit", 20, 0, MAX_LIMIT)
            offset = _int_param(params.get("offset"), "offset", 0, 0, 1 << 31)
        except _Refusal as refusal:
            return refusal.response
        found: list[dict[str, Any]] = []
        total = 0
        after = ""
        try:
            while True:
                page = store.latest_of_type(entity_type, after=after, limit=500)
                for observation in page:
                    entity = observation.entity()
                    if _matches(entity, terms):
                        if offset <= total < offset + limit:
                            found.append(entity)
                        total += 1
                if len(page) < 500:
                    break
                after = page[-1].entity_id
        except OmbudError as exc:
            return _error(exc)
        response = _json_response(
            [_represent(e, accept) for e in found], accept, 200, _context_of(found)
        )
        if params.get("count") == "true":
            response.headers["NGSILD-Results-Count"] = str(total)
        return response

    @router.get(
        "/temporal/entities/{entity_id}",
        summary="An entity's observations over time (NGSI-LD §6.19.3.1).",
        response_class=Response,
    )
    def temporal_entity(entity_id: str, request: Request) -> Response:
        params = request.query_params
        try:
            accept = _accept(request)
            _check_entity_id(entity_id)
            timerel = params.get("timerel")
            start = end = None
            if timerel is None:
                if "timeAt" in params or "endTimeAt" in params:
                    raise _bad("timeAt needs timerel (before, after or between)")
            elif timerel == "before":
                end = _time(params.get("timeAt"), "timeAt")
            elif timerel == "after":
                start = _time(params.get("timeAt"), "timeAt")
            elif timerel == "between":
                start = _time(params.get("timeAt"), "timeAt")
                end = _time(params.get("endTimeAt"), "endTimeAt")
                if end <= start:
                    raise _bad("endTimeAt must be after timeAt")
            else:
                raise _bad(f"timerel must be before, after or between, not {timerel[:40]!r}")
            last = params.get("lastN")
            last_n = _int_param(last, "lastN", 0, 1, MAX_LIMIT) if last is not None else None
        except _Refusal as refusal:
            return refusal.response
        try:
            store.latest(entity_id)  # 404 for an entity that never existed
            history = store.history(entity_id, start=start, end=end, last=last_n, limit=MAX_LIMIT)
        except NotFoundError as exc:
            return problem_response("ResourceNotFound", 404, "Not found", str(exc))
        except OmbudError as exc:
            return _error(exc)
        body = _temporal(entity_id, history)
        entities = [o.entity() for o in history[:1]]
        if accept == JSON_LD:
            body["@context"] = _context_of(entities)
        return _json_response(body, accept, 200, _context_of(entities))

    return router


def _int_param(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise _bad(f"{name} must be an integer from {low} to {high}")
    return int(value)
