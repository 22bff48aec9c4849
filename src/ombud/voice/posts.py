"""Posts: what residents write, accepted once per token, committed on the ledger, kept for a
while, and counted by their labels.

Threat model: a post must not identify its writer, so it holds text, a district and an optional
service category — never a point location, a name, a handle or an address (refused, not
dropped, so a client learns what it sent wrongly) — and its time is kept to the hour. The
operator must not be able to alter or invent posts unseen, yet the public ledger must not give
away per-post labels, from which anyone could rebuild the exact counts that only differentially
private releases may publish. So each accepted post is a ``post.accepted`` leaf (version 2)
holding only its token period, the token's nullifier (anyone can check no token was spent
twice) and a salted commitment to the post record — text, district, service, sentiment, hour
(DESIGN §4). The resident keeps the post id and the salt as a receipt: with it they can prove
their post is on the log and read its labels (``open_receipt``); without it, only staff can.
The text is deleted when its retention ends (``payload.purged``); labels stay for aggregates.
Flagged posts (coordination, ``ombud.integrity.coordination``) are kept and excluded from
aggregates; their flags name the post by its commitment, never by its labels.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ombud.base64url import b64url, unb64url
from ombud.canonical import canonical_json
from ombud.clock import format_time, from_seconds, to_seconds, utc_now
from ombud.database import Database, Tx
from ombud.districts import is_district
from ombud.errors import MalformedError, NotFoundError
from ombud.events import SALT_SIZE, Event, commit, new_salt
from ombud.ledger.log import Attachment, Log
from ombud.voice.labels import Labels, label_texts
from ombud.voice.redemption import TokenBook, check_open
from ombud.voice.services import CATEGORIES

__all__ = [
    "MAX_TEXT",
    "PERSONAL_FIELDS",
    "POST_COLUMNS",
    "POST_EVENT_VERSION",
    "OpenedReceipt",
    "PendingPost",
    "Post",
    "PostRequest",
    "PostStore",
    "Receipt",
    "Submission",
    "accepted_event",
    "check_district",
    "check_service",
    "hour_of",
    "parse_salt",
    "post_from_row",
    "post_record",
    "refuse_personal",
]

MAX_TEXT = 2000
"""Characters (code points) in a post's text."""
POST_EVENT_VERSION = 2
"""Version of ``post.accepted`` bodies: 2 holds period, nullifier and commitment only. Version
1 (before 2026-12) also held the post id, district, service, sentiment and channel in clear;
entries already in a log stay as they are (the log is append-only)."""
_RECEIPT_DOMAIN = b"ombud post receipt v1\0"
CHANNELS = ("api", "open311", "import")
PERSONAL_FIELDS = {
    "lat": "a point location",
    "long": "a point location",
    "lon": "a point location",
    "latitude": "a point location",
    "longitude": "a point location",
    "location": "a point location",
    "geometry": "a point location",
    "address": "an address",
    "address_string": "an address",
    "name": "a name",
    "first_name": "a name",
    "last_name": "a name",
    "author": "a name or handle",
    "handle": "a handle",
    "username": "a handle",
    "email": "contact details",
    "phone": "contact details",
    "device_id": "a device identifier",
    "account_id": "an account identifier",
    "ip": "an IP address",
    "media_url": "media, which may show people",
}
"""Fields a post must not carry, and what they would reveal (the refusal says it)."""

_POST_ID = re.compile(r"[0-9a-f]{32}")
_PURGE_CHUNK = 500
POST_COLUMNS = (
    "p.id, p.received, p.district, p.period, p.channel, p.service_given, p.service, "
    "p.sentiment, p.scores, p.text, p.expires, p.ledger_index, p.commitment, "
    "f.flagged_check, f.reason, f.released_index, f.evidence, f.evidence_salt"
)


