"""The privacy office over a deployment's posts: releases of both datasets, the privacy unit
each post carries, retention across the vault and the posts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ombud import migrations
from ombud.config import PrivacySettings
from ombud.database import Database
from ombud.errors import BudgetExceededError, ConflictError, MalformedError
from ombud.events import Event
from ombud.privacy.consent import ConsentBook
from ombud.privacy.dp import ReleaseBook
from ombud.privacy.master_key import MasterKey
from ombud.privacy.office import PrivacyOffice, week_window
from ombud.privacy.vault import Vault
from ombud.voice.issuer import Issuer
from ombud.voice.posts import Submission
from ombud.voice.reports import PostReports
from ombud.voice.social_import import import_posts
from tests.voice.conftest import PERIOD, START, Voice, make_voice

KEY = b"k" * 32
WEEK_49_ENDS = datetime(2026, 12, 7, tzinfo=UTC)
"""The end of 2026-W49, the week of ``START``: from then on it may be released."""


def _office(voice: Voice, database: Database, tmp_path: Path, **privacy: object) -> PrivacyOffice:
    settings = PrivacySettings(**privacy)  # type: ignore[arg-type]
    vault = Vault(database, [MasterKey.generate()], clock=voice.clock)
    releases = ReleaseBook(database, voice.log, 0.5, 1.0, clock=voice.clock)
    return PrivacyOffice(
        settings,
        ("north", "south"),
        voice.log,
        vault,
        ConsentBook(vault, voice.log),
        releases,
        voice.posts,
        PostReports(database),
    )


@pytest.fixture
def setup(
    database: Database, period_issuer: tuple[Issuer, bytes], tmp_path: Path
) -> tuple[Voice, PrivacyOffice]:
    voice = make_voice(database, period_issuer)
    return voice, _office(voice, database, tmp_path)


def _import(voice: Voice, author: str, n: int, start: int = 0) -> None:
    records = [
        (
            line,
            {
                "id": f"{author}-{line}",
                "created_at": (START + timedelta(hours=line)).isoformat(),
                "author": author,
                "text": f"Bus number {line * 7 + 3} was {['late', 'fine', 'early'][line % 3]}",
                "district": "north",
            },
        )
        for line in range(start, start + n)
    ]
    import_posts(voice.posts, records, KEY)


def test_each_post_carries_its_privacy_unit(setup: tuple[Voice, PrivacyOffice]) -> None:
    voice, _ = setup
    post = voice.posts.submit(Submission("The bins stink", "north"), voice.token()).post
    _import(voice, "@someone", 2)
    tokened = voice.reports.contributions(period=PERIOD)
    assert [r[1:] for r in tokened] == [("north", post.service, post.sentiment)]
    nullifier = Event.from_bytes(voice.log.entry(post.ledger_index)).body["nullifier"]
    assert tokened[0][0] == f"token:{nullifier}"
    imported = voice.reports.contributions(
        period=None, since=START - timedelta(days=1), until=START + timedelta(days=1)
    )
    assert len(imported) == 2 and len({r[0] for r in imported}) == 1
    assert imported[0][0].startswith("author:") and "@someone" not in imported[0][0]
    # retention ends: the author's pseudonym goes with the text; a token's nullifier is public
    voice.clock.advance(days=31)
    voice.posts.purge_expired()
    imported = voice.reports.contributions(
        period=None, since=START - timedelta(days=1), until=START + timedelta(days=1)
    )
    assert imported == []
    assert voice.reports.contributions(period=PERIOD) == tokened


def test_releases_of_both_datasets(setup: tuple[Voice, PrivacyOffice]) -> None:
    voice, office = setup
    for text in ("The bins stink", "Lovely new park", "Buses late again"):
        voice.posts.submit(Submission(text, "south"), voice.token())
    _import(voice, "@someone", 3)
    release = office.release("satisfaction", PERIOD, actor="operator")
    assert len(release.result["cells"]) == 2 * 11
    event = Event.from_bytes(voice.log.entry(release.ledger_index))
    assert event.body["contributionsPerUnit"] == 1 and event.body["dataset"] == "satisfaction"
    window = {"since": START - timedelta(days=1), "until": START + timedelta(days=1)}
    voice.clock.now = WEEK_49_ENDS  # a week is released once it has ended
    imported = office.release("imported", "2026-W49", actor="operator")
    body = Event.from_bytes(voice.log.entry(imported.ledger_index)).body
    assert body["contributionsPerUnit"] == 3 and body["dataset"] == "imported"
    with pytest.raises(MalformedError, match="ISO week its period names"):
        office.release("imported", "2026-W50", actor="operator", **window)
    with pytest.raises(MalformedError, match="token period"):
        office.release("satisfaction", PERIOD, actor="operator", **window)
    with pytest.raises(MalformedError, match="unknown dataset"):
        office.release("everything", PERIOD, actor="operator")


def test_retention_runs_over_the_vault_and_the_posts(setup: tuple[Voice, PrivacyOffice]) -> None:
    voice, office = setup
    voice.posts.submit(Submission("The bins stink", "south"), voice.token())
    ref = office.vault.ref("resident-1")
    office.vault.seal(
        voice.log,
        ref,
        "contact",
        json.dumps({"email": "r@example.org"}).encode(),
        expires=voice.clock() + timedelta(days=5),
        event=lambda s: office.vault.stored_event(s, "test"),
    )
    assert office.retention().to_json() == {"payloads": 0, "postTexts": 0, "scrubbed": 0}
    voice.clock.advance(days=31)
    assert office.retention().to_json() == {"payloads": 1, "postTexts": 1, "scrubbed": 0}
    assert office.retention_rounds == 2


def test_a_posts_table_from_before_privacy_gains_the_unit_column(
    database: Database, period_issuer: tuple[Issuer, bytes]
) -> None:
    voice = make_voice(database, period_issuer)
    voice.posts.submit(Submission("The bins stink", "north"), voice.token())
    migrations.downgrade(database, "0001")
    with database.transaction() as tx:  # the table as it was before privacy
        tx.execute("ALTER TABLE posts DROP COLUMN unit")
        tx.execute("DELETE FROM alembic_version")
    migrations.upgrade(database)  # the baseline revision adds what a late column added
    rows = PostReports(database).contributions(period=PERIOD)
    assert rows == []  # an old post has no unit: left out


def test_a_naive_time_bound_is_refused(setup: tuple[Voice, PrivacyOffice]) -> None:
    voice, _ = setup
    naive = START.replace(tzinfo=None)
    with pytest.raises(MalformedError, match="since must carry a time zone"):
        voice.reports.contributions(period=None, since=naive, until=START)
    with pytest.raises(MalformedError, match="until must carry a time zone"):
        voice.reports.sentiment(until=naive)


def test_imported_posts_are_released_by_iso_week_so_a_window_cannot_be_relabelled(
    setup: tuple[Voice, PrivacyOffice],
) -> None:
    """Attack finding: an imported release's period was a free label over a free window, so the
    same posts could be released under "w1", "w2", "w3"… each from a fresh budget (rho 3.0
    spent against 1.0). Now its period is an ISO week and the week is the window."""
    voice, office = setup
    assert week_window("2026-W49") == (
        datetime(2026, 11, 30, tzinfo=UTC),
        datetime(2026, 12, 7, tzinfo=UTC),
    )
    voice.clock.now = WEEK_49_ENDS
    office.release("imported", "2026-W49", actor="op")
    office.release("imported", "2026-W49", actor="op", since=datetime(2026, 11, 30, tzinfo=UTC),
                   until=datetime(2026, 12, 7, tzinfo=UTC))  # fmt: skip
    with pytest.raises(BudgetExceededError):
        office.release("imported", "2026-W49", actor="op")
    for label in ("w2", "2026-12", "2026-W49b", "2026-W54", "week 49"):
        with pytest.raises(MalformedError):
            office.release("imported", label, actor="op")
    with pytest.raises(MalformedError, match="ISO week its period names"):
        office.release("imported", "2026-W50", actor="op", since=START, until=START)


@pytest.mark.parametrize("dataset", ["imported", "satisfaction"])
def test_a_week_is_released_only_once_it_has_ended(
    setup: tuple[Voice, PrivacyOffice], dataset: str
) -> None:
    """Attack finding: releases of a week not yet over were accepted and spent its budget on
    no data (or part of it); once its posts existed, every release of it was refused. A week
    (an imported period, or a satisfaction period spelled as one) waits for its end, by the
    book's clock; nothing is spent or logged before."""
    voice, office = setup
    voice.posts.submit(Submission("The bins stink", "north"), voice.token())
    _import(voice, "@someone", 3)
    size = voice.log.size
    for week in ("2026-W49", "2026-W50", "2027-W01"):  # this week (START), and later ones
        with pytest.raises(ConflictError, match=f"{week} has not ended: .* from 20"):
            office.release(dataset, week, actor="op")
    assert voice.log.size == size and office.releases.budget() == []
    voice.clock.now = WEEK_49_ENDS - timedelta(microseconds=1)
    with pytest.raises(ConflictError, match="from 2026-12-07T00:00:00Z"):
        office.release(dataset, "2026-W49", actor="op")
    voice.clock.now = WEEK_49_ENDS
    office.release(dataset, "2026-W49", actor="op")
    assert [b["period"] for b in office.releases.budget()] == ["2026-W49"]


