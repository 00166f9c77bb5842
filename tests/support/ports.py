"""Free loopback ports for the servers and networks the tests start."""

import random
import socket

from tdses.fabric.topology import load
from tdses.local.processes import port_in_use


def free_port() -> int:
    """A port nothing listens on now (the kernel's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_base_port(topology: str = "default") -> int:
    """A base port whose whole block of ports is free (below Linux's ephemeral range)."""
    span = len(load(topology, 20000).ports())
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(15000, 32000 - span)
        if not any(port_in_use(p) for p in range(base, base + span)):
            return base
    raise RuntimeError("no free block of loopback ports")
