"""A deployment made by the code before versioned migrations upgrades in place and keeps every
row (SQLite and PostgreSQL).

The fixtures under ``fixtures/v0`` were written by commit ef0422f with ``fixtures/make_v0.py``
(its docstring says how); ``rows.json`` holds the row count of every table then.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ombud import migrations
from ombud.api import create_app
from ombud.deployment import Deployment, init_deployment, migrate_deployment, open_database_of
from ombud.errors import ConfigError
from ombud.ingest.fleet import make_fleet, reading
from ombud.ingest.intake import Accepted

FIXTURES = Path(__file__).parent / "fixtures" / "v0"
FIXTURE_SCHEMA = "ombud_fixture_schema"
NOW = datetime(2026, 12, 3, 13, 0, tzinfo=UTC)
"""After everything the fixture recorded (its clock stopped at 12:30)."""
_STORAGE_URL = re.compile(r'^url = ".*"$', re.MULTILINE)


def _copy(dialect: str, tmp_path: Path) -> Path:
    data_dir = tmp_path / "city"
    shutil.copytree(FIXTURES / dialect / "city", data_dir)
    data_dir.chmod(0o700)
    for secret in ("log.key", "master.key"):  # git keeps no file modes
        (data_dir / secret).chmod(0o600)
    return data_dir


@pytest.fixture(params=["sqlite", "postgresql"])
def old_city(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A copy of the v0 deployment of each dialect, and its dialect."""
    data_dir = _copy(request.param, tmp_path)
    if request.param == "postgresql":
        import psycopg

        url: str = request.getfixturevalue("postgres_schema")
        schema = url.rsplit("%3D", 1)[1]
        dump = (FIXTURES / "postgresql" / "postgresql.sql").read_text()
        dump = dump.replace(f"CREATE SCHEMA {FIXTURE_SCHEMA};", "")  # the test made its own
        with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
            conn.execute(dump.replace(FIXTURE_SCHEMA, schema))  # type: ignore[arg-type]
        toml = data_dir / "ombud.toml"
        toml.write_text(_STORAGE_URL.sub(f'url = "{url}"', toml.read_text()))
    yield data_dir, request.param