@pytest.mark.parametrize("dataset", ["imported", "satisfaction"])
@pytest.mark.parametrize("week", ["9999-W52", "2026-W99", "2025-W53", "0000-W01", "2026-W00"])
def test_a_period_spelled_as_a_week_that_is_not_one_is_refused_before_any_spend(
    setup: tuple[Voice, PrivacyOffice], dataset: str, week: str
) -> None:
    """Attack finding: a satisfaction release of 9999-W52 or 2026-W99 was accepted (budget spent,
    dp.released logged), then broke /insight, the portal and the CLI report for good; an
    imported release of 9999-W52 was a 500. Both are now refused as malformed, before anything
    is read, spent or written."""
    voice, office = setup
    voice.clock.now = WEEK_49_ENDS
    size = voice.log.size
    with pytest.raises(MalformedError, match=week):
        office.release(dataset, week, actor="op")
    assert voice.log.size == size and office.releases.budget() == []


@pytest.mark.parametrize("dataset", ["imported", "satisfaction"])
def test_a_week_before_2000_is_refused_before_any_spend(
    setup: tuple[Voice, PrivacyOffice], dataset: str
) -> None:
    """A real week that has ended, yet before anything ombud holds (a typo of a year)."""
    voice, office = setup
    voice.clock.now = WEEK_49_ENDS
    size = voice.log.size
    with pytest.raises(MalformedError, match="0005-W01 is before 2000"):
        office.release(dataset, "0005-W01", actor="op")
    assert voice.log.size == size and office.releases.budget() == []