def refuse_personal(fields: Iterable[str]) -> None:
    """Refuse a request that carries personal fields, naming them and what they reveal."""
    found = sorted(f for f in fields if f.lower() in PERSONAL_FIELDS)
    if found:
        what = sorted({PERSONAL_FIELDS[f.lower()] for f in found})
        raise MalformedError(
            f"posts never carry {', '.join(what)} ({', '.join(found)}): ombud keeps a district "
            "id only and stores no contact details; remove these fields"
        )


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise MalformedError("a post's text must be a string")
    stripped = text.strip()
    if not any(unicodedata.category(c)[0] in "LNPS" for c in stripped):
        # Nothing written: blank, or only invisible characters (zero-width spaces, joiners,
        # marks) that strip() keeps; such a post would spend its token on an empty text.
        raise MalformedError("a post's text is empty: no letter, digit, punctuation or symbol")
    if len(stripped) > MAX_TEXT:
        raise MalformedError(f"a post's text is {len(stripped)} characters; at most {MAX_TEXT}")
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in stripped):
        raise MalformedError("a post's text holds control characters")
    return stripped


def check_district(district: object) -> str:
    if not is_district(district):
        raise MalformedError(
            "district must be a district or grid cell id (1-64 letters, digits, . _ -), "
            "never an address or a point"
        )
    return district


def check_service(service: object) -> str | None:
    if service is None:
        return None
    if service not in CATEGORIES:
        raise MalformedError(f"unknown service {service!r}; services are {', '.join(CATEGORIES)}")
    return str(service)


@dataclass(frozen=True)
class Submission:
    """What a resident sends: text, a district, and optionally the service it is about."""

    text: str
    district: str
    service: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", _check_text(self.text))
        check_district(self.district)
        check_service(self.service)


@dataclass(frozen=True)
class Post:
    id: str
    received: datetime
    """Kept to the hour."""
    district: str
    period: str | None
    """The token's period; None for imported (untokened) posts."""
    channel: str
    service_given: str | None
    service: str
    """The resident's category when given, otherwise the classifier's."""
    sentiment: str
    scores: Mapping[str, float]
    text: str | None
    """None once the retention period has passed."""
    expires: datetime
    ledger_index: int
    commitment: bytes
    """The salted commitment its ``post.accepted`` leaf holds."""
    flag: str | None = None
    flag_reason: str | None = None
    flag_released: bool = False
    flag_evidence: Mapping[str, Any] | None = None
    """What the check found (staff only: it names the district and service, and counts)."""
    flag_salt: bytes | None = None
    """Opens the evidence commitment of the ``post.flagged`` leaf with ``flag_evidence``."""

    @property
    def counted(self) -> bool:
        """Whether aggregates count this post (not flagged, or flagged and released)."""
        return self.flag is None or self.flag_released

    def record(self) -> dict[str, Any]:
        """The post record its ledger commitment opens to, with the salt: ``SHA-256(salt ||
        RFC 8785 JSON of this)``. ``text`` is None once retention deleted it; the writer then
        puts their own text back to open the commitment."""
        return {
            "text": self.text,
            "district": self.district,
            "service": self.service,
            "serviceGiven": self.service_given,
            "sentiment": self.sentiment,
            "hour": format_time(self.received),
            "channel": self.channel,
            "period": self.period,
        }

    def to_json(self, *, with_text: bool = False) -> dict[str, Any]:
        """The staff view of the post (``voice:read``), or its writer's (with a receipt)."""
        out: dict[str, Any] = {
            "id": self.id,
            "received": format_time(self.received),
            "district": self.district,
            "period": self.period,
            "tokened": self.period is not None,
            "channel": self.channel,
            "service": self.service,
            "serviceGiven": self.service_given,
            "sentiment": self.sentiment,
            "scores": dict(self.scores),
            "expires": format_time(self.expires),
            "ledgerIndex": self.ledger_index,
            "commitment": self.commitment.hex(),
            "flag": None
            if self.flag is None
            else {
                "check": self.flag,
                "reason": self.flag_reason,
                "released": self.flag_released,
                "evidence": self.flag_evidence,
                "evidenceSalt": None if self.flag_salt is None else self.flag_salt.hex(),
            },
            "textPurged": self.text is None,
        }
        if with_text:
            out["text"] = self.text
        return out


