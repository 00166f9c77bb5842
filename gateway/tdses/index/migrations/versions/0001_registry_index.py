"""The registry index: users, services and mashups, rights, servers, tallies, activity, events, checkpoint, and a
full-text index over services (FTS5 on SQLite, a tsvector column with a GIN index on PostgreSQL).

Revision ID: 0001
Revises:
"""

from alembic import op

from tdses.index import schema

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SQLITE_FTS = [
    # External content: the text lives once, in index_services; triggers keep the FTS5 index in step.
    """CREATE VIRTUAL TABLE index_services_fts USING fts5(
        name, category, description, content='index_services', content_rowid='rowid',
        tokenize='porter unicode61')""",
    """CREATE TRIGGER index_services_fts_insert AFTER INSERT ON index_services BEGIN
        INSERT INTO index_services_fts(rowid, name, category, description)
        VALUES (new.rowid, new.name, new.category, new.description);
    END""",
    """CREATE TRIGGER index_services_fts_delete AFTER DELETE ON index_services BEGIN
        INSERT INTO index_services_fts(index_services_fts, rowid, name, category, description)
        VALUES ('delete', old.rowid, old.name, old.category, old.description);
    END""",
    """CREATE TRIGGER index_services_fts_update AFTER UPDATE ON index_services BEGIN
        INSERT INTO index_services_fts(index_services_fts, rowid, name, category, description)
        VALUES ('delete', old.rowid, old.name, old.category, old.description);
        INSERT INTO index_services_fts(rowid, name, category, description)
        VALUES (new.rowid, new.name, new.category, new.description);
    END""",
]

POSTGRESQL_FTS = [
    """ALTER TABLE index_services ADD COLUMN search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', name), 'A') ||
        setweight(to_tsvector('english', category), 'B') ||
        setweight(to_tsvector('english', description), 'C')) STORED""",
    "CREATE INDEX index_services_search ON index_services USING gin (search)",
]


def upgrade() -> None:
    bind = op.get_bind()
    for table in (schema.checkpoint, *schema.DATA_TABLES):
        table.create(bind)
    op.execute(schema.checkpoint.insert().values(id=1, next_block=0))
    for statement in SQLITE_FTS if bind.dialect.name == "sqlite" else POSTGRESQL_FTS:
        op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TABLE index_services_fts")
    for table in reversed((schema.checkpoint, *schema.DATA_TABLES)):
        table.drop(bind)
