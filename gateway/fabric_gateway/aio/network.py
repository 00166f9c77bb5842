"""Async network (channel).

    contract = network.get_contract("tdses")
    status = await network.new_commit(tx_id).status()
"""

from __future__ import annotations

from ..commit import new_commit_status_request
from ..events import Checkpoint, new_chaincode_events_request
from ..options import RetryPolicy
from ..signing import SigningIdentity
from .client import GatewayClient
from .commit import Commit
from .contract import Contract
from .events import ChaincodeEventsRequest, ChaincodeEventStream


class Network:
    """Async twin of fabric_gateway.Network."""

    def __init__(
        self, client: GatewayClient, signing: SigningIdentity, name: str, retry: RetryPolicy
    ) -> None:
        self._client = client
        self._signing = signing
        self._retry = retry
        self.name = name

    def get_contract(self, chaincode_name: str, contract_name: str | None = None) -> Contract:
        return Contract(
            self._client, self._signing, self.name, chaincode_name, contract_name, self._retry
        )

    def new_commit(self, transaction_id: str) -> Commit:
        request = new_commit_status_request(self._signing.creator(), self.name, transaction_id)
        return Commit(self._client, self._signing, request)

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
        return ChaincodeEventsRequest(self._client, self._signing, request)

    async def chaincode_events(
        self,
        chaincode_name: str,
        *,
        start_block: int | None = None,
        checkpoint: Checkpoint | None = None,
        timeout: float | None = None,
    ) -> ChaincodeEventStream:
        request = self.new_chaincode_events_request(
            chaincode_name, start_block=start_block, checkpoint=checkpoint
        )
        return await request.events(timeout=timeout)
