"""Indexes for search and history: the filter and sort columns of GET /v1/services (status first, as every search
has one unless status=any), a service's and a user's history in ledger order, and activity by kind and time for
analytics.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_index_services_status_name", "index_services", ["status", "name"]),
    ("ix_index_services_status_price", "index_services", ["status", "price", "name"]),
    ("ix_index_services_status_created", "index_services", ["status", "created_at", "name"]),
    ("ix_index_services_status_latency", "index_services", ["status", "latency_ms"]),
    ("ix_index_services_status_availability", "index_services", ["status", "availability_bp"]),
    ("ix_index_services_category_status_price", "index_services", ["category", "status", "price"]),
    ("ix_index_services_developer_name", "index_services", ["developer", "name"]),
    ("ix_index_activity_service_place", "index_activity", ["service", "block", "position", "seq"]),
    ("ix_index_activity_user_place", "index_activity", ["user", "block", "position", "seq"]),
    ("ix_index_activity_counterparty_place", "index_activity", ["counterparty", "block", "position", "seq"]),
    ("ix_index_activity_kind_ts", "index_activity", ["kind", "ts"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
