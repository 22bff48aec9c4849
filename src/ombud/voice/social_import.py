"""Importing public social-media posts: pseudonymised, bounded per author, de-duplicated, and
screened for coordination as they arrive.

Threat model: an import is a stream a campaign can flood. Each author is replaced by a keyed
hash (``HMAC-SHA256(author_key, author)``) used only to bound how many posts one author
contributes and, as the privacy unit of differentially private releases, kept only until the
post's retention ends — the handle itself is never stored. Records are parsed strictly, and a
record refused names its line and what was wrong.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ombud.canonical import is_text
from ombud.clock import format_time, parse_iso_time, to_seconds
from ombud.database import Tx
from ombud.errors import MalformedError
from ombud.events import new_salt
from ombud.integrity.coordination import CoordinationSettings, PostFacts, detect
from ombud.voice.flags import Flagging
from ombud.voice.posts import PendingPost, PostStore, Submission, hour_of

__all__ = ["ImportReport", "import_posts"]

_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
"""A record's ``created_at`` lies between this and a day past the import (a post written in
year 9999 made the whole import fail on its retention date)."""


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


def import_posts(
    posts: PostStore,
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
    now = posts.clock()
    for line, record in records:
        try:
            submission, created, ref, author = _parse_record(record, author_key, default_district)
            posts.check_known(submission.district)
            if not _EARLIEST <= created <= now + timedelta(days=1):
                raise MalformedError(
                    f"created_at {format_time(created)} is before 1970 or in the future"
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
            for r in posts.db.read(
                f"SELECT source_ref FROM posts WHERE source_ref IN ({', '.join('?' * len(chunk))})",
                tuple(chunk),
            )
        }
        before = len(parsed)
        parsed = [p for p in parsed if p[2] not in known]
        duplicates += before - len(parsed)
    labels = posts.label([p[0].text for p in parsed]) if parsed else []
    prepared: list[tuple[PendingPost, bytes]] = []
    facts: list[PostFacts] = []
    for (submission, created, ref, author), label in zip(parsed, labels, strict=True):
        pending = posts.prepare(
            submission,
            label,
            hour_of(created),
            period=None,
            channel="import",
            nullifier=None,
            author=author,
        )
        prepared.append((pending, ref))
        post = pending.post
        facts.append(
            PostFacts(
                post.id, to_seconds(created), post.district, post.service, label.normalised, author
            )
        )
    flags = {f.post_id: f for f in detect(facts, settings)} if facts else {}
    for chunk in _chunks(prepared, 500):
        flagged = [
            Flagging(flags[p.post.id], p.commitment, new_salt(posts.random_bytes))
            for p, _ in chunk
            if p.post.id in flags
        ]

        def build_chunk(
            tx: Tx, chunk: Sequence[Any] = chunk, flagged: list[Flagging] = flagged
        ) -> list[bytes]:
            return [p.event for p, _ in chunk] + [f.event(now) for f in flagged]

        def record_chunk(
            tx: Tx,
            first: int,
            chunk: Sequence[Any] = chunk,
            flagged: list[Flagging] = flagged,
        ) -> None:
            for offset, (pending, ref) in enumerate(chunk):
                posts.insert(tx, pending, ref, first + offset)
            for index, flagging in enumerate(flagged, first + len(chunk)):
                flagging.insert(tx, index)

        posts.log.append_with(build_chunk, record_chunk)
    return ImportReport(len(prepared), duplicates, len(flags), tuple(refused))


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _parse_record(
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
        if not is_text(record[name]):
            raise MalformedError(f"{name!r} holds a lone surrogate, which is no character")
    if "lang" in record and record["lang"] not in ("en", None):
        shown = str(record["lang"])[:20]
        raise MalformedError(f"lang {shown!r}: only English posts (en) are classified")
    district = record.get("district", default_district)
    if district is None:
        raise MalformedError("no district: give one per record or --district")
    created = parse_iso_time(record["created_at"], "created_at")
    submission = Submission(record["text"], district)
    ref = hmac.new(key, b"id\0" + record["id"].encode(), hashlib.sha256).digest()
    author = hmac.new(key, b"author\0" + record["author"].encode(), hashlib.sha256).hexdigest()
    return submission, created, ref, author
