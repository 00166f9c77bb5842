"""Async twin of fabric_gateway.blocks.ChannelPeers: the peers are waited for together, through one DeliverFiltered
stream per peer and channel that stays open. The first wait opens it at that block; from then on each peer
announces every block it commits, so a wait costs no call (a busy gateway commits many blocks a second, and a call
per peer and block cost the gateway a signature and each peer a signature check and a policy evaluation).

    peers = ChannelPeers([Endpoint("127.0.0.1:7051", tls_root_certs=org1_tls), ...])
    lagging = await peers.wait_for_block(signing, "mychannel", 42)
"""

from __future__ import annotations

import asyncio
import logging

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.peer import events_pb2_grpc

from ..blocks import BlockUnavailableError, ChannelPeersCore
from ..deliver import new_seek_envelope
from ..signing import SigningIdentity

log = logging.getLogger("fabric_gateway")


class _Watch:
    """One peer's stream of committed blocks on one channel, while it lasts."""

    def __init__(self) -> None:
        self.moved = asyncio.Event()  # replaced on every block: a waiter holds the one it saw
        self.task: asyncio.Task | None = None
        self.ended = False
        self.error: Exception | None = None  # why the stream ended

    def notify(self) -> None:
        moved, self.moved = self.moved, asyncio.Event()
        moved.set()


class ChannelPeers(ChannelPeersCore):
    def __init__(self, *args, **kwargs) -> None:  # same arguments as fabric_gateway.ChannelPeers
        super().__init__(*args, **kwargs)
        self._channels: dict[int, grpc.aio.Channel] = {}
        self._watches: dict[tuple[str, int], _Watch] = {}

    def _channel(self, index: int) -> grpc.aio.Channel:
        if index not in self._channels:
            endpoint, credentials, options = self.channel_args(index)
            self._channels[index] = grpc.aio.secure_channel(endpoint.address, credentials, options)
        return self._channels[index]

    def _watch(self, index: int, signing: SigningIdentity, channel_id: str, block_number: int) -> _Watch:
        """The peer's stream, opened at block_number if there is none (or the last one ended)."""
        watch = self._watches.get((channel_id, index))
        if watch is None or watch.ended:
            watch = self._watches[(channel_id, index)] = _Watch()
            watch.task = asyncio.ensure_future(self._follow(watch, index, signing, channel_id, block_number))
        return watch

    async def _follow(self, watch: _Watch, index: int, signing: SigningIdentity, channel_id: str, start: int) -> None:
        address = self.endpoints[index].address
        call = events_pb2_grpc.DeliverStub(self._channel(index)).DeliverFiltered(
            iter([new_seek_envelope(signing, channel_id, start)]))
        try:
            async for response in call:
                kind = response.WhichOneof("Type")
                if kind == "filtered_block":
                    self.record(index, response.filtered_block.number)
                    watch.notify()
                elif kind == "status":
                    raise BlockUnavailableError(f"peer {address} did not deliver blocks from {start}: "
                                                f"{common_pb2.Status.Name(response.status)}")
            raise BlockUnavailableError(f"peer {address} ended its stream of blocks")
        except Exception as error:  # kept for the waiters; the next wait opens a new stream
            watch.error = error
        finally:
            call.cancel()
            watch.ended = True
            watch.notify()

    async def _wait_one(
        self, index: int, signing: SigningIdentity, channel_id: str, block_number: int, deadline: float
    ) -> str | None:
        loop = asyncio.get_running_loop()
        watch = self._watch(index, signing, channel_id, block_number)
        while True:
            moved = watch.moved
            if self.holds(index, block_number):
                return None
            if watch.ended:
                if isinstance(watch.error, grpc.RpcError):
                    return self.outcome(index, block_number, watch.error)
                raise BlockUnavailableError(str(watch.error or "the stream of blocks was closed")) from watch.error
            remaining = deadline - loop.time()
            if remaining <= 0:
                log.warning("peer %s has not committed block %d in time", self.endpoints[index].address,
                            block_number)
                return self.endpoints[index].address
            try:
                await asyncio.wait_for(moved.wait(), remaining)
            except TimeoutError:
                pass

    async def wait_for_block(
        self, signing: SigningIdentity, channel_id: str, block_number: int, timeout: float | None = None
    ) -> list[str]:
        """Wait until every peer has committed the block; returns the addresses of peers that did not in time."""
        deadline = asyncio.get_running_loop().time() + (self.timeout if timeout is None else timeout)
        results = await asyncio.gather(
            *(self._wait_one(i, signing, channel_id, block_number, deadline) for i in self.pending(block_number)))
        return [address for address in results if address is not None]

    async def close(self) -> None:
        watches, self._watches = list(self._watches.values()), {}
        for watch in watches:
            watch.task.cancel()
        for watch in watches:
            try:
                await watch.task
            except asyncio.CancelledError:
                pass
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await channel.close()
