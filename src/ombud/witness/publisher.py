"""Publishing: a checkpoint reaches readers only once a quorum of witnesses cosigned it.

Threat model: publishing is where a log could fail open — serve a checkpoint nobody
independent has seen. Here it cannot: the published note is re-verified against the policy's
witness keys and quorum before it is stored as published, and when the quorum is not reached the
log keeps sequencing but publishes nothing new, records why (``ombud log status``), and says so
in the server log. Witnesses are asked concurrently; the checkpoint is published as soon as the
quorum is reached, and the late cosignatures are added when they arrive.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from ombud.errors import OmbudError
from ombud.ledger.checkpoint import open_checkpoint, verify_quorum
from ombud.ledger.log import Log
from ombud.witness.client import WitnessClient
from ombud.witness.policy import WitnessPolicy

__all__ = ["PublishOutcome", "Publisher", "publish_once"]

logger = logging.getLogger("ombud.publish")


@dataclass(frozen=True)
class PublishOutcome:
    """What one publishing round did."""

    size: int
    """Size of the checkpoint this round tried to publish."""
    published: bool
    cosigners: tuple[str, ...] = ()
    failures: dict[str, str] = field(default_factory=dict)
    """Witness name → why it did not cosign."""
    quorum: int = 0
    latency: float = 0.0
    """Seconds from the start of the round to the checkpoint being published (or given up)."""
    at: float = 0.0
    """When the round ended (seconds since the epoch)."""

    def summary(self) -> str:
        got = f"{len(self.cosigners)} of the {self.quorum} witness cosignatures required"
        why = "; ".join(f"{name}: {reason}" for name, reason in sorted(self.failures.items()))
        if self.published:
            names = ", ".join(self.cosigners) or "no witnesses required"
            return f"published checkpoint {self.size} ({names}) in {self.latency * 1000:.1f} ms"
        return f"checkpoint {self.size} NOT published: {got}" + (f" ({why})" if why else "")

    def to_json(self) -> str:
        return json.dumps(
            {
                "size": self.size,
                "published": self.published,
                "cosigners": list(self.cosigners),
                "failures": self.failures,
                "quorum": self.quorum,
                "latency": self.latency,
                "at": self.at,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> PublishOutcome:
        raw = json.loads(text)
        return cls(
            size=raw["size"],
            published=raw["published"],
            cosigners=tuple(raw["cosigners"]),
            failures=dict(raw["failures"]),
            quorum=raw["quorum"],
            latency=raw["latency"],
            at=raw["at"],
        )


class Publisher:
    """Signs checkpoints of ``log`` and publishes them under ``policy``."""

    def __init__(
        self,
        log: Log,
        policy: WitnessPolicy,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.log = log
        self.policy = policy
        self.timeout = policy.timeout_ms / 1000
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            timeout=self.timeout, headers={"Content-Type": "text/plain; charset=utf-8"}
        )
        self.clients = [
            WitnessClient(w, self._http, attempts=policy.attempts) for w in policy.witness
        ]
        self.witness_keys = [c.verifier for c in self.clients]
        self._clock = clock
        self._wall_clock = wall_clock
        self.rounds = 0
        self.failed_rounds = 0
        self.last: PublishOutcome | None = None
        """The outcome of the latest round that asked witnesses."""
        self.cosign_failures: dict[str, int] = {c.name: 0 for c in self.clients}

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Publisher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def publish(self) -> PublishOutcome:
        """Sign a checkpoint of the integrated tree and publish it if the quorum cosigns it."""
        start = self._clock()
        signed = await asyncio.to_thread(self.log.checkpoint)
        cp = signed.checkpoint
        published = self.log.published_checkpoint()
        quorum = self.policy.quorum
        if quorum == 0 or (published is not None and published.size == cp.size):
            elapsed = self._clock() - start
            return PublishOutcome(
                cp.size, True, quorum=quorum, latency=elapsed, at=self._wall_clock()
            )
        self.rounds += 1
        note_bytes = signed.to_bytes()
        guess = published.size if published is not None else 0
        tasks = {
            asyncio.create_task(
                client.cosign(note_bytes, cp, self.log.consistency_proof, guess)
            ): client
            for client in self.clients
        }
        cosignatures: dict[str, bytes] = {}
        failures: dict[str, str] = {}
        latency: float | None = None
        deadline = start + self.timeout
        pending = set(tasks)
        while pending:
            remaining = deadline - self._clock()
            if remaining <= 0:
                break
            done, pending = await asyncio.wait(
                pending, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                name = tasks[task].name
                try:
                    cosignatures[name] = task.result()
                except OmbudError as exc:
                    failures[name] = str(exc)
                    self.cosign_failures[name] += 1
                except Exception as exc:  # a bug must not publish, nor stop the other witnesses
                    logger.exception("asking witness %s failed unexpectedly", name)
                    failures[name] = f"unexpected error: {exc!r}"
                    self.cosign_failures[name] += 1
            if latency is None and len(cosignatures) >= quorum:
                self._publish(note_bytes, cosignatures)
                latency = self._clock() - start
        for task in pending:
            task.cancel()
            failures[tasks[task].name] = f"no answer within {self.policy.timeout_ms} ms"
            self.cosign_failures[tasks[task].name] += 1
        if latency is not None and len(cosignatures) > quorum:
            self._publish(note_bytes, cosignatures)  # add the cosignatures that came late
        if latency is None:
            self.failed_rounds += 1
        outcome = PublishOutcome(
            cp.size,
            latency is not None,
            tuple(sorted(cosignatures)),
            failures,
            quorum,
            latency if latency is not None else self._clock() - start,
            self._wall_clock(),
        )
        return self._record(outcome)

    def _publish(self, note_bytes: bytes, cosignatures: dict[str, bytes]) -> None:
        cosigned = note_bytes + b"".join(cosignatures[name] for name in sorted(cosignatures))
        opened = open_checkpoint(
            cosigned, [self.log.verifier()], origin=self.log.origin, witnesses=self.witness_keys
        )
        verify_quorum(opened, self.witness_keys, self.policy.quorum)
        self.log.publish(cosigned)

    def _record(self, outcome: PublishOutcome) -> PublishOutcome:
        self.last = outcome
        self.log.store.set_publish_status(outcome.to_json())
        if outcome.published:
            logger.info("%s", outcome.summary())
        else:
            logger.error(
                "%s; appends continue, readers keep the last published checkpoint",
                outcome.summary(),
            )
        return outcome


def publish_once(log: Log, policy: WitnessPolicy) -> PublishOutcome:
    """One publishing round, for commands that run once (``ombud log checkpoint``)."""

    async def run() -> PublishOutcome:
        async with Publisher(log, policy) as publisher:
            return await publisher.publish()

    return asyncio.run(run())
