"""Chaincode events as server-sent events, resumable from a block or from the last event seen.

Payments and uses are seen only by whom they concern (README, "Visibility"): a purchase by its buyer and the
service's developer, a reduction by its user, its reducer and the developer, a settlement by its settler and the
developer (a user sees its own part of it), a reward by its giver and the developer, a transfer by its two users; a
mashup's creation is public, but what it paid each developer only that developer (and its creator) sees. The
organization admin sees everything. A stream ends once its token no longer authenticates its caller (rotated,
reset, or the user removed).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from fabric_gateway import EventPosition, FabricError
from tdses.rest.api.deps import ContextDep, PrincipalDep, owner_of
from tdses.rest.api.jsonbody import ApiRoute
from tdses.rest.middleware.asgi import bearer
from tdses.rest.problems import Problem
from tdses.rest.services import visibility
from tdses.rest.services.auth import authenticate
from tdses.rest.services.context import Context
from tdses.rest.services.principal import Principal

router = APIRouter(route_class=ApiRoute, tags=["events"])

KEEPALIVE_SECONDS = 15.0
EVENT_ID = re.compile(r"^(\d{1,19}):([0-9a-f]{64})$")


def position(start_block: int | None, last_event_id: str | None) -> tuple[int | None, EventPosition | None]:
    if last_event_id:
        match = EVENT_ID.match(last_event_id)
        if match is None:
            raise Problem(422, "INVALID_ARGUMENT", "Last-Event-ID must be <block>:<transaction id>")
        return None, EventPosition(int(match.group(1)), match.group(2))
    return start_block, None


def payload_of(event) -> Any:
    try:
        return json.loads(event.payload) if event.payload else None
    except ValueError:
        return event.payload.decode(errors="replace")


def frame(event, data: Any) -> str:
    body = json.dumps({"block": event.block_number, "transactionId": event.transaction_id, "payload": data})
    return f"id: {event.block_number}:{event.transaction_id}\nevent: {event.event_name}\ndata: {body}\n\n"


class Audience:
    """What of each event one principal sees; developer_of(service) names a service's developer (None: unknown)."""

    def __init__(self, principal: Principal, developer_of: Callable[[str], Awaitable[str | None]],
                 still_valid: Callable[[], bool] = lambda: True,
                 developers: dict[str, str | None] | None = None) -> None:
        self.principal = principal
        self.developer_of = developer_of
        self.still_valid = still_valid  # whether the token the stream was opened with still authenticates it
        # A service's developer never changes: known once, for every stream that is given the same dict.
        self._developers = developers if developers is not None else {}

    async def view(self, name: str, payload: Any) -> Any | None:
        """The payload as this principal sees it; None: not at all."""
        if self.principal.is_admin or not isinstance(payload, dict):
            return payload
        if name == "CallsBought":
            concerned = self._user(payload.get("buyer")) or self._accounts(await self._service(payload.get("service")))
        elif name == "ServiceRewarded":
            concerned = self._user(payload.get("from")) or self._accounts(payload.get("developer"))
        elif name == "Transferred":
            concerned = self._user(payload.get("from")) or self._user(payload.get("to"))
        elif name == "CallsReduced":
            concerned = (self._user(payload.get("user")) or self._user(payload.get("reducer"))
                         or self._accounts(await self._service(payload.get("service"))))
        elif name == "CallsSettled":
            if self._user(payload.get("settler")) or self._accounts(await self._service(payload.get("service"))):
                return payload
            settled, rejected = self._own(payload.get("settled")), self._own(payload.get("rejected"))
            return {**payload, "settled": settled, "rejected": rejected} if settled or rejected else None
        elif name == "MashupCreated" and not self._user(payload.get("developer")):
            payments = [p for p in payload.get("payments") or []
                        if isinstance(p, dict) and self._accounts(p.get("developer"))]
            return {**{k: v for k, v in payload.items() if k != "paid"}, "payments": payments}
        else:
            concerned = True
        return payload if concerned else None

    def _user(self, name: Any) -> bool:
        return isinstance(name, str) and visibility.may_see_user(self.principal, name)

    def _own(self, entries: Any) -> list:
        """The entries of a list of {"user": ...} that are this principal's."""
        return [e for e in entries if isinstance(e, dict) and self._user(e.get("user"))] \
            if isinstance(entries, list) else []

    def _accounts(self, developer: Any) -> bool:
        return isinstance(developer, str) and visibility.may_see_service_accounts(self.principal, developer)

    async def _service(self, service: Any) -> str | None:
        """The service's developer (a Problem when it cannot be known now: the event is neither shown nor
        dropped)."""
        if not isinstance(service, str):
            return None
        if service not in self._developers:
            self._developers[service] = await self.developer_of(service)
        return self._developers[service]


def audience(context: Context, principal: Principal, token: str) -> Audience:
    async def developer_of(service: str) -> str | None:
        return (await context.admin_chaincode().query_service(service)).get("developer")

    caller = authenticate(context.store, context.admin_token_hash, token)

    def still_valid() -> bool:  # the store's cached lookup: cheap at every event
        now = authenticate(context.store, context.admin_token_hash, token)
        return now is not None and caller is not None and now.name == caller.name

    return Audience(principal, developer_of, still_valid, context.developers)


@router.get("/events", response_class=StreamingResponse, responses={
    200: {"content": {"text/event-stream": {}}, "description": "event: <name>, id: <block>:<txid>, data: JSON"},
    410: {"description": "the Last-Event-ID names no transaction of this channel"}})
async def events(
    request: Request,
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
    token = bearer(request.scope) or ""
    held = context.streams.hold(owner_of(context, request.scope, token) or "")
    try:
        frames = sse(await context.ledger.events(start, checkpoint), audience(context, principal, token))
    except BaseException:
        held.release()
        raise
    held.until_gone(frames)
    return StreamingResponse(frames, media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def sse(stream, seen_by: Audience) -> AsyncIterator[str]:
    iterator = stream.__aiter__()
    pending: asyncio.Task | None = None
    try:
        yield ": connected\n\n"
        while True:
            pending = pending or asyncio.ensure_future(iterator.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=KEEPALIVE_SECONDS)
            if not seen_by.still_valid():
                yield f"event: error\ndata: {json.dumps({'detail': 'the token is no longer valid'})}\n\n"
                return
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
            try:
                data = await seen_by.view(event.event_name, payload_of(event))
            except Problem as problem:  # the client reconnects with the last ID it got, and sees this event again
                yield f"event: error\ndata: {json.dumps({'detail': problem.detail})}\n\n"
                return
            if data is not None:
                yield frame(event, data)
    finally:
        stream.close()
        if pending is not None:
            pending.cancel()
            pending.add_done_callback(lambda task: task.cancelled() or task.exception())  # consumed: no warning
