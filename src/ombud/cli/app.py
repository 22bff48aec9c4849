"""The ``ombud`` commands (typer): argument parsing and help; the work is in the library.

Threat model: see ``ombud.cli`` — every command is a thin shell whose errors become one line.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from ombud.integrity.aggregate import Estimator
from ombud.tokens import SCOPES

app = typer.Typer(
    name="ombud",
    help="A city's sensors and residents, heard through a witnessed, tamper-evident ledger.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
log_app = typer.Typer(
    help="Create, append to, checkpoint, export and prove a log.", no_args_is_help=True
)
proof_app = typer.Typer(help="Offline proofs (C2SP tlog-proof).", no_args_is_help=True)
witness_app = typer.Typer(
    help="Run a witness (C2SP tlog-witness) that cosigns logs' checkpoints.", no_args_is_help=True
)
policy_app = typer.Typer(
    help="The log's witness policy: whose cosignatures publishing waits for.",
    no_args_is_help=True,
)
app.add_typer(log_app, name="log")
app.add_typer(proof_app, name="proof")
device_app = typer.Typer(help="Sensors and their signing keys.", no_args_is_help=True)
token_app = typer.Typer(help="Scoped bearer tokens for the admin API.", no_args_is_help=True)
ingest_app = typer.Typer(help="Sensor ingest workers.", no_args_is_help=True)
simulate_app = typer.Typer(help="Simulated sources of data.", no_args_is_help=True)
integrity_app = typer.Typer(
    help="Checks that catch faulty and poisoned data.", no_args_is_help=True
)
app.add_typer(witness_app, name="witness")
app.add_typer(device_app, name="device")
app.add_typer(token_app, name="token")
app.add_typer(ingest_app, name="ingest")
app.add_typer(simulate_app, name="simulate")
app.add_typer(integrity_app, name="integrity")
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
app.add_typer(voice_app, name="voice")
voice_app.add_typer(issuer_app, name="issuer")
voice_app.add_typer(resident_token_app, name="token")
log_app.add_typer(policy_app, name="witness")


def _add_privacy() -> None:
    from ombud.cli.privacy import privacy_app

    app.add_typer(privacy_app, name="privacy")


_add_privacy()

DataDir = Annotated[
    Path, typer.Option("--data-dir", help="The deployment's data directory (see `ombud init`).")
]
LogKey = Annotated[str, typer.Option(help="The log's verifier key (vkey), or a file holding it.")]
Witnesses = Annotated[list[str] | None, typer.Option(help="A witness cosigner vkey (repeatable).")]
Quorum = Annotated[
    int | None, typer.Option(help="Witness cosignatures required (default: all given).")
]
LogDir = Annotated[Path, typer.Argument(help="The log's directory.")]
WitnessStateDir = Annotated[Path, typer.Option("--state", help="The witness's state directory.")]


@app.command()
def init(
    data_dir: DataDir,
    origin: Annotated[
        str | None,
        typer.Option(help="The log's origin, e.g. city.example/ombud (default: a random one)."),
    ] = None,
    database_url: Annotated[
        str,
        typer.Option(
            help="A postgresql:// URL to keep everything in (default: SQLite in the data dir). "
            "Keep passwords out of it: use ~/.pgpass or PGPASSWORD."
        ),
    ] = "",
) -> None:
    """Create a deployment's data directory: settings file, log origin and key, databases."""
    from ombud.deployment import init_deployment

    vkey = init_deployment(data_dir, origin, database_url=database_url)
    typer.echo(f"initialised {data_dir}")
    typer.echo(f"log verifier key: {vkey}")


@app.command()
def migrate(data_dir: DataDir) -> None:
    """Bring the deployment's database to this version's schema (back it up first)."""
    from ombud.deployment import migrate_deployment

    before, now = migrate_deployment(data_dir)
    if before == now:
        typer.echo(f"{data_dir} is at schema revision {now}: nothing to do")
    else:
        typer.echo(f"{data_dir} migrated from schema revision {before or 'none'} to {now}")


@app.command()
def serve(
    data_dir: DataDir,
    listen: Annotated[str | None, typer.Option(help="HOST:PORT to listen on.")] = None,
) -> None:
    """Serve the log's tlog-tiles read API and proofs over HTTP."""
    from ombud.api.server import run_server
    from ombud.config import Settings

    settings = Settings.load(data_dir)
    if listen is not None:
        settings = replace(settings, server=replace(settings.server, listen=listen))
    run_server(settings)


