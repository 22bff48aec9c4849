"""The one assembly point: every part built once, on first use, and closed in reverse."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ombud import migrations
from ombud.database import Database
from ombud.deployment import Deployment, init_deployment, open_database_of
from ombud.errors import ConfigError, MasterKeyError, StorageError


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    init_deployment(tmp_path / "city", "assembly.example/log")
    return tmp_path / "city"


def test_each_part_is_built_once_and_shared(data_dir: Path) -> None:
    with Deployment.open(data_dir, environ={}) as deployment:
        assert deployment.intake.quarantine is deployment.quarantine
        assert deployment.screener.quarantine is deployment.quarantine
        assert deployment.intake.registry is deployment.registry
        assert deployment.flags.posts is deployment.posts
        assert deployment.privacy().posts is deployment.posts
        assert deployment.tokens.db is deployment.db is deployment.log.store.db


def test_close_closes_what_was_opened_then_the_log(data_dir: Path) -> None:
    deployment = Deployment.open(data_dir, environ={})
    intake = deployment.intake
    deployment.close()
    with pytest.raises(RuntimeError):  # the checking threads are gone
        intake._pool.submit(print)  # type: ignore[union-attr]
    assert deployment.db._connections == []  # every connection of the log's database closed


def test_a_part_is_loaded_only_when_used(data_dir: Path) -> None:
    """Registering a device needs neither the web framework nor the sentiment model."""
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from ombud.deployment import Deployment\n"
        f"with Deployment.open(Path({str(data_dir)!r})) as d:\n"
        "    d.registry.list()\n"
        "heavy = {'onnxruntime', 'fastapi', 'tokenizers', 'polars'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr


def test_without_a_master_key_only_privacy_is_unavailable(data_dir: Path) -> None:
    (data_dir / "master.key").unlink()
    with Deployment.open(data_dir, environ={}) as deployment:
        assert isinstance(deployment.privacy_problem, MasterKeyError)
        with pytest.raises(MasterKeyError):
            deployment.privacy()
        assert list(deployment.registry.list()) == []


def test_a_deployment_behind_its_schema_is_refused(data_dir: Path) -> None:
    with Deployment.open(data_dir, environ={}) as deployment:
        migrations.downgrade(deployment.db, migrations.REVISIONS[-2])
    pending = rf"needs schema revision\(s\) {migrations.HEAD}: run `ombud migrate`"
    with pytest.raises(ConfigError, match=pending):
        Deployment.open(data_dir, environ={})


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_a_revision_that_fails_leaves_the_database_as_it_was(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Review finding: on SQLite each DDL statement of a revision committed on its own, so a
    revision failing half-way left its first columns behind and every later migrate failed."""
    url = request.getfixturevalue("postgres_schema") if dialect == "postgresql" else ""
    init_deployment(tmp_path / "city", "fails.example/log", database_url=url)
    db = open_database_of(tmp_path / "city")
    try:
        migrations.downgrade(db, "0001")
        with db.transaction() as tx:  # 0002 creates this index: now it cannot
            tx.execute("CREATE INDEX observations_by_place ON tokens (id)")
        with pytest.raises(StorageError, match="observations_by_place"):
            migrations.upgrade(db)
        assert migrations.current(db) == "0001"
        columns = {c["name"] for c in _columns(db, "observations")}
        assert "model" not in columns and "district" not in columns  # 0002 left nothing
        with db.transaction() as tx:
            tx.execute("DROP INDEX observations_by_place")
        migrations.upgrade(db)  # and the next attempt completes it
        assert migrations.current(db) == migrations.HEAD
    finally:
        db.close()


def _columns(db: Database, table: str) -> list[dict[str, str]]:
    import sqlalchemy as sa

    engine = sa.create_engine(db.sqlalchemy_url(), poolclass=sa.pool.NullPool)
    try:
        return [dict(c) for c in sa.inspect(engine).get_columns(table)]  # type: ignore[arg-type]
    finally:
        engine.dispose()


def test_a_serving_deployment_follows_a_master_key_rotation(data_dir: Path) -> None:
    """Finding: ``ombud privacy rotate-key`` while ``ombud serve`` ran left the server on the
    old key: subjects it re-wrapped got 503, and a subject the server created afterwards was
    wrapped under the old key, gone from disk — unreadable after a restart."""
    from ombud.privacy.consent import Grant
    from ombud.privacy.master_key import rotate_master_key_file

    def grant(subject: str) -> Grant:
        return Grant(subject, ("follow-up",), ("contact",), "City")

    with Deployment.open(data_dir, environ={}) as serving:
        serving.prepare()
        office = serving.privacy()
        office.consents.grant(grant("resident-a"), actor="test")
        with Deployment.open(data_dir, environ={}) as operator:  # `ombud privacy rotate-key`
            new, _ = rotate_master_key_file(operator.vault, data_dir / "master.key")
        assert office.consents.check("resident-a", "follow-up", "contact")
        office.consents.grant(grant("resident-b"), actor="test")
        wrapped = serving.db.read("SELECT DISTINCT master_id FROM vault_subjects")
        assert wrapped == [(new.key_id,)]
    with Deployment.open(data_dir, environ={}) as restarted:
        for subject in ("resident-a", "resident-b"):
            assert restarted.privacy().consents.check(subject, "follow-up", "contact")
        rotate_master_key_file(restarted.vault, data_dir / "master.key")
