"""A faithful subset of the ETSI NGSI-LD API (GS CIM 009) over the signed observation store.

Threat model: these routes take input from any device on the network. A body is read up to the
configured cap (with or without ``Content-Length``), must be strict UTF-8 JSON without NaN,
Infinity, duplicate members or deep nesting, and must arrive with a content type the spec
allows (§6.3.4: ``application/json`` with the context, if any, in a ``Link`` header, or
``application/ld+json`` with ``@context`` in the body). Every refusal is an NGSI-LD
ProblemDetails (§5.5.2, ``https://uri.etsi.org/ngsi-ld/errors/…``), never a 500; a batch
reports a verdict for every entity (§6.15: 207 with ``success`` and ``errors``), nothing is
dropped silently. No route needs a token: an observation is authenticated by its device's
signature, checked by ``Intake``. Stored documents are data, never header text: the ``Link``
and ``Location`` headers built from them are re-checked and encoded here (a context that is no
URI falls back to the core context), so nothing stored — even before ``Intake`` checked ids and
contexts as URIs — can make a read fail. A query ombud cannot answer exactly is a 400, never an
empty success.

Supported: create (``POST /entities``), batch upsert (``POST /entityOperations/upsert``), read
(``GET /entities/{id}``), query (``GET /entities?type=&q=``, ``q`` as ``_parse_q`` says),
temporal read (``GET /temporal/entities/{id}?timerel=&timeAt=&endTimeAt=``, ``lastN``). The
``application/ld+json`` representation of an entity is the signed document as received, so its
``proof`` verifies; ``application/json`` moves ``@context`` to a ``Link`` header as the spec
requires.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import unicodedata
import weakref
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from ombud.api.params import query_refusal
from ombud.api.problems import NGSI_LD_ERRORS, ngsi_ld_problem
from ombud.canonical import parse_json
from ombud.clock import format_time, parse_iso_time
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
from ombud.ingest.intake import Accepted, Duplicate, Intake, Refused, Verdict
from ombud.ingest.models import CONTEXT_URI, ENTITY_ID, MAX_ENTITY_ID
from ombud.sensors.observations import ObservationStore, StoredObservation

__all__ = ["CORE_CONTEXT", "ERRORS", "create_router", "problem_response"]

ERRORS = NGSI_LD_ERRORS
CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
_CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"
JSON = "application/json"
JSON_LD = "application/ld+json"
MAX_DEPTH = 16
"""JSON nesting allowed in a request body; Smart Data Model entities need six at most."""
MAX_LIMIT = 1000
_PAGE = 500
MAX_SCAN = 20_000
"""Entities one query may read (in pages of 500): its cost is bounded whatever a device has
created (30,000 entity ids made an anonymous count take 0.87 s)."""


# --- problem details ---------------------------------------------------------------------------


def problem_response(kind: str, status: int, title: str, detail: str) -> Response:
    body = json.dumps(ngsi_ld_problem(kind, status, title, detail), ensure_ascii=False)
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
    return ngsi_ld_problem(kind, status, title, detail)


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


async def _raw_payload(request: Request, cap: int) -> tuple[str, bytes]:
    """The body's media type and bytes, checked as NGSI-LD §6.3.4 says (415 for another)."""
    media = _media_type(request.headers.get("content-type"))
    if media not in (JSON, JSON_LD):
        raise _bad(
            f"Content-Type must be {JSON} or {JSON_LD}, not {media or 'missing'!r}",
            "InvalidRequest",
            415,
        )
    return media, await _read_body(request, cap)


def _parse_payload(media: str, body: bytes, has_link: bool) -> Any:
    """The parsed body, checked as NGSI-LD §6.3.5 says (in a worker thread: a large batch
    takes a while to parse)."""
    try:
        value = parse_json(body, "the request body", max_depth=MAX_DEPTH)
    except MalformedError as exc:
        raise _bad(str(exc), "InvalidRequest") from None
    items = value if isinstance(value, list) else [value]
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


