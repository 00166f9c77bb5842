"""The Gateway calls with timeouts and typed errors, over an asyncio Connection.

    client = GatewayClient(connection, Timeouts())
    await client.evaluate(evaluate_request)
"""

from __future__ import annotations

import grpc
from fabric_protos.gateway import gateway_pb2

from ..errors import CommitStatusError, EndorseError, GatewayError, SubmitError, from_rpc_error
from ..client import GatewayClientCore
from .blocks import ChannelPeers, Expected
from .connection import Connection


class GatewayClient(GatewayClientCore):
    """Async twin of fabric_gateway.client.GatewayClient."""

    connection: Connection
    channel_peers: ChannelPeers | None

    def expect_commit(self, channel_id: str, transaction_id: str) -> Expected | None:
        """Learn the transaction's commit from the gateway peer's block stream among the channel peers', if one is
        open (before submitting it); None: ask the gateway peer (commit_status)."""
        if self.channel_peers is None:
            return None
        return self.channel_peers.expect(channel_id, transaction_id, self.connection.preferred.address)

    async def evaluate(
        self, request: gateway_pb2.EvaluateRequest, timeout: float | None = None
    ) -> gateway_pb2.EvaluateResponse:
        try:
            return await self.connection.invoke("Evaluate", request, timeout or self.timeouts.evaluate)
        except grpc.RpcError as error:
            raise from_rpc_error(error, GatewayError) from error

    async def endorse(
        self, request: gateway_pb2.EndorseRequest, timeout: float | None = None
    ) -> gateway_pb2.EndorseResponse:
        try:
            return await self.connection.invoke("Endorse", request, timeout or self.timeouts.endorse)
        except grpc.RpcError as error:
            raise from_rpc_error(error, EndorseError, request.transaction_id) from error

    async def submit(
        self, request: gateway_pb2.SubmitRequest, timeout: float | None = None
    ) -> gateway_pb2.SubmitResponse:
        try:
            return await self.connection.invoke("Submit", request, timeout or self.timeouts.submit)
        except grpc.RpcError as error:
            raise from_rpc_error(error, SubmitError, request.transaction_id) from error

    async def commit_status(
        self,
        request: gateway_pb2.SignedCommitStatusRequest,
        transaction_id: str,
        timeout: float | None = None,
    ) -> gateway_pb2.CommitStatusResponse:
        try:
            return await self.connection.invoke(
                "CommitStatus", request, timeout or self.timeouts.commit_status
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error, CommitStatusError, transaction_id) from error

    async def chaincode_events(
        self, request: gateway_pb2.SignedChaincodeEventsRequest, timeout: float | None = None
    ):
        return await self.connection.open_stream("ChaincodeEvents", request, timeout)
