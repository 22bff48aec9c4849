"""The HTTP/1.1 connection as ``ombud serve`` runs it: uvicorn's httptools protocol with a cap on
header size and on how long a request may take to arrive.

Threat model: before any route runs, a client can hold a connection open by sending its request
a byte at a time (slowloris), or send megabytes of headers; uvicorn bounds neither. Here a
request must arrive whole — request line, headers and body — within ``request_timeout_s`` of
its first byte (and a new connection must start one within that time too), or it is answered
``408`` and the connection closed; a request line plus headers over ``max_header_bytes`` is
answered ``431``; a request beyond ``server.max_connections`` is answered ``503`` (uvicorn's own
answer, plain text without the headers, is replaced). These answers carry the security headers
of every response and no echo of the request.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ombud.api.headers import API_POLICY, SECURITY_HEADERS

__all__ = ["limited_protocol"]


class _LimitedProtocol(HttpToolsProtocol):
    max_header_bytes: ClassVar[int] = 16384
    request_timeout_s: ClassVar[float] = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_bytes = 0
        self._refusal: tuple[int, str, str] | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._current: Any = None
        """The request/response cycle of the request now arriving, once its headers are in."""

    # -- the arrival deadline ---------------------------------------------------------------------

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout_s, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._current is not None and self._current.response_started:
            self.transport.close()  # answered already (early, before its body arrived)
        else:
            self._answer(
                408,
                "Request Timeout",
                f"a request must arrive within {self.request_timeout_s:g} s of its first byte",
            )

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a request is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._current = None
        self._arm()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._current = self.cycle

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        """uvicorn picks ``service_unavailable`` for a request over its concurrency limit."""
        super()._start_asgi_task(cycle, _busy if app is service_unavailable else app)

    # -- header size --------------------------------------------------------------------------

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.max_header_bytes:
            self._refusal = (
                431,
                "Request Header Fields Too Large",
                f"the request line and headers are limited to {self.max_header_bytes} bytes",
            )
            raise _HeadersTooLarge  # httptools stops parsing and reports a parser error

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def send_400_response(self, msg: str) -> None:
        """uvicorn answers every parser error with this; a refusal of ours goes out instead."""
        self._disarm()
        if self._refusal is not None:
            self._answer(*self._refusal)
        else:
            self._answer(400, "Bad Request", "the request is not valid HTTP/1.1")

    def _answer(self, status: int, title: str, detail: str) -> None:
        headers, body = _problem(status, title, detail)
        lines = [f"HTTP/1.1 {status} {title}"]
        lines += [f"{name}: {value}" for name, value in headers]
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body)
        self.transport.close()


class _HeadersTooLarge(Exception):
    pass


def _problem(status: int, title: str, detail: str) -> tuple[list[tuple[str, str]], bytes]:
    """The headers and body of a refusal made before any route runs."""
    body = json.dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": detail}
    ).encode("ascii")
    headers = [
        *SECURITY_HEADERS,
        ("Content-Security-Policy", API_POLICY),
        ("Content-Type", "application/problem+json"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
    ]
    return headers, body


async def _busy(scope: Any, receive: Any, send: Any) -> None:
    """The answer to a request over ``server.max_connections``."""
    headers, body = _problem(
        503, "Service Unavailable", "the server is at its connection limit; try again shortly"
    )
    listed = [(n.lower().encode("ascii"), v.encode("ascii")) for n, v in headers]
    listed.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": 503, "headers": listed})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def limited_protocol(max_header_bytes: int, request_timeout_s: float) -> type[HttpToolsProtocol]:
    """The protocol class for ``uvicorn.run(http=…)`` with these limits."""
    return type(
        "OmbudHttpProtocol",
        (_LimitedProtocol,),
        {"max_header_bytes": max_header_bytes, "request_timeout_s": request_timeout_s},
    )
