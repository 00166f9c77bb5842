"""Reads that callers make at the same moment, sent to the peer as one proposal.

    rights = Coalescer(one=read_rights, many=read_many_rights, limit=RIGHTS_PER_READ, in_flight=1)
    answer = await rights.read(("weather-api", "alice"))  # as read_rights(("weather-api", "alice")) would

Under load most of a read's cost in the gateway is the Fabric call itself: building the proposal, signing it, and
gRPC's call and completion. Reads made while no proposal is out go at once: together if several were made in the
same turn of the event loop, else alone through the plain function (GetSpecCallTime), so that at low load nothing
waits. Reads made while `in_flight` proposals are out wait for one of them to come back, then go together through
the chaincode's batch function (GetSpecCallTimes): that cost is paid once per batch instead of once per read. A
full batch (`limit` reads) goes at once. Each caller gets its own answer: a refusal of its arguments (a Refused)
fails only its read.

If the batch as a whole fails because the peer or the network did (unreachable, timed out), every read of it fails
with that error. If the chaincode refuses the batch itself (one without the batch function, during an upgrade) or
answers it malformed, each read is sent again alone, so that its caller gets the plain function's answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fabric_gateway import FabricError

from tdses.chaincode import Refused, error_code

log = logging.getLogger("tdses.rest")

Args = tuple[str, ...]


class MalformedBatch(Exception):
    """The batch function's answer is not one answer per read."""


class Coalescer:
    def __init__(self, one: Callable[[Args], Awaitable[Any]],
                 many: Callable[[Sequence[Args]], Awaitable[list[Any]]], limit: int, in_flight: int) -> None:
        """one(args): a read's answer, alone. many(batch): the batch function's answers, in order, each a read's
        answer or its Refused (MalformedBatch if the chaincode's answer is not that). limit: reads per batch.
        in_flight: proposals out at once; reads made while that many are out wait for one to come back, and go
        together."""
        self.one = one
        self.many = many
        self.limit = limit
        self.in_flight = in_flight
        self.pending: list[tuple[Args, asyncio.Future]] = []
        self.tasks: set[asyncio.Task] = set()
        self.scheduled = False
        self.batches = 0  # sent through the batch function
        self.warned = False

    async def read(self, args: Args) -> Any:
        future = asyncio.get_running_loop().create_future()
        self.pending.append((args, future))
        self.schedule()
        return await future

    def ready(self) -> bool:
        """A batch may go: fewer than in_flight are out, or a full one is waiting."""
        return len(self.tasks) < self.in_flight or len(self.pending) >= self.limit

    def schedule(self) -> None:
        if not self.scheduled and self.pending and self.ready():
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)  # after the reads that are ready to run in this turn

    def flush(self) -> None:
        self.scheduled = False
        self.pending = [(args, future) for args, future in self.pending if not future.done()]  # callers gone
        while self.pending and self.ready():
            batch, self.pending = self.pending[:self.limit], self.pending[self.limit:]
            task = asyncio.create_task(self.send(batch))
            self.tasks.add(task)  # the loop keeps only weak references to tasks
            task.add_done_callback(self.sent)

    def sent(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        self.schedule()

    async def send(self, batch: list[tuple[Args, asyncio.Future]]) -> None:
        try:
            if len(batch) == 1:
                await self.alone(*batch[0])
            else:
                await self.together(batch)
        except Exception as error:  # the peer's failure, or an unexpected one: every read of the batch fails with it
            for _, future in batch:
                settle(future, error=error)
        finally:
            for _, future in batch:  # cancelled (the gateway stopping): no caller waits for ever
                if not future.done():
                    future.cancel()

    async def together(self, batch: list[tuple[Args, asyncio.Future]]) -> None:
        self.batches += 1
        try:
            answers = await self.many([args for args, _ in batch])
            if len(answers) != len(batch):
                raise MalformedBatch(f"{len(batch)} reads got {len(answers)} answers")
        except (FabricError, MalformedBatch) as error:
            if isinstance(error, FabricError) and error_code(error) is None:
                raise  # the peer failed, not the chaincode: so would each read alone
            if not self.warned:
                self.warned = True
                log.warning("reading one at a time: the batch read failed (%s)", error)
            await asyncio.gather(*(self.alone(args, future) for args, future in batch))
            return
        for (_, future), answer in zip(batch, answers, strict=True):
            if isinstance(answer, Refused):
                settle(future, error=answer)
            else:
                settle(future, answer)

    async def alone(self, args: Args, future: asyncio.Future) -> None:
        try:
            answer = await self.one(args)
        except Exception as error:  # the caller's, as if it had called one() itself
            settle(future, error=error)
        else:
            settle(future, answer)


def settle(future: asyncio.Future, answer: Any = None, error: BaseException | None = None) -> None:
    if future.done():  # its caller went away (a client that disconnected)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(answer)
