"""Free loopback ports for the servers and networks the tests start (tdses.ports: below the ephemeral range)."""

from tdses.fabric.topology import load
from tdses.ports import NETWORK_PORTS, SERVER_PORTS, free_block


def free_port() -> int:
    """A port nothing listens on now, for a server that binds it later (often a process of its own)."""
    return free_block(SERVER_PORTS, 1)


def free_base_port(topology: str = "default") -> int:
    """A base port whose whole block of ports is free."""
    return free_block(NETWORK_PORTS, len(load(topology, 20000).ports()))
