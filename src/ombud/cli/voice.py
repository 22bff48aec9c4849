"""``ombud voice …``: anonymous tokens (issuer and resident), posts, imports, classification.

Threat model: see ``ombud.cli`` and ``ombud.voice.issuer``. Requests, responses, tokens and
keys travel as base64 on stdin/stdout, so the issuer's host and the resident's device need
share nothing else. A resident's pending state holds the unblinding factor: it is written
mode 0600 and never printed (whoever holds it together with the request can link the token).
The key that pseudonymises imported authors is created mode 0600 in the data directory and
never written beside the posts or printed.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import secrets
import sys
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ombud.deployment import Deployment
from ombud.errors import ConfigError, MalformedError
from ombud.integrity.coordination import CoordinationSettings
from ombud.keyfile import read_private_key, write_private_key
from ombud.voice.issuer import Issuer
from ombud.voice.posts import PostStore, Submission
from ombud.voice.tokens import (
    PendingToken,
    finalize_token,
    load_public_key,
    period_challenge,
    request_token,
)

__all__ = [
    "run_classify",
    "run_import",
    "run_issuer_init",
    "run_issuer_issue",
    "run_issuer_period",
    "run_post",
    "run_publish",
    "run_purge",
    "run_report",
    "run_screen",
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


AUTHOR_KEY = "voice-author.key"
"""The key of the keyed hash that pseudonymises imported authors; in the data directory, mode
0600, never stored with the posts."""


@contextlib.contextmanager
def _posts(data_dir: Path) -> Iterator[PostStore]:
    with Deployment.open(data_dir, with_key=False) as deployment:
        yield deployment.posts


def run_classify(batch: int = 256) -> None:
    """Lines of text on stdin → one JSON object per line on stdout (a contract):
    ``{"label", "scores", "service", "normalised"}``. Blank lines are classified too, so the
    output keeps the input's line count."""
    from ombud.voice.labels import label_texts

    def flush(lines: list[str]) -> None:
        for labels in label_texts(lines):
            sys.stdout.write(json.dumps(labels.to_json(), ensure_ascii=False) + "\n")
        sys.stdout.flush()

    pending: list[str] = []
    for line in sys.stdin:
        pending.append(line.rstrip("\r\n"))
        if len(pending) >= batch:
            flush(pending)
            pending = []
    if pending:
        flush(pending)


def run_publish(data_dir: Path, period: str, issuer: str, key: str) -> None:
    with _posts(data_dir) as posts:
        published = posts.book.publish(
            posts.log, period, issuer, _key(key), actor="operator", clock=posts.clock
        )
    print(f"issuer key of period {period} published at ledger index {published.ledger_index}")


def run_post(data_dir: Path, district: str, service: str | None, token: str) -> None:
    """Post the text on stdin, paid with ``token`` (base64 or a file holding it)."""
    text = sys.stdin.read()
    with _posts(data_dir) as posts:
        receipt = posts.submit(Submission(text, district, service), _key(token))
    # The receipt (post id and salt) is the writer's alone: with it they prove the post is on
    # the log and read its labels (POST /voice/receipts); the ledger shows neither.
    print(json.dumps({**receipt.post.to_json(), "receipt": receipt.to_json()}, indent=2))


def _author_key(data_dir: Path) -> bytes:
    path = data_dir / AUTHOR_KEY
    if not path.exists():
        write_private_key(path, secrets.token_hex(32))
    try:
        return bytes.fromhex(read_private_key(path))
    except ValueError:
        raise ConfigError(f"{path} must hold the author key as hex") from None


def run_import(data_dir: Path, file: Path, district: str | None) -> None:
    """Import public social-media posts from JSON lines (see ``ombud.voice.social_import``)."""
    records: list[tuple[int, Mapping[str, Any]]] = []
    refused: list[tuple[int, str]] = []
    try:
        with file.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    records.append((number, json.loads(line)))
                except ValueError as exc:
                    refused.append((number, f"not JSON: {exc}"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {file}: {exc}") from exc
    from ombud.voice.social_import import import_posts

    with Deployment.open(data_dir, with_key=False) as deployment:
        report = import_posts(
            deployment.posts,
            records,
            _author_key(data_dir),
            coordination=CoordinationSettings(author_max=deployment.settings.voice.author_max),
            default_district=district,
        )
    report = replace(report, refused=tuple(sorted(refused + list(report.refused))))
    print(json.dumps(report.to_json(), indent=2))


def run_screen(data_dir: Path) -> None:
    with Deployment.open(data_dir, with_key=False) as deployment:
        flagged = deployment.flags.screen()
    print(f"{flagged} posts newly flagged as coordinated")


def run_purge(data_dir: Path) -> None:
    with _posts(data_dir) as posts:
        purged = posts.purge_expired()
    print(f"text of {purged} posts deleted (retention ended); their labels stay")


def run_report(data_dir: Path, as_json: bool) -> None:
    """Sentiment per district (tokened and imported apart, flagged left out) and every flag."""
    from rich.console import Console
    from rich.table import Table

    with Deployment.open(data_dir, with_key=False) as deployment:
        reports = deployment.post_reports
        summaries = [reports.sentiment(district=d) for d in reports.districts()]
        flagged = reports.list(flagged=True, limit=1000)
    if as_json:
        print(
            json.dumps(
                {
                    "districts": [s.to_json() for s in summaries],
                    "flags": [p.to_json() for p in flagged],
                },
                indent=2,
            )
        )
        return
    console = Console()
    table = Table(title="Sentiment by district (flagged posts left out)")
    for column in ("district", "source", "posts", "negative", "neutral", "positive", "net"):
        table.add_column(column)
    for s in summaries:
        data = s.to_json()
        for source in ("tokened", "imported"):
            side = data[source]
            if side["posts"]:
                table.add_row(
                    s.district,
                    source,
                    *(str(side[k]) for k in ("posts", "negative", "neutral", "positive", "net")),
                )
    console.print(table)
    flags = Table(title=f"Flagged posts ({len(flagged)})")
    for column in ("post", "district", "service", "check", "reason", "released"):
        flags.add_column(column)
    for p in flagged:
        flags.add_row(
            p.id,
            p.district,
            p.service,
            p.flag or "",
            p.flag_reason or "",
            "yes" if p.flag_released else "no",
        )
    console.print(flags)
