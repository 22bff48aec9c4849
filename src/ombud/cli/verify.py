"""``ombud verify`` and ``ombud proof verify``: the auditor's side, offline or over HTTP.

Threat model: the log (a directory or a server) and the files given (a bundle, an entry, a
saved checkpoint, a key file) may all be hostile: each is read up to what it can hold, and
anything that does not verify exits 1 naming it; the saved state moves only after a check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ombud.cli.options import LogKey, Quorum, Witnesses
from ombud.errors import ConfigError, MalformedError, ProofError
from ombud.ledger import note
from ombud.ledger.checkpoint import Checkpoint
from ombud.ledger.proof_bundle import MAX_BUNDLE_SIZE, ProofBundle, verify_proof_bundle
from ombud.ledger.tiles import MAX_ENTRY_SIZE
from ombud.ledger.verifier import audit_log, open_source
from ombud.storage import read_capped, write_atomically

__all__ = ["proof_app", "read_vkey", "run_verify", "witness_policy"]

proof_app = typer.Typer(help="Offline proofs (C2SP tlog-proof).", no_args_is_help=True)


def read_vkey(value: str, *, cosigner: bool = False) -> note.Verifier:
    """A vkey given inline, or the path of a file that holds one."""
    path = Path(value)
    text = value
    if "+" not in value or path.is_file():
        try:
            text = read_capped(path, 4096).decode("ascii")
        except (OSError, UnicodeDecodeError, MalformedError) as exc:
            raise ConfigError(
                f"{value!r} is neither a verifier key nor a readable key file"
            ) from exc
    verifier = note.Verifier.from_vkey(text)
    if cosigner and not verifier.is_cosigner:
        raise MalformedError(f"witness key {verifier.name} is not a cosignature (type 0x04) key")
    if not cosigner and verifier.is_cosigner:
        raise MalformedError(f"log key {verifier.name} is a cosigner key, not the log's key")
    return verifier


def witness_policy(witness: list[str], quorum: int | None) -> tuple[list[note.Verifier], int]:
    witnesses = [read_vkey(w, cosigner=True) for w in witness]
    k = len(witnesses) if quorum is None else quorum
    if not 0 <= k <= len(witnesses):
        raise MalformedError(f"--quorum {k} needs at least {k} --witness keys")
    return witnesses, k


def run_verify(
    source: str,
    key: str,
    witness: list[str],
    quorum: int | None,
    state: Path | None,
    origin: str | None,
) -> None:
    from ombud.cli._progress import progress_bar

    log_key = read_vkey(key)
    witnesses, k = witness_policy(witness, quorum)
    trusted = None
    if state is not None and state.exists():
        trusted = read_capped(state, note.MAX_NOTE_SIZE)
    tiles = open_source(source)
    try:
        with progress_bar("verifying entries") as progress:
            report = audit_log(
                tiles,
                [log_key],
                origin=origin,
                witnesses=witnesses,
                quorum=k,
                trusted=trusted,
                progress=progress,
            )
    finally:
        tiles.close()
    if state is not None:
        write_atomically(state, report.checkpoint.to_bytes())
    cp = report.checkpoint.checkpoint
    recomputed = f"{report.entries} entries and {report.tiles} tiles recomputed"
    parts = [f"OK {cp.origin} size {cp.size}: {recomputed}"]
    if witnesses:
        parts.append(
            f"{len(report.checkpoint.cosigners)}/{len(witnesses)} witnesses cosigned (quorum {k})"
        )
    if report.previous is not None:
        parts.append(f"consistent with trusted size {report.previous.size}")
    typer.echo("; ".join(parts))


@proof_app.command("verify")
def proof_verify(
    bundle: Annotated[Path, typer.Argument(help="A .tlog-proof file.")],
    key: LogKey,
    entry: Annotated[
        Path | None,
        typer.Option(help="File holding the entry (default: the bundle's extra data)."),
    ] = None,
    witness: Witnesses = None,
    quorum: Quorum = None,
) -> None:
    """Verify a tlog-proof bundle offline."""
    log_key = read_vkey(key)
    witnesses, k = witness_policy(witness or [], quorum)
    proof = ProofBundle.from_bytes(read_capped(bundle, MAX_BUNDLE_SIZE))
    if entry is not None:
        data = read_capped(entry, MAX_ENTRY_SIZE + 1)  # a trailing newline is tried off below
    elif proof.extra is not None:
        data = proof.extra
    else:
        raise MalformedError("the bundle carries no entry; give the entry with --entry FILE")
    try:
        verify_proof_bundle(proof, data, [log_key], witnesses=witnesses, quorum=k)
    except ProofError:
        if entry is None or not data.endswith(b"\n"):
            raise
        # Entries are appended as lines, so a file written with a final newline (as `echo`
        # writes it) names the entry without it.
        verify_proof_bundle(proof, data[:-1], [log_key], witnesses=witnesses, quorum=k)
    cp = Checkpoint.from_text(note.parse(proof.checkpoint).text)
    typer.echo(f"OK entry {proof.index} is in {cp.origin} at size {cp.size}")
