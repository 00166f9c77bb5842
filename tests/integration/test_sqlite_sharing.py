"""A SQLite store or index that several processes open (a gateway, `tdses index verify`, an operator's sqlite3):
what one commits the others read, however often the file is opened and closed meanwhile."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tdses.index.blocks import IndexBlock
from tdses.index.store import IndexStore
from tdses.rest.store import Store, UserRecord

pytestmark = pytest.mark.integration


def in_another_process(code: str) -> str:
    """Run code in a new Python process (it prints its answer); the stores' files are opened and closed there."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def user_seen_elsewhere(path, name: str) -> str:
    return in_another_process(f"""
        from tdses.rest.store import Store
        store = Store({str(path)!r})
        print(store.user({name!r}) is not None)
        store.close()
    """)


def test_a_gateway_stores_commits_are_read_by_other_processes_after_one_closed_the_file(tmp_path):
    path = tmp_path / "gateway.db"
    store = Store(path)  # two engines on the file: the second must not drop the first's locks
    store.add_user(UserRecord("alice", "h1", b"CERT", None, custodial=True))
    assert user_seen_elsewhere(path, "alice") == "True"  # that process opened the file last and closed it

    store.add_user(UserRecord("bob", "h2", b"CERT", None, custodial=True))
    assert user_seen_elsewhere(path, "bob") == "True"
    store.close()
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_an_index_opened_twice_in_a_process_keeps_its_commits_readable_by_others(tmp_path):
    path = tmp_path / "index.db"
    index = IndexStore(path)
    second = IndexStore(path)  # the follower's and a command's, say
    read_elsewhere = f"""
        from tdses.index.store import IndexStore
        index = IndexStore({str(path)!r})
        print(index.next_block())
        index.close()
    """
    assert in_another_process(read_elsewhere) == "0"

    assert index.apply(IndexBlock(0, (), ()))
    assert in_another_process(read_elsewhere) == "1"
    second.close()
    index.close()
