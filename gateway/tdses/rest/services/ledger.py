"""The channel's chaincode as the gateway uses it: evaluate and submit as a principal, with Fabric errors as
Problems, and the prepare -> sign -> submit steps of non-custodial users.

    ledger = Ledger(settings, admin, index=follower)
    service = await ledger.evaluate(principal, "QueryService", "svc1")
    rights, tx_id = await ledger.submit(principal, "CallService", "svc1", "5")
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import grpc
from fabric_gateway import (
    CommitError, CommitStatusError, EndorseError, Endpoint, EventPosition, FabricError, Timeouts, aio,
)
from fabric_gateway.connection import read_pem
from fabric_gateway.deliver import parse_block
from fabric_gateway.proposal import NONCE_BYTES
from fabric_gateway.transaction import invocation_of, parse_envelope
from fabric_protos.common import common_pb2, ledger_pb2
from fabric_protos.peer import transaction_pb2

from tdses.chaincode import RIGHTS_PER_READ, Fn, Refused, error_code
from tdses.chaincode.calls import argument
from tdses.index.follower import Follower
from tdses.rest.config import Settings
from tdses.rest.middleware import idempotency
from tdses.rest.problems import Problem, problem_from_fabric, problem_from_refusal
from tdses.rest.services.coalescing import Coalescer, MalformedBatch
from tdses.rest.services.principal import PRINCIPALS_KEPT, Principal
from tdses.retry import Committed, RetryPolicy

ENDORSE_RETRIES = 3  # attempts beyond conflict_retries, for endorsements that failed on the way
# Rights proposals out at once, besides full batches: one gave the least gateway CPU per read at c = 8, 32 and 128,
# more in flight a little more throughput at c = 8 (the README's "Measured").
RIGHTS_IN_FLIGHT = 1

log = logging.getLogger("tdses.rest")


@dataclass(frozen=True)
class Submitted:
    result: Any
    transaction_id: str
    block_number: int


def idempotent_nonce(owner: str, key: str, attempt: int) -> bytes:
    """The nonce (hence transaction ID) of attempt n of the request an owner sent under an Idempotency-Key."""
    material = b"\0".join([b"tdses-idempotent-transaction", owner.encode(), key.encode(), str(attempt).encode()])
    return hashlib.sha256(material).digest()[:NONCE_BYTES]


def resume_point(block: common_pb2.Block, transaction_id: str) -> tuple[int | None, EventPosition | None] | None:
    """Where the chaincode events after `transaction_id` begin, as (start_block, checkpoint); None when the block
    does not hold it. Fabric skips events until it meets the checkpoint transaction's own event, so it would wait
    forever for one that has none (invalid, or emitting nothing): the checkpoint becomes the last transaction with
    an event before it in the block, or the block's start when there is none."""
    parsed = parse_block(block)
    position = next((tx.position for tx in parsed.transactions if tx.transaction_id == transaction_id), None)
    if position is None:
        return None
    with_events = [tx.transaction_id for tx in parsed.transactions
                   if tx.position <= position and tx.valid and any(action.event for action in tx.actions)]
    if with_events:
        return None, EventPosition(parsed.number, with_events[-1])
    return parsed.number, None


def too_few_peers(error: BaseException) -> bool:
    """Not enough peers known to meet the endorsement policy (just after a restart, before discovery has them all):
    the gateway's own reason, besides the policy's, to endorse again."""
    return (isinstance(error, EndorseError) and error.code == grpc.StatusCode.FAILED_PRECONDITION
            and error_code(error) is None)


def commit_not_seen_in_time(error: BaseException) -> bool:
    """The commit status did not come within commit_timeout: the operator's bound on waiting for a commit. The client
    is answered 504 with the transaction ID to poll (or to run the request again under its Idempotency-Key)."""
    return isinstance(error, CommitStatusError) and error.code == grpc.StatusCode.DEADLINE_EXCEEDED


def decode(payload: bytes) -> Any:
    if not payload:
        return None
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode(errors="replace")


def rights_answer(answer: Any) -> bool:
    """One of GetSpecCallTimes' answers: {"rights": {...}} or {"error": "CODE: message"}."""
    return isinstance(answer, dict) and (isinstance(answer.get("error"), str) or isinstance(answer.get("rights"), dict))


