"""Cover leaves: a noisy number of dummy ``post.accepted`` entries each hour, so the public log
tells no more about how many residents posted than the differentially private releases do.

Threat model: anyone reading the log counts its ``post.accepted`` leaves per token period and,
polling checkpoints, per hour — an exact figure about residents. Each hour of a week-shaped
token period whose issuer key is on the log therefore gets N dummy leaves, built by the very
function that builds a real post's (``ombud.voice.posts.accepted_event``: same keys, same byte
lengths, random nullifier and commitment), spread uniformly over the hour, named by retention's
``payload.purged`` like a post; the count an observer sees is (ε, δ)-differentially private per
hour. Not hidden: free-label periods (they have no end, so cover cannot know when to stop),
imported posts (public posts, ``nullifier`` null), flagged posts (``post.flagged`` names them),
timing finer than the hour, and the hours a stopped server could not cover. The leaves must not
be told apart by when they land either: an hour is drawn in the hour before's last minute, so
its leaves may fall due from its first instant, and ``ombud serve`` runs the round at random
waits (``ombud.api.tasks.jittered``), never on a lattice.

The mechanism. N = max(0, s + Z), Z discrete Laplace of scale b = 1/ε (P(Z = z) ∝ e^(-|z|/b)),
drawn by OpenDP (``make_laplace`` over integers, its privacy map checked to be at most ε); the
shift s is the smallest integer for which the guarantee below holds. An hour with c real posts
shows O(c) = c + N = max(c, c + s + Z) leaves, which differs from the pure ε-DP output
M(c) = c + s + Z only on the event E = {Z ≤ -(s+1)}, of probability
q = Σ_{z ≥ s+1} (1-r)/(1+r) r^z = r^(s+1) / (1+r), with r = e^(-1/b). For neighbouring counts c,
c' (one resident's post more or less: |c - c'| ≤ 1) and any set S of outcomes,
P[O(c) ∈ S] ≤ P[M(c) ∈ S] + q ≤ e^ε P[M(c') ∈ S] + q ≤ e^ε (P[O(c') ∈ S] + q) + q, so the
observed count is (ε, δ)-DP with δ = (1 + e^ε) q, and s is chosen minimal with that ≤ the
configured δ. Each hour is drawn once (``cover_hours``) and never again, so a restart adds no
leaves; a resident's one post per period lands in one hour, so by parallel composition the
week's hourly counts are (ε, δ)-DP for that post. The mean cost is about s leaves an hour.

Pure core first (policy, draw, leaves, schedule, triage: the clock and randomness passed in),
then the thin shell (``CoverBook``) that keeps the schedule in the database and appends.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from ombud.clock import from_seconds, iso_week, to_micros, to_seconds, utc_now
from ombud.database import Database, Tx
from ombud.errors import ConfigError, MalformedError
from ombud.ledger.log import Log
from ombud.voice.posts import accepted_event, hour_of

__all__ = [
    "HOUR",
    "CoverBook",
    "CoverLeaf",
    "CoverPolicy",
    "CoverRound",
    "Draw",
    "PendingLeaf",
    "Triage",
    "cover_count",
    "cover_event",
    "cover_leaf",
    "covered_period",
    "delta_of",
    "minimal_shift",
    "noise_scale",
    "opendp_draw",
    "schedule",
    "triage",
    "truncation_probability",
]

HOUR = timedelta(hours=1)
EPSILON_RANGE = (0.1, 20.0)
"""ε per hour a policy may have: below 0.1 the shift (and the log) grows past ~280 leaves an
hour at δ = 1e-12; above 20 the count is all but exact."""
DELTA_RANGE = (1e-12, 1e-3)
MAX_SHIFT = 100_000
"""A shift no sane policy needs: a guard against a policy that would flood the log."""
NULLIFIER_SIZE = 32
"""A real nullifier is SHA-256 of its token (``ombud.voice.tokens.nullifier``)."""
COMMITMENT_SIZE = 32
"""A real commitment is SHA-256 of salt and record (``ombud.events.commit``)."""

Draw = Callable[[], int]
"""A draw of s + Z, the shifted discrete Laplace noise (``opendp_draw``; tests pass their own)."""
RandBelow = Callable[[int], int]
"""A uniform integer in [0, n) (``secrets.randbelow``; tests pass ``random.Random.randrange``)."""


# --- the policy (pure) ----------------------------------------------------------------------


def noise_scale(epsilon: float) -> float:
    """The scale b of the noise: the smallest float with b·ε ≥ 1 exactly, so that the
    mechanism's ε (1/b, as OpenDP computes it, rounded up) is never above ``epsilon``."""
    scale = 1.0 / epsilon
    while Fraction(scale) * Fraction(epsilon) < 1:
        scale = math.nextafter(scale, math.inf)
    return scale


