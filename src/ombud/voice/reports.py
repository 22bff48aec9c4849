"""Reports on posts for the city's staff: counts by sentiment, the posts a release covers, the
districts heard from, and listings.

Threat model: these are exact figures and microdata, for staff behind ``voice:read`` and for
the privacy office, whose differentially private releases are the only public figures about
residents. Flagged posts are left out of every count until released; time bounds must carry
a time zone (a naive one would be read in the host's zone).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ombud.clock import aware, to_seconds
from ombud.database import Database
from ombud.errors import MalformedError
from ombud.voice.posts import POST_COLUMNS, Post, check_district, check_service, post_from_row

__all__ = ["PostReports", "SentimentSummary"]


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


def _time_bound(at: datetime, name: str) -> int:
    return to_seconds(aware(at, name))


@dataclass(frozen=True)
class PostReports:
    """Reads the posts table of the deployment database (never writes)."""

    db: Database

    def contributions(
        self, *, period: str | None, since: datetime | None = None, until: datetime | None = None
    ) -> list[tuple[str, str, str, str]]:
        """(unit, district, service, sentiment) of the counted posts a release covers — the
        tokened posts of token ``period``, or (``period`` None) the imported posts received
        in [since, until) — without those whose unit was purged (how many, nobody is told:
        an exact count a release must not publish)."""
        args: tuple[object, ...]
        if period is not None:
            where, args = "p.period = ?", (period,)
        else:
            if since is None or until is None:
                raise MalformedError("a release of imported posts needs since and until")
            where = "p.period IS NULL AND p.received >= ? AND p.received < ?"
            args = (_time_bound(since, "since"), _time_bound(until, "until"))
        rows = self.db.read(
            "SELECT p.unit, p.district, p.service, p.sentiment FROM posts p"
            " LEFT JOIN post_flags f ON f.post = p.id"
            f" WHERE {where} AND (f.post IS NULL OR f.released_index IS NOT NULL)",
            args,
        )
        return [(str(u), d, s, t) for u, d, s, t in rows if u is not None]

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
            args.append(_time_bound(since, "since"))
        if until is not None:
            where.append("p.received < ?")
            args.append(_time_bound(until, "until"))
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
            f"SELECT {POST_COLUMNS} FROM posts p LEFT JOIN post_flags f ON f.post = p.id {clause}"
            " ORDER BY p.ledger_index DESC LIMIT ?",
            (*args, max(1, min(limit, 1000))),
        )
        return [post_from_row(r) for r in rows]