def accepted_event(
    received: datetime, period: str | None, nullifier: bytes | None, commitment: bytes
) -> bytes:
    """The ``post.accepted`` ledger entry (version 2) of a post received in the hour
    ``received``: the one builder of that entry, for residents' posts and for cover leaves
    (``ombud.voice.cover``) alike, so the two cannot come to differ in shape.

    Only what accountability needs is public: which period's token paid for the post, that
    token's nullifier (no token spent twice) and the commitment. The labels stay off the
    ledger: the public figures about residents are the DP releases."""
    if nullifier is not None and len(nullifier) != 32:
        raise MalformedError("a post's nullifier is 32 bytes (SHA-256 of its token)")
    if len(commitment) != 32:
        raise MalformedError("a post's commitment is 32 bytes (SHA-256)")
    return Event(
        "post.accepted",
        received,
        "voice",
        {
            "v": POST_EVENT_VERSION,
            "period": period,
            "nullifier": None if nullifier is None else nullifier.hex(),
            "commitment": commitment.hex(),
        },
    ).to_bytes()


def post_record(post: Post) -> bytes:
    """The canonical bytes (RFC 8785) of the record ``post``'s commitment covers."""
    return canonical_json(post.record(), "a post record")


def _receipt_digest(salt: bytes) -> bytes:
    """What the store keeps to recognise a receipt: a hash of its salt, never the salt itself
    once the text is gone (a kept salt would let anyone holding the store test guesses of a
    deleted text against the commitment)."""
    return hashlib.sha256(_RECEIPT_DOMAIN + salt).digest()


@dataclass(frozen=True)
class Receipt:
    """What the writer of a post keeps: the post id and the salt of its commitment. With both
    they prove the post is on the log and read its labels (``PostStore.open_receipt``)."""

    post: Post
    salt: bytes = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"post": self.post.id, "salt": b64url(self.salt)}


@dataclass(frozen=True)
class OpenedReceipt:
    """A post as its receipt opens it: the record, which with the salt gives the commitment in
    the leaf at ``post.ledger_index``."""

    post: Post

    def to_json(self) -> dict[str, Any]:
        p = self.post
        return {
            "post": p.id,
            "ledgerIndex": p.ledger_index,
            "commitment": p.commitment.hex(),
            "record": p.record(),
            "textPurged": p.text is None,
            "scores": dict(p.scores),
            "expires": format_time(p.expires),
            "counted": p.counted,
            "flag": None if p.flag is None else {"check": p.flag, "released": p.flag_released},
            "howToVerify": (
                "SHA-256(salt || RFC 8785 JSON of record), with the salt of your receipt "
                "(base64url-decoded), is the commitment in the post.accepted event at "
                "ledgerIndex; put your text back into record.text if it was purged."
            ),
        }


def parse_salt(text: object) -> bytes:
    """A receipt's salt: base64url (padding optional) of 32 bytes."""
    return unb64url(text, "a receipt's salt", SALT_SIZE, most=48, padded=True)


def hour_of(at: datetime) -> datetime:
    """``at`` kept to the hour (how a post's time is stored)."""
    if at.tzinfo is None:
        raise MalformedError("times must be timezone-aware")
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class PostRequest:
    """One post to accept: what the resident sent, the token paying for it, the channel, and
    what to store with it in the same transaction."""

    submission: Submission
    token: bytes = field(repr=False)
    channel: str = "api"
    attach: Attachment | None = None


@dataclass(frozen=True)
class PendingPost:
    """A post ready to be appended: its row, the salt and commitment, and its ledger entry."""

    post: Post
    salt: bytes
    commitment: bytes
    event: bytes
    unit: str
    """The privacy unit differentially private releases bound (``ombud.privacy.dp``): the
    token's nullifier, or the keyed pseudonym of an imported post's author."""


