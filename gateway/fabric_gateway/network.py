"""A channel seen through the gateway: its contracts, its chaincode events, commit status by transaction ID.

    network = gateway.get_network("mychannel")
    network.new_commit(tx_id).status()
"""

from __future__ import annotations

from .blocks import ChannelPeersCore
from .client import GatewayClient
from .commit import Commit, new_commit_status_request
from .contract import Contract
from .events import (
    ChaincodeEventsRequest,
    ChaincodeEventStream,
    Checkpoint,
    new_chaincode_events_request,
)
from .signing import SigningIdentity


class NetworkCore:
    """What the sync and async Network share; each names its own Contract, Commit and events request types."""

    _Contract: type = Contract
    _Commit: type = Commit
    _EventsRequest: type = ChaincodeEventsRequest

    def __init__(
        self,
        client: GatewayClient,
        signing: SigningIdentity,
        name: str,
        channel_peers: ChannelPeersCore | None = None,
    ) -> None:
        self._client = client
        self._signing = signing
        self._channel_peers = channel_peers
        self.name = name

    def get_contract(self, chaincode_name: str, contract_name: str | None = None) -> Contract:
        return self._Contract(
            self._client, self._signing, self.name, chaincode_name, contract_name, self._channel_peers
        )

    def channel_peers(self) -> ChannelPeersCore:
        if self._channel_peers is None:
            raise ValueError("the gateway was created without channel_peers")
        return self._channel_peers

    def new_commit(self, transaction_id: str) -> Commit:
        """A commit status request for any transaction ID (e.g. to poll a transaction that timed out)."""
        request = new_commit_status_request(self._signing.creator(), self.name, transaction_id)
        return self._Commit(self._client, self._signing, request)

    def new_chaincode_events_request(
        self,
        chaincode_name: str,
        *,
        start_block: int | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> ChaincodeEventsRequest:
        request = new_chaincode_events_request(
            self._signing.creator(), self.name, chaincode_name, start_block, checkpoint
        )
        return self._EventsRequest(self._client, self._signing, request)


class Network(NetworkCore):
    """Synchronous network (channel).

        contract = network.get_contract("tdses")
        for event in network.chaincode_events("tdses", start_block=0): ...
    """

    def wait_for_block(self, block_number: int, *, timeout: float | None = None) -> list[str]:
        """Wait until the gateway's channel peers have committed a block (e.g. another client's write).

        Returns the addresses of peers that did not commit it in time (down or far behind).
        """
        return self.channel_peers().wait_for_block(self._signing, self.name, block_number, timeout)

    def chaincode_events(
        self,
        chaincode_name: str,
        *,
        start_block: int | None = None,
        checkpoint: Checkpoint | None = None,
        timeout: float | None = None,
    ) -> ChaincodeEventStream:
        """Events from the next commit, from start_block, or just after a checkpoint's transaction."""
        request = self.new_chaincode_events_request(
            chaincode_name, start_block=start_block, checkpoint=checkpoint
        )
        return request.events(timeout=timeout)
