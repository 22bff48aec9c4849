"""Consent records: grant, change, withdrawal and the check every processing path makes."""

from __future__ import annotations

import base64
import json

import pytest

from ombud.errors import (
    ConsentError,
    MalformedError,
    NotFoundError,
    UnauthorizedError,
    UnknownSubjectError,
)
from ombud.events import Event, commit

from .conftest import Office, grant

PURPOSE, CATEGORY = "service-request-follow-up", "contact-details"


def test_a_granted_consent_allows_exactly_its_purposes_and_categories(office: Office) -> None:
    record, key = office.consents.grant(grant("resident-1"), actor="consent-service")
    assert key is None
    assert office.consents.check("resident-1", PURPOSE, CATEGORY).record_id == record.record_id
    with pytest.raises(ConsentError, match="no consent covers purpose 'research'"):
        office.consents.check("resident-1", "research", CATEGORY)
    with pytest.raises(ConsentError, match="no consent covers"):
        office.consents.check("resident-1", PURPOSE, "health")


def test_the_ledger_holds_a_commitment_to_the_record_not_the_record(office: Office) -> None:
    record, _ = office.consents.grant(grant("resident-1"), actor="consent-service")
    entry = office.log.entry(record.ledger_index)
    event = Event.from_bytes(entry)
    assert event.kind == "consent.granted"
    assert set(event.body) == {"v", "record", "version", "commitment"}
    assert b"resident-1" not in entry
    (stored,) = office.vault.payloads(office.vault.ref("resident-1"))
    assert stored.data is not None and stored.salt is not None
    assert commit(stored.data, stored.salt).hex() == event.body["commitment"]
    assert json.loads(stored.data)["purposes"] == [PURPOSE]


def test_withdrawn_and_expired_consents_are_refused_with_the_reason(office: Office) -> None:
    record, _ = office.consents.grant(grant("resident-1"), actor="consent-service")
    withdrawn = office.consents.withdraw(record.record_id, actor="resident")
    assert withdrawn.status == "withdrawn" and withdrawn.version == 2
    assert Event.from_bytes(office.log.entry(withdrawn.ledger_index)).kind == "consent.withdrawn"
    with pytest.raises(ConsentError, match="withdrawn"):
        office.consents.check("resident-1", PURPOSE, CATEGORY)
    with pytest.raises(ConsentError, match="already withdrawn"):
        office.consents.withdraw(record.record_id, actor="resident")

    office.consents.grant(grant("resident-2", valid_days=1), actor="consent-service")
    office.consents.check("resident-2", PURPOSE, CATEGORY)
    office.clock.advance(days=2)
    with pytest.raises(ConsentError, match="expired"):
        office.consents.check("resident-2", PURPOSE, CATEGORY)


def test_a_change_is_a_new_version_with_new_terms(office: Office) -> None:
    record, _ = office.consents.grant(grant("resident-1"), actor="consent-service")
    changed = office.consents.change(
        record.record_id, grant("resident-1", purposes=("research",)), actor="consent-service"
    )
    assert changed.version == 2 and changed.record_id == record.record_id
    event = Event.from_bytes(office.log.entry(changed.ledger_index))
    assert event.kind == "consent.granted" and event.body["replaces"] == 1
    office.consents.check("resident-1", "research", CATEGORY)
    with pytest.raises(ConsentError):
        office.consents.check("resident-1", PURPOSE, CATEGORY)
    with pytest.raises(MalformedError, match="another subject"):
        office.consents.change(record.record_id, grant("resident-2"), actor="x")
    # the replaced version is kept as evidence until its retention ends, then purged
    office.clock.advance(days=31)
    assert office.vault.purge_expired(office.log) == 1
    assert office.consents.current(record.record_id).version == 2


def test_unknown_subjects_and_bad_records_are_refused(office: Office) -> None:
    with pytest.raises(UnknownSubjectError):
        office.consents.check("nobody", PURPOSE, CATEGORY)
    with pytest.raises(MalformedError, match="legal basis"):
        grant("resident-1", legal_basis="because")
    with pytest.raises(MalformedError, match="purposes"):
        grant("resident-1", purposes=())
    with pytest.raises(MalformedError, match="lower-case"):
        grant("resident-1", purposes=("Marketing!",))
    with pytest.raises(MalformedError, match="retention_days"):
        grant("resident-1", retention_days=0)
    # a lone surrogate: what Python makes of an undecodable byte in a command-line argument
    with pytest.raises(MalformedError, match="a recipient holds a lone surrogate"):
        grant("resident-1", recipients=("ok", "\udcff"))
    with pytest.raises(MalformedError, match="controller holds a lone surrogate"):
        grant("resident-1", controller="City \udcff")
    with pytest.raises(MalformedError):
        office.consents.current("not-an-id")
    with pytest.raises(NotFoundError):
        office.consents.current("0" * 32)


