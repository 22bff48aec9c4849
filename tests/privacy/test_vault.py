"""The vault: per-subject encryption, master key handling and rotation, retention, and erasure
that leaves every ledger proof valid and no trace of the subject in any file."""

from __future__ import annotations

import fcntl
import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ombud.database import Database, SqliteDatabase
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
from ombud.events import Event, commit
from ombud.ledger import merkle
from ombud.privacy.master_key import (
    MASTER_KEY_ENV,
    MasterKey,
    create_master_key,
    load_master_keys,
    rotate_master_key_file,
)
from ombud.privacy.vault import Vault
from tests.conftest import migrated

from .conftest import MARKER, Office, grant


def _contact(office: Office, subject: str, text: str, **kw: object) -> str:
    """Seal a contact payload for ``subject`` with its payload.stored event; its id."""
    ref = office.vault.ref(subject)
    sealed, _ = office.vault.seal(
        office.log,
        ref,
        "contact",
        json.dumps({"email": text}).encode(),
        expires=kw.get("expires"),  # type: ignore[arg-type]
        event=lambda s: office.vault.stored_event(s, "test"),
    )
    return sealed.id


def test_a_payload_is_stored_encrypted_and_committed_on_the_ledger(office: Office) -> None:
    payload_id = _contact(office, "resident-1", f"{MARKER}@example.org")
    assert json.loads(office.vault.open(payload_id)) == {"email": f"{MARKER}@example.org"}
    row = office.db.read(
        "SELECT ciphertext, salt, commitment, ledger_index FROM vault_payloads WHERE id = ?",
        (payload_id,),
    )[0]
    assert MARKER.encode() not in bytes(row[0])
    event = Event.from_bytes(office.log.entry(int(row[3])))
    assert event.kind == "payload.stored" and event.body["kind"] == "contact"
    plaintext = office.vault.open(payload_id)
    assert bytes.fromhex(event.body["commitment"]) == commit(plaintext, bytes(row[1]))
    # the subject id is filed only as a keyed hash
    assert not office.db.read("SELECT 1 FROM vault_subjects WHERE ref = ?", (b"resident-1",))


def test_each_subject_has_its_own_key(office: Office) -> None:
    _contact(office, "resident-a", "a@example.org")
    _contact(office, "resident-b", "b@example.org")
    keys = office.db.read("SELECT wrapped_key FROM vault_subjects")
    assert len({bytes(k[0]) for k in keys}) == 2


def test_altered_or_swapped_ciphertext_fails_authentication(office: Office) -> None:
    first = _contact(office, "resident-a", "a@example.org")
    second = _contact(office, "resident-b", "b@example.org")
    (ciphertext,) = office.db.read("SELECT ciphertext FROM vault_payloads WHERE id = ?", (first,))[
        0
    ]
    flipped = bytes([ciphertext[0] ^ 1]) + bytes(ciphertext[1:])
    with office.db.transaction() as tx:
        tx.execute("UPDATE vault_payloads SET ciphertext = ? WHERE id = ?", (flipped, first))
    with pytest.raises(PayloadIntegrityError, match="failed authentication"):
        office.vault.open(first)
    # b's ciphertext moved under a's id: it is bound to its own id and subject
    with office.db.transaction() as tx:
        tx.execute(
            "UPDATE vault_payloads SET ciphertext ="
            " (SELECT ciphertext FROM vault_payloads WHERE id = ?) WHERE id = ?",
            (second, first),
        )
    with pytest.raises(PayloadIntegrityError):
        office.vault.open(first)


def test_a_vault_refuses_another_master_key(office: Office) -> None:
    _contact(office, "resident-a", "a@example.org")
    with pytest.raises(MasterKeyError, match="sealed with master key"):
        Vault(office.db, [MasterKey.generate()])


def test_master_key_files_are_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    key = create_master_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_master_keys(path, {})[0] == key
    with pytest.raises(MasterKeyError, match="never overwritten"):
        create_master_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(Exception, match="readable"):
        load_master_keys(path, {})


