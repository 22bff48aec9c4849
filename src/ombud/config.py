"""Settings: one typed, immutable object read from a deployment's ``ombud.toml`` and the
environment, and passed to whatever needs it (never an import-time global).

Threat model: the settings file is written by the operator and may be edited by hand; every
value is type- and range-checked with an error naming the key, and no secret is ever stored in
it (keys live in their own 0600 files).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ombud.canonical import is_text
from ombud.database import has_password
from ombud.districts import is_district
from ombud.errors import ConfigError
from ombud.listen import parse_listen
from ombud.storage import write_atomically
from ombud.witness.policy import WitnessEndpoint, WitnessPolicy

__all__ = [
    "SETTINGS_FILE",
    "IngestSettings",
    "IntegritySettings",
    "LogSettings",
    "PrivacySettings",
    "ServerSettings",
    "Settings",
    "StorageSettings",
    "VoiceSettings",
]

SETTINGS_FILE = "ombud.toml"


@dataclass(frozen=True)
class LogSettings:
    """How the sequencer batches and how much the log keeps in memory."""

    batch_max_entries: int = 4096
    """Entries committed in one transaction at most."""
    batch_max_age_ms: int = 50
    """Milliseconds an append may wait for its batch to fill before it is committed anyway."""
    tile_cache: int = 4096
    """Tiles (about 16 KiB each with their interior) kept in memory for serving proofs."""
    checkpoint_interval_s: int = 5
    """Seconds between checkpoints signed by ``ombud serve`` while the log grows."""

    def __post_init__(self) -> None:
        _check_range("log.batch_max_entries", self.batch_max_entries, 1, 1_000_000)
        _check_range("log.batch_max_age_ms", self.batch_max_age_ms, 0, 60_000)
        _check_range("log.tile_cache", self.tile_cache, 16, 10_000_000)
        _check_range("log.checkpoint_interval_s", self.checkpoint_interval_s, 1, 86_400)


@dataclass(frozen=True)
class ServerSettings:
    """How ``ombud serve`` listens, and the limits on what a request may be."""

    listen: str = "127.0.0.1:8421"
    max_request_bytes: int = 1 << 20
    """Largest body of a sensor-ingest request (an NGSI-LD batch), counted as it streams in
    (declared or chunked)."""
    max_small_body_bytes: int = 64 << 10
    """Largest body of every other route (a post, a receipt, a consent, a registration, a
    release): small by nature, and a parsed JSON body takes many times its size in memory."""
    max_connections: int = 512
    """Connections (and requests in progress) served at once; beyond them, 503."""
    worker_threads: int = 40
    """Threads that run the routes' blocking work (database reads, signatures, the model, a
    post waiting for its group commit); on PostgreSQL each keeps one connection open, so a
    server holds up to this many plus about eight for its background rounds: keep servers times
    (this + 8) under PostgreSQL's ``max_connections`` (100 by default)."""
    max_header_bytes: int = 16384
    """Largest request line plus headers."""
    request_timeout_s: int = 30
    """Seconds a request may take to arrive whole, from its first byte."""
    trusted_proxies: str = ""
    """Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For and
    X-Forwarded-Proto are believed. Empty: none is, and forwarded headers are ignored. ombud
    never logs or stores a client's address either way."""
    public_url: str = ""
    """The address the public reaches this deployment at (``https://city.example``, or with a
    path prefix a proxy strips, ``https://city.example/ombud``): the absolute links in Atom
    feeds and the ``ombud verify`` command on the portal's *How to verify* page use it, never a
    request's Host header (which anyone can set). https, or http for a loopback address only;
    no user, query or fragment. Empty: feeds link relatively and the command shows a
    placeholder to replace."""

    def public_base(self) -> str:
        """``public_url`` without a trailing slash (``""`` when unset), ready for a path."""
        return self.public_url.rstrip("/")

    def proxy_list(self) -> list[str]:
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    def __post_init__(self) -> None:
        parse_listen(self.listen)
        _check_range("server.max_request_bytes", self.max_request_bytes, 1024, 1 << 30)
        _check_range("server.max_small_body_bytes", self.max_small_body_bytes, 1024, 1 << 30)
        _check_range("server.max_connections", self.max_connections, 1, 1_000_000)
        _check_range("server.worker_threads", self.worker_threads, 1, 256)
        _check_range("server.max_header_bytes", self.max_header_bytes, 1024, 1 << 20)
        _check_range("server.request_timeout_s", self.request_timeout_s, 1, 3600)
        _check_public_url("server.public_url", self.public_url)
        for proxy in self.proxy_list():
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ConfigError(
                    f"server.trusted_proxies: {proxy[:60]!r} is not an IP address or network"
                ) from None


