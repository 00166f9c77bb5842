"""The bytes fabric_gateway builds, checked against Fabric's rules without a network."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.x509.oid import NameOID
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2, proposal_response_pb2, transaction_pb2

from fabric_gateway import (
    Connection,
    EcdsaSigner,
    EventPosition,
    Gateway,
    Identity,
    InMemoryCheckpointer,
    SignerRequiredError,
    load_identity,
    load_signer,
)
from fabric_gateway.events import ChaincodeEvent
from fabric_gateway.transaction import invocation_of
from fabric_gateway.signing import P256_ORDER, is_low_s, to_low_s

CHANNEL = "mychannel"
CHAINCODE = "tdses"


def make_identity(msp_id: str = "Org1MSP", cn: str = "User1@org1.example.com"):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return Identity(msp_id, cert.public_bytes(serialization.Encoding.PEM)), EcdsaSigner(key)


def verify(identity: Identity, signature: bytes, message: bytes) -> None:
    """Verify as a peer does: ECDSA-SHA256 over the message, with the creator's certificate, S in the low half."""
    identity.certificate_object().public_key().verify(signature, message, ec.ECDSA(hashes.SHA256()))
    assert decode_dss_signature(signature)[1] <= P256_ORDER // 2


@pytest.fixture
def user():
    return make_identity()


@pytest.fixture
def gateway(user):
    identity, signer = user
    # Channels are opened lazily: nothing in this file touches the network.
    return Gateway(Connection("localhost:1", insecure=True), identity, signer)


@pytest.fixture
def offline_gateway(user):
    identity, _ = user
    return Gateway(Connection("localhost:1", insecure=True), identity)


def parse_proposal(proposal_bytes: bytes):
    proposal = proposal_pb2.Proposal.FromString(proposal_bytes)
    header = common_pb2.Header.FromString(proposal.header)
    channel_header = common_pb2.ChannelHeader.FromString(header.channel_header)
    signature_header = common_pb2.SignatureHeader.FromString(header.signature_header)
    payload = proposal_pb2.ChaincodeProposalPayload.FromString(proposal.payload)
    invocation = chaincode_pb2.ChaincodeInvocationSpec.FromString(payload.input)
    return channel_header, signature_header, payload, invocation


# --- signing -------------------------------------------------------------------------------------------


def test_signatures_verify_with_the_certificate_and_are_always_low_s(user):
    identity, signer = user
    for n in range(64):  # a raw ECDSA signature is high-S half of the time
        message = f"message {n}".encode()
        signature = signer.sign(hashlib.sha256(message).digest())
        verify(identity, signature, message)


def test_to_low_s_flips_a_high_s_signature_into_an_equivalent_low_one(user):
    identity, signer = user
    message = b"payload"
    r, s = decode_dss_signature(signer.sign(hashlib.sha256(message).digest()))
    high = encode_dss_signature(r, P256_ORDER - s)
    identity.certificate_object().public_key().verify(high, message, ec.ECDSA(hashes.SHA256()))
    assert not is_low_s(high)
    low = to_low_s(high)
    assert is_low_s(low) and decode_dss_signature(low) == (r, s)


def test_signature_by_another_key_does_not_verify(user):
    identity, _ = user
    _, other = make_identity()
    with pytest.raises(InvalidSignature):
        verify(identity, other.sign(hashlib.sha256(b"m").digest()), b"m")


def test_signer_rejects_a_digest_that_is_not_a_sha256_or_sha384_length(user):
    _, signer = user
    with pytest.raises(ValueError):
        signer.sign(b"not a digest")


def test_keys_and_identities_load_from_pem_files_including_encrypted_keys(tmp_path, user):
    identity, signer = user
    (tmp_path / "cert.pem").write_bytes(identity.certificate)
    (tmp_path / "key.pem").write_bytes(signer.private_key_pem(password="s3cret"))
    assert b"ENCRYPTED" in (tmp_path / "key.pem").read_bytes()

    loaded = load_signer(tmp_path / "key.pem", password="s3cret")
    assert load_identity("Org1MSP", tmp_path / "cert.pem") == identity
    verify(identity, loaded.sign(hashlib.sha256(b"x").digest()), b"x")
    with pytest.raises((TypeError, ValueError)):
        load_signer(tmp_path / "key.pem", password="wrong")


