"""``ombud voice …``: the token issuer's and the resident's side of anonymous tokens.

Threat model: see ``ombud.cli`` and ``ombud.voice.issuer``. Requests, responses, tokens and
keys travel as base64 on stdin/stdout, so the issuer's host and the resident's device need
share nothing else. A resident's pending state holds the unblinding factor: it is written
mode 0600 and never printed (whoever holds it together with the request can link the token).
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
from pathlib import Path

from ombud.errors import MalformedError
from ombud.keyfile import read_private_key, write_private_key
from ombud.voice.issuer import Issuer
from ombud.voice.tokens import (
    PendingToken,
    finalize_token,
    load_public_key,
    period_challenge,
    request_token,
)

__all__ = [
    "run_issuer_init",
    "run_issuer_issue",
    "run_issuer_period",
    "run_token_finalize",
    "run_token_request",
]


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise MalformedError(f"{what} is not base64") from None


def _out(data: bytes) -> None:
    print(base64.b64encode(data).decode("ascii"))


def _key(text: str) -> bytes:
    """A public key given as base64, or a file holding it."""
    path = Path(text)
    if len(text) < 256 and path.is_file():
        text = path.read_text(encoding="ascii")
    return _b64(text, "the issuer key")


def run_issuer_init(state: Path, name: str) -> None:
    Issuer.init(state, name)
    print(f"issuer {name} initialised in {state}")


def run_issuer_period(state: Path, period: str) -> None:
    """Create the period's key and print its public key (to publish on the ledger)."""
    _out(Issuer.open(state).create_period(period))


def run_issuer_issue(state: Path, period: str, resident: str) -> None:
    request = _b64(sys.stdin.read(), "the token request")
    _out(Issuer.open(state).issue(period, resident, request))


def run_token_request(key: str, issuer: str, period: str, origin: str, pending: Path) -> None:
    """Print a blinded TokenRequest; keep what finalising needs in ``pending`` (mode 0600)."""
    public = load_public_key(_key(key))
    made = request_token(public, period_challenge(issuer, period, origin))
    state = {
        "token_input": base64.b64encode(made.token_input).decode("ascii"),
        "inv": format(made.inv, "x"),
        "request": base64.b64encode(made.request).decode("ascii"),
    }
    write_private_key(pending, json.dumps(state))
    _out(made.request)


def run_token_finalize(key: str, pending: Path) -> None:
    """Read the issuer's TokenResponse on stdin; print the token."""
    public = load_public_key(_key(key))
    try:
        state = json.loads(read_private_key(pending))
        made = PendingToken(
            _b64(state["token_input"], "the pending token"),
            int(state["inv"], 16),
            _b64(state["request"], "the pending request"),
        )
    except MalformedError:
        raise
    except (KeyError, TypeError, ValueError):
        raise MalformedError(f"{pending} is not a pending token") from None
    response = _b64(sys.stdin.read(), "the token response")
    _out(finalize_token(public, made, response).to_bytes())