@dataclass(frozen=True)
class StorageSettings:
    """Where the deployment's database lives: empty for the embedded SQLite file in the data
    directory, or a ``postgresql://`` URL. A password does not belong here (settings hold no
    secrets): use ``~/.pgpass``, ``PGPASSWORD`` or the ``OMBUD_STORAGE_URL`` override."""

    url: str = ""

    def __post_init__(self) -> None:
        if self.url and not self.url.startswith(("postgresql://", "postgres://")):
            raise ConfigError("storage.url must be empty (SQLite) or a postgresql:// URL")


@dataclass(frozen=True)
class IngestSettings:
    """Limits of sensor ingest."""

    max_batch: int = 1000
    """Entities one ``entityOperations/upsert`` request may carry; larger batches are refused."""
    max_clock_skew_s: int = 300
    """How far in the future an observation's signing time may be."""
    mqtt_reorder_window: int = 1024
    """How far below a device's highest counter an MQTT observation may arrive and still be
    accepted, once (shared subscriptions spread a device's messages over workers, which can
    reorder them). HTTP requires strictly increasing counters."""

    def __post_init__(self) -> None:
        _check_range("ingest.max_batch", self.max_batch, 1, 100_000)
        _check_range("ingest.max_clock_skew_s", self.max_clock_skew_s, 0, 86_400)
        _check_range("ingest.mqtt_reorder_window", self.mqtt_reorder_window, 0, 1 << 20)


@dataclass(frozen=True)
class VoiceSettings:
    """Residents' posts (``ombud.voice``)."""

    origin: str = ""
    """The platform name tokens are bound to (RFC 9577 origin_info); empty means the log's
    origin."""
    retention_days: int = 30
    """How long a post's text is kept; its labels (sentiment, service, district, period) stay."""
    screen_interval_s: int = 60
    """How often ``ombud serve`` looks for coordinated posts and purges expired text; 0 leaves
    it to ``ombud voice screen`` and ``ombud voice purge``."""
    author_max: int = 3
    """Imported posts one (pseudonymised) author may contribute per day before the rest are
    flagged."""
    districts: str = ""
    """The public list of districts (comma-separated ids): the key set of differentially
    private releases, fixed in advance so that a cell's presence reveals nothing."""
    post_batch: int = 256
    """Posts labelled and committed together at most (group commit); 1 labels and commits
    each post on its own, as before group commit (for comparison)."""

    def district_list(self) -> list[str]:
        return sorted({d.strip() for d in self.districts.split(",") if d.strip()})

    def __post_init__(self) -> None:
        for district in self.district_list():
            if not is_district(district):
                raise ConfigError(f"voice.districts: {district[:40]!r} is not a district id")
        if len(self.origin) > 200 or any(c.isspace() for c in self.origin):
            raise ConfigError("voice.origin must be at most 200 characters, without spaces")
        _check_range("voice.retention_days", self.retention_days, 1, 3650)
        _check_range("voice.screen_interval_s", self.screen_interval_s, 0, 86_400)
        _check_range("voice.author_max", self.author_max, 1, 10_000)
        _check_range("voice.post_batch", self.post_batch, 1, 4096)