@dataclass
class PostStore:
    """Posts in the deployment database, written through the ledger (their flags are
    ``ombud.voice.flags``', staff reports ``ombud.voice.reports``')."""

    db: Database
    log: Log
    book: TokenBook
    retention_days: int = 30
    clock: Callable[[], datetime] = utc_now
    random_bytes: Callable[[int], bytes] = os.urandom
    label: Callable[[Sequence[str]], list[Labels]] = label_texts
    districts: frozenset[str] = frozenset()
    """The public list of districts (``voice.districts``): where it is set, a post about any
    other district is refused before its token is spent, since no release would count it."""
    purged_total: int = field(default=0, init=False)
    """Commitments this process named in ``payload.purged`` events (``/metrics``, which is
    public): posts' and cover leaves' together, as the events name them. A count of the posts
    alone would give away, retention period after retention period, the exact number of posts
    that the cover leaves hide."""

    # -- accepting --------------------------------------------------------------------------

    def submit(
        self,
        submission: Submission,
        token: bytes,
        *,
        channel: str = "api",
        attach: Attachment | None = None,
    ) -> Receipt:
        """Accept a resident's post paid for by ``token`` (one post per token); returns the
        post with its receipt, which only its writer receives.

        The token is verified against its period's published issuer key before anything is
        written; its nullifier is recorded in the same transaction as the post, so a token
        already spent is refused (``ReplayError``) and nothing is stored. ``attach`` adds
        entries and rows of its own to that transaction (the contact details a resident gave
        for follow-up, sealed in the vault): all are stored, or none.
        """
        if channel not in ("api", "open311"):
            raise MalformedError(f"unknown channel {channel!r}")
        self.check_known(submission.district)
        now = self.clock()
        period = self.book.period_of(token)
        spent = self.book.check(token, period, now)
        labels = self.label([submission.text])[0]
        received = hour_of(now)
        pending = self.prepare(
            submission, labels, received, period=period, channel=channel, nullifier=spent
        )

        build, record = self._job(pending, spent, period, attach)
        index = self.log.append_with(build, record)
        return Receipt(_with_index(pending.post, index), pending.salt)

    def submit_many(self, requests: Sequence[PostRequest]) -> list[Receipt | Exception]:
        """Accept many residents' posts at once (group commit): each is checked and stored as
        ``submit`` would, the texts are labelled in one model call, and all are appended in
        one durable transaction. A post that is refused (a bad or spent token, a failing
        attachment) changes nothing and gets its error in its place; the others are stored."""
        outcomes: list[Receipt | Exception | None] = [None] * len(requests)
        checked: list[tuple[int, PostRequest, str, bytes]] = []
        now = self.clock()
        for position, request in enumerate(requests):
            try:
                if request.channel not in ("api", "open311"):
                    raise MalformedError(f"unknown channel {request.channel!r}")
                self.check_known(request.submission.district)
                period = self.book.period_of(request.token)
                spent = self.book.check(request.token, period, now)
                checked.append((position, request, period, spent))
            except Exception as exc:  # this post only
                outcomes[position] = exc
        if checked:
            labels = self.label([request.submission.text for _, request, _, _ in checked])
            received = hour_of(now)
            jobs = []
            pendings = []
            for (position, request, period, spent), label in zip(checked, labels, strict=True):
                pending = self.prepare(
                    request.submission,
                    label,
                    received,
                    period=period,
                    channel=request.channel,
                    nullifier=spent,
                )
                pendings.append((position, pending))
                jobs.append(self._job(pending, spent, period, request.attach))
            for (position, pending), outcome in zip(
                pendings, self.log.append_group(jobs), strict=True
            ):
                outcomes[position] = (
                    outcome
                    if isinstance(outcome, Exception)
                    else Receipt(_with_index(pending.post, outcome), pending.salt)
                )
        return [o for o in outcomes if o is not None]

    def check_known(self, district: str) -> None:
        """``MalformedError`` naming the known districts when ``district`` is not one of them
        (where the deployment lists its districts)."""
        if self.districts and district not in self.districts:
            known = ", ".join(sorted(self.districts)[:20])
            more = "…" if len(self.districts) > 20 else ""
            raise MalformedError(
                f"district {district!r} is not one of the city's districts: {known}{more}"
            )

    def _job(
        self, pending: PendingPost, spent: bytes, period: str, attach: Attachment | None
    ) -> tuple[Callable[[Tx], list[bytes]], Callable[[Tx, int], None]]:
        """The ledger job of one post: spend its token, append its entry (and what ``attach``
        adds), write its row."""
        attached: list[Callable[[Tx, int], None]] = []

        def build(tx: Tx) -> list[bytes]:
            check_open(period, self.clock())  # again as it commits: the week may have ended
            TokenBook.spend(tx, spent, period)
            if attach is None:
                return [pending.event]
            entries, record_attached = attach(tx, pending.post)
            attached.append(record_attached)
            return [pending.event, *entries]

        def record(tx: Tx, index: int) -> None:
            self.insert(tx, pending, None, index)
            for record_attached in attached:
                record_attached(tx, index + 1)

        return build, record

    def prepare(
        self,
        submission: Submission,
        labels: Labels,
        received: datetime,
        *,
        period: str | None,
        channel: str,
        nullifier: bytes | None,
        author: str | None = None,
    ) -> PendingPost:
        salt = new_salt(self.random_bytes)
        expires = received + timedelta(days=self.retention_days)
        service = submission.service or labels.service
        uncommitted = Post(
            id=self.random_bytes(16).hex(),
            received=received,
            district=submission.district,
            period=period,
            channel=channel,
            service_given=submission.service,
            service=service,
            sentiment=labels.sentiment,
            scores={k: round(v, 4) for k, v in labels.scores.items()},
            text=submission.text,
            expires=expires,
            ledger_index=-1,
            commitment=b"",
        )
        commitment = commit(post_record(uncommitted), salt)
        post = Post(**{**uncommitted.__dict__, "commitment": commitment})
        event = accepted_event(received, period, nullifier, commitment)
        unit = f"token:{nullifier.hex()}" if nullifier is not None else f"author:{author}"
        return PendingPost(post, salt, commitment, event, unit)

    @staticmethod
    def insert(tx: Tx, pending: PendingPost, source_ref: bytes | None, index: int) -> None:
        post = pending.post
        tx.execute(
            "INSERT INTO posts (id, received, district, period, channel, service_given, service,"
            " sentiment, scores, text, salt, commitment, expires, source_ref, ledger_index, unit,"
            " receipt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                post.id,
                to_seconds(post.received),
                post.district,
                post.period,
                post.channel,
                post.service_given,
                post.service,
                post.sentiment,
                json.dumps(dict(post.scores), sort_keys=True),
                post.text,
                pending.salt,
                pending.commitment,
                to_seconds(post.expires),
                source_ref,
                index,
                pending.unit,
                _receipt_digest(pending.salt),
            ),
        )

    # -- retention ----------------------------------------------------------------------------

    def purge_expired(self) -> int:
        """Delete the text (and its salt) of every post whose retention has ended; the labels
        stay. One ``payload.purged`` event per chunk names the posts by their commitments,
        mixed (in commitment order) with the cover leaves (``ombud.voice.cover``) that expire
        with them: were cover leaves never named, anyone could count the real posts of an hour
        once its retention ended. Returns how many post texts were purged."""
        now = self.clock()
        purged = 0
        while True:
            rows = self.db.read(
                "SELECT id, nullifier, commitment FROM ("
                " SELECT id, NULL AS nullifier, commitment FROM posts"
                "  WHERE expires <= ? AND text IS NOT NULL"
                " UNION ALL"
                " SELECT NULL AS id, nullifier, commitment FROM cover_leaves"
                "  WHERE expires <= ? AND ledger_index IS NOT NULL AND purged IS NULL"
                ") AS due ORDER BY commitment LIMIT ?",
                (to_seconds(now), to_seconds(now), _PURGE_CHUNK),
            )
            if not rows:
                return purged
            ids = [r[0] for r in rows if r[0] is not None]
            covers = [bytes(r[1]) for r in rows if r[0] is None]
            # The posts are named by their commitments: a post id is its writer's receipt.
            event = Event(
                "payload.purged",
                now,
                "retention",
                {
                    "v": 2,
                    "what": "post.text",
                    "reason": "retention ended",
                    "commitments": sorted(bytes(r[2]).hex() for r in rows),
                },
            ).to_bytes()

            def build(tx: Tx, event: bytes = event) -> list[bytes]:
                return [event]

            def record(
                tx: Tx, index: int, ids: list[str] = ids, covers: list[bytes] = covers
            ) -> None:
                if ids:
                    marks = ", ".join("?" * len(ids))
                    tx.execute(
                        "UPDATE posts SET text = NULL, salt = NULL,"
                        " unit = CASE WHEN period IS NULL THEN NULL ELSE unit END"
                        f" WHERE id IN ({marks})",
                        tuple(ids),
                    )
                if covers:
                    marks = ", ".join("?" * len(covers))
                    tx.execute(
                        f"UPDATE cover_leaves SET purged = ? WHERE nullifier IN ({marks})",
                        (index, *covers),
                    )

            self.log.append_with(build, record)
            purged += len(ids)
            self.purged_total += len(rows)

    # -- reading ------------------------------------------------------------------------------

    def get(self, post_id: str) -> Post:
        if not isinstance(post_id, str) or not _POST_ID.fullmatch(post_id):
            raise MalformedError("a post id is 32 lower-case hex digits")
        rows = self.db.read(
            f"SELECT {POST_COLUMNS} FROM posts p LEFT JOIN post_flags f ON f.post = p.id"
            " WHERE p.id = ?",
            (post_id,),
        )
        if not rows:
            raise NotFoundError(f"no post {post_id}")
        return post_from_row(rows[0])

    def open_receipt(self, post_id: str, salt: bytes) -> OpenedReceipt:
        """The post a writer's receipt (post id and salt) names. An unknown id and a wrong salt
        are refused alike (``NotFoundError``), so a guessed id tells nothing; the salt is
        compared, in constant time, with the digest kept at acceptance. Posts accepted before
        receipts existed (version 1 leaves) have none."""
        if len(salt) != SALT_SIZE:
            raise MalformedError("a receipt's salt is 32 bytes")
        if not isinstance(post_id, str) or not _POST_ID.fullmatch(post_id):
            raise MalformedError("a post id is 32 lower-case hex digits")
        rows = self.db.read("SELECT receipt FROM posts WHERE id = ?", (post_id,))
        kept = bytes(rows[0][0]) if rows and rows[0][0] is not None else b"\0" * 32
        if not hmac.compare_digest(kept, _receipt_digest(salt)) or not rows:
            raise NotFoundError("no post matches this receipt (its id and salt)")
        return OpenedReceipt(self.get(post_id))


def _with_index(post: Post, index: int) -> Post:
    return Post(**{**post.__dict__, "ledger_index": index})


def post_from_row(row: Sequence[Any]) -> Post:
    return Post(
        id=row[0],
        received=from_seconds(int(row[1])),
        district=row[2],
        period=row[3],
        channel=row[4],
        service_given=row[5],
        service=row[6],
        sentiment=row[7],
        scores=json.loads(row[8]),
        text=row[9],
        expires=from_seconds(int(row[10])),
        ledger_index=int(row[11]),
        commitment=bytes(row[12]),
        flag=row[13],
        flag_reason=row[14],
        flag_released=row[15] is not None,
        flag_evidence=None if row[16] is None else json.loads(row[16]),
        flag_salt=None if row[17] is None else bytes(row[17]),
    )
