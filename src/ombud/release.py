"""The one rule for releasing a held item — a quarantined observation or device, a flagged post.

Threat model: a release puts data an automatic check held back into the city's figures, so it
is an accountable act: it needs a reason (1-500 characters, stored and put on the ledger as
given — never truncated), and an item can be released once (a second release is a conflict,
not a silent success that would log a second, misleading reason).
"""

from __future__ import annotations

from ombud.canonical import is_plain_text
from ombud.errors import ConflictError, MalformedError

__all__ = ["MAX_REASON", "AlreadyReleasedError", "check_reason"]

MAX_REASON = 500
"""Characters a release's reason may have."""


class AlreadyReleasedError(ConflictError):
    """The item was released before (HTTP 409): it is counted already."""


def check_reason(reason: object) -> str:
    """``reason`` if it is 1-500 characters, not blank, and text (no control character but
    line ends and tab: PostgreSQL would refuse a NUL that SQLite keeps); ``MalformedError``
    otherwise."""
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise MalformedError(f"a release carries a reason of 1-{MAX_REASON} characters")
    if not is_plain_text(reason):
        raise MalformedError("a release's reason holds a control character or no character")
    return reason
