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

import base64
import binascii
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

from ombud.canonical import canonical_json
from ombud.clock import format_time
from ombud.database import Database, Tx
from ombud.errors import MalformedError, NotFoundError
from ombud.events import SALT_SIZE, Event, commit, new_salt
from ombud.integrity.coordination import CoordinationSettings, PostFacts, detect
from ombud.ledger.log import Attachment, Log
from ombud.voice.labels import Labels, label_texts
from ombud.voice.normalise import normalise
from ombud.voice.redemption import TokenBook
from ombud.voice.services import CATEGORIES

__all__ = [
    "MAX_TEXT",
    "PERSONAL_FIELDS",
    "POST_EVENT_VERSION",
    "Flag",
    "ImportReport",
    "OpenedReceipt",
    "Post",
    "PostStore",
    "Receipt",
    "SentimentSummary",
    "Submission",
    "check_district",
    "parse_salt",
    "post_record",
    "post_store_for",
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

_AREA = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_POST_ID = re.compile(r"[0-9a-f]{32}")
_PURGE_CHUNK = 500
_COLUMNS = (
    "p.id, p.received, p.district, p.period, p.channel, p.service_given, p.service, "
    "p.sentiment, p.scores, p.text, p.expires, p.ledger_index, p.commitment, "
    "f.flagged_check, f.reason, f.released_index, f.evidence, f.evidence_salt"
)
PUBLIC_CHECKS = {
    "near_duplicate": "one of a cluster of near-identical posts; the cluster's earliest is kept",
    "rate": "repeats an earlier post during an unusual surge of posts",
    "author": "an imported author's posts beyond the daily bound",
}
"""What each coordination check means, as the public flag list says it: the detailed reasons
(counts per district and service, the cluster's members) are for staff."""


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
    if not stripped:
        raise MalformedError("a post's text is empty")
    if len(stripped) > MAX_TEXT:
        raise MalformedError(f"a post's text is {len(stripped)} characters; at most {MAX_TEXT}")
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in stripped):
        raise MalformedError("a post's text holds control characters")
    return stripped


def check_district(district: object) -> str:
    if not isinstance(district, str) or not _AREA.fullmatch(district):
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
        return {"post": self.post.id, "salt": _b64url(self.salt)}


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


@dataclass(frozen=True)
class Flag:
    """A flagged post as the public sees it: which leaf, which check, when flagged and whether
    released — never the post's district, service, sentiment or text."""

    commitment: bytes
    post_index: int
    check: str
    flagged_index: int
    released_index: int | None
    released_reason: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "commitment": self.commitment.hex(),
            "postIndex": self.post_index,
            "check": self.check,
            "meaning": PUBLIC_CHECKS.get(self.check, self.check),
            "flaggedIndex": self.flagged_index,
            "released": self.released_index is not None,
            "releasedIndex": self.released_index,
            "releaseReason": self.released_reason,
        }


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def parse_salt(text: object) -> bytes:
    """A receipt's salt: base64url (padding optional) of 32 bytes."""
    if not isinstance(text, str) or not 40 <= len(text) <= 48 or not text.isascii():
        raise MalformedError("a receipt's salt is 32 bytes in base64url")
    try:
        salt = base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise MalformedError("a receipt's salt is 32 bytes in base64url") from None
    if len(salt) != SALT_SIZE:
        raise MalformedError("a receipt's salt is 32 bytes in base64url")
    return salt


@dataclass(frozen=True)
class ImportReport:
    accepted: int = 0
    duplicates: int = 0
    flagged: int = 0
    refused: tuple[tuple[int, str], ...] = ()
    """(line number, reason) of each record refused."""

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "flagged": self.flagged,
            "refused": [{"line": n, "reason": r} for n, r in self.refused],
        }


@dataclass(frozen=True)
class SentimentSummary:
    """Counts of counted posts by sentiment, tokened and imported apart, flagged ones left out."""

    district: str | None
    service: str | None
    tokened: Mapping[str, int]
    imported: Mapping[str, int]
    flagged_excluded: int

    @staticmethod
    def _side(counts: Mapping[str, int]) -> dict[str, Any]:
        n = sum(counts.values())
        return {
            "posts": n,
            **dict(counts),
            "net": None if n == 0 else round((counts["positive"] - counts["negative"]) / n, 4),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "district": self.district,
            "service": self.service,
            "tokened": self._side(self.tokened),
            "imported": self._side(self.imported),
            "flaggedExcluded": self.flagged_excluded,
        }


