"""Async contract.

    balance = await contract.evaluate_transaction("GetBalance", "alice")
    await contract.submit_transaction("Transfer", "alice", "bob", "5")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..contract import ContractCore
from ..proposal import Arg
from .commit import Commit
from .proposal import Proposal


class Contract(ContractCore):
    """Async twin of fabric_gateway.Contract (same arguments, awaitable calls)."""

    def new_proposal(
        self,
        transaction_name: str,
        *args: Arg,
        transient: Mapping[str, Arg] | None = None,
        endorsing_orgs: Sequence[str] | None = None,
        nonce: bytes | None = None,
    ) -> Proposal:
        proposed = self._proposed(transaction_name, args, transient, endorsing_orgs, nonce)
        return Proposal(self._client, self._signing, proposed, self.channel_name)

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
        """Endorse, submit, await the commit: one attempt; CommitError if the peers marked it invalid."""
        result, commit = await self.submit_async(
            transaction_name, *args, transient=transient, endorsing_orgs=endorsing_orgs
        )
        status = self._committed(await commit.status())
        if self._channel_peers is not None:
            await self._channel_peers.wait_for_block(self._signing, self.channel_name, status.block_number)
        return result
