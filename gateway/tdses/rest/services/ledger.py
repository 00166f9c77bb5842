"""The channel's chaincode as the gateway uses it: evaluate and submit as a principal, with Fabric errors as
Problems, and the prepare -> sign -> submit steps of non-custodial users.

    ledger = Ledger(settings)
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

from fabric_gateway import (
    CommitError, Endpoint, FabricError, RetryPolicy, SubmitError, Timeouts, aio, is_duplicate_transaction,
    transaction_id,
)
from fabric_gateway.connection import read_pem
from fabric_gateway.proposal import NONCE_BYTES
from fabric_gateway.transaction import parse_envelope
from fabric_protos.common import common_pb2, ledger_pb2
from fabric_protos.peer import transaction_pb2

from tdses.rest.config import Settings
from tdses.rest.middleware import idempotency
from tdses.rest.problems import problem_from_fabric, transient
from tdses.rest.services.principal import Principal

ENDORSE_RETRY_DELAYS = (0.5, 1.0, 2.0)

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


def transaction_ids(block: common_pb2.Block) -> set[str]:
    ids = set()
    for data in block.data.data:
        payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(data).payload)
        ids.add(common_pb2.ChannelHeader.FromString(payload.header.channel_header).tx_id)
    return ids


def decode(payload: bytes) -> Any:
    if not payload:
        return None
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode(errors="replace")


class Ledger:
    def __init__(self, settings: Settings, admin: Principal) -> None:
        endpoints = [Endpoint(p.address, p.server_name, read_pem(p.tls_ca_file)) for p in settings.peers]
        self.connection = aio.Connection(endpoints, connect_timeout=settings.connect_timeout)
        self.timeouts = Timeouts(
            evaluate=settings.evaluate_timeout, endorse=settings.endorse_timeout,
            submit=settings.submit_timeout, commit_status=settings.commit_timeout,
        )
        self.retry = RetryPolicy(attempts=settings.conflict_retries)
        self.channel = settings.channel
        self.chaincode = settings.chaincode
        self.admin = admin
        self.channel_peers = aio.ChannelPeers(
            [Endpoint(p.address, p.server_name, read_pem(p.tls_ca_file)) for p in settings.channel_peers],
            timeout=settings.consistency_timeout,
        ) if settings.channel_peers else None

    def gateway(self, principal: Principal) -> aio.Gateway:
        return aio.Gateway(self.connection, principal.identity, principal.signer, timeouts=self.timeouts,
                           retry=self.retry, channel_peers=self.channel_peers)

    def network(self, principal: Principal) -> aio.Network:
        return self.gateway(principal).get_network(self.channel)

    def contract(self, principal: Principal) -> aio.Contract:
        return self.network(principal).get_contract(self.chaincode)

    def reader(self, principal: Principal) -> Principal:
        # Queries are signed too; a non-custodial user cannot sign each one, so the org admin reads for it.
        return principal if principal.custodial else self.admin

    async def evaluate(self, principal: Principal, function: str, *args: str) -> Any:
        try:
            return decode(await self.contract(self.reader(principal)).evaluate_transaction(function, *args))
        except FabricError as error:
            raise problem_from_fabric(error) from None

    async def submit(self, principal: Principal, function: str, *args: str) -> Submitted:
        """Endorse, submit and wait for the commit; a read conflict is retried with a fresh transaction.

        Under an Idempotency-Key, attempt n of a request always has the same transaction ID, so a request run again
        after a crash finds the transactions of its first run on the ledger instead of paying twice.
        """
        contract = self.contract(principal)
        request = idempotency.current_request()
        try:
            for attempt in range(1, self.retry.attempts + 1):
                nonce = idempotent_nonce(*request, attempt) if request else None
                transaction = await self._endorse(contract, function, *args, nonce=nonce)
                if transaction is None:  # this attempt's transaction is on the ledger already
                    done = await self.recorded(nonce, principal)
                    if done is not None:
                        return done
                    continue
                status = await self._submit_and_wait(transaction, principal)
                if status.successful:
                    await self.propagated(status.block_number)
                    # A request run again after a 504 may have endorsed its transaction a second time while the first
                    # was still on its way: the ledger knows which of the two is valid, and so which result holds.
                    result = (await self.committed_result(transaction.transaction_id, principal) if request
                              else transaction.result)
                    return Submitted(decode(result), transaction.transaction_id, status.block_number)
                if attempt < self.retry.attempts and self.retry.is_retryable(status.code):
                    log.info("%s %s: %s, retrying", function, status.transaction_id, status.code_name)
                    await asyncio.sleep(self.retry.delay(attempt))
                    continue
                raise CommitError(status.transaction_id, status.code, status.block_number, attempt)
        except FabricError as error:
            raise problem_from_fabric(error) from None
        raise AssertionError("unreachable")

    async def _endorse(self, contract: aio.Contract, function: str, *args: str,
                       nonce: bytes | None = None) -> aio.Transaction | None:
        """Endorse; when too few peers answer (e.g. just after a restart), retry a little with fresh proposals.
        None when a transaction of that nonce is on the ledger already."""
        for delay in (*ENDORSE_RETRY_DELAYS, None):
            try:
                return await contract.new_proposal(function, *args, nonce=nonce).endorse()
            except FabricError as error:
                if nonce is not None and is_duplicate_transaction(error):
                    return None
                if delay is None or not transient(error):
                    raise
                log.info("%s: %s, endorsing again in %.1fs", function, error.code.name, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def recorded(self, nonce: bytes, principal: Principal) -> Submitted | None:
        """The outcome of a transaction already on the ledger: Submitted with its result if it was valid (the request
        took effect then), None if it was not (the next attempt may run)."""
        tx_id = transaction_id(nonce, principal.identity.creator())
        status = await self.commit_status(tx_id, principal)
        if not status.successful:
            return None
        log.info("transaction %s of an idempotent request was committed before: answering with its result", tx_id)
        await self.propagated(status.block_number)
        return Submitted(decode(await self.committed_result(tx_id, principal)), tx_id, status.block_number)

    async def committed_result(self, tx_id: str, principal: Principal) -> bytes:
        """The chaincode result of the valid transaction with this ID, as the ledger holds it."""
        qscc = self.network(self.reader(principal)).get_contract("qscc")
        processed = transaction_pb2.ProcessedTransaction.FromString(
            await qscc.evaluate_transaction("GetTransactionByID", self.channel, tx_id))
        return parse_envelope(processed.transactionEnvelope)[1]

    async def _submit_and_wait(self, transaction: aio.Transaction, principal: Principal):
        try:
            await transaction.submit()
        except SubmitError as error:
            # Resent to another peer after a failover: the first one already took it (fabric-samples errors.ts).
            if not is_duplicate_transaction(error):
                raise
        return await self.commit_status(transaction.transaction_id, principal)

    async def commit_status(self, transaction_id: str, principal: Principal | None = None,
                            timeout: float | None = None):
        signer = principal if principal is not None and principal.custodial else self.admin
        return await self.network(signer).new_commit(transaction_id).status(timeout=timeout)

    async def propagated(self, block_number: int) -> None:
        """Wait (bounded) until every peer of the channel has committed the block: whoever reads or endorses
        next, through any organization, sees the write. Never raises: the transaction has committed."""
        if self.channel_peers is None:
            return
        try:
            lagging = await self.network(self.admin).wait_for_block(block_number)
        except Exception:  # a refused wait must not turn a committed write into an error
            log.exception("waiting for block %d on the channel's peers", block_number)
            return
        if lagging:
            log.warning("block %d not yet committed by %s", block_number, ", ".join(lagging))

    async def has_transaction(self, block_number: int, transaction_id: str) -> bool:
        """Whether the channel's block holds the transaction (a resume point for events), asked of the peers' qscc."""
        qscc = self.network(self.admin).get_contract("qscc")
        try:
            info = ledger_pb2.BlockchainInfo.FromString(await qscc.evaluate_transaction("GetChainInfo", self.channel))
            if block_number >= info.height:
                return False
            raw = await qscc.evaluate_transaction("GetBlockByNumber", self.channel, str(block_number))
        except FabricError as error:
            raise problem_from_fabric(error) from None
        return transaction_id in transaction_ids(common_pb2.Block.FromString(raw))

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

