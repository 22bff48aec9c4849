"""The deployment's schema history: every table of every domain package, versioned with Alembic.

Threat model: a deployment opened by code that expects another schema fails at run time — on a
resident's request — or corrupts quietly. So the history is recorded in the database
(``alembic_version``); ``ombud init`` applies all of it, ``ombud migrate`` applies what is
pending, and a deployment whose history is behind (pending revisions) or ahead (a revision this
code does not know: a newer ombud wrote it) is refused by ``check`` before anything reads or
writes it. The log's own tables are the ledger's (``ombud.ledger.store_sql``, versioned in its
``meta`` table): a log lives without a deployment, so it keeps its own history.

Runtime code does not import Alembic or SQLAlchemy: ``check`` reads the version with one query
through ``ombud.database`` and compares it with ``HEAD`` (a test keeps ``HEAD`` and
``REVISIONS`` equal to the scripts in ``versions/``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ombud.database import Database
from ombud.errors import ConfigError, StorageError

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = [
    "HEAD",
    "REVISIONS",
    "VERSION_TABLE",
    "check",
    "current",
    "downgrade",
    "target_metadata",
    "upgrade",
]

REVISIONS = (
    "0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009", "0010", "0011", "0012",
)  # fmt: skip
"""Every revision of the history, oldest first."""
HEAD = REVISIONS[-1]
logger = logging.getLogger(__name__)
VERSION_TABLE = "alembic_version"
_HERE = Path(__file__).resolve().parent


def target_metadata() -> list[sa.MetaData]:
    """The tables every domain package declares (its ``tables`` module): what the history
    must produce, and what ``alembic check`` compares a database with."""
    from ombud.access import tables as access
    from ombud.governance import tables as governance
    from ombud.ingest import tables as ingest
    from ombud.privacy import tables as privacy
    from ombud.sensors import tables as sensors
    from ombud.tokens import tables as tokens
    from ombud.voice import tables as voice

    return [
        tokens.metadata,
        ingest.metadata,
        sensors.metadata,
        voice.metadata,
        privacy.metadata,
        governance.metadata,
        access.metadata,
    ]


def _config(connection: object) -> object:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_HERE))
    config.attributes["connection"] = connection
    return config


SCRUBBED_AFTER = {"0009": ("access_requests",)}
"""Tables a revision rewrites to remove personal data (0009: the access requests' subjects),
scrubbed once it has committed (``Database.scrub``: on PostgreSQL a VACUUM, which cannot run in
the migration's transaction), so the old row versions do not linger in the table's pages."""


def upgrade(db: Database, revision: str = "head") -> None:
    """Apply the history to ``db`` up to ``revision`` (every pending revision by default), in
    one transaction: a revision that fails leaves the database as it was."""
    before = current(db)
    _run(db, "upgrade", revision)
    after = current(db)
    applied = [
        r for r in REVISIONS if (before is None or r > before) and after is not None and r <= after
    ]
    tables = [t for r in applied for t in SCRUBBED_AFTER.get(r, ())]
    if tables:
        try:
            db.scrub(tables)
        except StorageError as exc:  # the upgrade stands; the next erasure scrubs them too
            logger.warning("upgraded %s, but could not scrub %s yet: %s", db.name, tables, exc)


def downgrade(db: Database, revision: str) -> None:
    """Undo the history of ``db`` back to ``revision`` (for tests of a revision, and for a
    release rolled back by its operator; ``ombud`` itself never downgrades)."""
    _run(db, "downgrade", revision)


def _run(db: Database, direction: str, revision: str) -> None:
    import sqlalchemy as sa
    from alembic import command

    try:
        engine = _engine(db)
    except (sa.exc.SQLAlchemyError, ValueError) as exc:
        raise StorageError(f"cannot migrate {db.name}: {exc}") from exc
    try:
        with engine.begin() as connection:
            getattr(command, direction)(_config(connection), revision)
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(f"cannot migrate {db.name}: {exc}") from exc
    finally:
        engine.dispose()


def _engine(db: Database) -> sa.Engine:
    """An engine whose transactions cover DDL on both dialects. Python's ``sqlite3`` opens a
    transaction only before INSERT, UPDATE or DELETE, so a revision's ``ALTER`` and ``CREATE``
    would each commit on their own and a failing revision would leave half of itself behind;
    here the driver opens none and every transaction is ``BEGIN IMMEDIATE`` (SQLAlchemy's
    recipe for pysqlite)."""
    import sqlalchemy as sa

    engine = sa.create_engine(db.sqlalchemy_url(), poolclass=sa.pool.NullPool)
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _no_driver_transactions(dbapi_connection: Any, _: object) -> None:
            dbapi_connection.isolation_level = None

        @sa.event.listens_for(engine, "begin")
        def _begin(connection: sa.Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def current(db: Database) -> str | None:
    """The revision ``db`` is at (None: no history recorded yet)."""
    if not db.has_table(VERSION_TABLE):
        return None
    rows = db.read(f"SELECT version_num FROM {VERSION_TABLE}")  # noqa: S608 (a constant)
    if len(rows) > 1:
        raise StorageError(f"{db.name} records {len(rows)} schema versions; it holds one")
    return str(rows[0][0]) if rows else None


def check(db: Database) -> None:
    """Refuse a database whose schema is not this code's: behind it (``ombud migrate``
    applies what is pending) or ahead of it (a newer ombud wrote it)."""
    version = current(db)
    if version == HEAD:
        return
    if version is None or version in REVISIONS:
        pending = REVISIONS[REVISIONS.index(version) + 1 :] if version else REVISIONS
        raise ConfigError(
            f"{db.name} needs schema revision(s) {', '.join(pending)}: run `ombud migrate` "
            "(nothing is read or written before)"
        )
    raise ConfigError(
        f"{db.name} is at schema revision {version!r}, which this ombud does not know: a newer "
        f"version wrote it (this one knows up to {HEAD}); upgrade ombud"
    )
