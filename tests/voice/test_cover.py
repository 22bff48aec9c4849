"""Cover leaves: the (ε, δ) derivation, the count OpenDP draws, leaves shaped like posts, drawn
once per hour after the period's key, rescheduled or dropped when missed, counted nowhere, and
named by retention like posts (SQLite and PostgreSQL)."""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import replace
from datetime import timedelta

import pytest

from ombud.clock import from_micros, iso_week, to_micros
from ombud.errors import ConfigError, MalformedError
from ombud.events import Event
from ombud.voice.cover import (
    HOUR,
    CoverBook,
    CoverLeaf,
    CoverPolicy,
    PendingLeaf,
    Triage,
    cover_count,
    cover_event,
    cover_leaf,
    delta_of,
    minimal_shift,
    noise_scale,
    opendp_draw,
    schedule,
    triage,
    truncation_probability,
)
from ombud.voice.issuer import Issuer
from ombud.voice.posts import Submission, accepted_event
from ombud.voice.tokens import finalize_token, load_public_key, period_challenge, request_token

from .conftest import ORGANIC, ORIGIN, START, Voice

WEEK = iso_week(START)  # 2026-W49
HOUR_START = START.replace(minute=0, second=0, microsecond=0)


# --- the policy -------------------------------------------------------------------------------


def _pmf(scale: float, z: int) -> float:
    """P(Z = z) of the discrete Laplace distribution of ``scale``, normalised numerically."""
    alpha = math.exp(-1 / scale)
    return (1 - alpha) / (1 + alpha) * alpha ** abs(z)


@pytest.mark.parametrize(
    ("epsilon", "delta"), [(1.0, 1e-6), (0.5, 1e-6), (0.1, 1e-12), (2.0, 1e-9), (20.0, 1e-3)]
)
def test_the_shift_is_the_smallest_whose_truncation_keeps_delta(
    epsilon: float, delta: float
) -> None:
    policy = CoverPolicy(epsilon, delta)
    b, s = policy.scale, policy.shift
    assert b * epsilon >= 1 and b == pytest.approx(1 / epsilon, rel=1e-15)
    assert delta_of(epsilon, b, s) <= delta
    if s > 0:
        assert delta_of(epsilon, b, s - 1) > delta  # smallest
    # q against the pmf summed term by term: P(Z <= -(s+1)), and the pmf sums to 1.
    terms = range(-(s + 1) - int(60 * b), int(60 * b) + s + 2)
    assert math.fsum(_pmf(b, z) for z in terms) == pytest.approx(1, abs=1e-12)
    tail = math.fsum(_pmf(b, z) for z in terms if z <= -(s + 1))
    assert truncation_probability(b, s) == pytest.approx(tail, rel=1e-9)


@pytest.mark.parametrize("epsilon", [1.0, 0.5, 2.0])
def test_the_observed_count_is_epsilon_delta_private_as_derived(epsilon: float) -> None:
    """The exact hockey-stick divergence between the counts seen for c and c + 1 posts (both
    ways) is at most the δ the derivation gives, and the pure mechanism's ε is not exceeded
    away from the truncation."""
    policy = CoverPolicy(epsilon, 1e-6)
    b, s = policy.scale, policy.shift
    top = s + int(80 * b) + 2

    def leaves(c: int) -> dict[int, float]:
        """P(c + N = o) for N = max(0, s + Z)."""
        out = {c: math.fsum(_pmf(b, z) for z in range(-s - int(80 * b), -s + 1))}
        for n in range(1, top):
            out[c + n] = _pmf(b, n - s)
        return out

    for c, other in ((5, 6), (6, 5)):
        p, q = leaves(c), leaves(other)
        divergence = math.fsum(
            max(0.0, p.get(o, 0.0) - math.exp(epsilon) * q.get(o, 0.0)) for o in set(p) | set(q)
        )
        assert divergence <= policy.guaranteed_delta <= policy.delta
    # The derivation's δ is no loose bound at a single point: the truncation's mass itself.
    assert policy.guaranteed_delta >= truncation_probability(b, s)


def test_a_policy_refuses_what_it_cannot_guarantee() -> None:
    for epsilon, delta in ((0, 1e-6), (0.01, 1e-6), (21.0, 1e-6), (1.0, 0), (1.0, 0.5)):
        with pytest.raises(ConfigError, match="cover"):
            CoverPolicy(epsilon, delta)
    with pytest.raises(ConfigError, match="number"):
        CoverPolicy(True, 1e-6)  # type: ignore[arg-type]
    assert CoverPolicy().shift == 14 and minimal_shift(1.0, 1e-6, 1.0) == 14


