"""ChannelPeers (sync and asyncio) against in-process Deliver services that release a block when told to."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from concurrent import futures

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2_grpc
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import events_pb2, events_pb2_grpc, transaction_pb2

from fabric_gateway import (BlockUnavailableError, ChannelPeers, CommitError, CommitStatusError, EcdsaSigner, Endpoint,
                            Identity, Timeouts, aio)
from fabric_gateway.signing import SigningIdentity

from tests.support.fake_gateway import FakeGateway
from tests.support.pki import certificate, key_pem, verify_signature

CHANNEL = "mychannel"
PEER_NAME = "peer0.org2.example.com"


class FakeDeliver(events_pb2_grpc.DeliverServicer):
    """A peer's Deliver service: streams blocks start..stop, each once its height passes it (BLOCK_UNTIL_READY).
    As Fabric's block iterator does, it answers NOT_FOUND to a start beyond its height, and starts a seek of the
    newest block at its last one."""

    def __init__(self, height: int = 0, refuse: bool = False) -> None:
        self.height = height
        self.refuse = refuse
        self.seeks: list[int] = []  # the first block of every request
        self.blocks: dict[int, list[events_pb2.FilteredTransaction]] = {}  # others hold one valid transaction
        self.hung_up = False  # streams end, as when the peer stops
        self._grown = threading.Condition()

    def commit(self, height: int) -> None:
        with self._grown:
            self.height = height
            self._grown.notify_all()

    def append(self, *transactions: tuple[str, int]) -> None:
        """Commit one more block holding these (transaction ID, validation code)."""
        with self._grown:
            self.blocks[self.height] = [events_pb2.FilteredTransaction(txid=tx_id, tx_validation_code=code)
                                        for tx_id, code in transactions]
            self.height += 1
            self._grown.notify_all()

    def hang_up(self) -> None:
        with self._grown:
            self.hung_up = True
            self._grown.notify_all()

    def _wake(self) -> None:
        with self._grown:
            self._grown.notify_all()

    def wait_for_seeks(self, numbers: list[int], timeout: float = 5.0) -> None:
        """Until the seeks received are `numbers`: a caller is then waiting on this peer."""
        with self._grown:
            assert self._grown.wait_for(lambda: self.seeks == numbers, timeout), (self.seeks, numbers)

    def DeliverFiltered(self, request_iterator, context):
        envelope = next(request_iterator)
        payload = common_pb2.Payload.FromString(envelope.payload)
        header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
        creator = common_pb2.SignatureHeader.FromString(payload.header.signature_header).creator
        verify_signature(creator, envelope.signature, envelope.payload)
        seek = ab_pb2.SeekInfo.FromString(payload.data)
        assert header.type == common_pb2.DELIVER_SEEK_INFO and header.channel_id == CHANNEL
        assert seek.behavior == ab_pb2.SeekInfo.BLOCK_UNTIL_READY
        stop = seek.stop.specified.number
        context.add_callback(self._wake)
        with self._grown:
            number = self.height - 1 if seek.start.HasField("newest") else seek.start.specified.number
            self.seeks.append(number)
            self._grown.notify_all()
        if self.refuse:
            yield events_pb2.DeliverResponse(status=common_pb2.FORBIDDEN)
            return
        if number > self.height:
            yield events_pb2.DeliverResponse(status=common_pb2.NOT_FOUND)
            return
        while number <= stop:
            with self._grown:
                self._grown.wait_for(lambda: self.height > number or self.hung_up or not context.is_active(),
                                     timeout=10)
            if self.height <= number or self.hung_up:
                return
            transactions = self.blocks.get(number, [events_pb2.FilteredTransaction(
                tx_validation_code=transaction_pb2.VALID)])
            yield events_pb2.DeliverResponse(filtered_block=events_pb2.FilteredBlock(
                channel_id=CHANNEL, number=number, filtered_transactions=transactions))
            number += 1
        yield events_pb2.DeliverResponse(status=common_pb2.SUCCESS)


@pytest.fixture(scope="module")
def tls():
    ca_key = ec.generate_private_key(ec.SECP256R1())
    server_key = ec.generate_private_key(ec.SECP256R1())
    return {
        "ca": certificate("tlsca.org2.example.com", ca_key, ca=True),
        "cert": certificate(PEER_NAME, server_key, ca_key, "tlsca.org2.example.com", san=PEER_NAME),
        "key": key_pem(server_key),
    }


@pytest.fixture(scope="module")
def user():
    key = ec.generate_private_key(ec.SECP256R1())
    return Identity("Org1MSP", certificate("User1@org1.example.com", key)), EcdsaSigner(key)


@pytest.fixture(scope="module")
def signing(user):
    return SigningIdentity(*user)


def serve_peer(tls, deliver: FakeDeliver, gateway: FakeGateway | None = None) -> tuple[grpc.Server, Endpoint]:
    """A peer's Deliver service (and its Gateway service, if given) over TLS on a loopback port."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    events_pb2_grpc.add_DeliverServicer_to_server(deliver, server)
    if gateway is not None:
        gateway_pb2_grpc.add_GatewayServicer_to_server(gateway, server)
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(tls["key"], tls["cert"])]))
    server.start()
    return server, Endpoint(f"127.0.0.1:{port}", PEER_NAME, tls["ca"])


