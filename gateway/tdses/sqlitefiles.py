"""A SQLite database file, created owner-only without disturbing the locks SQLite holds on it, and switched to
write-ahead logging one process at a time.

POSIX record locks belong to a process and a file: closing any descriptor of the file drops every lock the process
holds on it, those of its open SQLite connections included. A process that has lost its shared lock lets another
one, closing its last connection, take the database as its own: that one checkpoints and deletes the write-ahead
log under the first, whose later commits go to a log no other process reads (lost with it, or corrupting the file
when both write). So an existing database file is never opened here: only made owner-only.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path


def database_file(url: str) -> Path | None:
    """The file of a SQLite URL, made owner-only (owner_only_database); None for an in-memory database."""
    if url == "sqlite://":
        return None
    path = Path(url.removeprefix("sqlite:///"))
    owner_only_database(path)
    return path


def owner_only_database(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))  # new: no connection can hold it yet
    except FileExistsError:
        pass
    os.chmod(path, 0o600)  # SQLite gives the -wal and -shm files the database's mode


def write_ahead_logging(connection: sqlite3.Connection, path: Path | None) -> None:
    """PRAGMA journal_mode=WAL on a new connection. Switching a new database into WAL takes an exclusive lock
    without SQLite's busy handler, so processes opening one new database together could fail with "database is
    locked": they switch one after another, under an flock on a file beside it (never the database's own file,
    see above). Once one has switched, the others find WAL already and need no exclusive lock."""
    if path is None:  # in memory: no other connection shares it
        connection.execute("PRAGMA journal_mode=WAL")
        return
    descriptor = os.open(path.with_name(path.name + ".lock"), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        os.close(descriptor)  # and with it the flock
