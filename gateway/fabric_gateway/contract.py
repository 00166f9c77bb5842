"""A chaincode (optionally one named contract in it) on a channel: evaluate and submit transactions.

    contract = gateway.get_network("mychannel").get_contract("tdses")
    contract.submit_transaction("BuyRights", "svc1", "5")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fabric_protos.gateway import gateway_pb2

from .blocks import ChannelPeersCore
from .commit import Commit, Status
from .errors import CommitError
from .proposal import Arg, Proposal, build_proposed_transaction
from .signing import SigningIdentity


def qualified_name(contract_name: str | None, transaction_name: str) -> str:
    return f"{contract_name}:{transaction_name}" if contract_name else transaction_name


class ContractCore:
    """Names and proposal building shared by the sync and async Contract; `client` is the face's GatewayClient."""

    def __init__(
        self,
        client: Any,
        signing: SigningIdentity,
        channel_name: str,
        chaincode_name: str,
        contract_name: str | None = None,
        channel_peers: ChannelPeersCore | None = None,
    ) -> None:
        self._client = client
        self._signing = signing
        self._channel_peers = channel_peers
        self.channel_name = channel_name
        self.chaincode_name = chaincode_name
        self.contract_name = contract_name

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

    @staticmethod
    def _committed(status: Status) -> Status:
        """The status of a valid transaction; CommitError (with the validation code) for an invalid one."""
        if not status.successful:
            raise CommitError(status.transaction_id, status.code, status.block_number)
        return status


class Contract(ContractCore):
    """Synchronous contract.

        balance = contract.evaluate_transaction("GetBalance", "alice")
        contract.submit_transaction("Transfer", "alice", "bob", "5")
    """

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
        return Proposal(self._client, self._signing, proposed, self.channel_name)

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
        """Endorse, submit and wait for the commit: one attempt, as in the official clients.

        With the gateway's channel_peers, it returns once each of them has committed the block too.

        Raises EndorseError, SubmitError, CommitStatusError or CommitError (with the validation code).
        """
        result, commit = self.submit_async(
            transaction_name, *args, transient=transient, endorsing_orgs=endorsing_orgs
        )
        status = self._committed(commit.status())
        if self._channel_peers is not None:
            self._channel_peers.wait_for_block(self._signing, self.channel_name, status.block_number)
        return result
