"""The one error hierarchy of ombud.

Threat model: errors cross trust boundaries (CLI output, HTTP problem details, logs), so their
messages name what was wrong with the input and never carry secrets or personal data.

    OmbudError
    ├── VerificationError          something does not verify: never trust the input after this
    │   ├── ProofError             a Merkle inclusion/consistency proof is wrong
    │   ├── SignatureError         a note signature or cosignature is wrong, missing or unknown
    │   ├── InconsistentTreeError  two tree heads cannot both be honest views of one log
    │   ├── ReplayError            a signed message seen before, or older than one seen
    │   ├── PayloadIntegrityError  a vault payload or wrapped key fails authentication
    │   └── RosterChainError       a roster in the chain from genesis was not validly approved
    ├── MalformedError             input does not follow its format (parse errors)
    │   └── EntryTooLargeError     a log entry over the 65,535-byte tlog-tiles limit
    ├── NotFoundError              an index, size, tile or file that does not exist (yet)
    │   ├── UnknownSubjectError    no data is held about this data subject
    │   └── SubjectErasedError     the subject's data was erased (crypto-shredded)
    ├── ConflictError              a request built on a state that is no longer current
    ├── AlreadyExistsError         created again: a device id or key, an entity, an observation
    ├── ForbiddenError             a known party that may not do this (a revoked device)
    │   ├── ConsentError           processing personal data without a valid consent
    │   ├── BudgetExceededError    a release would spend more privacy budget than is left
    │   ├── ExpiredError           a signed request or capability past its expiry
    │   │   └── StaleReadError     a signed read whose time is not close to the server's clock
    │   ├── ScopeError             a read outside what an access request names
    │   ├── UnsignedReadError      a read without its requester's signed statement
    │   ├── ForeignReadError       a read signed for another deployment (another log origin)
    │   └── ApprovalError          a privileged action without the signatures its policy needs
    │       ├── QuorumError        fewer distinct signatures than the policy's count
    │       ├── SelfApprovalError  the requester's own signature, where four eyes are needed
    │       ├── RoleError          a signer without a role the policy names
    │       │   └── NoRuleError    an action the policy has no rule for (it is frozen)
    │       ├── StaleRosterError   signed under a roster that is no longer in force
    │       ├── ForeignRequestError  signed for another deployment (another log origin)
    │       ├── UnboundRequestError  a request that names no deployment (request version 1)
    │       ├── ForeignVoteError   a vote signed for another deployment (another log origin)
    │       ├── UnboundVoteError   a vote that names no deployment (vote version 1)
    │       ├── ForeignUpdateError  a result update signed for another deployment
    │       ├── UnboundUpdateError  a result update that names no deployment (version 1)
    │       ├── ForeignBidError    a bid or its reveal signed for another deployment
    │       ├── UnboundBidError    a bid or its reveal that names no deployment (version 1)
    │       ├── NotAHolderError    signed by a key the roster does not hold (or removed)
    │       └── ReservedActionError  a reserved action with no holder's signature (operator alone)
    ├── UnauthorizedError          no credentials, or credentials that are not valid
    ├── UnavailableError           a service (a witness) did not answer, or failed
    ├── ConfigError                a data directory or setting that is missing or invalid
    │   └── MasterKeyError         the vault's master key is missing or is not the right one
    └── StorageError               the store failed or holds data that contradicts itself
        └── StaleStateError        another writer appended first; reload and retry
"""

from __future__ import annotations


class OmbudError(Exception):
    """Base class of every error ombud raises on purpose."""


class VerificationError(OmbudError):
    """Data failed a cryptographic or structural verification."""


class ProofError(VerificationError):
    """A Merkle inclusion or consistency proof does not verify (RFC 9162 §2.1.3, §2.1.4)."""


class SignatureError(VerificationError):
    """A signed note carries a bad signature, or no signature from a trusted key."""


class InconsistentTreeError(VerificationError):
    """Two tree heads of the same log contradict each other (fork, rollback or tampering)."""


class ReplayError(VerificationError):
    """A signed message whose counter does not exceed the last one accepted from its signer."""


class PayloadIntegrityError(VerificationError):
    """A vault ciphertext or wrapped key failed AES-GCM authentication: corrupted or swapped."""


class MalformedError(OmbudError, ValueError):
    """Input that does not follow its specified format."""


class EntryTooLargeError(MalformedError):
    """A log entry longer than the uint16 length prefix of tlog-tiles entry bundles allows."""


class NotFoundError(OmbudError, LookupError):
    """Something asked for does not exist: an index past the tree size, a missing tile."""


class ConflictError(OmbudError):
    """The request assumed a state that is not the current one (HTTP 409 Conflict).

    A witness answers it when the old size of an add-checkpoint request is not the size it last
    cosigned (c2sp.org/tlog-witness); ``current`` is then that size, from which the client
    re-sends. Releasing an item already released is one too.
    """

    def __init__(self, message: str, current: int | None = None) -> None:
        super().__init__(message)
        self.current = current