@dataclass(frozen=True)
class PrivacySettings:
    """Residents' personal data and differentially private releases (``ombud.privacy``)."""

    master_key_file: str = "master.key"
    """The vault's master key (mode 0600), relative to the data directory; the
    ``OMBUD_MASTER_KEY`` environment variable (base64) takes precedence. Never in this file."""
    retention_interval_s: int = 3600
    """How often ``ombud serve`` purges personal payloads past their retention; 0 leaves it to
    ``ombud privacy retention run``."""
    dp_rho_per_release: float = 0.5
    """zCDP rho one release spends."""
    dp_rho_per_period: float = 1.0
    """zCDP rho all releases of one dataset and period may spend together."""
    dp_k_threshold: int = 20
    """Cells whose (noisy) number of contributors is below this are suppressed."""
    dp_max_contributions: int = 3
    """Posts one imported (pseudonymised) author may contribute to one release."""
    cover_epsilon: float = 1.0
    """ε per hour of the cover leaves (``ombud.voice.cover``): dummy ``post.accepted`` entries
    that make each hour's number of them (ε, δ)-differentially private. Smaller hides more and
    costs more leaves (about 14 an hour at 1.0 and δ 1e-6, 28 at 0.5)."""
    cover_delta: float = 1e-6
    """δ per hour of the cover leaves: the chance the count's guarantee fails."""

    def __post_init__(self) -> None:
        if not self.master_key_file or "\0" in self.master_key_file:
            raise ConfigError("privacy.master_key_file must name a file")
        _check_range("privacy.retention_interval_s", self.retention_interval_s, 0, 86_400 * 7)
        _check_float("privacy.dp_rho_per_release", self.dp_rho_per_release, 1e-6, 100.0)
        _check_float("privacy.dp_rho_per_period", self.dp_rho_per_period, 1e-6, 1000.0)
        if self.dp_rho_per_release > self.dp_rho_per_period:
            raise ConfigError("privacy.dp_rho_per_release is more than privacy.dp_rho_per_period")
        _check_range("privacy.dp_k_threshold", self.dp_k_threshold, 0, 1_000_000)
        _check_range("privacy.dp_max_contributions", self.dp_max_contributions, 1, 1000)
        # The bounds are ombud.voice.cover's (EPSILON_RANGE, DELTA_RANGE), spelled here so that
        # reading the settings imports no voice code.
        _check_float("privacy.cover_epsilon", self.cover_epsilon, 0.1, 20.0)
        _check_float("privacy.cover_delta", self.cover_delta, 1e-12, 1e-3)


@dataclass(frozen=True)
class IntegritySettings:
    """How stored observations are screened against their own history and their neighbours
    (``ombud.sensors.screening``)."""

    screen_interval_s: int = 5
    """How often ``ombud serve`` screens new observations; 0 leaves it to
    ``ombud integrity screen``."""
    settle_s: int = 30
    """How old an observation must be before it is screened, so its neighbours' readings of
    the same moment have arrived."""
    neighbour_window_s: int = 900
    """A neighbour's reading counts when it was taken this close in time."""
    neighbour_k: int = 5
    """Robust deviations (MAD-scaled) from the neighbours' median beyond which a reading is
    suspect."""
    device_window: int = 24
    """A device's latest screened readings considered for quarantining it as a whole ..."""
    device_suspects: int = 6
    """... and how many of them must be suspect."""
    batch: int = 2000
    """Observations screened per transaction."""
    anomaly_threshold: float = 0.68
    """Score at or above which the streaming anomaly detector (``ombud.integrity.detector``,
    run over each device's attributes) makes a reading suspect; 1 turns the detector off."""
    detector_series: int = 1024
    """Series (device and attribute) whose detectors are kept in memory between batches, about
    155 kB each; the others are saved and restored from the database as they come and go."""

    def __post_init__(self) -> None:
        _check_range("integrity.screen_interval_s", self.screen_interval_s, 0, 86_400)
        _check_range("integrity.settle_s", self.settle_s, 0, 86_400)
        _check_range("integrity.neighbour_window_s", self.neighbour_window_s, 1, 86_400)
        _check_range("integrity.neighbour_k", self.neighbour_k, 2, 100)
        _check_range("integrity.device_window", self.device_window, 1, 10_000)
        _check_range("integrity.device_suspects", self.device_suspects, 1, self.device_window)
        _check_range("integrity.batch", self.batch, 1, 100_000)
        _check_float("integrity.anomaly_threshold", self.anomaly_threshold, 0.5, 1.0)
        _check_range("integrity.detector_series", self.detector_series, 1, 1_000_000)


