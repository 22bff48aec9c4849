"""Access requests keep no subject in clear, and each subject's commitment has its own salt.

Revision 0009, after 0008. A request was stored whole, subjects named, and its subjects'
commitments used the salt its disclosure publishes, so a disclosed request let anyone test a
guess of whom it named, and an erased resident's pseudonym stayed in ``access_requests``. Now
``access_requests.request`` holds the request as filed (``ombud.access.requests.FiledRequest``:
subjects as commitments) with the digest its approval binds to (``approval_digest``) and the
version of its commitments (``version``: 1, under the seal's salt; 2, each under its own), and
``access_subjects`` holds each subject's salt (NULL once the subject is erased) and commitment.

The requests stored before are rewritten here to their filed form, with the commitments and the
approval digest they were published and approved under (version 1: the seal's salt; a
commitment is matched to its subject's row only where the request names one subject, since
matching needs the vault's key). No pseudonym is left in the table; on SQLite the rewrite runs
with ``secure_delete``, and the next erasure or retention pass truncates the WAL; on PostgreSQL
the rewritten rows' old versions are vacuumed after the upgrade (``migrations.SCRUBBED_AFTER``).
Downgrading is refused while any request is stored: the code before could not read them.
"""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa
from alembic import op

from ombud.canonical import canonical_json
from ombud.database import translate_ddl
from ombud.errors import StorageError

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    script = """
    ALTER TABLE access_requests ADD COLUMN approval_digest TEXT;
    ALTER TABLE access_requests ADD COLUMN version INTEGER;
    ALTER TABLE access_subjects ADD COLUMN salt BLOB;
    ALTER TABLE access_subjects ADD COLUMN commitment TEXT
    """
    for statement in translate_ddl(script, dialect):
        op.execute(statement)
    if dialect == "sqlite":
        op.execute("PRAGMA secure_delete = ON")
    rows = bind.execute(sa.text("SELECT id, request, salt FROM access_requests")).fetchall()
    for request_id, data, salt in rows:
        data, salt = bytes(data), bytes(salt)
        whole = json.loads(data)
        subjects = list(dict.fromkeys(whole["subjects"]))
        commitments = [hashlib.sha256(salt + s.encode()).hexdigest() for s in whole["subjects"]]
        filed = canonical_json({**whole, "subjects": commitments}, "a filed access request")
        bind.execute(
            sa.text(
                "UPDATE access_requests SET request = :filed, approval_digest = :digest,"
                " version = 1 WHERE id = :id"
            ),
            {"filed": filed, "digest": hashlib.sha256(salt + data).hexdigest(), "id": request_id},
        )
        one = (
            hashlib.sha256(salt + subjects[0].encode()).hexdigest() if len(subjects) == 1 else None
        )
        bind.execute(
            sa.text("UPDATE access_subjects SET salt = :salt, commitment = :c WHERE request = :id"),
            {"salt": salt, "c": one, "id": request_id},
        )


def downgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    if bind.execute(sa.text("SELECT 1 FROM access_requests LIMIT 1")).first() is not None:
        # The requests are filed now (no subject in clear) and their approval digests live in
        # a column this would drop: the code before 0009 could not read them, and upgrading
        # again would hash their commitments a second time.
        raise StorageError(
            "revision 0009 cannot be undone while access requests are stored: they no longer "
            "name their subjects, and the code before it cannot read them"
        )
    script = """
    ALTER TABLE access_subjects DROP COLUMN commitment;
    ALTER TABLE access_subjects DROP COLUMN salt;
    ALTER TABLE access_requests DROP COLUMN version;
    ALTER TABLE access_requests DROP COLUMN approval_digest
    """
    for statement in translate_ddl(script, dialect):
        op.execute(statement)
