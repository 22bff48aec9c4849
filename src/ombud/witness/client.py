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
MAX_RESPONSE = 64 << 10
"""Bytes of a witness's answer read at most (a cosignature is one line of about 120)."""


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
                status, reason_phrase, content = await self._post(request.to_bytes())
            except httpx.HTTPError as exc:
                failures += 1
                if failures >= self._attempts:
                    reason = str(exc) or type(exc).__name__
                    raise UnavailableError(f"{self.name} at {self.url}: {reason}") from None
                await asyncio.sleep(_BACKOFF * 2**failures)
                continue
            if status == 200:
                lines = self._verified_lines(signed, content)
                self.known_size = checkpoint.size
                return lines
            if status == 409:
                conflicts += 1
                old = self._conflict(content, checkpoint)
                self.known_size = old
                if conflicts > _MAX_CONFLICTS:
                    raise UnavailableError(f"{self.name}: its tree size keeps changing (409)")
                continue
            text = content[:200].decode("utf-8", "replace").strip()
            reason = text or reason_phrase
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

    async def _post(self, body: bytes) -> tuple[int, str, bytes]:
        """Status, reason phrase and body of the witness's answer, read up to ``MAX_RESPONSE``
        bytes as they come and never decompressed: a witness answering without end (or with a
        gzip bomb) must not fill the log server's memory."""
        request = self._http.build_request(
            "POST", self.url, content=body, headers={"Accept-Encoding": "identity"}
        )
        response = await self._http.send(request, stream=True)
        try:
            encoding = response.headers.get("content-encoding", "identity").lower()
            if encoding != "identity":
                raise UnavailableError(f"{self.name} answered in {encoding[:20]!r}, not as it is")
            content = bytearray()
            async for chunk in response.aiter_bytes():  # identity: the bytes as sent
                content += chunk
                if len(content) > MAX_RESPONSE:
                    raise UnavailableError(
                        f"{self.name} answered with more than {MAX_RESPONSE} bytes"
                    )
        finally:
            await response.aclose()
        return response.status_code, response.reason_phrase, bytes(content)

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
        # One line, the first by our key: a witness answering with its line a hundred times
        # would otherwise put them all in the published note (and block it past 100 lines).
        return next(sig.line() for sig in opened.signatures if (sig.name, sig.key_id) == ours)
