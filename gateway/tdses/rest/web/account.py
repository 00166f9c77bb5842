"""My rights and history, my account (API token, key custody, removal) and the network (supply, height, a live
feed of the registry's activity)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from tdses.index.store import IndexStore
from tdses.rest.api.deps import ContextDep, off_loop
from tdses.rest.api.routes.registry import USER_HISTORY, activity_out
from tdses.rest.services import visibility
from tdses.rest.services.tokens import new_token, token_hash
from tdses.rest.web.acting import NOTICES, Acting, index_at
from tdses.rest.web.render import PageRoute, page, see_other
from tdses.rest.web.sessions import Visitor, VisitorDep, check_form, visitor_of

router = APIRouter(route_class=PageRoute, include_in_schema=False)

# The registry's public facts, and payments, which only the payer and the service's developer see (README,
# "Visibility"), as the API shows them: a mashup's creation is public, what it paid is its creator's.
PUBLIC = ("mashup_created", "service_registered", "service_published", "user_registered")
PAYMENTS = ("purchase", "reward")
FEED = PUBLIC + PAYMENTS
FEED_LENGTH = 20
FEED_POLL_SECONDS = 1.0
FEED_BATCH = 1000  # facts one poll of the feed reads at most, unless one block has more
FEED_REPLAY_BLOCKS = 100  # how far back a feed (re)opened from an older block starts: not the whole history


def facts_between(store: IndexStore, after: int, upto: int) -> tuple[list[dict], int]:
    """The feed's facts of the blocks after `after` up to `upto`, oldest first, and the block they reach: every
    fact of each block they hold. At most FEED_BATCH facts, unless the first block has more; the rest are the next
    poll's (blocking: off the event loop)."""
    rows = store.facts_of_blocks(FEED, after, upto, FEED_BATCH + 1)
    if len(rows) <= FEED_BATCH:
        return rows, upto
    last = rows[-1]["block"]
    whole = [r for r in rows if r["block"] < last]  # the last block read may go on beyond the batch
    if whole:
        return whole, last - 1
    while True:  # one block of more than a batch: all of it
        more = store.facts_of_blocks(FEED, last - 1, last, FEED_BATCH,
                                     (rows[-1]["block"], rows[-1]["position"], rows[-1]["seq"]))
        rows += more
        if len(more) < FEED_BATCH:
            return rows, last


def visible_facts(store: IndexStore, visitor: Visitor, rows: list[dict]) -> list[dict]:
    """The rows the visitor may see, as the feed shows them (blocking: off the event loop)."""
    developers: dict[str, str | None] = {}

    def may_see(row: dict) -> bool:
        if row["kind"] not in PAYMENTS or visibility.may_see_user(visitor.principal, row["user"]):
            return True
        if row["service"] not in developers:
            service = store.service(row["service"])
            developers[row["service"]] = service["developer"] if service else None
        developer = developers[row["service"]]
        return developer is not None and visibility.may_see_service_accounts(visitor.principal, developer)

    def shown(row: dict) -> dict:
        fact = activity_out(row)
        if row["kind"] == "mashup_created" and not visibility.may_see_user(visitor.principal, row["user"]):
            fact["amount"] = None  # what the mashup paid its components' developers, as /v1/events hides it
        return fact

    return [shown(row) for row in rows if may_see(row)]


@router.get("/rights")
async def my_rights(request: Request, context: ContextDep, visitor: VisitorDep,
                    block: Annotated[int | None, Query(ge=0)] = None) -> Response:
    store = await index_at(context, block)
    rights = await off_loop(store.all_rights, user=visitor.name)
    history, _ = await off_loop(store.history, user=visitor.name, kinds=USER_HISTORY, limit=50)
    return page(request, "rights.html", visitor=visitor, rights=rights, history=[activity_out(r) for r in history])


@router.get("/account")
async def account(request: Request, visitor: VisitorDep,
                  done: Annotated[str | None, Query(max_length=20)] = None) -> Response:
    return page(request, "account.html", visitor=visitor, notice=NOTICES.get(done or ""))


@router.post("/account/token")
async def rotate_token(request: Request, context: ContextDep, visitor: VisitorDep) -> Response:
    """As POST /v1/users/{name}/token: the old token stops working; the new one is shown on this answer only."""
    check_form(await request.form(), visitor)
    token = new_token()
    context.store.set_token(visitor.name, token_hash(token))
    return page(request, "account.html", visitor=visitor, token=token, notice=NOTICES["token"])


@router.post("/account/delete")
async def delete_account(request: Request, context: ContextDep, visitor: VisitorDep) -> Response:
    form = await request.form()
    check_form(form, visitor)
    if form.get("confirm") != visitor.name:
        return page(request, "account.html", status_code=422, visitor=visitor,
                    error="Type your name to confirm that your account is to be removed.")
    await Acting(context, visitor).chaincode.remove_user(visitor.name, after_commit="forget_user")
    context.store.expire_sessions(visitor.name)
    return see_other("/signin")


@router.get("/network")
async def network(request: Request, context: ContextDep, visitor: VisitorDep) -> Response:
    supply = await Acting(context, visitor).chaincode.token_info()
    height = await context.ledger.height()
    store = await index_at(context, None)
    index_block = context.index.current_block  # the feed goes on from here (?from=)
    rows, _ = await off_loop(store.history, kinds=FEED, limit=50)
    recent = await off_loop(visible_facts, store, visitor, [r for r in rows if r["block"] <= index_block])
    return page(request, "network.html", visitor=visitor, supply=supply, height=height,
                index_block=index_block, recent=recent[:FEED_LENGTH])


@router.get("/network/activity")
async def activity_feed(request: Request, context: ContextDep, visitor: VisitorDep,
                        after: Annotated[int | None, Query(alias="from", ge=0, le=2**62)] = None) -> StreamingResponse:
    """Server-sent events: each fact the index applies after block `from` (the page's, or the Last-Event-ID of a
    reconnecting browser; else from now on) that the visitor may see, while the visitor's session lasts."""
    follower = context.index
    last_event_id = request.headers.get("last-event-id", "")
    if last_event_id.isascii() and last_event_id.isdigit() and len(last_event_id) <= 18:
        after = int(last_event_id)

    async def events() -> AsyncIterator[str]:
        seen = follower.current_block if after is None else max(after, follower.current_block - FEED_REPLAY_BLOCKS)
        yield ": the registry's activity from block %d on\n\n" % (seen + 1)
        while not await request.is_disconnected() and visitor_of(request, context) is not None:
            current = follower.current_block
            if current > seen and follower.store is not None:
                rows, reached = await off_loop(facts_between, follower.store, seen, current)
                facts = await off_loop(visible_facts, follower.store, visitor, rows)
                for fact in facts:
                    yield f"id: {fact['blockNumber']}\nevent: activity\ndata: {json.dumps(fact)}\n\n"
                seen = reached
                if reached < current:
                    continue  # more to read at once
            await asyncio.sleep(FEED_POLL_SECONDS)

    frames = events()
    context.streams.hold(visitor.name).until_gone(frames)
    return StreamingResponse(frames, media_type="text/event-stream", headers={"Cache-Control": "no-store"})
