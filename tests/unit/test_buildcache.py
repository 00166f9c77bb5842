"""The build cache: an entry is built once and whole, however many runs install it at once."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest

from tdses import buildcache


class Watched(io.StringIO):
    """An output that tells when a line containing `text` was written."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.seen = threading.Event()
        self.text = text

    def write(self, s: str) -> int:
        if self.text in s:
            self.seen.set()
        return super().write(s)


def test_a_second_run_waits_for_the_first_and_builds_nothing(tmp_path: Path):
    entry = tmp_path / "tool-1.0" / "bin"
    builds: list[str] = []
    building, finish = threading.Event(), threading.Event()

    def install(name: str, out, hold: bool) -> None:
        with buildcache.locked(entry, out):
            if not (entry / "tool").is_file():
                with buildcache.staged(entry) as staging:
                    builds.append(name)
                    (staging / "tool").write_text(name)
                    if hold:
                        building.set()
                        assert finish.wait(30)

    first = threading.Thread(target=install, args=("first", io.StringIO(), True))
    first.start()
    assert building.wait(30)
    second_out = Watched("waiting for another run")
    second = threading.Thread(target=install, args=("second", second_out, False))
    second.start()
    assert second_out.seen.wait(30)
    assert not entry.exists()  # the first is still building: nothing half-built is visible
    finish.set()
    first.join(30)
    second.join(30)

    assert builds == ["first"]
    assert (entry / "tool").read_text() == "first"
    assert str(entry) in second_out.getvalue()
    assert not entry.with_name("bin.partial").exists()


def test_a_failed_build_leaves_the_entry_as_it_was(tmp_path: Path):
    entry = tmp_path / "tool-1.0" / "bin"
    entry.mkdir(parents=True)
    (entry / "tool").write_text("before")

    with pytest.raises(RuntimeError, match="compiler crashed"):
        with buildcache.locked(entry), buildcache.staged(entry) as staging:
            (staging / "tool").write_text("half")
            raise RuntimeError("compiler crashed")

    assert (entry / "tool").read_text() == "before"
    assert not entry.with_name("bin.partial").exists()


def test_a_staged_build_replaces_the_entry_whole(tmp_path: Path):
    entry = tmp_path / "libs"
    entry.mkdir()
    (entry / "old.jar").write_text("old")
    (tmp_path / "libs.partial").mkdir()
    (tmp_path / "libs.partial" / "stale.jar").write_text("from a run that was killed")

    with buildcache.locked(entry), buildcache.staged(entry) as staging:
        assert list(staging.iterdir()) == []
        (staging / "new.jar").write_text("new")

    assert sorted(p.name for p in entry.iterdir()) == ["new.jar"]