def truncation_probability(scale: float, shift: int) -> float:
    """q = P[Z ≤ -(shift+1)] = e^(-(shift+1)/b) / (1 + e^(-1/b)) for discrete Laplace Z of
    scale b: the probability that max(0, shift + Z) is not shift + Z."""
    return math.exp(-(shift + 1) / scale) / (1 + math.exp(-1 / scale))


def delta_of(epsilon: float, scale: float, shift: int) -> float:
    """δ = (1 + e^ε) q: what the truncation at zero costs the pure ε-DP mechanism."""
    return (1 + math.exp(epsilon)) * truncation_probability(scale, shift)


def minimal_shift(epsilon: float, delta: float, scale: float) -> int:
    """The smallest shift s ≥ 0 with ``delta_of(epsilon, scale, s) <= delta``."""
    # From the closed form in logs, then settled by the exact test either way (rounding).
    guess = scale * (math.log1p(math.exp(epsilon)) - math.log1p(math.exp(-1 / scale)))
    shift = max(0, math.ceil(guess - scale * math.log(delta)) - 1)
    while shift > 0 and delta_of(epsilon, scale, shift - 1) <= delta:
        shift -= 1
    while delta_of(epsilon, scale, shift) > delta:
        shift += 1
        if shift > MAX_SHIFT:
            raise ConfigError(f"cover with ε {epsilon:g} and δ {delta:g} needs over {MAX_SHIFT}")
    return shift


@dataclass(frozen=True)
class CoverPolicy:
    """ε and δ of each hour's cover count, with the noise's scale and shift they imply."""

    epsilon: float = 1.0
    delta: float = 1e-6
    scale: float = field(init=False)
    """b = 1/ε (rounded up to a float that keeps the mechanism's ε at most ``epsilon``)."""
    shift: int = field(init=False)
    """The smallest s with (1 + e^ε) e^(-(s+1)/b) / (1 + e^(-1/b)) ≤ δ; the mean number of
    leaves an hour is about s."""

    def __post_init__(self) -> None:
        low, high = EPSILON_RANGE
        if isinstance(self.epsilon, bool) or not isinstance(self.epsilon, int | float):
            raise ConfigError(f"cover ε must be a number, not {self.epsilon!r}")
        if not low <= self.epsilon <= high:
            raise ConfigError(f"cover ε must be between {low:g} and {high:g}, not {self.epsilon!r}")
        low, high = DELTA_RANGE
        if isinstance(self.delta, bool) or not isinstance(self.delta, int | float):
            raise ConfigError(f"cover δ must be a number, not {self.delta!r}")
        if not low <= self.delta <= high:
            raise ConfigError(f"cover δ must be between {low:g} and {high:g}, not {self.delta!r}")
        scale = noise_scale(float(self.epsilon))
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "shift", minimal_shift(self.epsilon, self.delta, scale))

    @property
    def guaranteed_delta(self) -> float:
        """δ at this shift (at most ``delta``)."""
        return delta_of(self.epsilon, self.scale, self.shift)

    def to_json(self) -> dict[str, Any]:
        """The policy as published (``GET /voice/cover``): what an auditor needs to read the
        number of ``post.accepted`` leaves an hour."""
        return {
            "v": 1,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "scale": self.scale,
            "shift": self.shift,
            "meanLeavesPerHour": self.shift,
            "mechanism": (
                "each hour of a week-shaped token period whose issuer key is on the log gets "
                "max(0, shift + Z) cover post.accepted leaves, Z discrete Laplace of this scale "
                "(OpenDP make_laplace), spread uniformly over the hour: the hour's count of "
                "post.accepted leaves is (epsilon, delta)-differentially private"
            ),
        }


