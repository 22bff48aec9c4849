"""The tables of ``ombud.access``: requests (as filed: the subjects only as commitments, with
the salt of their seal and the digest their approval binds to), the subjects each names (by the
vault's reference, never the pseudonym, with the secret salt of their commitment, destroyed when
the subject is erased), and reads (an allowed read with its requester's signed statement, whose
nonce is unique: a statement allows one read)."""

from __future__ import annotations

import sqlalchemy as sa

from ombud.tables import BLOB, INT, TEXT, strict_table

__all__ = ["access_reads", "access_requests", "access_subjects", "metadata"]

metadata = sa.MetaData()

access_requests = strict_table(
    "access_requests",
    metadata,
    sa.Column("id", TEXT, primary_key=True),
    sa.Column("request", BLOB, nullable=False),
    sa.Column("salt", BLOB, nullable=False),
    sa.Column("status", TEXT, nullable=False),
    sa.Column("sealed_until", INT),
    sa.Column("requested_index", INT, nullable=False),
    sa.Column("decided_index", INT),
    sa.Column("disclosed_index", INT),
    sa.Column("approval_digest", TEXT),
    sa.Column("version", INT),
)
sa.Index("access_requests_by_seal", access_requests.c.sealed_until)

access_subjects = strict_table(
    "access_subjects",
    metadata,
    sa.Column("request", TEXT, primary_key=True),
    sa.Column("subject_ref", BLOB, primary_key=True),
    sa.Column("salt", BLOB),
    sa.Column("commitment", TEXT),
)
sa.Index("access_subjects_by_ref", access_subjects.c.subject_ref)

access_reads = strict_table(
    "access_reads",
    metadata,
    sa.Column("ledger_index", INT, primary_key=True, autoincrement=False),
    sa.Column("request", TEXT, nullable=False),
    sa.Column("subject_ref", BLOB),
    sa.Column("category", TEXT, nullable=False),
    sa.Column("outcome", TEXT, nullable=False),
    sa.Column("items", INT, nullable=False),
    sa.Column("at", INT, nullable=False),
    sa.Column("nonce", TEXT),
    sa.Column("signed", BLOB),
)
sa.Index("access_reads_by_request", access_reads.c.request)
sa.Index("access_reads_by_nonce", access_reads.c.nonce, unique=True)
