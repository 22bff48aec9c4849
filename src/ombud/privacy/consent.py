"""Consent: what a resident agreed to, kept as ISO/IEC TS 27560-style records in the vault.

Threat model: processing personal data without a valid consent (never given, withdrawn,
expired, or for another purpose or category) must be impossible by construction, so every
processing path calls ``ConsentBook.check`` first and gets ``ConsentError`` — nothing is
processed. A record is personal data: it lives encrypted in the vault and the ledger carries
only its salted commitment (``consent.granted``, ``consent.withdrawn``), so the history of
consents is public and tamper-evident while saying nothing about who gave them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ombud.canonical import is_text
from ombud.clock import format_time, parse_time, to_seconds, utc_now
from ombud.database import Tx
from ombud.errors import ConsentError, MalformedError, NotFoundError
from ombud.events import Event
from ombud.ledger.log import Log
from ombud.privacy.vault import Sealed, Vault, check_subject

__all__ = ["LEGAL_BASES", "ConsentBook", "ConsentRecord", "Grant", "PurgedConsent"]

LEGAL_BASES = (
    "consent",
    "contract",
    "legal-obligation",
    "vital-interests",
    "public-task",
    "legitimate-interests",
)
"""GDPR Art. 6(1) (a)-(f), as TS 27560's legal basis."""

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_RECORD_ID = re.compile(r"[0-9a-f]{32}")
_KIND = "consent"


def _names(values: Iterable[str], what: str) -> tuple[str, ...]:
    if isinstance(values, str):
        raise MalformedError(f"{what} must be a list of names")
    out = tuple(values)
    if not out or len(out) > 32:
        raise MalformedError(f"{what} must name 1 to 32 entries")
    for value in out:
        if not isinstance(value, str) or not _NAME.fullmatch(value):
            raise MalformedError(f"{what}: {str(value)[:40]!r} is not a lower-case-hyphenated name")
    return tuple(sorted(set(out)))


def _text(value: object, what: str, limit: int = 200) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise MalformedError(f"{what} must be 1 to {limit} characters")
    if not is_text(value):
        raise MalformedError(f"{what} holds a lone surrogate, which is no character")
    return value


@dataclass(frozen=True)
class Grant:
    """What the controller asks and the subject agrees to (the fields of TS 27560 a processing
    path needs); ``ConsentBook.grant`` turns it into a record."""

    subject: str
    purposes: tuple[str, ...]
    data_categories: tuple[str, ...]
    controller: str
    legal_basis: str = "consent"
    storage_location: str = "ombud vault (AES-256-GCM, per-subject key)"
    retention_days: int = 365
    recipients: tuple[str, ...] = ()
    jurisdiction: str = "EU"
    withdrawal_method: str = "DELETE /me/consents/{id} with the resident access key"
    valid_days: int | None = None
    """Days the consent stays valid; None: until withdrawn."""

    def __post_init__(self) -> None:
        check_subject(self.subject)
        object.__setattr__(self, "purposes", _names(self.purposes, "purposes"))
        object.__setattr__(self, "data_categories", _names(self.data_categories, "data categories"))
        recipients = tuple(self.recipients)
        if len(recipients) > 32:
            raise MalformedError("at most 32 recipients")
        for r in recipients:
            _text(r, "a recipient")
        object.__setattr__(self, "recipients", recipients)
        _text(self.controller, "controller")
        if self.legal_basis not in LEGAL_BASES:
            raise MalformedError(f"legal basis must be one of {', '.join(LEGAL_BASES)}")
        _text(self.storage_location, "storage location")
        _text(self.jurisdiction, "jurisdiction", 64)
        _text(self.withdrawal_method, "withdrawal method")
        for name, value in (
            ("retention_days", self.retention_days),
            ("valid_days", self.valid_days),
        ):
            if value is None and name == "valid_days":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 36500:
                raise MalformedError(f"{name} must be a whole number of days from 1 to 36500")