@app.command()
def demo(
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Keep the demo's deployment here (default: a temp dir)."),
    ] = None,
    events: Annotated[int, typer.Option(help="Simulated events to append.", min=1)] = 20_000,
    seed: Annotated[int, typer.Option(help="Seed of the simulated city.")] = 2026,
) -> None:
    """Run a simulated city end to end: events, checkpoints, export, verification."""
    from ombud.cli.demo import run_demo

    run_demo(data_dir, events=events, seed=seed)


@app.command()
def verify(
    source: Annotated[str, typer.Argument(help="A tlog-tiles directory or an http(s) URL.")],
    key: LogKey,
    witness: Witnesses = None,
    quorum: Quorum = None,
    state: Annotated[
        Path | None, typer.Option(help="File remembering the last checkpoint trusted.")
    ] = None,
    origin: Annotated[
        str | None, typer.Option(help="Expected checkpoint origin (default: the key's name).")
    ] = None,
) -> None:
    """Verify a log: signatures, witness quorum, every tile and the root, and consistency."""
    from ombud.cli.verify import run_verify

    run_verify(source, key, witness or [], quorum, state, origin)


@app.command()
def monitor(
    source: Annotated[str, typer.Argument(help="A tlog-tiles directory or an http(s) URL.")],
    key: LogKey,
    state: Annotated[Path, typer.Option(help="File holding the last checkpoint trusted.")],
    witness: Witnesses = None,
    quorum: Quorum = None,
    evidence: Annotated[
        Path | None,
        typer.Option(help="Where to write fork evidence (default: STATE.evidence.json)."),
    ] = None,
    watch: Annotated[bool, typer.Option(help="Keep following the log; alert, never exit.")] = False,
    interval: Annotated[
        float, typer.Option(help="Seconds between rounds with --watch.", min=0.1)
    ] = 10.0,
) -> None:
    """Follow a log: verify new entries and consistency; write evidence if it forks."""
    from ombud.cli.monitor import run_monitor

    run_monitor(source, key, witness or [], quorum, state, evidence, watch, interval)


@app.command("verify-evidence")
def verify_evidence(
    file: Annotated[Path, typer.Argument(help="An evidence file written by a monitor or witness.")],
    key: LogKey,
) -> None:
    """Check fork evidence: exit 0 if it proves the log signed two irreconcilable trees."""
    from ombud.cli.monitor import run_verify_evidence

    run_verify_evidence(file, key)


@witness_app.command("init")
def witness_init(
    state: WitnessStateDir,
    name: Annotated[str, typer.Option(help="The witness's key name, e.g. ombudsman.example/w1.")],
) -> None:
    """Create a witness (cosigning key file mode 0600, state database); print its vkey."""
    from ombud.cli.witness import run_witness_init

    run_witness_init(state, name)


@witness_app.command("serve")
def witness_serve(
    state: WitnessStateDir,
    log: Annotated[
        list[str] | None, typer.Option(help="Verifier key of a log to witness (repeatable).")
    ] = None,
    listen: Annotated[str, typer.Option(help="HOST:PORT to listen on.")] = "127.0.0.1:8431",
) -> None:
    """Serve add-checkpoint and the monitor read path for the given logs."""
    from ombud.cli.witness import run_witness_serve

    run_witness_serve(state, log or [], listen)


@device_app.command("keygen")
def device_keygen(
    out: Annotated[Path, typer.Option(help="File to write the device's secret key to (0600).")],
) -> None:
    """Create a device signing key (Ed25519, Multikey) and print its did:key."""
    from ombud.ingest.signer import generate_device_key

    typer.echo(generate_device_key(out).did)


@device_app.command("add")
def device_add(
    data_dir: DataDir,
    device_id: Annotated[str, typer.Option("--id", help="The device's id.")],
    model: Annotated[str, typer.Option("--type", help="Smart Data Model of its observations.")],
    key: Annotated[str, typer.Option(help="Its public key, did:key:z6Mk….")],
    district: Annotated[
        str, typer.Option(help="District id or grid cell (coarse; never an address).")
    ],
    owner: Annotated[str, typer.Option(help="Organisation or account id owning it.")] = "city",
) -> None:
    """Register a device (recorded on the ledger as device.registered)."""
    from ombud.cli.ingest import run_device_add

    run_device_add(data_dir, device_id, model, key, district, owner)


@device_app.command("revoke")
def device_revoke(
    data_dir: DataDir,
    device_id: Annotated[str, typer.Option("--id", help="The device's id.")],
    reason: Annotated[str, typer.Option(help="Why (goes on the ledger).")],
) -> None:
    """Revoke a device: its later observations are refused (device.revoked on the ledger)."""
    from ombud.cli.ingest import run_device_revoke

    run_device_revoke(data_dir, device_id, reason)


