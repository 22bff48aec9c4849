"""The token issuer: the city's identity service signs one blinded token per resident per period.

Threat model: the issuer knows who residents are — that is its job — and must neither learn
which token a resident got (it signs blinded requests, ``voice.tokens``) nor sign two for one
resident in a period (ballot stuffing). Its state directory (mode 0700) holds its name, a
secret (mode 0600), and per period an RSA-2048 key (PEM, mode 0600) and the residents already
served, as HMAC-SHA256 of their ids under the secret, so the store names nobody and cannot be
tested against a list of names without the secret. The resident is recorded in the same
durable transaction that produces the response, before it is returned: a crash can cost a
resident their token for the period, never give them two.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import re
import secrets
import sqlite3
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ombud.base64url import b64url
from ombud.canonical import is_text
from ombud.errors import (
    AlreadyExistsError,
    ConfigError,
    MalformedError,
    NotFoundError,
    StorageError,
)
from ombud.keyfile import read_private_key, write_private_key
from ombud.storage import connect, write_transaction
from ombud.voice.tokens import issue, public_key_bytes

__all__ = ["PERIOD", "Issuer", "resident_id"]

PERIOD = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
"""A period's name, e.g. ``2026-12``."""
_NAME = re.compile(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?")
_SETTINGS = "issuer.json"
_TAG_KEY_FILE = "resident-secret"
_SERVED = "served.sqlite"


def _private_database(path: Path) -> None:
    """Create ``path`` mode 0600 (an empty file is an empty SQLite database), or make an
    existing one 0600 — SQLite gives the ``-wal`` and ``-shm`` files it creates beside it the
    database file's mode, so the residents served stay unreadable to other users."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
    except OSError as exc:
        raise StorageError(f"cannot open {path}: {exc}") from exc


def _check_period(period: str) -> None:
    if not PERIOD.fullmatch(period):
        raise MalformedError(f"period {period[:40]!r} must be 1-32 letters, digits, . _ -")


def resident_id(resident: str) -> str:
    """A resident id as the issuer records it: 1-256 characters of text, in Unicode NFC, so
    that one resident spelled two ways by the identity service (``zoë`` composed or with a
    combining diaeresis) is one resident; surrounding spaces are refused rather than trimmed,
    since they say the id was not read as the service meant it."""
    if not 0 < len(resident) <= 256:
        raise MalformedError("a resident id is 1-256 characters")
    if not is_text(resident):  # bytes that were not UTF-8, passed on by the shell
        raise MalformedError("a resident id is text: it holds bytes that are not UTF-8")
    if resident != resident.strip():
        raise MalformedError("a resident id has no spaces around it")
    return unicodedata.normalize("NFC", resident)


@dataclass(frozen=True)
class Issuer:
    """An issuer's state directory."""

    state: Path
    name: str

    @classmethod
    def init(cls, state: Path, name: str) -> Issuer:
        """Create the state directory (mode 0700, also when it existed empty); refuses one
        that exists and is not empty."""
        if not _NAME.fullmatch(name):
            raise MalformedError(
                f"issuer name {name[:60]!r} must be a host name, e.g. id.city.example"
            )
        state.mkdir(mode=0o700, parents=True, exist_ok=True)
        if any(state.iterdir()):
            raise AlreadyExistsError(f"{state} is not empty: an issuer lives there already")
        # mkdir's mode is masked by the umask, and an existing directory keeps its own
        os.chmod(state, 0o700)
        write_private_key(state / _TAG_KEY_FILE, secrets.token_hex(32))
        _private_database(state / _SERVED)
        (state / _SETTINGS).write_text(json.dumps({"name": name}) + "\n", encoding="utf-8")
        return cls(state, name)

    @classmethod
    def open(cls, state: Path) -> Issuer:
        try:
            settings = json.loads((state / _SETTINGS).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(
                f"{state} is not an issuer (create it with `ombud voice issuer init`)"
            ) from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {state / _SETTINGS}: {exc}") from exc
        return cls(state, str(settings["name"]))

    def _key_path(self, period: str) -> Path:
        _check_period(period)
        return self.state / f"period-{period}.pem"

    def create_period(self, period: str) -> bytes:
        """A fresh key for ``period``; returns its public key (RFC 9578 encoding) to publish."""
        path = self._key_path(period)
        if path.exists():
            raise AlreadyExistsError(f"period {period} already has a key")
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
        write_private_key(path, pem.strip())
        return public_key_bytes(key.public_key())

    def _private_key(self, period: str) -> rsa.RSAPrivateKey:
        path = self._key_path(period)
        if not path.exists():
            raise NotFoundError(f"period {period} has no key (`ombud voice issuer period`)")
        key = serialization.load_pem_private_key(
            read_private_key(path).encode("ascii"), password=None
        )
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConfigError(f"{path} does not hold an RSA key")
        return key

    def public_key(self, period: str) -> bytes:
        return public_key_bytes(self._private_key(period).public_key())

    def _tag(self, resident: str) -> str:
        """The keyed hash a resident is recorded under (``resident`` as ``resident_id`` gives
        it)."""
        secret = bytes.fromhex(read_private_key(self.state / _TAG_KEY_FILE))
        h = hmac.new(secret, resident.encode("utf-8"), "sha256")
        return b64url(h.digest())

    @contextlib.contextmanager
    def _served(self) -> Iterator[sqlite3.Connection]:
        """The residents served, per period: one SQLite table, so checking a resident costs an
        index lookup however many were served, and ``BEGIN IMMEDIATE`` serialises issuers."""
        path = self.state / _SERVED
        _private_database(path)
        conn = connect(path)
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS served (period TEXT NOT NULL, tag TEXT NOT NULL, "
                "PRIMARY KEY (period, tag)) STRICT"
            )
            yield conn
        finally:
            conn.close()

    def issue(self, period: str, resident: str, token_request: bytes) -> bytes:
        """The TokenResponse for ``resident``'s blinded request, once per period: the resident
        is recorded in the same durable transaction, before the response is returned."""
        key = self._private_key(period)
        tag = self._tag(resident_id(resident))
        with self._served() as conn, write_transaction(conn, str(self.state)):
            if conn.execute(
                "SELECT 1 FROM served WHERE period = ? AND tag = ?", (period, tag)
            ).fetchone():
                raise AlreadyExistsError(f"this resident already has a token for period {period}")
            response = issue(key, token_request)
            conn.execute("INSERT INTO served (period, tag) VALUES (?, ?)", (period, tag))
        return response

    def issue_many(
        self, period: str, requests: Sequence[tuple[str, bytes]]
    ) -> list[bytes | AlreadyExistsError]:
        """``issue`` for many residents in one durable transaction (the identity service's
        batch at the start of a period): a resident already served, or named twice, gets an
        ``AlreadyExistsError`` in place of a response."""
        key = self._private_key(period)
        out: list[bytes | AlreadyExistsError] = []
        with self._served() as conn, write_transaction(conn, str(self.state)):
            for resident, token_request in requests:
                tag = self._tag(resident_id(resident))
                if conn.execute(
                    "SELECT 1 FROM served WHERE period = ? AND tag = ?", (period, tag)
                ).fetchone():
                    out.append(AlreadyExistsError(f"a resident already has a token for {period}"))
                    continue
                out.append(issue(key, token_request))
                conn.execute("INSERT INTO served (period, tag) VALUES (?, ?)", (period, tag))
        return out

    def served(self, period: str) -> int:
        """How many residents got a token for ``period`` (a count, nothing more)."""
        _check_period(period)
        with self._served() as conn:
            row = conn.execute("SELECT count(*) FROM served WHERE period = ?", (period,)).fetchone()
        return int(row[0])
