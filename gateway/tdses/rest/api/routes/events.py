"""Chaincode events as server-sent events, resumable from a block or from the last event seen."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from fabric_gateway import EventPosition, FabricError
from tdses.rest.api.deps import ContextDep, PrincipalDep
from tdses.rest.problems import Problem

router = APIRouter(tags=["events"])

KEEPALIVE_SECONDS = 15.0
EVENT_ID = re.compile(r"^(\d{1,19}):([0-9a-f]{64})$")


def position(start_block: int | None, last_event_id: str | None) -> tuple[int | None, EventPosition | None]:
    if last_event_id:
        match = EVENT_ID.match(last_event_id)
        if match is None:
            raise Problem(422, "INVALID_ARGUMENT", "Last-Event-ID must be <block>:<transaction id>")
        return None, EventPosition(int(match.group(1)), match.group(2))
    return start_block, None


def frame(event) -> str:
    try:
        data = json.loads(event.payload) if event.payload else None
    except ValueError:
        data = event.payload.decode(errors="replace")
    body = json.dumps({"block": event.block_number, "transactionId": event.transaction_id, "payload": data})
    return f"id: {event.block_number}:{event.transaction_id}\nevent: {event.event_name}\ndata: {body}\n\n"


@router.get("/events", response_class=StreamingResponse, responses={
    200: {"content": {"text/event-stream": {}}, "description": "event: <name>, id: <block>:<txid>, data: JSON"},
    410: {"description": "the Last-Event-ID names no transaction of this channel"}})
async def events(
    context: ContextDep,
    principal: PrincipalDep,
    start_block: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="replay from this block")] = None,
    last_event_id: Annotated[str | None, Header(max_length=100)] = None,
) -> StreamingResponse:
    """Chaincode events (CallsBought, ServicePublished, ...) from the next commit, from ?start_block=, or after the
    Last-Event-ID a reconnecting EventSource sends."""
    start, checkpoint = position(start_block, last_event_id)
    if checkpoint is not None:
        resumed = await context.ledger.resume_point(checkpoint.block_number, checkpoint.transaction_id)
        if resumed is None:  # Fabric would wait, silently and forever, for a transaction that is not there
            raise Problem(410, "UNKNOWN_RESUME_POINT", f"no transaction {checkpoint.transaction_id} in block "
                          f"{checkpoint.block_number} of this channel: reconnect without Last-Event-ID, or with "
                          "?start_block=")
        start, checkpoint = resumed
    stream = await context.ledger.events(start, checkpoint)
    return StreamingResponse(sse(stream), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def sse(stream) -> AsyncIterator[str]:
    iterator = stream.__aiter__()
    pending: asyncio.Task | None = None
    try:
        yield ": connected\n\n"
        while True:
            pending = pending or asyncio.ensure_future(iterator.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=KEEPALIVE_SECONDS)
            if not done:
                yield ": keep-alive\n\n"
                continue
            pending = None
            try:
                event = done.pop().result()
            except StopAsyncIteration:
                return
            except FabricError as error:
                yield f"event: error\ndata: {json.dumps({'detail': str(error.args[0] if error.args else error)[:300]})}\n\n"
                return
            yield frame(event)
    finally:
        stream.close()
        if pending is not None:
            pending.cancel()
            pending.add_done_callback(lambda task: task.cancelled() or task.exception())  # consumed: no warning