def opendp_draw(policy: CoverPolicy) -> Draw:
    """Draws of s + Z from OpenDP's discrete Laplace (its CSPRNG), after checking that its
    privacy map gives at most ``policy.epsilon`` for a change of one post."""
    import opendp.prelude as dp

    dp.enable_features("contrib")
    measurement: Any = dp.m.make_laplace(
        dp.atom_domain(T=int), dp.absolute_distance(T=int), scale=policy.scale
    )
    spent = float(measurement.map(1))
    if spent > policy.epsilon:
        raise ConfigError(
            f"OpenDP's noise spends ε {spent!r}, over the policy's {policy.epsilon!r}"
        )
    shift = policy.shift

    def draw() -> int:
        return int(measurement(shift))

    return draw


def cover_count(draw: Draw) -> int:
    """N = max(0, s + Z): an hour's number of cover leaves."""
    value = draw()
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedError(f"a cover draw is an integer, not {value!r}")
    return max(0, value)


# --- leaves and their schedule (pure) ----------------------------------------------------------


@dataclass(frozen=True)
class CoverLeaf:
    """A cover leaf's nullifier and commitment: random bytes, of the lengths a real post's
    SHA-256 values have."""

    nullifier: bytes = field(repr=False)
    commitment: bytes

    def __post_init__(self) -> None:
        if len(self.nullifier) != NULLIFIER_SIZE or len(self.commitment) != COMMITMENT_SIZE:
            raise MalformedError("a cover leaf's nullifier and commitment are 32 bytes each")


def cover_leaf(random_bytes: Callable[[int], bytes]) -> CoverLeaf:
    return CoverLeaf(random_bytes(NULLIFIER_SIZE), random_bytes(COMMITMENT_SIZE))


def cover_event(hour: datetime, period: str, leaf: CoverLeaf) -> bytes:
    """The ledger entry of a cover leaf of ``hour``: a ``post.accepted`` entry built by the
    function that builds every real post's."""
    return accepted_event(hour_of(hour), period, leaf.nullifier, leaf.commitment)


def covered_period(hour: datetime) -> str:
    """The token period an hour's cover belongs to: the ISO week it falls in (only week-shaped
    periods end, so only they can be covered)."""
    return iso_week(hour)


def schedule(count: int, start: datetime, end: datetime, randbelow: RandBelow) -> list[int]:
    """``count`` times (microseconds since the epoch), uniform over [start, end), sorted."""
    first, last = to_micros(start), to_micros(end)
    if count < 0:
        raise MalformedError("a schedule has no negative number of leaves")
    if count and last <= first:
        raise MalformedError("a schedule needs a window that is not empty")
    return sorted(first + randbelow(last - first) for _ in range(count))


@dataclass(frozen=True)
class PendingLeaf:
    """A scheduled leaf not yet on the log."""

    nullifier: bytes = field(repr=False)
    hour: datetime
    period: str
    due_us: int


@dataclass(frozen=True)
class Triage:
    """What one round does with the pending leaves."""

    append: tuple[PendingLeaf, ...]
    """Due now (late by at most the grace): appended in this round."""
    reschedule: tuple[tuple[PendingLeaf, int], ...]
    """Missed (late by more than the grace) in an hour that has not ended: a new due time,
    uniform over the rest of the hour, so the hour's count stays the drawn one."""
    drop: tuple[PendingLeaf, ...]
    """Missed in an hour that has ended: never appended (the hour's cover was weakened)."""


