"""What the roster's privileged actions do to a deployment, and the check that its settings are
the ones the roster set.

Threat model: the operator edits ``ombud.toml`` and the environment and runs every command;
the holders' keys are elsewhere. Each action class ombud carries out maps here to its effect
(a roster change, an access approval, a governed setting), and nothing else is carried out.
A governed setting is written to ``ombud.toml`` only after its ``settings.changed`` event
committed; a deployment whose settings differ from the roster's refuses to open
(``verify_governed``), so a hand-edited witness quorum, retention or privacy budget never
quietly takes effect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ombud.config import Settings
from ombud.database import Tx
from ombud.errors import ConfigError, MalformedError
from ombud.events import Event
from ombud.governance.actions import Effect
from ombud.governance.book import record_settings, settings_event
from ombud.governance.chamber import TABLE
from ombud.governance.procurement import PUBLISH
from ombud.governance.roster import CHANGE_ROSTER, RECOVER_ROSTER, ActionRequest, Approval, Roster
from ombud.governance.settings import GOVERNED, changed_settings, governed_values

if TYPE_CHECKING:
    from ombud.deployment.assembly import Deployment

__all__ = ["CARRIED_OUT", "effect_of"]

CARRIED_OUT = (CHANGE_ROSTER, RECOVER_ROSTER, "access.approve", PUBLISH, TABLE, *GOVERNED)
"""The action classes ombud carries out; a policy may name others, for signatures alone."""


def _settings_change(deployment: Deployment, *, actor: str) -> tuple[Effect, Callable[[], None]]:
    carried: list[tuple[ActionRequest, int]] = []

    def build(
        tx: Tx, roster: Roster, request: ActionRequest, approvals: tuple[Approval, ...]
    ) -> list[Event]:
        on_file = Settings.as_written(deployment.data_dir)
        new = changed_settings(on_file, request.action, request.params)
        try:
            new.to_toml()  # the file saved once this commits reads back as these settings
        except ConfigError as exc:
            raise MalformedError(f"the new settings cannot be saved: {exc}") from None
        values = {n: v for n, v in governed_values(new).items() if n in GOVERNED[request.action]}
        record_values.append(values)
        made.append(request)
        return [settings_event(values, deployment.clock(), actor, request.digest)]

    def record(tx: Tx, index: int) -> None:
        record_settings(tx, record_values[-1], index)
        carried.append((made[-1], index))

    def save() -> None:
        # Under the database's write lock, onto the file as it is then, and only the settings
        # this action is still the last to have set: another change carried out between this
        # one's commit and its save (its own save pending) is neither undone nor lost. Saving
        # the settings built before the commit once wrote back the other change's old values,
        # and the deployment then refused to open.
        if not carried:
            return
        request, index = carried[-1]
        with deployment.db.transaction():
            latest = deployment.roster.governed()
            mine = {
                n: v for n, v in request.params.items() if latest.get(n, (None, -1))[1] == index
            }
            if mine:
                on_file = Settings.as_written(deployment.data_dir)
                changed_settings(on_file, request.action, mine).save()

    record_values: list[dict[str, object]] = []
    made: list[ActionRequest] = []
    return Effect(build, record), save


def effect_of(
    deployment: Deployment, request: ActionRequest, *, actor: str
) -> tuple[Effect, Callable[[], None]]:
    """The effect of carrying out ``request`` and what to do once it committed; raises
    ``MalformedError`` for an action ombud does not carry out or parameters that do not fit."""
    if request.action in (CHANGE_ROSTER, RECOVER_ROSTER):
        deployment.roster.check_successor(request)
        return deployment.roster.succession(actor=actor), _nothing
    if request.action == "access.approve":
        deployment.access.check_approval(request)
        request_id = str(request.params["request"])
        return deployment.access.approval(request_id, actor=actor), _nothing
    if request.action == PUBLISH:
        deployment.tenders.check_publication(request)
        return deployment.tenders.publication(actor=actor), _nothing
    if request.action == TABLE:
        deployment.decisions.check_tabling(request)
        return deployment.decisions.tabling(actor=actor), _nothing
    if request.action in GOVERNED:
        changed_settings(deployment.settings, request.action, request.params)  # fits, or raises
        return _settings_change(deployment, actor=actor)
    raise MalformedError(
        f"ombud carries out none of {request.action[:40]!r}; it carries out "
        f"{', '.join(CARRIED_OUT)}"
    )


def _nothing() -> None:
    return None
