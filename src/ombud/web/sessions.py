"""Residents' portal sessions and the CSRF tokens of the portal's forms.

Threat model: a resident's access key is a bearer secret. It crosses the network once, in the
sign-in form, and is never stored: the session holds only the vault's reference for the
subject, under a random id that lives in an ``HttpOnly``, ``SameSite=Strict`` cookie and is
filed by its SHA-256, so neither a memory dump nor a timing attack on the lookup yields a
usable id. Sessions expire after 15 idle minutes, end on sign-out and on erasure, and their
number is capped (the oldest go first), so no flood of sign-ins grows memory. Every form that
changes state carries an HMAC of the browser's CSRF cookie, compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ombud.base64url import b64url
from ombud.errors import ForbiddenError

__all__ = ["CsrfGuard", "SessionBook", "new_token"]

IDLE = timedelta(minutes=15)
CAPACITY = 4096


def new_token(random_bytes: Callable[[int], bytes] = os.urandom) -> str:
    """32 random bytes, URL-safe base64 without padding."""
    return b64url(random_bytes(32))


def _file(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()


@dataclass
class _Session:
    subject_ref: bytes
    expires: datetime


class SessionBook:
    """Signed-in residents: session id → the subject's vault reference, in memory only (one
    server process; behind several, route a resident to the same one)."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        random_bytes: Callable[[int], bytes] = os.urandom,
        *,
        idle: timedelta = IDLE,
        capacity: int = CAPACITY,
    ) -> None:
        self._clock = clock
        self._random = random_bytes
        self._idle = idle
        self._capacity = capacity
        self._sessions: OrderedDict[bytes, _Session] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, subject_ref: bytes) -> str:
        session_id = new_token(self._random)
        with self._lock:
            self._sessions[_file(session_id)] = _Session(subject_ref, self._clock() + self._idle)
            while len(self._sessions) > self._capacity:
                self._sessions.popitem(last=False)
        return session_id

    def subject(self, session_id: str | None) -> bytes | None:
        """The subject of a live session (its idle time restarts), else None."""
        if not session_id or len(session_id) > 100:
            return None
        key = _file(session_id)
        now = self._clock()
        with self._lock:
            found = self._sessions.get(key)
            if found is None:
                return None
            if found.expires <= now:
                del self._sessions[key]
                return None
            found.expires = now + self._idle
            self._sessions.move_to_end(key)
            return found.subject_ref

    def close(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._sessions.pop(_file(session_id), None)

    def close_subject(self, subject_ref: bytes) -> None:
        """End every session of a subject (after erasure)."""
        with self._lock:
            for key in [k for k, s in self._sessions.items() if s.subject_ref == subject_ref]:
                del self._sessions[key]

    def __len__(self) -> int:
        return len(self._sessions)


class CsrfGuard:
    """Form tokens bound to the browser's CSRF cookie by HMAC-SHA256 under a server key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("a CSRF key is at least 32 bytes")
        self._key = key

    def token(self, cookie: str) -> str:
        mac = hmac.new(self._key, b"ombud portal form\n" + cookie.encode(), hashlib.sha256)
        return b64url(mac.digest())

    def verify(self, cookie: str | None, token: str | None) -> None:
        """None when ``token`` was made for ``cookie``; raises ``ForbiddenError`` otherwise."""
        if not cookie or not token or len(cookie) > 100 or len(token) > 100:
            raise ForbiddenError("the form's CSRF token is missing: reload the page and retry")
        if not hmac.compare_digest(self.token(cookie), token):
            raise ForbiddenError("the form's CSRF token does not match: reload the page")
