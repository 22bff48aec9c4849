"""The one place a deployment's parts are put together: ``Deployment``.

Threat model: a part built twice (two quarantine stores, two token books) can disagree about
what it holds, and a part closed before what writes through it loses work. So every store and
service of a deployment is built here, once, on first use — which is dependency order, since a
part asks for the parts it needs — and ``close`` closes them in reverse. A deployment whose
database is not at this code's schema revision is refused when opened
(``ombud.migrations.check``): nothing reads or writes it until ``ombud migrate`` has run. Each
part receives only its own section of the settings.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ombud import migrations
from ombud.clock import Clock, utc_now
from ombud.config import Settings
from ombud.database import Database
from ombud.deployment.directory import open_log
from ombud.errors import MasterKeyError
from ombud.ledger.log import Log

if TYPE_CHECKING:
    from ombud.access.book import AccessBook
    from ombud.governance.actions import ActionBook
    from ombud.governance.book import RosterBook
    from ombud.governance.chamber import DecisionBook
    from ombud.governance.delivery import ResultBook
    from ombud.governance.procurement import TenderBook
    from ombud.governance.roster import ActionRequest, Approval, Roster
    from ombud.ingest.devices import DeviceRegistry
    from ombud.ingest.intake import Intake
    from ombud.privacy.office import PrivacyOffice
    from ombud.privacy.vault import Vault
    from ombud.sensors.observations import ObservationStore
    from ombud.sensors.quarantine import QuarantineStore
    from ombud.sensors.screening import Screener
    from ombud.tokens.store import TokenStore
    from ombud.voice.acceptance import PostAcceptor
    from ombud.voice.cover import CoverBook
    from ombud.voice.flags import FlagBook
    from ombud.voice.posts import PostStore
    from ombud.voice.reports import PostReports
    from ombud.witness.publisher import Publisher

__all__ = ["Deployment"]


class Deployment:
    """A deployment's settings, log and database, and every store and service over them.

    Parts are imported and built on first use, so a command that needs the device registry
    never loads the sentiment model. Use it as a context manager, or call ``close``.
    """

    def __init__(
        self,
        settings: Settings,
        log: Log,
        *,
        clock: Clock = utc_now,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        migrations.check(log.store.db)
        self.settings = settings
        self.log = log
        self.clock = clock
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self._closers: list[Callable[[], None]] = []
        from ombud.governance.settings import governed_values, verify_governed

        governed = self.roster.governed()
        verify_governed(settings, governed)
        if self.roster.established():
            # A roster recorded before its governance of settings (schema 0005), or before a
            # setting became governed (the cover's ε and δ): from now on it governs them, at
            # the values they have.
            missing = {n: v for n, v in governed_values(settings).items() if n not in governed}
            if missing:
                self.roster.record_governed(missing, actor="ombud")

    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        with_key: bool = True,
        clock: Clock = utc_now,
        environ: Mapping[str, str] | None = None,
        settings: Settings | None = None,
    ) -> Deployment:
        """Open the deployment in ``data_dir`` (its settings file with ``OMBUD_…`` overrides
        from ``environ``); ``with_key=False`` opens its log without the signing key."""
        settings = settings or Settings.load(data_dir, environ)
        log = open_log(data_dir, settings, with_key=with_key)
        try:
            return cls(settings, log, clock=clock, environ=environ)
        except BaseException:
            log.close()
            raise

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    @property
    def db(self) -> Database:
        """The deployment's database (the log's: one transaction covers an event and its rows)."""
        return self.log.store.db

    # --- stores -----------------------------------------------------------------------------

    @functools.cached_property
    def tokens(self) -> TokenStore:
        from ombud.tokens.store import TokenStore

        return TokenStore(self.db)

    @functools.cached_property
    def registry(self) -> DeviceRegistry:
        from ombud.ingest.devices import DeviceRegistry

        return DeviceRegistry(self.db, self.log, clock=self.clock)

    @functools.cached_property
    def actions(self) -> ActionBook:
        """Privileged requests, their signatures and their outcomes (or refusals)."""
        from ombud.governance.actions import ActionBook

        return ActionBook(self.db, self.log, clock=self.clock)

    @functools.cached_property
    def roster(self) -> RosterBook:
        """The authority roster: who may approve what, changed only by M-of-N signatures."""
        from ombud.governance.book import RosterBook

        return RosterBook(self.db, self.log, self.actions, clock=self.clock)

    def establish_roster(self, genesis: Roster, *, actor: str) -> int:
        """Record the genesis roster; from then on it governs the witness policy, retention
        and the privacy budget, at the values these settings have now."""
        from ombud.governance.settings import governed_values

        values = governed_values(self.settings)
        return self.roster.establish(genesis, actor=actor, settings=values).ledger_index

    def propose(self, request: ActionRequest, *, actor: str) -> int:
        """Record a privileged request that ombud can carry out (its parameters checked)."""
        from ombud.deployment.governed import effect_of

        effect_of(self, request, actor=actor)
        return self.actions.propose(request, actor=actor)

    def carry_out(self, digest: str, *, actor: str) -> int:
        """Carry out a pending privileged request once its signatures meet the policy."""
        from ombud.deployment.governed import effect_of

        request = self.actions.get(digest).request
        effect, after = effect_of(self, request, actor=actor)
        index = self.actions.carry_out(digest, effect, actor=actor)
        after()
        return index

    def submit(self, request: ActionRequest, approvals: list[Approval], *, actor: str) -> int:
        """Propose, sign and carry out a request signed offline (each step recorded)."""
        from ombud.deployment.governed import effect_of

        effect, after = effect_of(self, request, actor=actor)
        index = self.actions.submit(request, approvals, effect, actor=actor)
        after()
        return index

    @functools.cached_property
    def tenders(self) -> TenderBook:
        """Tenders with sealed bids, closed by witnessed ledger time."""
        from ombud.governance.procurement import TenderBook
        from ombud.ledger.note import Verifier

        policy = self.settings.witnesses
        keys = [Verifier.from_vkey(w.vkey) for w in policy.witness]
        return TenderBook(
            self.db, self.log, witnesses=lambda: (keys, policy.quorum), clock=self.clock
        )

    @functools.cached_property
    def decisions(self) -> DecisionBook:
        """Motions, members' signed votes and the decisions with their tallies."""
        from ombud.governance.chamber import DecisionBook

        return DecisionBook(self.db, self.log, clock=self.clock)

    @functools.cached_property
    def results(self) -> ResultBook:
        """Tracked results, each update signed by the office that answers for it."""
        from ombud.governance.delivery import ResultBook

        return ResultBook(self.db, self.log, clock=self.clock)

    @functools.cached_property
    def access(self) -> AccessBook:
        """Third parties' requests for residents' data, approved through the roster."""
        from ombud.access.book import AccessBook

        return AccessBook(self.db, self.log, self.vault, self.roster, clock=self.clock)

    @functools.cached_property
    def observations(self) -> ObservationStore:
        from ombud.sensors.observations import ObservationStore

        return ObservationStore(self.db)

    @functools.cached_property
    def quarantine(self) -> QuarantineStore:
        from ombud.sensors.quarantine import QuarantineStore

        return QuarantineStore(self.db)

    @functools.cached_property
    def posts(self) -> PostStore:
        from ombud.voice.posts import PostStore
        from ombud.voice.redemption import TokenBook

        voice = self.settings.voice
        book = TokenBook(self.db, origin=voice.origin or self.log.origin)
        return PostStore(
            self.db,
            self.log,
            book,
            voice.retention_days,
            self.clock,
            districts=frozenset(voice.district_list()),
        )

    @functools.cached_property
    def cover(self) -> CoverBook:
        """The cover leaves that hide each hour's number of posts (``privacy.cover_epsilon``
        and ``privacy.cover_delta``)."""
        from ombud.voice.cover import CoverBook, CoverPolicy

        section = self.settings.privacy
        return CoverBook(
            self.db,
            self.log,
            CoverPolicy(section.cover_epsilon, section.cover_delta),
            self.settings.voice.retention_days,
            self.clock,
        )

    @functools.cached_property
    def acceptor(self) -> PostAcceptor:
        """Posts arriving together, labelled and committed together (group commit)."""
        from ombud.voice.acceptance import PostAcceptor

        acceptor = PostAcceptor(self.posts, max_batch=self.settings.voice.post_batch)
        self._closers.append(acceptor.close)
        return acceptor

    @functools.cached_property
    def flags(self) -> FlagBook:
        from ombud.voice.flags import FlagBook

        return FlagBook(self.posts)

    @functools.cached_property
    def post_reports(self) -> PostReports:
        from ombud.voice.reports import PostReports

        return PostReports(self.db)

    @functools.cached_property
    def vault(self) -> Vault:
        """The vault, opened with the master key (``MasterKeyError`` without one); erasing a
        subject also destroys the salts of its access-request commitments, whether or not
        ``access`` was used in this process."""
        from ombud.access.book import forget_subject
        from ombud.privacy.master_key import load_master_keys
        from ombud.privacy.vault import Vault

        path = self.data_dir / self.settings.privacy.master_key_file
        vault = Vault(
            self.db,
            load_master_keys(path, self.environ),
            clock=self.clock,
            reload_keys=lambda: load_master_keys(path, self.environ),
        )
        vault.forget_with(forget_subject, "access_subjects", "access_requests")
        return vault

    # --- services ---------------------------------------------------------------------------

    @functools.cached_property
    def intake(self) -> Intake:
        """Checks and stores observations, with the compiled Smart Data Models from the
        deployment's cache (an ingest worker restarts in a moment)."""
        from ombud.ingest.intake import Intake
        from ombud.ingest.model_cache import cached_models

        intake = Intake(
            self.log,
            self.registry,
            self.observations,
            quarantine=self.quarantine,
            clock=self.clock,
            models=cached_models(self.data_dir),
            max_skew=timedelta(seconds=self.settings.ingest.max_clock_skew_s),
        )
        self._closers.append(intake.close)
        return intake

    @functools.cached_property
    def screener(self) -> Screener:
        from ombud.sensors.screening import Screener

        return Screener(
            self.db, self.log, self.settings.integrity, quarantine=self.quarantine, clock=self.clock
        )

    @functools.cached_property
    def _privacy(self) -> PrivacyOffice | MasterKeyError:
        from ombud.privacy.consent import ConsentBook
        from ombud.privacy.dp import ReleaseBook
        from ombud.privacy.office import PrivacyOffice

        try:
            vault = self.vault
        except MasterKeyError as exc:
            return exc
        section = self.settings.privacy
        releases = ReleaseBook(
            self.db,
            self.log,
            section.dp_rho_per_release,
            section.dp_rho_per_period,
            clock=self.clock,
        )
        return PrivacyOffice(
            section,
            tuple(self.settings.voice.district_list()),
            self.log,
            vault,
            ConsentBook(vault, self.log, clock=self.clock),
            releases,
            self.posts,
            self.post_reports,
        )

    def privacy(self) -> PrivacyOffice:
        """The privacy office; ``MasterKeyError`` when the master key is missing or wrong
        (everything that needs no personal data keeps working)."""
        office = self._privacy
        if isinstance(office, MasterKeyError):
            raise office
        return office

    @property
    def privacy_problem(self) -> MasterKeyError | None:
        """Why the privacy office is unavailable (None: it is available)."""
        office = self._privacy
        return office if isinstance(office, MasterKeyError) else None

    @functools.cached_property
    def publisher(self) -> Publisher:
        """Signs checkpoints and publishes them once the witnesses cosigned (needs the log's
        key; its HTTP client is closed by ``Publisher.aclose``, on the serving event loop)."""
        from ombud.witness.publisher import Publisher

        return Publisher(self.log, self.settings.witnesses)

    # --- lifetime ---------------------------------------------------------------------------

    def prepare(self) -> None:
        """Build every part now. A server calls this before it serves: parts are built on
        first use, and two requests must not both build one (``cached_property`` takes no
        lock from Python 3.12 on)."""
        for part in (
            "tokens", "registry", "observations", "quarantine", "posts", "cover", "acceptor",
            "flags", "post_reports", "intake", "screener", "_privacy", "actions", "roster",
            "tenders", "decisions", "results",
        ):  # fmt: skip
            getattr(self, part)

    def close(self) -> None:
        """Close every part opened, in reverse order, then the log."""
        while self._closers:
            self._closers.pop()()
        self.log.close()

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
