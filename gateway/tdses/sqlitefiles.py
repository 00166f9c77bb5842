"""A SQLite database file, created owner-only without disturbing the locks SQLite holds on it.

POSIX record locks belong to a process and a file: closing any descriptor of the file drops every lock the process
holds on it, those of its open SQLite connections included. A process that has lost its shared lock lets another
one, closing its last connection, take the database as its own: that one checkpoints and deletes the write-ahead
log under the first, whose later commits go to a log no other process reads (lost with it, or corrupting the file
when both write). So an existing database file is never opened here: only made owner-only.
"""

from __future__ import annotations

import os
from pathlib import Path


def owner_only_database(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))  # new: no connection can hold it yet
    except FileExistsError:
        pass
    os.chmod(path, 0o600)  # SQLite gives the -wal and -shm files the database's mode