@dataclass(frozen=True)
class Settings:
    """Everything configurable about one deployment, rooted at ``data_dir``."""

    data_dir: Path
    log: LogSettings = field(default_factory=LogSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    integrity: IntegritySettings = field(default_factory=IntegritySettings)
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    witnesses: WitnessPolicy = field(default_factory=WitnessPolicy)

    @classmethod
    def load(cls, data_dir: Path, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``DIR/ombud.toml``; ``OMBUD_<SECTION>_<KEY>`` environment variables override it.

        Refuses a directory that ``ombud init`` did not create.
        """
        path = data_dir / SETTINGS_FILE
        if not path.is_file():
            raise ConfigError(
                f"{data_dir} is not an ombud data directory (no {SETTINGS_FILE}); "
                f"create it with `ombud init --data-dir {data_dir}`"
            )
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
        return cls.from_mapping(data_dir, raw, os.environ if environ is None else environ)

    @classmethod
    def for_directory(cls, directory: Path) -> Settings:
        """A deployment's settings, or the defaults for a bare log directory (no settings file)."""
        if (directory / SETTINGS_FILE).is_file():
            return cls.load(directory)
        return cls.from_mapping(directory, {}, os.environ)

    @classmethod
    def as_written(cls, directory: Path) -> Settings:
        """The settings file as written, without environment overrides (what a change saves
        back, so that no override, such as a database URL with its password, is baked in), or
        the defaults for a bare log directory."""
        if (directory / SETTINGS_FILE).is_file():
            return cls.load(directory, environ={})
        return cls.from_mapping(directory, {}, {})

    def save(self) -> None:
        """Write the settings file atomically (``ombud init`` and policy changes)."""
        write_atomically(self.data_dir / SETTINGS_FILE, self.to_toml().encode("utf-8"))

    @classmethod
    def from_mapping(
        cls, data_dir: Path, raw: Mapping[str, Any], environ: Mapping[str, str] | None = None
    ) -> Settings:
        environ = environ or {}
        sections: dict[str, Any] = {}
        for name, kind in _SECTIONS:
            table = raw.get(name, {})
            if not isinstance(table, dict):
                raise ConfigError(f"[{name}] in {SETTINGS_FILE} must be a table")
            known = {f.name: f for f in fields(kind)}
            for key in table:
                if key not in known:
                    raise ConfigError(f"unknown setting {name}.{key} in {SETTINGS_FILE}")
            values = dict(table)
            for key, f in known.items():
                env = environ.get(f"OMBUD_{name.upper()}_{key.upper()}")
                if env is not None:
                    values[key] = _from_env(f"{name}.{key}", env, f.type)
            for key, value in values.items():
                kind_of = known[key].type
                if kind_of in ("float", float) and isinstance(value, int):
                    value = values[key] = float(value)
                expected = {"int": int, int: int, "float": float, float: float}.get(kind_of, str)
                if isinstance(value, bool) or not isinstance(value, expected):
                    raise ConfigError(f"{name}.{key} must be {expected.__name__}, not {value!r}")
            sections[name] = kind(**values)
        table = raw.get("witnesses", {})
        if not isinstance(table, dict):
            raise ConfigError(f"[witnesses] in {SETTINGS_FILE} must be a table")
        sections["witnesses"] = _witness_policy(table, environ)
        unknown = set(raw) - set(sections)
        if unknown:
            raise ConfigError(f"unknown section(s) {sorted(unknown)} in {SETTINGS_FILE}")
        return cls(data_dir, **sections)

    def to_toml(self) -> str:
        """The settings file ``ombud init`` writes: every setting, with its meaning.

        Raises ``ConfigError`` unless the text reads back as these settings: a file that
        ``load`` refuses would stop the deployment from opening.
        """
        if has_password(self.storage.url):
            raise ConfigError(
                "storage.url holds a password, and the settings file holds no secrets: put it "
                "in ~/.pgpass or PGPASSWORD, or give the whole URL as OMBUD_STORAGE_URL"
            )
        text = self._render()
        try:
            again = Settings.from_mapping(self.data_dir, tomllib.loads(text))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"these settings cannot be written as TOML: {exc}") from None
        if again != self:
            raise ConfigError("these settings would not read back as they were written")
        return text

    def _render(self) -> str:
        out = ["# ombud deployment settings. Secrets never go here: keys have their own files.", ""]
        for name, _kind in _SECTIONS:
            section = getattr(self, name)
            out.append(f"[{name}]")
            for f in fields(section):
                value = getattr(section, f.name)
                out.append(
                    f"{f.name} = {value!r}"
                    if isinstance(value, int)
                    else f"{f.name} = {_toml(value)}"
                )
            out.append("")
        out += _witness_toml(self.witnesses)
        return "\n".join(out)


def _witness_policy(table: Mapping[str, Any], environ: Mapping[str, str]) -> WitnessPolicy:
    """The ``[witnesses]`` table of ombud.toml (environment overrides first)."""
    values: dict[str, Any] = {}
    for key in ("quorum", "timeout_ms", "attempts"):
        env = environ.get(f"OMBUD_WITNESSES_{key.upper()}")
        value = _from_env(f"witnesses.{key}", env, int) if env is not None else table.get(key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"witnesses.{key} must be int, not {value!r}")
            values[key] = value
    unknown = set(table) - {"quorum", "timeout_ms", "attempts", "witness"}
    if unknown:
        raise ConfigError(f"unknown setting(s) {sorted(unknown)} in [witnesses]")
    entries = table.get("witness", [])
    if not isinstance(entries, list):
        raise ConfigError("[[witnesses.witness]] must be an array of tables")
    endpoints = []
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) != {"vkey", "url"}:
            raise ConfigError("each [[witnesses.witness]] has exactly a vkey and a url")
        if not all(isinstance(v, str) for v in entry.values()):
            raise ConfigError("witness vkey and url are strings")
        endpoints.append(WitnessEndpoint(entry["vkey"], entry["url"]))
    return WitnessPolicy(**values, witness=tuple(endpoints))


