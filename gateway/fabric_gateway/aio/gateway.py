"""Async entry point.

    async with connect("localhost:7051", "tlsca.pem", identity, signer) as gateway:
        await gateway.get_network("mychannel").get_contract("tdses").evaluate_transaction("GetBalance", "alice")
"""

from __future__ import annotations

from collections.abc import Sequence

from fabric_protos.gateway import gateway_pb2

from ..connection import DEFAULT_CONNECT_TIMEOUT, Endpoint, PemSource
from ..identity import Identity
from ..options import RetryPolicy, Timeouts
from ..signing import Signer, SigningIdentity
from .client import GatewayClient
from .commit import Commit
from .connection import Connection
from .events import ChaincodeEventsRequest
from .network import Network
from .proposal import Proposal
from .transaction import Transaction


class Gateway:
    """Async twin of fabric_gateway.Gateway; many Gateways may share one aio Connection."""

    def __init__(
        self,
        connection: Connection,
        identity: Identity,
        signer: Signer | None = None,
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        owns_connection: bool = False,
    ) -> None:
        self.connection = connection
        self.identity = identity
        self._signing = SigningIdentity(identity, signer)
        self._client = GatewayClient(connection, timeouts)
        self._retry = retry or RetryPolicy()
        self._owns_connection = owns_connection

    def get_network(self, channel_name: str) -> Network:
        return Network(self._client, self._signing, channel_name, self._retry)

    def new_proposal(self, proposal_bytes: bytes) -> Proposal:
        return Proposal(
            self._client, self._signing, gateway_pb2.ProposedTransaction.FromString(proposal_bytes)
        )

    def new_signed_proposal(self, proposal_bytes: bytes, signature: bytes) -> Proposal:
        proposal = self.new_proposal(proposal_bytes)
        proposal.set_signature(signature)
        return proposal

    def new_transaction(self, transaction_bytes: bytes) -> Transaction:
        prepared = gateway_pb2.PreparedTransaction.FromString(transaction_bytes)
        return Transaction(self._client, self._signing, prepared)

    def new_signed_transaction(self, transaction_bytes: bytes, signature: bytes) -> Transaction:
        transaction = self.new_transaction(transaction_bytes)
        transaction.set_signature(signature)
        return transaction

    def new_commit(self, commit_bytes: bytes) -> Commit:
        signed = gateway_pb2.SignedCommitStatusRequest.FromString(commit_bytes)
        return Commit(self._client, self._signing, signed)

    def new_signed_commit(self, commit_bytes: bytes, signature: bytes) -> Commit:
        commit = self.new_commit(commit_bytes)
        commit.set_signature(signature)
        return commit

    def new_chaincode_events_request(self, request_bytes: bytes) -> ChaincodeEventsRequest:
        signed = gateway_pb2.SignedChaincodeEventsRequest.FromString(request_bytes)
        return ChaincodeEventsRequest(self._client, self._signing, signed)

    def new_signed_chaincode_events_request(
        self, request_bytes: bytes, signature: bytes
    ) -> ChaincodeEventsRequest:
        request = self.new_chaincode_events_request(request_bytes)
        request.set_signature(signature)
        return request

    async def close(self) -> None:
        if self._owns_connection:
            await self.connection.close()

    async def __aenter__(self) -> Gateway:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def connect(
    endpoints: str | Endpoint | Sequence[str | Endpoint] | Connection,
    tls_root_certs: PemSource | Sequence[PemSource] | None = None,
    identity: Identity | None = None,
    signer: Signer | None = None,
    *,
    server_name_override: str | None = None,
    timeouts: Timeouts | None = None,
    retry: RetryPolicy | None = None,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    client_certificate: PemSource | None = None,
    client_key: PemSource | None = None,
    insecure: bool = False,
) -> Gateway:
    """Same arguments as fabric_gateway.connect; channels are opened on first use inside the event loop."""
    if identity is None:
        raise ValueError("an identity is required")
    if isinstance(endpoints, Connection):
        return Gateway(endpoints, identity, signer, timeouts=timeouts, retry=retry)
    connection = Connection(
        endpoints,
        tls_root_certs,
        server_name_override=server_name_override,
        client_certificate=client_certificate,
        client_key=client_key,
        insecure=insecure,
        connect_timeout=connect_timeout,
    )
    return Gateway(
        connection, identity, signer, timeouts=timeouts, retry=retry, owns_connection=True
    )
