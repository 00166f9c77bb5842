"""Chaincode events over the Gateway's ChaincodeEvents stream, resumable from a checkpoint.

    with network.chaincode_events("tdses", checkpoint=checkpointer) as events:
        for event in events: handle(event); checkpointer.checkpoint_chaincode_event(event)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import grpc
from fabric_protos.gateway import gateway_pb2
from fabric_protos.orderer import ab_pb2

from .errors import GatewayError, from_rpc_error
from .signing import SigningIdentity, sha256

if TYPE_CHECKING:
    from .client import GatewayClient


@dataclass(frozen=True)
class ChaincodeEvent:
    """An event emitted by a committed transaction."""

    block_number: int
    transaction_id: str
    chaincode_name: str
    event_name: str
    payload: bytes


class Checkpoint(Protocol):
    """Where to resume: the block to start from and the last transaction of it already handled ("" = none)."""

    @property
    def block_number(self) -> int: ...

    @property
    def transaction_id(self) -> str: ...


@dataclass(frozen=True)
class EventPosition:
    """A stored checkpoint (e.g. from an SSE Last-Event-ID).

        network.chaincode_events("tdses", checkpoint=EventPosition(42, "ab12..."))
    """

    block_number: int = 0
    transaction_id: str = ""


class InMemoryCheckpointer:
    """Remembers the position of the last event handled, to resume a stream after it broke.

        checkpointer = InMemoryCheckpointer()
        checkpointer.checkpoint_chaincode_event(event)
    """

    def __init__(self, block_number: int = 0, transaction_id: str = "") -> None:
        self.block_number = block_number
        self.transaction_id = transaction_id

    def checkpoint_block(self, block_number: int) -> None:
        """Block fully handled: resume from the next one."""
        self.checkpoint_transaction(block_number + 1, "")

    def checkpoint_transaction(self, block_number: int, transaction_id: str) -> None:
        self.block_number = block_number
        self.transaction_id = transaction_id

    def checkpoint_chaincode_event(self, event: ChaincodeEvent) -> None:
        self.checkpoint_transaction(event.block_number, event.transaction_id)


def start_position(
    start_block: int | None, checkpoint: Checkpoint | None
) -> tuple[ab_pb2.SeekPosition, str]:
    """The seek position and the transaction to skip past; a non-empty checkpoint wins over start_block."""
    if checkpoint is not None and (checkpoint.block_number or checkpoint.transaction_id):
        specified = ab_pb2.SeekSpecified(number=checkpoint.block_number)
        return ab_pb2.SeekPosition(specified=specified), checkpoint.transaction_id
    if start_block is not None:
        return ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=start_block)), ""
    return ab_pb2.SeekPosition(next_commit=ab_pb2.SeekNextCommit()), ""


def new_chaincode_events_request(
    creator: bytes,
    channel_id: str,
    chaincode_name: str,
    start_block: int | None = None,
    checkpoint: Checkpoint | None = None,
) -> gateway_pb2.SignedChaincodeEventsRequest:
    position, after_transaction_id = start_position(start_block, checkpoint)
    request = gateway_pb2.ChaincodeEventsRequest(
        channel_id=channel_id,
        chaincode_id=chaincode_name,
        identity=creator,
        start_position=position,
        after_transaction_id=after_transaction_id,
    )
    return gateway_pb2.SignedChaincodeEventsRequest(request=request.SerializeToString())


def events_of(response: gateway_pb2.ChaincodeEventsResponse) -> list[ChaincodeEvent]:
    return [
        ChaincodeEvent(
            block_number=response.block_number,
            transaction_id=event.tx_id,
            chaincode_name=event.chaincode_id,
            event_name=event.event_name,
            payload=event.payload,
        )
        for event in response.events
    ]


class ChaincodeEventsRequestCore:
    """A chaincode events request's bytes, digest and signature; the sync and async faces open the stream."""

    def __init__(
        self, signing: SigningIdentity, signed_request: gateway_pb2.SignedChaincodeEventsRequest
    ) -> None:
        self._signing = signing
        self._signed = signed_request

    def bytes(self) -> bytes:
        return self._signed.SerializeToString()

    def digest(self) -> bytes:
        return sha256(self._signed.request)

    def is_signed(self) -> bool:
        return bool(self._signed.signature)

    def set_signature(self, signature: bytes) -> None:
        self._signed.signature = signature

    def signed_request(self) -> gateway_pb2.SignedChaincodeEventsRequest:
        if not self.is_signed():
            self.set_signature(self._signing.sign(self.digest()))
        return self._signed


class ChaincodeEventsRequest(ChaincodeEventsRequestCore):
    """A (possibly offline-signed) request for chaincode events; events() opens the stream."""

    def __init__(
        self,
        client: GatewayClient,
        signing: SigningIdentity,
        signed_request: gateway_pb2.SignedChaincodeEventsRequest,
    ) -> None:
        super().__init__(signing, signed_request)
        self._client = client

    def events(self, *, timeout: float | None = None) -> ChaincodeEventStream:
        return ChaincodeEventStream(self._client.chaincode_events(self.signed_request(), timeout))


class ChaincodeEventStream:
    """Iterator of ChaincodeEvent; close() (or leaving the with-block) cancels the server stream.

    A stream that ends with an error raises GatewayError from the iteration; a cancelled stream just stops.
    """

    def __init__(self, responses: Iterable[gateway_pb2.ChaincodeEventsResponse]) -> None:
        self._responses = responses
        self._closed = False

    def __iter__(self) -> Iterator[ChaincodeEvent]:
        try:
            for response in self._responses:
                yield from events_of(response)
        except grpc.RpcError as error:
            if self._closed or error.code() == grpc.StatusCode.CANCELLED:
                return
            raise from_rpc_error(error, GatewayError) from error

    def close(self) -> None:
        self._closed = True
        cancel = getattr(self._responses, "cancel", None)
        if cancel is not None:
            cancel()

    def __enter__(self) -> ChaincodeEventStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
