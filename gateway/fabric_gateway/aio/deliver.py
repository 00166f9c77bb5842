"""Full blocks of a channel, in order and without end, from an organization's peers' Deliver services.

    reader = BlockReader([Endpoint("127.0.0.1:7051", tls_root_certs=org1_tls), ...], signing, "mychannel")
    async for block in reader.blocks(start=42):   # common_pb2.Block 42, 43, ... waiting for new ones
        handle(block)

A peer that is down, restarts, or refuses is left for the next one; when none answers the reader waits (with
backoff, up to max_delay) and tries again, always from the block after the last one it yielded: the caller
sees each block once, in order, whatever the peers do. A peer that answers but falls behind (it lost its
orderer) is left too, when the caller says another peer holds the block it waits for:

    reader.blocks(start=42, stall=10.0, held_elsewhere=lambda number: number <= newest_known_block())
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.peer import events_pb2_grpc

from ..connection import ConnectionConfig, Endpoint, PemSource
from ..deliver import NEWEST, new_seek_envelope
from ..signing import SigningIdentity

log = logging.getLogger("fabric_gateway")


class DeliverRefusedError(Exception):
    """A peer answered the seek with a status instead of blocks (e.g. FORBIDDEN, NOT_FOUND)."""


class BehindError(Exception):
    """A peer sent no block for a while that another peer is known to hold."""


class BlockReader:
    def __init__(
        self,
        endpoints: Sequence[Endpoint | str],
        signing: SigningIdentity,
        channel_id: str,
        tls_root_certs: PemSource | Sequence[PemSource] | None = None,
        *,
        min_delay: float = 0.5,
        max_delay: float = 30.0,
    ) -> None:
        if not 0 < min_delay <= max_delay:
            raise ValueError("need 0 < min_delay <= max_delay")
        self._config = ConnectionConfig(endpoints, tls_root_certs)
        self._signing = signing
        self.channel_id = channel_id
        self.min_delay, self.max_delay = min_delay, max_delay
        self._channels: dict[int, grpc.aio.Channel] = {}
        self.failures = 0  # rounds in a row in which no peer delivered: for health reports
        self.last_error = ""

    @property
    def endpoints(self) -> list[Endpoint]:
        return self._config.endpoints

    def _stub(self, index: int) -> events_pb2_grpc.DeliverStub:
        if index not in self._channels:
            endpoint = self.endpoints[index]
            self._channels[index] = grpc.aio.secure_channel(
                endpoint.address, self._config.credentials(endpoint), self._config.options(endpoint))
        return events_pb2_grpc.DeliverStub(self._channels[index])

    async def _stream(self, index: int, start: int, stop: int) -> AsyncIterator[common_pb2.Block]:
        envelope = new_seek_envelope(self._signing, self.channel_id, start, stop)
        call = self._stub(index).Deliver(iter([envelope]))
        try:
            async for response in call:
                kind = response.WhichOneof("Type")
                if kind == "block":
                    yield response.block
                elif kind == "status":
                    if response.status == common_pb2.SUCCESS:  # the stop block was sent
                        return
                    raise DeliverRefusedError(f"{common_pb2.Status.Name(response.status)}")
        finally:
            call.cancel()

    async def _timed(self, blocks: AsyncIterator[common_pb2.Block], stall: float | None,
                     held_elsewhere: Callable[[int], bool] | None, number: int) -> AsyncIterator[common_pb2.Block]:
        """The stream's blocks; BehindError when block `number` (the next, then) has not come stall seconds after
        held_elsewhere first said another peer holds it. The stream is closed when this ends."""
        next_block: asyncio.Future | None = None
        try:
            while True:
                next_block = asyncio.ensure_future(anext(blocks, None))
                if stall is not None and held_elsewhere is not None:
                    held_since = None  # when another peer was first seen holding the block
                    while not (await asyncio.wait({next_block}, timeout=min(stall, 1.0)))[0]:
                        now = asyncio.get_running_loop().time()
                        held_since = (held_since or now) if held_elsewhere(number) else None
                        if held_since is not None and now - held_since >= stall:
                            raise BehindError(f"no block {number} for {stall:g} s while another peer held it")
                block = await next_block
                if block is None:
                    return
                yield block
                number += 1
        finally:
            if next_block is not None and not next_block.done():
                next_block.cancel()
                await asyncio.gather(next_block, return_exceptions=True)
            await blocks.aclose()

    async def blocks(self, start: int = 0, stop: int = NEWEST, *, stall: float | None = None,
                     held_elsewhere: Callable[[int], bool] | None = None) -> AsyncIterator[common_pb2.Block]:
        """Blocks start..stop (inclusive; by default forever), each once and in order; see the module's doc for
        stall and held_elsewhere."""
        next_number = start
        while next_number <= stop:
            for index in self._config.attempt_order():
                address = self.endpoints[index].address
                stream = self._timed(self._stream(index, next_number, stop), stall, held_elsewhere, next_number)
                try:
                    async for block in stream:
                        if block.header.number != next_number:
                            raise DeliverRefusedError(f"sent block {block.header.number}, not {next_number}")
                        self._config.mark_good(index)
                        self.failures, self.last_error = 0, ""
                        yield block
                        next_number += 1
                    if next_number > stop:
                        return
                except (grpc.RpcError, DeliverRefusedError, BehindError) as error:
                    detail = f"{error.code().name}: {error.details()}" if isinstance(error, grpc.aio.AioRpcError) \
                        else str(error)
                    self.last_error = f"peer {address}: {detail}"
                    log.info("reading block %d from %s: %s", next_number, address, detail)
                finally:
                    await stream.aclose()
            self.failures += 1
            delay = min(self.max_delay, self.min_delay * 2 ** min(self.failures - 1, 16))
            log.warning("no peer delivered block %d (%s); trying again in %.1fs", next_number, self.last_error, delay)
            await asyncio.sleep(delay)

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await channel.close()