@pytest.fixture
def peers(tls):
    """Two peers (heights 5 and 3) and an address where nothing listens."""
    started = []
    for height in (5, 3):
        servicer = FakeDeliver(height)
        started.append((servicer, *serve_peer(tls, servicer)))
    yield started
    for _, server, _ in started:
        server.stop(None)


def test_waits_until_every_peer_has_the_block(peers, signing):
    (_, _, first), (behind, _, second) = peers
    channel_peers = ChannelPeers([first, second], timeout=5)
    threading.Timer(0.3, behind.commit, args=(5,)).start()
    started = time.monotonic()
    assert channel_peers.wait_for_block(signing, CHANNEL, 4) == []
    assert time.monotonic() - started >= 0.25  # it waited for the peer that was behind
    channel_peers.close()


def test_a_block_known_on_every_peer_costs_no_call(peers, signing):
    (ahead, _, first), (behind, _, second) = peers
    channel_peers = ChannelPeers([first, second])
    assert channel_peers.wait_for_block(signing, CHANNEL, 2) == []
    assert channel_peers.wait_for_block(signing, CHANNEL, 1) == []
    assert ahead.seeks == [4] and behind.seeks == [2]  # one stream each, from its newest block
    assert channel_peers.newest() == 4  # what the peer ahead holds
    channel_peers.close()


def test_a_peer_several_blocks_behind_is_waited_for_not_refused(peers, signing):
    """Fabric refuses a seek beyond a peer's height: the wait reads the peer's blocks from its newest one."""
    _, (behind, _, second) = peers
    channel_peers = ChannelPeers([second], timeout=5)
    with futures.ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(channel_peers.wait_for_block, signing, CHANNEL, 6)
        behind.wait_for_seeks([2])  # it holds blocks 0-2
        for height in (4, 5, 7):
            behind.commit(height)
        assert waiting.result(timeout=5) == []
    assert behind.seeks == [2]
    assert channel_peers.holds(0, 6) and not channel_peers.holds(0, 7)
    channel_peers.close()


def test_a_peer_that_stays_behind_is_reported_after_the_timeout(peers, signing):
    (_, _, first), (_, _, second) = peers
    channel_peers = ChannelPeers([first, second], timeout=0.3)
    assert channel_peers.wait_for_block(signing, CHANNEL, 4) == [second.address]
    channel_peers.close()


def test_a_peer_that_is_down_is_reported_at_once(peers, signing):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        nowhere = Endpoint(f"127.0.0.1:{s.getsockname()[1]}", PEER_NAME, peers[0][2].tls_root_certs)
    channel_peers = ChannelPeers([peers[0][2], nowhere], timeout=5)
    started = time.monotonic()
    assert channel_peers.wait_for_block(signing, CHANNEL, 1) == [nowhere.address]
    assert time.monotonic() - started < 4
    channel_peers.close()


def test_a_refused_request_is_an_error_not_a_silent_wait(peers, signing):
    (ahead, _, first), _ = peers
    ahead.refuse = True
    channel_peers = ChannelPeers([first])
    with pytest.raises(BlockUnavailableError, match="FORBIDDEN"):
        channel_peers.wait_for_block(signing, CHANNEL, 1)
    channel_peers.close()


