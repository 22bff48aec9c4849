"""The settings the roster governs: whose cosignatures publishing waits for, how long residents'
posts are kept, how much privacy budget releases may spend, and the (ε, δ) of the cover leaves
that hide each hour's number of posts.

Threat model: the operator writes ``ombud.toml`` and the environment; left alone, they could
weaken the witness policy, keep posts longer, spend more privacy budget or thin the cover without
anyone's signature. Once a roster is in force these settings change only through its action
classes (``witness.change``, ``retention.change``, ``budget.change``, ``cover.change``); the
values each action set are recorded (a ``settings.changed`` event, and a table), and
``verify_governed`` refuses settings that differ from them, naming the setting, so an edited file
stops the deployment instead of quietly taking effect. Pure: settings and JSON values in,
settings out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ombud.config import Settings
from ombud.errors import ConfigError, MalformedError, ReservedActionError
from ombud.witness.policy import WitnessEndpoint, WitnessPolicy

__all__ = [
    "GOVERNED",
    "WITNESS_CHANGE",
    "changed_settings",
    "governed_values",
    "verify_governed",
    "witness_values",
]

WITNESS_CHANGE = "witness.change"
GOVERNED: Mapping[str, tuple[str, ...]] = {
    WITNESS_CHANGE: ("witnesses",),
    "retention.change": ("voice.retention_days",),
    "budget.change": ("privacy.dp_rho_per_period", "privacy.dp_rho_per_release"),
    "cover.change": ("privacy.cover_epsilon", "privacy.cover_delta"),
}
"""Each action class the roster reserves over settings → the settings it changes."""
_ACTION_OF = {name: action for action, names in GOVERNED.items() for name in names}


def _witnesses(policy: WitnessPolicy) -> dict[str, Any]:
    # Who cosigns and how many: a witness's URL is only where it is reached (a server posing
    # as it cannot cosign without its key), so moving a witness needs no signatures.
    return {"quorum": policy.quorum, "keys": sorted(w.vkey for w in policy.witness)}


def governed_values(settings: Settings) -> dict[str, Any]:
    """Every governed setting's value, as JSON (the witness policy as its quorum and its
    witnesses' keys)."""
    return {
        "witnesses": _witnesses(settings.witnesses),
        "voice.retention_days": settings.voice.retention_days,
        "privacy.dp_rho_per_period": settings.privacy.dp_rho_per_period,
        "privacy.dp_rho_per_release": settings.privacy.dp_rho_per_release,
        "privacy.cover_epsilon": settings.privacy.cover_epsilon,
        "privacy.cover_delta": settings.privacy.cover_delta,
    }


def _policy(base: WitnessPolicy, value: Any) -> WitnessPolicy:
    """``base`` with the quorum and witnesses of a ``witness.change``'s ``witnesses``."""
    if not isinstance(value, dict) or set(value) != {"quorum", "witness"}:
        raise MalformedError("witnesses is {quorum, witness: [{vkey, url}]}")
    listed = value["witness"]
    if not isinstance(listed, list) or not all(
        isinstance(w, dict) and set(w) == {"vkey", "url"} for w in listed
    ):
        raise MalformedError("witnesses.witness is a list of {vkey, url}")
    endpoints = tuple(WitnessEndpoint(str(w["vkey"]), str(w["url"])) for w in listed)
    return replace(base, quorum=value["quorum"], witness=endpoints)


def witness_values(value: Any) -> dict[str, Any]:
    """What carrying out ``witness.change`` with ``value`` as its ``witnesses`` records (in
    ``settings.changed``): the quorum and the witnesses' keys; raises ``MalformedError`` for a
    value the witness policy refuses."""
    try:
        return _witnesses(_policy(WitnessPolicy(), value))
    except ConfigError as exc:
        raise MalformedError(str(exc)) from None


def _with(settings: Settings, name: str, value: Any) -> Settings:
    if name == "witnesses":
        return replace(settings, witnesses=_policy(settings.witnesses, value))
    section, key = name.split(".")
    part = getattr(settings, section)
    expected = type(getattr(part, key))
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, expected):
        raise MalformedError(f"{name} is {expected.__name__}, not {value!r}"[:200])
    return replace(settings, **{section: replace(part, **{key: value})})


def changed_settings(settings: Settings, action: str, params: Mapping[str, Any]) -> Settings:
    """``settings`` with ``action``'s parameters applied; raises ``MalformedError`` for an
    action that governs no settings, a parameter it does not govern, or a value the settings
    refuse (each checked as ``ombud.toml`` is)."""
    names = GOVERNED.get(action)
    if names is None:
        raise MalformedError(f"{action} changes no setting")
    if not params or not set(params) <= set(names):
        raise MalformedError(f"{action} sets some of {', '.join(names)} and nothing else")
    new = settings
    try:
        for name, value in params.items():
            new = _with(new, name, value)  # replace() runs each section's own checks
    except ConfigError as exc:
        raise MalformedError(str(exc)) from None
    return new


def verify_governed(settings: Settings, recorded: Mapping[str, tuple[Any, int]]) -> None:
    """None when ``settings`` hold every value the roster recorded (name → value and the
    ledger index that set it); raises ``ReservedActionError`` naming the first that differs."""
    values = governed_values(settings)
    for name, (value, index) in sorted(recorded.items()):
        if name in values and values[name] != value:
            raise ReservedActionError(
                f"{name} in ombud.toml or the environment is not what the roster set at ledger "
                f"index {index} ({value!r}"[:300]
                + f"); the roster reserves {_ACTION_OF[name]}: restore the value, or have the "
                "holders sign the change (`ombud roster propose`)"
            )
