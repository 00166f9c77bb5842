"""Async entry point.

    async with connect("localhost:7051", "tlsca.pem", identity, signer) as gateway:
        await gateway.get_network("mychannel").get_contract("tdses").evaluate_transaction("GetBalance", "alice")
"""

from __future__ import annotations

from collections.abc import Sequence

from ..connection import DEFAULT_CONNECT_TIMEOUT, Endpoint, PemSource
from ..gateway import GatewayCore
from ..identity import Identity
from ..options import RetryPolicy, Timeouts
from ..signing import Signer
from .blocks import ChannelPeers
from .client import GatewayClient
from .commit import Commit
from .connection import Connection
from .events import ChaincodeEventsRequest
from .network import Network
from .proposal import Proposal
from .transaction import Transaction


class Gateway(GatewayCore):
    """Async twin of fabric_gateway.Gateway; many Gateways may share one aio Connection."""

    _Client = GatewayClient
    _Network = Network
    _Proposal = Proposal
    _Transaction = Transaction
    _Commit = Commit
    _EventsRequest = ChaincodeEventsRequest

    async def close(self) -> None:
        if self._owns_connection:
            await self.connection.close()

    async def __aenter__(self) -> Gateway:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def connect(
    endpoints: str | Endpoint | Sequence[str | Endpoint] | Connection,
    tls_root_certs: PemSource | Sequence[PemSource] | None = None,
    identity: Identity | None = None,
    signer: Signer | None = None,
    *,
    server_name_override: str | None = None,
    timeouts: Timeouts | None = None,
    retry: RetryPolicy | None = None,
    channel_peers: ChannelPeers | None = None,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    client_certificate: PemSource | None = None,
    client_key: PemSource | None = None,
    insecure: bool = False,
) -> Gateway:
    """Same arguments as fabric_gateway.connect; channels are opened on first use inside the event loop."""
    if identity is None:
        raise ValueError("an identity is required")
    if isinstance(endpoints, Connection):
        return Gateway(endpoints, identity, signer, timeouts=timeouts, retry=retry, channel_peers=channel_peers)
    connection = Connection(
        endpoints,
        tls_root_certs,
        server_name_override=server_name_override,
        client_certificate=client_certificate,
        client_key=client_key,
        insecure=insecure,
        connect_timeout=connect_timeout,
    )
    return Gateway(
        connection, identity, signer, timeouts=timeouts, retry=retry, channel_peers=channel_peers,
        owns_connection=True,
    )