def test_a_resident_key_reaches_only_its_own_subject(office: Office) -> None:
    first, key = office.consents.grant(grant("resident-1"), actor="cs", access_key=True)
    second, _ = office.consents.grant(grant("resident-2"), actor="cs", access_key=True)
    assert key is not None and key.startswith("ombud_resident_")
    ref = office.vault.ref_for_access(key)
    assert ref == office.vault.ref("resident-1")
    digest = office.db.read("SELECT access FROM vault_subjects WHERE ref = ?", (ref,))[0][0]
    assert key.encode() not in bytes(digest) and len(bytes(digest)) == 32
    with pytest.raises(NotFoundError):
        office.consents.withdraw(second.record_id, actor="resident", subject_ref=ref)
    office.consents.withdraw(first.record_id, actor="resident", subject_ref=ref)
    forged = "ombud_resident_" + base64.urlsafe_b64encode(b"\0" * 32).decode().rstrip("=")
    with pytest.raises(UnauthorizedError, match="unknown"):
        office.vault.ref_for_access(forged)


def test_a_withdrawn_consent_purged_at_retention_leaves_the_others_readable(
    office: Office,
) -> None:
    """Finding: once retention purged a withdrawn consent's record (the consent row still
    points at it), every read of the subject's consents failed with NotFoundError — the
    resident's own list and export, and the check of their *other* consents, still given."""
    gone, _ = office.consents.grant(grant("resident-1"), actor="cs")
    kept, _ = office.consents.grant(
        grant("resident-1", purposes=("newsletter",), data_categories=("email",)), actor="cs"
    )
    office.consents.withdraw(gone.record_id, actor="resident")
    office.clock.advance(days=31)  # the withdrawn record's retention (30 days) ended
    assert office.vault.purge_expired(office.log) == 2  # the given version and the withdrawal
    ref = office.vault.ref("resident-1")

    assert [r.record_id for r in office.consents.records(ref)] == [kept.record_id]
    (purged,) = office.consents.purged(ref)
    assert (purged.record_id, purged.version, purged.status) == (gone.record_id, 2, "withdrawn")
    assert purged.purged_index is not None
    assert Event.from_bytes(office.log.entry(purged.purged_index)).kind == "payload.purged"
    assert office.consents.check("resident-1", "newsletter", "email").record_id == kept.record_id
    with pytest.raises(ConsentError, match="no consent covers"):
        office.consents.check("resident-1", PURPOSE, CATEGORY)
    # the purged record refuses, saying what happened, and changes nothing
    size = office.log.size
    with pytest.raises(ConsentError, match="already withdrawn; its record was purged"):
        office.consents.withdraw(gone.record_id, actor="resident")
    with pytest.raises(ConsentError, match="was withdrawn"):
        office.consents.change(gone.record_id, grant("resident-1"), actor="cs")
    with pytest.raises(NotFoundError, match="purged when its retention ended"):
        office.consents.current(gone.record_id)
    assert office.log.size == size
    # the other consent is still withdrawn normally
    assert office.consents.withdraw(kept.record_id, actor="resident").status == "withdrawn"


def test_the_export_reports_a_purged_consent(office: Office) -> None:
    from ombud.privacy.export import subject_export

    gone, _ = office.consents.grant(grant("resident-1"), actor="cs")
    kept, _ = office.consents.grant(grant("resident-1", purposes=("newsletter",)), actor="cs")
    office.consents.withdraw(gone.record_id, actor="resident")
    office.clock.advance(days=31)
    office.vault.purge_expired(office.log)
    export = subject_export(
        office.vault, office.consents, office.log, office.vault.ref("resident-1")
    )
    assert [c["recordId"] for c in export["consents"]] == [kept.record_id]
    (purged,) = export["purgedConsents"]
    assert purged["recordId"] == gone.record_id and purged["status"] == "withdrawn"
    assert purged["purgedIndex"] in {p["purgedIndex"] for p in export["payloads"]}
