"""``ombud voice …``: anonymous tokens (issuer and resident), posts, imports, classification.

Threat model: see ``ombud.cli`` and ``ombud.voice.issuer``. Requests, responses, tokens and
keys travel as base64 on stdin/stdout, so the issuer's host and the resident's device need
share nothing else. A resident's pending state holds the unblinding factor: it is written
mode 0600 and never printed (whoever holds it together with the request can link the token).
The key that pseudonymises imported authors is created mode 0600 in the data directory and
never written beside the posts or printed.

The voice stack (the classifier's model, the token cryptography) is imported by the commands
that use it, never to parse a command line.
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
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO

import typer

from ombud.canonical import parse_json
from ombud.cli.options import DataDir
from ombud.deployment import Deployment
from ombud.errors import ConfigError, MalformedError
from ombud.keyfile import read_private_key, write_private_key
from ombud.storage import read_capped

if TYPE_CHECKING:
    from ombud.voice.posts import PostStore

__all__ = ["AUTHOR_KEY", "voice_app"]

voice_app = typer.Typer(
    help="Residents' voice: anonymous tokens, posts, imports and classification.",
    no_args_is_help=True,
)
issuer_app = typer.Typer(
    help="The city's token issuer: one blind-signed token per resident per period.",
    no_args_is_help=True,
)
resident_token_app = typer.Typer(
    help="A resident's side: request a token blindly, then finalise it.", no_args_is_help=True
)
voice_app.add_typer(issuer_app, name="issuer")
voice_app.add_typer(resident_token_app, name="token")

IssuerState = Annotated[Path, typer.Option("--state", help="The issuer's state directory.")]
Period = Annotated[str, typer.Option(help="The period, e.g. 2026-12.")]
IssuerKey = Annotated[
    str, typer.Option("--key", help="The period's issuer key (base64), or a file holding it.")
]

AUTHOR_KEY = "voice-author.key"
"""The key of the keyed hash that pseudonymises imported authors; in the data directory, mode
0600, never stored with the posts."""


def _b64(text: str, what: str) -> bytes:
    """Standard base64, or base64url as the HTTP API takes tokens (padding optional)."""
    text = text.strip()
    if "-" in text or "_" in text:
        text = text.translate(str.maketrans("-_", "+/"))
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise MalformedError(f"{what} is not base64 or base64url") from None


def _out(data: bytes) -> None:
    print(base64.b64encode(data).decode("ascii"))


def _key(text: str) -> bytes:
    """A key or a token given as base64 (or base64url), or a file holding it."""
    path = Path(text)
    if len(text) < 256 and path.is_file():
        try:
            text = read_capped(path, 64 << 10).decode("ascii")
        except UnicodeDecodeError:
            raise MalformedError(f"{path} does not hold base64") from None
    return _b64(text, "the issuer key or token")


# --- the issuer ------------------------------------------------------------------------------


@issuer_app.command("init")
def issuer_init(
    state: IssuerState,
    name: Annotated[str, typer.Option(help="The issuer's host name, e.g. id.city.example.")],
) -> None:
    """Create an issuer (state directory mode 0700, secrets mode 0600)."""
    from ombud.voice.issuer import Issuer

    Issuer.init(state, name)
    print(f"issuer {name} initialised in {state}")


@issuer_app.command("period")
def issuer_period(state: IssuerState, period: Period) -> None:
    """Create a period's key; prints its public key (base64) to publish on the ledger."""
    from ombud.voice.issuer import Issuer

    _out(Issuer.open(state).create_period(period))


@issuer_app.command("issue")
def issuer_issue(
    state: IssuerState,
    period: Period,
    resident: Annotated[str, typer.Option(help="The resident's id in the identity service.")],
) -> None:
    """Sign a blinded TokenRequest (base64 on stdin) once per resident and period."""
    from ombud.voice.issuer import Issuer

    request = _b64(sys.stdin.read(), "the token request")
    _out(Issuer.open(state).issue(period, resident, request))


# --- the resident ----------------------------------------------------------------------------


@resident_token_app.command("request")
def token_request(
    key: IssuerKey,
    issuer: Annotated[str, typer.Option(help="The issuer's name.")],
    period: Period,
    origin: Annotated[str, typer.Option(help="The platform the token is for.")],
    pending: Annotated[Path, typer.Option(help="File to keep the pending state in (0600).")],
) -> None:
    """Print a blinded TokenRequest (base64) for the issuer."""
    # What finalising needs is kept in ``pending`` (mode 0600).
    from ombud.voice.tokens import load_public_key, period_challenge, request_token

    public = load_public_key(_key(key))
    made = request_token(public, period_challenge(issuer, period, origin))
    state = {
        "token_input": base64.b64encode(made.token_input).decode("ascii"),
        "inv": format(made.inv, "x"),
        "request": base64.b64encode(made.request).decode("ascii"),
    }
    write_private_key(pending, json.dumps(state))
    _out(made.request)


@resident_token_app.command("finalize")
def token_finalize(
    key: IssuerKey,
    pending: Annotated[Path, typer.Option(help="The pending state from `token request`.")],
) -> None:
    """Read the issuer's TokenResponse (base64 on stdin); print the token (base64)."""
    from ombud.voice.tokens import PendingToken, finalize_token, load_public_key

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


# --- posts -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _posts(data_dir: Path) -> Iterator[PostStore]:
    with Deployment.open(data_dir, with_key=False) as deployment:
        yield deployment.posts


_POST_BYTES = 65_536
"""Bytes ``ombud voice post`` reads from stdin at most."""