class Ledger:
    def __init__(self, settings: Settings, admin: Principal, *, index: Follower | None = None) -> None:
        endpoints = [Endpoint(p.address, p.server_name, read_pem(p.tls_ca_file)) for p in settings.peers]
        self.connection = aio.Connection(endpoints, connect_timeout=settings.connect_timeout)
        self.timeouts = Timeouts(
            evaluate=settings.evaluate_timeout, endorse=settings.endorse_timeout,
            submit=settings.submit_timeout, commit_status=settings.commit_timeout,
        )
        # conflict_retries bounds the transactions (a read conflict's rerun is a new one); endorsements that failed
        # on the way (peers unreachable, disagreeing, or not yet known after a restart) get ENDORSE_RETRIES more
        # attempts on top. Backoff of 0.5, 1, 2, 2 s: patient enough for peers discovery finds after a restart.
        self.policy = RetryPolicy(attempts=settings.conflict_retries + ENDORSE_RETRIES,
                                  transactions=settings.conflict_retries, initial_backoff=0.5, max_backoff=2.0,
                                  endorse_again=too_few_peers, give_up=commit_not_seen_in_time)
        self.channel = settings.channel
        self.chaincode = settings.chaincode
        self.admin = admin
        self.channel_peers = aio.ChannelPeers(
            [Endpoint(p.address, p.server_name, read_pem(p.tls_ca_file)) for p in settings.channel_peers],
            timeout=settings.consistency_timeout,
        ) if settings.channel_peers else None
        self.index = index  # this gateway's registry index: a write waits for it too (reflect)
        self._networks: dict[Principal, aio.Network] = {}
        self.rights = Coalescer(one=self.rights_alone, many=self.rights_together, limit=RIGHTS_PER_READ,
                                in_flight=RIGHTS_IN_FLIGHT)

    def gateway(self, principal: Principal) -> aio.Gateway:
        return aio.Gateway(self.connection, principal.identity, principal.signer, timeouts=self.timeouts,
                           channel_peers=self.channel_peers)

    def network(self, principal: Principal) -> aio.Network:
        """The channel as the principal acts on it, built once per principal (tdses.rest.services.principal keeps a
        user's principal while its record is unchanged)."""
        network = self._networks.get(principal)
        if network is None:
            if len(self._networks) >= PRINCIPALS_KEPT:
                self._networks.clear()
            network = self._networks[principal] = self.gateway(principal).get_network(self.channel)
        return network

    def contract(self, principal: Principal) -> aio.Contract:
        return self.network(principal).get_contract(self.chaincode)

    def reader(self, principal: Principal) -> Principal:
        # Queries are signed too; a non-custodial user cannot sign each one, so the org admin reads for it.
        return principal if principal.custodial else self.admin

    async def evaluate(self, principal: Principal, function: str, *args: str) -> Any:
        try:
            if function == Fn.GET_RIGHTS:
                return await self.rights.read(args)
            return decode(await self.contract(self.reader(principal)).evaluate_transaction(function, *args))
        except FabricError as error:
            raise problem_from_fabric(error) from None
        except Refused as refused:
            raise problem_from_refusal(refused) from None

    # GetSpecCallTime looks at no caller: anyone on the channel may read anyone's rights. So the organization reads
    # them for every caller, and reads made at the same moment go to the peer as one proposal (coalescing.py).

    async def rights_alone(self, args: tuple[str, ...]) -> Any:
        return decode(await self.contract(self.admin).evaluate_transaction(Fn.GET_RIGHTS, *args))

    async def rights_together(self, batch: list[tuple[str, ...]]) -> list[Any]:
        answers = decode(await self.contract(self.admin).evaluate_transaction(Fn.GET_RIGHTS_OF_MANY, argument(batch)))
        if not isinstance(answers, list) or not all(map(rights_answer, answers)):
            raise MalformedBatch(f"{Fn.GET_RIGHTS_OF_MANY} answered {answers!r:.100}")
        return [Refused(a["error"]) if "error" in a else a["rights"] for a in answers]

    async def submit(self, principal: Principal, function: str, *args: str) -> Submitted:
        """Endorse, submit and wait for the commit, retried as tdses.retry's policy allows (a read conflict with a
        fresh transaction).

        Under an Idempotency-Key, attempt n of a request always has the same transaction ID, so a request run again
        after a crash finds the transactions of its first run on the ledger instead of paying twice.
        """
        request = idempotency.current_request()
        try:
            committed = await self.policy.submit(
                self.contract(principal), function, *args, network=self.network(principal),
                nonce=(lambda n: idempotent_nonce(*request, n)) if request else None,
                on_duplicate=lambda tx_id: self.recorded(tx_id, principal, [function, *args]),
            )
            if request:
                # A request run again after a 504 may have endorsed its transaction a second time while the first
                # was still on its way: the ledger knows which of the two is valid, and so which result holds.
                result, _ = await asyncio.gather(self.committed_result(committed.transaction_id, principal),
                                                 self.propagated(committed.block_number))
            else:
                await self.propagated(committed.block_number)
                result = committed.result
        except CommitError as error:
            # Conflicts are retried until the policy's attempts run out: the client learns how many there were.
            raise problem_from_fabric(error, attempts=self.policy.attempts) from None
        except FabricError as error:
            raise problem_from_fabric(error) from None
        return Submitted(decode(result), committed.transaction_id, committed.block_number)

    async def recorded(self, tx_id: str, principal: Principal, call: list[str]) -> Committed | None:
        """A transaction of an idempotent request already on the ledger: Committed with its result if it was valid
        (the request took effect then), None if it was not (the next attempt may run). A valid one that made
        another call is another request's under the same key, one the store has forgotten (its TTL, or an answer
        that was not final): 422, as the store itself answers while it remembers."""
        status = await self.commit_status(tx_id, principal)
        if not status.successful:
            return None
        envelope = await self.committed_envelope(tx_id, principal)
        if invocation_of(envelope) != [part.encode() for part in call]:
            raise Problem(422, "IDEMPOTENCY_KEY_REUSED", "this Idempotency-Key was used for a different request")
        log.info("transaction %s of an idempotent request was committed before: answering with its result", tx_id)
        return Committed(parse_envelope(envelope)[1], tx_id, status.block_number)

    async def committed_result(self, tx_id: str, principal: Principal) -> bytes:
        """The chaincode result of the valid transaction with this ID, as the ledger holds it."""
        return parse_envelope(await self.committed_envelope(tx_id, principal))[1]

    async def committed_envelope(self, tx_id: str, principal: Principal) -> common_pb2.Envelope:
        qscc = self.network(self.reader(principal)).get_contract("qscc")
        processed = transaction_pb2.ProcessedTransaction.FromString(
            await qscc.evaluate_transaction("GetTransactionByID", self.channel, tx_id))
        return processed.transactionEnvelope

    async def commit_status(self, transaction_id: str, principal: Principal | None = None,
                            timeout: float | None = None):
        signer = principal if principal is not None and principal.custodial else self.admin
        return await self.network(signer).new_commit(transaction_id).status(timeout=timeout)

    async def propagated(self, block_number: int) -> None:
        """Wait (bounded) until every peer of the channel has committed the block: whoever reads or endorses
        next, through any organization, sees the write; and until this gateway's index holds it, if it is live.
        The two waits run together: the answer waits for the later of them, not for their sum. Never raises: the
        transaction has committed."""
        waits = [self.index.reflect(block_number)] if self.index is not None else []
        if self.channel_peers is not None:
            waits.append(self.channel_committed(block_number))
        await asyncio.gather(*waits)

    async def channel_committed(self, block_number: int) -> None:
        try:
            lagging = await self.network(self.admin).wait_for_block(block_number)
        except Exception:  # a refused wait must not turn a committed write into an error
            log.exception("waiting for block %d on the channel's peers", block_number)
            return
        if lagging:
            log.warning("block %d not yet committed by %s", block_number, ", ".join(lagging))

    async def height(self) -> int:
        """The channel's height on the organization's gateway peer (its newest block + 1)."""
        qscc = self.network(self.admin).get_contract("qscc")
        try:
            raw = await qscc.evaluate_transaction("GetChainInfo", self.channel)
        except FabricError as error:
            raise problem_from_fabric(error) from None
        return ledger_pb2.BlockchainInfo.FromString(raw).height

    async def resume_point(self, block_number: int, transaction_id: str
                           ) -> tuple[int | None, EventPosition | None] | None:
        """Where events resume after a transaction (module function resume_point), from the peers' qscc."""
        qscc = self.network(self.admin).get_contract("qscc")
        try:
            info = ledger_pb2.BlockchainInfo.FromString(await qscc.evaluate_transaction("GetChainInfo", self.channel))
            if block_number >= info.height:
                return None
            raw = await qscc.evaluate_transaction("GetBlockByNumber", self.channel, str(block_number))
        except FabricError as error:
            raise problem_from_fabric(error) from None
        return resume_point(common_pb2.Block.FromString(raw), transaction_id)

    async def events(self, start_block: int | None, checkpoint) -> aio.ChaincodeEventStream:
        try:
            return await self.network(self.admin).chaincode_events(
                self.chaincode, start_block=start_block, checkpoint=checkpoint
            )
        except FabricError as error:
            raise problem_from_fabric(error) from None

    async def reachable(self) -> bool:
        return await self.connection.reachable(timeout=1.0)

    async def close(self) -> None:
        await self.connection.close()
        if self.channel_peers is not None:
            await self.channel_peers.close()