def test_a_token_period_not_spelled_as_a_week_is_a_free_label(
    setup: tuple[Voice, PrivacyOffice],
) -> None:
    """A satisfaction period is the issuer's token period: only the issuer knows when "2026-12"
    ends, so such a label is checked for its form only (the budget still binds it)."""
    voice, office = setup
    voice.posts.submit(Submission("The bins stink", "north"), voice.token())
    assert office.release("satisfaction", PERIOD, actor="op").period == PERIOD


def test_a_release_does_not_publish_how_many_posts_it_left_out(
    setup: tuple[Voice, PrivacyOffice],
) -> None:
    """Attack finding: an imported release published ``excludedPosts``, the exact number of the
    week's posts whose unit was purged at retention — one release after retention gave the
    week's exact number of imported posts, with no noise. Nothing counts them publicly now."""
    voice, office = setup
    _import(voice, "@someone", 5)
    week = week_window("2026-W49")
    kept = voice.reports.contributions(period=None, since=week[0], until=week[1])
    voice.clock.advance(days=31)
    voice.posts.purge_expired()
    left_out = voice.reports.contributions(period=None, since=week[0], until=week[1])
    assert kept and left_out == []
    made = office.release("imported", "2026-W49", actor="op")
    published = office.releases.get(made.id).to_json()
    event = Event.from_bytes(voice.log.entry(made.ledger_index))
    assert "excludedPosts" not in published and "excludedPosts" not in made.result
    assert not any("exclud" in key.lower() for key in [*published, *event.body])
