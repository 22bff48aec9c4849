"""The scopes an admin token can carry, and what each allows.

Threat model: a token grants exactly the scopes listed on it and nothing they do not name (no
scope implies another), so each scope is one power, described here once for the token store,
the CLI's help and the documentation.
"""

from __future__ import annotations

__all__ = ["SCOPES"]

SCOPES = {
    "devices:write": "register and revoke devices; the registry itself is public",
    "quarantine:release": "release quarantined observations and flagged posts",
    "voice:publish": "publish a period's issuer key for resident tokens",
    "voice:read": "read residents' posts, their labels and exact counts (staff only)",
    "privacy:consent": "record, change and withdraw residents' consents: the consent service",
    "privacy:release": "run a differentially private release, spending privacy budget",
    "roster:act": "propose privileged actions, pass on holders' signatures and have carried "
    "out what they signed; never an action without the signatures the roster's policy asks",
    "access:request": "record third parties' requests for residents' data",
    "access:decide": "record an officer's denial of an access request; disclose due seals",
    "access:read": "read, for an approved requester and with their signed statement of each "
    "read, what its request names (each read is on the ledger)",
    "decisions:vote": "cast members' signed votes (the signatures are the members')",
    "results:write": "record offices' signed updates of tracked results",
}
