"""Posts: what residents write, accepted once per token, committed on the ledger, kept for a
while, and counted by their labels.

Threat model: a post must not identify its writer, so it holds text, a district and an optional
service category — never a point location, a name, a handle or an address (refused, not
dropped, so a client learns what it sent wrongly) — and its time is kept to the hour. The
operator must not be able to alter or invent posts unseen: each accepted post is a
``post.accepted`` leaf with a salted commitment to its text (DESIGN §4), its labels and the
token's nullifier, so anyone can count posts per period against tokens spent. The text is
deleted when its retention ends (``payload.purged``); labels stay for aggregates. Flagged posts
(coordination, ``ombud.integrity.coordination``) are kept and excluded from aggregates.
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

from ombud.canonical import canonical_json
from ombud.database import Database, Tx
from ombud.errors import MalformedError, NotFoundError, StorageError
from ombud.events import Event, commit, format_time, new_salt
from ombud.integrity.coordination import CoordinationSettings, PostFacts, detect
from ombud.ledger.log import Attachment, Log
from ombud.voice.labels import Labels, label_texts
from ombud.voice.normalise import normalise
from ombud.voice.redemption import TokenBook
from ombud.voice.services import CATEGORIES

__all__ = [
    "MAX_TEXT",
    "PERSONAL_FIELDS",
    "ImportReport",
    "Post",
    "PostStore",
    "SentimentSummary",
    "Submission",
    "check_district",
    "post_store_for",
    "refuse_personal",
]

MAX_TEXT = 2000
"""Characters (code points) in a post's text."""
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
_TABLES = """
CREATE TABLE IF NOT EXISTS posts (
    id TEXT PRIMARY KEY,
    received INTEGER NOT NULL,
    district TEXT NOT NULL,
    period TEXT,
    channel TEXT NOT NULL,
    service_given TEXT,
    service TEXT NOT NULL,
    sentiment TEXT NOT NULL,
    scores TEXT NOT NULL,
    text TEXT,
    salt BLOB,
    commitment BLOB NOT NULL,
    expires INTEGER NOT NULL,
    source_ref BLOB UNIQUE,
    ledger_index INTEGER NOT NULL,
    unit TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS posts_by_time ON posts (received);
CREATE INDEX IF NOT EXISTS posts_by_expiry ON posts (expires);
CREATE TABLE IF NOT EXISTS post_flags (
    post TEXT PRIMARY KEY,
    flagged_check TEXT NOT NULL,
    reason TEXT NOT NULL,
    evidence TEXT NOT NULL,
    ledger_index INTEGER NOT NULL,
    released_reason TEXT,
    released_index INTEGER
) STRICT
"""
_COLUMNS = (
    "p.id, p.received, p.district, p.period, p.channel, p.service_given, p.service, "
    "p.sentiment, p.scores, p.text, p.expires, p.ledger_index, "
    "f.flagged_check, f.reason, f.released_index"
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
    flag: str | None = None
    flag_reason: str | None = None
    flag_released: bool = False

    @property
    def counted(self) -> bool:
        """Whether aggregates count this post (not flagged, or flagged and released)."""
        return self.flag is None or self.flag_released

    def to_json(self, *, with_text: bool = False) -> dict[str, Any]:
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
            "flag": None
            if self.flag is None
            else {"check": self.flag, "reason": self.flag_reason, "released": self.flag_released},
            "textPurged": self.text is None,
        }
        if with_text:
            out["text"] = self.text
        return out


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

    def __post_init__(self) -> None:
        self.db.ensure_tables("posts", _TABLES)
        self._add_unit_column()

    def _add_unit_column(self) -> None:
        """Posts stored before differentially private releases have no privacy unit column."""
        try:
            self.db.read("SELECT unit FROM posts WHERE 0 = 1")
        except StorageError:
            with self.db.transaction() as tx:
                tx.execute("ALTER TABLE posts ADD COLUMN unit TEXT")

    # -- accepting --------------------------------------------------------------------------

    def submit(
        self,
        submission: Submission,
        token: bytes,
        *,
        channel: str = "api",
        attach: Attachment | None = None,
    ) -> Post:
        """Accept a resident's post paid for by ``token`` (one post per token).

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
        return _with_index(pending.post, index)

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
        commitment = commit(submission.text.encode("utf-8"), salt)
        expires = received + timedelta(days=self.retention_days)
        service = submission.service or labels.service
        post = Post(
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
        )
        event = Event(
            "post.accepted",
            received,
            "voice",
            {
                "v": 1,
                "post": post.id,
                "channel": channel,
                "district": post.district,
                "period": period,
                "service": service,
                "serviceGiven": submission.service,
                "sentiment": labels.sentiment,
                "commitment": commitment.hex(),
                "nullifier": None if nullifier is None else nullifier.hex(),
                "expires": format_time(expires),
            },
        ).to_bytes()
        unit = f"token:{nullifier.hex()}" if nullifier is not None else f"author:{author}"
        return _Pending(post, salt, commitment, event, unit)

    @staticmethod
    def _insert(tx: Tx, pending: _Pending, source_ref: bytes | None, index: int) -> None:
        post = pending.post
        tx.execute(
            "INSERT INTO posts (id, received, district, period, channel, service_given, service,"
            " sentiment, scores, text, salt, commitment, expires, source_ref, ledger_index, unit)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            flagged = [flags[p.post.id] for p, _ in chunk if p.post.id in flags]

            def build_chunk(
                tx: Tx, chunk: Sequence[Any] = chunk, flagged: list[Any] = flagged
            ) -> list[bytes]:
                return [p.event for p, _ in chunk] + [_flag_event(f, now) for f in flagged]

            def record_chunk(
                tx: Tx, first: int, chunk: Sequence[Any] = chunk, flagged: list[Any] = flagged
            ) -> None:
                for offset, (pending, ref) in enumerate(chunk):
                    self._insert(tx, pending, ref, first + offset)
                for index, flag in enumerate(flagged, first + len(chunk)):
                    _insert_flag(tx, flag, index)

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
            "SELECT p.id, p.received, p.district, p.service, p.text, f.post FROM posts p"
            " LEFT JOIN post_flags f ON f.post = p.id"
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
        new = [f for f in detect(facts, settings) if f.post_id not in already]
        if not new:
            return 0
        at = self.clock()

        def build(tx: Tx) -> list[bytes]:
            return [_flag_event(f, at) for f in new]

        def record(tx: Tx, first: int) -> None:
            for offset, f in enumerate(new):
                _insert_flag(tx, f, first + offset)

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
            {"v": 1, "post": post_id, "released": True, "reason": reason[:500]},
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
                "SELECT id FROM posts WHERE expires <= ? AND text IS NOT NULL ORDER BY id LIMIT ?",
                (_epoch(now), _PURGE_CHUNK),
            )
            if not rows:
                return purged
            ids = [r[0] for r in rows]
            event = Event(
                "payload.purged",
                now,
                "retention",
                {"v": 1, "what": "post.text", "reason": "retention ended", "posts": ids},
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
        flag=row[12],
        flag_reason=row[13],
        flag_released=row[14] is not None,
    )


def _flag_event(flag: Any, at: datetime) -> bytes:
    evidence = canonical_json(dict(flag.evidence))
    return Event(
        "post.flagged",
        at,
        "coordination",
        {
            "v": 1,
            "post": flag.post_id,
            "check": flag.check,
            "evidence": hashlib.sha256(evidence).hexdigest(),
        },
    ).to_bytes()


def _insert_flag(tx: Tx, flag: Any, index: int) -> None:
    tx.execute(
        "INSERT INTO post_flags (post, flagged_check, reason, evidence, ledger_index)"
        " VALUES (?, ?, ?, ?, ?)",
        (flag.post_id, flag.check, flag.reason, json.dumps(dict(flag.evidence)), index),
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
