"""The HTTP protocol of the gateway and the meter: a response leaves in one write, nothing written before a close is
lost, and a request head beyond the limit is refused."""

from __future__ import annotations

import asyncio

import uvicorn
from uvicorn.server import ServerState

from tdses.serving import MAX_HEAD_BYTES, HttpProtocol


class Transport(asyncio.Transport):
    """A connection's socket, recording what is written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.written = asyncio.Event()
        self.closed = False

    def write(self, data) -> None:
        assert not self.closed
        self.writes.append(bytes(data))
        self.written.set()

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def app_writing_to(transport: Transport):
    async def app(scope, receive, send) -> None:
        if scope["path"] != "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]})
            await send({"type": "http.response.body", "body": b"hello"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"one ", "more_body": True})
        # The first chunk reaches the socket before the second exists: nothing is held back for the stream's end.
        await asyncio.wait_for(transport.written.wait(), timeout=5)
        await send({"type": "http.response.body", "body": b"two"})

    return app


def connect() -> tuple[Transport, HttpProtocol, ServerState]:
    transport = Transport()
    config = uvicorn.Config(app_writing_to(transport), http=HttpProtocol, lifespan="off", log_level="warning")
    state = ServerState()
    protocol = HttpProtocol(config=config, server_state=state, app_state={}, _loop=asyncio.get_running_loop())
    protocol.connection_made(transport)
    return transport, protocol, state


async def serve(*reads: bytes) -> Transport:
    transport, protocol, state = connect()
    for data in reads:
        protocol.data_received(data)  # the last starts the request's task
    # Its last writes were flushed in the turn it ended: the flush was scheduled before the task's completion.
    while state.tasks:  # a pipelined request's task starts when the one before it ends
        await asyncio.wait_for(asyncio.gather(*state.tasks), timeout=5)
    return transport


async def test_a_response_s_head_and_body_leave_in_one_write():
    transport = await serve(b"GET / HTTP/1.1\r\nHost: gw\r\n\r\n")
    assert len(transport.writes) == 1
    head, _, body = transport.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"content-length: 5" in head and body == b"hello"


async def test_a_streamed_response_leaves_chunk_by_chunk_in_order():
    transport = await serve(b"GET /stream HTTP/1.1\r\nHost: gw\r\n\r\n")
    sent = b"".join(transport.writes)
    assert len(transport.writes) >= 2  # its later chunks are not held back for the end
    assert sent.endswith(b"4\r\none \r\n3\r\ntwo\r\n0\r\n\r\n") and b"transfer-encoding: chunked" in sent


async def test_what_was_written_before_the_connection_closes_is_sent():
    transport = await serve(b"GET / HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
    assert transport.closed and b"".join(transport.writes).endswith(b"\r\n\r\nhello")


async def test_a_request_head_beyond_the_limit_gets_431_and_the_connection_closes():
    transport, protocol, state = connect()
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: gw\r\nX-Endless: ")
    for _ in range(MAX_HEAD_BYTES // 4096 + 1):
        protocol.data_received(b"a" * 4096)
    assert transport.closed and not state.tasks  # no request reached the app
    answer = b"".join(transport.writes)
    assert answer.startswith(b"HTTP/1.1 431 ") and b"connection: close" in answer


async def test_heads_within_the_limit_are_served_however_they_are_split_and_pipelined():
    header = b"X-Long: " + b"a" * (MAX_HEAD_BYTES - 1024) + b"\r\n\r\n"
    transport = await serve(b"GET / HTTP/1.1\r\nHost: gw\r\n", *(header[i:i + 4096] for i in range(0, len(header), 4096)))
    assert not transport.closed and b"".join(transport.writes).endswith(b"\r\n\r\nhello")
    # Two long heads in turn on one connection: each is counted from its own start.
    transport = await serve(*[b"GET / HTTP/1.1\r\nHost: gw\r\n", header] * 2)
    assert not transport.closed and b"".join(transport.writes).count(b"hello") == 2


async def test_a_chunked_body_s_endless_trailer_is_refused_like_a_head():
    transport, protocol, state = connect()
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n")
    protocol.data_received(b"1\r\na\r\n0\r\nX-Endless: ")
    for _ in range(MAX_HEAD_BYTES // 4096 + 1):
        protocol.data_received(b"a" * 4096)
    assert transport.closed and b"".join(transport.writes).startswith(b"HTTP/1.1 431 ")


async def test_a_chunked_body_in_many_small_reads_with_a_trailer_is_served():
    chunks = [b"POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n"]
    for _ in range(5000):  # 25 kB of chunk framing beside 5 kB of body, read by read
        chunks += [b"1\r\n", b"a", b"\r\n"]
    chunks += [b"0\r\n", b"X-Trailer: " + b"t" * 1000 + b"\r\n", b"\r\n"]
    transport = await serve(*chunks)
    assert not transport.closed and b"".join(transport.writes).endswith(b"\r\n\r\nhello")
