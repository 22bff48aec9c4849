"""``ombud access``: a requester's key, a request recorded, its approval signed by two officers
with ``ombud roster sign`` (one is not enough), a read within the request signed by the
requester on their machine and one beyond it (refused, and recorded), a signed read used twice
(refused), the list, the ombudsman's report, and every read verified from an export."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ombud.access.requests import AccessRequest, Requester
from ombud.deployment import Deployment
from ombud.events import Event
from ombud.governance.roster import Roster
from ombud.privacy.consent import Grant
from tests.cli.test_roster import NAMES, POLICY, _holders
from tests.conftest import ombud

SUBJECT = "resident-pseudonym-0042"


def test_an_access_request_from_request_to_report(tmp_path: Path) -> None:
    data_dir = tmp_path / "city"
    assert ombud("init", "--data-dir", data_dir, "--origin", "access.example/log").returncode == 0
    genesis = Roster(0, tuple(_holders(tmp_path, NAMES)), POLICY)
    (tmp_path / "genesis.json").write_text(json.dumps(genesis.to_json()))
    assert (
        ombud("roster", "init", "--data-dir", data_dir, tmp_path / "genesis.json").returncode == 0
    )
    with Deployment.open(data_dir) as deployment:
        office = deployment.privacy()
        office.consents.grant(Grant(SUBJECT, ("follow-up",), ("contact",), "city"), actor="x")
        office.vault.seal(
            deployment.log, office.vault.ref(SUBJECT), "contact", b'{"phone": "555-0142"}',
            expires=None, event=lambda sealed: office.vault.stored_event(sealed, "voice"),
        )  # fmt: skip
    now = datetime.now(UTC).replace(microsecond=0)
    key = ombud("access", "keygen", "--out", tmp_path / "ines.pem")  # on the requester's machine
    assert key.returncode == 0, key.stderr
    assert (tmp_path / "ines.pem").stat().st_mode & 0o777 == 0o600
    request = AccessRequest(
        secrets.token_hex(16), Requester("port-police", "det-ines", key.stdout.strip()), (SUBJECT,),
        ("contact",), "an investigation", "warrant PO-1", now - timedelta(days=1),
        now + timedelta(days=1), now + timedelta(days=2),
    )  # fmt: skip
    (tmp_path / "request.json").write_text(json.dumps(request.to_json()))
    made = ombud("access", "request", "--data-dir", data_dir, tmp_path / "request.json")
    assert made.returncode == 0 and request.id in made.stdout, made.stderr
    approval = tmp_path / "approval.json"
    out = ombud("access", "approval", "--data-dir", data_dir, request.id, "--out", approval)
    assert out.returncode == 0, out.stderr
    sign = ("roster", "sign", approval, "--holder")
    assert ombud(*sign, "officer-a", "--key", tmp_path / "officer-a.pem").returncode == 0
    one = ombud("access", "approve", "--data-dir", data_dir, approval)
    assert one.returncode == 2 and "needs 2 distinct signatures" in one.stderr
    assert ombud(*sign, "officer-b", "--key", tmp_path / "officer-b.pem").returncode == 0
    assert ombud("access", "approve", "--data-dir", data_dir, approval).returncode == 0
    commitment = made.stdout.split()[-1]  # the subject's, printed when it was recorded

    def signed(category: str, origin: str = "access.example/log") -> Path:
        out = tmp_path / f"read-{secrets.token_hex(4)}.json"
        made = ombud(
            "access", "sign-read", request.id, "--commitment", commitment, "--category",
            category, "--key", tmp_path / "ines.pem", "--origin", origin, "--out", out,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        return out

    read = ("access", "read", "--data-dir", data_dir, request.id, "--subject", SUBJECT)
    contact = signed("contact")
    ok = ombud(*read, "--category", "contact", "--signed", contact)
    assert ok.returncode == 0 and "555-0142" in ok.stdout, ok.stderr
    again = ombud(*read, "--category", "contact", "--signed", contact)
    assert again.returncode == 1 and "used before" in again.stderr and "555" not in again.stdout
    beyond = ombud(*read, "--category", "location", "--signed", signed("location"))
    assert beyond.returncode == 2 and "category" in beyond.stderr and "555" not in beyond.stdout
    staging = ombud(*read, "--category", "contact", "--signed", signed("contact", "staging/log"))
    assert staging.returncode == 2 and "staging/log" in staging.stderr
    unsigned = ombud(*read, "--category", "contact")
    assert unsigned.returncode == 2 and "--signed" in unsigned.stderr
    listed = ombud("access", "list", "--data-dir", data_dir)
    assert "port-police/det-ines" in listed.stdout and "approved" in listed.stdout
    report = json.loads(ombud("access", "report", "--data-dir", data_dir, "--json").stdout)
    assert report["refusedReads"] == 2 and report["statuses"] == {"approved": 1}
    assert SUBJECT not in listed.stdout + json.dumps(report)
    # Anyone verifies from an export that the requester asked for each read.
    with Deployment.open(data_dir) as deployment:
        deployment.log.checkpoint()
    export = tmp_path / "export"
    assert ombud("log", "export", data_dir, export).returncode == 0
    verified = ombud("access", "verify", export)
    assert verified.returncode == 0, verified.stderr
    assert "OK: 1 read(s) signed by their requester for this log" in verified.stdout
    assert "2 refused" in verified.stdout
    assert "1 approval(s) signed as the roster in force required" in verified.stdout
    from_genesis = ombud("access", "verify", export, "--genesis", tmp_path / "genesis.json")
    assert from_genesis.returncode == 0 and "from your genesis" in from_genesis.stdout
    # The operator, holding the log's key, writes a request nobody approved naming its own key,
    # and a read under it: exit 1, naming the read's entry.
    forged_id = "f" * 32
    with Deployment.open(data_dir) as deployment:
        view = {**request.file([bytes(32)]).public_view(bytes(32)), "v": 2, "request": forged_id}
        view["id"] = forged_id
        body = {"v": 3, "request": forged_id, "outcome": "read", "category": "contact",
                "subject": view["subjects"][0], "items": 1, "read": None}  # fmt: skip
        index = deployment.log.append_with(
            lambda tx: [
                Event("access.requested", now, "operator", view).to_bytes(),
                Event("access.read", now, "operator", body).to_bytes(),
            ],
            lambda tx, index: None,
        )
        deployment.log.checkpoint()
    forged = tmp_path / "forged"
    assert ombud("log", "export", data_dir, forged).returncode == 0
    refused = ombud("access", "verify", forged)
    assert refused.returncode == 1, refused.stderr
    assert f"entry {index + 1} (access.read)" in refused.stderr
    assert "never approved" in refused.stderr and "Traceback" not in refused.stderr
