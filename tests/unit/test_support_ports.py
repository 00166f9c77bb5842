"""Free loopback ports for servers that bind them later: free, and out of the way of the kernel's ephemeral ports."""

from __future__ import annotations

import socket
from pathlib import Path

from tdses import ports
from tdses.ports import port_in_use
from tests.support.ports import free_port


def ephemeral_low() -> int:
    return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


def test_a_free_port_is_below_the_kernels_ephemeral_range_and_free():
    for _ in range(20):
        port = free_port()
        assert port in ports.SERVER_PORTS and port < ephemeral_low()
        assert not port_in_use(port)


def test_free_ports_are_distinct_free_and_below_the_ephemeral_range(monkeypatch):
    picks = iter([10001, 10001, 10002, 10001, 10003])  # the same free port offered again is not taken twice
    monkeypatch.setattr(ports, "free_block", lambda within, span: next(picks))
    assert ports.free_ports(3) == [10001, 10002, 10003]
    monkeypatch.undo()

    chosen = ports.free_ports(3)
    assert len(set(chosen)) == 3
    assert all(p in ports.SERVER_PORTS and p < ephemeral_low() and not port_in_use(p) for p in chosen)


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
        assert free_port() == free
