"""A subject's access and portability export (GDPR Art. 15 and 20).

Threat model: the export is the subject's own data, so it is produced only for the subject
(resident access key) or an operator acting on their request, and it must let them check,
without trusting ombud, that what they see is what the ledger committed to: each payload comes
with its salt (``SHA-256(salt || payload)`` is the commitment in its leaf) and each related
event with a C2SP tlog-proof against the published checkpoint.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from ombud.clock import format_time
from ombud.events import Event
from ombud.ledger.log import Log
from ombud.privacy.consent import ConsentBook, ConsentRecord, PurgedConsent
from ombud.privacy.vault import Vault

__all__ = ["subject_export"]


def _data(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")


def subject_export(vault: Vault, consents: ConsentBook, log: Log, ref: bytes) -> dict[str, Any]:
    """Everything ombud holds about the subject filed under ``ref``, with ledger evidence."""
    payloads = vault.payloads(ref)
    records = consents.latest(ref)
    published = log.published_checkpoint()
    indexes = sorted(
        {p.ledger_index for p in payloads}
        | {p.purged_index for p in payloads if p.purged_index is not None}
    )
    events = []
    for index in indexes:
        entry = log.entry(index)
        bundle = log.prove(index)
        proof = None if bundle is None else base64.b64encode(bundle.to_bytes()).decode("ascii")
        events.append(
            {"ledgerIndex": index, "event": Event.from_bytes(entry).to_json(), "tlogProof": proof}
        )
    return {
        "format": "ombud-subject-export/1",
        "consents": [r.to_json() for r in records if isinstance(r, ConsentRecord)],
        "purgedConsents": [r.to_json() for r in records if isinstance(r, PurgedConsent)],
        "payloads": [
            {
                "id": p.id,
                "kind": p.kind,
                "created": format_time(p.created),
                "expires": None if p.expires is None else format_time(p.expires),
                "ledgerIndex": p.ledger_index,
                "commitment": p.commitment.hex(),
                "salt": None if p.salt is None else base64.b64encode(p.salt).decode("ascii"),
                "data": None if p.data is None else _data(p.data),
                "bytes": None if p.data is None else base64.b64encode(p.data).decode("ascii"),
                "purgedIndex": p.purged_index,
            }
            for p in payloads
        ],
        "events": events,
        "checkpoint": None if published is None else published.note.decode("utf-8"),
        "howToVerify": (
            "For each payload, SHA-256(salt || bytes), both base64-decoded, is the commitment in "
            "the ledger event at ledgerIndex; each tlogProof is a c2sp.org/tlog-proof of that "
            "event against the published checkpoint (`ombud proof verify`)."
        ),
    }