CLASSIFY_LINE_BYTES = 16_384
"""Bytes of a line ``ombud voice classify`` reads; the rest of a longer line is skipped (the
models read far less: 128 word pieces for sentiment, 2,000 characters for the service)."""


IMPORT_LINE_BYTES = 1 << 20
"""Bytes a record of ``ombud voice import`` may have (a post's text is 4,000 characters at
most); a longer line is refused alone, and never held whole."""


def _numbered_lines(stream: BinaryIO, limit: int) -> Iterator[tuple[int, bytes | None]]:
    """Each line of ``stream`` with its number, read up to ``limit`` bytes: None for a longer
    line, whose rest is skipped as it is read."""
    number = 0
    while raw := stream.readline(limit + 1):
        number += 1
        if len(raw) > limit and not raw.endswith(b"\n"):
            while (rest := stream.readline(limit)) and not rest.endswith(b"\n"):
                pass
            yield number, None
        else:
            yield number, raw


def _lines(stream: BinaryIO, limit: int) -> Iterator[str]:
    """Each line of ``stream`` without its line ending, cut to ``limit`` bytes as it is read
    (never holding more), invalid UTF-8 replaced."""
    while raw := stream.readline(limit):
        if not raw.endswith(b"\n"):  # cut: skip to the end of this line
            while (rest := stream.readline(limit)) and not rest.endswith(b"\n"):
                pass
        yield raw.decode("utf-8", errors="replace").rstrip("\r\n")


@voice_app.command("classify")
def voice_classify() -> None:
    """Read lines of text on stdin; write one JSON object per line:
    {"label", "scores", "service", "normalised"}. Lines longer than 16 KiB are read to
    16 KiB."""
    # The output is a contract. Blank lines are classified too, so the output keeps the input's
    # line count.
    from ombud.voice.labels import label_texts

    batch = 256

    def flush(lines: list[str]) -> None:
        for labels in label_texts(lines):
            sys.stdout.write(json.dumps(labels.to_json(), ensure_ascii=False) + "\n")
        sys.stdout.flush()

    pending: list[str] = []
    for line in _lines(sys.stdin.buffer, CLASSIFY_LINE_BYTES):
        pending.append(line)
        if len(pending) >= batch:
            flush(pending)
            pending = []
    if pending:
        flush(pending)


@voice_app.command("publish-key")
def voice_publish_key(
    data_dir: DataDir,
    period: Period,
    issuer: Annotated[str, typer.Option(help="The issuer's name.")],
    key: IssuerKey,
) -> None:
    """Publish a period's issuer key on the ledger (issuer.key_published), once per period."""
    with _posts(data_dir) as posts:
        published = posts.book.publish(
            posts.log, period, issuer, _key(key), actor="operator", clock=posts.clock
        )
    print(f"issuer key of period {period} published at ledger index {published.ledger_index}")


@voice_app.command("post")
def voice_post(
    data_dir: DataDir,
    district: Annotated[str, typer.Option(help="District or grid cell id.")],
    token: Annotated[str, typer.Option(help="The resident's token (base64), or a file.")],
    service: Annotated[str | None, typer.Option(help="The service it is about.")] = None,
) -> None:
    """Post the text on stdin, paid with one token."""
    from ombud.voice.posts import Submission

    raw = sys.stdin.buffer.read(_POST_BYTES + 1)  # never more: a post is 2,000 characters
    if len(raw) > _POST_BYTES:
        raise MalformedError(f"a post's text is at most {_POST_BYTES} bytes on stdin")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedError("the text on stdin is not UTF-8; nothing was posted") from None
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


@voice_app.command("import")
def voice_import(
    file: Annotated[Path, typer.Argument(help='JSON lines {"id","created_at","author","text",…}')],
    data_dir: DataDir,
    district: Annotated[
        str | None, typer.Option(help="District for records that name none.")
    ] = None,
) -> None:
    """Import public social-media posts, marked untokened: authors pseudonymised by a keyed
    hash, kept as the DP privacy unit until the text's retention ends."""
    # The records' format: see ``ombud.voice.social_import``.
    records: list[tuple[int, Mapping[str, Any]]] = []
    refused: list[tuple[int, str]] = []
    try:
        with file.open("rb") as f:
            for number, line in _numbered_lines(f, IMPORT_LINE_BYTES):
                if line is None:
                    refused.append((number, f"longer than {IMPORT_LINE_BYTES} bytes"))
                    continue
                if not line.strip():
                    continue
                try:
                    records.append((number, parse_json(line, "the record", max_depth=16)))
                except MalformedError as exc:
                    refused.append((number, str(exc)))
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc}") from exc
    from ombud.integrity.coordination import CoordinationSettings
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


@voice_app.command("screen")
def voice_screen(data_dir: DataDir) -> None:
    """Flag coordinated posts (what `ombud serve` does every voice.screen_interval_s)."""
    with Deployment.open(data_dir, with_key=False) as deployment:
        flagged = deployment.flags.screen()
    print(f"{flagged} posts newly flagged as coordinated")


@voice_app.command("purge")
def voice_purge(data_dir: DataDir) -> None:
    """Delete the text of posts whose retention has ended; labels stay."""
    with _posts(data_dir) as posts:
        purged = posts.purge_expired()
    print(f"text of {purged} posts deleted (retention ended); their labels stay")


@voice_app.command("report")
def voice_report(
    data_dir: DataDir,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Sentiment by district (flagged posts left out) and the flagged posts."""
    # Tokened and imported posts apart, flagged ones left out of the sentiment; every flag.
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
