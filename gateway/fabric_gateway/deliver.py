"""Full blocks from the Deliver service, and what a committed block says: each transaction's validation code,
its channel header, and for endorser transactions each chaincode action's write set and event.

    envelope = new_seek_envelope(signing, "mychannel", start=42)            # block 42 onwards, waiting for new ones
    envelope = new_seek_newest_envelope(signing, "mychannel")               # the newest block onwards
    for tx in parse_block(block).transactions:
        if tx.valid: handle(tx.transaction_id, tx.timestamp, tx.actions)
    split_composite_key("\\x00tdses.rights\\x00svc\\x00alice\\x00")          # ("tdses.rights", ("svc", "alice"))
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fabric_protos.common import common_pb2
from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import chaincode_event_pb2, proposal_pb2, proposal_response_pb2, transaction_pb2
from google.protobuf import timestamp_pb2

from .proposal import new_nonce
from .signing import SigningIdentity, sha256

# The newest block there will ever be: with BLOCK_UNTIL_READY, a seek to it streams every new block as it commits.
NEWEST = 2**64 - 1
VALID = transaction_pb2.TxValidationCode.VALID
COMPOSITE_KEY_NAMESPACE = "\x00"


def new_seek_envelope(
    signing: SigningIdentity, channel_id: str, start: int, stop: int = NEWEST
) -> common_pb2.Envelope:
    """A signed Deliver request for blocks start..stop, each sent as soon as the peer has committed it.

    A peer answers NOT_FOUND when start is beyond its height (Fabric's block iterator refuses it): a start the
    peer may not have reached yet is for new_seek_newest_envelope."""
    if not 0 <= start <= stop:
        raise ValueError(f"cannot seek blocks {start}..{stop}")
    return _signed_seek(signing, channel_id, ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=start)), stop)


def new_seek_newest_envelope(signing: SigningIdentity, channel_id: str) -> common_pb2.Envelope:
    """A signed Deliver request for the peer's newest block and every later one, however far behind the peer is."""
    return _signed_seek(signing, channel_id, ab_pb2.SeekPosition(newest=ab_pb2.SeekNewest()), NEWEST)


def _signed_seek(signing: SigningIdentity, channel_id: str, start: ab_pb2.SeekPosition,
                 stop: int) -> common_pb2.Envelope:
    seek = ab_pb2.SeekInfo(
        start=start,
        stop=ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=stop)),
        behavior=ab_pb2.SeekInfo.BLOCK_UNTIL_READY,
    )
    timestamp = timestamp_pb2.Timestamp()
    timestamp.GetCurrentTime()
    channel_header = common_pb2.ChannelHeader(
        type=common_pb2.DELIVER_SEEK_INFO, channel_id=channel_id, timestamp=timestamp, epoch=0
    )
    signature_header = common_pb2.SignatureHeader(creator=signing.creator(), nonce=new_nonce())
    payload = common_pb2.Payload(
        header=common_pb2.Header(
            channel_header=channel_header.SerializeToString(),
            signature_header=signature_header.SerializeToString(),
        ),
        data=seek.SerializeToString(),
    ).SerializeToString()
    return common_pb2.Envelope(payload=payload, signature=signing.sign(sha256(payload)))


@dataclass(frozen=True)
class Write:
    """One key a transaction wrote (value) or deleted (is_delete, value empty)."""

    key: str
    value: bytes
    is_delete: bool


@dataclass(frozen=True)
class Event:
    """The chaincode event a transaction set (Fabric keeps at most one per chaincode action)."""

    chaincode: str
    name: str
    payload: bytes


@dataclass(frozen=True)
class ChaincodeAction:
    """What one chaincode invocation of an endorser transaction did: writes by namespace, and its event."""

    chaincode: str
    writes: dict[str, tuple[Write, ...]]
    event: Event | None


