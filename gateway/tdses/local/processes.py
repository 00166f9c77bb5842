"""Start, watch and stop the network's processes — only those we started, by pid.

A pid file holds the pid and the process's start time (from /proc), so a pid reused by an unrelated
process after a crash or reboot is never signalled.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from tdses.fabric.errors import NetworkError

# Passed through to every node; nothing else from the caller's environment leaks into a node.
INHERITED = ("PATH", "HOME", "LANG", "TZ", "TMPDIR")


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime) counted after the parenthesised command name, which may contain spaces.
    return stat.rsplit(")", 1)[1].split()[19]


def running_pid(pid_file: Path) -> int | None:
    """The pid recorded in pid_file if that very process is still alive."""
    try:
        pid_text, started = pid_file.read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    if _start_time(pid) != started:
        return None
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None
    return None if state == "Z" else pid


def start(cmd: list[str], env: dict[str, str], log: Path, pid_file: Path, cwd: Path) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    cwd.mkdir(parents=True, exist_ok=True)
    base = {k: os.environ[k] for k in INHERITED if k in os.environ}
    with open(log, "ab") as out:
        out.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {' '.join(cmd)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            cmd,
            env={**base, **env},
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=0o077,  # ledgers, CA databases, Idemix keys, gateway stores: readable by their owner only
        )
    started = _start_time(proc.pid)
    pid_file.write_text(f"{proc.pid} {started}\n")
    return proc.pid


def stop(pid_file: Path, timeout: float = 15.0) -> bool:
    """Stop the process recorded in pid_file (and its process group); True if one was running."""
    pid = running_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running_pid(pid_file) is not None:
        _reap(pid)
        time.sleep(0.1)
    if running_pid(pid_file) is not None:
        _signal_group(pid, signal.SIGKILL)
        while running_pid(pid_file) is not None:
            _reap(pid)
            time.sleep(0.05)
    _reap(pid)
    pid_file.unlink(missing_ok=True)
    return True


def _signal_group(pid: int, sig: int) -> None:
    # Each node is started in a session of its own, so its process group is exactly what we started.
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def healthz(port: int, host: str = "127.0.0.1", timeout: float = 2.0, path: str = "/healthz") -> bool:
    """Fabric's operations health check: 200 from /healthz (or another path of the operations server)."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException):
        return False  # HTTPException: e.g. a self-connection (see accepts) reads back its own request


def metric(port: int, name: str, label: str = "", host: str = "127.0.0.1") -> float | None:
    """The first sample of a Prometheus metric from a node's operations endpoint (with label, e.g.
    'channel="tdses"', among its labels)."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=2.0) as resp:
            for line in resp.read().decode().splitlines():
                if line.startswith(name) and not line.startswith("#") and label in line:
                    return float(line.rsplit(" ", 1)[1])
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException):
        return None
    return None


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_until(check, what: str, timeout: float, pid_file: Path | None = None, log: Path | None = None) -> None:
    """Poll check() until it is true; fail at once if the process behind pid_file died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if pid_file is not None and running_pid(pid_file) is None:
            raise NetworkError(f"{what} exited during start-up; last lines of {log}:\n{tail(log) if log else ''}")
        time.sleep(0.2)
    raise NetworkError(f"{what} not healthy after {timeout:.0f}s; last lines of {log}:\n{tail(log) if log else ''}")