@dataclass(frozen=True)
class ConsentRecord:
    """One version of a consent record (ISO/IEC TS 27560 fields, camelCase in JSON)."""

    record_id: str
    version: int
    grant: Grant
    status: str
    """``given`` or ``withdrawn``."""
    time: datetime
    """When this version was recorded."""
    expires: datetime | None
    ledger_index: int = -1

    def covers(self, purpose: str, category: str, now: datetime) -> bool:
        return (
            self.status == "given"
            and (self.expires is None or now < self.expires)
            and purpose in self.grant.purposes
            and category in self.grant.data_categories
        )

    def to_json(self) -> dict[str, Any]:
        g = self.grant
        return {
            "recordId": self.record_id,
            "version": self.version,
            "subject": g.subject,
            "controller": g.controller,
            "purposes": list(g.purposes),
            "dataCategories": list(g.data_categories),
            "legalBasis": g.legal_basis,
            "storageLocation": g.storage_location,
            "retentionDays": g.retention_days,
            "recipients": list(g.recipients),
            "jurisdiction": g.jurisdiction,
            "withdrawalMethod": g.withdrawal_method,
            "validDays": g.valid_days,
            "status": self.status,
            "time": format_time(self.time),
            "expires": None if self.expires is None else format_time(self.expires),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], ledger_index: int) -> ConsentRecord:
        grant = Grant(
            subject=data["subject"],
            purposes=tuple(data["purposes"]),
            data_categories=tuple(data["dataCategories"]),
            controller=data["controller"],
            legal_basis=data["legalBasis"],
            storage_location=data["storageLocation"],
            retention_days=data["retentionDays"],
            recipients=tuple(data["recipients"]),
            jurisdiction=data["jurisdiction"],
            withdrawal_method=data["withdrawalMethod"],
            valid_days=data["validDays"],
        )
        expires = data["expires"]
        return cls(
            data["recordId"],
            data["version"],
            grant,
            data["status"],
            parse_time(data["time"]),
            None if expires is None else parse_time(expires),
            ledger_index,
        )


@dataclass(frozen=True)
class PurgedConsent:
    """A consent record whose latest version retention purged. A withdrawn consent's record is
    kept, as proof of the withdrawal, for its retention and then destroyed like any payload;
    what remains is the consent row (id, version, status — ``withdrawn``) and the purge's
    ledger index. Nothing else about it can be told, so it never covers any processing."""

    record_id: str
    version: int
    status: str
    ledger_index: int
    purged_index: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "recordId": self.record_id,
            "version": self.version,
            "status": self.status,
            "ledgerIndex": self.ledger_index,
            "purgedIndex": self.purged_index,
        }