def _witness_toml(policy: WitnessPolicy) -> list[str]:
    out = [
        "[witnesses]",
        "# Checkpoints are published only once `quorum` of these witnesses cosigned them.",
        f"quorum = {policy.quorum}",
        f"timeout_ms = {policy.timeout_ms}",
        f"attempts = {policy.attempts}",
        "",
    ]
    for w in policy.witness:
        out += ["[[witnesses.witness]]", f"vkey = {_toml(w.vkey)}", f"url = {_toml(w.url)}", ""]
    return out


_SECTIONS: tuple[tuple[str, type[Any]], ...] = (
    ("log", LogSettings),
    ("server", ServerSettings),
    ("storage", StorageSettings),
    ("ingest", IngestSettings),
    ("integrity", IntegritySettings),
    ("voice", VoiceSettings),
    ("privacy", PrivacySettings),
)


def _toml(value: str | float) -> str:
    """A TOML basic string (or float): JSON's escaping is a subset of TOML's, so quotes cannot
    break out; DEL, which JSON leaves as it is and TOML forbids, is escaped too."""
    if isinstance(value, str) and not is_text(value):
        raise ConfigError("a setting holds a lone surrogate, which no file can hold")
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


_PUBLIC_URL_MAX = 200
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_NETLOC = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{{1,5}})?")
_URL_PATH = re.compile(r"(?:/[A-Za-z0-9._~-]+)*/?")


def _check_public_url(name: str, url: str) -> None:
    """Refuse a public address that is not ``https://HOST[:PORT][/PREFIX]`` (``http`` for a
    loopback host only), in ASCII, of at most ``_PUBLIC_URL_MAX`` characters."""
    if not url:
        return
    shown = url[:80]
    if len(url) > _PUBLIC_URL_MAX:
        raise ConfigError(f"{name} is longer than {_PUBLIC_URL_MAX} characters")
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    if (
        not sep
        or scheme not in ("https", "http")
        or not url.isascii()
        or not _NETLOC.fullmatch(netloc)
        or not _URL_PATH.fullmatch(slash + path)
        or any(segment in (".", "..") for segment in path.split("/"))
    ):
        raise ConfigError(
            f"{name} must be https://HOST[:PORT][/PATH-PREFIX] in ASCII (an international "
            f"domain in its xn-- form), with no user, query or fragment, not {shown!r}"
        )
    parts = urlsplit(url)
    try:
        _ = parts.port
    except ValueError:
        raise ConfigError(f"{name}: the port of {shown!r} is out of range") from None
    host = parts.hostname or ""
    if "[" in netloc:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigError(f"{name}: {shown!r} has no IPv6 address in its brackets") from None
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name, not an address
        loopback = False
    if scheme == "http" and not loopback:
        raise ConfigError(
            f"{name} must be https (http only for a loopback address such as 127.0.0.1), "
            f"not {shown!r}"
        )


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer between {low} and {high}, not {value!r}")


def _check_float(name: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(f"{name} must be a number between {low:g} and {high:g}, not {value!r}")


_ENV_INT = re.compile(r"-?[0-9]{1,18}")
_ENV_FLOAT = re.compile(r"-?[0-9]{1,18}(\.[0-9]{1,18})?([eE][-+]?[0-9]{1,3})?")
"""Numbers as TOML writes them, in ASCII: ``int()`` and ``float()`` also take ``1_000``,
other scripts' digits, ``inf`` and ``nan``, which the settings file could never hold."""


def _from_env(name: str, value: str, kind: object) -> Any:
    if kind in ("float", float):
        if not _ENV_FLOAT.fullmatch(value):
            raise ConfigError(f"environment override of {name} must be a number, e.g. 0.5")
        return float(value)
    if kind in ("int", int):
        if not _ENV_INT.fullmatch(value):
            raise ConfigError(f"environment override of {name} must be an integer, e.g. 1000")
        return int(value)
    return value