@device_app.command("list")
def device_list(
    data_dir: DataDir,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """List the registered devices."""
    from ombud.cli.ingest import run_device_list

    run_device_list(data_dir, as_json)


@token_app.command("create")
def token_create(
    data_dir: DataDir,
    scope: Annotated[
        list[str],
        typer.Option(
            help="Repeatable; one of: "
            + "; ".join(f"{name}: {what}" for name, what in SCOPES.items())
            + "."
        ),
    ],
    note: Annotated[str, typer.Option(help="What the token is for.")] = "",
) -> None:
    """Create a bearer token; it is printed once and only its hash is kept."""
    from ombud.cli.ingest import run_token_create

    run_token_create(data_dir, scope, note)


@token_app.command("list")
def token_list(data_dir: DataDir) -> None:
    """List tokens (ids and scopes; secrets are not kept)."""
    from ombud.cli.ingest import run_token_list

    run_token_list(data_dir)


@token_app.command("revoke")
def token_revoke(
    data_dir: DataDir,
    token_id: Annotated[str, typer.Argument(help="The token's id (ombud_<id>_…).")],
) -> None:
    """Revoke a token."""
    from ombud.cli.ingest import run_token_revoke

    run_token_revoke(data_dir, token_id)


@ingest_app.command(
    "mqtt",
    help="Ingest signed observations from ombud/v1/<device_id>/attrs (QoS 1, shared).\n\n"
    "Run two or more workers in the same group, each with its own --client-id, under a "
    "supervisor that restarts them: while one is down the others go on storing, and the broker "
    "queues only the absent worker's share for it.\n\n"
    "Give the broker the configuration ombud ships (ombud/ingest/mosquitto/ombud.conf in the "
    "installed package): with Mosquitto's defaults it drops messages it has already "
    "acknowledged once 1,000 wait for one worker. Each worker watches the broker's "
    "$SYS/broker/publish/messages/dropped counter, logs any increase as an ERROR and records "
    "it for the /metrics of `ombud serve` (ombud_mqtt_broker_dropping).",
)
def ingest_mqtt(
    data_dir: DataDir,
    broker: Annotated[str, typer.Option(help="mqtt://HOST[:PORT]")] = "mqtt://127.0.0.1:1883",
    group: Annotated[
        str, typer.Option(help="Shared-subscription group: workers of one group share messages.")
    ] = "ombud",
    exclusive: Annotated[
        bool,
        typer.Option(
            help="One worker, an ordinary (unshared) subscription: survives broker restarts "
            "that drop shared subscriptions (Mosquitto 2.0)."
        ),
    ] = False,
    client_id: Annotated[
        str | None,
        typer.Option(
            help="MQTT client id: its persistent session keeps what arrives while it is down. "
            "Default: derived from host, database and group; give each further worker its own."
        ),
    ] = None,
) -> None:
    """Ingest signed observations from ombud/v1/<device_id>/attrs (QoS 1, shared)."""
    from ombud.cli.ingest import run_ingest_mqtt

    run_ingest_mqtt(data_dir, broker, None if exclusive else group, client_id)


@simulate_app.command("sensors")
def simulate_sensors(
    target: Annotated[str, typer.Option(help="http://HOST:PORT of `ombud serve`, or mqtt://…")],
    devices: Annotated[int, typer.Option(help="Simulated devices.", min=1, max=100_000)] = 20,
    rate: Annotated[
        float, typer.Option(help="Observations per second, all devices together (0: flat out).")
    ] = 10.0,
    count: Annotated[
        int | None, typer.Option(help="Stop after this many observations.", min=1)
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the devices' keys and readings.")] = 2026,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Register the devices in this deployment.")
    ] = None,
    admin_url: Annotated[
        str | None, typer.Option(help="Or register them through this server's admin API.")
    ] = None,
    token: Annotated[str | None, typer.Option(help="Token with devices:write.")] = None,
) -> None:
    """Simulated sensors with daily rhythms, each signing its observations."""
    from ombud.cli.ingest import run_simulate

    run_simulate(devices, rate, target, count, seed, data_dir, admin_url, token)


@integrity_app.command("detect")
def integrity_detect(
    csv_file: Annotated[
        Path, typer.Option("--csv", help="A timestamp,value series (header optional).")
    ],
) -> None:
    """Run the streaming anomaly detector row by row; CSV timestamp,value,anomaly_score,flag."""
    from ombud.cli.integrity import run_detect

    run_detect(csv_file)


@integrity_app.command("report")
def integrity_report(
    data_dir: DataDir,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """The quarantine: every suspect observation, its checks and evidence, released or not."""
    from ombud.cli.integrity import run_report

    run_report(data_dir, as_json)


@integrity_app.command("release")
def integrity_release(
    data_dir: DataDir,
    device: Annotated[str, typer.Option(help="The device's id.")],
    counter: Annotated[int, typer.Option(help="The observation's counter.", min=0)],
    reason: Annotated[str, typer.Option(help="Why (goes on the ledger).")],
) -> None:
    """Release a quarantined observation (observation.released on the ledger)."""
    from ombud.cli.integrity import run_release

    run_release(data_dir, device, counter, reason)


@integrity_app.command("release-device")
def integrity_release_device(
    data_dir: DataDir,
    device: Annotated[str, typer.Option(help="The device's id.")],
    reason: Annotated[str, typer.Option(help="Why (goes on the ledger).")],
) -> None:
    """Put a device quarantined as a whole back into aggregates (device.released)."""
    from ombud.cli.integrity import run_release_device

    run_release_device(data_dir, device, reason)


@integrity_app.command("screen")
def integrity_screen(
    data_dir: DataDir,
    settle: Annotated[
        int | None,
        typer.Option(
            help="Seconds an observation must have aged (default: integrity.settle_s).", min=0
        ),
    ] = None,
) -> None:
    """Screen stored observations against their history and neighbours, once."""
    from ombud.cli.integrity import run_screen

    run_screen(data_dir, settle)


@integrity_app.command("indicator")
def integrity_indicator(
    data_dir: DataDir,
    district: Annotated[str, typer.Option(help="District id.")],
    model: Annotated[str, typer.Option("--type", help="Smart Data Model type.")],
    attribute: Annotated[str, typer.Option(help="Numeric attribute, e.g. LAeq.")],
    since: Annotated[datetime, typer.Option(help="Start (UTC), inclusive.")],
    until: Annotated[datetime, typer.Option(help="End (UTC), exclusive.")],
    estimator: Annotated[Estimator, typer.Option(help="Robust estimator.")] = Estimator.MEDIAN,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a line.")] = False,
) -> None:
    """A district's robust figure over a period, quarantined readings and devices left out."""
    from ombud.cli.integrity import run_indicator

    def utc(at: datetime) -> datetime:
        return at.replace(tzinfo=UTC) if at.tzinfo is None else at

    run_indicator(data_dir, district, model, attribute, utc(since), utc(until), estimator, as_json)


IssuerState = Annotated[Path, typer.Option("--state", help="The issuer's state directory.")]
Period = Annotated[str, typer.Option(help="The period, e.g. 2026-12.")]
IssuerKey = Annotated[
    str, typer.Option("--key", help="The period's issuer key (base64), or a file holding it.")
]


@issuer_app.command("init")
def issuer_init(
    state: IssuerState,
    name: Annotated[str, typer.Option(help="The issuer's host name, e.g. id.city.example.")],
) -> None:
    """Create an issuer (state directory mode 0700, secrets mode 0600)."""
    from ombud.cli.voice import run_issuer_init

    run_issuer_init(state, name)


@issuer_app.command("period")
def issuer_period(state: IssuerState, period: Period) -> None:
    """Create a period's key; prints its public key (base64) to publish on the ledger."""
    from ombud.cli.voice import run_issuer_period

    run_issuer_period(state, period)


@issuer_app.command("issue")
def issuer_issue(
    state: IssuerState,
    period: Period,
    resident: Annotated[str, typer.Option(help="The resident's id in the identity service.")],
) -> None:
    """Sign a blinded TokenRequest (base64 on stdin) once per resident and period."""
    from ombud.cli.voice import run_issuer_issue

    run_issuer_issue(state, period, resident)


@resident_token_app.command("request")
def token_request(
    key: IssuerKey,
    issuer: Annotated[str, typer.Option(help="The issuer's name.")],
    period: Period,
    origin: Annotated[str, typer.Option(help="The platform the token is for.")],
    pending: Annotated[Path, typer.Option(help="File to keep the pending state in (0600).")],
) -> None:
    """Print a blinded TokenRequest (base64) for the issuer."""
    from ombud.cli.voice import run_token_request

    run_token_request(key, issuer, period, origin, pending)


@resident_token_app.command("finalize")
def token_finalize(
    key: IssuerKey,
    pending: Annotated[Path, typer.Option(help="The pending state from `token request`.")],
) -> None:
    """Read the issuer's TokenResponse (base64 on stdin); print the token (base64)."""
    from ombud.cli.voice import run_token_finalize

    run_token_finalize(key, pending)


@voice_app.command("classify")
def voice_classify() -> None:
    """Read lines of text on stdin; write one JSON object per line:
    {"label", "scores", "service", "normalised"}."""
    from ombud.cli.voice import run_classify

    run_classify()


@voice_app.command("publish-key")
def voice_publish_key(
    data_dir: DataDir,
    period: Period,
    issuer: Annotated[str, typer.Option(help="The issuer's name.")],
    key: IssuerKey,
) -> None:
    """Publish a period's issuer key on the ledger (issuer.key_published), once per period."""
    from ombud.cli.voice import run_publish

    run_publish(data_dir, period, issuer, key)


@voice_app.command("post")
def voice_post(
    data_dir: DataDir,
    district: Annotated[str, typer.Option(help="District or grid cell id.")],
    token: Annotated[str, typer.Option(help="The resident's token (base64), or a file.")],
    service: Annotated[str | None, typer.Option(help="The service it is about.")] = None,
) -> None:
    """Post the text on stdin, paid with one token."""
    from ombud.cli.voice import run_post

    run_post(data_dir, district, service, token)


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
    from ombud.cli.voice import run_import

    run_import(data_dir, file, district)


@voice_app.command("screen")
def voice_screen(data_dir: DataDir) -> None:
    """Flag coordinated posts (what `ombud serve` does every voice.screen_interval_s)."""
    from ombud.cli.voice import run_screen

    run_screen(data_dir)


@voice_app.command("purge")
def voice_purge(data_dir: DataDir) -> None:
    """Delete the text of posts whose retention has ended; labels stay."""
    from ombud.cli.voice import run_purge

    run_purge(data_dir)


@voice_app.command("report")
def voice_report(
    data_dir: DataDir,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Sentiment by district (flagged posts left out) and the flagged posts."""
    from ombud.cli.voice import run_report

    run_report(data_dir, as_json)


@policy_app.command("add")
def policy_add(
    directory: LogDir,
    vkey: Annotated[str, typer.Argument(help="The witness's cosigner vkey (or a file).")],
    url: Annotated[str, typer.Argument(help="The witness's submission URL prefix.")],
) -> None:
    """Add a witness to the policy (recorded on the log as witness.policy_changed)."""
    from ombud.cli.witness import run_policy_add

    run_policy_add(directory, vkey, url)


@policy_app.command("remove")
def policy_remove(
    directory: LogDir, name: Annotated[str, typer.Argument(help="The witness's key name.")]
) -> None:
    """Remove a witness from the policy."""
    from ombud.cli.witness import run_policy_remove

    run_policy_remove(directory, name)


@policy_app.command("quorum")
def policy_quorum(
    directory: LogDir,
    quorum: Annotated[int, typer.Argument(help="Cosignatures required to publish.", min=0)],
) -> None:
    """Set how many witnesses must cosign before a checkpoint is published."""
    from ombud.cli.witness import run_policy_quorum

    run_policy_quorum(directory, quorum)


@log_app.command("init")
def log_init(
    directory: Annotated[Path, typer.Argument(help="Directory to create the log in.")],
    origin: Annotated[str, typer.Option(help="The log's origin, e.g. city.example/ombud.")],
) -> None:
    """Create a log (key generated, private key file mode 0600) and print its vkey."""
    from ombud.ledger.logdir import init_log

    typer.echo(init_log(directory, origin).vkey)


@log_app.command("append")
def log_append(directory: LogDir) -> None:
    """Append stdin's lines as entries; print each index once the entry is durable."""
    from ombud.cli.log import run_append

    run_append(directory)


@log_app.command("checkpoint")
def log_checkpoint(directory: LogDir) -> None:
    """Sign a checkpoint, publish it once the witness quorum cosigned it, and print it."""
    from ombud.cli.log import run_checkpoint

    run_checkpoint(directory)


@log_app.command("export")
def log_export(
    directory: LogDir,
    out: Annotated[Path, typer.Argument(help="Directory to write the tlog-tiles tree to.")],
) -> None:
    """Write the log as a static tlog-tiles tree: checkpoint, tiles, entry bundles."""
    from ombud.cli.log import run_export

    run_export(directory, out)


@log_app.command("prove")
def log_prove(
    directory: LogDir,
    index: Annotated[int, typer.Option(help="0-based index of the entry.", min=0)],
) -> None:
    """Print a C2SP tlog-proof bundle for the entry at INDEX."""
    from ombud.cli.log import run_prove

    run_prove(directory, index)


@log_app.command("status")
def log_status(directory: LogDir) -> None:
    """Show the log's origin, size and latest checkpoint."""
    from ombud.cli.log import run_status

    run_status(directory)


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
    from ombud.cli.verify import run_proof_verify

    run_proof_verify(bundle, key, entry, witness or [], quorum)
