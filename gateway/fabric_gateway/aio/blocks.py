"""Async twin of fabric_gateway.blocks.ChannelPeers: the peers are waited for together, through one DeliverFiltered
stream per peer and channel that stays open. The first wait opens it at the peer's newest block; from then on each
peer announces every block it commits, so a wait costs no call (a busy gateway commits many blocks a second, and a call
per peer and block cost the gateway a signature and each peer a signature check and a policy evaluation).

    peers = ChannelPeers([Endpoint("127.0.0.1:7051", tls_root_certs=org1_tls), ...])
    lagging = await peers.wait_for_block(signing, "mychannel", 42)

The same streams tell a gateway with these peers the commit of what it submits (Expected): the gateway peer's
stream reports the transaction's validation code once that peer has committed its block, as its CommitStatus
would, and asking costs no call.
"""

from __future__ import annotations

import asyncio
import logging

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.peer import events_pb2, events_pb2_grpc, transaction_pb2

from ..blocks import BlockUnavailableError, ChannelPeersCore
from ..commit import Status
from ..deliver import new_seek_newest_envelope
from ..signing import SigningIdentity

log = logging.getLogger("fabric_gateway")


class _Watch:
    """One peer's stream of committed blocks on one channel, while it lasts."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.moved = self._loop.create_future()  # replaced on every block: a waiter holds the one it saw
        self.task: asyncio.Task | None = None
        self.ended = False
        self.error: Exception | None = None  # why the stream ended
        self.delivered = False  # a block came: every later one will, while the stream lasts
        self.expected: dict[str, list[Expected]] = {}  # transaction ID -> who waits for its commit on this peer

    def notify(self) -> None:
        moved, self.moved = self.moved, self._loop.create_future()
        moved.set_result(None)

    def report(self, block: events_pb2.FilteredBlock) -> None:
        for transaction in block.filtered_transactions:
            waiting = self.expected.pop(transaction.txid, None)
            if waiting:
                code = transaction.tx_validation_code
                # A second copy of a transaction ID is marked DUPLICATE_TXID: whether the first was valid, the
                # peer's ledger knows.
                status = None if code == transaction_pb2.DUPLICATE_TXID else Status(transaction.txid, code,
                                                                                   block.number)
                for expected in waiting:
                    expected.resolve(status)

    def orphan(self) -> None:
        """The stream ended: who waits on it asks the peer."""
        waiting, self.expected = self.expected, {}
        for expected in (e for same_id in waiting.values() for e in same_id):
            expected.resolve(None)


class Expected:
    """A transaction whose commit the gateway peer's stream will report: a stream that has delivered block B
    delivers every later block, and a transaction submitted after B was committed is in a later one."""

    def __init__(self, watch: _Watch, transaction_id: str) -> None:
        self.watch = watch
        self.transaction_id = transaction_id
        self.seen: asyncio.Future[Status | None] = asyncio.get_running_loop().create_future()
        watch.expected.setdefault(transaction_id, []).append(self)

    def resolve(self, status: Status | None) -> None:
        if not self.seen.done():
            self.seen.set_result(status)

    async def status(self, timeout: float) -> Status | None:
        """The commit as the peer reported it; None if its stream ended first (ask the peer); TimeoutError if
        the peer did not commit it in time."""
        try:
            async with asyncio.timeout(timeout):
                return await self.seen
        finally:
            self.discard()

    def discard(self) -> None:
        waiting = self.watch.expected.get(self.transaction_id)
        if waiting is not None and self in waiting:
            waiting.remove(self)
            if not waiting:
                del self.watch.expected[self.transaction_id]


class ChannelPeers(ChannelPeersCore):
    def __init__(self, *args, **kwargs) -> None:  # same arguments as fabric_gateway.ChannelPeers
        super().__init__(*args, **kwargs)
        self._channels: dict[int, grpc.aio.Channel] = {}
        self._watches: dict[tuple[str, int], _Watch] = {}

    def expect(self, channel_id: str, transaction_id: str, peer_address: str) -> Expected | None:
        """Before a transaction is submitted: its commit on the peer at peer_address (the gateway peer, which a
        CommitStatus call would ask), as that peer's open stream will report it; None if the peer has no stream
        of the channel that has delivered a block."""
        for (channel, index), watch in self._watches.items():
            if (channel == channel_id and self.endpoints[index].address == peer_address and watch.delivered
                    and not watch.ended):
                return Expected(watch, transaction_id)
        return None

    def _channel(self, index: int) -> grpc.aio.Channel:
        if index not in self._channels:
            endpoint, credentials, options = self.channel_args(index)
            self._channels[index] = grpc.aio.secure_channel(endpoint.address, credentials, options)
        return self._channels[index]

    def _watch(self, index: int, signing: SigningIdentity, channel_id: str) -> _Watch:
        """The peer's stream from its newest block on, opened if there is none (or the last one ended)."""
        watch = self._watches.get((channel_id, index))
        if watch is None or watch.ended:
            watch = self._watches[(channel_id, index)] = _Watch()
            watch.task = asyncio.ensure_future(self._follow(watch, index, signing, channel_id))
        return watch

    async def _follow(self, watch: _Watch, index: int, signing: SigningIdentity, channel_id: str) -> None:
        address = self.endpoints[index].address
        call = events_pb2_grpc.DeliverStub(self._channel(index)).DeliverFiltered(
            iter([new_seek_newest_envelope(signing, channel_id)]))
        try:
            async for response in call:
                kind = response.WhichOneof("Type")
                if kind == "filtered_block":
                    self.record(index, response.filtered_block.number)
                    if watch.expected:
                        watch.report(response.filtered_block)
                    watch.delivered = True
                    watch.notify()
                elif kind == "status":
                    raise BlockUnavailableError(f"peer {address} did not deliver its blocks: "
                                                f"{common_pb2.Status.Name(response.status)}")
            raise BlockUnavailableError(f"peer {address} ended its stream of blocks")
        except Exception as error:  # kept for the waiters; the next wait opens a new stream
            watch.error = error
        finally:
            call.cancel()
            watch.ended = True
            watch.orphan()
            watch.notify()

    async def wait_for_block(
        self, signing: SigningIdentity, channel_id: str, block_number: int, timeout: float | None = None
    ) -> list[str]:
        """Wait until every peer has committed the block; returns the addresses of peers that did not in time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.timeout if timeout is None else timeout)
        # One wait for all the peers, on the futures their streams resolve: no task per peer or per block.
        watching = {i: self._watch(i, signing, channel_id) for i in self.pending(block_number)}
        lagging: list[int] = []
        while watching:
            for index, watch in list(watching.items()):
                if self.holds(index, block_number):
                    del watching[index]
                elif watch.ended:
                    del watching[index]
                    if not isinstance(watch.error, grpc.RpcError):
                        raise BlockUnavailableError(str(watch.error or "the stream of blocks was closed")) \
                            from watch.error
                    self.outcome(index, block_number, watch.error)  # raises unless the peer is down or late
                    lagging.append(index)
            if not watching:
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                for index in watching:
                    log.warning("peer %s has not committed block %d in time", self.endpoints[index].address,
                                block_number)
                lagging.extend(watching)
                break
            await asyncio.wait([w.moved for w in watching.values()], timeout=remaining,
                               return_when=asyncio.FIRST_COMPLETED)
        return [self.endpoints[i].address for i in sorted(lagging)]

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
