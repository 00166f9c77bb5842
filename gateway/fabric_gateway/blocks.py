"""Read-your-writes across a channel: wait until every peer has committed a block.

A commit status comes from the gateway peer that was asked; the channel's other peers commit the same block
a moment later. A read through another peer, or an endorsement by a peer of another organization, that
follows at once can miss the write. ChannelPeers waits, bounded, until each peer has the block: each peer's
Deliver service streams its blocks from its newest one on, up to that block (like the commit strategy
NETWORK_SCOPE_ALLFORTX of the earlier Fabric SDKs). The stream starts at the newest block, not at the one
awaited, because a peer more than one block behind refuses a seek beyond its height (NOT_FOUND).

    peers = ChannelPeers([Endpoint("127.0.0.1:7051", tls_root_certs=org1_tls), Endpoint(...)])
    gateway = connect(..., channel_peers=peers)  # submit_transaction returns once every peer has the block
    gateway.get_network("mychannel").wait_for_block(42)  # a block another client wrote
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.peer import events_pb2, events_pb2_grpc

from .connection import ConnectionConfig, Endpoint, PemSource
from .deliver import new_seek_newest_envelope
from .signing import SigningIdentity

log = logging.getLogger("fabric_gateway")

DEFAULT_WAIT_TIMEOUT = 5.0


class BlockUnavailableError(Exception):
    """A peer refused the Deliver request (e.g. the identity may not read the channel)."""


def check_response(response: events_pb2.DeliverResponse | None, address: str, block_number: int) -> None:
    kind = response.WhichOneof("Type") if response is not None else None
    if kind == "filtered_block":
        return
    status = common_pb2.Status.Name(response.status) if kind == "status" else "no answer"
    raise BlockUnavailableError(f"peer {address} did not deliver block {block_number}: {status}")


class ChannelPeersCore:
    """The peers to wait for and the highest block each is known to hold (so a known block costs no call)."""

    def __init__(
        self,
        endpoints: Sequence[Endpoint | str],
        tls_root_certs: PemSource | Sequence[PemSource] | None = None,
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._config = ConnectionConfig(endpoints, tls_root_certs)
        self.timeout = timeout
        self._committed: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def endpoints(self) -> list[Endpoint]:
        return self._config.endpoints

    def pending(self, block_number: int) -> list[int]:
        """Indexes of the peers not yet known to hold the block."""
        if block_number < 0:
            raise ValueError("block_number must not be negative")
        return [i for i in range(len(self.endpoints)) if not self.holds(i, block_number)]

    def holds(self, index: int, block_number: int) -> bool:
        """Whether the peer is known to have committed the block."""
        with self._lock:
            return self._committed.get(self.endpoints[index].address, -1) >= block_number

    def newest(self) -> int:
        """The newest block any of the peers is known to have committed (-1: none known yet)."""
        with self._lock:
            return max(self._committed.values(), default=-1)

    def record(self, index: int, block_number: int) -> None:
        address = self.endpoints[index].address
        with self._lock:
            self._committed[address] = max(self._committed.get(address, -1), block_number)

    def outcome(self, index: int, block_number: int, error: grpc.RpcError) -> str:
        """Why a peer was not waited for: a peer that is down cannot serve the next call either."""
        address = self.endpoints[index].address
        code = error.code() if hasattr(error, "code") else None
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            log.warning("peer %s has not committed block %d in time", address, block_number)
            return address
        if code == grpc.StatusCode.UNAVAILABLE:
            log.info("peer %s unavailable while waiting for block %d", address, block_number)
            return address
        raise BlockUnavailableError(f"peer {address}: {error}") from error

    def channel_args(self, index: int) -> tuple[Endpoint, grpc.ChannelCredentials, list[tuple[str, object]]]:
        endpoint = self.endpoints[index]
        return endpoint, self._config.credentials(endpoint), self._config.options(endpoint)


class ChannelPeers(ChannelPeersCore):
    """Synchronous: waits for the peers one after another (they commit the same block nearly together)."""

    def __init__(self, *args, **kwargs) -> None:  # same arguments as ChannelPeersCore
        super().__init__(*args, **kwargs)
        self._stubs: dict[int, events_pb2_grpc.DeliverStub] = {}
        self._channels: list[grpc.Channel] = []

    def _stub(self, index: int) -> events_pb2_grpc.DeliverStub:
        with self._lock:
            if index not in self._stubs:
                endpoint, credentials, options = self.channel_args(index)
                channel = grpc.secure_channel(endpoint.address, credentials, options)
                self._channels.append(channel)
                self._stubs[index] = events_pb2_grpc.DeliverStub(channel)
            return self._stubs[index]

    def wait_for_block(
        self, signing: SigningIdentity, channel_id: str, block_number: int, timeout: float | None = None
    ) -> list[str]:
        """Wait until every peer has committed the block; returns the addresses of peers that did not in time."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        lagging = []
        for index in self.pending(block_number):
            remaining = max(0.001, deadline - time.monotonic())
            envelope = new_seek_newest_envelope(signing, channel_id)
            call = self._stub(index).DeliverFiltered(iter([envelope]), timeout=remaining)
            try:
                self._follow(call, index, block_number)
            except grpc.RpcError as error:
                lagging.append(self.outcome(index, block_number, error))
            finally:
                call.cancel()
        return lagging

    def _follow(self, call, index: int, block_number: int) -> None:
        """Read the peer's blocks until it has committed block_number."""
        for response in call:
            check_response(response, self.endpoints[index].address, block_number)
            self.record(index, response.filtered_block.number)
            if self.holds(index, block_number):
                return
        check_response(None, self.endpoints[index].address, block_number)

    def close(self) -> None:
        with self._lock:
            for channel in self._channels:
                channel.close()
            self._channels.clear()
            self._stubs.clear()
