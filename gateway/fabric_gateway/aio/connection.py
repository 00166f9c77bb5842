"""asyncio gRPC channels to an organization's gateway peers: one per peer, reused, with failover.

    connection = Connection(["localhost:7051", "localhost:8051"], "org1-tlsca.pem")
    await connection.invoke("Evaluate", request, timeout=5)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
from fabric_protos.gateway import gateway_pb2_grpc

from ..connection import ConnectionConfig, should_fail_over

T = TypeVar("T")


class Connection(ConnectionConfig):
    """grpc.aio channels, created lazily inside the running event loop.

        connection = Connection("localhost:7051", "tlsca.pem", server_name_override="peer0.org1.example.com")
        gateway = Gateway(connection, identity, signer)
    """

    def __init__(self, *args, **kwargs) -> None:  # same arguments as fabric_gateway.Connection
        super().__init__(*args, **kwargs)
        self._channels: dict[int, grpc.aio.Channel] = {}
        self._stubs: dict[int, gateway_pb2_grpc.GatewayStub] = {}

    def channel(self, index: int = 0) -> grpc.aio.Channel:
        if index not in self._channels:
            endpoint = self.endpoints[index]
            options = self.options(endpoint)
            if self.insecure:
                channel = grpc.aio.insecure_channel(endpoint.address, options)
            else:
                channel = grpc.aio.secure_channel(endpoint.address, self.credentials(endpoint), options)
            self._channels[index] = channel
            self._stubs[index] = gateway_pb2_grpc.GatewayStub(channel)
        return self._channels[index]

    def stub(self, index: int = 0) -> gateway_pb2_grpc.GatewayStub:
        self.channel(index)
        return self._stubs[index]

    async def is_ready(self, index: int, timeout: float | None = None) -> bool:
        channel = self.channel(index)
        if channel.get_state(try_to_connect=True) == grpc.ChannelConnectivity.READY:
            return True
        try:
            await asyncio.wait_for(
                channel.channel_ready(), self.connect_timeout if timeout is None else timeout
            )
            return True
        except asyncio.TimeoutError:
            return False

    async def reachable(self, timeout: float = 1.0) -> bool:
        """Whether any of the peers accepts a connection (for a readiness probe)."""
        for index in self.attempt_order():
            if await self.is_ready(index, timeout):
                return True
        return False

    async def with_failover(self, call: Callable[[gateway_pb2_grpc.GatewayStub], Awaitable[T]]) -> T:
        order = self.attempt_order()
        for position, index in enumerate(order):
            last = position == len(order) - 1
            if not last and not await self.is_ready(index):
                continue
            try:
                result = await call(self.stub(index))
            except grpc.RpcError as error:
                if last or not should_fail_over(error):
                    raise
                continue
            self.mark_good(index)
            return result
        raise AssertionError("unreachable")

    async def invoke(self, method: str, request: object, timeout: float | None) -> object:
        async def call(stub: gateway_pb2_grpc.GatewayStub) -> object:
            return await getattr(stub, method)(request, timeout=timeout)

        return await self.with_failover(call)

    async def open_stream(self, method: str, request: object, timeout: float | None):
        """A server-streaming call on the first reachable peer (the call object is async-iterable)."""
        order = self.attempt_order()
        for position, index in enumerate(order):
            if position < len(order) - 1 and not await self.is_ready(index):
                continue
            self.mark_good(index)
            return getattr(self.stub(index), method)(request, timeout=timeout)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        channels = list(self._channels.values())
        self._channels.clear()
        self._stubs.clear()
        for channel in channels:
            await channel.close()

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
