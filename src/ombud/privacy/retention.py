"""Retention: personal payloads and post texts are deleted when their time is up.

Threat model: data kept "just in case" is data that can leak or be abused, so nothing personal
outlives its declared retention: ``run_retention`` (``ombud privacy retention run``, and a task
of ``ombud serve``) purges expired vault payloads and post texts, each purge a
``payload.purged`` event, and finishes any erasure whose scrub was interrupted.
"""

from __future__ import annotations

from dataclasses import dataclass

from ombud.ledger.log import Log
from ombud.privacy.vault import Vault
from ombud.voice.posts import PostStore

__all__ = ["RetentionReport", "run_retention"]


@dataclass(frozen=True)
class RetentionReport:
    payloads: int
    """Vault payloads whose ciphertext and salt were destroyed."""
    post_texts: int
    """Post texts deleted (labels stay for aggregates)."""
    scrubbed: int
    """Erasures whose interrupted scrub was finished."""

    def to_json(self) -> dict[str, int]:
        return {"payloads": self.payloads, "postTexts": self.post_texts, "scrubbed": self.scrubbed}


def run_retention(vault: Vault, log: Log, posts: PostStore | None = None) -> RetentionReport:
    """One retention pass; safe to run at any time and as often as wanted."""
    scrubbed = vault.scrub_pending()
    payloads = vault.purge_expired(log)
    texts = posts.purge_expired() if posts is not None else 0
    return RetentionReport(payloads, texts, scrubbed)
