"""Whether something listens on a port: what the local network and the Kubernetes control plane wait for.

    accepts(7051)       # True once a listener answers the connection
    serves_tls(7051)    # True once a TLS server completes a handshake there
"""

from __future__ import annotations

import socket
import ssl


def accepts(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """Something listens on the port. A connection to a port of the ephemeral range where nothing listens yet can
    connect to itself (TCP simultaneous open, the kernel picking that very port as the source): not a listener."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            return not self_connected(s)
    except OSError:
        return False


def serves_tls(port: int, host: str = "127.0.0.1", timeout: float = 2.0) -> bool:
    """A TLS server (offering HTTP/2, as gRPC does) completes a handshake on the port. Not who it is: only that it
    serves, which a Fabric node does once it has loaded its TLS key, after its operations server already answers."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            if self_connected(s):
                return False
            with context.wrap_socket(s):
                return True
    except OSError:  # ssl.SSLError included
        return False


def self_connected(s: socket.socket) -> bool:
    return s.getsockname() == s.getpeername()
