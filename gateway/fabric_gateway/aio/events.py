"""Async chaincode events.

    async with await network.chaincode_events("tdses", checkpoint=checkpointer) as events:
        async for event in events: checkpointer.checkpoint_chaincode_event(event)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
from fabric_protos.gateway import gateway_pb2

from ..errors import GatewayError, from_rpc_error
from ..events import ChaincodeEvent, ChaincodeEventsRequestCore, events_of
from ..signing import SigningIdentity

if TYPE_CHECKING:
    from .client import GatewayClient


class ChaincodeEventsRequest(ChaincodeEventsRequestCore):
    def __init__(
        self,
        client: GatewayClient,
        signing: SigningIdentity,
        signed_request: gateway_pb2.SignedChaincodeEventsRequest,
    ) -> None:
        super().__init__(signing, signed_request)
        self._client = client

    async def events(self, *, timeout: float | None = None) -> ChaincodeEventStream:
        call = await self._client.chaincode_events(self.signed_request(), timeout)
        return ChaincodeEventStream(call)


class ChaincodeEventStream:
    """Async iterator of ChaincodeEvent; close() cancels the server stream."""

    def __init__(self, call) -> None:
        self._call = call
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[ChaincodeEvent]:
        try:
            async for response in self._call:
                for event in events_of(response):
                    yield event
        except grpc.RpcError as error:
            if self._closed or error.code() == grpc.StatusCode.CANCELLED:
                return
            raise from_rpc_error(error, GatewayError) from error
        except asyncio.CancelledError:
            if not self._closed:  # a cancelled task, not a closed stream
                raise

    def close(self) -> None:
        self._closed = True
        self._call.cancel()

    async def __aenter__(self) -> ChaincodeEventStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
