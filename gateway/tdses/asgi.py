"""ASGI helpers shared by the gateway's middleware and the meter's: reading a request's body before the app does,
and handing it on."""

from __future__ import annotations

from starlette.types import Message, Receive


class BodyTooLarge(ValueError):
    """The request's body is longer than the reader allows."""


async def read_body(receive: Receive, limit: int | None = None) -> bytes:
    """The whole body; BodyTooLarge as soon as it grows past limit bytes (the rest is not read)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            raise BodyTooLarge(f"the body is longer than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the app the body read before, then what the server sends next (the disconnect)."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}
    return again
