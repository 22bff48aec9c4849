"""The vault: residents' personal data, encrypted per subject and erasable by destroying a key.

Threat model: whoever reads the database (a backup, a stolen disk, a curious administrator)
must learn no personal data. Each payload is AES-256-GCM under its subject's own data key; that
key is stored only wrapped by a master key kept outside the database (a 0600 file or the
environment); subjects are indexed by a keyed hash, never by their id. Erasure destroys the
subject's key, payloads and salts in one transaction (crypto-shredding), then truncates the
WAL, so no file ombud writes keeps them; the ledger holds only salted commitments, which say
nothing once the salt is gone (DESIGN §4, §7).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ombud.clock import format_time, from_seconds, to_seconds, utc_now
from ombud.database import Database, Tx
from ombud.errors import (
    MalformedError,
    MasterKeyError,
    NotFoundError,
    PayloadIntegrityError,
    StorageError,
    SubjectErasedError,
    UnauthorizedError,
    UnknownSubjectError,
)
from ombud.events import Event, commit, new_salt
from ombud.ledger.log import Attachment, Log
from ombud.privacy.master_key import MASTER_KEY_ENV, MasterKey

__all__ = [
    "ERASURE_BASES",
    "Erasure",
    "Sealed",
    "StoredPayload",
    "Vault",
    "check_subject",
]

"""Environment variable holding the master key (base64 of 32 bytes); it overrides the file."""
ERASURE_BASES = ("resident-request", "operator", "legal-obligation")
"""Why a subject was erased (GDPR Art. 17(1)); the erasure event names one, never free text."""

_KEY_SIZE = 32
_NONCE_SIZE = 12
_SUBJECT = re.compile(r"[^\x00-\x1f\x7f]{1,200}")
_KIND = re.compile(r"[a-z][a-z0-9.-]{0,39}")
_PAYLOAD_ID = re.compile(r"[0-9a-f]{32}")
_MAX_PAYLOAD = 64 * 1024
_CHUNK = 500
_TABLES = ("vault_payloads", "vault_subjects", "vault_meta")


def check_subject(subject: object) -> str:
    """A subject id is 1-200 printable characters (the city's pseudonym for a resident)."""
    if not isinstance(subject, str) or not _SUBJECT.fullmatch(subject):
        raise MalformedError("a subject id is 1 to 200 characters without control characters")
    return subject


@dataclass(frozen=True)
class Sealed:
    """A payload encrypted for the vault, before it is stored with its ledger index."""

    id: str
    subject: bytes
    kind: str
    nonce: bytes
    ciphertext: bytes
    salt: bytes
    commitment: bytes
    created: datetime
    expires: datetime | None


@dataclass(frozen=True)
class StoredPayload:
    """A payload as the vault holds it; ``data`` and ``salt`` are None once purged."""

    id: str
    kind: str
    created: datetime
    expires: datetime | None
    commitment: bytes
    ledger_index: int
    data: bytes | None
    salt: bytes | None
    purged_index: int | None


@dataclass(frozen=True)
class Erasure:
    ledger_index: int
    payloads: int
    scrubbed: bool
    """False when the erasure committed but scrubbing the database files failed for now
    (``StorageError``): the next retention pass, or erasing again, finishes it."""


def _time(seconds: int | None) -> datetime | None:
    return None if seconds is None else from_seconds(int(seconds))


@dataclass
class Vault:
    """Encrypted personal payloads in the deployment database, one data key per subject."""

    db: Database
    keys: Sequence[MasterKey]
    """The master keys this process holds, the one it was opened with first; any of them is
    accepted for unwrapping (a rotation that did not finish). New keys are wrapped only under
    the vault's current master key, which the database names (``_current_master``)."""
    clock: Callable[[], datetime] = utc_now
    random_bytes: Callable[[int], bytes] = os.urandom
    reload_keys: Callable[[], Sequence[MasterKey]] | None = None
    """Reads the master keys again (from their files), when the database names one this
    process does not hold: ``ombud privacy rotate-key`` ran while it was serving."""
    on_erase: list[Callable[[Tx, bytes], None]] = field(default_factory=list)
    """Called inside the erasure transaction with the subject's ref, for the tables of other
    modules that point at the subject (consent records); registered with ``forget_with``."""
    scrubbed_with: list[str] = field(default_factory=list)
    """Those modules' tables, scrubbed with the vault's own (``Database.scrub``), so that
    what their hooks overwrote does not linger in dead rows or the WAL."""
    purged_total: int = field(default=0, init=False)
    _index: bytes = field(default=b"", init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise MasterKeyError("the vault needs a master key")
        self._index = self._index_key()

    def forget_with(self, hook: Callable[[Tx, bytes], None], *tables: str) -> None:
        """Call ``hook`` in every erasure, and scrub ``tables`` (which it rewrites) with the
        vault's own; registering the same hook twice changes nothing."""
        if hook not in self.on_erase:
            self.on_erase.append(hook)
        self.scrubbed_with.extend(t for t in tables if t not in self.scrubbed_with)

    def _scrub(self) -> None:
        self.db.scrub((*_TABLES, *self.scrubbed_with))

    # -- keys -----------------------------------------------------------------------------------

    def _held(self, key_id: str) -> MasterKey | None:
        """The master key ``key_id`` if this process holds it, reading the key files again
        once when it does not (a rotation by another process)."""
        for attempt in range(2):
            for key in self.keys:
                if hmac.compare_digest(key.key_id, key_id):
                    return key
            if attempt or self.reload_keys is None:
                break
            loaded = list(self.reload_keys())
            ids = {k.key_id for k in loaded}
            # keys read before stay usable for unwrapping what an older snapshot shows
            self.keys = [*loaded, *(k for k in self.keys if k.key_id not in ids)]
        return None

    def _master(self, key_id: str) -> MasterKey:
        key = self._held(key_id)
        if key is None:
            raise MasterKeyError(
                f"the vault was sealed with master key {key_id}; the key given is "
                f"{self.keys[0].key_id} (a wrong file or {MASTER_KEY_ENV}?)"
            )
        return key

    def _current_master(self, tx: Tx) -> MasterKey:
        """The master key to wrap a new key under, read in the transaction that stores it:
        the one the index key is wrapped under. ``rewrap`` moves the index key and every
        subject key in one transaction, so this is the vault's current master key even when a
        rotation committed after this process opened the vault, and a key wrapped here is
        never under one that a rotation retired (and removed from disk). ``MasterKeyError``
        when this process cannot get it: the transaction, and all it wrote, is abandoned."""
        rows = tx.execute("SELECT master_id FROM vault_meta WHERE name = 'index'")
        if not rows:  # not yet: ``_index_key`` makes it under the first key
            return self.keys[0]
        key_id = str(rows[0][0])
        key = self._held(key_id)
        if key is None:
            raise MasterKeyError(
                f"the vault's master key is now {key_id} (rotated since this process opened "
                f"it?) but this process holds {', '.join(k.key_id for k in self.keys)}: nothing "
                "was stored; restart it with the current master key"
            )
        return key

    @staticmethod
    def _wrap(master: MasterKey, key: bytes, label: bytes, nonce: bytes) -> bytes:
        return nonce + AESGCM(master.secret).encrypt(nonce, key, b"ombud-vault-wrap\0" + label)

    def _unwrap(self, key_id: str, wrapped: bytes, label: bytes) -> bytes:
        master = self._master(key_id)
        try:
            return AESGCM(master.secret).decrypt(
                wrapped[:_NONCE_SIZE], wrapped[_NONCE_SIZE:], b"ombud-vault-wrap\0" + label
            )
        except InvalidTag:
            raise PayloadIntegrityError("a wrapped vault key failed authentication") from None

    def _index_key(self) -> bytes:
        rows = self.db.read("SELECT master_id, wrapped FROM vault_meta WHERE name = 'index'")
        if rows:
            return self._unwrap(rows[0][0], bytes(rows[0][1]), b"index")
        with self.db.transaction() as tx:
            found = tx.execute("SELECT master_id, wrapped FROM vault_meta WHERE name = 'index'")
            if found:
                return self._unwrap(found[0][0], bytes(found[0][1]), b"index")
            key = self.random_bytes(_KEY_SIZE)
            master = self.keys[0]
            wrapped = self._wrap(master, key, b"index", self.random_bytes(_NONCE_SIZE))
            tx.execute(
                "INSERT INTO vault_meta (name, master_id, wrapped) VALUES ('index', ?, ?)",
                (master.key_id, wrapped),
            )
            return key

    def ref(self, subject: str) -> bytes:
        """The keyed hash a subject is filed under (HMAC-SHA256 with the vault's index key)."""
        check_subject(subject)
        return hmac.new(self._index, b"subject\0" + subject.encode("utf-8"), "sha256").digest()

    def _subject_key(self, tx: Tx | None, ref: bytes, *, create: bool) -> bytes:
        """The subject's data key, read in ``tx`` (or outside any transaction, to read only);
        with ``create``, a new key for a subject that has none (never without ``tx``)."""
        sql = "SELECT master_id, wrapped_key, erased_index FROM vault_subjects WHERE ref = ?"
        rows = self.db.read(sql, (ref,)) if tx is None else tx.execute(sql, (ref,))
        if rows and rows[0][1] is not None:
            return self._unwrap(rows[0][0], bytes(rows[0][1]), b"subject\0" + ref)
        if not create or tx is None:
            if rows:
                raise SubjectErasedError("this subject's data was erased", rows[0][2])
            raise UnknownSubjectError("no data is held about this subject")
        key = self.random_bytes(_KEY_SIZE)
        master = self._current_master(tx)
        wrapped = self._wrap(master, key, b"subject\0" + ref, self.random_bytes(_NONCE_SIZE))
        if rows:  # an erased subject back again: a new key; the old data stays unreadable
            tx.execute(
                "UPDATE vault_subjects SET master_id = ?, wrapped_key = ?, created = ?,"
                " erased_index = NULL, scrubbed = 1 WHERE ref = ?",
                (master.key_id, wrapped, to_seconds(self.clock()), ref),
            )
        else:
            tx.execute(
                "INSERT INTO vault_subjects (ref, master_id, wrapped_key, access, created,"
                " erased_index, scrubbed) VALUES (?, ?, ?, NULL, ?, NULL, 1)",
                (ref, master.key_id, wrapped, to_seconds(self.clock())),
            )
        return key

    # -- residents' access keys ----------------------------------------------------------------

    def issue_access_key(self, tx: Tx, ref: bytes) -> str:
        """A new secret with which the subject reads, exports or erases their own data; only
        its SHA-256 is stored, and issuing one revokes the one before."""
        secret = "ombud_resident_" + base64.urlsafe_b64encode(self.random_bytes(32)).decode()
        secret = secret.rstrip("=")
        digest = hashlib.sha256(secret.encode("ascii")).digest()
        tx.execute("UPDATE vault_subjects SET access = ? WHERE ref = ?", (digest, ref))
        return secret

    def ref_for_access(self, secret: str) -> bytes:
        """The subject whose access key ``secret`` is. A key that is not one, is wrong, or
        belonged to an erased subject is refused alike: ``UnauthorizedError`` (the credential
        is not valid), so the answer tells nothing about who has data here."""
        if not isinstance(secret, str) or not secret.startswith("ombud_resident_"):
            raise UnauthorizedError("this is not a resident access key")
        digest = hashlib.sha256(secret.encode("ascii", "replace")).digest()
        rows = self.db.read("SELECT ref FROM vault_subjects WHERE access = ?", (digest,))
        if not rows:
            raise UnauthorizedError("the resident access key is unknown, or its data was erased")
        return bytes(rows[0][0])

    # -- payloads --------------------------------------------------------------------------------

    def seal_in(
        self, tx: Tx, ref: bytes, kind: str, data: bytes, *, expires: datetime | None
    ) -> Sealed:
        """Encrypt ``data`` for the subject (creating the subject's key when it has none) and
        compute its commitment; ``store_in`` files it once its ledger index is known."""
        if not _KIND.fullmatch(kind):
            raise MalformedError(f"payload kind {kind!r} is not a lower-case name")
        if len(data) > _MAX_PAYLOAD:
            raise MalformedError(f"a personal payload is at most {_MAX_PAYLOAD} bytes")
        key = self._subject_key(tx, ref, create=True)
        payload_id = self.random_bytes(16).hex()
        nonce = self.random_bytes(_NONCE_SIZE)
        ciphertext = AESGCM(key).encrypt(nonce, data, _aad(payload_id, kind))
        salt = new_salt(self.random_bytes)
        created = self.clock()
        return Sealed(
            payload_id, ref, kind, nonce, ciphertext, salt, commit(data, salt), created, expires
        )

    @staticmethod
    def expire_in(tx: Tx, payload_id: str, expires: datetime) -> None:
        """Set when a payload's retention ends, in the caller's transaction (a consent's
        replaced version is kept as evidence until then, and purged by retention)."""
        tx.execute(
            "UPDATE vault_payloads SET expires = ? WHERE id = ?",
            (to_seconds(expires), payload_id),
        )

    @staticmethod
    def store_in(tx: Tx, sealed: Sealed, ledger_index: int) -> None:
        tx.execute(
            "INSERT INTO vault_payloads (id, subject, kind, nonce, ciphertext, salt, commitment,"
            " created, expires, ledger_index, purged_index)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
            (
                sealed.id,
                sealed.subject,
                sealed.kind,
                sealed.nonce,
                sealed.ciphertext,
                sealed.salt,
                sealed.commitment,
                to_seconds(sealed.created),
                None if sealed.expires is None else to_seconds(sealed.expires),
                ledger_index,
            ),
        )

    def seal(
        self,
        log: Log,
        ref: bytes,
        kind: str,
        data: bytes,
        *,
        expires: datetime | None,
        event: Callable[[Sealed], Event],
    ) -> tuple[Sealed, int]:
        """Seal ``data`` and append ``event(sealed)`` (which carries its commitment) in one
        transaction; returns the payload and its ledger index."""
        sealed: list[Sealed] = []

        def build(tx: Tx) -> list[bytes]:
            sealed.append(self.seal_in(tx, ref, kind, data, expires=expires))
            return [event(sealed[0]).to_bytes()]

        def record(tx: Tx, index: int) -> None:
            self.store_in(tx, sealed[0], index)

        index = log.append_with(build, record)
        return sealed[0], index

    def stored_event(self, sealed: Sealed, actor: str) -> Event:
        """``payload.stored``: the commitment to a payload that no other event commits to."""
        body = {
            "v": 1,
            "payload": sealed.id,
            "kind": sealed.kind,
            "commitment": sealed.commitment.hex(),
            "expires": None if sealed.expires is None else format_time(sealed.expires),
        }
        return Event("payload.stored", sealed.created, actor, body)

    def attachment(
        self,
        ref: bytes,
        kind: str,
        data: Callable[[str], bytes],
        *,
        expires: datetime | None,
        actor: str,
    ) -> Attachment:
        """Seals ``data(record_id)`` for the subject in the transaction of the record it
        belongs to (a post, a device), with its ``payload.stored`` event."""

        def attach(tx: Tx, owner: Any) -> tuple[list[bytes], Callable[[Tx, int], None]]:
            sealed = self.seal_in(tx, ref, kind, data(owner.id), expires=expires)

            def record(tx: Tx, index: int) -> None:
                self.store_in(tx, sealed, index)

            return [self.stored_event(sealed, actor).to_bytes()], record

        return attach

    def open(self, payload_id: str) -> bytes:
        """The plaintext of one payload (``NotFoundError`` once it is purged)."""
        data = self.open_held(payload_id)
        if data is None:
            raise NotFoundError(f"payload {payload_id} was purged when its retention ended")
        return data

    def open_held(self, payload_id: str) -> bytes | None:
        """The plaintext of one payload, or None once retention purged it (read in one
        statement, so a purge running meanwhile yields None, never an error)."""
        if not isinstance(payload_id, str) or not _PAYLOAD_ID.fullmatch(payload_id):
            raise MalformedError("a payload id is 32 lower-case hex digits")
        rows = self.db.read(
            "SELECT subject, kind, nonce, ciphertext FROM vault_payloads WHERE id = ?",
            (payload_id,),
        )
        if not rows:
            raise NotFoundError(f"no payload {payload_id}")
        ref, kind, nonce, ciphertext = rows[0]
        if ciphertext is None:
            return None
        key = self._read_key(bytes(ref))
        return self._decrypt(key, payload_id, kind, bytes(nonce), bytes(ciphertext))

    def purged_at(self, payload_id: str) -> int | None:
        """The ledger index of the ``payload.purged`` entry that ended a payload's retention;
        None while it is held (or for an unknown id)."""
        rows = self.db.read("SELECT purged_index FROM vault_payloads WHERE id = ?", (payload_id,))
        return None if not rows or rows[0][0] is None else int(rows[0][0])

    def _read_key(self, ref: bytes) -> bytes:
        return self._subject_key(None, ref, create=False)

    @staticmethod
    def _decrypt(key: bytes, payload_id: str, kind: str, nonce: bytes, ciphertext: bytes) -> bytes:
        try:
            return AESGCM(key).decrypt(nonce, ciphertext, _aad(payload_id, kind))
        except InvalidTag:
            raise PayloadIntegrityError(
                f"payload {payload_id} failed authentication: its ciphertext was altered or "
                "does not belong to its subject"
            ) from None

    def payloads(self, ref: bytes, kind: str | None = None) -> list[StoredPayload]:
        """Every payload held about a subject, decrypted, oldest first (purged ones without
        data)."""
        key = self._read_key(ref)
        sql = (
            "SELECT id, kind, created, expires, commitment, ledger_index, nonce, ciphertext,"
            " salt, purged_index FROM vault_payloads WHERE subject = ?"
        )
        args: tuple[object, ...] = (ref,)
        if kind is not None:
            sql += " AND kind = ?"
            args = (ref, kind)
        out = []
        for row in self.db.read(sql + " ORDER BY ledger_index", args):
            pid, pkind, created, expires, commitment, index, nonce, ciphertext, salt, purged = row
            data = None
            if ciphertext is not None:
                data = self._decrypt(key, pid, pkind, bytes(nonce), bytes(ciphertext))
            out.append(
                StoredPayload(
                    pid,
                    pkind,
                    from_seconds(int(created)),
                    _time(expires),
                    bytes(commitment),
                    int(index),
                    data,
                    None if salt is None else bytes(salt),
                    None if purged is None else int(purged),
                )
            )
        return out

    def status(self, ref: bytes) -> int | None:
        """None for a subject whose data is held; the erasure's ledger index for an erased one.
        Unknown subjects raise ``UnknownSubjectError``."""
        rows = self.db.read("SELECT erased_index FROM vault_subjects WHERE ref = ?", (ref,))
        if not rows:
            raise UnknownSubjectError("no data is held about this subject")
        return None if rows[0][0] is None else int(rows[0][0])

    # -- erasure -------------------------------------------------------------------------------

    def erase(self, log: Log, ref: bytes, *, actor: str, basis: str) -> Erasure:
        """Crypto-shred a subject: destroy its key, payloads, salts and access key, and record
        ``subject.erased``, all in one transaction; then scrub the tables' files.

        All-or-nothing: an interruption before the commit leaves everything as it was; one
        after it leaves the scrub pending, which a second ``erase`` (or a retention run)
        completes. A scrub that fails once the erasure committed is not this call's error —
        the erasure happened, and the subject's access key went with it, so a retry could not
        even be asked for: it returns ``scrubbed=False``. Erasing an erased, scrubbed subject
        raises ``SubjectErasedError``.
        """
        if basis not in ERASURE_BASES:
            raise MalformedError(f"erasure basis must be one of {', '.join(ERASURE_BASES)}")
        rows = self.db.read(
            "SELECT erased_index, scrubbed FROM vault_subjects WHERE ref = ?", (ref,)
        )
        if not rows:
            raise UnknownSubjectError("no data is held about this subject")
        if rows[0][0] is not None:
            if rows[0][1]:
                raise SubjectErasedError("this subject's data was already erased", int(rows[0][0]))
            self.scrub_pending()
            return Erasure(int(rows[0][0]), 0, True)
        count: list[int] = []
        at = self.clock()

        def build(tx: Tx) -> list[bytes]:
            state = tx.execute("SELECT erased_index FROM vault_subjects WHERE ref = ?", (ref,))
            if not state or state[0][0] is not None:
                raise SubjectErasedError("this subject's data was already erased", None)
            n = tx.execute("SELECT count(*) FROM vault_payloads WHERE subject = ?", (ref,))
            count.append(int(n[0][0]))
            body = {"v": 1, "basis": basis, "payloads": count[0], "keysDestroyed": 1}
            return [Event("subject.erased", at, actor, body).to_bytes()]

        def record(tx: Tx, index: int) -> None:
            for hook in self.on_erase:
                hook(tx, ref)
            tx.execute("DELETE FROM vault_payloads WHERE subject = ?", (ref,))
            tx.execute(
                "UPDATE vault_subjects SET master_id = NULL, wrapped_key = NULL, access = NULL,"
                " erased_index = ?, scrubbed = 0 WHERE ref = ?",
                (index, ref),
            )

        index = log.append_with(build, record)
        try:
            self.scrub_pending()
        except StorageError:  # committed: the pending scrub is retried (run_retention)
            return Erasure(index, count[0], False)
        return Erasure(index, count[0], True)

    def scrub_pending(self) -> int:
        """Finish the scrub of erasures committed but not yet scrubbed; returns how many."""
        pending = self.db.read("SELECT ref FROM vault_subjects WHERE scrubbed = 0")
        if not pending:
            return 0
        self._scrub()
        with self.db.transaction() as tx:
            tx.execute("UPDATE vault_subjects SET scrubbed = 1 WHERE scrubbed = 0")
        return len(pending)

    # -- retention -----------------------------------------------------------------------------

    def purge_expired(self, log: Log) -> int:
        """Destroy the ciphertext and salt of every payload past its retention, one
        ``payload.purged`` event per chunk naming them; returns how many."""
        purged = 0
        while True:
            now = self.clock()
            rows = self.db.read(
                "SELECT id FROM vault_payloads WHERE expires <= ? AND ciphertext IS NOT NULL"
                " ORDER BY id LIMIT ?",
                (to_seconds(now), _CHUNK),
            )
            if not rows:
                break
            ids = [str(r[0]) for r in rows]
            body = {"v": 1, "what": "vault.payload", "reason": "retention ended", "payloads": ids}
            event = Event("payload.purged", now, "retention", body).to_bytes()

            def build(tx: Tx, event: bytes = event) -> list[bytes]:
                return [event]

            def record(tx: Tx, index: int, ids: list[str] = ids) -> None:
                marks = ", ".join("?" * len(ids))
                tx.execute(
                    "UPDATE vault_payloads SET nonce = NULL, ciphertext = NULL, salt = NULL,"
                    f" purged_index = ? WHERE id IN ({marks})",
                    (index, *ids),
                )

            log.append_with(build, record)
            purged += len(ids)
        if purged:
            self._scrub()
            self.purged_total += purged
        return purged

    # -- master key rotation -------------------------------------------------------------------

    def rewrap(self, new: MasterKey) -> int:
        """Re-wrap every subject key and the index key under ``new`` (payloads untouched);
        returns how many keys were re-wrapped. Idempotent, so an interrupted rotation is
        finished by running it again. One transaction, which moves the index key too: from
        its commit on, every process wraps new keys under ``new`` (``_current_master``)."""
        if new.key_id not in {k.key_id for k in self.keys}:
            raise MasterKeyError("open the vault with the new master key before re-wrapping")
        moved = 0
        with self.db.transaction() as tx:
            for master_id, wrapped in tx.execute(
                "SELECT master_id, wrapped FROM vault_meta WHERE name = 'index'"
            ):
                if master_id != new.key_id:
                    key = self._unwrap(master_id, bytes(wrapped), b"index")
                    tx.execute(
                        "UPDATE vault_meta SET master_id = ?, wrapped = ? WHERE name = 'index'",
                        (new.key_id, self._wrap(new, key, b"index", self.random_bytes(12))),
                    )
                    moved += 1
            rows = tx.execute(
                "SELECT ref, master_id, wrapped_key FROM vault_subjects"
                " WHERE wrapped_key IS NOT NULL AND master_id <> ?",
                (new.key_id,),
            )
            for ref, master_id, wrapped in rows:
                label = b"subject\0" + bytes(ref)
                key = self._unwrap(master_id, bytes(wrapped), label)
                tx.execute(
                    "UPDATE vault_subjects SET master_id = ?, wrapped_key = ? WHERE ref = ?",
                    (new.key_id, self._wrap(new, key, label, self.random_bytes(12)), ref),
                )
                moved += 1
        self.keys = [new, *(k for k in self.keys if k.key_id != new.key_id)]
        self._scrub()  # the keys wrapped by the old master key leave the WAL too
        return moved


def _aad(payload_id: str, kind: str) -> bytes:
    return b"ombud-vault-payload\0" + payload_id.encode("ascii") + b"\0" + kind.encode("ascii")
