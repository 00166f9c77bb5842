"""Entries of the build cache (CACHE_DIR): each built once, whole, however many runs install it at the same time.

    buildcache.ensure(bin_dir, installed, build_into)  # build_into(staging) fills a directory that becomes bin_dir

`make run` in one terminal and `make test` in another both install what is missing: without the lock the two
builds share a staging directory, and each deletes what the other is writing.
"""

from __future__ import annotations

import fcntl
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def locked(entry: Path, out=sys.stderr) -> Iterator[None]:
    """Hold the entry's lock (a file beside it); says so when another run holds it and this one waits."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    with open(entry.with_name(entry.name + ".lock"), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another run that is installing {entry}", file=out, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


@contextmanager
def staged(entry: Path) -> Iterator[Path]:
    """An empty directory beside the entry to build into; it replaces the entry when the block succeeds."""
    staging = entry.with_name(entry.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(entry, ignore_errors=True)
    staging.rename(entry)


def ensure(entry: Path, installed: Callable[[], bool], build: Callable[[Path], None], out=sys.stderr) -> None:
    """Build the entry unless it is installed, or another run installed it while this one waited for the lock."""
    if installed():
        return
    with locked(entry, out):
        if not installed():
            with staged(entry) as staging:
                build(staging)
