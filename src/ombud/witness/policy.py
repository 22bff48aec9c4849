"""The log's witness policy: which witnesses it asks, and how many must cosign before it
publishes a checkpoint (c2sp.org/tlog-witness).

Threat model: a weakened policy lets the operator publish a checkpoint no independent party
checked. Every value is checked here, whatever wrote it (``ombud.toml``, ``ombud log witness``):
a witness key must be a cosignature key, its URL http(s) with a host and no control character,
no two witnesses may share a name, and the quorum can never exceed the witnesses named.
Changing the policy is a ledger event (``ombud.deployment.set_witness_policy``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from ombud.errors import ConfigError
from ombud.ledger.note import Verifier

__all__ = ["WitnessEndpoint", "WitnessPolicy"]


_MAX_URL = 2048


def _is_http_url(url: str) -> bool:
    """An absolute http(s) URL with a host (an IPv6 one in brackets) and a port in range, of
    printable characters (no control, format or space character: ``ombud.toml`` and the HTTP
    request line must hold it as it is), and without a query or fragment, since the
    witness's paths (``/add-checkpoint``) are appended to it."""
    if len(url) > _MAX_URL or not url.isprintable() or " " in url or "?" in url or "#" in url:
        return False
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises for a port out of range or not a number
        if "[" in parts.netloc:
            ipaddress.IPv6Address(parts.hostname or "")
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed bracket, or a port or IPv6 address that is not one
        return False


def _in_range(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer between {low} and {high}, not {value!r}")


@dataclass(frozen=True)
class WitnessEndpoint:
    """One witness the log asks for cosignatures: its cosigner vkey and its submission URL."""

    vkey: str
    url: str

    def __post_init__(self) -> None:
        try:
            verifier = Verifier.from_vkey(self.vkey)
        except ValueError as exc:
            raise ConfigError(f"witness vkey {self.vkey!r}: {exc}") from None
        if not verifier.is_cosigner:
            raise ConfigError(f"witness key {verifier.name} is not a cosignature (0x04) key")
        if not _is_http_url(self.url):
            raise ConfigError(
                f"witness URL {self.url[:200]!r} is not an http(s) URL of at most"
                f" {_MAX_URL} printable characters, with a host and without spaces"
            )

    @property
    def name(self) -> str:
        return self.vkey.split("+", 1)[0]


@dataclass(frozen=True)
class WitnessPolicy:
    """Who must cosign before the log publishes a checkpoint (c2sp.org/tlog-witness).

    With ``quorum`` 0 the log publishes every checkpoint it signs, unwitnessed.
    """

    quorum: int = 0
    """Cosignatures from distinct witnesses required to publish."""
    timeout_ms: int = 3000
    """How long one publishing round waits for witnesses, retries included."""
    attempts: int = 3
    """Tries per witness and round for transport errors and 5xx answers."""
    witness: tuple[WitnessEndpoint, ...] = ()

    def __post_init__(self) -> None:
        _in_range("witnesses.timeout_ms", self.timeout_ms, 10, 600_000)
        _in_range("witnesses.attempts", self.attempts, 1, 100)
        _in_range("witnesses.quorum", self.quorum, 0, len(self.witness))
        names = [w.name for w in self.witness]
        if len(set(names)) != len(names):
            raise ConfigError("two witnesses in the policy share a key name")
