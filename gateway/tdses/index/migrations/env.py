"""Alembic's entry point for the index: migrations run on the connection the index store hands over, with a
version table of its own (the index may share a PostgreSQL database with the gateway's store)."""

from alembic import context

from tdses.index.schema import VERSION_TABLE, metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                  version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
