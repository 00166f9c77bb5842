"""The asyncio face of fabric_gateway: the same shape, awaitable calls, grpc.aio channels.

    gateway = connect("localhost:7051", "tlsca.pem", identity, signer)
    result = await gateway.get_network("mychannel").get_contract("tdses").submit_transaction("Buy", "svc1", "5")
"""

from .blocks import ChannelPeers
from .commit import Commit
from .connection import Connection
from .contract import Contract
from .events import ChaincodeEventsRequest, ChaincodeEventStream
from .gateway import Gateway, connect
from .network import Network
from .proposal import Proposal
from .transaction import Transaction

__all__ = [
    "ChannelPeers", "ChaincodeEventStream", "ChaincodeEventsRequest", "Commit", "Connection", "Contract", "Gateway",
    "Network", "Proposal", "Transaction", "connect",
]
