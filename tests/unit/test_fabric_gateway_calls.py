"""fabric_gateway (sync and asyncio) against an in-process gRPC Gateway service that checks every signature."""

from __future__ import annotations

import socket
import time

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import chaincode_event_pb2, transaction_pb2

import fabric_gateway
from fabric_gateway import (
    CommitError,
    CommitStatusError,
    Connection,
    EcdsaSigner,
    EndorseError,
    Endpoint,
    EventPosition,
    Gateway,
    GatewayError,
    Identity,
    SubmitError,
    Timeouts,
    connect,
)
from fabric_gateway import aio
from tdses.chaincode import error_code

from tests.support.fake_gateway import FakeGateway, serve
from tests.support.pki import certificate, key_pem

CHANNEL = "mychannel"
CHAINCODE = "tdses"
PEER_NAME = "peer0.org1.example.com"


# --- certificates -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls():
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = certificate("tlsca.org1.example.com", ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = certificate(PEER_NAME, server_key, ca_key, "tlsca.org1.example.com", san=PEER_NAME)
    return {"ca": ca_cert, "cert": server_cert, "key": key_pem(server_key)}


@pytest.fixture(scope="module")
def user():
    key = ec.generate_private_key(ec.SECP256R1())
    return Identity("Org1MSP", certificate("User1@org1.example.com", key)), EcdsaSigner(key)


@pytest.fixture
def peer(tls):
    servicer = FakeGateway("peer0")
    server, address = serve(servicer, tls)
    yield servicer, address
    server.stop(None)


@pytest.fixture
def plain_peers():
    """Two plaintext peers of one organization."""
    started = [(FakeGateway(f"peer{n}"),) for n in range(2)]
    servers = []
    result = []
    for (servicer,) in started:
        server, address = serve(servicer, None)
        servers.append(server)
        result.append((servicer, address))
    yield result
    for server in servers:
        server.stop(None)


def _free_port_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"  # closed again: nothing listens there


@pytest.fixture
def gateway(peer, tls, user):
    servicer, address = peer
    identity, signer = user
    gw = connect(address, tls["ca"], identity, signer, server_name_override=PEER_NAME)
    yield gw
    gw.close()


def contract_of(gw):
    return gw.get_network(CHANNEL).get_contract(CHAINCODE)


# --- sync ------------------------------------------------------------------------------------------------


def test_evaluate_over_tls_returns_the_chaincode_result(gateway, peer):
    servicer, _ = peer
    assert contract_of(gateway).evaluate_transaction("GetBalance", "alice") == b"GetBalance|alice@peer0"
    assert [name for name, _ in servicer.calls] == ["Evaluate"]


def test_submit_runs_endorse_submit_and_commit_status_for_one_transaction(gateway, peer, user):
    servicer, _ = peer
    identity, _ = user
    assert contract_of(gateway).submit_transaction("Transfer", "alice", "bob", "5") == b"ok:Transfer"
    assert [name for name, _ in servicer.calls] == ["Endorse", "Submit", "CommitStatus"]
    endorse, submit, status = (request for _, request in servicer.calls)
    status_request = gateway_pb2.CommitStatusRequest.FromString(status.request)
    assert endorse.transaction_id == submit.transaction_id == status_request.transaction_id
    assert status_request.identity == identity.creator()


def test_a_read_conflict_is_a_commit_error_and_the_client_makes_one_attempt(gateway, peer):
    # Like the official clients, the library leaves retries to the application (tdses.retry).
    servicer, _ = peer
    servicer.commit_codes.extend([transaction_pb2.MVCC_READ_CONFLICT, transaction_pb2.MVCC_READ_CONFLICT])
    with pytest.raises(CommitError) as caught:
        contract_of(gateway).submit_transaction("Buy", "svc1", "5")
    assert caught.value.code_name == "MVCC_READ_CONFLICT" and caught.value.block_number == 7
    assert [name for name, _ in servicer.calls] == ["Endorse", "Submit", "CommitStatus"]
    last_status = gateway_pb2.CommitStatusRequest.FromString(servicer.calls[-1][1].request)
    assert caught.value.transaction_id == last_status.transaction_id


def test_other_validation_failures_are_commit_errors_with_their_code(gateway, peer):
    servicer, _ = peer
    servicer.commit_codes.append(transaction_pb2.ENDORSEMENT_POLICY_FAILURE)
    with pytest.raises(CommitError) as caught:
        contract_of(gateway).submit_transaction("Buy", "svc1", "5")
    assert caught.value.code == transaction_pb2.ENDORSEMENT_POLICY_FAILURE
    assert caught.value.code_name == "ENDORSEMENT_POLICY_FAILURE"
    assert sum(1 for name, _ in servicer.calls if name == "Endorse") == 1


def test_chaincode_refusal_becomes_an_endorse_error_with_the_chaincode_code(gateway, peer):
    servicer, _ = peer
    detail = gateway_pb2.ErrorDetail(
        address="peer0.org2.example.com:9051", msp_id="Org2MSP",
        message="chaincode response 500, INSUFFICIENT_FUNDS: balance 3 is less than 5",
    )
    servicer.failures["Endorse"] = (
        grpc.StatusCode.ABORTED, "failed to endorse transaction, see attached details for more info", [detail]
    )
    with pytest.raises(EndorseError) as caught:
        contract_of(gateway).submit_transaction("Buy", "svc1", "5")
    error = caught.value
    assert error.code == grpc.StatusCode.ABORTED
    assert error.transaction_id == servicer.calls[0][1].transaction_id
    assert error.details == [fabric_gateway.ErrorDetail("peer0.org2.example.com:9051", "Org2MSP", detail.message)]
    assert error_code(error) == "INSUFFICIENT_FUNDS"
    assert error.chaincode_message == "INSUFFICIENT_FUNDS: balance 3 is less than 5"
    assert error.chaincode_status == 500
    assert "Org2MSP" in str(error)


def test_evaluate_failure_is_a_gateway_error_with_the_chaincode_code(gateway, peer):
    servicer, _ = peer
    message = "chaincode response 500, NOT_FOUND: service svc9 does not exist"
    servicer.failures["Evaluate"] = (
        grpc.StatusCode.UNKNOWN, "evaluate call to endorser returned error: " + message,
        [gateway_pb2.ErrorDetail(address="peer0:7051", msp_id="Org1MSP", message=message)],
    )
    with pytest.raises(GatewayError) as caught:
        contract_of(gateway).evaluate_transaction("ReadService", "svc9")
    assert not isinstance(caught.value, EndorseError)
    assert caught.value.code == grpc.StatusCode.UNKNOWN
    assert error_code(caught.value) == "NOT_FOUND"


def test_submit_failure_is_a_submit_error(gateway, peer):
    servicer, _ = peer
    servicer.failures["Submit"] = (grpc.StatusCode.ABORTED, "received unsuccessful response from orderer", [])
    with pytest.raises(SubmitError) as caught:
        contract_of(gateway).submit_transaction("Buy", "svc1", "5")
    assert caught.value.transaction_id == servicer.calls[0][1].transaction_id
    assert caught.value.details == [] and error_code(caught.value) is None


def test_commit_status_timeout_is_a_commit_status_error_with_the_transaction_id(peer, tls, user):
    servicer, address = peer
    servicer.commit_delay = 1.0
    identity, signer = user
    with connect(address, tls["ca"], identity, signer, server_name_override=PEER_NAME,
                 timeouts=Timeouts(commit_status=0.2)) as gw:
        with pytest.raises(CommitStatusError) as caught:
            contract_of(gw).submit_transaction("Buy", "svc1", "5")
    assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert caught.value.transaction_id == servicer.calls[0][1].transaction_id


def test_offline_signing_completes_a_submit_without_the_gateway_holding_a_key(peer, tls, user):
    servicer, address = peer
    identity, wallet = user  # only the "client" holds the key
    with connect(address, tls["ca"], identity, server_name_override=PEER_NAME) as gw:
        unsigned = contract_of(gw).new_proposal("Buy", "svc1", "5")
        transaction = gw.new_signed_proposal(unsigned.bytes(), wallet.sign(unsigned.digest())).endorse()
        commit = gw.new_signed_transaction(transaction.bytes(), wallet.sign(transaction.digest())).submit()
        status = gw.new_signed_commit(commit.bytes(), wallet.sign(commit.digest())).status()
    assert status.successful and status.block_number == 7
    assert status.transaction_id == unsigned.transaction_id
    assert [name for name, _ in servicer.calls] == ["Endorse", "Submit", "CommitStatus"]


def test_a_shared_connection_reuses_one_channel_for_many_identities(peer, tls, user):
    servicer, address = peer
    identity, signer = user
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = Identity("Org1MSP", certificate("User2", other_key))
    connection = Connection(address, tls["ca"], server_name_override=PEER_NAME)
    try:
        for who, key in ((identity, signer), (other, EcdsaSigner(other_key))):
            with Gateway(connection, who, key) as gw:
                contract_of(gw).evaluate_transaction("Whoami")
        assert len(connection._channels) == 1
        channel = connection.channel(0)
        assert contract_of(Gateway(connection, identity, signer)).evaluate_transaction("X") == b"X@peer0"
        assert connection.channel(0) is channel
    finally:
        connection.close()


def test_failover_to_the_second_peer_when_the_first_is_down(plain_peers, user):
    (first, first_address), (second, second_address) = plain_peers
    identity, signer = user
    down = _free_port_address()
    with connect([down, second_address], identity=identity, signer=signer, insecure=True, connect_timeout=0.3) as gw:
        assert contract_of(gw).evaluate_transaction("Q") == b"Q@peer1"
        assert contract_of(gw).submit_transaction("Buy", "svc1") == b"ok:Buy"
        # The peer that answered is preferred afterwards: no second wait for the dead one.
        assert gw.connection.attempt_order()[0] == 1


def test_failover_on_unavailable_but_not_on_a_chaincode_error(plain_peers, user):
    (first, first_address), (second, second_address) = plain_peers
    identity, signer = user
    first.failures["Evaluate"] = (grpc.StatusCode.UNAVAILABLE, "no peers available", [])
    with connect([first_address, second_address], identity=identity, signer=signer, insecure=True) as gw:
        assert contract_of(gw).evaluate_transaction("Q") == b"Q@peer1"

    first.failures["Evaluate"] = (grpc.StatusCode.UNKNOWN, "chaincode response 500, NOT_FOUND: x", [])
    second.calls.clear()
    with connect([Endpoint(first_address), Endpoint(second_address)], identity=identity, signer=signer, insecure=True) as gw:
        with pytest.raises(GatewayError) as caught:
            contract_of(gw).evaluate_transaction("Q")
    assert error_code(caught.value) == "NOT_FOUND"
    assert second.calls == []


def test_all_peers_down_is_unavailable(user):
    identity, signer = user
    with connect([_free_port_address(), _free_port_address()], identity=identity, signer=signer,
                 insecure=True, connect_timeout=0.2, timeouts=Timeouts(evaluate=2)) as gw:
        with pytest.raises(GatewayError) as caught:
            contract_of(gw).evaluate_transaction("Q")
    assert caught.value.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def _event_blocks():
    return [
        gateway_pb2.ChaincodeEventsResponse(block_number=12, events=[
            chaincode_event_pb2.ChaincodeEvent(chaincode_id=CHAINCODE, tx_id="txA", event_name="Bought", payload=b"1"),
            chaincode_event_pb2.ChaincodeEvent(chaincode_id=CHAINCODE, tx_id="txB", event_name="Reduced", payload=b"2"),
        ]),
        gateway_pb2.ChaincodeEventsResponse(block_number=13, events=[
            chaincode_event_pb2.ChaincodeEvent(chaincode_id=CHAINCODE, tx_id="txC", event_name="Rewarded", payload=b"3"),
        ]),
    ]


def test_chaincode_events_stream_with_block_numbers_and_resume_position(gateway, peer):
    servicer, _ = peer
    servicer.events = _event_blocks()
    checkpointer = fabric_gateway.InMemoryCheckpointer()
    with gateway.get_network(CHANNEL).chaincode_events(CHAINCODE, checkpoint=EventPosition(12, "txZ")) as events:
        received = []
        for event in events:
            received.append(event)
            checkpointer.checkpoint_chaincode_event(event)
    assert [(e.block_number, e.transaction_id, e.event_name, e.payload) for e in received] == [
        (12, "txA", "Bought", b"1"), (12, "txB", "Reduced", b"2"), (13, "txC", "Rewarded", b"3"),
    ]
    request = gateway_pb2.ChaincodeEventsRequest.FromString(servicer.calls[0][1].request)
    assert request.start_position.specified.number == 12 and request.after_transaction_id == "txZ"
    assert (checkpointer.block_number, checkpointer.transaction_id) == (13, "txC")


# --- asyncio ---------------------------------------------------------------------------------------------


async def test_async_submit_and_evaluate_over_tls(peer, tls, user):
    servicer, address = peer
    identity, signer = user
    async with aio.connect(address, tls["ca"], identity, signer, server_name_override=PEER_NAME) as gw:
        contract = gw.get_network(CHANNEL).get_contract(CHAINCODE)
        assert await contract.evaluate_transaction("GetBalance", "bob") == b"GetBalance|bob@peer0"
        assert await contract.submit_transaction("Buy", "svc1", "5") == b"ok:Buy"
    assert [name for name, _ in servicer.calls] == ["Evaluate", "Endorse", "Submit", "CommitStatus"]


async def test_async_commit_and_endorse_failures_are_typed_errors(peer, tls, user):
    servicer, address = peer
    identity, signer = user
    servicer.commit_codes.extend([transaction_pb2.MVCC_READ_CONFLICT])
    async with aio.connect(address, tls["ca"], identity, signer, server_name_override=PEER_NAME) as gw:
        contract = gw.get_network(CHANNEL).get_contract(CHAINCODE)
        with pytest.raises(CommitError) as conflict:
            await contract.submit_transaction("Buy", "svc1")
        assert conflict.value.code_name == "MVCC_READ_CONFLICT"
        assert [name for name, _ in servicer.calls] == ["Endorse", "Submit", "CommitStatus"]
        assert await contract.submit_transaction("Buy", "svc1") == b"ok:Buy"
        servicer.failures["Endorse"] = (grpc.StatusCode.ABORTED, "failed to endorse", [
            gateway_pb2.ErrorDetail(address="p", msp_id="Org1MSP", message="chaincode response 500, NOT_FOUND: x"),
        ])
        with pytest.raises(EndorseError) as caught:
            await contract.submit_transaction("Buy", "svc1")
    assert error_code(caught.value) == "NOT_FOUND"


async def test_async_failover_and_offline_signing(plain_peers, user):
    (_, _), (second, second_address) = plain_peers
    identity, wallet = user
    async with aio.connect([_free_port_address(), second_address], identity=identity, insecure=True,
                           connect_timeout=0.3) as gw:
        proposal = gw.get_network(CHANNEL).get_contract(CHAINCODE).new_proposal("Q")
        signed = gw.new_signed_proposal(proposal.bytes(), wallet.sign(proposal.digest()))
        assert await signed.evaluate() == b"Q@peer1"


async def test_async_chaincode_events(peer, tls, user):
    servicer, address = peer
    servicer.events = _event_blocks()
    identity, signer = user
    async with aio.connect(address, tls["ca"], identity, signer, server_name_override=PEER_NAME) as gw:
        stream = await gw.get_network(CHANNEL).chaincode_events(CHAINCODE, start_block=12)
        async with stream:
            received = [event.transaction_id async for event in stream]
    assert received == ["txA", "txB", "txC"]
    request = gateway_pb2.ChaincodeEventsRequest.FromString(servicer.calls[0][1].request)
    assert request.start_position.specified.number == 12


def test_readiness_probe_sees_a_live_peer_and_not_a_dead_one(plain_peers):
    (_, live), _ = plain_peers
    with Connection([_free_port_address(), live], insecure=True) as connection:
        assert connection.reachable(timeout=1.0)
    with Connection(_free_port_address(), insecure=True) as connection:
        assert not connection.reachable(timeout=0.2)


def test_closing_an_open_event_stream_ends_the_iteration_quietly(gateway, peer):
    servicer, _ = peer
    servicer.events = _event_blocks()[:1]
    servicer.hold_events_open = True
    stream = gateway.get_network(CHANNEL).chaincode_events(CHAINCODE)
    events = iter(stream)
    assert next(events).transaction_id == "txA"
    assert next(events).transaction_id == "txB"
    stream.close()
    started = time.monotonic()
    assert list(events) == []
    assert time.monotonic() - started < 2


async def test_async_closing_an_open_event_stream_ends_the_iteration_quietly(peer, tls, user):
    servicer, address = peer
    servicer.events = _event_blocks()[:1]
    servicer.hold_events_open = True
    identity, signer = user
    async with aio.connect(address, tls["ca"], identity, signer, server_name_override=PEER_NAME) as gw:
        stream = await gw.get_network(CHANNEL).chaincode_events(CHAINCODE)
        received = []
        async for event in stream:
            received.append(event.transaction_id)
            if len(received) == 2:
                stream.close()
    assert received == ["txA", "txB"]
