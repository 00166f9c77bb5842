"""Async network (channel).

    contract = network.get_contract("tdses")
    status = await network.new_commit(tx_id).status()
"""

from __future__ import annotations

from ..events import Checkpoint
from ..network import NetworkCore
from .commit import Commit
from .contract import Contract
from .events import ChaincodeEventsRequest, ChaincodeEventStream


class Network(NetworkCore):
    """Async twin of fabric_gateway.Network."""

    _Contract = Contract
    _Commit = Commit
    _EventsRequest = ChaincodeEventsRequest

    async def wait_for_block(self, block_number: int, *, timeout: float | None = None) -> list[str]:
        """Wait until the gateway's channel peers have committed a block; returns the peers that did not in time."""
        return await self.channel_peers().wait_for_block(self._signing, self.name, block_number, timeout)

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