def test_the_noise_scale_keeps_opendps_epsilon_within_the_policys() -> None:
    """1/ε rounded to a float can give OpenDP a privacy map a hair above ε (0.7 does); the
    scale is rounded up until it does not, and OpenDP's map is checked."""
    for epsilon in (0.1, 0.3, 1 / 3, 0.7, 1.0, 1.01, 2.5, 9.99, 20.0):
        scale = noise_scale(epsilon)
        assert scale >= 1 / epsilon and scale == pytest.approx(1 / epsilon, rel=1e-15)
        opendp_draw(CoverPolicy(epsilon, 1e-6))  # raises if OpenDP's map(1) > epsilon


def test_opendps_draws_give_a_count_around_the_shift() -> None:
    policy = CoverPolicy()  # b = 1, s = 14
    draw = opendp_draw(policy)
    counts = [cover_count(draw) for _ in range(4000)]
    assert min(counts) >= 0
    # Discrete Laplace of scale 1: mean 0, variance 2r/(1-r)² ≈ 1.84 (r = 1/e); the standard
    # error of the mean of 4,000 is about 0.02.
    alpha = math.exp(-1)
    assert statistics.fmean(counts) == pytest.approx(policy.shift, abs=0.15)
    assert statistics.variance(counts) == pytest.approx(2 * alpha / (1 - alpha) ** 2, rel=0.15)
    assert cover_count(lambda: -3) == 0 and cover_count(lambda: 9) == 9
    with pytest.raises(MalformedError):
        cover_count(lambda: 1.5)  # type: ignore[arg-type, return-value]


# --- leaves and schedules (pure) ---------------------------------------------------------------


