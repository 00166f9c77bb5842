"""tdses.retry: the backoff, and each rule of the official clients' error-handling guidance — what runs again, with
the same or a new transaction ID, and what never does."""

from __future__ import annotations

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fabric_gateway import (
    CommitError,
    CommitStatusError,
    EcdsaSigner,
    EndorseError,
    ErrorDetail,
    GatewayError,
    Identity,
    SubmitError,
    aio,
    is_duplicate_transaction,
)
from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import transaction_pb2

import tdses.retry
from tdses.chaincode import error_code
from tdses.rest.services.ledger import commit_not_seen_in_time, too_few_peers
from tdses.retry import Committed, Retry, RetryPolicy, next_step

from tests.support.fake_contract import BLOCK, FakeContract, FakeNetwork
from tests.support.fake_gateway import FakeGateway, serve
from tests.support.pki import certificate

MVCC, PHANTOM = transaction_pb2.MVCC_READ_CONFLICT, transaction_pb2.PHANTOM_READ_CONFLICT


@pytest.fixture
def slept(monkeypatch) -> list[float]:
    delays: list[float] = []

    async def instant(delay: float) -> None:
        delays.append(delay)

    monkeypatch.setattr(tdses.retry, "sleep", instant)  # not asyncio.sleep: other loops use it
    return delays


def refusal(code: str, status: grpc.StatusCode = grpc.StatusCode.ABORTED) -> EndorseError:
    return EndorseError(status, "failed to endorse transaction, see attached details for more info", [
        ErrorDetail("peer0.org1.example.com:7051", "Org1MSP", f"chaincode response 500, {code}: refused")])


def duplicate_at_endorsement() -> EndorseError:
    return EndorseError(grpc.StatusCode.ABORTED, "failed to endorse", [
        ErrorDetail("peer0.org1.example.com:7051", "Org1MSP", "duplicate transaction found [ab12]. Creator [0a07]")])


async def submit(policy: RetryPolicy, contract: FakeContract, **options) -> Committed:
    return await policy.submit(contract, "BuyCalls", "svc1", "5", network=FakeNetwork(contract), **options)


# --- backoff ---------------------------------------------------------------------------------------------


def test_backoff_grows_exponentially_up_to_its_cap_with_bounded_jitter():
    policy = RetryPolicy(attempts=6, initial_backoff=0.1, max_backoff=0.5, jitter=0.2)
    for _ in range(50):
        delays = policy.delays()
        assert len(delays) == 5
        for retry, delay in enumerate(delays, 1):
            base = min(0.5, 0.1 * 2 ** (retry - 1))
            assert base * 0.8 <= delay <= min(0.5, base * 1.2)
    assert RetryPolicy(jitter=0).delays() == [0.1, 0.2]


def test_a_policy_needs_one_attempt_and_no_negative_backoff():
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(initial_backoff=-1)
    assert RetryPolicy(attempts=1).delays() == []


# --- against a gateway peer (moved from the client library's tests, which no longer retry) -------------------


@pytest.fixture
def peer():
    servicer = FakeGateway("peer0")
    server, address = serve(servicer, None)
    yield servicer, address
    server.stop(None)


@pytest.fixture
def user():
    key = ec.generate_private_key(ec.SECP256R1())
    return Identity("Org1MSP", certificate("User1@org1.example.com", key)), EcdsaSigner(key)


async def submit_through(address: str, user, policy: RetryPolicy) -> Committed:
    identity, signer = user
    async with aio.connect(address, identity=identity, signer=signer, insecure=True) as gateway:
        network = gateway.get_network("mychannel")
        return await policy.submit(network.get_contract("tdses"), "Buy", "svc1", "5", network=network)


async def test_mvcc_conflict_is_retried_with_a_fresh_transaction(peer, user, slept):
    servicer, address = peer
    servicer.commit_codes.extend([MVCC, PHANTOM])
    committed = await submit_through(address, user, RetryPolicy(attempts=3, initial_backoff=0.01, max_backoff=0.02))
    assert committed.result == b"ok:Buy" and committed.block_number == 7
    endorsed = [request.transaction_id for name, request in servicer.calls if name == "Endorse"]
    assert len(endorsed) == 3 and len(set(endorsed)) == 3 and committed.transaction_id == endorsed[-1]
    assert len(slept) == 2 and all(0 <= d <= 0.02 for d in slept)


async def test_conflicts_stop_after_the_configured_attempts(peer, user, slept):
    servicer, address = peer
    servicer.commit_codes.extend([MVCC] * 5)
    with pytest.raises(CommitError) as caught:
        await submit_through(address, user, RetryPolicy(attempts=3))
    assert caught.value.code_name == "MVCC_READ_CONFLICT"
    assert sum(1 for name, _ in servicer.calls if name == "Submit") == 3
    last_status = gateway_pb2.CommitStatusRequest.FromString(servicer.calls[-1][1].request)
    assert caught.value.transaction_id == last_status.transaction_id


