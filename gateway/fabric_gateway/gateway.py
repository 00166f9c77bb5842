"""Connect to an organization's gateway peers with an identity: the entry point of the client.

    with connect("localhost:7051", "tlsca.pem", identity, signer, server_name_override="peer0.org1.example.com") as gw:
        gw.get_network("mychannel").get_contract("tdses").evaluate_transaction("GetBalance", "alice")
"""

from __future__ import annotations

from collections.abc import Sequence

from fabric_protos.gateway import gateway_pb2

from .blocks import ChannelPeersCore
from .client import GatewayClient
from .commit import Commit
from .connection import DEFAULT_CONNECT_TIMEOUT, Connection, ConnectionConfig, Endpoint, PemSource
from .events import ChaincodeEventsRequest
from .identity import Identity
from .network import Network
from .options import Timeouts
from .proposal import Proposal
from .signing import Signer, SigningIdentity
from .transaction import Transaction


class GatewayCore:
    """What the sync and async Gateway share; each names its own client and message types."""

    _Connection: type = Connection
    _Client: type = GatewayClient
    _Network: type = Network
    _Proposal: type = Proposal
    _Transaction: type = Transaction
    _Commit: type = Commit
    _EventsRequest: type = ChaincodeEventsRequest

    def __init__(
        self,
        connection: Connection,
        identity: Identity,
        signer: Signer | None = None,
        *,
        timeouts: Timeouts | None = None,
        channel_peers: ChannelPeersCore | None = None,
        owns_connection: bool = False,
    ) -> None:
        self.connection = connection
        self.identity = identity
        self._signing = SigningIdentity(identity, signer)
        self._client = self._Client(connection, timeouts, channel_peers)
        self._owns_connection = owns_connection

    def get_network(self, channel_name: str) -> Network:
        return self._Network(self._client, self._signing, channel_name, self._client.channel_peers)

    @classmethod
    def connect(
        cls,
        endpoints: str | Endpoint | Sequence[str | Endpoint] | ConnectionConfig,
        tls_root_certs: PemSource | Sequence[PemSource] | None = None,
        identity: Identity | None = None,
        signer: Signer | None = None,
        *,
        server_name_override: str | None = None,
        timeouts: Timeouts | None = None,
        channel_peers: ChannelPeersCore | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        client_certificate: PemSource | None = None,
        client_key: PemSource | None = None,
        insecure: bool = False,
    ):
        """A Gateway over TLS to one peer, or to several peers of one organization with failover.

        With channel_peers, submit_transaction returns once those peers (all of the channel's) have committed
        the transaction's block, so reads and endorsements through any of them see the write.

            gateway = connect(["localhost:7051", "localhost:8051"], "org1/tlsca.pem", identity, signer)
            gateway = connect(shared_connection, identity=identity, signer=signer)
        """
        if identity is None:
            raise ValueError("an identity is required")
        if isinstance(endpoints, cls._Connection):  # shared by many Gateways: not this one's to close
            return cls(endpoints, identity, signer, timeouts=timeouts, channel_peers=channel_peers)
        connection = cls._Connection(
            endpoints,
            tls_root_certs,
            server_name_override=server_name_override,
            client_certificate=client_certificate,
            client_key=client_key,
            insecure=insecure,
            connect_timeout=connect_timeout,
        )
        return cls(
            connection, identity, signer, timeouts=timeouts, channel_peers=channel_peers, owns_connection=True
        )

    # Offline signing: rebuild a message from its bytes(), optionally attaching a signature made elsewhere.

    def new_proposal(self, proposal_bytes: bytes) -> Proposal:
        return self._Proposal(
            self._client, self._signing, gateway_pb2.ProposedTransaction.FromString(proposal_bytes)
        )

    def new_signed_proposal(self, proposal_bytes: bytes, signature: bytes) -> Proposal:
        """The proposal from Proposal.bytes() with the signature of its digest() attached."""
        proposal = self.new_proposal(proposal_bytes)
        proposal.set_signature(signature)
        return proposal

    def new_transaction(self, transaction_bytes: bytes) -> Transaction:
        prepared = gateway_pb2.PreparedTransaction.FromString(transaction_bytes)
        return self._Transaction(self._client, self._signing, prepared)

    def new_signed_transaction(self, transaction_bytes: bytes, signature: bytes) -> Transaction:
        transaction = self.new_transaction(transaction_bytes)
        transaction.set_signature(signature)
        return transaction

    def new_commit(self, commit_bytes: bytes) -> Commit:
        signed = gateway_pb2.SignedCommitStatusRequest.FromString(commit_bytes)
        return self._Commit(self._client, self._signing, signed)

    def new_signed_commit(self, commit_bytes: bytes, signature: bytes) -> Commit:
        commit = self.new_commit(commit_bytes)
        commit.set_signature(signature)
        return commit

    def new_chaincode_events_request(self, request_bytes: bytes) -> ChaincodeEventsRequest:
        signed = gateway_pb2.SignedChaincodeEventsRequest.FromString(request_bytes)
        return self._EventsRequest(self._client, self._signing, signed)

    def new_signed_chaincode_events_request(
        self, request_bytes: bytes, signature: bytes
    ) -> ChaincodeEventsRequest:
        request = self.new_chaincode_events_request(request_bytes)
        request.set_signature(signature)
        return request


class Gateway(GatewayCore):
    """An identity (and, unless signing offline, its signer) using a Connection to the gateway peers.

    Many Gateways (one per user) can share one Connection; a Gateway only closes the connection it created.

        gateway = Gateway(shared_connection, Identity("Org1MSP", cert_pem), EcdsaSigner(key))
        network = gateway.get_network("mychannel")
    """

    def close(self) -> None:
        if self._owns_connection:
            self.connection.close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


connect = Gateway.connect
