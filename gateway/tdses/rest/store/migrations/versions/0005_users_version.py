"""A version of the users table, raised by the database on every change to it: token caches ask for it alone.

Triggers, not the gateway's code, raise it, so a change made by an older replica during an upgrade, or by an
operator's SQL, is seen too.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

RAISE = "UPDATE users_version SET version = version + 1 WHERE id = 1"
EVENTS = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    op.create_table(
        "users_version",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO users_version (id, version) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE FUNCTION users_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {RAISE}; "
                   "RETURN NULL; END $$")
        op.execute("CREATE TRIGGER users_changed AFTER INSERT OR UPDATE OR DELETE ON users "
                   "FOR EACH STATEMENT EXECUTE FUNCTION users_changed()")
    else:
        for event in EVENTS:
            op.execute(f"CREATE TRIGGER users_changed_{event.lower()} AFTER {event} ON users BEGIN {RAISE}; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER users_changed ON users")
        op.execute("DROP FUNCTION users_changed()")
    else:
        for event in EVENTS:
            op.execute(f"DROP TRIGGER users_changed_{event.lower()}")
    op.drop_table("users_version")
