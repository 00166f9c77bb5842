"""Non-custodial writes without a network: the peers' endorse, submit and commit status stand in, so that their
failures can be chosen; the gateway, its store and the client's signatures are real."""

from __future__ import annotations

import asyncio
import base64
import time

import grpc
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature, encode_dss_signature
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import proposal_pb2, proposal_response_pb2, transaction_pb2

from fabric_gateway import CommitStatusError, EndorseError, ErrorDetail, SubmitError, aio
from fabric_gateway.commit import Status
from fabric_gateway.signing import P256_ORDER
from tdses.rest.main import app as gateway_app
from tdses.rest.services.tokens import token_hash
from tdses.rest.store import ACTIVE, UserRecord
from tests.unit.test_rest_app import build_gateway, certificate, client


class Peers:
    """What reached the peers, and the failure each next step meets (None: it succeeds)."""

    def __init__(self, monkeypatch, *applications) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail = {"endorse": [], "submit": [], "commit": []}
        # Endorsements at once: a successful one answers only once a failing one has (it lost the race).
        self.success_after_failure = False
        self.failed = asyncio.Event()
        peers = self

        async def endorse(proposal, *, timeout=None):
            peers.calls.append(("endorse", proposal.transaction_id))
            failure = peers.fail["endorse"].pop(0) if peers.fail["endorse"] else None
            if failure is not None:
                peers.failed.set()
                raise failure(proposal.transaction_id)
            if peers.success_after_failure:
                await asyncio.wait_for(peers.failed.wait(), 10)
            return aio.Transaction(proposal._client, proposal._signing,
                                   proposal.prepared_transaction(endorsed(proposal)))

        async def submit(transaction, *, timeout=None):
            peers.calls.append(("submit", transaction.transaction_id))
            peers.raise_next("submit", transaction.transaction_id)

        async def commit_status(transaction_id, principal=None, timeout=None):
            peers.calls.append(("commit", transaction_id))
            peers.raise_next("commit", transaction_id)
            return Status(transaction_id, transaction_pb2.VALID, 7)

        async def propagated(block_number):
            return None

        monkeypatch.setattr(aio.Proposal, "endorse", endorse)
        monkeypatch.setattr(aio.Transaction, "submit", submit)
        for application in applications:
            ledger = application.state.context.ledger
            monkeypatch.setattr(ledger, "commit_status", commit_status)
            monkeypatch.setattr(ledger, "propagated", propagated)

    def raise_next(self, step: str, transaction_id: str) -> None:
        if self.fail[step]:
            error = self.fail[step].pop(0)
            if error is not None:
                raise error(transaction_id)

    def steps(self) -> list[str]:
        return [step for step, _ in self.calls]


def endorsed(proposal) -> gateway_pb2.EndorseResponse:
    """The prepared transaction the gateway peer would answer an endorsement with."""
    header = common_pb2.Header.FromString(proposal_pb2.Proposal.FromString(
        proposal._proposed.proposal.proposal_bytes).header)
    action = proposal_pb2.ChaincodeAction(response=proposal_response_pb2.Response(status=200, payload=b'{"ok":1}'))
    payload = proposal_response_pb2.ProposalResponsePayload(extension=action.SerializeToString())
    endorsed_action = transaction_pb2.ChaincodeEndorsedAction(proposal_response_payload=payload.SerializeToString(),
                                                              endorsements=[proposal_response_pb2.Endorsement()])
    transaction = transaction_pb2.Transaction(actions=[transaction_pb2.TransactionAction(
        payload=transaction_pb2.ChaincodeActionPayload(action=endorsed_action).SerializeToString())])
    envelope = common_pb2.Envelope(payload=common_pb2.Payload(header=header, data=transaction.SerializeToString())
                                   .SerializeToString())
    return gateway_pb2.EndorseResponse(prepared_transaction=envelope)


def signed(key: ec.EllipticCurvePrivateKey, digest: str) -> dict:
    r, s = decode_dss_signature(key.sign(base64.b64decode(digest), ec.ECDSA(Prehashed(hashes.SHA256()))))
    return {"signature": base64.b64encode(encode_dss_signature(r, min(s, P256_ORDER - s))).decode()}


@pytest.fixture
def carol(tmp_path):
    """A gateway and carol, a non-custodial user whose key is here."""
    application, _ = build_gateway(tmp_path)
    key = ec.generate_private_key(ec.SECP256R1())
    application.state.context.store.add_user(UserRecord("carol", token_hash("carol-token"), certificate("carol", key),
                                                        None, custodial=False, state=ACTIVE))
    return application, key


