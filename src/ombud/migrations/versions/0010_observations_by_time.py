"""Observations in time order, for the insight's reading of whole weeks.

Revision 0010, after 0009. ``ombud.sensors.indicators.readings_between`` reads every
observation of a week a page at a time, in the order (time, device, counter); without an index
that order is a sort of the whole table for every page.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX observations_by_time ON observations (created_us, device, counter)")


def downgrade() -> None:
    op.execute("DROP INDEX observations_by_time")
