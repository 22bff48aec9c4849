"""The tables of ``ombud.voice``: issuer keys and spent tokens, posts and their flags, and the
cover leaves that hide how many posts each hour holds."""

from __future__ import annotations

import sqlalchemy as sa

from ombud.tables import BLOB, INT, TEXT, strict_table

__all__ = [
    "cover_hours",
    "cover_leaves",
    "issuer_keys",
    "metadata",
    "post_flags",
    "posts",
    "spent_tokens",
]

metadata = sa.MetaData()

issuer_keys = strict_table(
    "issuer_keys",
    metadata,
    sa.Column("period", TEXT, primary_key=True),
    sa.Column("issuer", TEXT, nullable=False),
    sa.Column("key", BLOB, nullable=False),
    sa.Column("ledger_index", INT, nullable=False),
)

spent_tokens = strict_table(
    "spent_tokens",
    metadata,
    sa.Column("nullifier", BLOB, primary_key=True),
    sa.Column("period", TEXT, nullable=False),
)

posts = strict_table(
    "posts",
    metadata,
    sa.Column("id", TEXT, primary_key=True),
    sa.Column("received", INT, nullable=False),
    sa.Column("district", TEXT, nullable=False),
    sa.Column("period", TEXT),
    sa.Column("channel", TEXT, nullable=False),
    sa.Column("service_given", TEXT),
    sa.Column("service", TEXT, nullable=False),
    sa.Column("sentiment", TEXT, nullable=False),
    sa.Column("scores", TEXT, nullable=False),
    sa.Column("text", TEXT),
    sa.Column("salt", BLOB),
    sa.Column("commitment", BLOB, nullable=False),
    sa.Column("expires", INT, nullable=False),
    sa.Column("source_ref", BLOB, unique=True),
    sa.Column("ledger_index", INT, nullable=False),
    sa.Column("unit", TEXT),
    sa.Column("receipt", BLOB),
)
sa.Index("posts_by_time", posts.c.received)
sa.Index("posts_by_expiry", posts.c.expires)

post_flags = strict_table(
    "post_flags",
    metadata,
    sa.Column("post", TEXT, primary_key=True),
    sa.Column("flagged_check", TEXT, nullable=False),
    sa.Column("reason", TEXT, nullable=False),
    sa.Column("evidence", TEXT, nullable=False),
    sa.Column("ledger_index", INT, nullable=False),
    sa.Column("released_reason", TEXT),
    sa.Column("released_index", INT),
    sa.Column("evidence_salt", BLOB),
)

cover_hours = strict_table(
    "cover_hours",
    metadata,
    sa.Column("hour", INT, primary_key=True, autoincrement=False),
    sa.Column("period", TEXT, primary_key=True),
    sa.Column("drawn", INT, nullable=False),
    sa.Column("dropped", INT, nullable=False),
)

cover_leaves = strict_table(
    "cover_leaves",
    metadata,
    sa.Column("nullifier", BLOB, primary_key=True),
    sa.Column("hour", INT, nullable=False),
    sa.Column("period", TEXT, nullable=False),
    sa.Column("due_us", INT, nullable=False),
    sa.Column("commitment", BLOB, nullable=False),
    sa.Column("expires", INT, nullable=False),
    sa.Column("ledger_index", INT),
    sa.Column("purged", INT),
)
sa.Index("cover_leaves_pending", cover_leaves.c.ledger_index, cover_leaves.c.due_us)
sa.Index("cover_leaves_by_expiry", cover_leaves.c.expires)