def test_creator_is_the_serialized_msp_identity(user):
    identity, _ = user
    creator = identities_pb2.SerializedIdentity.FromString(identity.creator())
    assert creator.mspid == "Org1MSP"
    assert creator.id_bytes == identity.certificate


# --- proposals ------------------------------------------------------------------------------------------


def test_transaction_id_is_sha256_of_nonce_and_creator(gateway, user):
    identity, _ = user
    proposal = gateway.get_network(CHANNEL).get_contract(CHAINCODE).new_proposal("GetBalance", "alice")
    channel_header, signature_header, _, _ = parse_proposal(
        gateway_pb2.ProposedTransaction.FromString(proposal.bytes()).proposal.proposal_bytes
    )
    assert len(signature_header.nonce) == 24
    assert signature_header.creator == identity.creator()
    expected = hashlib.sha256(signature_header.nonce + identity.creator()).hexdigest()
    assert proposal.transaction_id == expected
    assert channel_header.tx_id == expected


def test_each_proposal_gets_a_fresh_nonce_and_transaction_id(gateway):
    contract = gateway.get_network(CHANNEL).get_contract(CHAINCODE)
    ids = {contract.new_proposal("GetBalance", "alice").transaction_id for _ in range(5)}
    assert len(ids) == 5


def test_proposal_headers_and_payload_are_what_a_peer_expects(gateway):
    contract = gateway.get_network(CHANNEL).get_contract(CHAINCODE)
    proposal = contract.new_proposal(
        "Transfer", "alice", b"\x00bob", "10", transient={"secret": b"k"}, endorsing_orgs=["Org1MSP", "Org2MSP"]
    )
    proposed = gateway_pb2.ProposedTransaction.FromString(proposal.bytes())
    channel_header, _, payload, invocation = parse_proposal(proposed.proposal.proposal_bytes)

    assert channel_header.type == common_pb2.ENDORSER_TRANSACTION
    assert channel_header.channel_id == CHANNEL
    assert channel_header.epoch == 0
    sent = channel_header.timestamp.ToDatetime(tzinfo=dt.timezone.utc)
    assert abs((dt.datetime.now(dt.timezone.utc) - sent).total_seconds()) < 60
    extension = proposal_pb2.ChaincodeHeaderExtension.FromString(channel_header.extension)
    assert extension.chaincode_id.name == CHAINCODE

    assert invocation.chaincode_spec.chaincode_id.name == CHAINCODE
    assert list(invocation.chaincode_spec.input.args) == [b"Transfer", b"alice", b"\x00bob", b"10"]
    assert dict(payload.TransientMap) == {"secret": b"k"}
    assert list(proposed.endorsing_organizations) == ["Org1MSP", "Org2MSP"]
    assert proposal.channel_id == CHANNEL


def test_each_chaincode_and_channel_is_named_in_its_own_proposals(gateway):
    for channel, chaincode in [(CHANNEL, CHAINCODE), ("other", "metering"), (CHANNEL, CHAINCODE)]:
        proposal = gateway.get_network(channel).get_contract(chaincode).new_proposal("GetBalance", "alice")
        channel_header, _, _, invocation = parse_proposal(
            gateway_pb2.ProposedTransaction.FromString(proposal.bytes()).proposal.proposal_bytes)
        extension = proposal_pb2.ChaincodeHeaderExtension.FromString(channel_header.extension)
        assert (channel_header.channel_id, proposal.channel_id) == (channel, channel)
        assert extension.chaincode_id.name == invocation.chaincode_spec.chaincode_id.name == chaincode


def test_a_named_contract_qualifies_the_transaction_name(gateway):
    contract = gateway.get_network(CHANNEL).get_contract(CHAINCODE, "RightsContract")
    proposal = contract.new_proposal("Buy", "svc1")
    _, _, _, invocation = parse_proposal(gateway_pb2.ProposedTransaction.FromString(proposal.bytes()).proposal.proposal_bytes)
    assert invocation.chaincode_spec.input.args[0] == b"RightsContract:Buy"


