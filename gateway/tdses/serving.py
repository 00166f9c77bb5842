"""The HTTP/1.1 protocol the gateway and the meter are served with: uvicorn's (httptools), sending a response in one
segment, and refusing a request head beyond MAX_HEAD_BYTES.

uvicorn writes a response's head when the app starts it and its body when the app sends it: two socket writes for
every answer, each a system call and a segment for the client to take in. Here what a connection writes in one turn
of the event loop is held, and written at once at the turn's end.

httptools gathers a request's line and headers, however long, until they end, and so the trailer of a chunked
body: a client could fill the memory with one endless header. They are counted here as they arrive, read by read:
the reads after the one that began a request, until its head ends, and after the head the reads that bring no
body byte. Beyond MAX_HEAD_BYTES the connection gets 431 and is closed (so at most two reads beyond the limit are
taken in: the one that began the request, up to 256 KiB, and the one that crossed it).

    uvicorn.run(app, http=HttpProtocol, loop="asyncio")
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024  # a request's line and headers: tokens, cookies and signatures fit many times over


class JoinedWrites:
    """A transport whose writes in one turn of the loop go out together; anything else is the transport's own."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(data)

    def writelines(self, lines) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        held, self._held = self._held, []
        if held and not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self.flush()  # what was written before close() is sent, as by the transport itself
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_bytes: int | None = None  # of the request head being read; None between heads
        self._heads_begun = 0
        self._in_message = False  # from a request's first byte to its last
        self._bodies = 0  # reads of body bytes so far
        self._idle_bytes = 0  # read after the head since the last body bytes: chunk framing, a trailer
        super().connection_made(JoinedWrites(transport, self.loop))  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        reading_head, begun, bodies = self._head_bytes is not None, self._heads_begun, self._bodies
        super().data_received(data)
        if self._heads_begun != begun:  # a request began in this read: its head is counted from the next one
            return
        if reading_head:
            if self._head_bytes is not None:  # this read was all head
                self._head_bytes += len(data)
                if self._head_bytes > MAX_HEAD_BYTES:
                    self._refuse()
        elif self._in_message and self._bodies == bodies:  # after the head, and no body byte in it
            self._idle_bytes += len(data)
            if self._idle_bytes > MAX_HEAD_BYTES:  # a chunked body's trailer gathers as a head does
                self._refuse()

    def on_message_begin(self) -> None:
        self._heads_begun += 1
        self._head_bytes = 0
        self._in_message, self._idle_bytes = True, 0
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._bodies += 1
        self._idle_bytes = 0
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._in_message = False
        super().on_message_complete()

    def _refuse(self) -> None:
        """431, then the connection closes; only the close while a response is on its way (a 431 would corrupt it)."""
        self._head_bytes, self._in_message = None, False
        if self.cycle is not None and self.cycle.response_started and not self.cycle.response_complete:
            self.transport.close()
        else:
            self.send_431_response()

    def send_431_response(self) -> None:
        """As uvicorn's send_400_response: the answer, then the connection closes."""
        message = b"Request line and headers too large"
        head = [STATUS_LINE[431], *(name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers),
                b"content-type: text/plain; charset=utf-8\r\n", b"content-length: %d\r\n" % len(message),
                b"connection: close\r\n\r\n"]
        self.transport.write(b"".join(head) + message)
        self.transport.close()
