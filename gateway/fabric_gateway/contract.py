"""A chaincode (optionally one named contract in it) on a channel: evaluate and submit transactions.

    contract = gateway.get_network("mychannel").get_contract("tdses")
    contract.submit_transaction("BuyRights", "svc1", "5")
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

from fabric_protos.gateway import gateway_pb2

from .blocks import ChannelPeersCore
from .client import GatewayClient
from .commit import Commit
from .errors import CommitError
from .options import RetryPolicy
from .proposal import Arg, Proposal, build_proposed_transaction
from .signing import SigningIdentity

log = logging.getLogger("fabric_gateway")


def qualified_name(contract_name: str | None, transaction_name: str) -> str:
    return f"{contract_name}:{transaction_name}" if contract_name else transaction_name


class ContractCore:
    """Names and proposal building shared by the sync and async Contract."""

    def __init__(
        self,
        signing: SigningIdentity,
        channel_name: str,
        chaincode_name: str,
        contract_name: str | None = None,
        retry: RetryPolicy | None = None,
        channel_peers: ChannelPeersCore | None = None,
    ) -> None:
        self._signing = signing
        self._channel_peers = channel_peers
        self.channel_name = channel_name
        self.chaincode_name = chaincode_name
        self.contract_name = contract_name
        self.retry = retry or RetryPolicy()

    def _proposed(
        self,
        transaction_name: str,
        args: Sequence[Arg],
        transient: Mapping[str, Arg] | None,
        endorsing_orgs: Sequence[str] | None,
        nonce: bytes | None = None,
    ) -> gateway_pb2.ProposedTransaction:
        return build_proposed_transaction(
            self._signing.creator(),
            self.channel_name,
            self.chaincode_name,
            qualified_name(self.contract_name, transaction_name),
            args,
            transient,
            endorsing_orgs or (),
            nonce,
        )


class Contract(ContractCore):
    """Synchronous contract.

        balance = contract.evaluate_transaction("GetBalance", "alice")
        contract.submit_transaction("Transfer", "alice", "bob", "5")
    """

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
        """A proposal to evaluate or endorse; sign it offline via digest() when the gateway has no signer.

        A nonce chosen by the caller (24 bytes) fixes the transaction ID: retrying with the same nonce can never
        commit twice, since the ledger accepts each transaction ID once.
        """
        proposed = self._proposed(transaction_name, args, transient, endorsing_orgs, nonce)
        return Proposal(self._client, self._signing, proposed)

    def evaluate_transaction(
        self,
        transaction_name: str,
        *args: Arg,
        transient: Mapping[str, Arg] | None = None,
        endorsing_orgs: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> bytes:
        """Query: run the transaction on a peer and return its result; nothing is written to the ledger."""
        proposal = self.new_proposal(
            transaction_name, *args, transient=transient, endorsing_orgs=endorsing_orgs
        )
        return proposal.evaluate(timeout=timeout)

    def submit_async(
        self,
        transaction_name: str,
        *args: Arg,
        transient: Mapping[str, Arg] | None = None,
        endorsing_orgs: Sequence[str] | None = None,
    ) -> tuple[bytes, Commit]:
        """Endorse and submit without waiting for the commit; returns the result and the Commit to wait on."""
        proposal = self.new_proposal(
            transaction_name, *args, transient=transient, endorsing_orgs=endorsing_orgs
        )
        transaction = proposal.endorse()
        return transaction.result, transaction.submit()

    def submit_transaction(
        self,
        transaction_name: str,
        *args: Arg,
        transient: Mapping[str, Arg] | None = None,
        endorsing_orgs: Sequence[str] | None = None,
    ) -> bytes:
        """Endorse, submit and wait for the commit; re-runs on MVCC/phantom read conflicts per the RetryPolicy.

        With the gateway's channel_peers, it returns once each of them has committed the block too.

        Raises EndorseError, SubmitError, CommitStatusError or CommitError (with the validation code).
        """
        for attempt in range(1, self.retry.attempts + 1):
            result, commit = self.submit_async(
                transaction_name, *args, transient=transient, endorsing_orgs=endorsing_orgs
            )
            status = commit.status()
            if status.successful:
                if self._channel_peers is not None:
                    self._channel_peers.wait_for_block(self._signing, self.channel_name, status.block_number)
                return result
            if attempt < self.retry.attempts and self.retry.is_retryable(status.code):
                delay = self.retry.delay(attempt)
                log.info(
                    "transaction %s: %s, retrying with a new transaction in %.2fs",
                    status.transaction_id, status.code_name, delay,
                )
                time.sleep(delay)
                continue
            raise CommitError(status.transaction_id, status.code, status.block_number, attempt)
        raise AssertionError("unreachable")
