"""Who may look at residents' data: third-party requests, their approval through the
authority roster, scoped and expiring capabilities, sealed requests, reads each signed by
the requester (DESIGN §7).

Threat model: a requester gets exactly what an approved request names, until it expires, and
every read is accountable, and asked for by the requester; the public record never names a
subject.
"""

from ombud.access.reads import READ_WINDOW, SignedRead, sign_read, verify_signed_read
from ombud.access.requests import (
    MAX_SEAL,
    AccessRequest,
    Capability,
    FiledRequest,
    Requester,
    subject_commitment,
)

__all__ = [
    "MAX_SEAL",
    "READ_WINDOW",
    "AccessRequest",
    "Capability",
    "FiledRequest",
    "Requester",
    "SignedRead",
    "sign_read",
    "subject_commitment",
    "verify_signed_read",
]
# ``ombud.access.book.AccessBook`` (through the ledger) is imported where it is used: it pulls
# in the vault and the roster; so is ``ombud.access.audit.audit_reads`` (reads re-verified from
# a log's entries).