def deadline(error_type):
    return lambda tx: error_type(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded", transaction_id=tx)


async def test_a_transaction_whose_submission_failed_is_sent_again_by_its_signature_and_commits(carol, monkeypatch):
    application, key = carol
    peers = Peers(monkeypatch, application)
    peers.fail["submit"] = [deadline(SubmitError)]  # the orderer may have it, or not
    async with client(application, "carol-token") as http:
        prepared = (await http.post("/v1/services/weather/rights", json={"calls": 4})).json()
        url = prepared["signatureUrl"]
        to_sign = (await http.post(url, json=signed(key, prepared["digest"]))).json()
        timed_out = await http.post(url, json=signed(key, to_sign["digest"]))
        assert (timed_out.status_code, timed_out.json()["code"]) == (504, "PEER_TIMEOUT")
        again = await http.post(url, json=signed(key, to_sign["digest"]))
        assert again.status_code == 200 and again.json()["transactionId"] == prepared["transactionId"]
        assert (await http.post(url, json=signed(key, to_sign["digest"]))).status_code == 404  # done with
    assert peers.steps() == ["endorse", "submit", "submit", "commit"]
    assert {tx for _, tx in peers.calls} == {prepared["transactionId"]}  # one transaction, sent twice


async def test_a_removal_whose_commit_was_not_seen_in_time_is_finished_by_a_poll(carol, monkeypatch):
    application, key = carol
    peers = Peers(monkeypatch, application)
    peers.fail["commit"] = [deadline(CommitStatusError)]
    async with client(application, "carol-token") as http:
        prepared = (await http.request("DELETE", "/v1/users/carol")).json()
        to_sign = (await http.post(prepared["signatureUrl"], json=signed(key, prepared["digest"]))).json()
        timed_out = await http.post(prepared["signatureUrl"], json=signed(key, to_sign["digest"]))
        assert (timed_out.status_code, timed_out.json()["code"]) == (504, "COMMIT_TIMEOUT")
        assert application.state.context.store.user("carol").state == ACTIVE  # not known to have committed
        polled = await http.get(f"/v1/transactions/{prepared['transactionId']}")
        assert polled.status_code == 200 and polled.json()["valid"] is True
        assert (await http.get("/v1/users/me")).status_code == 401  # removed: her token went with her key
    assert application.state.context.store.pending(prepared["transactionId"]) is None


async def test_only_the_chaincode_s_refusal_of_an_endorsement_ends_the_transaction(carol, monkeypatch):
    application, key = carol
    peers = Peers(monkeypatch, application)
    refused = lambda tx: EndorseError(grpc.StatusCode.ABORTED, "failed to endorse", [ErrorDetail(  # noqa: E731
        "peer0:7051", "Org1MSP", "chaincode response 500, INSUFFICIENT_FUNDS: alice has 0")], transaction_id=tx)
    peers.fail["endorse"] = [lambda tx: EndorseError(grpc.StatusCode.UNAVAILABLE, "no peer", transaction_id=tx),
                             refused]
    async with client(application, "carol-token") as http:
        prepared = (await http.post("/v1/services/weather/rights", json={"calls": 4})).json()
        signature = signed(key, prepared["digest"])
        unavailable = await http.post(prepared["signatureUrl"], json=signature)
        assert (unavailable.status_code, unavailable.headers["retry-after"]) == (503, "5")
        refusal = await http.post(prepared["signatureUrl"], json=signature)  # sent again, as the 503 said
        assert (refusal.status_code, refusal.json()["code"]) == (409, "INSUFFICIENT_FUNDS")
        assert (await http.post(prepared["signatureUrl"], json=signature)).status_code == 404
    assert peers.steps() == ["endorse", "endorse"]


async def test_a_proposal_signature_sent_to_two_replicas_at_once_keeps_the_endorsement_that_succeeded(
        carol, monkeypatch):
    first, key = carol
    second = gateway_app(first.state.context.settings)  # another replica on the same store
    peers = Peers(monkeypatch, first, second)
    peers.success_after_failure = True
    peers.fail["endorse"] = [None, lambda tx: EndorseError(grpc.StatusCode.ABORTED, "duplicate transaction being "
                                                            "endorsed", transaction_id=tx)]
    async with client(first, "carol-token") as one, client(second, "carol-token") as two:
        prepared = (await one.post("/v1/services/weather/rights", json={"calls": 4})).json()
        signature = signed(key, prepared["digest"])
        answers = await asyncio.gather(one.post(prepared["signatureUrl"], json=signature),
                                       two.post(prepared["signatureUrl"], json=signature))
        assert sorted(a.status_code for a in answers) == [202, 502]
        to_sign = next(a for a in answers if a.status_code == 202).json()
        again = await two.post(prepared["signatureUrl"], json=signature)  # the loser's client tries again
        assert again.status_code == 202 and again.json()["digest"] == to_sign["digest"]
        assert (await two.post(prepared["signatureUrl"], json=signed(key, to_sign["digest"]))).status_code == 200


async def test_a_transaction_submitted_late_in_its_life_is_kept_for_its_outcome(carol, monkeypatch):
    application, key = carol
    store = application.state.context.store
    peers = Peers(monkeypatch, application)
    peers.fail["commit"] = [deadline(CommitStatusError)]
    async with client(application, "carol-token") as http:
        prepared = (await http.request("DELETE", "/v1/users/carol")).json()
        to_sign = (await http.post(prepared["signatureUrl"], json=signed(key, prepared["digest"]))).json()
        record = store.pending(prepared["transactionId"])
        monkeypatch.setattr(time, "time", lambda: record.expires_at - 1)  # a second before it would expire
        assert (await http.post(prepared["signatureUrl"], json=signed(key, to_sign["digest"]))).status_code == 504
        monkeypatch.setattr(time, "time", lambda: record.expires_at + 60)  # its commit status, polled later
        assert (await http.get(f"/v1/transactions/{prepared['transactionId']}")).json()["valid"] is True
    assert store.user("carol").state != ACTIVE  # the removal's after-commit ran