def test_requests_carry_the_proposal_signed_over_its_bytes(gateway, user):
    identity, _ = user
    proposal = gateway.get_network(CHANNEL).get_contract(CHAINCODE).new_proposal("GetBalance", "alice", endorsing_orgs=["Org2MSP"])
    evaluate = proposal.evaluate_request()
    endorse = proposal.endorse_request()
    verify(identity, evaluate.proposed_transaction.signature, evaluate.proposed_transaction.proposal_bytes)
    assert evaluate.transaction_id == endorse.transaction_id == proposal.transaction_id
    assert evaluate.channel_id == endorse.channel_id == CHANNEL
    assert list(evaluate.target_organizations) == ["Org2MSP"]
    assert list(endorse.endorsing_organizations) == ["Org2MSP"]
    assert proposal.digest() == hashlib.sha256(evaluate.proposed_transaction.proposal_bytes).digest()


# --- offline signing ------------------------------------------------------------------------------------


def test_offline_proposal_cannot_be_sent_unsigned(offline_gateway):
    proposal = offline_gateway.get_network(CHANNEL).get_contract(CHAINCODE).new_proposal("GetBalance", "alice")
    with pytest.raises(SignerRequiredError):
        proposal.evaluate_request()


def test_offline_signature_made_elsewhere_is_attached_to_the_rebuilt_proposal(offline_gateway, user):
    identity, wallet = user  # the wallet stands for a key that never reaches the gateway
    proposal = offline_gateway.get_network(CHANNEL).get_contract(CHAINCODE).new_proposal("Buy", "svc1", "5")
    signature = wallet.sign(proposal.digest())

    signed = offline_gateway.new_signed_proposal(proposal.bytes(), signature)
    request = signed.endorse_request()
    assert signed.transaction_id == proposal.transaction_id
    assert signed.channel_id == CHANNEL
    assert request.proposed_transaction.signature == signature
    verify(identity, request.proposed_transaction.signature, request.proposed_transaction.proposal_bytes)


# --- endorsed transactions, commit status and events requests --------------------------------------------


def prepared_envelope(channel: str, tx_id: str, result: bytes, creator: bytes) -> common_pb2.Envelope:
    """An envelope shaped like the one Gateway.Endorse returns."""
    channel_header = common_pb2.ChannelHeader(type=common_pb2.ENDORSER_TRANSACTION, channel_id=channel, tx_id=tx_id)
    header = common_pb2.Header(
        channel_header=channel_header.SerializeToString(),
        signature_header=common_pb2.SignatureHeader(creator=creator, nonce=b"n" * 24).SerializeToString(),
    )
    action = proposal_pb2.ChaincodeAction(response=proposal_response_pb2.Response(status=200, payload=result))
    response_payload = proposal_response_pb2.ProposalResponsePayload(proposal_hash=b"h", extension=action.SerializeToString())
    action_payload = transaction_pb2.ChaincodeActionPayload(
        action=transaction_pb2.ChaincodeEndorsedAction(proposal_response_payload=response_payload.SerializeToString())
    )
    transaction = transaction_pb2.Transaction(
        actions=[transaction_pb2.TransactionAction(header=header.signature_header, payload=action_payload.SerializeToString())]
    )
    payload = common_pb2.Payload(header=header, data=transaction.SerializeToString())
    return common_pb2.Envelope(payload=payload.SerializeToString())


def test_the_call_a_committed_transaction_made_is_read_from_its_envelope(gateway, user):
    identity, _ = user
    proposed = gateway_pb2.ProposedTransaction.FromString(gateway.get_network(CHANNEL).get_contract(CHAINCODE)
                                                          .new_proposal("Transfer", "alice", b"\x00bob", "10").bytes())
    proposal = proposal_pb2.Proposal.FromString(proposed.proposal.proposal_bytes)
    envelope = prepared_envelope(CHANNEL, "tx1", b"{}", identity.creator())
    payload = common_pb2.Payload.FromString(envelope.payload)
    transaction = transaction_pb2.Transaction.FromString(payload.data)
    action_payload = transaction_pb2.ChaincodeActionPayload.FromString(transaction.actions[0].payload)
    action_payload.chaincode_proposal_payload = proposal.payload  # as the peer puts it in the block
    transaction.actions[0].payload = action_payload.SerializeToString()
    payload.data = transaction.SerializeToString()
    envelope = common_pb2.Envelope(payload=payload.SerializeToString())
    assert invocation_of(envelope) == [b"Transfer", b"alice", b"\x00bob", b"10"]
    with pytest.raises(ValueError):
        invocation_of(common_pb2.Envelope(payload=common_pb2.Payload().SerializeToString()))