async def test_other_validation_failures_are_not_retried(peer, user, slept):
    servicer, address = peer
    servicer.commit_codes.append(transaction_pb2.ENDORSEMENT_POLICY_FAILURE)
    with pytest.raises(CommitError) as caught:
        await submit_through(address, user, RetryPolicy(attempts=3))
    assert caught.value.code_name == "ENDORSEMENT_POLICY_FAILURE"
    assert sum(1 for name, _ in servicer.calls if name == "Endorse") == 1 and slept == []


# --- the rules, one by one ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                                    grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED])
async def test_a_transient_endorsement_failure_endorses_a_fresh_proposal(status, slept):
    contract = FakeContract(endorse=[EndorseError(status, "endorsers unreachable or disagreeing")])
    committed = await submit(RetryPolicy(), contract)
    assert contract.steps("endorse") == ["tx1", "tx2"] and contract.steps("submit") == ["tx2"]
    assert committed == Committed(b'{"ok": true}', "tx2", BLOCK) and len(slept) == 1


async def test_a_fresh_proposal_keeps_the_callers_transaction_id_since_nothing_was_submitted(slept):
    contract = FakeContract(endorse=[EndorseError(grpc.StatusCode.UNAVAILABLE, "no peer")])
    await submit(RetryPolicy(), contract, nonce=lambda n: bytes([n]) * 24)
    assert contract.nonces == [bytes([1]) * 24, bytes([1]) * 24]


@pytest.mark.parametrize("status", [grpc.StatusCode.ABORTED, grpc.StatusCode.UNKNOWN,
                                    grpc.StatusCode.FAILED_PRECONDITION])
async def test_a_chaincode_refusal_is_never_retried(status, slept):
    contract = FakeContract(endorse=[refusal("INSUFFICIENT_FUNDS", status)])
    with pytest.raises(EndorseError) as caught:
        await submit(RetryPolicy(attempts=5), contract)
    assert error_code(caught.value) == "INSUFFICIENT_FUNDS"
    assert contract.steps("endorse") == ["tx1"] and slept == []


@pytest.mark.parametrize("status", [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED,
                                    grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND])
async def test_other_endorsement_failures_are_never_retried(status, slept):
    contract = FakeContract(endorse=[EndorseError(status, "refused by the gateway")])
    with pytest.raises(EndorseError):
        await submit(RetryPolicy(attempts=5), contract)
    assert contract.steps("endorse") == ["tx1"]


@pytest.mark.parametrize("status", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                                    grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED])
async def test_a_transient_submit_failure_submits_the_same_transaction_again(status, slept):
    contract = FakeContract(submit=[SubmitError(status, "orderer unreachable")])
    committed = await submit(RetryPolicy(), contract)
    assert contract.steps("endorse") == ["tx1"] and contract.steps("submit") == ["tx1", "tx1"]
    assert committed.transaction_id == "tx1"


async def test_a_duplicate_at_submit_awaits_the_same_transactions_commit(slept):
    duplicate = SubmitError(grpc.StatusCode.ABORTED, "duplicate transaction found [tx1]")
    contract = FakeContract(submit=[duplicate])
    committed = await submit(RetryPolicy(), contract)
    assert contract.calls == [("endorse", "tx1"), ("submit", "tx1"), ("new_commit", "tx1"), ("status", "tx1")]
    assert committed.transaction_id == "tx1"


async def test_another_submit_failure_is_never_retried(slept):
    contract = FakeContract(submit=[SubmitError(grpc.StatusCode.PERMISSION_DENIED, "not allowed to write")])
    with pytest.raises(SubmitError):
        await submit(RetryPolicy(attempts=5), contract)
    assert contract.steps("submit") == ["tx1"]


async def test_a_commit_status_failure_asks_the_same_transactions_status_again(slept):
    contract = FakeContract(status=[CommitStatusError(grpc.StatusCode.DEADLINE_EXCEEDED, "not seen in time"),
                                    CommitStatusError(grpc.StatusCode.UNAVAILABLE, "peer down")])
    committed = await submit(RetryPolicy(), contract)
    assert contract.steps("submit") == ["tx1"] and contract.steps("status") == ["tx1"] * 3
    assert committed.transaction_id == "tx1"


