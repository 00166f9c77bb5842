"""Processes that open one new database at the same moment (a gateway's replicas on PostgreSQL, a gateway and a
command on one SQLite file) migrate it one after another: every one of them starts, and the schema is whole."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import textwrap

import pytest
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from tdses.index import schema
from tdses.index import store as index_store
from tdses.rest.store import store as gateway_store
from tdses.rest.store.tables import metadata
from tests.unit.test_index import downgrade

pytestmark = pytest.mark.integration

PROCESSES = 6

# Each process imports everything first and says so, then opens the store when the test lets all of them go.
OPEN_TOGETHER = """
    import sys
    from tdses.index.store import IndexStore
    from tdses.rest.store import Store

    print("ready", flush=True)
    sys.stdin.readline()
    try:
        {store}({location!r}).close()
    except Exception as error:
        print(f"{{type(error).__name__}}: {{error}}".splitlines()[0])
    else:
        print("opened")
"""

STORES = {  # the class as the processes name it, its URL of a location, its migrations and their table, its tables
    "gateway store": ("Store", gateway_store.store_url, gateway_store.MIGRATIONS, "alembic_version", metadata),
    "registry index": ("IndexStore", index_store.database_url, index_store.MIGRATIONS, schema.VERSION_TABLE,
                       schema.metadata),
}


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "shared.db")
    return request.getfixturevalue("postgres").create_database(f"together_{secrets.token_hex(4)}")


def open_together(store: str, location: str) -> list[str]:
    code = textwrap.dedent(OPEN_TOGETHER).format(store=store, location=location)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    processes = [subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, env=env) for _ in range(PROCESSES)]
    try:
        for process in processes:
            assert process.stdout.readline().strip() == "ready"
        for process in processes:  # all are waiting on this line: let them go at once
            process.stdin.write("go\n")
            process.stdin.close()
        answers = [process.stdout.read().strip() for process in processes]  # until each one exits
        assert [process.wait(timeout=60) for process in processes] == [0] * PROCESSES
        return answers
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()


@pytest.mark.parametrize("store", STORES)
def test_processes_opening_a_new_database_together_all_start_on_one_whole_schema(store, location):
    name, url_of, migrations, version_table, tables = STORES[store]
    assert open_together(name, location) == ["opened"] * PROCESSES
    engine = create_engine(url_of(location))
    try:
        with engine.connect() as connection:
            head = ScriptDirectory(str(migrations)).get_current_head()
            migrated = MigrationContext.configure(connection, opts={"version_table": version_table})
            assert migrated.get_current_revision() == head
            assert set(tables.tables) <= set(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def test_an_index_from_before_migration_0003_is_emptied_for_its_follower_to_refill(location):
    old = index_store.IndexStore(location)
    with old.engine.begin() as connection:
        connection.execute(schema.checkpoint.update().values(next_block=7))
    downgrade(old, "0002")
    assert "vouchers_only" not in {c["name"] for c in inspect(old.engine).get_columns("index_rights")}
    old.close()
    upgraded = index_store.IndexStore(location)
    try:
        assert upgraded.next_block() == 0
        column = next(c for c in inspect(upgraded.engine).get_columns("index_rights") if c["name"] == "vouchers_only")
        assert column["nullable"] is False and column["default"] is None  # the version before cannot insert
    finally:
        upgraded.close()
