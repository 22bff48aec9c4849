"""Settings: typed, validated, overridable from the environment, refused when absent."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ombud.config import SETTINGS_FILE, LogSettings, ServerSettings, Settings
from ombud.deployment import init_deployment
from ombud.errors import ConfigError
from ombud.listen import parse_listen


def test_init_writes_settings_that_load_back(tmp_path: Path) -> None:
    data_dir = tmp_path / "city"
    vkey = init_deployment(data_dir, "city.example/ombud")
    assert vkey.startswith("city.example/ombud+")
    settings = Settings.load(data_dir, environ={})
    assert settings == Settings(data_dir)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    with pytest.raises(ConfigError, match="already initialised"):
        init_deployment(data_dir)


def test_environment_overrides_and_validation(tmp_path: Path) -> None:
    data_dir = tmp_path / "city"
    init_deployment(data_dir)
    env = {"OMBUD_LOG_BATCH_MAX_ENTRIES": "128", "OMBUD_SERVER_LISTEN": "127.0.0.1:9999"}
    settings = Settings.load(data_dir, environ=env)
    assert settings.log.batch_max_entries == 128 and settings.server.listen == "127.0.0.1:9999"
    for many in ["many", "1_000", "\u0665\u0660\u0660", " 100", "1e3", "9" * 19]:
        with pytest.raises(ConfigError, match=r"must be an integer, e\.g\. 1000"):
            Settings.load(data_dir, environ={"OMBUD_LOG_TILE_CACHE": many})
    for rho in ["nan", "inf", "0,5", "0.5\n", "\u0660.5", "1_0.5"]:
        with pytest.raises(ConfigError, match=r"must be a number, e\.g\. 0\.5"):
            Settings.load(data_dir, environ={"OMBUD_PRIVACY_DP_RHO_PER_RELEASE": rho})
    for rho, value in [("0.25", 0.25), ("1", 1.0), ("2.5e-1", 0.25)]:
        env = {"OMBUD_PRIVACY_DP_RHO_PER_RELEASE": rho}
        assert Settings.load(data_dir, environ=env).privacy.dp_rho_per_release == value
    (data_dir / SETTINGS_FILE).write_text("[log]\nbatch_max_entries = 0\n")
    with pytest.raises(ConfigError, match="batch_max_entries"):
        Settings.load(data_dir, environ={})
    (data_dir / SETTINGS_FILE).write_text("[log]\nbatch_size = 3\n")
    with pytest.raises(ConfigError, match=r"unknown setting log\.batch_size"):
        Settings.load(data_dir, environ={})
    (data_dir / SETTINGS_FILE).write_text("[log\n")
    with pytest.raises(ConfigError, match="cannot read"):
        Settings.load(data_dir, environ={})


def test_uninitialised_directory_names_the_init_command(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ombud init --data-dir"):
        Settings.load(tmp_path)


def test_non_empty_directories_are_not_taken_over(tmp_path: Path) -> None:
    (tmp_path / "somebody's file").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        init_deployment(tmp_path)


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:8421") == ("127.0.0.1", 8421)
    assert parse_listen("[::1]:80") == ("::1", 80)
    bad_addresses = ["127.0.0.1", ":80", "host:0", "host:99999", "host:x", "host:\u00b2"]
    # "[]:80" would bind every interface; "[::1:80" is no address
    bad_addresses += ["[]:80", "[::1:80", "::1]:80", "[[::1]]:80"]
    for bad in bad_addresses:
        with pytest.raises(ConfigError):
            parse_listen(bad)
    with pytest.raises(ConfigError):
        LogSettings(batch_max_age_ms=-1)


# --- the witness policy -------------------------------------------------------------------------


def _cosigner_vkey(name: str) -> str:
    from ombud.ledger import note

    return note.Signer.generate(name, sig_type=note.ALG_COSIGNATURE_V1).verifier().vkey


def test_witness_policy_round_trips_through_the_settings_file(tmp_path: Path) -> None:
    from ombud.witness.policy import WitnessEndpoint, WitnessPolicy

    policy = WitnessPolicy(
        quorum=2,
        timeout_ms=1500,
        witness=tuple(
            WitnessEndpoint(_cosigner_vkey(f"w{i}.example"), f"http://127.0.0.1:90{i}")
            for i in range(3)
        ),
    )
    settings = Settings(tmp_path, witnesses=policy)
    settings.save()
    assert Settings.load(tmp_path) == settings
    env = {"OMBUD_WITNESSES_QUORUM": "3"}
    assert Settings.load(tmp_path, env).witnesses.quorum == 3


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"quorum": 1}, "between 0 and 0"),
        ({"witness": [{"vkey": "x", "url": "http://a"}]}, "witness vkey"),
        ({"witness": [{"url": "http://a"}]}, "exactly a vkey and a url"),
        ({"colour": 1}, "unknown setting"),
        ({"timeout_ms": "fast"}, "must be int"),
    ],
)
def test_bad_witness_policies_are_refused(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_mapping(Path("."), {"witnesses": table})


def test_witness_keys_must_be_cosigners_with_http_urls() -> None:
    from ombud.ledger import note
    from ombud.witness.policy import WitnessEndpoint

    log_key = note.Signer.generate("log.example").verifier().vkey
    with pytest.raises(ConfigError, match="not a cosignature"):
        WitnessEndpoint(log_key, "http://127.0.0.1:1")
    for url in [
        "ftp://127.0.0.1:1",
        "http://",  # no host
        "http://[::1/",  # unclosed bracket
        "http://w.example/\x7f",  # DEL: TOML forbids it raw, and it broke ombud.toml
        "http://w.example/\x00",
        "http://w.example/\u202e",  # a format character
        "http://w.example/\ud800",
        "http://w.example/a b",
        "http://w.example/" + "a" * 2048,
        "http://w.example:99999/",  # a port out of range, or not a number
        "http://w.example:abc/",
        "http://[v1.x]/",  # brackets hold an IPv6 address
        "http://w.example/a?b=c",  # /add-checkpoint is appended to the URL
        "http://w.example/#x",
    ]:
        with pytest.raises(ConfigError, match="not an http"):
            WitnessEndpoint(_cosigner_vkey("w.example"), url)
    for url in ["https://wïtness.example:8443/a", "http://[::1]:8080/", "http://127.0.0.1"]:
        assert WitnessEndpoint(_cosigner_vkey("w.example"), url)
    same = _cosigner_vkey("w.example")
    with pytest.raises(ConfigError, match="share a key name"):
        Settings.from_mapping(
            Path("."),
            {"witnesses": {"witness": [{"vkey": same, "url": "http://a"}] * 2}},
        )


def test_settings_file_strings_cannot_break_out_of_their_quotes(tmp_path: Path) -> None:
    from ombud.witness.policy import WitnessEndpoint, WitnessPolicy

    vkey = _cosigner_vkey('w"1.example')
    policy = WitnessPolicy(witness=(WitnessEndpoint(vkey, 'http://127.0.0.1:1/"x'),))
    settings = Settings(tmp_path, witnesses=policy)
    settings.save()
    assert Settings.load(tmp_path) == settings


def test_settings_file_holds_any_text_and_refuses_what_no_file_can(tmp_path: Path) -> None:
    """Every string setting reads back as written, control characters and DEL included (JSON
    escaping leaves DEL raw, which TOML forbids); a lone surrogate is refused before the file
    is touched."""
    from dataclasses import replace

    settings = Settings(tmp_path)
    settings.save()
    before = (tmp_path / "ombud.toml").read_bytes()
    odd = replace(settings, voice=replace(settings.voice, origin='a\x7f\x00\x08"\\é'))
    odd.save()
    assert Settings.load(tmp_path) == odd
    (tmp_path / "ombud.toml").write_bytes(before)
    broken = replace(settings, voice=replace(settings.voice, origin="a\ud800"))
    with pytest.raises(ConfigError, match="lone surrogate"):
        broken.save()
    assert (tmp_path / "ombud.toml").read_bytes() == before


def test_trusted_proxies_are_none_by_default_and_addresses_otherwise(tmp_path: Path) -> None:
    """Finding 2: the server believed X-Forwarded-For from loopback. Forwarded headers are now
    believed only from the proxies ombud.toml names, and none are named by default."""
    init_deployment(tmp_path / "d", "x.example/log")
    settings = Settings.load(tmp_path / "d", environ={})
    assert settings.server.proxy_list() == []
    assert 'trusted_proxies = ""' in (tmp_path / "d" / "ombud.toml").read_text()
    named = ServerSettings(trusted_proxies="10.0.0.1, 192.168.0.0/24 ,::1")
    assert named.proxy_list() == ["10.0.0.1", "192.168.0.0/24", "::1"]
    for bad in ("*", "proxy.example", "10.0.0.1/99"):
        with pytest.raises(ConfigError, match="trusted_proxies"):
            ServerSettings(trusted_proxies=bad)
    for name, value in (("max_header_bytes", 10), ("request_timeout_s", 0),
                        ("max_small_body_bytes", 1), ("max_connections", 0)):  # fmt: skip
        with pytest.raises(ConfigError, match=name):
            ServerSettings(**{name: value})


def test_public_url_is_unset_by_default_and_checked_by_name(tmp_path: Path) -> None:
    """The security review: feeds and the verify page built absolute URLs from the request's
    Host header. They now take them from ``server.public_url``, refused unless it is an https
    address (http for loopback only) with at most a path prefix."""
    init_deployment(tmp_path / "d", "x.example/log")
    settings = Settings.load(tmp_path / "d", environ={})
    assert settings.server.public_url == "" and settings.server.public_base() == ""
    assert 'public_url = ""' in (tmp_path / "d" / "ombud.toml").read_text()
    env = {"OMBUD_SERVER_PUBLIC_URL": "https://city.example/ombud/"}
    overridden = Settings.load(tmp_path / "d", environ=env).server
    assert overridden.public_base() == "https://city.example/ombud"
    for good in ("https://city.example", "https://xn--bcher-kva.example:8443/a/b",
                 "http://127.0.0.1:8421", "http://localhost/", "http://[::1]:80"):  # fmt: skip
        assert ServerSettings(public_url=good).public_url == good
    for bad in (
        "http://city.example",  # plain http off loopback
        "city.example",
        "ftp://city.example",
        "https://",
        "https://user:pw@city.example",
        "https://city.example/?a=1",
        "https://city.example/#top",
        "https://city.example/a/../b",
        "https://city.example//b",
        "https://city.example/a b",
        "https://bücher.example",
        "https://city.example:99999",
        "https://[1:2:zz]",
        "https://-city.example",
        "https://city.example/" + "a" * 200,
    ):
        with pytest.raises(ConfigError, match=r"server\.public_url"):
            ServerSettings(public_url=bad)
        with pytest.raises(ConfigError, match=r"server\.public_url"):
            Settings.load(tmp_path / "d", environ={"OMBUD_SERVER_PUBLIC_URL": bad})


def test_a_new_deployment_has_the_defaults_the_readme_states(tmp_path: Path) -> None:
    """README, *HTTP API* hardening, ingest, voice, privacy and screening: the figures it names
    as defaults are what ``ombud init`` writes and a deployment then reads."""
    init_deployment(tmp_path / "d")
    settings = Settings.load(tmp_path / "d", environ={})
    server = settings.server
    assert server.max_request_bytes == 1 << 20  # 1 MiB for sensor-ingest batches
    assert server.max_small_body_bytes == 64 << 10  # 64 KiB for every other route
    assert server.max_connections == 512
    assert server.worker_threads == 40  # anyio's default
    assert server.max_header_bytes == 16 << 10  # request line plus headers: 431 beyond
    assert server.request_timeout_s == 30  # 408 beyond
    assert server.trusted_proxies == ""  # forwarded headers believed from no one
    assert settings.ingest.max_batch == 1000
    voice = settings.voice
    assert (voice.retention_days, voice.author_max, voice.screen_interval_s) == (30, 3, 60)
    privacy = settings.privacy
    assert (privacy.dp_rho_per_release, privacy.dp_rho_per_period) == (0.5, 1.0)
    assert (privacy.dp_k_threshold, privacy.dp_max_contributions) == (20, 3)
    integrity = settings.integrity
    assert (integrity.screen_interval_s, integrity.settle_s) == (5, 30)
    assert integrity.neighbour_window_s == 15 * 60
    assert (integrity.device_suspects, integrity.device_window) == (6, 24)
    assert integrity.anomaly_threshold == 0.68


def test_cover_settings_are_checked_by_name(tmp_path: Path) -> None:
    data_dir = tmp_path / "city"
    init_deployment(data_dir)
    settings = Settings.load(data_dir, environ={})
    assert (settings.privacy.cover_epsilon, settings.privacy.cover_delta) == (1.0, 1e-6)
    env = {"OMBUD_PRIVACY_COVER_EPSILON": "0.5", "OMBUD_PRIVACY_COVER_DELTA": "1e-9"}
    changed = Settings.load(data_dir, environ=env).privacy
    assert (changed.cover_epsilon, changed.cover_delta) == (0.5, 1e-9)
    for name, value in (
        ("COVER_EPSILON", "0"),
        ("COVER_EPSILON", "0.05"),
        ("COVER_EPSILON", "25"),
        ("COVER_DELTA", "0"),
        ("COVER_DELTA", "0.01"),
    ):
        with pytest.raises(ConfigError, match=rf"privacy\.{name.lower()} must be a number"):
            Settings.load(data_dir, environ={f"OMBUD_PRIVACY_{name}": value})
    (data_dir / SETTINGS_FILE).write_text('[privacy]\ncover_delta = "small"\n')
    with pytest.raises(ConfigError, match=r"privacy\.cover_delta must be float"):
        Settings.load(data_dir, environ={})
