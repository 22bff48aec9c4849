"""The tables of ``ombud.governance``: the roster's versions; privileged requests, each
holder's signature on them and the ones carried out (each request once); and the settings the
roster governs, as its last action set them; tenders and their sealed bids; motions and
their votes; tracked results and their updates."""

from __future__ import annotations

import sqlalchemy as sa

from ombud.tables import BLOB, INT, TEXT, strict_table

__all__ = [
    "governed_settings",
    "metadata",
    "motions",
    "result_updates",
    "results",
    "roster_actions",
    "roster_refusals",
    "roster_requests",
    "roster_signatures",
    "roster_versions",
    "tender_bids",
    "tender_refusals",
    "tenders",
    "votes",
]

metadata = sa.MetaData()

roster_versions = strict_table(
    "roster_versions",
    metadata,
    sa.Column("version", INT, primary_key=True, autoincrement=False),
    sa.Column("digest", TEXT, nullable=False, unique=True),
    sa.Column("roster", BLOB, nullable=False),
    sa.Column("recovered", INT, nullable=False),
    sa.Column("ledger_index", INT, nullable=False),
)

roster_actions = strict_table(
    "roster_actions",
    metadata,
    sa.Column("digest", TEXT, primary_key=True),
    sa.Column("action", TEXT, nullable=False),
    sa.Column("ledger_index", INT, nullable=False),
)

roster_requests = strict_table(
    "roster_requests",
    metadata,
    sa.Column("digest", TEXT, primary_key=True),
    sa.Column("action", TEXT, nullable=False),
    sa.Column("request", BLOB, nullable=False),
    sa.Column("status", TEXT, nullable=False),
    sa.Column("requested_index", INT, nullable=False),
    sa.Column("outcome_index", INT),
)

roster_signatures = strict_table(
    "roster_signatures",
    metadata,
    sa.Column("digest", TEXT, primary_key=True),
    sa.Column("holder", TEXT, primary_key=True),
    sa.Column("signature", BLOB, nullable=False),
    sa.Column("ledger_index", INT, nullable=False),
)

roster_refusals = strict_table(
    "roster_refusals",
    metadata,
    sa.Column("ledger_index", INT, primary_key=True, autoincrement=False),
    sa.Column("digest", TEXT),
    sa.Column("action", TEXT, nullable=False),
    sa.Column("holder", TEXT),
    sa.Column("reason", TEXT, nullable=False),
)

governed_settings = strict_table(
    "governed_settings",
    metadata,
    sa.Column("name", TEXT, primary_key=True),
    sa.Column("value", BLOB, nullable=False),
    sa.Column("ledger_index", INT, nullable=False),
)

tenders = strict_table(
    "tenders",
    metadata,
    sa.Column("ocid", TEXT, primary_key=True),
    sa.Column("tender", BLOB, nullable=False),
    sa.Column("published_index", INT, nullable=False),
    sa.Column("published_at", INT, nullable=False),
    sa.Column("before_size", INT),
    sa.Column("before_note", BLOB),
    sa.Column("closed_index", INT),
    sa.Column("cut", INT),
    sa.Column("awarded_index", INT),
    sa.Column("evaluation", BLOB),
)

tender_refusals = strict_table(
    "tender_refusals",
    metadata,
    sa.Column("ocid", TEXT, primary_key=True),
    sa.Column("bidder", TEXT, primary_key=True),
    sa.Column("reason", TEXT, primary_key=True),
    sa.Column("ledger_index", INT, nullable=False),
)

tender_bids = strict_table(
    "tender_bids",
    metadata,
    sa.Column("ocid", TEXT, primary_key=True),
    sa.Column("bidder", TEXT, primary_key=True),
    sa.Column("commitment", BLOB, nullable=False),
    sa.Column("committed_index", INT, nullable=False),
    sa.Column("committed_at", INT, nullable=False),
    sa.Column("reveal", BLOB),
    sa.Column("revealed_index", INT),
)

motions = strict_table(
    "motions",
    metadata,
    sa.Column("id", TEXT, primary_key=True),
    sa.Column("motion", BLOB, nullable=False),
    sa.Column("closes", INT, nullable=False),
    sa.Column("tabled_index", INT, nullable=False),
    sa.Column("decided_index", INT),
    sa.Column("tally", BLOB),
)

votes = strict_table(
    "votes",
    metadata,
    sa.Column("motion", TEXT, primary_key=True),
    sa.Column("holder", TEXT, primary_key=True),
    sa.Column("vote", BLOB, nullable=False),
    sa.Column("ledger_index", INT, nullable=False),
)

results = strict_table(
    "results",
    metadata,
    sa.Column("id", TEXT, primary_key=True),
    sa.Column("result", BLOB, nullable=False),
    sa.Column("created_index", INT, nullable=False),
)

result_updates = strict_table(
    "result_updates",
    metadata,
    sa.Column("result", TEXT, primary_key=True),
    sa.Column("sequence", INT, primary_key=True, autoincrement=False),
    sa.Column("update_", BLOB, nullable=False),
    sa.Column("at", INT, nullable=False),
    sa.Column("ledger_index", INT, nullable=False),
)
