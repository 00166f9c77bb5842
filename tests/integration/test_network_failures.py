"""`tdses network` refuses bad situations fast, says what is wrong, and leaves nothing running."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tdses.fabric.topology import load
from tdses.local.processes import running_pid

from tests.support.ports import free_base_port

pytestmark = pytest.mark.integration


def tdses(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tdses.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def alive(state_dir: Path) -> list[str]:
    run = state_dir / "run"
    return [p.stem for p in run.glob("*.pid") if running_pid(p) is not None] if run.is_dir() else []


@pytest.fixture
def state(tmp_path):
    """The state directory of the test's network; whatever still runs there when the test ends, failed or not, is
    stopped."""
    state_dir = tmp_path / "net"
    yield state_dir
    if alive(state_dir):
        tdses("network", "down", "--state-dir", str(state_dir))


def test_up_with_a_port_taken_names_the_port_and_starts_nothing(state):
    base = free_base_port("small")
    peer_port = load("small", base).node("peer0.org1").ports.listen
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", peer_port))
        taken.listen()
        result = tdses("network", "up", "--topology", "small", "--base-port", str(base),
                       "--state-dir", str(state))
    assert result.returncode == 1
    assert f"port {peer_port} (peer0.org1) is already in use" in result.stderr
    assert alive(state) == []


def test_up_with_a_missing_binary_names_it(state, tmp_path):
    result = tdses("network", "up", "--topology", "small", "--base-port", str(free_base_port("small")),
                   "--state-dir", str(state), env={"TDSES_CACHE_DIR": str(tmp_path / "empty-cache")})
    assert result.returncode == 1
    assert "missing binary" in result.stderr and "/bin/peer" in result.stderr
    assert alive(state) == []


def test_up_on_a_corrupted_manifest_says_so(tmp_path):
    state = tmp_path / "net"
    state.mkdir()
    (state / "network.json").write_text("{not json")
    result = tdses("network", "up", "--state-dir", str(state))
    assert result.returncode == 1
    assert "corrupted" in result.stderr and "network.json" in result.stderr


def test_up_on_a_foreign_directory_refuses_it(tmp_path):
    state = tmp_path / "net"
    state.mkdir()
    (state / "notes.txt").write_text("not a network")
    result = tdses("network", "up", "--state-dir", str(state))
    assert result.returncode == 1
    assert "holds no network.json" in result.stderr
    assert (state / "notes.txt").exists()


def test_down_twice_and_down_without_network_are_harmless(tmp_path):
    for _ in range(2):
        result = tdses("network", "down", "--state-dir", str(tmp_path / "nothing"))
        assert result.returncode == 0, result.stderr


def test_failed_start_stops_everything_it_started(state):
    """A node that cannot start (its TLS key destroyed) fails `up`, and the nodes already started are stopped."""
    base = free_base_port("small")
    first = tdses("network", "up", "--topology", "small", "--base-port", str(base), "--state-dir", str(state))
    assert first.returncode == 0, first.stderr
    assert tdses("network", "down", "--state-dir", str(state)).returncode == 0

    key = state / "crypto/peerOrganizations/org2.tdses.test/peers/peer0.org2.tdses.test/tls/server.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n")
    result = tdses("network", "up", "--state-dir", str(state))
    assert result.returncode == 1
    assert "peer0.org2" in result.stderr
    assert alive(state) == []

    manifest = json.loads((state / "network.json").read_text())
    assert manifest["base_port"] == base

    (state / "crypto/peerOrganizations/org1.tdses.test/msp").rename(state / "moved-msp")
    result = tdses("network", "up", "--state-dir", str(state))
    assert result.returncode == 1
    assert "corrupted" in result.stderr and "org1.tdses.test/msp" in result.stderr
    assert alive(state) == []
