"""Idempotency-Key on POST: a retried request gets the first answer again instead of running (and paying) twice.

The key is scoped to the caller (the user its token belongs to), and bound to the request: the same key with a
different method, path or body is refused. Only final answers are kept. A 5xx (a 504 too: its transaction may have
been lost with an orderer), a 401, or an answer that says when to try again (Retry-After: a 429, a 409 conflict
that outlived its retries) is not: the retry runs the request again, which is safe because the request's
transactions have IDs derived from its key (tdses.rest.services.ledger), so it finds what already committed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tdses.asgi import read_body, replaying
from tdses.rest.headers import BLOCK_HEADER, ISSUES_SECRETS, MAX_KEY_LENGTH, TRANSACTION_HEADER, valid_key
from tdses.rest.middleware.asgi import bearer, header, send_problem
from tdses.rest.problems import Problem
from tdses.rest.store import Store

HEADER = b"idempotency-key"
NOT_KEPT = {401, 429}
# What a replay answers with besides the body: the block lets a client whose first answer was lost still read its
# write on another gateway (X-Min-Block).
KEPT_HEADERS = (b"content-type", b"location", TRANSACTION_HEADER.lower().encode(), BLOCK_HEADER.lower().encode())

# (owner, Idempotency-Key) of the request being served, for the ledger to derive its transaction IDs from.
_request: ContextVar[tuple[str, str] | None] = ContextVar("idempotent_request", default=None)


def current_request() -> tuple[str, str] | None:
    return _request.get()


@contextmanager
def as_request(owner: str, key: str) -> Iterator[None]:
    """Within: the ledger derives transaction IDs from (owner, key), as for a request under an Idempotency-Key
    (e.g. a web form's one-time key: sent again, it pays once)."""
    bound = _request.set((owner, key))
    try:
        yield
    finally:
        _request.reset(bound)


def final(status: int, headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether an answer is kept for the request's retries (see above)."""
    try_again = any(name.lower() == b"retry-after" for name, _ in headers)
    return 0 < status < 500 and status not in NOT_KEPT and not try_again


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, store: Store, ttl: float, owner_of: Callable[[Scope, str], str | None],
                 lease: float | None = None) -> None:
        self.app = app
        self.store = store
        self.ttl = ttl
        self.lease = lease  # after this long an unfinished request's claim is taken over by its retry
        self.owner_of = owner_of  # (request scope, API token) -> the name of whom it authenticates, or None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = header(scope, HEADER) if scope["type"] == "http" and scope["method"] == "POST" else None
        if key is None or ISSUES_SECRETS.match(scope["path"]):
            return await self.app(scope, receive, send)
        if not valid_key(key):
            return await send_problem(send, Problem(400, "INVALID_IDEMPOTENCY_KEY",
                                                    f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} visible ASCII characters"))
        token = bearer(scope)
        owner = self.owner_of(scope, token) if token else None
        if owner is None:  # authentication will refuse the request
            return await self.app(scope, receive, send)

        body = await read_body(receive)
        fingerprint = hashlib.sha256(
            b"\0".join([scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b""), body])
        ).hexdigest()
        prior = self.store.claim_idempotency_key(owner, key, fingerprint, self.ttl, self.lease)
        if prior is not None:
            if prior.fingerprint != fingerprint:
                return await send_problem(send, Problem(422, "IDEMPOTENCY_KEY_REUSED",
                                                        "this Idempotency-Key was used for a different request"))
            if prior.status is None:
                return await send_problem(send, Problem(409, "REQUEST_IN_PROGRESS", "the first request with this "
                                                        "Idempotency-Key is still running", headers={"Retry-After": "1"}))
            return await replay(send, prior.status, prior.headers, prior.body)

        status = 0
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        bound = _request.set((owner, key))
        try:
            await self.app(scope, replaying(body, receive), capture)
        except BaseException:
            self.store.release_idempotency_key(owner, key)
            raise
        finally:
            _request.reset(bound)
        if not final(status, headers):
            self.store.release_idempotency_key(owner, key)
        else:
            kept = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers
                    if k.lower() in KEPT_HEADERS]
            self.store.finish_idempotency_key(owner, key, status, json.dumps(kept), b"".join(chunks))


async def replay(send: Send, status: int, headers_json: str, body: bytes) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in json.loads(headers_json or "[]")]
    headers += [(b"content-length", str(len(body)).encode()), (b"idempotent-replayed", b"true")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