def _migrate(data_dir: Path) -> subprocess.CompletedProcess[str]:
    """``ombud migrate`` as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "ombud", "migrate", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=False,
    )


def _rows(dialect: str) -> dict[str, int]:
    rows: dict[str, int] = json.loads((FIXTURES / dialect / "rows.json").read_text())
    return rows


def _counts(data_dir: Path, tables: list[str]) -> dict[str, int]:
    db = open_database_of(data_dir)
    try:
        return {t: int(db.read(f"SELECT count(*) FROM {t}")[0][0]) for t in tables}
    finally:
        db.close()


def test_an_old_deployment_is_refused_until_migrated_then_keeps_every_row(
    old_city: tuple[Path, str],
) -> None:
    data_dir, dialect = old_city
    expected = _rows(dialect)
    tables = sorted(t for t in expected if not t.startswith("_"))
    with pytest.raises(
        ConfigError,
        match=r"needs schema revision\(s\) 0001, 0002, 0003, 0004, 0005, 0006, 0007, 0008, 0009, "
        r"0010, 0011, 0012: run `ombud",
    ):
        Deployment.open(data_dir, environ={})
    assert _counts(data_dir, tables) == {t: expected[t] for t in tables}  # refused: untouched

    done = _migrate(data_dir)
    assert done.returncode == 0, done.stderr
    assert f"migrated from schema revision none to {migrations.HEAD}" in done.stdout
    assert _counts(data_dir, tables) == {t: expected[t] for t in tables}

    with Deployment.open(data_dir, clock=lambda: NOW, environ={}) as city:
        assert migrations.current(city.db) == migrations.HEAD
        assert city.log.state().size == expected["_log_size"]
        # 0002 filled in each stored observation's model and district from the registry
        places = city.db.read("SELECT DISTINCT model, district FROM observations")
        assert places == [("NoiseLevelObserved", "north")]
        # the upgraded deployment serves what it held and takes new readings
        _, staff = city.tokens.create({"voice:read"}, "after the upgrade", now=NOW)
        with TestClient(create_app(city)) as client:
            assert len(client.get("/devices").json()) == 4
            assert len(client.get("/integrity/quarantine").json()) == 1
            assert len(client.get("/voice/flags").json()) == 4
            assert len(client.get("/privacy/releases").json()) == 1
            posts = client.get("/voice/posts", headers={"Authorization": f"Bearer {staff}"})
            assert len(posts.json()) == expected["posts"]
        fleet = list(
            make_fleet(
                4,
                random.Random(7),
                clock=lambda: NOW,
                models=("NoiseLevelObserved",),
                districts=("north",),
            )
        )
        sensor = fleet[1]  # fleet[0] was revoked
        sensor.signer.counter = 6  # it signed six readings before
        entity = reading(sensor.device.model, sensor.device.id, "north", NOW, sensor.rng)
        (verdict,) = city.intake.submit([sensor.signer.sign(entity)])
        assert isinstance(verdict, Accepted), verdict
        row = city.db.read(
            "SELECT model, district FROM observations WHERE device = ? AND counter = ?",
            (sensor.device.id, verdict.counter),
        )
        assert row == [("NoiseLevelObserved", "north")]

    again = _migrate(data_dir)
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_a_database_from_a_newer_ombud_is_refused(tmp_path: Path) -> None:
    data_dir = _copy("sqlite", tmp_path)
    db = open_database_of(data_dir)
    try:
        migrations.upgrade(db)
        with db.transaction() as tx:
            tx.execute(f"UPDATE {migrations.VERSION_TABLE} SET version_num = '9999'")
    finally:
        db.close()
    with pytest.raises(ConfigError, match="revision '9999', which this ombud does not know"):
        Deployment.open(data_dir, environ={})
    refused = _migrate(data_dir)
    assert refused.returncode == 2 and "a newer version wrote it" in refused.stderr


def test_the_history_has_the_revisions_the_code_names() -> None:
    """``check`` compares with ``HEAD`` without loading Alembic: keep both equal to the scripts."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    script = ScriptDirectory.from_config(config)
    chain = [r.revision for r in reversed(list(script.walk_revisions()))]
    assert tuple(chain) == migrations.REVISIONS
    assert script.get_current_head() == migrations.HEAD


def _drift(db_dir: Path) -> None:
    """``alembic check``: fails when the tables the packages declare and the database differ.

    One difference is SQLite's, not a drift: an ``INTEGER PRIMARY KEY`` is the rowid, which can
    never hold NULL, yet SQLite reports it nullable unless declared ``NOT NULL``; those are
    left out."""
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config
    from alembic.util import AutogenerateDiffsDetected

    db = open_database_of(db_dir)
    engine = sa.create_engine(db.sqlalchemy_url(), poolclass=sa.pool.NullPool)
    declared = {t.name: t for m in migrations.target_metadata() for t in m.tables.values()}
    try:
        with engine.connect() as connection:
            config = Config()
            config.set_main_option("script_location", str(Path(migrations.__file__).parent))
            config.attributes["connection"] = connection
            try:
                command.check(config)
            except AutogenerateDiffsDetected as exc:
                left = [
                    d
                    for d in exc.diffs
                    if not (
                        engine.dialect.name == "sqlite"
                        and isinstance(d, list)
                        and d[0][0] == "modify_nullable"
                        and declared[d[0][2]].c[d[0][3]].primary_key
                        and isinstance(d[0][4]["existing_type"], sa.Integer)
                    )
                ]
                assert left == [], left
    finally:
        engine.dispose()
        db.close()


def test_an_upgraded_deployment_has_the_tables_the_packages_declare(
    old_city: tuple[Path, str],
) -> None:
    data_dir, _ = old_city
    assert migrate_deployment(data_dir) == (None, migrations.HEAD)
    _drift(data_dir)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_a_new_deployment_has_the_tables_the_packages_declare(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = request.getfixturevalue("postgres_schema") if dialect == "postgresql" else ""
    init_deployment(tmp_path / "city", "new.example/log", database_url=url)
    _drift(tmp_path / "city")
