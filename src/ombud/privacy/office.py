"""The privacy office: the vault, consents, releases and retention of one deployment, wired
together once for the API and the CLI.

Threat model: see the modules it composes. Here: the master key is read once, from the
environment or its 0600 file, and a deployment without one refuses every privacy operation
with ``MasterKeyError`` rather than storing anything unencrypted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ombud.clock import format_time, week_window
from ombud.config import PrivacySettings
from ombud.errors import ConsentError, MalformedError, UnknownSubjectError
from ombud.ledger.log import Attachment, Log
from ombud.privacy.consent import ConsentBook
from ombud.privacy.dp import Release, ReleaseBook, check_dataset
from ombud.privacy.export import subject_export
from ombud.privacy.retention import RetentionReport, run_retention
from ombud.privacy.vault import Erasure, Vault
from ombud.voice.posts import PostStore
from ombud.voice.reports import PostReports
from ombud.voice.services import CATEGORIES

__all__ = ["PrivacyOffice", "week_window"]


@dataclass
class PrivacyOffice:
    settings: PrivacySettings
    districts: tuple[str, ...]
    """The public list of districts (``voice.districts``): the key set of every release."""
    log: Log
    vault: Vault
    consents: ConsentBook
    releases: ReleaseBook
    posts: PostStore
    reports: PostReports
    retention_rounds: int = field(default=0, init=False)

    def attach_under_consent(
        self,
        subject: str,
        purpose: str,
        category: str,
        kind: str,
        data: Callable[[str], bytes],
        *,
        actor: str,
    ) -> Attachment:
        """Personal data that comes with another record (an Open311 request's contact details,
        the owner of a device hosted at home), sealed in the vault in that record's transaction
        — only under a consent covering ``purpose`` and ``category`` (``ConsentError``
        otherwise: nothing is processed), kept for the consent's retention."""
        try:
            consent = self.consents.check(subject, purpose, category)
        except UnknownSubjectError:
            raise ConsentError(
                f"no consent covers purpose {purpose!r} for data {category!r} of this subject"
            ) from None
        expires = self.vault.clock() + timedelta(days=consent.grant.retention_days)
        return self.vault.attachment(
            self.vault.ref(subject), kind, data, expires=expires, actor=actor
        )

    def erase(self, ref: bytes, *, actor: str, basis: str) -> Erasure:
        return self.vault.erase(self.log, ref, actor=actor, basis=basis)

    def export(self, ref: bytes) -> dict[str, Any]:
        return subject_export(self.vault, self.consents, self.log, ref)

    def retention(self, *, post_texts: bool = True) -> RetentionReport:
        """One retention pass; ``post_texts=False`` leaves post texts to a process that already
        purges them on its own schedule (``ombud serve``'s voice task)."""
        self.retention_rounds += 1
        return run_retention(self.vault, self.log, self.posts if post_texts else None)

    def release(
        self,
        dataset: str,
        period: str,
        *,
        actor: str,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Release:
        """A DP release of the posts of ``dataset`` in ``period``: the token period for
        ``satisfaction``; for ``imported``, an ISO week (``2026-W49``), which *is* the window
        [Monday 00:00Z, next Monday) — a free label over a free window would let the same posts
        be released again and again, each time from a fresh budget. ``since`` and ``until``, if
        given, must be that week's bounds. A week (of either dataset) is released once it has
        ended (``ReleaseBook.check_period``). Posts without a privacy unit (stored before
        units, or imported posts past retention) are left out, and how many is not published:
        an exact count, with no noise, of posts (purged ones among them) would be."""
        import polars as pl

        districts = list(self.districts)
        if not districts:
            raise MalformedError(
                "set voice.districts, the public list of districts, before releasing: the key "
                "set of a release must not come from the data"
            )
        check_dataset(dataset)
        if dataset == "satisfaction":
            if since is not None or until is not None:
                raise MalformedError("a satisfaction release covers a token period, not times")
        else:
            week = week_window(period)
            if (since, until) not in ((None, None), week):
                raise MalformedError(
                    f"an imported release covers the ISO week its period names: {period} is "
                    f"[{format_time(week[0])}, {format_time(week[1])}); give no since and until, "
                    "or exactly those"
                )
        self.releases.check_period(dataset, period)  # a week that has not ended: nothing read
        if dataset == "satisfaction":
            rows = self.reports.contributions(period=period)
            contributions = 1
        else:
            rows = self.reports.contributions(period=None, since=week[0], until=week[1])
            contributions = self.settings.dp_max_contributions
        frame = pl.DataFrame(
            {
                "unit": [r[0] for r in rows],
                "district": [r[1] for r in rows],
                "service": [r[2] for r in rows],
                "label": [r[3] for r in rows],
            },
            schema={
                "unit": pl.String,
                "district": pl.String,
                "service": pl.String,
                "label": pl.String,
            },
        )
        return self.releases.release(
            dataset,
            period,
            frame,
            districts,
            list(CATEGORIES),
            contributions=contributions,
            k_threshold=self.settings.dp_k_threshold,
            actor=actor,
        )
