"""Tracked results through the ledger: each result created and each update made by the
signature of the office that answers for it, in sequence, linked to an adopted decision or an
awarded contract; exported as Decidim accountability results (JSON and CSV).

Threat model: see ``ombud.governance.results``. The clerk who submits updates (scope
``results:write``) holds no office's key; each update is verified against the roster in force
and the result's previous sequence number inside the transaction that records it
(``result.updated``), so the history of promises and delivery has no gaps and no rewrites. An
update that is not this deployment's (signed for another log origin, or of version 1, which
names none) is refused before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ombud.canonical import canonical_json, parse_json
from ombud.clock import format_time, from_micros, to_micros
from ombud.database import Database, Tx
from ombud.errors import AlreadyExistsError, ConflictError, NotFoundError
from ombud.events import Event
from ombud.governance.actions import roster_in_tx
from ombud.governance.results import (
    Result,
    ResultUpdate,
    check_text,
    decidim_rows,
    verify_update,
    verify_update_origin,
)
from ombud.ledger.log import Log

__all__ = ["ResultBook"]


class ResultBook:
    def __init__(self, db: Database, log: Log, *, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.log = log
        self.clock = clock

    def get(self, result_id: str) -> Result:
        rows = self.db.read("SELECT result FROM results WHERE id = ?", (result_id,))
        if not rows:
            raise NotFoundError(f"no result {result_id[:64]!r}")
        return Result.from_json(parse_json(bytes(rows[0][0]), "a stored result"))

    def history(self, result_id: str) -> list[tuple[ResultUpdate, datetime, int]]:
        """Every update of a result, in order, with its time and ledger index."""
        rows = self.db.read(
            "SELECT update_, at, ledger_index FROM result_updates WHERE result = ?"
            " ORDER BY sequence",
            (result_id,),
        )
        return [
            (ResultUpdate.from_json(parse_json(bytes(u), "a stored update")), from_micros(at), i)
            for u, at, i in rows
        ]

    def tracked(self) -> list[tuple[Result, list[tuple[ResultUpdate, datetime, int]]]]:
        """Every result with its whole history, in the order they were created."""
        rows = self.db.read("SELECT id, result FROM results ORDER BY created_index")
        return [
            (Result.from_json(parse_json(bytes(data), "a stored result")), self.history(rid))
            for rid, data in rows
        ]

    def all(self) -> list[tuple[Result, ResultUpdate, datetime, int]]:
        """Every result with its latest update."""
        return [(result, *history[-1]) for result, history in self.tracked()]

    def export(self) -> list[dict[str, Any]]:
        """Decidim accountability rows (``decidim_csv`` writes them as CSV)."""
        return decidim_rows([(r, u, format_time(at), i) for r, u, at, i in self.all()])

    def record(self, update: ResultUpdate, *, actor: str) -> int:
        """Create a result (sequence 0, linked to an adopted decision or an awarded
        contract) or add its next update, signed by the office that answers for it for this
        deployment: one signed for another (``ForeignUpdateError``) or of version 1, which
        names none (``UnboundUpdateError``), or whose text holds a control character
        (``check_text``), is refused before anything is written."""
        verify_update_origin(update, self.log.origin)
        check_text(update)

        def build(tx: Tx) -> list[bytes]:
            roster = roster_in_tx(tx)
            if update.result is not None:
                result = update.result
                if tx.execute("SELECT 1 FROM results WHERE id = ?", (result.id,)):
                    raise AlreadyExistsError(f"result {result.id} exists")
                self._check_origin(tx, result)
            else:
                rows = tx.execute("SELECT result FROM results WHERE id = ?", (update.result_id,))
                if not rows:
                    raise NotFoundError(f"no result {update.result_id[:64]!r}")
                result = Result.from_json(parse_json(bytes(rows[0][0]), "a stored result"))
            last = tx.execute(
                "SELECT max(sequence) FROM result_updates WHERE result = ?", (update.result_id,)
            )[0][0]
            expected = 0 if last is None else int(last) + 1
            if update.sequence != expected:
                raise ConflictError(
                    f"update {update.sequence} of {update.result_id} is out of turn; the next "
                    f"is {expected}"
                )
            verify_update(roster, result.responsible, update, origin=self.log.origin)
            body = {"v": 1, "update": update.to_json(), "district": result.district}
            return [Event("result.updated", self.clock(), actor, body).to_bytes()]

        def insert(tx: Tx, index: int) -> None:
            if update.result is not None:
                tx.execute(
                    "INSERT INTO results (id, result, created_index) VALUES (?, ?, ?)",
                    (update.result_id, canonical_json(update.result.to_json()), index),
                )
            tx.execute(
                "INSERT INTO result_updates (result, sequence, update_, at, ledger_index)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    update.result_id,
                    update.sequence,
                    canonical_json(update.to_json()),
                    to_micros(self.clock()),
                    index,
                ),
            )

        return self.log.append_with(build, insert)

    @staticmethod
    def _check_origin(tx: Tx, result: Result) -> None:
        if result.decision is not None:
            rows = tx.execute("SELECT tally FROM motions WHERE id = ?", (result.decision,))
            if not rows or rows[0][0] is None:
                raise ConflictError(f"motion {result.decision} has not been decided")
            if parse_json(bytes(rows[0][0]), "a stored tally")["outcome"] != "adopted":
                raise ConflictError(f"motion {result.decision} was not adopted")
        else:
            rows = tx.execute("SELECT evaluation FROM tenders WHERE ocid = ?", (result.contract,))
            if not rows or rows[0][0] is None:
                raise ConflictError(f"tender {result.contract} has not been awarded")
            if parse_json(bytes(rows[0][0]), "a stored evaluation")["winner"] is None:
                raise ConflictError(f"tender {result.contract} awarded no contract")
