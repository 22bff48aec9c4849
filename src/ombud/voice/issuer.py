"""The token issuer: the city's identity service signs one blinded token per resident per period.

Threat model: the issuer knows who residents are — that is its job — and must neither learn
which token a resident got (it signs blinded requests, ``voice.tokens``) nor sign two for one
resident in a period (ballot stuffing). Its state directory (mode 0700) holds its name, a
secret (mode 0600), and per period an RSA-2048 key (PEM, mode 0600) and the residents already
served, as HMAC-SHA256 of their ids under the secret, so the file names nobody and cannot be
tested against a list of names without the secret. Issuance is serialised by a lock file and
the resident is recorded (fsync'd) before the response is returned: a crash can cost a
resident their token for the period, never give them two.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ombud.errors import AlreadyExistsError, ConfigError, MalformedError, NotFoundError
from ombud.keyfile import read_private_key, write_private_key
from ombud.voice.tokens import issue, public_key_bytes

__all__ = ["PERIOD", "Issuer"]

PERIOD = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
"""A period's name, e.g. ``2026-12``."""
_NAME = re.compile(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?")
_SETTINGS = "issuer.json"
_TAG_KEY_FILE = "resident-secret"


def _check_period(period: str) -> None:
    if not PERIOD.fullmatch(period):
        raise MalformedError(f"period {period[:40]!r} must be 1-32 letters, digits, . _ -")


@dataclass(frozen=True)
class Issuer:
    """An issuer's state directory."""

    state: Path
    name: str

    @classmethod
    def init(cls, state: Path, name: str) -> Issuer:
        """Create the state directory; refuses one that exists and is not empty."""
        if not _NAME.fullmatch(name):
            raise MalformedError(
                f"issuer name {name[:60]!r} must be a host name, e.g. id.city.example"
            )
        state.mkdir(mode=0o700, parents=True, exist_ok=True)
        if any(state.iterdir()):
            raise AlreadyExistsError(f"{state} is not empty: an issuer lives there already")
        write_private_key(state / _TAG_KEY_FILE, secrets.token_hex(32))
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
        secret = bytes.fromhex(read_private_key(self.state / _TAG_KEY_FILE))
        h = hmac.new(secret, resident.encode("utf-8"), "sha256")
        return base64.urlsafe_b64encode(h.digest()).decode().rstrip("=")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.state / "lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def issue(self, period: str, resident: str, token_request: bytes) -> bytes:
        """The TokenResponse for ``resident``'s blinded request, once per period."""
        if not 0 < len(resident) <= 256:
            raise MalformedError("a resident id is 1-256 characters")
        key = self._private_key(period)
        tag = self._tag(resident)
        served = self.state / f"served-{period}.txt"
        with self._locked():
            if served.exists() and tag in served.read_text(encoding="ascii").split():
                raise AlreadyExistsError(f"this resident already has a token for period {period}")
            response = issue(key, token_request)
            with open(served, "a", encoding="ascii") as f:
                f.write(tag + "\n")
                f.flush()
                os.fsync(f.fileno())
        return response

    def served(self, period: str) -> int:
        """How many residents got a token for ``period`` (a count, nothing more)."""
        _check_period(period)
        path = self.state / f"served-{period}.txt"
        return len(path.read_text(encoding="ascii").split()) if path.exists() else 0
