"""A Python client for Hyperledger Fabric's Gateway service (Fabric 2.4+), shaped like fabric-gateway.

    gateway = connect("localhost:7051", "tlsca.pem", load_identity("Org1MSP", "cert.pem"), load_signer("key.pem"))
    gateway.get_network("mychannel").get_contract("basic").evaluate_transaction("ReadAsset", "asset1")

The asyncio face, with the same shape, is fabric_gateway.aio.
"""

from .blocks import BlockUnavailableError, ChannelPeers
from .commit import Commit, Status
from .connection import Connection, Endpoint
from .contract import Contract
from .errors import (
    CommitError,
    CommitStatusError,
    EndorseError,
    ErrorDetail,
    FabricError,
    GatewayError,
    SignerRequiredError,
    SubmitError,
    TransactionError,
    chaincode_message,
    is_duplicate_transaction,
)
from .events import (
    ChaincodeEvent,
    ChaincodeEventsRequest,
    ChaincodeEventStream,
    Checkpoint,
    EventPosition,
    InMemoryCheckpointer,
)
from .gateway import Gateway, connect
from .identity import Identity, load_identity
from .network import Network
from .options import Timeouts
from .proposal import Proposal, transaction_id
from .signing import EcdsaSigner, Signer, load_private_key, load_signer, sha256
from .transaction import Transaction

__all__ = [
    "BlockUnavailableError", "ChannelPeers", "ChaincodeEvent", "ChaincodeEventStream", "ChaincodeEventsRequest", "Checkpoint", "Commit",
    "CommitError", "CommitStatusError", "Connection", "Contract", "EcdsaSigner", "EndorseError",
    "Endpoint", "ErrorDetail", "EventPosition", "FabricError", "Gateway", "GatewayError", "Identity",
    "InMemoryCheckpointer", "Network", "Proposal", "Signer", "SignerRequiredError",
    "Status", "SubmitError", "Timeouts", "Transaction", "TransactionError", "chaincode_message",
    "connect", "is_duplicate_transaction", "load_identity", "load_private_key", "load_signer", "sha256",
    "transaction_id",
]
