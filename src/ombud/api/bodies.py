"""Request bodies: every JSON and form body goes through one strict, bounded parser.

Threat model: a body is hostile input. JSON is parsed by ``ombud.canonical.parse_json`` — strict
UTF-8, no duplicate members, no NaN or Infinity, and at most ``MAX_DEPTH`` levels of nesting, so
a deep body is a 400 and never a ``RecursionError`` (a 500 with a traceback in the log). Forms are
strict UTF-8 ``application/x-www-form-urlencoded`` with at most ``MAX_FORM_FIELDS`` fields. Routes
declared with pydantic models get the same parser through ``StrictRoute``; routes that read a
body themselves call ``parse_json_body`` or ``parse_form``. The size of a body is capped before
it is parsed (``ombud.api.limits``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ombud.canonical import parse_json
from ombud.errors import MalformedError
from ombud.release import MAX_REASON

__all__ = [
    "MAX_DEPTH",
    "MAX_FORM_FIELDS",
    "Release",
    "StrictRoute",
    "parse_form",
    "parse_json_body",
]

MAX_DEPTH = 16
"""Nesting a request body may have; no ombud request needs more than four levels."""
MAX_FORM_FIELDS = 100
"""Fields a form body may carry (GeoReport v2 requests have about a dozen)."""
_INLINE = 8192
"""Bodies up to this size are parsed on the event loop (a few hundred microseconds at most)."""


def parse_json_body(body: bytes) -> Any:
    """A JSON request body, strictly (``MalformedError`` says what is wrong)."""
    return parse_json(body, "the request body", max_depth=MAX_DEPTH)


def parse_form(body: bytes) -> dict[str, list[str]]:
    """An ``application/x-www-form-urlencoded`` body, strictly: UTF-8, well formed, at most
    ``MAX_FORM_FIELDS`` fields (``MalformedError`` otherwise)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedError("the request body is not UTF-8") from None
    try:
        return parse_qs(
            text,
            keep_blank_values=True,
            strict_parsing=bool(text),
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (ValueError, UnicodeDecodeError):
        raise MalformedError(
            f"the form body is malformed or has more than {MAX_FORM_FIELDS} fields"
        ) from None


class _StrictRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                if len(body) > _INLINE:  # parsed in a worker thread: the event loop serves on
                    self._json = await run_in_threadpool(parse_json_body, body)
                else:
                    self._json = parse_json_body(body)
            except MalformedError as exc:
                # FastAPI passes an HTTPException through unchanged (any other error would
                # become a bare "error parsing the body"), so the client learns what was wrong.
                raise HTTPException(400, str(exc)) from None
        return self._json


class StrictRoute(APIRoute):
    """An API route whose JSON body (for its pydantic models) is read by ``parse_json_body``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(_StrictRequest(request.scope, request.receive))

        return strict


class Release(BaseModel):
    """The body of every release of a held item — a quarantined observation or device, a
    flagged post: the operator's reason, which goes on the ledger with the release (the rule
    itself, blank reasons included, is ``ombud.release.check_reason``)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=MAX_REASON)
