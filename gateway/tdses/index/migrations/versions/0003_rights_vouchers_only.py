"""Rights keep vouchersOnly (calls bought while the service required vouchers: used up only by settled vouchers).

Its value is on the ledger only, so an index that had rights before this empties itself and is refilled from
block 0 by its follower. The column has no default: a replica of the version before, still following the same
database during a rolling upgrade, cannot write rights without it (its follower stops and retries) instead of
writing them wrong. 0001 creates the tables as the schema has them now: on a new database the column is there
already, and there is nothing to refill.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The index's data tables as of this revision, children before what they refer to.
DATA_TABLES = ("index_events", "index_activity", "index_tallies", "index_servers", "index_rights",
               "index_mashup_components", "index_services", "index_users")


def upgrade() -> None:
    if "vouchers_only" in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("index_rights")}:
        return
    for table in DATA_TABLES:
        op.execute(f"DELETE FROM {table}")
    op.execute("UPDATE index_checkpoint SET next_block = 0")
    # SQLite adds a NOT NULL column only with a default, even to an empty table: added with one, then dropped.
    op.add_column("index_rights", sa.Column("vouchers_only", sa.Boolean, nullable=False,
                                            server_default=sa.false()))
    with op.batch_alter_table("index_rights") as batch:
        batch.alter_column("vouchers_only", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("index_rights") as batch:
        batch.drop_column("vouchers_only")
