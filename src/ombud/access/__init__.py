"""Who may look at residents' data: third-party requests, their approval through the
authority roster, scoped and expiring capabilities, sealed requests (DESIGN §7).

Threat model: a requester gets exactly what an approved request names, until it expires, and
every read is accountable; the public record never names a subject.
"""

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
    "AccessRequest",
    "Capability",
    "FiledRequest",
    "Requester",
    "subject_commitment",
]
# ``ombud.access.book.AccessBook`` (through the ledger) is imported where it is used: it pulls
# in the vault and the roster.
