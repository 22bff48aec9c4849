"""Posts: one per token, committed on the ledger, opened by their receipt, text kept for the
retention period only (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import timedelta
from pathlib import Path

import pytest

from ombud import migrations
from ombud.canonical import canonical_json
from ombud.clock import iso_week, week_window
from ombud.errors import (
    ExpiredError,
    ForbiddenError,
    MalformedError,
    NotFoundError,
    ReplayError,
    VerificationError,
)
from ombud.events import Event, verify_commitment
from ombud.voice.issuer import Issuer
from ombud.voice.posts import (
    MAX_TEXT,
    PostRequest,
    Submission,
    post_record,
    refuse_personal,
)
from ombud.voice.tokens import finalize_token, load_public_key, period_challenge, request_token

from .conftest import ORIGIN, PERIOD, START, Voice

COMPLAINT = "The bins on our street were not collected again this week. Terrible service."


def test_a_post_is_accepted_once_per_token_and_committed_on_the_ledger(voice: Voice) -> None:
    token = voice.token()
    receipt = voice.posts.submit(Submission(COMPLAINT, "harbour"), token)
    post = receipt.post
    assert post.period == PERIOD and post.district == "harbour"
    assert post.sentiment == "negative" and post.service == "waste"
    assert post.service_given is None
    assert post.received == START.replace(minute=0, second=0)  # kept to the hour
    event = Event.from_bytes(voice.log.entry(post.ledger_index))
    assert event.kind == "post.accepted" and event.at == post.received
    body = dict(event.body)
    # Only the period, the token's nullifier and the commitment are public (version 2).
    assert body == {
        "v": 2,
        "period": PERIOD,
        "nullifier": body["nullifier"],
        "commitment": post.commitment.hex(),
    }
    assert len(bytes.fromhex(body["nullifier"])) == 32
    record = post_record(post)
    assert json.loads(record)["text"] == COMPLAINT
    verify_commitment(bytes.fromhex(body["commitment"]), record, receipt.salt)
    salt = voice.posts.db.read("SELECT salt FROM posts WHERE id = ?", (post.id,))[0][0]
    assert bytes(salt) == receipt.salt

    size = voice.log.size
    with pytest.raises(ReplayError, match="already used"):  # double spend
        voice.posts.submit(Submission("Another try with the same token", "harbour"), token)
    assert voice.log.size == size
    assert [p.id for p in voice.reports.list()] == [post.id]
    assert voice.posts.book.spent(PERIOD) == 1


def test_a_post_about_a_district_the_city_does_not_list_is_refused_before_its_token(
    voice: Voice,
) -> None:
    """Where ``voice.districts`` is set, a post about any other district ("North" for
    "north") would count in no release: it is refused, naming the districts, and its token
    stays unspent (it was accepted and the resident's one post of the period was lost)."""
    voice.posts.districts = frozenset({"north", "harbour"})
    token = voice.token()
    size = voice.log.size
    for wrong in ("North", "atlantis"):
        with pytest.raises(MalformedError, match="not one of the city's districts: harbour, north"):
            voice.posts.submit(Submission(COMPLAINT, wrong), token)
    (refused,) = voice.posts.submit_many([PostRequest(Submission(COMPLAINT, "0.."), token)])
    assert isinstance(refused, MalformedError)
    assert voice.log.size == size
    assert voice.posts.submit(Submission(COMPLAINT, "north"), token).post.district == "north"


def test_a_receipt_opens_its_post_even_after_retention(voice: Voice) -> None:
    receipt = voice.posts.submit(Submission(COMPLAINT, "harbour", "waste"), voice.token())
    opened = voice.posts.open_receipt(receipt.post.id, receipt.salt).to_json()
    assert opened["record"] == json.loads(post_record(receipt.post))
    assert opened["commitment"] == receipt.post.commitment.hex()
    with pytest.raises(NotFoundError, match="no post matches"):
        voice.posts.open_receipt(receipt.post.id, bytes(32))
    with pytest.raises(NotFoundError, match="no post matches"):
        voice.posts.open_receipt("f" * 32, receipt.salt)
    with pytest.raises(MalformedError):
        voice.posts.open_receipt(receipt.post.id, b"short")
    voice.clock.advance(days=31)
    assert voice.posts.purge_expired() == 1
    after = voice.posts.open_receipt(receipt.post.id, receipt.salt).to_json()
    assert after["textPurged"] and after["record"]["text"] is None
    # The writer puts their text back and the commitment still opens.
    record = {**after["record"], "text": COMPLAINT}
    verify_commitment(receipt.post.commitment, canonical_json(record), receipt.salt)
    # What the store keeps of the receipt cannot test guesses of the deleted text.
    kept = voice.posts.db.read("SELECT salt, receipt FROM posts WHERE id = ?", (receipt.post.id,))
    assert kept[0][0] is None and receipt.salt not in bytes(kept[0][1])


def test_a_resident_chosen_service_is_kept_beside_the_classifier(voice: Voice) -> None:
    post = voice.posts.submit(Submission(COMPLAINT, "north", "roads"), voice.token()).post
    assert post.service == "roads" and post.service_given == "roads"


def test_tokens_of_another_platform_or_unpublished_period_are_refused(voice: Voice) -> None:
    public = load_public_key(voice.posts.book.key(PERIOD).key)
    elsewhere = request_token(public, period_challenge(voice.issuer.name, PERIOD, "else.example"))
    stray = finalize_token(
        public,
        elsewhere,
        voice.issuer.issue(PERIOD, f"stray-{secrets.token_hex(8)}", elsewhere.request),
    )
    with pytest.raises(VerificationError, match="names no published issuer key"):
        voice.posts.submit(Submission(COMPLAINT, "north"), stray.to_bytes())
    forged = bytearray(voice.token())
    forged[-1] ^= 1
    with pytest.raises(VerificationError):
        voice.posts.submit(Submission(COMPLAINT, "north"), bytes(forged))
    with pytest.raises(MalformedError):
        voice.posts.submit(Submission(COMPLAINT, "north"), b"\x00\x02 too short")
    assert voice.reports.list() == []


def test_a_token_of_a_week_that_ended_is_refused_and_stays_unspent(
    voice: Voice, tmp_path: Path
) -> None:
    week = iso_week(voice.clock())
    issuer = Issuer.init(tmp_path / "issuer", "id.city.example")  # the session's has PERIOD
    key = issuer.create_period(week)
    voice.posts.book.publish(voice.log, week, issuer.name, key, actor="o", clock=voice.clock)
    public = load_public_key(key)
    pending = request_token(public, period_challenge(issuer.name, week, ORIGIN))
    token = finalize_token(public, pending, issuer.issue(week, "r-w", pending.request))
    size = voice.log.size
    voice.clock.now = week_window(week)[1]
    with pytest.raises(ExpiredError, match="when that week ended"):
        voice.posts.submit(Submission(COMPLAINT, "north"), token.to_bytes())
    assert voice.log.size == size and voice.posts.book.spent(week) == 0
    # Checked in time, committed after the week ended (labelling, a batch): refused as it
    # commits, or a release made at the week's end would not count it.
    end = week_window(week)[1]
    times = iter([end - timedelta(microseconds=1), end])
    voice.posts.clock = lambda: next(times)
    with pytest.raises(ExpiredError, match="when that week ended"):
        voice.posts.submit(Submission(COMPLAINT, "north"), token.to_bytes())
    assert voice.log.size == size and voice.posts.book.spent(week) == 0
    voice.posts.clock = voice.clock
    voice.clock.advance(microseconds=-1)
    assert voice.posts.submit(Submission(COMPLAINT, "north"), token.to_bytes()).post.period == week


def test_a_token_of_a_week_that_has_not_begun_is_refused_and_stays_unspent(
    voice: Voice, tmp_path: Path
) -> None:
    """README: a week's tokens "pay only during that week (`403` before or after, the token
    left unspent)"; the test above holds "after", this one "before"."""
    week = iso_week(voice.clock() + timedelta(days=7))
    issuer = Issuer.init(tmp_path / "issuer", "id.city.example")
    key = issuer.create_period(week)
    voice.posts.book.publish(voice.log, week, issuer.name, key, actor="o", clock=voice.clock)
    public = load_public_key(key)
    pending = request_token(public, period_challenge(issuer.name, week, ORIGIN))
    token = finalize_token(public, pending, issuer.issue(week, "r-early", pending.request))
    size = voice.log.size
    with pytest.raises(ExpiredError) as refused:
        voice.posts.submit(Submission(COMPLAINT, "north"), token.to_bytes())
    assert isinstance(refused.value, ForbiddenError) and week in str(refused.value)  # 403
    assert voice.log.size == size and voice.posts.book.spent(week) == 0
    voice.clock.now = week_window(week)[0]  # the week begins: the same token pays
    assert voice.posts.submit(Submission(COMPLAINT, "north"), token.to_bytes()).post.period == week


@pytest.mark.parametrize(
    ("text", "district", "service", "message"),
    [
        ("", "north", None, "empty"),
        ("   \n ", "north", None, "empty"),
        ("\u200b\u200b\u2060", "north", None, "empty"),  # invisible: once a spent token
        ("\u0301" * 5, "north", None, "empty"),  # combining marks on nothing
        ("x" * (MAX_TEXT + 1), "north", None, "at most 2000"),
        ("bell \x07 character", "north", None, "control"),
        ("fine", "48.85,2.35", None, "never an address or a point"),
        ("fine", "10 Downing Street", None, "never an address or a point"),
        ("fine", "north", "potholes", "unknown service"),
    ],
)
def test_submissions_are_validated(
    text: str, district: str, service: str | None, message: str
) -> None:
    with pytest.raises(MalformedError, match=message):
        Submission(text, district, service)


def test_personal_fields_are_refused_by_name() -> None:
    with pytest.raises(MalformedError, match=r"a point location.*\(lat, long\)"):
        refuse_personal(["text", "lat", "long"])
    with pytest.raises(MalformedError, match="contact details"):
        refuse_personal(["email"])
    refuse_personal(["text", "district", "service"])


def test_text_is_deleted_when_retention_ends_and_labels_stay(voice: Voice) -> None:
    post = voice.posts.submit(Submission(COMPLAINT, "harbour"), voice.token()).post
    before = voice.reports.sentiment(district="harbour").to_json()
    voice.clock.advance(days=29)
    assert voice.posts.purge_expired() == 0
    voice.clock.advance(days=1, hours=1)
    assert voice.posts.purge_expired() == 1
    assert voice.posts.purge_expired() == 0
    kept = voice.posts.get(post.id)
    assert kept.text is None and kept.sentiment == "negative" and kept.service == "waste"
    assert voice.posts.db.read("SELECT salt FROM posts WHERE id = ?", (post.id,))[0][0] is None
    assert voice.reports.sentiment(district="harbour").to_json() == before
    purged = Event.from_bytes(voice.log.entry(voice.log.size - 1))
    # The purge names the post by its commitment: a post id is half its writer's receipt.
    assert purged.kind == "payload.purged" and purged.body["v"] == 2
    assert purged.body["commitments"] == [post.commitment.hex()]


def test_post_ids_are_checked(voice: Voice) -> None:
    with pytest.raises(MalformedError, match="32 lower-case hex"):
        voice.posts.get("../etc/passwd")
    with pytest.raises(NotFoundError):
        voice.posts.get("0" * 32)


def test_tokens_travel_as_base64url_in_a_private_token_header(voice: Voice) -> None:
    from ombud.api.voice import private_token

    token = voice.token()
    header = 'PrivateToken token="' + base64.urlsafe_b64encode(token).decode().rstrip("=") + '"'
    assert private_token(header) == token
    with pytest.raises(MalformedError):
        private_token("Bearer abc")


def test_a_posts_table_from_before_receipts_gains_the_receipt_column(voice: Voice) -> None:
    old = voice.posts.submit(Submission(COMPLAINT, "north"), voice.token())
    migrations.downgrade(voice.posts.db, "0001")
    with voice.posts.db.transaction() as tx:  # the table as it was before receipts
        tx.execute("ALTER TABLE posts DROP COLUMN receipt")
        tx.execute("DELETE FROM alembic_version")
    migrations.upgrade(voice.posts.db)  # the baseline revision adds what a late column added
    reopened = type(voice.posts)(voice.posts.db, voice.log, voice.posts.book, 30, voice.clock)
    with pytest.raises(NotFoundError):  # a post from before receipts has none
        reopened.open_receipt(old.post.id, old.salt)
    new = reopened.submit(Submission(COMPLAINT, "north"), voice.token())
    assert reopened.open_receipt(new.post.id, new.salt).post.id == new.post.id
