"""The demo's privacy act: a resident consents to follow-up, files an Open311 request with an
e-mail address (sealed in the vault), reads their data back with ledger proofs, erases it —
after which no file of the deployment holds the address — and a differentially private
release of satisfaction spends privacy budget on the ledger.

Threat model: as ``ombud.cli.demo`` — a demonstration on loopback. The resident and their
address are made up for each run; the staff token the act uses is revoked by the caller.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from pathlib import Path

import httpx

from ombud.errors import VerificationError

__all__ = ["privacy_act"]


def _scan(data_dir: Path, needle: bytes) -> list[str]:
    """Files of the deployment that contain ``needle`` (databases, WAL, logs, keys)."""
    found = []
    for path in sorted(data_dir.rglob("*")):
        if path.is_file() and needle in path.read_bytes():
            found.append(path.name)
    return found


def privacy_act(
    client: httpx.Client,
    data_dir: Path,
    staff_token: str,
    token: Callable[[], str],
    period: str,
    progress: Callable[[str], None],
) -> list[tuple[str, str]]:
    """Rows for the demo's table (``staff_token`` has privacy:consent and privacy:release;
    ``token()`` is a fresh resident token of ``period``)."""
    staff = {"Authorization": f"Bearer {staff_token}"}
    subject = f"citizen-{secrets.token_hex(4)}"
    email = f"{subject}@mail.example"
    granted = client.post(
        "/privacy/consents",
        json={
            "subject": subject,
            "purposes": ["service-request-follow-up"],
            "dataCategories": ["contact-details"],
            "controller": "City of ombud demo, data office",
            "retentionDays": 30,
            "issueResidentKey": True,
        },
        headers=staff,
    )
    granted.raise_for_status()
    me = {"Authorization": f"Bearer {granted.json()['residentKey']}"}
    form = {
        "service_code": "lighting",
        "description": "The street light outside number 12 has been out for a week",
        "address_id": "harbour",
        "account_id": subject,
        "resident_key": granted.json()["residentKey"],
        "email": email,
    }
    filed = client.post(
        "/open311/v2/requests.json",
        data=form,
        headers={"Authorization": f'PrivateToken token="{token()}"'},
    )
    filed.raise_for_status()
    progress("a resident consented, filed a request with an e-mail address, reads it back")

    export = client.get("/me/data", headers=me).json()
    contact = [p for p in export["payloads"] if p["kind"] == "contact"]
    if not contact or contact[0]["data"].get("email") != email:
        raise VerificationError("the resident's export lacks their contact details")
    checked = 0
    for payload in export["payloads"]:
        digest = hashlib.sha256(
            base64.b64decode(payload["salt"]) + base64.b64decode(payload["bytes"])
        ).hexdigest()
        if digest != payload["commitment"]:
            raise VerificationError("an exported payload does not match its commitment")
        checked += 1
    in_clear = _scan(data_dir, email.encode())

    erased = client.delete("/me/data", headers=me)
    erased.raise_for_status()
    left = _scan(data_dir, email.encode()) + _scan(data_dir, subject.encode())
    gone = client.get("/me/data", headers=me).status_code
    if in_clear or left:
        raise VerificationError(f"personal data found after erasure in {in_clear + left}")
    if gone != 401:  # the resident key was erased with the rest
        raise VerificationError(f"after erasure the resident key still answers {gone}")
    progress("erased; running a differentially private release")

    release = client.post(
        "/privacy/releases", json={"dataset": "satisfaction", "period": period}, headers=staff
    )
    release.raise_for_status()
    made = release.json()
    cells = made["cells"]
    shown = [c for c in cells if not c["suppressed"]]
    budget = next(b for b in client.get("/privacy/budget").json() if b["period"] == period)
    sample = (
        ", ".join(
            f"{c['district']}/{c['service']} {c['meanSatisfaction']:+.2f}±{c['error95']:.2f}"
            for c in shown[:3]
        )
        or "none"
    )
    return [
        (
            "resident's data",
            f"consent recorded (consent.granted, a commitment only); an Open311 request's e-mail "
            f"sealed in the vault under the resident's own key; GET /me/data returned "
            f"{len(export['payloads'])} payloads, each matching its ledger commitment "
            f"({checked} checked)",
        ),
        (
            "erased",
            f"DELETE /me/data → subject.erased at ledger index {erased.json()['ledgerIndex']}: "
            f"key, {erased.json()['payloadsDestroyed']} payloads and salts destroyed; the "
            "address and the subject id are in no file of the deployment (databases, WAL, "
            "logs scanned); the ledger's proofs still verify",
        ),
        (
            "DP release",
            f"satisfaction {period}: {len(cells)} district x service cells at rho "
            f"{made['rho']:.3g} (OpenDP, Gaussian zCDP), {len(cells) - len(shown)} suppressed "
            f"(fewer than {made['kThreshold']} residents: the demo's k for its dozen residents; "
            f"the default is 20), shown: {sample}; budget spent "
            f"{budget['rhoSpent']:.3g} of {budget['rhoBudget']:.3g} (dp.released on the ledger)",
        ),
    ]
