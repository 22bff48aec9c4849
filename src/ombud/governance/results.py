"""Tracked results: what a decision or a contract promised — milestones, status and progress —
and each update signed by the office responsible, exported in the shape of Decidim's
accountability results.

Threat model: an office that rewrites its promises or backdates its progress, or a clerk who
edits them. A result is created, and each update made, by an Ed25519 signature of the office
that answers for it (a roster holder) over the result's id, the update's sequence number, its
content and, since update version 2, the deployment it is for (its log's origin), so updates
cannot be replayed, reordered or forged, nor carried over from a deployment set up from the
same roster genesis (a staging copy of production), which shares the offices' keys and may
hold a result of the same id. An update of version 1 names no deployment: it is no longer
recorded, and one a log recorded still verifies there only before the log's first version-2
update (``verify_update_origin``). The history on the ledger is the only history there is.
Pure: values in, values out.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ombud.base64url import b64url, unb64url
from ombud.canonical import is_plain_text
from ombud.districts import is_district
from ombud.errors import (
    ForeignUpdateError,
    MalformedError,
    NotAHolderError,
    SignatureError,
    UnboundUpdateError,
)
from ombud.governance.roster import (
    BoundStatement,
    Roster,
    check_id,
    matches,
    statement_origin,
    verify_bound,
    verify_ed25519,
)
from ombud.governance.tenders import OCID

__all__ = [
    "DECIDIM_COLUMNS",
    "STATUSES",
    "Milestone",
    "Result",
    "ResultUpdate",
    "check_text",
    "decidim_csv",
    "decidim_rows",
    "sign_update",
    "verify_update",
    "verify_update_origin",
]

STATUSES = ("planned", "in-progress", "delayed", "completed", "cancelled")
DECIDIM_COLUMNS = (
    "id", "parent_id", "title", "description", "start_date", "end_date", "status",
    "progress", "decision", "contract", "responsible", "updated_at", "ledger_index",
)  # fmt: skip
"""The columns of the export: Decidim accountability's own, then what links the result to
its decision or contract, who answers for it, and the ledger entry of its last update."""
_DOMAIN = b"ombud-result-update/v1\n"
_DOMAIN_V2 = b"ombud-result-update/v2\n"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _date(value: object, what: str) -> date:
    if not isinstance(value, str) or not matches(_DATE, value):
        raise MalformedError(f"{what} is a date, YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise MalformedError(f"{what} is not a date") from None


@dataclass(frozen=True)
class Milestone:
    title: str
    due: date

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "due": self.due.isoformat()}


@dataclass(frozen=True)
class Result:
    """A promised result: linked to an adopted decision or an awarded contract, with the
    office that answers for it and its milestones."""

    id: str
    parent: str | None
    title: str
    description: str
    start: date
    end: date
    responsible: str
    decision: str | None
    contract: str | None
    milestones: tuple[Milestone, ...]
    district: str | None = None

    def __post_init__(self) -> None:
        check_id(self.id, "a result id")
        if self.parent is not None:
            check_id(self.parent, "a parent result id")
        check_id(self.responsible, "the responsible office (a roster holder)")
        for text, most, what in (
            (self.title, 200, "title"),
            (self.description, 5000, "description"),
        ):
            if not isinstance(text, str) or not 0 < len(text) <= most:
                raise MalformedError(f"a result's {what} is 1-{most} characters")
        if self.end < self.start:
            raise MalformedError("a result ends after it starts")
        if (self.decision is None) == (self.contract is None):
            raise MalformedError("a result comes from one decision or one contract")
        if self.decision is not None:
            check_id(self.decision, "a decision (motion) id")
        if self.contract is not None and not matches(OCID, self.contract):
            raise MalformedError("a contract is named by its tender's ocid")
        if len(self.milestones) > 50:
            raise MalformedError("a result has at most 50 milestones")
        if self.district is not None and not is_district(self.district):
            raise MalformedError("a district is 1-64 letters, digits and . _ -")

    def to_json(self) -> dict[str, Any]:
        return {
            "v": 1,
            "id": self.id,
            "parent": self.parent,
            "title": self.title,
            "description": self.description,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "responsible": self.responsible,
            "decision": self.decision,
            "contract": self.contract,
            "milestones": [m.to_json() for m in self.milestones],
            "district": self.district,
        }

    @classmethod
    def from_json(cls, obj: Any) -> Result:
        keys = {"v", "id", "parent", "title", "description", "start", "end", "responsible",
                "decision", "contract", "milestones", "district"}  # fmt: skip
        if not isinstance(obj, dict) or set(obj) != keys or obj["v"] != 1:
            raise MalformedError(f"a result is an object with exactly {sorted(keys)}, v 1")
        if not isinstance(obj["milestones"], list):
            raise MalformedError("a result's milestones are a list")
        milestones = []
        for m in obj["milestones"]:
            if not isinstance(m, dict) or set(m) != {"title", "due"}:
                raise MalformedError("a milestone is {title, due}")
            if not isinstance(m["title"], str) or not 0 < len(m["title"]) <= 200:
                raise MalformedError("a milestone's title is 1-200 characters")
            milestones.append(Milestone(m["title"], _date(m["due"], "a milestone's due date")))
        return cls(
            obj["id"], obj["parent"], obj["title"], obj["description"],
            _date(obj["start"], "a result's start"), _date(obj["end"], "a result's end"),
            obj["responsible"], obj["decision"], obj["contract"], tuple(milestones),
            obj["district"],
        )  # fmt: skip


@dataclass(frozen=True)
class ResultUpdate(BoundStatement):
    """The ``sequence``-th statement about a result (0 creates it, with the result itself in
    ``result``): status, progress 0-100 and a note, signed by the responsible office for, from
    update version 2 on, the deployment it names (``origin``, its log's origin). An update
    without an origin is version 1, in the exact form it had before."""

    result_id: str
    sequence: int
    status: str
    progress: int
    note: str
    holder: str
    signature: bytes
    result: Result | None = None
    origin: str | None = None

    def __post_init__(self) -> None:
        check_id(self.result_id, "a result id")
        check_id(self.holder, "a holder id")
        if (
            isinstance(self.sequence, bool)
            or not isinstance(self.sequence, int)
            or self.sequence < 0
        ):
            raise MalformedError("an update's sequence is a number from 0")
        if (self.sequence == 0) != (self.result is not None):
            raise MalformedError("the first update (sequence 0) and it alone carries the result")
        if self.result is not None and self.result.id != self.result_id:
            raise MalformedError("the update names another result than it carries")
        if self.status not in STATUSES:
            raise MalformedError(f"a status is one of {', '.join(STATUSES)}")
        if (
            isinstance(self.progress, bool)
            or not isinstance(self.progress, int)
            or not 0 <= self.progress <= 100
        ):
            raise MalformedError("progress is a whole number from 0 to 100")
        if not isinstance(self.note, str) or len(self.note) > 1000:
            raise MalformedError("an update's note is at most 1,000 characters")
        if len(self.signature) != 64:
            raise MalformedError("an update's signature is 64 bytes")
        self._check_origin()

    _DOMAINS = (_DOMAIN, _DOMAIN_V2)
    _WHAT = "a result update"

    def _fields(self) -> dict[str, Any]:
        return {
            "result": self.result_id,
            "sequence": self.sequence,
            "status": self.status,
            "progress": self.progress,
            "note": self.note,
            "holder": self.holder,
            "definition": None if self.result is None else self.result.to_json(),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            **self._content(),
            "signature": b64url(self.signature),
        }

    @classmethod
    def from_json(cls, obj: Any) -> ResultUpdate:
        keys = {"result", "sequence", "status", "progress", "note", "holder", "definition",
                "signature"}  # fmt: skip
        origin = statement_origin(obj, keys, "a result update")
        signature = unb64url(obj["signature"], "an update's signature", 64)
        definition = None if obj["definition"] is None else Result.from_json(obj["definition"])
        return cls(
            obj["result"], obj["sequence"], obj["status"], obj["progress"], obj["note"],
            obj["holder"], signature, definition, origin,
        )  # fmt: skip


def sign_update(
    result_id: str,
    sequence: int,
    status: str,
    progress: int,
    note: str,
    holder: str,
    key: Ed25519PrivateKey,
    result: Result | None = None,
    *,
    origin: str | None,
) -> ResultUpdate:
    """The update, signed for the deployment whose log's origin is ``origin`` (version 2);
    ``origin=None`` makes a version-1 update, which no deployment records any longer (for
    tests of recorded history only)."""
    unsigned = ResultUpdate(
        result_id, sequence, status, progress, note, holder, b"\0" * 64, result, origin
    )
    return ResultUpdate(
        result_id, sequence, status, progress, note, holder,
        key.sign(unsigned.signed_message()), result, origin,
    )  # fmt: skip


def check_text(update: ResultUpdate) -> None:
    """Refuse (``MalformedError``) an update about to be recorded whose text holds a control
    character other than tab and line ends: its note or, when it creates the result, the
    result's title, description and milestones' titles. The pages, the feeds (XML 1.0 refuses
    such a character, and with it the whole feed) and the CSV export carry them to readers.
    History already recorded is read as it was written."""
    texts = [("note", update.note)]
    if update.result is not None:
        texts += [("title", update.result.title), ("description", update.result.description)]
        texts += [("milestone's title", m.title) for m in update.result.milestones]
    for what, text in texts:
        if not is_plain_text(text):
            raise MalformedError(
                f"a result's {what} holds a control character (only tab and line ends may be)"
            )


def verify_update_origin(update: ResultUpdate, origin: str, *, recorded: bool = False) -> None:
    """None when ``update`` is bound to the deployment whose log's origin is ``origin``;
    raises ``ForeignUpdateError`` (signed for another deployment) or, unless ``recorded``,
    ``UnboundUpdateError`` (a version-1 update, which names no deployment). ``recorded`` is
    for history a log already holds, before its first version-2 update: a version-1 update
    recorded before updates named their deployment still counts there, and nowhere else."""
    verify_bound(
        update.origin, origin, recorded=recorded, what=("result update", "update", "sign"),
        foreign=ForeignUpdateError, unbound=UnboundUpdateError,
    )  # fmt: skip


def verify_update(
    roster: Roster,
    responsible: str,
    update: ResultUpdate,
    *,
    origin: str,
    recorded: bool = False,
) -> None:
    """None when ``update`` is signed by ``responsible``, a holder of ``roster``, for the
    deployment whose log's origin is ``origin``; raises the errors of ``verify_update_origin``
    (``UnboundUpdateError`` unless ``recorded``, ``ForeignUpdateError``), ``NotAHolderError``
    or ``SignatureError`` (another signer, or a forged update)."""
    verify_update_origin(update, origin, recorded=recorded)
    if update.holder != responsible:
        raise SignatureError(f"{update.holder} does not answer for {update.result_id}")
    holder = roster.holder(responsible)
    if holder is None:
        raise NotAHolderError(f"{responsible} holds no office in roster version {roster.version}")
    verify_ed25519(
        holder.key,
        update.signature,
        update.signed_message(),
        f"the update is not signed by {responsible}'s key",
    )


def decidim_rows(
    results: Sequence[tuple[Result, ResultUpdate, str, int]],
) -> list[dict[str, Any]]:
    """One row per result, in Decidim's accountability shape: each result with its latest
    update, the time of that update and its ledger index."""
    return [
        {
            "id": r.id,
            "parent_id": r.parent,
            "title": r.title,
            "description": r.description,
            "start_date": r.start.isoformat(),
            "end_date": r.end.isoformat(),
            "status": u.status,
            "progress": u.progress,
            "decision": r.decision,
            "contract": r.contract,
            "responsible": r.responsible,
            "updated_at": at,
            "ledger_index": index,
        }
        for r, u, at, index in results
    ]


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet reads a cell as a formula from (OWASP, CSV injection)."""


def _cell(value: object) -> object:
    """A text that a spreadsheet would run as a formula, after an apostrophe (OWASP's advice):
    a result's title is anyone's to read, but the export is opened in spreadsheets."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def decidim_csv(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as CSV, any text a spreadsheet would read as a formula kept as text (``_cell``);
    the JSON export holds every value as it is. Rows end in CRLF (RFC 4180), so that a field
    holding a carriage return is quoted: with "\n" alone the csv module leaves it bare, and a
    title could have started a row of its own."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=DECIDIM_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row[k]) for k in DECIDIM_COLUMNS})
    return out.getvalue()
