"""Pending non-custodial transactions, shared by a gateway's replicas.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_transactions",
        sa.Column("transaction_id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("proposal", sa.LargeBinary, nullable=False),
        sa.Column("transaction", sa.LargeBinary),
        sa.Column("after_commit", sa.String(32)),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_pending_transactions_owner", "pending_transactions", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_pending_transactions_owner", "pending_transactions")
    op.drop_table("pending_transactions")