def test_a_schedule_is_uniform_within_its_window_and_sorted() -> None:
    rng = random.Random(1)
    start, end = HOUR_START + timedelta(minutes=20), HOUR_START + HOUR
    times = schedule(3000, start, end, rng.randrange)
    assert times == sorted(times)
    assert to_micros(start) <= times[0] and times[-1] < to_micros(end)
    # Uniform: each of four quarters of the window holds about a quarter of the times.
    width = (to_micros(end) - to_micros(start)) / 4
    quarters = [int((t - to_micros(start)) // width) for t in times]
    assert all(600 < quarters.count(k) < 900 for k in range(4))
    assert schedule(0, end, end, rng.randrange) == []
    with pytest.raises(MalformedError):
        schedule(1, end, start, rng.randrange)


def test_a_missed_leaf_is_rescheduled_within_its_hour_and_dropped_after_it() -> None:
    rng = random.Random(2)
    grace = timedelta(seconds=30)
    now = HOUR_START + timedelta(minutes=40)
    on_time = PendingLeaf(b"a" * 32, HOUR_START, WEEK, to_micros(now - timedelta(seconds=5)))
    missed = PendingLeaf(b"b" * 32, HOUR_START, WEEK, to_micros(now - timedelta(minutes=10)))
    ended = PendingLeaf(b"c" * 32, HOUR_START - HOUR, WEEK, to_micros(now - timedelta(hours=1)))
    future = PendingLeaf(b"d" * 32, HOUR_START, WEEK, to_micros(now + timedelta(minutes=1)))
    # Due just before the hour ended, seen just after: late by less than the grace, appended.
    boundary = PendingLeaf(b"e" * 32, HOUR_START - HOUR, WEEK, to_micros(HOUR_START) - 1)
    later = replace(boundary, due_us=to_micros(HOUR_START) - 1)
    out = triage([on_time, missed, ended, future], now, grace, rng.randrange)
    assert out.append == (on_time,) and out.drop == (ended,)
    ((leaf, due),) = out.reschedule
    assert leaf == missed and to_micros(now) <= due < to_micros(HOUR_START + HOUR)
    seen = triage([later], HOUR_START + timedelta(seconds=2), grace, rng.randrange)
    assert seen.append == (later,) and not seen.drop


def test_a_cover_leaf_is_shaped_like_a_real_post_byte_for_byte(voice_week: Voice) -> None:
    real = voice_week.posts.submit(Submission(ORGANIC[0], "north"), voice_week.token())
    real_bytes = voice_week.log.entry(real.post.ledger_index)
    fake_bytes = cover_event(real.post.received, WEEK, cover_leaf(random.Random(3).randbytes))
    real_event, fake_event = Event.from_bytes(real_bytes), Event.from_bytes(fake_bytes)
    assert (real_event.kind, real_event.at, real_event.actor) == (
        fake_event.kind,
        fake_event.at,
        fake_event.actor,
    )
    assert real_event.body.keys() == fake_event.body.keys()
    for key, value in real_event.body.items():
        assert type(value) is type(fake_event.body[key])
        assert len(str(value)) == len(str(fake_event.body[key])), key
    assert fake_event.body["period"] == real_event.body["period"] == WEEK
    assert len(real_bytes) == len(fake_bytes)
    # The one builder: a post's own nullifier and commitment give its entry, byte for byte.
    body = real_event.body
    rebuilt = accepted_event(
        real.post.received,
        WEEK,
        bytes.fromhex(body["nullifier"]),
        bytes.fromhex(body["commitment"]),
    )
    assert rebuilt == real_bytes
    with pytest.raises(MalformedError):
        CoverLeaf(b"x" * 31, b"y" * 32)


# --- the book ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def week_issuer(tmp_path_factory: pytest.TempPathFactory) -> tuple[Issuer, bytes]:
    """An issuer with a key for the week of START (the session's issuer holds 2026-12)."""
    issuer = Issuer.init(tmp_path_factory.mktemp("week-issuer") / "state", "id.city.example")
    return issuer, issuer.create_period(WEEK)


@pytest.fixture
def voice_week(voice: Voice, week_issuer: tuple[Issuer, bytes]) -> Voice:
    """``voice`` with the week's key published too, and tokens of that week."""
    issuer, key = week_issuer
    voice.posts.book.publish(voice.log, WEEK, issuer.name, key, actor="o", clock=voice.clock)
    public = load_public_key(key)
    residents = iter(range(10**6))
    seed = random.Random().randrange(10**9)

    def token() -> bytes:
        pending = request_token(public, period_challenge(issuer.name, WEEK, ORIGIN))
        resident = f"w-{seed}-{next(residents)}"
        response = issuer.issue(WEEK, resident, pending.request)
        return finalize_token(public, pending, response).to_bytes()

    return replace(voice, token=token)


class Draws:
    """A deterministic draw that counts how often it was asked."""

    def __init__(self, *values: int) -> None:
        self.values = list(values)
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.values.pop(0)


def _book(voice: Voice, draw: Draws, **kw: object) -> CoverBook:
    rng = random.Random(4)
    return CoverBook(
        voice.posts.db,
        voice.log,
        CoverPolicy(),
        30,
        voice.clock,
        random_bytes=rng.randbytes,
        randbelow=rng.randrange,
        draw=draw,
        **kw,  # type: ignore[arg-type]
    )


def _leaves(voice: Voice, start: int = 0) -> list[tuple[int, Event]]:
    out = []
    for index in range(start, voice.log.size):
        event = Event.from_bytes(voice.log.entry(index))
        if event.kind == "post.accepted":
            out.append((index, event))
    return out


def _run_hour(voice: Voice, book: CoverBook, *, step: timedelta) -> None:
    """Tick ``book`` every ``step`` until the clock's hour has ended."""
    end = voice.clock().replace(minute=0, second=0, microsecond=0) + HOUR
    while voice.clock() < end:
        book.tend()
        voice.clock.now = min(voice.clock() + step, end - timedelta(microseconds=1))
        if voice.clock() == end - timedelta(microseconds=1):
            book.tend()
            voice.clock.now = end


def test_no_cover_before_its_periods_key_and_none_for_free_label_periods(
    voice: Voice, week_issuer: tuple[Issuer, bytes]
) -> None:
    """The session's key is 2026-12, a free label: no hour is covered; once the week's key is
    on the log, the current hour is, and each leaf comes after the key."""
    draw = Draws(3, 3)
    book = _book(voice, draw)
    assert not book.tend() and draw.calls == 0
    assert voice.posts.db.read("SELECT count(*) FROM cover_hours")[0][0] == 0
    issuer, key = week_issuer
    published = voice.posts.book.publish(
        voice.log, WEEK, issuer.name, key, actor="o", clock=voice.clock
    )
    assert book.tend().drawn == 3 and draw.calls == 1
    _run_hour(voice, book, step=timedelta(seconds=20))
    cover = _leaves(voice, published.ledger_index)
    assert len(cover) == 3
    assert all(i > published.ledger_index and e.at == HOUR_START for i, e in cover)
    assert all(e.body["period"] == WEEK for _, e in cover)


def test_each_hour_is_drawn_once_and_a_restart_never_redraws(voice_week: Voice) -> None:
    voice = voice_week
    draw = Draws(4, 2)
    book = _book(voice, draw)
    assert book.tend().drawn == 4
    voice.clock.advance(minutes=1)
    restarted = _book(voice, draw)  # a new process: its schedule is the database's
    assert restarted.tend().drawn == 0 and draw.calls == 1
    _run_hour(voice, restarted, step=timedelta(seconds=20))
    assert len(_leaves(voice)) == 4  # the drawn count, no more
    assert draw.calls == 2  # the next hour: its own draw, in this hour's last minute
    assert restarted.tend().drawn == 0 and draw.calls == 2  # and not again when it comes
    rows = voice.posts.db.read("SELECT hour, drawn, dropped FROM cover_hours ORDER BY hour")
    assert [(int(d), int(x)) for _, d, x in rows] == [(4, 0), (2, 0)]


def test_missed_leaves_are_rescheduled_within_the_hour_and_dropped_after_it(
    voice_week: Voice,
) -> None:
    voice = voice_week
    voice.clock.now = HOUR_START + timedelta(minutes=1)
    book = _book(voice, Draws(40, 6))
    assert book.tend().drawn == 40
    # The server stops for 45 minutes: most leaves' due times pass meanwhile.
    voice.clock.now = HOUR_START + timedelta(minutes=46)
    done = book.tend()
    assert done.rescheduled > 20 and done.appended <= 3 and not done.dropped
    late = voice.posts.db.read(
        "SELECT due_us FROM cover_leaves WHERE ledger_index IS NULL AND hour = ?",
        (int(HOUR_START.timestamp()),),
    )
    assert all(voice.clock() <= from_micros(int(d)) < HOUR_START + HOUR for (d,) in late)
    _run_hour(voice, book, step=timedelta(seconds=20))
    assert len(_leaves(voice)) == 40  # the hour shows its drawn count, all within the hour
    # The next hour was drawn in this one's last minute (6 leaves); the server restarts in it,
    # then stops past its end: its leaves are dropped.
    book = _book(voice, Draws())
    voice.clock.now = HOUR_START + HOUR + timedelta(minutes=5)
    assert book.tend().drawn == 0
    appended_before = len(_leaves(voice))
    voice.clock.now = HOUR_START + 2 * HOUR + timedelta(minutes=10)
    book.draw = Draws(0)
    done = book.tend()
    assert done.dropped == 6 - (len(_leaves(voice)) - appended_before) and done.dropped > 0
    assert len(_leaves(voice)) == appended_before  # nothing of the ended hour was appended
    rows = voice.posts.db.read(
        "SELECT drawn, dropped FROM cover_hours WHERE hour = ?",
        (int((HOUR_START + HOUR).timestamp()),),
    )
    assert [(int(a), int(b)) for a, b in rows] == [(6, done.dropped)]
    assert book.dropped_total == done.dropped


def test_cover_leaves_are_counted_by_no_figure_about_posts(voice_week: Voice) -> None:
    """``/voice/sentiment`` and the DP release's input read posts, never leaves: cover leaves
    change neither (the insight reads the releases only)."""
    voice = voice_week
    for text in ORGANIC[:3]:
        voice.posts.submit(Submission(text, "harbour"), voice.token())
    before = voice.reports.sentiment().to_json()
    contributions = voice.reports.contributions(period=WEEK)
    book = _book(voice, Draws(9, 0))
    _run_hour(voice, book, step=timedelta(seconds=20))
    assert len(_leaves(voice)) == 3 + 9
    assert voice.reports.sentiment().to_json() == before
    assert voice.reports.contributions(period=WEEK) == contributions
    assert len(voice.reports.list(limit=100)) == 3
    assert voice.flags.screen() == 0  # the screening reads posts and finds nothing odd


def test_retention_names_cover_commitments_with_the_posts_of_their_hour(
    voice_week: Voice,
) -> None:
    """After retention, the commitments named by payload.purged are exactly the commitments of
    every post.accepted leaf of those hours, real and cover, mixed in one event."""
    voice = voice_week
    book = _book(voice, Draws(7, 5, 0))
    for _ in range(2):  # two hours, each with posts and cover
        book.tend()
        for text in ORGANIC[:2]:
            voice.posts.submit(Submission(text, "north"), voice.token())
        _run_hour(voice, book, step=timedelta(seconds=20))
    leaves = {e.body["commitment"] for _, e in _leaves(voice)}
    assert len(leaves) == 4 + 12
    start = voice.log.size
    voice.clock.advance(days=29)
    assert voice.posts.purge_expired() == 0  # not yet
    voice.clock.advance(days=2)
    assert voice.posts.purge_expired() == 4  # the posts' texts; the leaves named with them
    purged = [Event.from_bytes(voice.log.entry(i)) for i in range(start, voice.log.size)]
    assert [e.kind for e in purged] == ["payload.purged"]
    named = purged[0].body["commitments"]
    assert set(named) == leaves and named == sorted(named)
    assert voice.posts.purged_total == 16  # /metrics counts what the event names
    assert voice.posts.purge_expired() == 0 and voice.log.size == start + 1
    rows = voice.posts.db.read("SELECT count(*) FROM cover_leaves WHERE purged IS NULL")
    assert rows[0][0] == 0


def test_leaves_drawn_at_the_first_tick_spread_over_the_rest_of_the_hour(
    voice_week: Voice,
) -> None:
    voice = voice_week
    voice.clock.now = HOUR_START + timedelta(minutes=30)
    _book(voice, Draws(200)).tend()
    due = [
        from_micros(int(d))
        for (d,) in voice.posts.db.read("SELECT due_us FROM cover_leaves ORDER BY due_us")
    ]
    assert len(due) == 200
    assert voice.clock() <= due[0] and due[-1] < HOUR_START + HOUR
    assert 60 < sum(d < HOUR_START + timedelta(minutes=45) for d in due) < 140


def test_the_next_hour_is_drawn_before_it_begins_so_its_first_seconds_are_covered(
    voice_week: Voice,
) -> None:
    """Drawn at its first round, an hour's leaves fell due from that round on: the seconds
    before it (up to a round's wait) held posts' leaves only, so a leaf of the hour seen in its
    first instants was a post's. Now the round in the hour's last minute draws the next hour,
    its leaves uniform over all of it; that hour is not drawn again when it comes."""
    voice = voice_week
    voice.clock.now = HOUR_START + timedelta(minutes=58, seconds=30)
    book = _book(voice, Draws(3, 400))
    assert book.tend().drawn == 3  # this hour, whose first round this is
    voice.clock.now = HOUR_START + timedelta(minutes=59, seconds=10)
    assert book.tend().drawn == 400  # the next one, ahead of it
    nxt = HOUR_START + HOUR
    due = [
        from_micros(int(d))
        for (d,) in voice.posts.db.read(
            "SELECT due_us FROM cover_leaves WHERE hour = ? ORDER BY due_us",
            (int(nxt.timestamp()),),
        )
    ]
    assert len(due) == 400 and nxt <= due[0] < nxt + timedelta(seconds=60)
    assert due[-1] < nxt + HOUR
    assert 150 < sum(d < nxt + timedelta(minutes=30) for d in due) < 250
    voice.clock.now = HOUR_START + timedelta(minutes=59, seconds=50)
    assert book.tend().drawn == 0  # drawn once
    assert all(e.at == HOUR_START for _, e in _leaves(voice))  # nothing of it appended early
    voice.clock.now = nxt + timedelta(seconds=3)
    done = book.tend()
    assert done.drawn == 0 and 0 <= done.appended <= 5


def test_a_leaf_another_process_settled_meanwhile_is_not_counted_as_dropped(
    voice_week: Voice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two servers: a leaf one of them finds missed may be dropped (or appended) by the other
    before it acts; only the rows it deletes itself count in ``cover_hours.dropped``."""
    import ombud.voice.cover as cover

    voice = voice_week
    voice.clock.now = HOUR_START + timedelta(minutes=59, seconds=30)
    book = _book(voice, Draws(0, 5))
    book.tend()  # this hour draws nothing; the next one, drawn ahead, 5 leaves
    voice.clock.now = HOUR_START + 2 * HOUR + timedelta(minutes=10)  # its hour has ended
    real_triage = cover.triage

    def raced(*args: object, **kwargs: object) -> Triage:
        verdict = real_triage(*args, **kwargs)  # type: ignore[arg-type]
        with voice.posts.db.transaction() as tx:  # the other server drops them first
            tx.execute(
                "DELETE FROM cover_leaves WHERE ledger_index IS NULL AND hour = ?",
                (int((HOUR_START + HOUR).timestamp()),),
            )
        return verdict

    monkeypatch.setattr(cover, "triage", raced)
    book.draw = Draws(0)
    done = book.tend()
    assert done.dropped == 0 and book.dropped_total == 0
    rows = voice.posts.db.read(
        "SELECT drawn, dropped FROM cover_hours WHERE hour = ?",
        (int((HOUR_START + HOUR).timestamp()),),
    )
    assert [(int(a), int(b)) for a, b in rows] == [(5, 0)]
