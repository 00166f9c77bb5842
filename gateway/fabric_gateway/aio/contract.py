"""Async contract.

    balance = await contract.evaluate_transaction("GetBalance", "alice")
    await contract.submit_transaction("Transfer", "alice", "bob", "5")
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

from ..contract import ContractCore
from ..errors import CommitError
from ..proposal import Arg
from .client import GatewayClient
from .commit import Commit
from .proposal import Proposal

log = logging.getLogger("fabric_gateway")


class Contract(ContractCore):
    """Async twin of fabric_gateway.Contract (same arguments, awaitable calls)."""

    def __init__(self, client: GatewayClient, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._client = client

    def new_proposal(
        self,
        transaction_name: str,
        *args: Arg,
        transient: Mapping[str, Arg] | None = None,
        endorsing_orgs: Sequence[str] | None = None,
        nonce: bytes | None = None,
    ) -> Proposal:
        proposed = self._proposed(transaction_name, args, transient, endorsing_orgs, nonce)
        return Proposal(self._client, self._signing, proposed)

    async def evaluate_transaction(
        self,
        transaction_name: str,
        *args: Arg,
        transient: Mapping[str, Arg] | None = None,
        endorsing_orgs: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> bytes:
        proposal = self.new_proposal(
            transaction_name, *args, transient=transient, endorsing_orgs=endorsing_orgs
        )
        return await proposal.evaluate(timeout=timeout)

    async def submit_async(
        self,
        transaction_name: str,
        *args: Arg,
        transient: Mapping[str, Arg] | None = None,
        endorsing_orgs: Sequence[str] | None = None,
    ) -> tuple[bytes, Commit]:
        proposal = self.new_proposal(
            transaction_name, *args, transient=transient, endorsing_orgs=endorsing_orgs
        )
        transaction = await proposal.endorse()
        return transaction.result, await transaction.submit()

    async def submit_transaction(
        self,
        transaction_name: str,
        *args: Arg,
        transient: Mapping[str, Arg] | None = None,
        endorsing_orgs: Sequence[str] | None = None,
    ) -> bytes:
        """Endorse, submit, await the commit; re-runs on MVCC/phantom read conflicts per the RetryPolicy."""
        for attempt in range(1, self.retry.attempts + 1):
            result, commit = await self.submit_async(
                transaction_name, *args, transient=transient, endorsing_orgs=endorsing_orgs
            )
            status = await commit.status()
            if status.successful:
                if self._channel_peers is not None:
                    await self._channel_peers.wait_for_block(self._signing, self.channel_name, status.block_number)
                return result
            if attempt < self.retry.attempts and self.retry.is_retryable(status.code):
                delay = self.retry.delay(attempt)
                log.info(
                    "transaction %s: %s, retrying with a new transaction in %.2fs",
                    status.transaction_id, status.code_name, delay,
                )
                await asyncio.sleep(delay)
                continue
            raise CommitError(status.transaction_id, status.code, status.block_number, attempt)
        raise AssertionError("unreachable")