def _second(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(microsecond=0)


@dataclass
class ConsentBook:
    """Consent records of the deployment: granted, changed and withdrawn through the ledger."""

    vault: Vault
    log: Log
    clock: Callable[[], datetime] = utc_now
    random_bytes: Callable[[int], bytes] = os.urandom

    def __post_init__(self) -> None:
        self.vault.forget_with(self._forget, "consents")

    @staticmethod
    def _forget(tx: Tx, ref: bytes) -> None:
        tx.execute("DELETE FROM consents WHERE subject = ?", (ref,))

    def grant(
        self, grant: Grant, *, actor: str, access_key: bool = False
    ) -> tuple[ConsentRecord, str | None]:
        """Record a new consent (``consent.granted``); with ``access_key`` also issue the
        subject's resident access key (returned once, stored hashed)."""
        now = _second(self.clock())
        record = ConsentRecord(
            self.random_bytes(16).hex(),
            1,
            grant,
            "given",
            now,
            None if grant.valid_days is None else now + timedelta(days=grant.valid_days),
        )
        key: list[str] = []
        index = self._write(
            record, "consent.granted", actor, issue=access_key, keys=key, replaces=None
        )
        return replace(record, ledger_index=index), key[0] if key else None

    def change(self, record_id: str, grant: Grant, *, actor: str) -> ConsentRecord:
        """A new version of a given consent with other terms (same subject)."""
        current = self._latest(record_id)
        if isinstance(current, PurgedConsent) or current.status != "given":
            raise ConsentError(f"consent {record_id} was withdrawn; grant a new one instead")
        if grant.subject != current.grant.subject:
            raise MalformedError("a change cannot move a consent to another subject")
        now = _second(self.clock())
        record = ConsentRecord(
            record_id,
            current.version + 1,
            grant,
            "given",
            now,
            None if grant.valid_days is None else now + timedelta(days=grant.valid_days),
        )
        index = self._write(
            record, "consent.granted", actor, issue=False, keys=[], replaces=current.version
        )
        return replace(record, ledger_index=index)

    def withdraw(
        self, record_id: str, *, actor: str, subject_ref: bytes | None = None
    ) -> ConsentRecord:
        """Withdraw a consent (``consent.withdrawn``); from then on ``check`` refuses it. With
        ``subject_ref`` (a resident acting on their own), only that subject's consent."""
        current = self._latest(record_id, subject_ref=subject_ref)
        if isinstance(current, PurgedConsent):
            raise ConsentError(
                f"consent {record_id} is already {current.status}; its record was purged when "
                "its retention ended"
            )
        if current.status != "given":
            raise ConsentError(f"consent {record_id} is already withdrawn")
        record = replace(
            current, version=current.version + 1, status="withdrawn", time=_second(self.clock())
        )
        index = self._write(record, "consent.withdrawn", actor, issue=False, keys=[], replaces=None)
        return replace(record, ledger_index=index)

    def _write(
        self,
        record: ConsentRecord,
        kind: str,
        actor: str,
        *,
        issue: bool,
        keys: list[str],
        replaces: int | None,
    ) -> int:
        data = json.dumps(record.to_json(), sort_keys=True).encode("utf-8")
        ref = self.vault.ref(record.grant.subject)
        sealed: list[Sealed] = []

        def build(tx: Tx) -> list[bytes]:
            if record.version > 1:
                rows = tx.execute("SELECT version FROM consents WHERE id = ?", (record.record_id,))
                if not rows or int(rows[0][0]) != record.version - 1:
                    raise ConsentError(f"consent {record.record_id} changed meanwhile; retry")
            expires = None
            if record.status == "withdrawn":  # kept as proof of the withdrawal, then purged
                expires = record.time + timedelta(days=record.grant.retention_days)
            sealed.append(self.vault.seal_in(tx, ref, _KIND, data, expires=expires))
            if issue:
                keys.append(self.vault.issue_access_key(tx, ref))
            body: dict[str, Any] = {
                "v": 1,
                "record": record.record_id,
                "version": record.version,
                "commitment": sealed[0].commitment.hex(),
            }
            if replaces is not None:
                body["replaces"] = replaces
            return [Event(kind, record.time, actor, body).to_bytes()]

        def record_rows(tx: Tx, index: int) -> None:
            self.vault.store_in(tx, sealed[0], index)
            if record.version > 1:  # the version replaced is kept as evidence, then purged
                expires = record.time + timedelta(days=record.grant.retention_days)
                replaced = "SELECT payload FROM consents WHERE id = ?"
                for (payload,) in tx.execute(replaced, (record.record_id,)):
                    Vault.expire_in(tx, payload, expires)
            values = (
                sealed[0].id,
                record.version,
                record.status,
                None if record.expires is None else to_seconds(record.expires),
                index,
            )
            if record.version == 1:
                tx.execute(
                    "INSERT INTO consents (id, subject, payload, version, status, expires,"
                    " ledger_index) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (record.record_id, ref, *values),
                )
            else:
                tx.execute(
                    "UPDATE consents SET payload = ?, version = ?, status = ?, expires = ?,"
                    " ledger_index = ? WHERE id = ?",
                    (*values, record.record_id),
                )

        return self.log.append_with(build, record_rows)

    def current(self, record_id: str, *, subject_ref: bytes | None = None) -> ConsentRecord:
        """The latest version of a consent record (``NotFoundError`` once it was purged)."""
        latest = self._latest(record_id, subject_ref=subject_ref)
        if isinstance(latest, PurgedConsent):
            raise NotFoundError(
                f"consent {record_id} was {latest.status}; its record was purged when its "
                "retention ended"
            )
        return latest

    def _latest(
        self, record_id: str, *, subject_ref: bytes | None = None
    ) -> ConsentRecord | PurgedConsent:
        if not isinstance(record_id, str) or not _RECORD_ID.fullmatch(record_id):
            raise MalformedError("a consent record id is 32 lower-case hex digits")
        rows = self.vault.db.read(
            "SELECT subject, payload, version, status, ledger_index FROM consents WHERE id = ?",
            (record_id,),
        )
        if not rows or (subject_ref is not None and bytes(rows[0][0]) != subject_ref):
            raise NotFoundError(f"no consent record {record_id}")
        return self._load(record_id, *rows[0][1:])

    def _load(
        self, record_id: str, payload: str, version: int, status: str, index: int
    ) -> ConsentRecord | PurgedConsent:
        """The record a consent row points at; once retention purged it (only a withdrawn
        version has a retention), what the row itself says. The row is left as it is by the
        purge: whether a record was purged is the vault's to say, in one place."""
        data = self.vault.open_held(payload)
        if data is None:
            purged = self.vault.purged_at(payload)
            return PurgedConsent(record_id, int(version), str(status), int(index), purged)
        return ConsentRecord.from_json(json.loads(data), int(index))

    def latest(self, ref: bytes) -> list[ConsentRecord | PurgedConsent]:
        """Every consent of a subject, oldest first: its latest version, or what is left of it
        once retention purged it."""
        self.vault.status(ref)  # unknown subjects raise
        rows = self.vault.db.read(
            "SELECT id, payload, version, status, ledger_index FROM consents WHERE subject = ?"
            " ORDER BY ledger_index",
            (ref,),
        )
        return [self._load(str(r[0]), *r[1:]) for r in rows]

    def records(self, ref: bytes) -> list[ConsentRecord]:
        """Every consent record of a subject that is still held, latest versions (a withdrawn
        one whose retention ended is purged: ``purged`` lists those)."""
        return [r for r in self.latest(ref) if isinstance(r, ConsentRecord)]

    def purged(self, ref: bytes) -> list[PurgedConsent]:
        """The subject's consents whose record retention purged (withdrawn ones)."""
        return [r for r in self.latest(ref) if isinstance(r, PurgedConsent)]

    def check(self, subject: str, purpose: str, category: str) -> ConsentRecord:
        """The consent under which ``subject``'s data of ``category`` may be processed for
        ``purpose``; ``ConsentError`` (saying why) when there is none, ``UnknownSubjectError``
        or ``SubjectErasedError`` for a subject without data."""
        _names([purpose], "purpose")
        _names([category], "data category")
        ref = self.vault.ref(subject)
        erased = self.vault.status(ref)
        if erased is not None:
            raise ConsentError("this subject's data was erased; there is no consent to rely on")
        now = self.clock()
        records = self.records(ref)
        for record in records:
            if record.covers(purpose, category, now):
                return record
        relevant = [
            r
            for r in records
            if purpose in r.grant.purposes and category in r.grant.data_categories
        ]
        if not relevant:
            raise ConsentError(f"no consent covers purpose {purpose!r} for data {category!r}")
        if all(r.status == "withdrawn" for r in relevant):
            raise ConsentError(f"consent for purpose {purpose!r} was withdrawn")
        raise ConsentError(f"consent for purpose {purpose!r} expired")