def test_transaction_signs_the_envelope_payload_and_exposes_the_result(gateway, offline_gateway, user):
    identity, wallet = user
    envelope = prepared_envelope(CHANNEL, "tx1", b'{"balance":7}', identity.creator())
    prepared = gateway_pb2.PreparedTransaction(transaction_id="tx1", envelope=envelope)

    transaction = gateway.new_transaction(prepared.SerializeToString())
    assert transaction.result == b'{"balance":7}'
    assert transaction.channel_id == CHANNEL
    request = transaction.submit_request()
    assert request.transaction_id == "tx1" and request.channel_id == CHANNEL
    assert request.prepared_transaction.payload == envelope.payload
    verify(identity, request.prepared_transaction.signature, envelope.payload)

    offline = offline_gateway.new_transaction(prepared.SerializeToString())
    signed = offline_gateway.new_signed_transaction(offline.bytes(), wallet.sign(offline.digest()))
    verify(identity, signed.submit_request().prepared_transaction.signature, envelope.payload)


def test_commit_status_request_names_the_transaction_and_identity_and_is_signed(gateway, user):
    identity, _ = user
    commit = gateway.get_network(CHANNEL).new_commit("tx42")
    signed = commit.signed_request()
    request = gateway_pb2.CommitStatusRequest.FromString(signed.request)
    assert (request.transaction_id, request.channel_id, request.identity) == ("tx42", CHANNEL, identity.creator())
    verify(identity, signed.signature, signed.request)
    assert gateway.new_commit(commit.bytes()).transaction_id == "tx42"


def test_events_request_starts_at_next_commit_by_default(gateway):
    request = gateway.get_network(CHANNEL).new_chaincode_events_request(CHAINCODE)
    parsed = gateway_pb2.ChaincodeEventsRequest.FromString(
        gateway_pb2.SignedChaincodeEventsRequest.FromString(request.bytes()).request
    )
    assert parsed.start_position.WhichOneof("Type") == "next_commit"
    assert parsed.chaincode_id == CHAINCODE and parsed.channel_id == CHANNEL
    assert parsed.after_transaction_id == ""


def test_events_request_resumes_from_a_checkpoint_over_a_start_block(gateway, user):
    identity, _ = user
    checkpointer = InMemoryCheckpointer()
    checkpointer.checkpoint_chaincode_event(ChaincodeEvent(12, "txA", CHAINCODE, "Bought", b""))
    network = gateway.get_network(CHANNEL)
    for checkpoint in (checkpointer, EventPosition(12, "txA")):
        signed = network.new_chaincode_events_request(CHAINCODE, start_block=3, checkpoint=checkpoint).signed_request()
        parsed = gateway_pb2.ChaincodeEventsRequest.FromString(signed.request)
        assert parsed.start_position == ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=12))
        assert parsed.after_transaction_id == "txA"
        assert parsed.identity == identity.creator()
        verify(identity, signed.signature, signed.request)

    signed = network.new_chaincode_events_request(CHAINCODE, start_block=3, checkpoint=InMemoryCheckpointer()).signed_request()
    parsed = gateway_pb2.ChaincodeEventsRequest.FromString(signed.request)
    assert parsed.start_position.specified.number == 3 and parsed.after_transaction_id == ""


def test_checkpoint_block_moves_to_the_next_block():
    checkpointer = InMemoryCheckpointer(5, "tx")
    checkpointer.checkpoint_block(7)
    assert (checkpointer.block_number, checkpointer.transaction_id) == (8, "")