async def test_async_waits_for_the_peers_together(peers, signing):
    (_, _, first), (behind, _, second) = peers
    channel_peers = aio.ChannelPeers([first, second], timeout=5)
    threading.Timer(0.3, behind.commit, args=(9,)).start()
    assert await channel_peers.wait_for_block(signing, CHANNEL, 4) == []
    assert await asyncio.wait_for(channel_peers.wait_for_block(signing, CHANNEL, 4), 0.5) == []
    await channel_peers.close()
    stays_behind = aio.ChannelPeers([second], timeout=0.2)
    assert await stays_behind.wait_for_block(signing, CHANNEL, 9) == [second.address]
    await stays_behind.close()


async def test_async_waits_share_one_stream_per_peer_for_every_block(peers, signing):
    (ahead, _, first), (behind, _, second) = peers
    channel_peers = aio.ChannelPeers([first, second], timeout=5)
    waiting = [asyncio.create_task(channel_peers.wait_for_block(signing, CHANNEL, 4)) for _ in range(20)]
    await asyncio.to_thread(behind.wait_for_seeks, [2])  # all twenty are waiting for the peer that is behind
    behind.commit(5)
    assert await asyncio.gather(*waiting) == [[]] * 20
    waiting[0] = asyncio.create_task(channel_peers.wait_for_block(signing, CHANNEL, 6))
    second_waiter = asyncio.create_task(channel_peers.wait_for_block(signing, CHANNEL, 6))
    waiting[0].cancel()  # one caller gives up: the other still gets its answer
    ahead.commit(7)
    behind.commit(7)
    assert await second_waiter == []
    assert await channel_peers.wait_for_block(signing, CHANNEL, 5) == []  # known: answered without waiting
    assert (ahead.seeks, behind.seeks) == ([4], [2])  # blocks 5 and 6 came on the streams opened at the first wait
    await channel_peers.close()


async def test_async_a_peer_that_is_down_is_reported_and_asked_again_next_time(peers, signing):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        nowhere = Endpoint(f"127.0.0.1:{s.getsockname()[1]}", PEER_NAME, peers[0][2].tls_root_certs)
    (ahead, _, first), _ = peers
    channel_peers = aio.ChannelPeers([first, nowhere], timeout=5)
    started = time.monotonic()
    assert await channel_peers.wait_for_block(signing, CHANNEL, 1) == [nowhere.address]
    assert await channel_peers.wait_for_block(signing, CHANNEL, 2) == [nowhere.address]
    assert time.monotonic() - started < 4
    assert ahead.seeks == [4]
    await channel_peers.close()


async def test_async_a_refused_stream_is_an_error_not_a_silent_wait(peers, signing):
    (ahead, _, first), _ = peers
    ahead.refuse = True
    channel_peers = aio.ChannelPeers([first], timeout=5)
    with pytest.raises(BlockUnavailableError, match="FORBIDDEN"):
        await channel_peers.wait_for_block(signing, CHANNEL, 1)
    await channel_peers.close()


def test_negative_block_numbers_are_refused(signing):
    with pytest.raises(ValueError):
        ChannelPeers([Endpoint("127.0.0.1:1")]).wait_for_block(signing, CHANNEL, -1)


# --- commit statuses from the streams ------------------------------------------------------------------------


class CommittingGateway(FakeGateway):
    """A gateway peer that commits each submitted transaction in a block of its own, with the next scripted
    validation code (VALID when none); on_submit, if set, runs instead."""

    def __init__(self, deliver: FakeDeliver) -> None:
        super().__init__("peer0")
        self.deliver = deliver
        self.block_codes: deque[int] = deque()
        self.on_submit = None

    def Submit(self, request, context):
        response = super().Submit(request, context)
        if self.on_submit is not None:
            self.on_submit(request.transaction_id)
        else:
            code = self.block_codes.popleft() if self.block_codes else transaction_pb2.VALID
            self.deliver.append((request.transaction_id, code))
        return response

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture
def gateway_peer(tls):
    """One peer with the Gateway and Deliver services; it holds blocks 0-7 (FakeGateway's commit status is 7)."""
    gateway = CommittingGateway(FakeDeliver(height=8))
    server, endpoint = serve_peer(tls, gateway.deliver, gateway)
    yield gateway, endpoint
    server.stop(None)