@pytest.mark.parametrize("code", [MVCC, PHANTOM])
async def test_a_read_conflict_runs_a_new_transaction(code, slept):
    contract = FakeContract(status=[code])
    committed = await submit(RetryPolicy(), contract, nonce=lambda n: bytes([n]) * 24)
    assert contract.nonces == [bytes([1]) * 24, bytes([2]) * 24]
    assert contract.steps("submit") == [bytes([1] * 24).hex(), bytes([2] * 24).hex()]
    assert committed.transaction_id == bytes([2] * 24).hex()


@pytest.mark.parametrize("code", [transaction_pb2.ENDORSEMENT_POLICY_FAILURE, transaction_pb2.DUPLICATE_TXID,
                                  transaction_pb2.BAD_PROPOSAL_TXID, transaction_pb2.INVALID_OTHER_REASON])
async def test_other_validation_codes_are_never_retried(code, slept):
    contract = FakeContract(status=[code])
    with pytest.raises(CommitError) as caught:
        await submit(RetryPolicy(attempts=5), contract)
    assert caught.value.code == code and caught.value.transaction_id == "tx1"
    assert contract.steps("endorse") == ["tx1"]


async def test_transactions_bound_the_conflict_reruns_while_failed_endorsements_still_go_again(slept):
    # The REST gateway's conflict_retries: one transaction means a conflict is reported, yet an endorsement that
    # failed on the way (endorsers disagreeing) is endorsed again within the attempts.
    contract = FakeContract(endorse=[EndorseError(grpc.StatusCode.ABORTED, "endorsers disagree")], status=[MVCC])
    with pytest.raises(CommitError) as caught:
        await submit(RetryPolicy(attempts=4, transactions=1), contract)
    assert caught.value.code == MVCC
    assert contract.calls == [("endorse", "tx1"), ("endorse", "tx2"), ("submit", "tx2"), ("status", "tx2")]
    with pytest.raises(ValueError):
        RetryPolicy(transactions=0)


async def test_one_budget_bounds_every_attempt_whatever_failed(slept):
    contract = FakeContract(endorse=[EndorseError(grpc.StatusCode.UNAVAILABLE, "down")],
                            submit=[SubmitError(grpc.StatusCode.UNAVAILABLE, "down")],
                            status=[MVCC, MVCC, MVCC])
    with pytest.raises(CommitError):
        await submit(RetryPolicy(attempts=4), contract)
    # Four failures, four attempts: the endorsement, the submission and two conflicts; then the last is raised.
    assert contract.calls == [("endorse", "tx1"),
                              ("endorse", "tx2"), ("submit", "tx2"),
                              ("submit", "tx2"), ("status", "tx2"),
                              ("endorse", "tx3"), ("submit", "tx3"), ("status", "tx3")]
    assert len(slept) == 3


async def test_a_duplicate_at_endorsement_answers_from_what_the_ledger_holds(slept):
    contract = FakeContract(endorse=[duplicate_at_endorsement()])
    looked_up: list[str] = []

    async def recorded(transaction_id: str) -> Committed | None:
        looked_up.append(transaction_id)
        return Committed(b"earlier", transaction_id, 3)

    committed = await submit(RetryPolicy(), contract, nonce=lambda n: bytes([n]) * 24, on_duplicate=recorded)
    assert committed == Committed(b"earlier", bytes([1] * 24).hex(), 3)
    assert looked_up == [bytes([1] * 24).hex()] and contract.steps("submit") == []


async def test_a_duplicate_of_an_invalid_transaction_goes_on_with_the_next_one(slept):
    contract = FakeContract(endorse=[duplicate_at_endorsement()])

    async def recorded(transaction_id: str) -> Committed | None:
        return None  # on the ledger, but invalid: the request has not taken effect

    committed = await submit(RetryPolicy(), contract, nonce=lambda n: bytes([n]) * 24, on_duplicate=recorded)
    assert contract.nonces == [bytes([1]) * 24, bytes([2]) * 24] and committed.transaction_id == bytes([2] * 24).hex()


async def test_a_request_run_again_after_its_conflicts_gets_fresh_transactions(slept):
    # The first run spent all its transactions in conflicts; a retry under the same key finds them invalid on the
    # ledger and runs a new one instead of counting them against its own budget.
    spent = 3
    contract = FakeContract(endorse=[duplicate_at_endorsement()] * spent)

    async def recorded(transaction_id: str) -> Committed | None:
        return None

    policy = RetryPolicy(attempts=2, transactions=spent)
    committed = await submit(policy, contract, nonce=lambda n: bytes([n]) * 24, on_duplicate=recorded)
    assert contract.nonces == [bytes([n]) * 24 for n in range(1, spent + 2)]
    assert committed.transaction_id == bytes([spent + 1] * 24).hex() and slept == []


