"""The demo's voice act: residents post anonymously through a real ``ombud serve``, a token is
refused the second time, a point location is refused, and a copy-paste campaign is flagged.

Threat model: as ``ombud.cli.demo`` — a demonstration on loopback. The issuer lives in a
directory of the demo deployment (mode 0700); the publishing token the act creates is revoked
by the caller with the others. Each run publishes a period of its own (one key per period).
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from ombud.base64url import b64url
from ombud.canonical import canonical_json
from ombud.errors import UnavailableError, VerificationError
from ombud.events import Event, verify_commitment
from ombud.voice.issuer import Issuer
from ombud.voice.posts import parse_salt
from ombud.voice.tokens import finalize_token, load_public_key, period_challenge, request_token

__all__ = ["Residents", "voice_act"]

RESIDENTS = (
    ("harbour", "The bins on Quay Street were not collected again this week. Disgusting."),
    ("harbour", "Thanks to the crew who fixed the street light by the ferry so quickly!"),
    ("north", "Bus 14 is late every single morning, I keep missing my train"),
    ("north", "The new playground in Elm Park is lovely, the kids adore it"),
    ("riverside", "Water has been leaking from a pipe on Mill Lane for three days"),
    ("riverside", "Th\u200be n\u0435w cycle lane is gr3@t, feels much safer"),  # obfuscated
    ("centre", "When does the library open on Sundays?"),
    ("centre", "Loud construction work at 6am again, this is unbearable"),
)
CAMPAIGN = (
    "The new parking scheme in the centre is a disgrace, the council must scrap it now",
    "The new parking scheme in the centre is a disgrace! the council must scrap it now!!",
    "Honestly the new parking scheme in the centre is a disgrace, council must scrap it now",
    "The new parking scheme in the centre is a total disgrace, the council must scrap it now",
    "the new parking scheme in the centre is a disgrace the council must scrap it NOW #fail",
    "The new parking scheme in the centre is a disgrace, the council must scrap it now 😡",
)


class Residents:
    def __init__(self, issuer: Issuer, key: bytes, period: str, origin: str) -> None:
        self.issuer, self.period, self.origin = issuer, period, origin
        self.public = load_public_key(key)
        self.count = 0

    def token(self) -> str:
        """A resident's token: blinded request, issuer's signature, unblinded (RFC 9578)."""
        self.count += 1
        pending = request_token(
            self.public, period_challenge(self.issuer.name, self.period, self.origin)
        )
        response = self.issuer.issue(self.period, f"demo-resident-{self.count}", pending.request)
        token = finalize_token(self.public, pending, response).to_bytes()
        return b64url(token)


def _screen_rounds(client: httpx.Client) -> int:
    metrics = client.get("/metrics").text
    for line in metrics.splitlines():
        if line.startswith("ombud_voice_screen_rounds_total "):
            return int(line.split()[1])
    raise UnavailableError("the server does not report ombud_voice_screen_rounds_total")


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f'PrivateToken token="{token}"'}


def voice_act(
    client: httpx.Client,
    data_dir: Path,
    admin_token: str,
    origin: str,
    progress: Callable[[str], None],
) -> tuple[list[tuple[str, str]], Residents]:
    """Rows for the demo's table (``admin_token`` has ``voice:publish`` and ``voice:read``),
    and the residents
    of the act's period, for the acts after it."""
    suffix = secrets.token_hex(3)
    period = f"demo-{suffix}"
    issuer = Issuer.init(data_dir / f"issuer-{suffix}", "id.demo.ombud.localhost")
    key = issuer.create_period(period)
    client.post(
        "/voice/issuer-keys",
        json={"period": period, "issuer": issuer.name, "key": base64.b64encode(key).decode()},
        headers={"Authorization": f"Bearer {admin_token}"},
    ).raise_for_status()
    residents = Residents(issuer, key, period, origin)
    progress(f"issuer key of period {period} published; residents posting")

    labels, receipts = [], []
    for district, text in RESIDENTS:
        r = client.post(
            "/voice/posts",
            json={"text": text, "district": district},
            headers=_auth(residents.token()),
        )
        r.raise_for_status()
        labels.append(f"{r.json()['sentiment']}/{r.json()['service']}")
        receipts.append(r.json()["receipt"])
    leaf = _check_receipt(client, receipts[0])
    token = residents.token()
    form = {
        "service_code": "roads",
        "description": "Pothole outside the school gates",
        "address_id": "north",
    }
    client.post("/open311/v2/requests.json", data=form, headers=_auth(token)).raise_for_status()
    replay = client.post("/open311/v2/requests.json", data=form, headers=_auth(token))
    located = client.post(
        "/voice/posts",
        json={"text": "Broken bench", "district": "north", "lat": 51.5, "long": -0.12},
        headers=_auth(residents.token()),
    )
    if replay.status_code != 409 or located.status_code != 400:
        raise VerificationError("the demo expected a spent token and a location to be refused")

    staff = {"Authorization": f"Bearer {admin_token}"}
    before = client.get("/voice/sentiment", params={"district": "centre"}, headers=staff).json()
    for text in CAMPAIGN:
        client.post(
            "/voice/posts",
            json={"text": text, "district": "centre"},
            headers=_auth(residents.token()),
        ).raise_for_status()
    progress("a copy-paste campaign posted; waiting for the server to screen it")
    # Two screening passes after the last post: the first may have begun before it landed.
    wanted = _screen_rounds(client) + 2
    deadline = time.monotonic() + 60
    while _screen_rounds(client) < wanted:
        if time.monotonic() > deadline:
            raise UnavailableError("the server did not screen the posts within a minute")
        time.sleep(0.3)
    after = client.get("/voice/sentiment", params={"district": "centre"}, headers=staff).json()
    flags = after["flaggedExcluded"] - before["flaggedExcluded"]
    if flags < len(CAMPAIGN) - 1:
        raise VerificationError(f"only {flags} of the campaign's posts were flagged")

    rows = [
        (
            "residents",
            f"{len(RESIDENTS)} anonymous posts (RFC 9578 tokens, one per resident, blind-signed "
            f"by the issuer) and 1 Open311 request accepted; labels: {', '.join(labels)} "
            "(the obfuscated one read like plain text)",
        ),
        (
            "public ledger",
            f"a post's leaf holds only {', '.join(sorted(leaf))}: no district, service or "
            "sentiment; its writer opened their receipt (post id and salt) and checked "
            "SHA-256(salt || record) against the leaf",
        ),
        (
            "voice refused",
            f"a spent token → {replay.status_code} ({replay.json()[0]['description']}); "
            f"a point location → {located.status_code}",
        ),
        (
            "campaign flagged",
            f"{len(CAMPAIGN)} near-duplicate posts in the centre: {flags} flagged by the "
            "server's screening (a cluster's earliest post is kept); the centre's sentiment counts "
            f"{after['tokened']['posts']} posts "
            f"(before the campaign {before['tokened']['posts']}), {flags} more left out",
        ),
    ]
    return rows, residents


def _check_receipt(client: httpx.Client, receipt: dict[str, str]) -> list[str]:
    """A resident opens their receipt and checks the record against the public leaf; returns
    what the leaf says in clear."""
    opened = client.post("/voice/receipts", json=receipt)
    opened.raise_for_status()
    got = opened.json()
    event = Event.from_bytes(got["event"].encode("utf-8"))
    salt = parse_salt(receipt["salt"])
    verify_commitment(
        bytes.fromhex(str(event.body["commitment"])), canonical_json(got["record"]), salt
    )
    if set(event.body) != {"v", "period", "nullifier", "commitment"}:
        raise VerificationError("a post's public leaf says more than its period and commitment")
    return [k for k in event.body if k != "v"]
