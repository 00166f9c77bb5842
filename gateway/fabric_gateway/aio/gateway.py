"""Async entry point.

    async with connect("localhost:7051", "tlsca.pem", identity, signer) as gateway:
        await gateway.get_network("mychannel").get_contract("tdses").evaluate_transaction("GetBalance", "alice")
"""

from __future__ import annotations

from ..gateway import GatewayCore
from .client import GatewayClient
from .commit import Commit
from .connection import Connection
from .events import ChaincodeEventsRequest
from .network import Network
from .proposal import Proposal
from .transaction import Transaction


class Gateway(GatewayCore):
    """Async twin of fabric_gateway.Gateway; many Gateways may share one aio Connection."""

    _Connection = Connection
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


connect = Gateway.connect  # same arguments as fabric_gateway.connect; channels open on first use inside the loop
