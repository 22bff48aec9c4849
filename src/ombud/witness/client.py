"""The log's side of c2sp.org/tlog-witness: ask one witness to cosign a checkpoint.

Threat model: the witness and the network are untrusted by the log too. A response counts only
if its cosignature verifies under the witness key in the policy, over exactly the checkpoint
sent; a 409 is believed only as far as re-sending a proof from the size it names (a witness
claiming a size beyond the checkpoint is reported as the fork or rollback it would mean).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import httpx

from ombud.errors import (
    InconsistentTreeError,
    MalformedError,
    OmbudError,
    UnavailableError,
)
from ombud.ledger import note
from ombud.ledger.checkpoint import Checkpoint
from ombud.witness.policy import WitnessEndpoint
from ombud.witness.protocol import AddCheckpoint, parse_size

__all__ = ["WitnessClient"]

ProofSource = Callable[[int, int], Sequence[bytes]]
"""``(old size, new size)`` → the RFC 9162 consistency proof between them."""

_MAX_CONFLICTS = 3
_BACKOFF = 0.05


class WitnessClient:
    """One witness of the policy, and the tree size it is known to have cosigned last."""

    def __init__(self, endpoint: WitnessEndpoint, http: httpx.AsyncClient, *, attempts: int):
        self.verifier = note.Verifier.from_vkey(endpoint.vkey)
        self.name = self.verifier.name
        self.url = endpoint.url.rstrip("/") + "/add-checkpoint"
        self.known_size: int | None = None
        self._http = http
        self._attempts = attempts

    async def cosign(
        self, signed: bytes, checkpoint: Checkpoint, proof: ProofSource, guess: int
    ) -> bytes:
        """Return this witness's verified cosignature line(s) for the note ``signed``.

        ``guess`` is the old size to try when this witness's is not known yet; a 409 corrects
        it. Raises ``UnavailableError`` (unreachable, timed out, refused) or
        ``InconsistentTreeError`` (the witness holds a tree this checkpoint does not extend).
        """
        known = self.known_size
        old = known if known is not None and known <= checkpoint.size else guess
        if old > checkpoint.size:
            old = 0
        failures = conflicts = 0
        while True:
            needs_proof = 0 < old < checkpoint.size
            request = AddCheckpoint.build(
                old, proof(old, checkpoint.size) if needs_proof else (), signed
            )
            try:
                response = await self._http.post(self.url, content=request.to_bytes())
            except httpx.HTTPError as exc:
                failures += 1
                if failures >= self._attempts:
                    reason = str(exc) or type(exc).__name__
                    raise UnavailableError(f"{self.name} at {self.url}: {reason}") from None
                await asyncio.sleep(_BACKOFF * 2**failures)
                continue
            status = response.status_code
            if status == 200:
                lines = self._verified_lines(signed, response.content)
                self.known_size = checkpoint.size
                return lines
            if status == 409:
                conflicts += 1
                old = self._conflict(response.content, checkpoint)
                self.known_size = old
                if conflicts > _MAX_CONFLICTS:
                    raise UnavailableError(f"{self.name}: its tree size keeps changing (409)")
                continue
            reason = response.text.strip()[:200] or response.reason_phrase
            if status == 422:
                raise InconsistentTreeError(
                    f"witness {self.name} finds checkpoint {checkpoint.size} inconsistent with "
                    f"what it cosigned: {reason}"
                )
            if status >= 500:
                failures += 1
                if failures < self._attempts:
                    await asyncio.sleep(_BACKOFF * 2**failures)
                    continue
            raise UnavailableError(f"{self.name} refused with HTTP {status}: {reason}")

    def _conflict(self, body: bytes, checkpoint: Checkpoint) -> int:
        try:
            size = parse_size(body)
        except MalformedError as exc:
            raise UnavailableError(f"{self.name} sent a malformed 409: {exc}") from None
        if size > checkpoint.size:
            raise InconsistentTreeError(
                f"witness {self.name} cosigned size {size}, beyond this log's checkpoint "
                f"{checkpoint.size}: the log was rolled back or forked"
            )
        return size

    def _verified_lines(self, signed: bytes, body: bytes) -> bytes:
        """The response's lines by this witness's key, once they verify over our checkpoint."""
        text = note.parse(signed).text
        try:
            opened = note.open(text + b"\n" + body, [self.verifier])
        except OmbudError as exc:
            raise UnavailableError(
                f"{self.name} answered without a valid cosignature: {exc}"
            ) from None
        ours = (self.verifier.name, self.verifier.key_id)
        return b"".join(sig.line() for sig in opened.signatures if (sig.name, sig.key_id) == ours)
