"""Whether something listens on a port: what the local network and the Kubernetes control plane wait for.

    accepts(7051)       # True once a listener answers the connection
"""

from __future__ import annotations

import socket


def accepts(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """Something listens on the port. A connection to a port of the ephemeral range where nothing listens yet can
    connect to itself (TCP simultaneous open, the kernel picking that very port as the source): not a listener."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            return not self_connected(s)
    except OSError:
        return False


def self_connected(s: socket.socket) -> bool:
    return s.getsockname() == s.getpeername()
