"""Ports for the tests' servers: free, and out of the way of the kernel's ephemeral ports."""

from __future__ import annotations

import socket
from pathlib import Path

from tdses.local.processes import port_in_use
from tests.support import ports


def test_a_free_port_is_below_the_kernels_ephemeral_range_and_free():
    ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(20):
        port = ports.free_port()
        assert port in ports.SERVER_PORTS and port < ephemeral_low
        assert not port_in_use(port)


def test_a_port_something_listens_on_is_passed_over(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        free = next(p for p in ports.SERVER_PORTS if not port_in_use(p))
        picks = iter([busy, free])

        class Scripted:
            def randrange(self, _start, _stop):
                return next(picks)

        monkeypatch.setattr(ports.random, "Random", Scripted)
        assert ports.free_port() == free
