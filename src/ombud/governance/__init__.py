"""Power held to account: the authority roster (M-of-N signatures for privileged actions and
for its own hand-over), and later tenders, decisions and results (DESIGN §7).

Threat model: nobody — the operator, one officer, a stolen key — acts alone where the policy
asks for several signatures, and nobody keeps power after the roster removed them; every
approval is bound to one request under one roster, for one deployment, and verifiable
offline.
"""

from ombud.governance.roster import (
    CHANGE_ROSTER,
    RECOVER_ROSTER,
    ActionRequest,
    Approval,
    Holder,
    Roster,
    Rule,
    Succession,
    sign_request,
    verify_approval,
    verify_chain,
    verify_origin,
    verify_succession,
)

__all__ = [
    "CHANGE_ROSTER",
    "RECOVER_ROSTER",
    "ActionRequest",
    "Approval",
    "Holder",
    "Roster",
    "Rule",
    "Succession",
    "sign_request",
    "verify_approval",
    "verify_chain",
    "verify_origin",
    "verify_succession",
]