def triage(
    pending: Sequence[PendingLeaf], now: datetime, grace: timedelta, randbelow: RandBelow
) -> Triage:
    """Sort ``pending`` into leaves to append now, to reschedule and to drop."""
    now_us, grace_us = to_micros(now), grace // timedelta(microseconds=1)
    append, reschedule, drop = [], [], []
    for leaf in pending:
        if leaf.due_us > now_us:
            continue
        if now_us - leaf.due_us <= grace_us:
            append.append(leaf)
            continue
        end = leaf.hour + HOUR
        if now < end:
            (due,) = schedule(1, now, end, randbelow)
            reschedule.append((leaf, due))
        else:
            drop.append(leaf)
    return Triage(tuple(append), tuple(reschedule), tuple(drop))


# --- the shell ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoverRound:
    """What one round did."""

    drawn: int
    """Leaves drawn in this round, for the current hour or the next (0 when they were drawn
    before). Never log or publish it: with the log's count of the hour it gives the exact
    number of posts."""
    appended: int
    rescheduled: int
    dropped: int

    def __bool__(self) -> bool:
        return bool(self.drawn or self.appended or self.rescheduled or self.dropped)


@dataclass
class CoverBook:
    """The cover schedule in the deployment database (``cover_hours``, ``cover_leaves``) and
    the round that draws each hour once and appends its leaves when they are due."""

    db: Database
    log: Log
    policy: CoverPolicy
    retention_days: int = 30
    """Days after its hour a leaf's commitment is named by ``payload.purged``, as a post's is
    (``voice.retention_days``)."""
    clock: Callable[[], datetime] = utc_now
    random_bytes: Callable[[int], bytes] = os.urandom
    randbelow: RandBelow = secrets.randbelow
    draw: Draw | None = None
    """None: OpenDP's (built on first use)."""
    grace: timedelta = timedelta(seconds=30)
    """How late a leaf may be appended; a leaf missed by more (a stopped server) is
    rescheduled within its hour, or dropped once the hour has ended."""
    lead: timedelta = timedelta(minutes=1)
    """How long before an hour begins a round draws its cover, so that its leaves may fall due
    from its first instant: drawn at its first round instead, they left the seconds before
    that round (up to a round's wait) to posts' leaves alone."""
    dropped_total: int = field(default=0, init=False)
    """Leaves this process dropped (their hour ended while it was stopped)."""

    def _draw(self) -> Draw:
        if self.draw is None:
            self.draw = opendp_draw(self.policy)
        return self.draw

    def tend(self) -> CoverRound:
        """One round: draw the current hour's cover (and, within ``lead`` of its start, the
        next hour's) if its period's key is published and it was not drawn before, drop or
        reschedule missed leaves, append the due ones."""
        now = self.clock()
        drawn = self._draw_hour(hour_of(now), now)
        upcoming = hour_of(now) + HOUR
        if upcoming - now <= self.lead:
            drawn += self._draw_hour(upcoming, now)
        pending = [
            PendingLeaf(bytes(n), from_seconds(int(h)), str(p), int(d))
            for n, h, p, d in self.db.read(
                "SELECT nullifier, hour, period, due_us FROM cover_leaves"
                " WHERE ledger_index IS NULL AND due_us <= ? ORDER BY due_us",
                (to_micros(now),),
            )
        ]
        sorted_out = triage(pending, now, self.grace, self.randbelow)
        dropped = 0
        if sorted_out.reschedule or sorted_out.drop:
            with self.db.transaction() as tx:
                for leaf, due in sorted_out.reschedule:
                    tx.execute(
                        "UPDATE cover_leaves SET due_us = ? WHERE nullifier = ?"
                        " AND ledger_index IS NULL",
                        (due, leaf.nullifier),
                    )
                for leaf in sorted_out.drop:
                    if not tx.execute(
                        "DELETE FROM cover_leaves WHERE nullifier = ? AND ledger_index IS NULL"
                        " RETURNING nullifier",
                        (leaf.nullifier,),
                    ):
                        continue  # another process appended or dropped it meanwhile
                    dropped += 1
                    tx.execute(
                        "UPDATE cover_hours SET dropped = dropped + 1"
                        " WHERE hour = ? AND period = ?",
                        (to_seconds(leaf.hour), leaf.period),
                    )
            self.dropped_total += dropped
        appended = self._append(sorted_out.append)
        return CoverRound(drawn, appended, len(sorted_out.reschedule), dropped)

    def _draw_hour(self, hour: datetime, now: datetime) -> int:
        """Draw the cover of ``hour`` (the current one or the next), once, its leaves uniform
        over what is left of it from ``now``; returns how many leaves."""
        period = covered_period(hour)
        key = self.db.read("SELECT 1 FROM issuer_keys WHERE period = ?", (period,))
        if not key:
            return 0  # no token of this week can pay for a post: nothing to hide
        if self.db.read(
            "SELECT 1 FROM cover_hours WHERE hour = ? AND period = ?", (to_seconds(hour), period)
        ):
            return 0
        count = cover_count(self._draw())
        times = schedule(count, max(now, hour), hour + HOUR, self.randbelow)
        leaves = [cover_leaf(self.random_bytes) for _ in times]
        expires = to_seconds(hour + timedelta(days=self.retention_days))
        with self.db.transaction() as tx:
            if tx.execute(
                "SELECT 1 FROM cover_hours WHERE hour = ? AND period = ?",
                (to_seconds(hour), period),
            ):
                return 0  # another process drew it first: its draw stands, this one is unseen
            tx.execute(
                "INSERT INTO cover_hours (hour, period, drawn, dropped) VALUES (?, ?, ?, 0)",
                (to_seconds(hour), period, count),
            )
            tx.executemany(
                "INSERT INTO cover_leaves (nullifier, hour, period, due_us, commitment, expires,"
                " ledger_index, purged) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
                [
                    (leaf.nullifier, to_seconds(hour), period, due, leaf.commitment, expires)
                    for leaf, due in zip(leaves, times, strict=True)
                ],
            )
        return count

    def _append(self, due: Sequence[PendingLeaf]) -> int:
        """Append the due leaves, one entry per job (as posts are), in one group commit."""
        if not due:
            return 0
        appended: list[bytes] = []
        outcomes = self.log.append_group([self._job(leaf.nullifier, appended) for leaf in due])
        failed = [o for o in outcomes if isinstance(o, Exception)]
        if failed:
            raise failed[0]
        return len(appended)

    def _job(
        self, nullifier: bytes, appended: list[bytes]
    ) -> tuple[Callable[[Tx], list[bytes]], Callable[[Tx, int], None]]:
        """One leaf's ledger job: its entry, unless another process appended it meanwhile, and
        its index on its row."""
        built: list[bytes] = []

        def build(tx: Tx) -> list[bytes]:
            rows = tx.execute(
                "SELECT hour, period, commitment FROM cover_leaves"
                " WHERE nullifier = ? AND ledger_index IS NULL",
                (nullifier,),
            )
            if not rows:
                return []  # appended by another process meanwhile
            hour, period, commitment = rows[0]
            leaf = CoverLeaf(nullifier, bytes(commitment))
            built.append(nullifier)
            return [cover_event(from_seconds(int(hour)), str(period), leaf)]

        def record(tx: Tx, index: int) -> None:
            if built:
                tx.execute(
                    "UPDATE cover_leaves SET ledger_index = ? WHERE nullifier = ?",
                    (index, nullifier),
                )
                appended.append(nullifier)

        return build, record
