"""Migrations one at a time, within a process and across the processes sharing a database.

    with migrating.exclusive(engine) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

Alembic's migration context is global to its process: stores migrating at once in one process (a gateway's store
and its registry index, whose follower opens it in a worker thread; several gateways in one test process) would
tear it from each other, so every migration holds LOCK. Processes starting together on one database (a gateway's
replicas on PostgreSQL, gateways and commands on one SQLite file) would each find the schema missing and create the
same tables; the first to commit wins and the others fail. So the migration's transaction first takes the
database's own lock, and whoever comes next finds the schema already at its revision.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text

LOCK = threading.Lock()
ADVISORY_LOCK = 0x7D5E5  # PostgreSQL's advisory lock key for migrations, the same for every store


@contextmanager
def exclusive(engine: Engine) -> Iterator[Connection]:
    """A transaction that no other migration of the database runs beside, committed when the block ends."""
    with LOCK, engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
        elif connection.dialect.name == "sqlite" and not connection.connection.dbapi_connection.in_transaction:
            # pysqlite begins a transaction before DML only, so DDL would run outside one: take the write lock now.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        yield connection
