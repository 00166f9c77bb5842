"""The four Gateway calls with timeouts and typed errors, over a synchronous Connection.

    client = GatewayClient(connection, Timeouts())
    client.evaluate(evaluate_request)  # raises GatewayError
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
from fabric_protos.gateway import gateway_pb2

from .connection import Connection
from .errors import (
    CommitStatusError,
    EndorseError,
    GatewayError,
    SubmitError,
    from_rpc_error,
)
from .options import Timeouts


class GatewayClientCore:
    """A connection and the default deadlines; the sync and async GatewayClient add the calls."""

    def __init__(self, connection: Any, timeouts: Timeouts | None = None, channel_peers: Any = None) -> None:
        self.connection = connection  # the face's Connection
        self.timeouts = timeouts or Timeouts()
        self.channel_peers = channel_peers  # the face's ChannelPeers, if the gateway has them


class GatewayClient(GatewayClientCore):
    """Calls the Gateway service on the connection's peers; every gRPC failure becomes a typed error."""

    connection: Connection

    def evaluate(
        self, request: gateway_pb2.EvaluateRequest, timeout: float | None = None
    ) -> gateway_pb2.EvaluateResponse:
        try:
            return self.connection.invoke("Evaluate", request, timeout or self.timeouts.evaluate)
        except grpc.RpcError as error:
            raise from_rpc_error(error, GatewayError) from error

    def endorse(
        self, request: gateway_pb2.EndorseRequest, timeout: float | None = None
    ) -> gateway_pb2.EndorseResponse:
        try:
            return self.connection.invoke("Endorse", request, timeout or self.timeouts.endorse)
        except grpc.RpcError as error:
            raise from_rpc_error(error, EndorseError, request.transaction_id) from error

    def submit(
        self, request: gateway_pb2.SubmitRequest, timeout: float | None = None
    ) -> gateway_pb2.SubmitResponse:
        try:
            return self.connection.invoke("Submit", request, timeout or self.timeouts.submit)
        except grpc.RpcError as error:
            raise from_rpc_error(error, SubmitError, request.transaction_id) from error

    def commit_status(
        self,
        request: gateway_pb2.SignedCommitStatusRequest,
        transaction_id: str,
        timeout: float | None = None,
    ) -> gateway_pb2.CommitStatusResponse:
        try:
            return self.connection.invoke(
                "CommitStatus", request, timeout or self.timeouts.commit_status
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error, CommitStatusError, transaction_id) from error

    def chaincode_events(
        self, request: gateway_pb2.SignedChaincodeEventsRequest, timeout: float | None = None
    ) -> Iterator[gateway_pb2.ChaincodeEventsResponse]:
        """The server stream (a grpc call object: iterate it, cancel() it)."""
        try:
            return self.connection.with_failover(
                lambda stub: stub.ChaincodeEvents(request, timeout=timeout)
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error, GatewayError) from error
