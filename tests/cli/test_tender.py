"""``ombud tender``: the contract — ``list --json`` gives each tender's ocid, ``export`` prints
its OCDS release package, ``verify OCID --source EXPORT --key VKEY`` exits 0 when the award
recomputed from an exported log matches and 1 when it does not — over a tender with an honest
winner (sealed, committed and revealed through the CLI), a bidder whose reveal does not open
its seal, and one refused after the witnessed deadline; bids sealed for another deployment
(``seal --origin``) refused with nothing written (exit 2); and ``verify`` failing on a bid for
another deployment or a witness policy the roster did not authorise (exit 1)."""

from __future__ import annotations

import json
import os
import shutil
import stat
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from ombud.clock import utc_now
from ombud.deployment import Deployment
from ombud.errors import ExpiredError
from ombud.events import Event
from ombud.ledger import note
from tests.conftest import ombud
from tests.governance.test_procurement import City, Clock, _publish, witnessed
from tests.governance.test_roster import GENESIS
from tests.governance.test_tender_audit import _judged_by
from tests.governance.test_tenders import ORIGIN, TENDER, bid, committed, revealed
from tests.governance.test_witness_audit import cosigner, forge


def _bidder_files(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "bidder.pem"
    assert ombud("roster", "keygen", "--out", key).returncode == 0
    document = tmp_path / "bid.json"
    document.write_text(
        json.dumps(
            {
                "v": 1,
                "ocid": TENDER.ocid,
                "bidder": "harbour-lights",
                "value": {"amount": 175_000, "currency": "EUR"},
                "attributes": {},
            }
        )
    )
    return key, document


def test_the_tender_contract(tmp_path: Path) -> None:
    data_dir = tmp_path / "city"
    vkey, witnesses = witnessed(data_dir)
    clock = Clock()
    clock.now = utc_now().replace(microsecond=0)  # the CLI's commands run on the real clock
    tender = replace(
        TENDER, deadline=clock.now + timedelta(days=30), reveal_by=clock.now + timedelta(days=32)
    )
    with Deployment.open(data_dir, clock=clock) as deployment:
        deployment.establish_roster(GENESIS, actor="clerk")
        _publish(deployment, tender)
        lumen, bright = bid("lumen-co", 198_000), bid("bright-ltd", 150_000)
        deployment.tenders.commit(committed("lumen-co", *lumen), actor="bidder")
        deployment.tenders.commit(committed("bright-ltd", *bright), actor="bidder")
    # A bidder on its own machine: seal (key and salt stay there), commit through the CLI.
    key, document = _bidder_files(tmp_path)
    sealed, salt = tmp_path / "commitment.json", tmp_path / "salt.hex"
    made = ombud(
        "tender", "seal", document, "--ocid", TENDER.ocid, "--bidder", "harbour-lights",
        "--name", "Harbour Lights", "--key", key, "--out", sealed, "--salt-out", salt,
        "--origin", ORIGIN,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(os.stat(salt).st_mode) == 0o600
    committed_cli = ombud("tender", "commit", "--data-dir", data_dir, sealed)
    assert committed_cli.returncode == 0, committed_cli.stderr
    with Deployment.open(data_dir, clock=clock) as deployment:
        city = City(deployment, clock, witnesses)
        city.publish_checkpoint(clock.now)  # before the deadline: the three bids are in time
        deployment.tenders.observe()
        city.publish_checkpoint(tender.deadline + timedelta(minutes=1))
        clock.now = tender.deadline + timedelta(minutes=2)
        assert deployment.tenders.close(TENDER.ocid, actor="ombud") is not None
        late = committed("late-llc", *bid("late-llc", 90_000))
        with pytest.raises(ExpiredError):  # after the witnessed deadline: refused, recorded
            deployment.tenders.commit(late, actor="bidder")
        cheaper, _ = bid("bright-ltd", 99_000)  # not the document it sealed
        deployment.tenders.reveal(revealed("bright-ltd", cheaper, bright[1]), actor="bidder")
        deployment.tenders.reveal(revealed("lumen-co", *lumen), actor="bidder")
    opened = ombud(
        "tender", "reveal", "--data-dir", data_dir, "--ocid", TENDER.ocid,
        "--bidder", "harbour-lights", "--document", document, "--salt", salt, "--key", key,
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    with Deployment.open(data_dir, clock=clock) as deployment:
        deployment.tenders.award(TENDER.ocid, actor="ombud")  # every bid is revealed
        evaluation = deployment.tenders.get(TENDER.ocid).evaluation
        assert evaluation is not None and evaluation.winner == "harbour-lights"  # the cheaper
        assert {b.bidder: b.status for b in evaluation.bids}["bright-ltd"] == "disqualified"
        City(deployment, clock, witnesses).publish_checkpoint(tender.reveal_by)

    listed = ombud("tender", "list", "--data-dir", data_dir, "--json")
    assert listed.returncode == 0, listed.stderr
    assert [t["ocid"] for t in json.loads(listed.stdout)] == [TENDER.ocid]
    exported = ombud("tender", "export", "--data-dir", data_dir, TENDER.ocid)
    assert exported.returncode == 0, exported.stderr
    package = json.loads(exported.stdout)
    assert package["version"] == "1.1" and [r["tag"] for r in package["releases"]] == [
        ["tender"],
        ["award", "contract"],
    ]
    export = tmp_path / "export"
    assert ombud("log", "export", data_dir, export).returncode == 0
    ok = ombud("tender", "verify", TENDER.ocid, "--source", export, "--key", vkey)
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout
    # The witness policy judging the deadline, authorised by the chain from a genesis held.
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(GENESIS.to_json()))
    held = ombud(*("tender", "verify", TENDER.ocid), "--source", export, "--key", vkey,
                 "--genesis", genesis)  # fmt: skip
    assert held.returncode == 0 and held.stdout == ok.stdout, held.stderr
    genesis.write_text(json.dumps(replace(GENESIS, holders=GENESIS.holders[1:]).to_json()))
    other = ombud(*("tender", "verify", TENDER.ocid), "--source", export, "--key", vkey,
                  "--genesis", genesis)  # fmt: skip
    assert other.returncode == 1 and "not the genesis given" in other.stderr
    # A copy of the export with one entry altered: its entries no longer hash to the root.
    tampered = tmp_path / "tampered"
    shutil.copytree(export, tampered)
    bundle = next((tampered / "tile" / "entries").rglob("*"))
    while bundle.is_dir():
        bundle = next(bundle.iterdir())
    data = bytearray(bundle.read_bytes())
    data[-1] ^= 1
    bundle.write_bytes(bytes(data))
    assert (
        ombud("tender", "verify", TENDER.ocid, "--source", tampered, "--key", vkey).returncode == 1
    )
    missing = ombud("tender", "verify", "ocds-0mbud0-none", "--source", export, "--key", vkey)
    assert missing.returncode == 1 and "no tender" in missing.stderr
    # Another log's key: the closing checkpoint is not that log's.
    other = note.Signer.generate("tenders.example/log").verifier().vkey
    wrong_key = ombud("tender", "verify", TENDER.ocid, "--source", export, "--key", other)
    assert wrong_key.returncode == 1, wrong_key.stderr


def test_a_bid_for_another_deployment(tmp_path: Path) -> None:
    """Sealed for a staging copy (`seal --origin`), a bid is refused by `commit` with nothing
    written (exit 2), and so is one of version 1, which names no deployment; a bid for another
    deployment written into the log behind the book's back breaks `tender verify` (exit 1,
    naming its entry)."""
    data_dir = tmp_path / "city"
    vkey, witnesses = witnessed(data_dir)
    clock = Clock()
    clock.now = utc_now().replace(microsecond=0)
    tender = replace(
        TENDER, deadline=clock.now + timedelta(days=30), reveal_by=clock.now + timedelta(days=32)
    )
    with Deployment.open(data_dir, clock=clock) as deployment:
        deployment.establish_roster(GENESIS, actor="clerk")
        _publish(deployment, tender)
        size = deployment.log.size
    key, document = _bidder_files(tmp_path)
    sealed, salt = tmp_path / "commitment.json", tmp_path / "salt.hex"
    made = ombud(
        "tender", "seal", document, "--ocid", TENDER.ocid, "--bidder", "harbour-lights",
        "--name", "Harbour Lights", "--key", key, "--out", sealed, "--salt-out", salt,
        "--origin", "staging.example/log",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert json.loads(sealed.read_text())["origin"] == "staging.example/log"
    refused = ombud("tender", "commit", "--data-dir", data_dir, sealed)
    assert refused.returncode == 2
    assert "signed for deployment 'staging.example/log'" in refused.stderr
    unbound = tmp_path / "unbound.json"
    old = committed("lumen-co", *bid("lumen-co", 198_000), origin=None)
    unbound.write_text(json.dumps(old.to_json()))
    refused = ombud("tender", "commit", "--data-dir", data_dir, unbound)
    assert refused.returncode == 2 and "names no deployment" in refused.stderr
    with Deployment.open(data_dir, clock=clock) as deployment:
        assert deployment.log.size == size
        lumen = bid("lumen-co", 198_000)
        deployment.tenders.commit(committed("lumen-co", *lumen), actor="bidder")
        foreign = committed("bright-ltd", *bid("bright-ltd", 99_000), origin="staging.example/log")
        body = {"v": 1, "ocid": TENDER.ocid, "commitment": foreign.to_json()}
        event = Event("bid.committed", clock.now, "bidder:bright-ltd", body)
        index = deployment.log.append_batch([event.to_bytes()])  # behind the book's back
        city = City(deployment, clock, witnesses)
        city.publish_checkpoint(clock.now)
        deployment.tenders.observe()
        city.publish_checkpoint(tender.deadline + timedelta(minutes=1))
        clock.now = tender.deadline + timedelta(minutes=2)
        assert deployment.tenders.close(TENDER.ocid, actor="ombud") is not None
        deployment.tenders.reveal(revealed("lumen-co", *lumen), actor="bidder")
        deployment.tenders.award(TENDER.ocid, actor="ombud")
        city.publish_checkpoint(tender.reveal_by)
    export = tmp_path / "export"
    assert ombud("log", "export", data_dir, export).returncode == 0
    broken = ombud("tender", "verify", TENDER.ocid, "--source", export, "--key", vkey)
    assert broken.returncode == 1, broken.stdout
    assert f"entry {index}" in broken.stderr and "signed for deployment" in broken.stderr


def test_verify_trusts_only_the_witness_policy_the_roster_authorised(tmp_path: Path) -> None:
    """A ``settings.changed`` the operator wrote with the log's key alone, naming its own
    witness: `tender verify` without --witness no longer trusts it (exit 1, naming its
    entry), whether the chain of rosters starts at the genesis file given or the log's own."""
    data_dir = tmp_path / "city"
    vkey, witnesses = witnessed(data_dir)
    (tmp_path / "genesis.json").write_text(json.dumps(GENESIS.to_json()))
    clock = Clock()
    with Deployment.open(data_dir, clock=clock) as deployment:
        deployment.establish_roster(GENESIS, actor="clerk")
        _publish(deployment)
        attacker = cosigner("attacker.example")
        forged = forge(deployment, None, attacker)
        city = City(deployment, clock, witnesses)
        _judged_by(city, attacker)
        city.publish_checkpoint(TENDER.reveal_by)
    export = tmp_path / "export"
    assert ombud("log", "export", data_dir, export).returncode == 0
    verify = ("tender", "verify", TENDER.ocid, "--source", export, "--key", vkey)
    for extra in ((), ("--genesis", tmp_path / "genesis.json")):
        refused = ombud(*verify, *extra)
        assert refused.returncode == 1, refused.stdout
        assert f"the witness policy of entry {forged} is not trusted" in refused.stderr
    pinned = ombud(*verify, "--witness", attacker.verifier().vkey)  # its quorum is not 1
    assert pinned.returncode == 1 and "it needs 2" in pinned.stderr
