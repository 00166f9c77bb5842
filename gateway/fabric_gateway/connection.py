"""gRPC channels to an organization's gateway peers: one channel per peer, reused, with failover.

    connection = Connection(["peer0.org1:7051", "peer1.org1:8051"], tls_root_certs="org1-tlsca.pem")
    connection.invoke("Evaluate", request, timeout=5)  # tries peer1 when peer0 is unavailable
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import grpc
from fabric_protos.gateway import gateway_pb2_grpc

T = TypeVar("T")

# Fabric peers accept messages up to 100 MiB; gRPC's default of 4 MiB is too small for big query results.
MAX_MESSAGE_BYTES = 100 * 1024 * 1024
DEFAULT_CONNECT_TIMEOUT = 5.0

PemSource = bytes | str | os.PathLike[str]


@dataclass(frozen=True)
class Endpoint:
    """One gateway peer: its address and, when it differs from the host, the name in its TLS certificate.

        Endpoint("localhost:7051", server_name_override="peer0.org1.example.com")
    """

    address: str
    server_name_override: str | None = None
    tls_root_certs: bytes | None = None


def read_pem(source: PemSource | Sequence[PemSource] | None) -> bytes | None:
    """PEM bytes from PEM bytes/text, a file path, or a list of those (concatenated).

        read_pem(["org1-tlsca.pem", org2_ca_pem])
    """
    if source is None:
        return None
    if isinstance(source, bytes):
        return source
    if isinstance(source, str) and "-----BEGIN" in source:
        return source.encode()
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            return f.read()
    parts = [read_pem(item) for item in source]
    return b"\n".join(part.strip() for part in parts if part) + b"\n"


class ConnectionConfig:
    """What the sync and async connections share: endpoints, TLS material, channel options and failover order."""

    def __init__(
        self,
        endpoints: str | Endpoint | Sequence[str | Endpoint],
        tls_root_certs: PemSource | Sequence[PemSource] | None = None,
        *,
        server_name_override: str | None = None,
        client_certificate: PemSource | None = None,
        client_key: PemSource | None = None,
        insecure: bool = False,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        channel_options: Sequence[tuple[str, object]] = (),
    ) -> None:
        if isinstance(endpoints, (str, Endpoint)):
            endpoints = [endpoints]
        self.endpoints: list[Endpoint] = [
            Endpoint(e, server_name_override) if isinstance(e, str) else e for e in endpoints
        ]
        if not self.endpoints:
            raise ValueError("at least one endpoint is required")
        self.tls_root_certs = read_pem(tls_root_certs)
        self.client_certificate = read_pem(client_certificate)
        self.client_key = read_pem(client_key)
        self.insecure = insecure
        self.connect_timeout = connect_timeout
        self.channel_options = list(channel_options)
        self._preferred = 0
        self._lock = threading.Lock()

    def credentials(self, endpoint: Endpoint) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=endpoint.tls_root_certs or self.tls_root_certs,
            private_key=self.client_key,
            certificate_chain=self.client_certificate,
        )

    def options(self, endpoint: Endpoint) -> list[tuple[str, object]]:
        options: list[tuple[str, object]] = [
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.keepalive_time_ms", 120_000),
        ]
        if endpoint.server_name_override:
            options.append(("grpc.ssl_target_name_override", endpoint.server_name_override))
            options.append(("grpc.default_authority", endpoint.server_name_override))
        return options + self.channel_options

    def attempt_order(self) -> list[int]:
        """Endpoint indexes to try, starting with the last one that answered."""
        start = self._preferred
        count = len(self.endpoints)
        return [(start + offset) % count for offset in range(count)]

    def mark_good(self, index: int) -> None:
        self._preferred = index

    @property
    def preferred(self) -> Endpoint:
        """The endpoint tried first: the last one that answered."""
        return self.endpoints[self._preferred]


def should_fail_over(error: grpc.RpcError) -> bool:
    """UNAVAILABLE means the request never reached a working gateway: safe to send to the next peer."""
    return hasattr(error, "code") and error.code() == grpc.StatusCode.UNAVAILABLE


class _Connectivity:
    """Tracks a channel's connectivity state through one long-lived subscription (no thread per call)."""

    def __init__(self, channel: grpc.Channel) -> None:
        self._channel = channel
        self._state: grpc.ChannelConnectivity | None = None
        self._changed = threading.Condition()
        channel.subscribe(self._update, try_to_connect=True)

    def _update(self, state: grpc.ChannelConnectivity) -> None:
        with self._changed:
            self._state = state
            self._changed.notify_all()

    def wait_ready(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(
                lambda: self._state == grpc.ChannelConnectivity.READY, timeout
            )

    def stop(self) -> None:
        self._channel.unsubscribe(self._update)


class Connection(ConnectionConfig):
    """Synchronous gRPC channels to one organization's gateway peers, created lazily and reused.

        connection = Connection("localhost:7051", "tlsca.pem", server_name_override="peer0.org1.example.com")
        gateway = Gateway(connection, identity, signer)
    """

    def __init__(self, *args, **kwargs) -> None:  # same arguments as ConnectionConfig
        super().__init__(*args, **kwargs)
        self._channels: dict[int, grpc.Channel] = {}
        self._stubs: dict[int, gateway_pb2_grpc.GatewayStub] = {}
        self._connectivity: dict[int, _Connectivity] = {}

    def channel(self, index: int = 0) -> grpc.Channel:
        with self._lock:
            if index not in self._channels:
                endpoint = self.endpoints[index]
                options = self.options(endpoint)
                if self.insecure:
                    channel = grpc.insecure_channel(endpoint.address, options)
                else:
                    channel = grpc.secure_channel(endpoint.address, self.credentials(endpoint), options)
                self._channels[index] = channel
                self._stubs[index] = gateway_pb2_grpc.GatewayStub(channel)
            return self._channels[index]

    def stub(self, index: int = 0) -> gateway_pb2_grpc.GatewayStub:
        self.channel(index)
        return self._stubs[index]

    def is_ready(self, index: int, timeout: float | None = None) -> bool:
        """Whether the peer's channel is connected, waiting up to the timeout (the connect timeout by default)."""
        channel = self.channel(index)
        with self._lock:
            if index not in self._connectivity:
                self._connectivity[index] = _Connectivity(channel)
            connectivity = self._connectivity[index]
        return connectivity.wait_ready(self.connect_timeout if timeout is None else timeout)

    def reachable(self, timeout: float = 1.0) -> bool:
        """Whether any of the peers accepts a connection (for a readiness probe)."""
        return any(self.is_ready(index, timeout) for index in self.attempt_order())

    def with_failover(self, call: Callable[[gateway_pb2_grpc.GatewayStub], T]) -> T:
        """Run `call` on the preferred peer; on a peer that cannot be reached, try the next one."""
        order = self.attempt_order()
        for position, index in enumerate(order):
            last = position == len(order) - 1
            if not last and not self.is_ready(index):
                continue
            try:
                result = call(self.stub(index))
            except grpc.RpcError as error:
                if last or not should_fail_over(error):
                    raise
                continue
            self.mark_good(index)
            return result
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def invoke(self, method: str, request: object, timeout: float | None) -> object:
        """A unary Gateway call ("Evaluate", "Endorse", "Submit", "CommitStatus") with failover."""
        return self.with_failover(lambda stub: getattr(stub, method)(request, timeout=timeout))

    def close(self) -> None:
        with self._lock:
            for connectivity in self._connectivity.values():
                connectivity.stop()
            for channel in self._channels.values():
                channel.close()
            self._connectivity.clear()
            self._channels.clear()
            self._stubs.clear()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