class _Slots:
    """How many ingest requests are parsed and checked at once (a parsed batch takes many
    times its size in memory; storing is one writer at a time anyway). One semaphore per event
    loop, since an asyncio semaphore belongs to the loop that first waits on it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._by_loop = weakref.WeakKeyDictionary()

    def __call__(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        slots = self._by_loop.get(loop)
        if slots is None:
            slots = self._by_loop[loop] = asyncio.Semaphore(self.size)
        return slots


INGEST_SLOTS = 2
"""Ingest requests parsed and checked at once: bodies wait in their connection's buffer (its
size capped), so memory stays bounded however many arrive."""


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


def _link_context(value: object) -> str | None:
    """``value`` as a context URI a ``Link`` header can carry, or None.

    Contexts are checked as URIs when they arrive, but a stored document is never trusted to
    be header text: an IRI stored before that check is mapped to its URI (its non-ASCII
    characters percent-encoded as UTF-8, RFC 3987 §3.1); anything else that is no URI is
    left out."""
    if not isinstance(value, str):
        return None
    if CONTEXT_URI.fullmatch(value):
        return value
    mapped = "".join(c if c.isascii() else quote(c, safe="") for c in value)
    return mapped if CONTEXT_URI.fullmatch(mapped) else None


def _context_of(entities: Sequence[Mapping[str, Any]]) -> str:
    """The context to link for ``entities``: the first usable one, else the core context."""
    for entity in entities:
        context = entity.get("@context")
        for item in context if isinstance(context, list) else [context]:
            link = _link_context(item)
            if link is not None:
                return link
    return CORE_CONTEXT


def _represent(entity: dict[str, Any], accept: str) -> dict[str, Any]:
    if accept == JSON_LD:
        return entity if "@context" in entity else {**entity, "@context": CORE_CONTEXT}
    return {k: v for k, v in entity.items() if k != "@context"}


def _json_response(body: Any, accept: str, status: int, context: str) -> Response:
    headers = {}
    if accept == JSON:
        if not CONTEXT_URI.fullmatch(context):  # header text is checked where it is written
            context = CORE_CONTEXT
        headers["Link"] = f'<{context}>; rel="{_CONTEXT_REL}"; type="{JSON_LD}"'
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status_code=status,
        media_type=accept,
        headers=headers,
    )


_PCHAR = "!$&'()*+,;=:@"
"""RFC 3986 pchar, besides the unreserved characters: what an id keeps in a path segment."""


def _entity_path(entity_id: str) -> str:
    """The path of an entity's resource. The id is percent-encoded into one path segment
    (``/``, ``?``, ``#``, ``%``, brackets and anything not ASCII escaped), so the path decodes
    back to exactly the id, and the header is ASCII whatever was stored."""
    return f"/ngsi-ld/v1/entities/{quote(entity_id, safe=_PCHAR)}"


def _path_entity_id(request: Request, decoded: str, route: str) -> str:
    """The entity id in the request path, percent-decoded exactly once.

    Read from the raw path where the server gives it, since a test client may decode twice
    (Starlette's does): ``urn:x:caf%25C3%25A9`` names ``urn:x:caf%C3%A9``, never ``…café``."""
    raw = request.scope.get("raw_path")
    if not isinstance(raw, bytes):
        return decoded
    text = raw.decode("latin-1")
    at = text.find(route)
    if at < 0:
        return decoded
    try:
        return unquote(text[at + len(route) :], errors="strict")
    except UnicodeDecodeError:
        raise _bad("the entity id in the path is not percent-encoded UTF-8") from None


def _check_entity_id(entity_id: str) -> None:
    if not ENTITY_ID.fullmatch(entity_id):
        shown = ascii(entity_id[:80]) + ("…" if len(entity_id) > 80 else "")
        raise _bad(
            f"{shown} is not an entity id: a URI such as urn:ngsi-ld:<type>:<id> (RFC 3986, "
            f"ASCII, at most {MAX_ENTITY_ID} characters; percent-encode anything else)"
        )


# --- q (NGSI-LD §4.9, the subset ombud answers) ----------------------------------------------

_OPERATORS = ("==", "!=", ">=", "<=", ">", "<")
"""Longest first, so ``>=`` is not read as ``>``."""
_EQUALITY = ("==", "!=")
_NAME = re.compile(r"\w+")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_DATE_OR_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{2}:[0-9]{2}")
_Q_GRAMMAR = (
    "ombud answers q as terms joined by ; (AND), each an attribute name, one of "
    '== != > >= < <=, and a value: a number, a "quoted string" (JSON escapes), or, with == '
    "and != only, true, false or a URI"
)

Term = tuple[str, str, Any]


def _q_refusal(why: str) -> _Refusal:
    return _bad(f"q: {why}. {_Q_GRAMMAR}")


def _is_attr_name(name: str) -> bool:
    """NGSI-LD §4.9 AttrName: a Unicode letter, then letters, numbers or ``_``."""
    categories = [unicodedata.category(c)[0] for c in name]
    return (
        bool(name)
        and categories[0] == "L"
        and all(c == "_" or k in "LN" for c, k in zip(name, categories, strict=True))
    )


def _q_attribute(q: str, pos: int) -> tuple[str, int]:
    if pos == len(q) or q[pos] == ";":
        raise _q_refusal("a term is empty")
    if q[pos] in "()":
        raise _q_refusal("parentheses are not supported")
    match = _NAME.match(q, pos)
    if match is None or not _is_attr_name(match.group()):
        raise _q_refusal(
            f"a term starts with an attribute name (a letter, then letters, digits or _), "
            f"not {q[pos : pos + 40]!a}"
        )
    return match.group(), match.end()


def _q_operator(q: str, pos: int, attr: str) -> tuple[str, int]:
    rest = q[pos:]
    if rest[:1] in (".", "["):
        raise _q_refusal("attribute paths (a.b) and compound names (a[b]) are not supported")
    if rest[:1] == "{":
        raise _q_refusal("linked entity paths (a{b}) are not supported")
    if rest.startswith(("~=", "!~=")):
        raise _q_refusal("pattern matching (~= and !~=) is not supported")
    for op in _OPERATORS:
        if rest.startswith(op):
            return op, pos + len(op)
    if not rest.strip() or rest.lstrip()[:1] in (";", "|"):
        raise _q_refusal(f"a bare attribute ({attr}: a test that it exists) is not supported")
    raise _q_refusal(f"the attribute {attr} must be followed by one of == != > >= < <=")


def _q_number(token: str) -> int | float:
    try:
        number: int | float = float(token) if any(c in token for c in ".eE") else int(token)
    except ValueError:  # an integer of thousands of digits
        raise _q_refusal(f"the number {token[:40]}… is too long") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise _q_refusal(f"the number {token[:40]} is out of range")
    return number


def _q_unquoted(raw: str, op: str) -> Any:
    """An unquoted value: a number, a boolean or a URI, as §4.9 allows; a string is quoted."""
    if _NUMBER.fullmatch(raw):
        return _q_number(raw)
    equality = op in _EQUALITY
    if raw in ("true", "false"):
        if not equality:
            raise _q_refusal(f"true and false compare only with == and !=, not {op}")
        return raw == "true"
    if CONTEXT_URI.fullmatch(raw):
        if not equality:
            raise _q_refusal(f"a URI compares only with == and !=, not {op}")
        return raw
    shown = ascii(raw[:40])
    if "|" in raw:
        raise _q_refusal("| (OR) is not supported: send one query per alternative")
    if ".." in raw:
        raise _q_refusal(f"ranges ({shown}) are not supported: use >= and <= joined by ;")
    if "," in raw:
        raise _q_refusal(f"value lists ({shown}) are not supported")
    if "(" in raw or ")" in raw:
        raise _q_refusal("parentheses are not supported")
    if _DATE_OR_TIME.match(raw):
        raise _q_refusal(f"date and time values ({shown}) are not supported yet")
    raise _q_refusal(
        f"the unquoted value {shown} is not a number"
        + (", true, false or a URI" if equality else "")
        + ': strings are quoted, as in status=="free"'
    )


def _q_value(q: str, pos: int, op: str) -> tuple[Any, int]:
    if q.startswith('"', pos):
        match = _QUOTED.match(q, pos)
        if match is None:
            raise _q_refusal(f"the value {q[pos : pos + 40]!a} has an unclosed quote")
        try:
            value: Any = json.loads(match.group())
        except ValueError:
            raise _q_refusal(
                f"the value {match.group()[:40]!a} is not a JSON string (bad escape or "
                "control character)"
            ) from None
        return value, match.end()
    end = pos
    while end < len(q) and q[end] != ";" and not q[end].isspace():
        end += 1
    if end == pos:
        raise _q_refusal(f"a value is missing after {op}")
    return _q_unquoted(q[pos:end], op), end


def _skip_spaces(q: str, pos: int) -> int:
    while pos < len(q) and q[pos].isspace():
        pos += 1
    return pos


def _parse_q(q: str) -> list[Term]:
    """NGSI-LD §4.9 terms ``attribute op value`` joined by ``;`` (AND), with spaces allowed
    around ``;``, all of which must hold. Everything else in the §4.9 grammar — ``|`` (OR),
    parentheses, ranges, value lists, dates and times, patterns, attribute paths, bare
    attributes — is refused with a 400 naming what is supported, never answered wrongly."""
    terms: list[Term] = []
    pos = 0
    while True:
        pos = _skip_spaces(q, pos)
        attr, pos = _q_attribute(q, pos)
        op, pos = _q_operator(q, pos, attr)
        value, pos = _q_value(q, pos, op)
        terms.append((attr, op, value))
        pos = _skip_spaces(q, pos)
        if pos == len(q):
            return terms
        if q[pos] == ";":
            pos += 1
            continue
        rest = q[pos:]
        if rest.startswith("|"):
            raise _q_refusal("| (OR) is not supported: send one query per alternative")
        if rest.startswith(".."):
            raise _q_refusal("ranges (a==1..5) are not supported: use >= and <= joined by ;")
        if rest.startswith(","):
            raise _q_refusal("value lists (a==1,2) are not supported")
        if rest[0] in "()":
            raise _q_refusal("parentheses are not supported")
        raise _q_refusal(f"terms are joined by ;, not {rest[:40]!a}")


def _same_kind(actual: Any, expected: Any) -> bool:
    """Both booleans, both numbers, or both strings (§4.9: other pairs never compare)."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool)
    if isinstance(actual, int | float) and isinstance(expected, int | float):
        return True
    return isinstance(actual, str) and isinstance(expected, str)


def _holds(actual: Any, op: str, expected: Any) -> bool:
    if op in _EQUALITY:
        # §4.9: a value of another type is unequal; an array target holds the value or not.
        candidates = actual if isinstance(actual, list) else [actual]
        found = any(_same_kind(c, expected) and c == expected for c in candidates)
        return found if op == "==" else not found
    if isinstance(actual, bool) or not _same_kind(actual, expected):
        return False
    return bool(
        {
            ">": actual > expected,
            ">=": actual >= expected,
            "<": actual < expected,
            "<=": actual <= expected,
        }[op]
    )


def _matches(entity: Mapping[str, Any], terms: list[Term]) -> bool:
    for attr, op, expected in terms:
        member = entity.get(attr)
        if not isinstance(member, Mapping):
            return False
        if not _holds(member.get("value", member.get("object")), op, expected):
            return False
    return True


# --- temporal ------------------------------------------------------------------------------------


def _time(value: str | None, name: str) -> datetime:
    if value is None:
        raise _bad(f"{name} is required for this timerel")
    try:
        return parse_iso_time(value, name)
    except MalformedError as exc:
        raise _bad(str(exc)) from None


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
    slots = _Slots(INGEST_SLOTS)

    @router.post(
        "/entities",
        summary="Create an entity from a signed observation (NGSI-LD §6.4.3.1).",
        status_code=201,
        response_class=Response,
        responses={
            201: {
                "description": "Created; Location names the entity.",
                "headers": {"Location": {"schema": {"type": "string"}}},
            },
            **_errors(400, 409, 413, 415, 503),
        },
        openapi_extra={"requestBody": _BODY_DOC},
    )
    async def create_entity(request: Request) -> Response:
        try:
            _only(request)
            media, body = await _raw_payload(request, max_body)
        except _Refusal as refusal:
            return refusal.response
        async with slots():
            try:
                entity = await run_in_threadpool(
                    _parse_payload, media, body, "link" in request.headers
                )
            except _Refusal as refusal:
                return refusal.response
            if isinstance(entity, list):
                return _bad("POST /entities takes one entity; use entityOperations/upsert").response
            try:
                (verdict,) = await run_in_threadpool(intake.submit, [entity], create_only=True)
            except OmbudError as exc:
                return _error(exc)
        if isinstance(verdict, Accepted):
            return Response(status_code=201, headers={"Location": _entity_path(verdict.entity_id)})
        return _error(_verdict_error(verdict))

    @router.post(
        "/entityOperations/upsert",
        summary="Create or update a batch of entities (NGSI-LD §6.15.3.1).",
        status_code=201,
        response_class=Response,
        responses={
            201: {
                "description": "Every entity stored; the ids of the entities created.",
                "content": {JSON: {"schema": {"type": "array", "items": {"type": "string"}}}},
            },
            204: {"description": "Every entity stored; none was new."},
            207: {
                "description": "Some refused: success and errors, one verdict per entity.",
                "content": {JSON: {"schema": {"type": "object"}}},
            },
            **_errors(400, 413, 415, 503),
        },
        openapi_extra={
            "requestBody": _BODY_DOC,
            "parameters": [
                _param_doc(
                    "options",
                    "replace (default) or update: both store the new signed version",
                    {"type": "string", "enum": ["replace", "update"]},
                )
            ],
        },
    )
    async def upsert(request: Request) -> Response:
        # Each observation is a whole signed document, so ``update`` (merging attributes into
        # the stored entity) would store something no device signed: both options store the
        # new signed version, and the entity's latest state is that version.
        options = request.query_params.get("options", "replace")
        try:
            _only(request, "options")
            if options not in ("replace", "update"):
                raise _bad(f"options must be replace or update, not {options[:40]!r}")
            media, body = await _raw_payload(request, max_body)
        except _Refusal as refusal:
            return refusal.response
        async with slots():
            try:
                entities = await run_in_threadpool(
                    _parse_payload, media, body, "link" in request.headers
                )
            except _Refusal as refusal:
                return refusal.response
            if not isinstance(entities, list) or not entities:
                return _bad(
                    "entityOperations/upsert takes a non-empty JSON array of entities"
                ).response
            if len(entities) > max_batch:
                return _bad(
                    f"a batch of {len(entities)} entities is over the limit of {max_batch}; "
                    "nothing was processed: split it"
                ).response
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
        "/entities/{entity_id:path}",
        summary="An entity: its latest signed observation (NGSI-LD §6.5.3.1).",
        response_class=Response,
        responses={
            200: {
                "description": "The entity, as its device signed it.",
                "content": {
                    JSON: {"schema": {"type": "object"}},
                    JSON_LD: {"schema": {"type": "object"}},
                },
            },
            **_errors(400, 404, 406, 503),
        },
        openapi_extra={"parameters": [_ACCEPT_DOC]},
    )
    def get_entity(entity_id: str, request: Request) -> Response:
        try:
            _only(request)
            accept = _accept(request)
            entity_id = _path_entity_id(request, entity_id, "/ngsi-ld/v1/entities/")
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
        responses={
            200: {
                "description": "The latest signed observation of each entity that matches.",
                "content": {
                    JSON: {"schema": {"type": "array", "items": {"type": "object"}}},
                    JSON_LD: {"schema": {"type": "array", "items": {"type": "object"}}},
                },
            },
            **_errors(400, 406, 503),
        },
        openapi_extra={
            "parameters": [
                _param_doc("type", "One entity type, by its short name.", {"type": "string"}),
                _param_doc("q", "Terms attr op value, joined by ; (AND).", {"type": "string"}),
                _param_doc("limit", f"0 to {MAX_LIMIT} (default 20).", {"type": "integer"}),
                _param_doc("offset", "Entities to skip.", {"type": "integer"}),
                _param_doc(
                    "count",
                    "true: the total in NGSILD-Results-Count.",
                    {"type": "string", "enum": ["true", "false"]},
                ),
                _ACCEPT_DOC,
            ]
        },
    )
    def query_entities(request: Request) -> Response:
        params = request.query_params
        try:
            _only(request, "type", "q", "limit", "offset", "count")
            accept = _accept(request)
            entity_type, q = _type_param(params.get("type")), params.get("q")
            if params.get("count", "false") not in ("true", "false"):
                raise _bad("count must be true or false")
            if entity_type is None and q is None:
                raise _bad("a query needs type or q (NGSI-LD §6.4.3.2)")
            terms = _parse_q(q) if q is not None else []
            limit = _int_param(params.get("limit"), "limit", 20, 0, MAX_LIMIT)
            offset = _int_param(params.get("offset"), "offset", 0, 0, 1 << 31)
        except _Refusal as refusal:
            return refusal.response
        found: list[dict[str, Any]] = []
        total = 0
        after = ""
        # Without count, the scan stops at the page's last match: a query for one entity must
        # not cost a read of every entity the devices ever reported; and no anonymous query
        # reads more than MAX_SCAN entities (a count or an offset beyond them is refused).
        counting = params.get("count") == "true"
        scanned = 0
        try:
            while counting or total < offset + limit:
                if scanned >= MAX_SCAN:
                    return _bad(
                        f"this query would read more than {MAX_SCAN:,} entities; narrow it "
                        "with type and q, or page with a smaller offset"
                    ).response
                page = store.latest_of_type(entity_type, after=after, limit=_PAGE)
                scanned += len(page)
                for observation in page:
                    entity = observation.entity()
                    if _matches(entity, terms):
                        if offset <= total < offset + limit:
                            found.append(entity)
                        total += 1
                        if not counting and total >= offset + limit:
                            break
                if len(page) < _PAGE:
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
        "/temporal/entities/{entity_id:path}",
        summary="An entity's observations over time (NGSI-LD §6.19.3.1).",
        response_class=Response,
        responses={
            200: {
                "description": "The temporal representation; instanceId names the ledger entry.",
                "content": {
                    JSON: {"schema": {"type": "object"}},
                    JSON_LD: {"schema": {"type": "object"}},
                },
            },
            206: {
                "description": (
                    f"The first {MAX_LIMIT} instances of a longer range, oldest first; "
                    "Content-Range names their times (ask again from its end, timerel=after)."
                ),
                "content": {
                    JSON: {"schema": {"type": "object"}},
                    JSON_LD: {"schema": {"type": "object"}},
                },
            },
            **_errors(400, 404, 406, 503),
        },
        openapi_extra={
            "parameters": [
                _param_doc(
                    "timerel",
                    "before, after or between.",
                    {"type": "string", "enum": ["before", "after", "between"]},
                ),
                _param_doc(
                    "timeAt", "RFC 3339 date-time.", {"type": "string", "format": "date-time"}
                ),
                _param_doc(
                    "endTimeAt",
                    "RFC 3339 date-time (between).",
                    {"type": "string", "format": "date-time"},
                ),
                _param_doc(
                    "lastN", f"1 to {MAX_LIMIT}: the latest instances.", {"type": "integer"}
                ),
                _ACCEPT_DOC,
            ]
        },
    )
    def temporal_entity(entity_id: str, request: Request) -> Response:
        params = request.query_params
        try:
            _only(request, "timerel", "timeAt", "endTimeAt", "lastN")
            accept = _accept(request)
            entity_id = _path_entity_id(request, entity_id, "/ngsi-ld/v1/temporal/entities/")
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
            limit = MAX_LIMIT + 1  # one more than is served tells whether the range goes on
            history = store.history(entity_id, start=start, end=end, last=last_n, limit=limit)
        except NotFoundError as exc:
            return problem_response("ResourceNotFound", 404, "Not found", str(exc))
        except OmbudError as exc:
            return _error(exc)
        partial = len(history) > MAX_LIMIT
        history = history[:MAX_LIMIT]
        body = _temporal(entity_id, history)
        entities = [o.entity() for o in history[:1]]
        if accept == JSON_LD:
            body["@context"] = _context_of(entities)
        if not partial:
            return _json_response(body, accept, 200, _context_of(entities))
        # More instances than one answer holds: 206 and the range served (NGSI-LD §6.3.10,
        # temporal pagination); the next request asks from the range's end (timerel=after),
        # which repeats the instances of that very time rather than skipping any.
        response = _json_response(body, accept, 206, _context_of(entities))
        first, last = (format_time(o.created) for o in (history[0], history[-1]))
        response.headers["Content-Range"] = f"date-time {first}-{last}/{MAX_LIMIT}"
        return response

    return router


_TYPE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


def _only(request: Request, *allowed: str) -> None:
    """Refuse query parameters this route does not implement, or gives more than once: a
    parameter ombud ignored would make the answer silently wrong (``attrs``, ``pick``,
    ``options=keyValues``, ``georel``, ``scopeQ``…)."""
    refusal = query_refusal([name for name, _ in request.query_params.multi_items()], allowed)
    if refusal is not None:
        raise _bad(refusal)


def _type_param(value: str | None) -> str | None:
    """One entity type by its short name (the Smart Data Model's): type lists (``A,B``) and
    type expressions (``A|B``, ``(A;B)``) are not supported, and say so."""
    if value is not None and not _TYPE_NAME.fullmatch(value):
        raise _bad(
            f"type {ascii(value)[:80]} is not supported: give one entity type by its short name "
            "(e.g. NoiseLevelObserved); type lists and expressions are not implemented"
        )
    return value


def _param_doc(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


_ACCEPT_DOC = {
    "name": "Accept",
    "in": "header",
    "required": False,
    "description": f"{JSON} (default; the context in a Link header) or {JSON_LD}.",
    "schema": {"type": "string"},
}
_BODY_DOC = {
    "required": True,
    "content": {
        media: {"schema": {"oneOf": [{"type": "object"}, {"type": "array"}]}}
        for media in (JSON, JSON_LD)
    },
}
_ERRORS = {
    400: "Malformed request, or a signed observation refused (the detail says why).",
    404: "No such entity.",
    406: "The representation asked for is neither JSON nor JSON-LD.",
    409: "The entity exists already, or the observation was accepted before (a replay).",
    413: "The body is over the size cap.",
    415: "The body is neither application/json nor application/ld+json.",
    503: "Storage is unavailable; retry later.",
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"description": _ERRORS[s]} for s in statuses}


def _int_param(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise _bad(f"{name} must be an integer from {low} to {high}")
    return int(value)
