"""The tables of ``ombud.privacy``: the vault (index key, subjects' wrapped keys, sealed
payloads), consent records and differentially private releases."""

from __future__ import annotations

import sqlalchemy as sa

from ombud.tables import BLOB, INT, REAL, TEXT, strict_table

__all__ = [
    "consents",
    "dp_releases",
    "metadata",
    "vault_meta",
    "vault_payloads",
    "vault_subjects",
]

metadata = sa.MetaData()

vault_meta = strict_table(
    "vault_meta",
    metadata,
    sa.Column("name", TEXT, primary_key=True),
    sa.Column("master_id", TEXT, nullable=False),
    sa.Column("wrapped", BLOB, nullable=False),
)

vault_subjects = strict_table(
    "vault_subjects",
    metadata,
    sa.Column("ref", BLOB, primary_key=True),
    sa.Column("master_id", TEXT),
    sa.Column("wrapped_key", BLOB),
    sa.Column("access", BLOB, unique=True),
    sa.Column("created", INT, nullable=False),
    sa.Column("erased_index", INT),
    sa.Column("scrubbed", INT, nullable=False),
)

vault_payloads = strict_table(
    "vault_payloads",
    metadata,
    sa.Column("id", TEXT, primary_key=True),
    sa.Column("subject", BLOB, nullable=False),
    sa.Column("kind", TEXT, nullable=False),
    sa.Column("nonce", BLOB),
    sa.Column("ciphertext", BLOB),
    sa.Column("salt", BLOB),
    sa.Column("commitment", BLOB, nullable=False),
    sa.Column("created", INT, nullable=False),
    sa.Column("expires", INT),
    sa.Column("ledger_index", INT, nullable=False),
    sa.Column("purged_index", INT),
)
sa.Index("vault_payloads_by_subject", vault_payloads.c.subject)
sa.Index("vault_payloads_by_expiry", vault_payloads.c.expires)

consents = strict_table(
    "consents",
    metadata,
    sa.Column("id", TEXT, primary_key=True),
    sa.Column("subject", BLOB, nullable=False),
    sa.Column("payload", TEXT, nullable=False),
    sa.Column("version", INT, nullable=False),
    sa.Column("status", TEXT, nullable=False),
    sa.Column("expires", INT),
    sa.Column("ledger_index", INT, nullable=False),
)
sa.Index("consents_by_subject", consents.c.subject)

dp_releases = strict_table(
    "dp_releases",
    metadata,
    sa.Column("id", TEXT, primary_key=True),
    sa.Column("dataset", TEXT, nullable=False),
    sa.Column("period", TEXT, nullable=False),
    sa.Column("rho", REAL, nullable=False),
    sa.Column("created", INT, nullable=False),
    sa.Column("result", TEXT, nullable=False),
    sa.Column("ledger_index", INT, nullable=False),
)
sa.Index("dp_releases_by_period", dp_releases.c.dataset, dp_releases.c.period)