class UnknownSubjectError(NotFoundError):
    """No data is held about this data subject (the message never repeats the subject's id)."""


class SubjectErasedError(NotFoundError):
    """The subject's data was erased: its key, payloads and salts are destroyed for good."""

    def __init__(self, message: str, ledger_index: int | None) -> None:
        super().__init__(message)
        self.ledger_index = ledger_index


class RosterChainError(VerificationError):
    """A roster in the chain from genesis does not follow from the one before it: not signed
    by that roster's quorum, not numbered or linked to it, or carried out twice."""


class AlreadyExistsError(OmbudError):
    """Something that exists was sent to be created again: a registered device id or key, an
    existing entity (NGSI-LD ``AlreadyExists``), an observation already accepted (a replay)."""


class ForbiddenError(OmbudError):
    """The party is known, but may not do this: a revoked device, a token without the scope."""


class ConsentError(ForbiddenError):
    """Personal data would be processed for a purpose or category without a valid consent
    (none given, withdrawn, or expired); nothing was processed."""


class BudgetExceededError(ForbiddenError):
    """A differentially private release would spend more privacy budget than is left."""


class ExpiredError(ForbiddenError):
    """A signed request or a capability used after its expiry."""


class StaleReadError(ExpiredError):
    """A requester's signed read whose time is not within the short window of the server's
    clock: signed too long ago (held back for later), or ahead of the clock."""


class ScopeError(ForbiddenError):
    """A read of a subject, a category or a time the access request does not name."""


class UnsignedReadError(ForbiddenError):
    """A read under an access request without its requester's signed statement of it: every
    request records its requester's key, and a read needs their signature."""


class ForeignReadError(ForbiddenError):
    """A requester's signed read that names another deployment's log origin than this one's:
    signed for a deployment set up from the same data (a staging copy of production, say)."""


class ApprovalError(ForbiddenError):
    """A privileged action whose signatures do not meet the roster's policy; nothing ran."""


class QuorumError(ApprovalError):
    """Fewer distinct signatures than the policy's count for the action."""


class SelfApprovalError(ApprovalError):
    """The requester signed their own request where the policy wants another pair of eyes."""


class RoleError(ApprovalError):
    """A signer whose role the policy does not name for the action (or no rule for it)."""


class NoRuleError(RoleError):
    """An action the roster's policy has no rule for: nobody's signatures carry it."""


class StaleRosterError(ApprovalError):
    """The request was signed under a roster version that is no longer in force."""


class ForeignRequestError(ApprovalError):
    """The request names another deployment's log origin than this one's: signed for a
    deployment set up from the same roster genesis (a staging copy of production, say)."""


class UnboundRequestError(ApprovalError):
    """A request of version 1, which names no deployment: since request version 2 a request
    is carried out only on the deployment it names, so it must be proposed again."""


class ForeignVoteError(ApprovalError):
    """The vote names another deployment's log origin than this one's: signed for a deployment
    set up from the same roster genesis, on a motion identical to one tabled here."""


class UnboundVoteError(ApprovalError):
    """A vote of version 1, which names no deployment: since vote version 2 a vote counts only
    on the deployment it names, so the member must sign it again."""


class ForeignUpdateError(ApprovalError):
    """The result update names another deployment's log origin than this one's: signed by the
    office for a deployment set up from the same roster genesis."""


class UnboundUpdateError(ApprovalError):
    """A result update of version 1, which names no deployment: since update version 2 an
    update is recorded only on the deployment it names, so the office must sign it again."""


class ForeignBidError(ApprovalError):
    """A sealed bid or its reveal names another deployment's log origin than this one's:
    signed by the bidder for a deployment holding a tender of the same ocid (a staging copy)."""


class UnboundBidError(ApprovalError):
    """A sealed bid or its reveal of version 1, which names no deployment: since bid version 2
    a bid and its reveal count only on the deployment they name, so the bidder must sign
    again."""


class NotAHolderError(ApprovalError):
    """A signature by someone the roster in force does not hold: never a holder, or a key the
    roster removed (it lost all power with the event that removed it)."""


class ReservedActionError(ApprovalError):
    """An action the roster's policy reserves, attempted without holders' signatures: the
    operator's token (or shell) alone cannot carry it out."""


class UnauthorizedError(OmbudError):
    """A request without credentials, or with a token that is unknown, wrong or revoked."""


class UnavailableError(OmbudError):
    """A remote service could not be reached, timed out, or answered with an error of its own."""


class ConfigError(OmbudError):
    """A data directory that was not initialised, or a setting with an invalid value."""


class MasterKeyError(ConfigError):
    """The vault's master key is missing, unreadable, or not the key the vault was sealed with."""


class StorageError(OmbudError):
    """The store failed, or its contents contradict themselves (corruption, tampering)."""


class StaleStateError(StorageError):
    """The store moved on since it was read (another sequencer appended); nothing was written."""
