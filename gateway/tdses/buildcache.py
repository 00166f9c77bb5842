"""Entries of the build cache (CACHE_DIR): each built once, whole, however many runs install it at the same time.

    if not installed():
        with buildcache.locked(bin_dir, out):
            if not installed():                      # another run may have built it while this one waited
                with buildcache.staged(bin_dir) as staging:
                    build_into(staging)              # bin_dir appears only once the block succeeds

`make run` in one terminal and `make test` in another both install what is missing: without the lock the two
builds share a staging directory, and each deletes what the other is writing.
"""

from __future__ import annotations

import fcntl
import shutil
import sys
from collections.abc import Iterator
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
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


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
