"""A block as the index sees it: the valid transactions of our chaincode, each with its writes (composite keys
split, JSON values decoded) and its event.

    block = index_block(raw_block, "tdses")
    for tx in block.transactions: tx.writes, tx.event_name, tx.event_payload
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fabric_gateway.deliver import parse_block, split_composite_key
from fabric_protos.common import common_pb2


@dataclass(frozen=True)
class StateWrite:
    """A key of the chaincode's namespace: its object type (tdses.user, ...), attributes, and the new value (None
    when deleted)."""

    object_type: str
    attributes: tuple[str, ...]
    value: Any


@dataclass(frozen=True)
class ChaincodeTransaction:
    block_number: int
    position: int  # in the block
    transaction_id: str
    timestamp: datetime
    writes: tuple[StateWrite, ...]
    event_name: str | None
    event_payload: Any


@dataclass(frozen=True)
class IndexBlock:
    number: int
    transactions: tuple[ChaincodeTransaction, ...]  # valid ones of our chaincode, in block order
    validation_codes: tuple[int, ...]  # of every transaction of the block


def decode(value: bytes) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value.decode(errors="replace")


# Begins the chaincode's delta keys in place of a composite key's U+0000 (chaincode/contract/keys.go: deltaMark):
# simple keys, laid out as composite keys, that a range query may bound by time.
DELTA_MARK = "\x01"


def split_key(key: str) -> tuple[str, tuple[str, ...]] | None:
    """(object type, attributes) of a key of the chaincode, which writes composite keys and delta keys only."""
    if key.startswith(DELTA_MARK):
        key = "\x00" + key[1:]
    return split_composite_key(key)


def index_block(block: common_pb2.Block, chaincode: str) -> IndexBlock:
    parsed = parse_block(block)
    transactions = []
    for tx in parsed.transactions:
        if not tx.valid:
            continue  # what an invalid transaction would have written never reached the state
        for action in tx.actions:
            if action.chaincode != chaincode:
                continue
            writes = []
            for write in action.writes.get(chaincode, ()):
                split = split_key(write.key)
                if split is None:
                    continue
                writes.append(StateWrite(split[0], split[1], None if write.is_delete else decode(write.value)))
            event = action.event
            transactions.append(ChaincodeTransaction(
                block_number=parsed.number, position=tx.position, transaction_id=tx.transaction_id,
                timestamp=tx.timestamp,
                writes=tuple(writes), event_name=event.name if event else None,
                event_payload=decode(event.payload) if event else None,
            ))
    return IndexBlock(parsed.number, tuple(transactions), tuple(tx.validation_code for tx in parsed.transactions))