async def test_a_duplicate_at_endorsement_without_a_lookup_is_reported():
    contract = FakeContract(endorse=[duplicate_at_endorsement()])
    with pytest.raises(EndorseError):
        await submit(RetryPolicy(), contract)
    assert contract.steps("endorse") == ["tx1"]


async def test_the_callers_own_rule_endorses_again_what_the_guidance_would_not(slept):
    lagging = RetryPolicy(endorse_again=lambda error: error_code(error) == "NOT_FOUND")
    contract = FakeContract(endorse=[refusal("NOT_FOUND")])
    assert (await submit(lagging, contract)).transaction_id == "tx2"
    contract = FakeContract(endorse=[refusal("FORBIDDEN")])
    with pytest.raises(EndorseError):
        await submit(lagging, contract)
    assert contract.steps("endorse") == ["tx1"]


def test_the_ledger_endorses_again_when_too_few_peers_are_known_yet():
    too_few = EndorseError(grpc.StatusCode.FAILED_PRECONDITION,
                           "no combination of peers can be derived which satisfy the endorsement policy")
    assert too_few_peers(too_few)
    assert not too_few_peers(refusal("NOT_FOUND", grpc.StatusCode.FAILED_PRECONDITION))
    assert not too_few_peers(SubmitError(grpc.StatusCode.FAILED_PRECONDITION, "x"))


async def test_the_callers_own_rule_stops_what_the_guidance_would_run_again(slept):
    # The REST gateway answers 504 with the ID to poll once its commit_timeout has passed.
    patient_once = RetryPolicy(give_up=commit_not_seen_in_time)
    contract = FakeContract(status=[CommitStatusError(grpc.StatusCode.DEADLINE_EXCEEDED, "not seen in time")])
    with pytest.raises(CommitStatusError) as caught:
        await submit(patient_once, contract)
    assert caught.value.transaction_id == "tx1" and contract.steps("status") == ["tx1"] and slept == []
    contract = FakeContract(status=[CommitStatusError(grpc.StatusCode.UNAVAILABLE, "peer down")])
    assert (await submit(patient_once, contract)).transaction_id == "tx1"  # another peer answers
    assert contract.steps("status") == ["tx1", "tx1"]


async def test_evaluate_runs_again_after_a_transient_failure_never_after_a_refusal(slept):
    contract = FakeContract(evaluate=[GatewayError(grpc.StatusCode.UNAVAILABLE, "down")])
    assert await RetryPolicy().evaluate(contract, "QueryService", "svc1") == b'{"ok": true}'
    assert contract.steps("evaluate") == ["QueryService"] * 2
    refused = GatewayError(grpc.StatusCode.UNKNOWN, "evaluate failed: chaincode response 500, NOT_FOUND: svc1")
    contract = FakeContract(evaluate=[refused])
    with pytest.raises(GatewayError):
        await RetryPolicy().evaluate(contract, "QueryService", "svc1")
    assert contract.steps("evaluate") == ["QueryService"]


def test_next_step_names_what_runs_again():
    assert next_step(EndorseError(grpc.StatusCode.UNAVAILABLE, "x")) is Retry.ENDORSE_AGAIN
    assert next_step(refusal("NOT_FOUND")) is None
    assert next_step(SubmitError(grpc.StatusCode.UNAVAILABLE, "x")) is Retry.SUBMIT_AGAIN
    assert next_step(SubmitError(grpc.StatusCode.ABORTED, "duplicate transaction found")) is Retry.STATUS_AGAIN
    assert next_step(CommitStatusError(grpc.StatusCode.DEADLINE_EXCEEDED, "x")) is Retry.STATUS_AGAIN
    assert next_step(CommitError("t", MVCC)) is Retry.NEW_TRANSACTION
    assert next_step(CommitError("t", transaction_pb2.ENDORSEMENT_POLICY_FAILURE)) is None
    assert next_step(GatewayError(grpc.StatusCode.UNAVAILABLE, "an evaluation")) is None
    assert next_step(ValueError("not Fabric's")) is None


def test_a_duplicate_is_read_from_the_errors_type_and_fields():
    assert is_duplicate_transaction(CommitError("t", transaction_pb2.DUPLICATE_TXID))
    assert not is_duplicate_transaction(CommitError("t", MVCC))
    assert is_duplicate_transaction(duplicate_at_endorsement())
    assert is_duplicate_transaction(SubmitError(grpc.StatusCode.ABORTED, "duplicate transaction found [t]"))
    # Only a transaction's endorsement or submission can be one; an evaluation's message proves nothing.
    assert not is_duplicate_transaction(GatewayError(grpc.StatusCode.UNKNOWN, "duplicate transaction found"))
    assert not is_duplicate_transaction(ValueError("duplicate transaction"))
