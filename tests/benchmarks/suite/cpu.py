"""CPU time of a process from /proc/<pid>/stat (user + system), to charge a point's work to the REST gateway and
the peer."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def parse_stat(text: str) -> float:
    """utime + stime in seconds from the text of /proc/<pid>/stat (fields 14 and 15; the command name, field 2,
    may hold spaces and parentheses, so the fields are counted after its last ')')."""
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def cpu_seconds(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        return parse_stat(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, ValueError, IndexError):
        return None
