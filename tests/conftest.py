"""Shared fixtures: public vectors from ../shared (skipped when absent) and fresh logs."""

from __future__ import annotations

import json
import os
import random
import secrets
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ombud.database import Database, SqliteDatabase, open_database
from ombud.deployment import open_log
from ombud.ledger.log import Log
from ombud.ledger.logdir import init_log
from ombud.migrations import upgrade
from ombud.voice.issuer import Issuer

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
VECTORS = SHARED / "vectors"


def ombud(*args: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run the ombud CLI in a subprocess, capturing its output as text."""
    return subprocess.run(
        [sys.executable, "-m", "ombud", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,  # type: ignore[call-overload]
    )


def shared_vectors(relative: str) -> Any:
    """Load a JSON vector file from ../shared/vectors, or skip the test when it is absent."""
    path = VECTORS / relative
    if not path.is_file():
        pytest.skip(f"public vectors not available: {path} (../shared is absent)")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "log"
    init_log(directory, "test.ombud.localhost/log")
    return directory


@pytest.fixture
def log(log_dir: Path) -> Iterator[Log]:
    the_log = open_log(log_dir)
    yield the_log
    the_log.close()


def postgres_url() -> str:
    """``OMBUD_TEST_POSTGRES_URL``, or skip: the tests that need PostgreSQL say so."""
    url = os.environ.get("OMBUD_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("OMBUD_TEST_POSTGRES_URL is not set (.ci/run sets it): no PostgreSQL test")
    return url


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards; yields a URL selecting it."""
    import psycopg

    url = postgres_url()
    schema = f"ombud_test_{secrets.token_hex(6)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if urllib.parse.urlsplit(url).query else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each dialect: the same tests run on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        SqliteDatabase.create(tmp_path / "ombud.sqlite").close()
        return f"sqlite:///{tmp_path / 'ombud.sqlite'}"
    url: str = request.getfixturevalue("postgres_schema")
    return url


def migrated(db: Database) -> Database:
    """``db`` with every domain table, at the newest revision of the history."""
    upgrade(db)
    return db


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = migrated(open_database(database_url))
    yield db
    db.close()


SIMULATED_START = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
"""When ``biased_district`` starts observing."""


def biased_district(
    data_dir: Path, *, sensors: int = 8, steps: int = 40, biased: int = 3, from_step: int = 30
) -> list[str]:
    """Fill the deployment in ``data_dir`` with ``sensors`` noise sensors of the district
    "centre", each observing every 5 minutes from ``SIMULATED_START`` for ``steps`` steps;
    sensor ``biased`` adds 15 dB from step ``from_step`` on. Returns the device ids."""
    from ombud.deployment import Deployment
    from ombud.ingest.fleet import make_fleet, reading
    from ombud.ingest.intake import Accepted

    now = [SIMULATED_START]

    def clock() -> datetime:
        return now[0]

    intake = Deployment.open(data_dir, with_key=False, clock=clock, environ={}).intake
    try:
        fleet = list(
            make_fleet(
                sensors,
                random.Random(11),
                clock=clock,
                models=("NoiseLevelObserved",),
                districts=("centre",),
            )
        )
        for sensor in fleet:
            intake.registry.add(sensor.device)
        for step in range(steps):
            now[0] = SIMULATED_START + step * timedelta(minutes=5)
            batch = []
            for i, sensor in enumerate(fleet):
                d = sensor.device
                entity = reading(d.model, d.id, d.district, now[0], sensor.rng)
                if i == biased and step >= from_step:
                    entity["LAeq"]["value"] += 15.0
                batch.append(sensor.signer.sign(entity))
            assert all(isinstance(v, Accepted) for v in intake.submit(batch))
    finally:
        intake.log.close()
    return [s.device.id for s in fleet]


@pytest.fixture(scope="session")
def period_issuer(tmp_path_factory: pytest.TempPathFactory) -> tuple[Issuer, bytes]:
    """One issuer and its 2026-12 key for the whole session (RSA key generation is slow)."""
    issuer = Issuer.init(tmp_path_factory.mktemp("issuer") / "state", "id.city.example")
    return issuer, issuer.create_period("2026-12")