@dataclass(frozen=True)
class BlockTransaction:
    """A transaction of a block, with the validation code the committing peer gave it."""

    position: int
    transaction_id: str
    header_type: int
    timestamp: datetime
    validation_code: int
    actions: tuple[ChaincodeAction, ...]

    @property
    def valid(self) -> bool:
        return self.validation_code == VALID

    @property
    def validation_code_name(self) -> str:
        return transaction_pb2.TxValidationCode.Name(self.validation_code)


@dataclass(frozen=True)
class ParsedBlock:
    number: int
    transactions: tuple[BlockTransaction, ...]


def validation_codes(block: common_pb2.Block) -> bytes:
    """One TxValidationCode per transaction, from the block metadata the committing peer wrote."""
    metadata = block.metadata.metadata
    index = common_pb2.BlockMetadataIndex.TRANSACTIONS_FILTER
    codes = metadata[index] if len(metadata) > index else b""
    if len(codes) != len(block.data.data):
        raise ValueError(f"block {block.header.number} has {len(block.data.data)} transactions "
                         f"but {len(codes)} validation codes")
    return codes


def to_datetime(timestamp: timestamp_pb2.Timestamp) -> datetime:
    return datetime.fromtimestamp(timestamp.seconds, UTC).replace(microsecond=timestamp.nanos // 1000)


def chaincode_actions(transaction: transaction_pb2.Transaction) -> tuple[ChaincodeAction, ...]:
    actions = []
    for action in transaction.actions:
        action_payload = transaction_pb2.ChaincodeActionPayload.FromString(action.payload)
        response_payload = proposal_response_pb2.ProposalResponsePayload.FromString(
            action_payload.action.proposal_response_payload
        )
        chaincode_action = proposal_pb2.ChaincodeAction.FromString(response_payload.extension)
        writes = {}
        for ns in rwset_pb2.TxReadWriteSet.FromString(chaincode_action.results).ns_rwset:
            kv = kv_rwset_pb2.KVRWSet.FromString(ns.rwset)
            writes[ns.namespace] = tuple(Write(w.key, w.value, w.is_delete) for w in kv.writes)
        event = None
        if chaincode_action.events:
            raw = chaincode_event_pb2.ChaincodeEvent.FromString(chaincode_action.events)
            if raw.event_name:
                event = Event(raw.chaincode_id, raw.event_name, raw.payload)
        actions.append(ChaincodeAction(chaincode_action.chaincode_id.name, writes, event))
    return tuple(actions)


def parse_block(block: common_pb2.Block) -> ParsedBlock:
    """Every transaction of a block with its validation code; chaincode actions for endorser transactions only
    (an invalid transaction's actions are parsed too: what it would have written, never applied)."""
    codes = validation_codes(block)
    transactions = []
    for position, data in enumerate(block.data.data):
        payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(data).payload)
        header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
        actions: tuple[ChaincodeAction, ...] = ()
        if header.type == common_pb2.ENDORSER_TRANSACTION:
            actions = chaincode_actions(transaction_pb2.Transaction.FromString(payload.data))
        transactions.append(BlockTransaction(
            position=position, transaction_id=header.tx_id, header_type=header.type,
            timestamp=to_datetime(header.timestamp), validation_code=codes[position], actions=actions,
        ))
    return ParsedBlock(block.header.number, tuple(transactions))


def split_composite_key(key: str) -> tuple[str, tuple[str, ...]] | None:
    """(object type, attributes) of a composite key "\\x00type\\x00a1\\x00a2\\x00"; None for a simple key."""
    if not key.startswith(COMPOSITE_KEY_NAMESPACE) or not key.endswith("\x00") or len(key) < 3:
        return None
    parts = key[1:-1].split("\x00")
    return parts[0], tuple(parts[1:])


def composite_key(object_type: str, *attributes: str) -> str:
    """The key shim.CreateCompositeKey makes."""
    return "\x00" + "\x00".join((object_type, *attributes)) + "\x00"