async def test_async_commits_are_read_from_the_open_streams_without_a_call(gateway_peer, user):
    gateway, endpoint = gateway_peer
    identity, signer = user
    channel_peers = aio.ChannelPeers([endpoint], timeout=5)
    async with aio.connect(endpoint, identity=identity, signer=signer, channel_peers=channel_peers) as gw:
        contract = gw.get_network(CHANNEL).get_contract("tdses")
        assert await contract.submit_transaction("Buy", "svc1") == b"ok:Buy"  # no stream yet: the peer is asked
        assert gateway.names() == ["Endorse", "Submit", "CommitStatus"]
        gateway.calls.clear()

        result, commit = await contract.submit_async("Buy", "svc2")
        status = await commit.status()  # block 9, on the stream opened for block 7
        assert (result, status.transaction_id, status.block_number, status.successful) == (
            b"ok:Buy", commit.transaction_id, 9, True)
        gateway.block_codes.append(transaction_pb2.MVCC_READ_CONFLICT)
        with pytest.raises(CommitError) as conflict:
            await contract.submit_transaction("Buy", "svc3")
        assert (conflict.value.code_name, conflict.value.block_number) == ("MVCC_READ_CONFLICT", 10)
        assert gateway.names() == ["Endorse", "Submit"] * 2
    await channel_peers.close()


async def test_async_the_peer_is_asked_what_the_streams_cannot_tell(gateway_peer, user):
    gateway, endpoint = gateway_peer
    identity, signer = user
    channel_peers = aio.ChannelPeers([endpoint], timeout=5)
    async with aio.connect(endpoint, identity=identity, signer=signer, channel_peers=channel_peers,
                           timeouts=Timeouts(commit_status=0.5)) as gw:
        contract = gw.get_network(CHANNEL).get_contract("tdses")
        await contract.submit_transaction("Buy", "svc1")  # opens the stream
        gateway.calls.clear()

        # A second copy of a transaction ID: whether the first was valid, the gateway peer's ledger knows.
        gateway.block_codes.append(transaction_pb2.DUPLICATE_TXID)
        assert await contract.submit_transaction("Buy", "svc2") == b"ok:Buy"
        assert gateway.names() == ["Endorse", "Submit", "CommitStatus"]
        gateway.calls.clear()

        gateway.on_submit = lambda tx_id: None  # ordered, never committed
        with pytest.raises(CommitStatusError) as late:
            await contract.submit_transaction("Buy", "svc3")
        submitted = gateway.calls[-1][1].transaction_id
        assert (late.value.code, late.value.transaction_id) == (grpc.StatusCode.DEADLINE_EXCEEDED, submitted)
        assert gateway.names() == ["Endorse", "Submit"]
        gateway.calls.clear()

        gateway.on_submit = lambda tx_id: gateway.deliver.hang_up()  # the stream ends before the block comes
        assert await contract.submit_transaction("Buy", "svc4") == b"ok:Buy"
        assert gateway.names() == ["Endorse", "Submit", "CommitStatus"]
    assert not any(watch.expected for watch in channel_peers._watches.values())  # nothing is left waiting
    await channel_peers.close()


async def test_async_a_commit_counts_once_the_gateway_peer_has_it_not_another_peer(gateway_peer, tls, user):
    """As CommitStatus would: what the gateway peer answers next (a read, an endorsement) must see the write."""
    gateway, endpoint = gateway_peer
    identity, signer = user
    other = FakeDeliver(height=8)
    server, other_endpoint = serve_peer(tls, other)
    channel_peers = aio.ChannelPeers([other_endpoint, endpoint], timeout=5)
    try:
        async with aio.connect(endpoint, identity=identity, signer=signer, channel_peers=channel_peers,
                               timeouts=Timeouts(commit_status=0.5)) as gw:
            contract = gw.get_network(CHANNEL).get_contract("tdses")
            gateway.on_submit = lambda tx_id: other.append((tx_id, transaction_pb2.VALID))
            await contract.submit_transaction("Buy", "svc1")  # asked; opens both streams
            gateway.calls.clear()
            with pytest.raises(CommitStatusError) as late:  # only the other peer committed it
                await contract.submit_transaction("Buy", "svc2")
            assert late.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
            assert gateway.names() == ["Endorse", "Submit"]
    finally:
        await channel_peers.close()
        server.stop(None)