def test_a_missing_master_key_is_a_clear_error_and_the_environment_wins(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    with pytest.raises(MasterKeyError, match="no master key"):
        load_master_keys(path, {})
    key = MasterKey.generate()
    assert load_master_keys(path, {MASTER_KEY_ENV: key.to_text()}) == [key]
    with pytest.raises(MasterKeyError, match="base64"):
        load_master_keys(path, {MASTER_KEY_ENV: "not a key!"})
    assert key.secret.hex() not in repr(key)


def test_rotation_rewraps_keys_without_touching_payloads(office: Office, tmp_path: Path) -> None:
    ids = [_contact(office, f"resident-{n}", f"{n}@example.org") for n in range(3)]
    before = office.db.read("SELECT id, ciphertext FROM vault_payloads ORDER BY id")
    path = tmp_path / "master.key"
    path.write_text(office.master.to_text())
    os.chmod(path, 0o600)
    new, moved = rotate_master_key_file(office.vault, path)
    assert moved == 4  # three subject keys and the index key
    assert load_master_keys(path, {}) == [new]
    assert office.db.read("SELECT id, ciphertext FROM vault_payloads ORDER BY id") == before
    reopened = Vault(office.db, [new])
    assert [json.loads(reopened.open(i))["email"] for i in ids] == [
        f"{n}@example.org" for n in range(3)
    ]
    with pytest.raises(MasterKeyError):
        Vault(office.db, [office.master])


def test_a_rotation_begun_while_another_runs_is_refused_and_changes_nothing(
    office: Office, tmp_path: Path
) -> None:
    """Two at once would each create ``master.key.next``, or both rename it over the key."""
    path = tmp_path / "master.key"
    path.write_text(office.master.to_text())
    os.chmod(path, 0o600)
    with open(tmp_path / "master.key.lock", "w") as held:  # the other rotation
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(MasterKeyError, match=r"another rotation of .* is under way"):
            rotate_master_key_file(office.vault, path)
        assert not (tmp_path / "master.key.next").exists()
        assert load_master_keys(path, {}) == [office.master]
    (tmp_path / "master.key.lock").unlink()  # the test's own, 0644
    new, _ = rotate_master_key_file(office.vault, path)  # once it has finished
    assert load_master_keys(path, {}) == [new]
    assert (tmp_path / "master.key.lock").stat().st_mode & 0o777 == 0o600


def test_an_interrupted_rotation_is_finished_by_the_next_one(
    office: Office, tmp_path: Path
) -> None:
    payload = _contact(office, "resident-1", "x@example.org")
    path = tmp_path / "master.key"
    path.write_text(office.master.to_text())
    os.chmod(path, 0o600)
    pending = create_master_key(tmp_path / "master.key.next")  # crashed right after this step
    keys = load_master_keys(path, {})
    assert [k.key_id for k in keys] == [office.master.key_id, pending.key_id]
    vault = Vault(office.db, keys)
    new, _ = rotate_master_key_file(vault, path)
    assert new == pending and not (tmp_path / "master.key.next").exists()
    assert json.loads(Vault(office.db, [new]).open(payload))["email"] == "x@example.org"


def _key_file(office: Office, tmp_path: Path) -> Path:
    path = tmp_path / "master.key"
    path.write_text(office.master.to_text())
    os.chmod(path, 0o600)
    return path


def test_a_process_never_wraps_a_key_under_a_master_key_a_rotation_retired(
    office: Office, tmp_path: Path
) -> None:
    """Finding: ``ombud privacy rotate-key`` while ``ombud serve`` ran: the server kept the old
    master key and wrapped the next new subject's key under it — a key no longer on disk, so
    after a restart that subject's data could not be opened and no rotation could finish."""
    path = _key_file(office, tmp_path)
    first = _contact(office, "resident-a", "a@example.org")
    serving = office.vault  # the server's vault, opened before the rotation
    new, _ = rotate_master_key_file(Vault(office.db, load_master_keys(path, {})), path)

    # a process that cannot read the key files again refuses, and stores nothing
    size, subjects = office.log.size, office.db.read("SELECT count(*) FROM vault_subjects")
    with pytest.raises(MasterKeyError, match=f"master key is now {new.key_id}"):
        _contact(office, "resident-b", "b@example.org")
    assert office.log.size == size
    assert office.db.read("SELECT count(*) FROM vault_subjects") == subjects

    # one that can (a deployment's vault) takes the new key up, for reading and wrapping
    serving.reload_keys = lambda: load_master_keys(path, {})
    assert json.loads(serving.open(first))["email"] == "a@example.org"
    second = _contact(office, "resident-b", "b@example.org")
    assert office.db.read("SELECT DISTINCT master_id FROM vault_subjects") == [(new.key_id,)]
    restarted = Vault(office.db, load_master_keys(path, {}))
    assert json.loads(restarted.open(second))["email"] == "b@example.org"
    newer, moved = rotate_master_key_file(restarted, path)  # and the next rotation finishes
    assert moved == 3
    assert json.loads(Vault(office.db, [newer]).open(second))["email"] == "b@example.org"


def test_a_rotation_interrupted_after_rewrapping_is_followed_then_finished(
    office: Office, tmp_path: Path
) -> None:
    """A rotation that re-wrapped every key but crashed before renaming ``master.key.next``:
    a process opened then holds both keys, the old one first; it wraps new keys under the
    one the database names (the new one), and the next rotation finishes."""
    path = _key_file(office, tmp_path)
    pending = create_master_key(tmp_path / "master.key.next")
    office.vault.keys = [office.master, pending]
    office.vault.rewrap(pending)  # committed; then the crash, before the rename
    opened = Vault(office.db, load_master_keys(path, {}))
    assert [k.key_id for k in opened.keys] == [office.master.key_id, pending.key_id]
    sealed, _ = opened.seal(
        office.log,
        opened.ref("resident-c"),
        "contact",
        b"{}",
        expires=None,
        event=lambda s: opened.stored_event(s, "test"),
    )
    assert office.db.read("SELECT DISTINCT master_id FROM vault_subjects") == [(pending.key_id,)]
    new, moved = rotate_master_key_file(opened, path)
    assert (new, moved) == (pending, 0) and not (tmp_path / "master.key.next").exists()
    assert Vault(office.db, [new]).open(sealed.id) == b"{}"


def test_retention_purges_expired_payloads_with_an_event(office: Office) -> None:
    soon = office.clock() + __import__("datetime").timedelta(days=1)
    short = _contact(office, "resident-1", "short@example.org", expires=soon)
    kept = _contact(office, "resident-1", "kept@example.org")
    office.clock.advance(days=2)
    assert office.vault.purge_expired(office.log) == 1
    with pytest.raises(NotFoundError, match="purged"):
        office.vault.open(short)
    assert json.loads(office.vault.open(kept))["email"] == "kept@example.org"
    purged = [p for p in office.vault.payloads(office.vault.ref("resident-1")) if p.id == short]
    assert purged[0].data is None and purged[0].salt is None
    event = Event.from_bytes(office.log.entry(purged[0].purged_index or 0))
    assert event.kind == "payload.purged" and event.body["payloads"] == [short]
    assert office.vault.purge_expired(office.log) == 0


def _secrets_of(db: Database, ref: bytes) -> list[bytes]:
    """Every stored byte string that is the subject's: keys, ciphertexts, salts, access key."""
    out: list[bytes] = []
    for row in db.read("SELECT wrapped_key, access FROM vault_subjects WHERE ref = ?", (ref,)):
        out += [bytes(v) for v in row if v is not None]
    for row in db.read(
        "SELECT ciphertext, salt, nonce FROM vault_payloads WHERE subject = ?", (ref,)
    ):
        out += [bytes(v) for v in row if v is not None]
    return [*out, ref]


def _files(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file())


def test_erasure_leaves_no_trace_in_any_file_and_every_proof_valid(tmp_path: Path) -> None:
    db = migrated(SqliteDatabase.create(tmp_path / "ombud.db"))
    office = Office(db)
    subject = f"resident-{MARKER}"
    record, key = office.consents.grant(grant(subject), actor="test", access_key=True)
    _contact(office, subject, f"{MARKER}@example.org")
    other = _contact(office, "someone-else", "other@example.org")
    ref = office.vault.ref(subject)
    secrets = _secrets_of(db, ref)
    assert len(secrets) == 9  # key, access key, 2 x (ciphertext, salt, nonce), the ref
    before = office.log.checkpoint()
    everything = _files(tmp_path)
    assert all(s in everything for s in secrets)  # the scan sees what is stored
    assert MARKER.encode() not in everything  # and personal data is never stored in clear

    erasure = office.vault.erase(office.log, ref, actor="resident", basis="resident-request")

    assert erasure.payloads == 2  # the consent record and the contact details
    after = _files(tmp_path)
    assert [s for s in secrets[:-1] if s in after] == []
    assert MARKER.encode() not in after
    assert json.loads(office.vault.open(other))["email"] == "other@example.org"
    # the ledger is intact: every earlier leaf is still proven against the new checkpoint
    signed = office.log.checkpoint()
    size, root = signed.checkpoint.size, signed.checkpoint.root
    for index in range(before.checkpoint.size):
        proof = office.log.inclusion_proof(index, size)
        merkle.verify_inclusion(merkle.leaf_hash(office.log.entry(index)), index, size, proof, root)
    merkle.verify_consistency(
        before.checkpoint.size,
        size,
        office.log.consistency_proof(before.checkpoint.size, size),
        before.checkpoint.root,
        root,
    )
    erased = Event.from_bytes(office.log.entry(erasure.ledger_index))
    assert erased.kind == "subject.erased" and MARKER not in json.dumps(erased.to_json())
    with pytest.raises(SubjectErasedError):
        office.vault.payloads(ref)
    with pytest.raises(UnauthorizedError):  # the erased subject's key is gone with it
        office.vault.ref_for_access(key or "")
    with pytest.raises(SubjectErasedError, match="already erased"):
        office.vault.erase(office.log, ref, actor="resident", basis="resident-request")
    with pytest.raises(NotFoundError):
        office.consents.current(record.record_id)


def test_erasure_scan_in_postgresql_after_vacuum(database: Database) -> None:
    if database.dialect != "postgresql":
        pytest.skip("the SQLite files are scanned byte by byte in the test above")
    office = Office(database)
    subject = f"resident-{MARKER}"
    office.consents.grant(grant(subject), actor="test")
    _contact(office, subject, f"{MARKER}@example.org")
    ref = office.vault.ref(subject)
    secrets = [s.hex() for s in _secrets_of(database, ref)[:-1]]
    office.vault.erase(office.log, ref, actor="resident", basis="resident-request")
    tables = [
        r[0]
        for r in database.read(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    ]
    dump = "".join(
        str(row[0]) for t in tables for row in database.read(f'SELECT t::text FROM "{t}" t')
    )
    assert MARKER not in dump
    assert not [s for s in secrets if s in dump]


def test_erasure_is_all_or_nothing(office: Office) -> None:
    payload = _contact(office, "resident-1", "x@example.org")
    size = office.log.state().size

    def crash(tx: object, ref: bytes) -> None:
        raise StorageError("the disk went away")

    office.vault.on_erase.append(crash)
    with pytest.raises(StorageError):
        office.vault.erase(office.log, office.vault.ref("resident-1"), actor="op", basis="operator")
    assert office.log.state().size == size
    assert json.loads(office.vault.open(payload))["email"] == "x@example.org"


def test_an_interrupted_scrub_is_finished_by_erasing_again(
    office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    _contact(office, "resident-1", "x@example.org")
    ref = office.vault.ref("resident-1")

    def busy(tables: object) -> None:
        raise StorageError("readers keep the WAL busy")

    monkeypatch.setattr(office.db, "scrub", busy)
    # Finding: the scrub's StorageError was raised although the erasure had committed (the
    # API answered 503, and the resident's retry 401: their key went with the erasure).
    erasure = office.vault.erase(office.log, ref, actor="op", basis="operator")
    assert not erasure.scrubbed and erasure.payloads == 1
    assert Event.from_bytes(office.log.entry(erasure.ledger_index)).kind == "subject.erased"
    # the erasure itself committed: the key is gone; only the scrub is pending
    with pytest.raises(SubjectErasedError):
        office.vault.payloads(ref)
    monkeypatch.undo()
    finished = office.vault.erase(office.log, ref, actor="op", basis="operator")
    assert finished.scrubbed
    assert office.vault.scrub_pending() == 0


def test_a_scrub_left_pending_is_finished_by_the_next_retention_pass(
    office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ombud.privacy.retention import run_retention

    _contact(office, "resident-1", "x@example.org")
    ref = office.vault.ref("resident-1")

    def busy(tables: object) -> None:
        raise StorageError("readers keep the WAL busy")

    monkeypatch.setattr(office.db, "scrub", busy)
    assert not office.vault.erase(office.log, ref, actor="op", basis="operator").scrubbed
    with pytest.raises(StorageError):  # still busy: the pass says so, and it stays pending
        run_retention(office.vault, office.log)
    monkeypatch.undo()
    assert run_retention(office.vault, office.log).scrubbed == 1
    with pytest.raises(SubjectErasedError, match="already erased"):
        office.vault.erase(office.log, ref, actor="op", basis="operator")


def test_unknown_subjects_and_bad_input_are_refused(office: Office) -> None:
    with pytest.raises(UnknownSubjectError):
        office.vault.payloads(office.vault.ref("nobody"))
    with pytest.raises(UnknownSubjectError):
        office.vault.erase(office.log, office.vault.ref("nobody"), actor="op", basis="operator")
    with pytest.raises(MalformedError, match="basis"):
        office.vault.erase(office.log, office.vault.ref("nobody"), actor="op", basis="because")
    with pytest.raises(MalformedError):
        office.vault.ref("bad\x00id")
    with pytest.raises(MalformedError):
        office.vault.open("../etc/passwd")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=2048), flip=st.integers(min_value=0))
def test_any_payload_round_trips_and_any_flipped_bit_is_caught(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, flip: int
) -> None:
    db = migrated(SqliteDatabase.create(tmp_path_factory.mktemp("vault") / "v.db"))
    office = Office(db)
    ref = office.vault.ref("resident-1")
    sealed, _ = office.vault.seal(
        office.log, ref, "note", data, expires=None,
        event=lambda s: office.vault.stored_event(s, "test"),
    )  # fmt: skip
    assert office.vault.open(sealed.id) == data
    assert commit(data, sealed.salt) == sealed.commitment
    position = flip % (len(sealed.ciphertext) * 8)
    altered = bytearray(sealed.ciphertext)
    altered[position // 8] ^= 1 << (position % 8)
    with db.transaction() as tx:
        tx.execute(
            "UPDATE vault_payloads SET ciphertext = ? WHERE id = ?", (bytes(altered), sealed.id)
        )
    with pytest.raises(PayloadIntegrityError):
        office.vault.open(sealed.id)


def test_an_erasure_scrubs_the_tables_its_hooks_rewrite(
    office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The consent book's hook rewrites ``consents``: its dead rows are scrubbed with the
    vault's own (PostgreSQL keeps them until a VACUUM otherwise); a hook registered twice
    runs once."""
    _contact(office, "resident-1", "x@example.org")
    scrubbed: list[tuple[str, ...]] = []
    monkeypatch.setattr(office.db, "scrub", lambda tables: scrubbed.append(tuple(tables)))
    hook = office.vault.on_erase[0]
    office.vault.forget_with(hook, "consents")
    assert office.vault.on_erase.count(hook) == 1
    office.vault.erase(office.log, office.vault.ref("resident-1"), actor="op", basis="operator")
    assert scrubbed and "consents" in scrubbed[-1] and "vault_subjects" in scrubbed[-1]