def _hour(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise MalformedError("times must be timezone-aware")
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


def _bound(at: datetime, name: str) -> int:
    """A query's time bound: a naive time would be read in the host's zone, so it is refused."""
    if at.tzinfo is None:
        raise MalformedError(f"{name} must carry a time zone (e.g. Z)")
    return _epoch(at)


def _from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True)
class _Pending:
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
    """Posts and their flags in the deployment database, written through the ledger."""

    db: Database
    log: Log
    book: TokenBook
    retention_days: int = 30
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    random_bytes: Callable[[int], bytes] = os.urandom
    label: Callable[[Sequence[str]], list[Labels]] = label_texts
    screen_rounds: int = field(default=0, init=False)
    """Screening passes completed by this process (``/metrics``)."""
    flagged_total: int = field(default=0, init=False)
    purged_total: int = field(default=0, init=False)
    _screened_up_to: int = field(default=-1, init=False)
    """The highest post ledger index the last screening pass saw: with nothing newer, a pass
    would find nothing new, so it is skipped."""

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
        period = self.book.period_of(token)
        spent = self.book.check(token, period)
        labels = self.label([submission.text])[0]
        received = _hour(self.clock())
        pending = self._prepare(
            submission, labels, received, period=period, channel=channel, nullifier=spent
        )

        attached: list[Callable[[Tx, int], None]] = []

        def build(tx: Tx) -> list[bytes]:
            TokenBook.spend(tx, spent, period)
            if attach is None:
                return [pending.event]
            entries, record_attached = attach(tx, pending.post)
            attached.append(record_attached)
            return [pending.event, *entries]

        def record(tx: Tx, index: int) -> None:
            self._insert(tx, pending, None, index)
            for record_attached in attached:
                record_attached(tx, index + 1)

        index = self.log.append_with(build, record)
        return Receipt(_with_index(pending.post, index), pending.salt)

    def _prepare(
        self,
        submission: Submission,
        labels: Labels,
        received: datetime,
        *,
        period: str | None,
        channel: str,
        nullifier: bytes | None,
        author: str | None = None,
    ) -> _Pending:
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
        # Only what accountability needs is public: which period's token paid for the post,
        # that token's nullifier (no token spent twice) and the commitment. The labels stay
        # off the ledger: the public figures about residents are the DP releases.
        event = Event(
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
        unit = f"token:{nullifier.hex()}" if nullifier is not None else f"author:{author}"
        return _Pending(post, salt, commitment, event, unit)

    @staticmethod
    def _insert(tx: Tx, pending: _Pending, source_ref: bytes | None, index: int) -> None:
        post = pending.post
        tx.execute(
            "INSERT INTO posts (id, received, district, period, channel, service_given, service,"
            " sentiment, scores, text, salt, commitment, expires, source_ref, ledger_index, unit,"
            " receipt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                post.id,
                _epoch(post.received),
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
                _epoch(post.expires),
                source_ref,
                index,
                pending.unit,
                _receipt_digest(pending.salt),
            ),
        )

    # -- importing public posts ---------------------------------------------------------------

    def import_posts(
        self,
        records: Iterable[tuple[int, Mapping[str, Any]]],
        author_key: bytes,
        *,
        coordination: CoordinationSettings | None = None,
        default_district: str | None = None,
    ) -> ImportReport:
        """Import public social-media posts: ``(line number, {"id","created_at","author",
        "text","lang"?,"district"?})``.

        Each author is replaced by ``HMAC-SHA256(author_key, author)``, used within this
        import to bound how many posts one author contributes (the rest are flagged
        ``author``) and kept with the post, as the privacy unit whose contribution
        differentially private releases bound, only until the post's retention ends (the
        handle itself is never stored); a record already imported (same id, keyed likewise) or
        a repeat of one author's text is a duplicate. Imported posts are untokened: aggregates
        report them apart from residents' tokened posts.
        """
        if len(author_key) < 32:
            raise MalformedError("the author key must be at least 32 bytes")
        settings = coordination or CoordinationSettings()
        refused: list[tuple[int, str]] = []
        parsed: list[tuple[Submission, datetime, bytes, str]] = []
        seen: set[bytes] = set()
        duplicates = 0
        for line, record in records:
            try:
                submission, created, ref, author = _parse_import(
                    record, author_key, default_district
                )
            except MalformedError as exc:
                refused.append((line, str(exc)))
                continue
            repeat = hmac.new(
                author_key,
                b"text\0" + author.encode() + b"\0" + submission.text.encode(),
                hashlib.sha256,
            ).digest()
            if ref in seen or repeat in seen:
                duplicates += 1
                continue
            seen.update((ref, repeat))
            parsed.append((submission, created, ref, author))
        if parsed:
            known = {
                bytes(r[0])
                for chunk in _chunks([p[2] for p in parsed], 500)
                for r in self.db.read(
                    "SELECT source_ref FROM posts WHERE source_ref IN "
                    f"({', '.join('?' * len(chunk))})",
                    tuple(chunk),
                )
            }
            before = len(parsed)
            parsed = [p for p in parsed if p[2] not in known]
            duplicates += before - len(parsed)
        labels = self.label([p[0].text for p in parsed]) if parsed else []
        prepared: list[tuple[_Pending, bytes]] = []
        facts: list[PostFacts] = []
        for (submission, created, ref, author), label in zip(parsed, labels, strict=True):
            pending = self._prepare(
                submission,
                label,
                _hour(created),
                period=None,
                channel="import",
                nullifier=None,
                author=author,
            )
            prepared.append((pending, ref))
            post = pending.post
            facts.append(
                PostFacts(
                    post.id, _epoch(created), post.district, post.service, label.normalised, author
                )
            )
        flags = {f.post_id: f for f in detect(facts, settings)} if facts else {}
        now = self.clock()
        for chunk in _chunks(prepared, 500):
            flagged = [
                _Flagging(flags[p.post.id], p.commitment, new_salt(self.random_bytes))
                for p, _ in chunk
                if p.post.id in flags
            ]

            def build_chunk(
                tx: Tx, chunk: Sequence[Any] = chunk, flagged: list[_Flagging] = flagged
            ) -> list[bytes]:
                return [p.event for p, _ in chunk] + [f.event(now) for f in flagged]

            def record_chunk(
                tx: Tx,
                first: int,
                chunk: Sequence[Any] = chunk,
                flagged: list[_Flagging] = flagged,
            ) -> None:
                for offset, (pending, ref) in enumerate(chunk):
                    self._insert(tx, pending, ref, first + offset)
                for index, flagging in enumerate(flagged, first + len(chunk)):
                    flagging.insert(tx, index)

            self.log.append_with(build_chunk, record_chunk)
        return ImportReport(len(prepared), duplicates, len(flags), tuple(refused))

    # -- coordination screening -------------------------------------------------------------

    def screen(self, settings: CoordinationSettings | None = None) -> int:
        """Flag coordinated posts among those still holding text in the detection window
        (and the window before it, for the rate baseline); returns how many were newly
        flagged. Already flagged posts are never flagged twice."""
        self.screen_rounds += 1
        newest = self.db.read("SELECT max(ledger_index) FROM posts")[0][0]
        if newest is None or newest <= self._screened_up_to:
            return 0  # nothing new: the same posts give the same flags
        flagged = self._screen(settings or CoordinationSettings())
        self._screened_up_to = int(newest)  # only once the pass has committed
        return flagged

    def _screen(self, settings: CoordinationSettings) -> int:
        now = _epoch(self.clock())
        horizon = now - settings.window_s - settings.rate_history_s
        rows = self.db.read(
            "SELECT p.id, p.received, p.district, p.service, p.text, f.post, p.commitment"
            " FROM posts p LEFT JOIN post_flags f ON f.post = p.id"
            " WHERE p.received >= ? AND p.text IS NOT NULL ORDER BY p.received, p.ledger_index",
            (horizon,),
        )
        if not rows:
            return 0
        # Times are kept to the hour; within an hour, ledger order says which came first, so
        # each post is placed that many seconds into its hour (what "earliest" needs).
        facts, hour, rank = [], -1, 0
        for r in rows:
            rank = rank + 1 if int(r[1]) == hour else 0
            hour = int(r[1])
            facts.append(PostFacts(r[0], hour + min(rank, 3599), r[2], r[3], normalise(r[4]), None))
        already = {r[0] for r in rows if r[5] is not None}
        commitments = {r[0]: bytes(r[6]) for r in rows}
        new = [
            _Flagging(f, commitments[f.post_id], new_salt(self.random_bytes))
            for f in detect(facts, settings)
            if f.post_id not in already
        ]
        if not new:
            return 0
        at = self.clock()

        def build(tx: Tx) -> list[bytes]:
            return [f.event(at) for f in new]

        def record(tx: Tx, first: int) -> None:
            for offset, flagging in enumerate(new):
                flagging.insert(tx, first + offset)

        self.log.append_with(build, record)
        self.flagged_total += len(new)
        return len(new)

    def release(self, post_id: str, reason: str, *, actor: str) -> Post:
        """Put a flagged post back into aggregates (``post.flagged`` with ``released``)."""
        if not reason.strip():
            raise MalformedError("a release needs a reason")
        current = self.get(post_id)
        if current.flag is None:
            raise NotFoundError(f"post {post_id} is not flagged")
        event = Event(
            "post.flagged",
            self.clock(),
            actor,
            {
                "v": 2,
                "commitment": current.commitment.hex(),
                "released": True,
                "reason": reason[:500],
            },
        ).to_bytes()

        def build(tx: Tx) -> list[bytes]:
            row = tx.execute("SELECT released_index FROM post_flags WHERE post = ?", (post_id,))
            if not row or row[0][0] is not None:
                raise NotFoundError(f"post {post_id} is not flagged or already released")
            return [event]

        def record(tx: Tx, index: int) -> None:
            tx.execute(
                "UPDATE post_flags SET released_reason = ?, released_index = ? WHERE post = ?",
                (reason[:500], index, post_id),
            )

        self.log.append_with(build, record)
        return self.get(post_id)

    # -- retention ----------------------------------------------------------------------------

    def purge_expired(self) -> int:
        """Delete the text (and its salt) of every post whose retention has ended; the labels
        stay. One ``payload.purged`` event per chunk names the posts."""
        now = self.clock()
        purged = 0
        while True:
            rows = self.db.read(
                "SELECT id, commitment FROM posts WHERE expires <= ? AND text IS NOT NULL"
                " ORDER BY id LIMIT ?",
                (_epoch(now), _PURGE_CHUNK),
            )
            if not rows:
                return purged
            ids = [r[0] for r in rows]
            # The posts are named by their commitments: a post id is its writer's receipt.
            event = Event(
                "payload.purged",
                now,
                "retention",
                {
                    "v": 2,
                    "what": "post.text",
                    "reason": "retention ended",
                    "commitments": sorted(bytes(r[1]).hex() for r in rows),
                },
            ).to_bytes()

            def build(tx: Tx, event: bytes = event) -> list[bytes]:
                return [event]

            def record(tx: Tx, index: int, ids: list[str] = ids) -> None:
                marks = ", ".join("?" * len(ids))
                tx.execute(
                    "UPDATE posts SET text = NULL, salt = NULL,"
                    " unit = CASE WHEN period IS NULL THEN NULL ELSE unit END"
                    f" WHERE id IN ({marks})",
                    tuple(ids),
                )

            self.log.append_with(build, record)
            purged += len(ids)
            self.purged_total += len(ids)

    # -- reading ------------------------------------------------------------------------------

    def get(self, post_id: str) -> Post:
        if not isinstance(post_id, str) or not _POST_ID.fullmatch(post_id):
            raise MalformedError("a post id is 32 lower-case hex digits")
        rows = self.db.read(
            f"SELECT {_COLUMNS} FROM posts p LEFT JOIN post_flags f ON f.post = p.id"
            " WHERE p.id = ?",
            (post_id,),
        )
        if not rows:
            raise NotFoundError(f"no post {post_id}")
        return _post(rows[0])

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

    def flags(self, *, limit: int = 100, post_id: str | None = None) -> list[Flag]:
        """Flagged posts, newest flag first (or the flag of ``post_id``), as the public sees
        them (``Flag``)."""
        where, args = ("WHERE f.post = ?", (post_id,)) if post_id is not None else ("", ())
        rows = self.db.read(
            "SELECT p.commitment, p.ledger_index, f.flagged_check, f.ledger_index,"
            " f.released_index, f.released_reason FROM post_flags f"
            f" JOIN posts p ON p.id = f.post {where} ORDER BY f.ledger_index DESC LIMIT ?",
            (*args, max(1, min(limit, 1000))),
        )
        return [Flag(bytes(r[0]), int(r[1]), r[2], int(r[3]), r[4], r[5]) for r in rows]

    def contributions(
        self, *, period: str | None, since: datetime | None = None, until: datetime | None = None
    ) -> tuple[list[tuple[str, str, str, str]], int]:
        """(unit, district, service, sentiment) of the counted posts a release covers — the
        tokened posts of token ``period``, or (``period`` None) the imported posts received
        in [since, until) — and how many were left out because their unit was purged."""
        args: tuple[object, ...]
        if period is not None:
            where, args = "p.period = ?", (period,)
        else:
            if since is None or until is None:
                raise MalformedError("a release of imported posts needs since and until")
            where = "p.period IS NULL AND p.received >= ? AND p.received < ?"
            args = (_bound(since, "since"), _bound(until, "until"))
        rows = self.db.read(
            "SELECT p.unit, p.district, p.service, p.sentiment FROM posts p"
            " LEFT JOIN post_flags f ON f.post = p.id"
            f" WHERE {where} AND (f.post IS NULL OR f.released_index IS NOT NULL)",
            args,
        )
        kept = [(str(u), d, s, t) for u, d, s, t in rows if u is not None]
        return kept, len(rows) - len(kept)

    def districts(self) -> list[str]:
        """Every district that has posts."""
        rows = self.db.read("SELECT DISTINCT district FROM posts ORDER BY district")
        return [str(r[0]) for r in rows]

    @staticmethod
    def _filters(
        district: str | None,
        service: str | None,
        since: datetime | None,
        until: datetime | None,
    ) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        args: list[Any] = []
        if district is not None:
            where.append("p.district = ?")
            args.append(check_district(district))
        if service is not None:
            where.append("p.service = ?")
            args.append(check_service(service))
        if since is not None:
            where.append("p.received >= ?")
            args.append(_bound(since, "since"))
        if until is not None:
            where.append("p.received < ?")
            args.append(_bound(until, "until"))
        return where, args

    def sentiment(
        self,
        *,
        district: str | None = None,
        service: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> SentimentSummary:
        """Counts by sentiment of the posts aggregates count (flagged ones left out)."""
        where, args = self._filters(district, service, since, until)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self.db.read(
            "SELECT p.period IS NOT NULL, p.sentiment,"
            " f.post IS NOT NULL AND f.released_index IS NULL, count(*)"
            f" FROM posts p LEFT JOIN post_flags f ON f.post = p.id {clause}"
            " GROUP BY 1, 2, 3",
            tuple(args),
        )
        tokened = dict.fromkeys(("negative", "neutral", "positive"), 0)
        imported = dict(tokened)
        excluded = 0
        for is_tokened, label, is_flagged, n in rows:
            if is_flagged:
                excluded += int(n)
            else:
                (tokened if is_tokened else imported)[label] += int(n)
        return SentimentSummary(district, service, tokened, imported, excluded)

    def list(
        self,
        *,
        district: str | None = None,
        service: str | None = None,
        flagged: bool | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[Post]:
        where, args = self._filters(district, service, since, until)
        if flagged is True:
            where.append("f.post IS NOT NULL")
        elif flagged is False:
            where.append("f.post IS NULL")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self.db.read(
            f"SELECT {_COLUMNS} FROM posts p LEFT JOIN post_flags f ON f.post = p.id {clause}"
            " ORDER BY p.ledger_index DESC LIMIT ?",
            (*args, max(1, min(limit, 1000))),
        )
        return [_post(r) for r in rows]


def _with_index(post: Post, index: int) -> Post:
    return Post(**{**post.__dict__, "ledger_index": index})


def _post(row: Sequence[Any]) -> Post:
    return Post(
        id=row[0],
        received=_from_epoch(int(row[1])),
        district=row[2],
        period=row[3],
        channel=row[4],
        service_given=row[5],
        service=row[6],
        sentiment=row[7],
        scores=json.loads(row[8]),
        text=row[9],
        expires=_from_epoch(int(row[10])),
        ledger_index=int(row[11]),
        commitment=bytes(row[12]),
        flag=row[13],
        flag_reason=row[14],
        flag_released=row[15] is not None,
        flag_evidence=None if row[16] is None else json.loads(row[16]),
        flag_salt=None if row[17] is None else bytes(row[17]),
    )


@dataclass(frozen=True)
class _Flagging:
    """A coordination flag about to be recorded: its ``post.flagged`` leaf names the post by
    its commitment (a post id is half its writer's receipt) and commits to the evidence with a
    salt — the evidence (district, service, counts) is guessable, so a bare hash of it would
    give it away; staff hold the evidence and the salt that opens the commitment."""

    flag: Any
    commitment: bytes
    salt: bytes = field(repr=False)

    def event(self, at: datetime) -> bytes:
        evidence = canonical_json(dict(self.flag.evidence))
        return Event(
            "post.flagged",
            at,
            "coordination",
            {
                "v": 2,
                "commitment": self.commitment.hex(),
                "check": self.flag.check,
                "evidence": commit(evidence, self.salt).hex(),
            },
        ).to_bytes()

    def insert(self, tx: Tx, index: int) -> None:
        f = self.flag
        tx.execute(
            "INSERT INTO post_flags"
            " (post, flagged_check, reason, evidence, ledger_index, evidence_salt)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (f.post_id, f.check, f.reason, json.dumps(dict(f.evidence)), index, self.salt),
        )


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _parse_import(
    record: Mapping[str, Any], key: bytes, default_district: str | None
) -> tuple[Submission, datetime, bytes, str]:
    if not isinstance(record, Mapping):
        raise MalformedError("each line must be a JSON object")
    allowed = {"id", "created_at", "author", "text", "lang", "district"}
    unknown = sorted(set(record) - allowed)
    if unknown:
        raise MalformedError(f"unknown field(s) {unknown}; a record has {sorted(allowed)}")
    for name in ("id", "created_at", "author", "text"):
        if not isinstance(record.get(name), str) or not record[name]:
            raise MalformedError(f"{name!r} must be a non-empty string")
    if "lang" in record and record["lang"] not in ("en", None):
        raise MalformedError(f"lang {record['lang']!r}: only English posts are classified")
    district = record.get("district", default_district)
    if district is None:
        raise MalformedError("no district: give one per record or --district")
    created = _parse_created(record["created_at"])
    submission = Submission(record["text"], district)
    ref = hmac.new(key, b"id\0" + record["id"].encode(), hashlib.sha256).digest()
    author = hmac.new(key, b"author\0" + record["author"].encode(), hashlib.sha256).hexdigest()
    return submission, created, ref, author


def _parse_created(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise MalformedError(f"created_at {text[:40]!r} is not an RFC 3339 time") from None
    if at.tzinfo is None:
        raise MalformedError(f"created_at {text[:40]!r} has no time zone")
    try:
        return at.astimezone(UTC)
    except OverflowError:
        raise MalformedError(f"created_at {text[:40]!r} is outside the years 1 to 9999") from None


def post_store_for(
    log: Log, retention_days: int, origin: str, *, clock: Callable[[], datetime]
) -> PostStore:
    """The posts of ``log``'s deployment; ``origin`` empty means the log's own origin."""
    db = log.store.db
    book = TokenBook(db, origin=origin or log.origin)
    return PostStore(db, log, book, retention_days, clock)
