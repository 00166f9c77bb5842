"""Loopback ports: whether one is taken, and free ones for servers that bind them later (often processes of their
own), below Linux's ephemeral range.

    port_in_use(7051)
    free_ports(3)       # three distinct ports, e.g. for etcd and the API server of a local control plane

Not the kernel's choice (binding port 0): that comes from the ephemeral range (net.ipv4.ip_local_port_range,
32768–60999 by default), where any outgoing connection may take the port before its server binds it.
"""

from __future__ import annotations

import random
import socket

SERVER_PORTS = range(10000, 15000)  # single servers; below the networks' blocks
NETWORK_PORTS = range(15000, 32000)  # the blocks of a local network's ports (tdses network up --base-port)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def free_block(within: range, span: int) -> int:
    """The first port of `span` consecutive free ports in `within`, chosen at random."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(within.start, within.stop - span + 1)
        if not any(port_in_use(p) for p in range(base, base + span)):
            return base
    raise RuntimeError("no free loopback port" if span == 1 else "no free block of loopback ports")


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports of SERVER_PORTS."""
    chosen: list[int] = []
    while len(chosen) < count:
        port = free_block(SERVER_PORTS, 1)
        if port not in chosen:
            chosen.append(port)
    return chosen
