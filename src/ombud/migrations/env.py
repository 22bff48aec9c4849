"""Alembic's environment for ombud: run the history on the connection ``ombud.migrations``
hands over (or on ``OMBUD_DATABASE_URL``, for ``alembic`` run by a developer).

Threat model: only the domain packages' tables are compared and migrated; the ledger's tables
(``meta``, ``tiles``, ``bundles``, ``checkpoints``) are the ledger's own history and are left
alone.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import context

from ombud.migrations import VERSION_TABLE, target_metadata

_metadata = target_metadata()
_OURS = {name for m in _metadata for name in m.tables}


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    return type_ != "table" or name in _OURS


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=_metadata,
        include_name=_include_name,
        version_table=VERSION_TABLE,
        compare_type=True,
        transactional_ddl=True,  # SQLite and PostgreSQL both roll DDL back: a revision is whole
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = os.environ.get("OMBUD_DATABASE_URL") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set OMBUD_DATABASE_URL to the SQLAlchemy URL of a deployment database")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        _run(conn)
