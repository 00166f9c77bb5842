"""Async twin of fabric_gateway.blocks.ChannelPeers: the peers are waited for together, and callers waiting for the
same block on the same peer share one Deliver call (a busy gateway commits many transactions per block).

    peers = ChannelPeers([Endpoint("127.0.0.1:7051", tls_root_certs=org1_tls), ...])
    lagging = await peers.wait_for_block(signing, "mychannel", 42)
"""

from __future__ import annotations

import asyncio

import grpc
from fabric_protos.peer import events_pb2_grpc

from ..blocks import ChannelPeersCore, check_response, new_seek_block_envelope
from ..signing import SigningIdentity


class ChannelPeers(ChannelPeersCore):
    def __init__(self, *args, **kwargs) -> None:  # same arguments as fabric_gateway.ChannelPeers
        super().__init__(*args, **kwargs)
        self._stubs: dict[int, events_pb2_grpc.DeliverStub] = {}
        self._channels: list[grpc.aio.Channel] = []
        self._waits: dict[tuple[str, int, int], asyncio.Task] = {}

    def _stub(self, index: int) -> events_pb2_grpc.DeliverStub:
        if index not in self._stubs:
            endpoint, credentials, options = self.channel_args(index)
            channel = grpc.aio.secure_channel(endpoint.address, credentials, options)
            self._channels.append(channel)
            self._stubs[index] = events_pb2_grpc.DeliverStub(channel)
        return self._stubs[index]

    async def _wait_one(
        self, index: int, signing: SigningIdentity, channel_id: str, block_number: int, timeout: float
    ) -> str | None:
        envelope = new_seek_block_envelope(signing, channel_id, block_number)
        call = self._stub(index).DeliverFiltered(iter([envelope]), timeout=timeout)
        try:
            response = None
            async for response in call:
                break
            check_response(response, self.endpoints[index].address, block_number)
            self.record(index, block_number)
            return None
        except grpc.RpcError as error:
            return self.outcome(index, block_number, error)
        finally:
            call.cancel()

    async def wait_for_block(
        self, signing: SigningIdentity, channel_id: str, block_number: int, timeout: float | None = None
    ) -> list[str]:
        """Wait until every peer has committed the block; returns the addresses of peers that did not in time."""
        timeout = self.timeout if timeout is None else timeout
        results = await asyncio.gather(
            *(asyncio.shield(self._shared_wait(i, signing, channel_id, block_number, timeout))
              for i in self.pending(block_number))
        )
        return [address for address in results if address is not None]

    def _shared_wait(
        self, index: int, signing: SigningIdentity, channel_id: str, block_number: int, timeout: float
    ) -> asyncio.Task:
        key = (channel_id, index, block_number)
        wait = self._waits.get(key)
        if wait is None:
            wait = asyncio.ensure_future(self._wait_one(index, signing, channel_id, block_number, timeout))
            self._waits[key] = wait
            wait.add_done_callback(lambda _: self._waits.pop(key, None))
        return wait

    async def close(self) -> None:
        for wait in list(self._waits.values()):
            wait.cancel()
        channels, self._channels = self._channels, []
        self._stubs.clear()
        for channel in channels:
            await channel.close()
