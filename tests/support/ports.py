"""Free loopback ports for the servers and networks the tests start."""

import random

from tdses.fabric.topology import load
from tdses.local.processes import port_in_use

SERVER_PORTS = range(10000, 15000)  # single servers; below the networks' blocks (free_base_port)
NETWORK_PORTS = range(15000, 32000)  # both below Linux's ephemeral range (net.ipv4.ip_local_port_range)


def free_port() -> int:
    """A port nothing listens on now, for a server that binds it later (often a process of its own).

    Not the kernel's choice: that comes from the ephemeral range, where any outgoing connection of the tests may
    take the port before the server binds it."""
    return _free_block(SERVER_PORTS, 1)


def free_base_port(topology: str = "default") -> int:
    """A base port whose whole block of ports is free (below Linux's ephemeral range)."""
    return _free_block(NETWORK_PORTS, len(load(topology, 20000).ports()))


def _free_block(within: range, span: int) -> int:
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(within.start, within.stop - span + 1)
        if not any(port_in_use(p) for p in range(base, base + span)):
            return base
    raise RuntimeError("no free loopback port" if span == 1 else "no free block of loopback ports")
