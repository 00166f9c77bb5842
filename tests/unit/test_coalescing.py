"""Reads made at the same moment go to the peer as one batch, and each caller still gets its own answer."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from fabric_gateway import GatewayError

from tdses.chaincode import Refused
from tdses.rest.problems import problem_from_fabric, problem_from_refusal
from tdses.rest.services.coalescing import Coalescer, MalformedBatch


class Peer:
    """one() and many() over a table of answers, recording what was sent; an answer starting with a code is a
    refusal."""

    def __init__(self, many_fails: Exception | None = None, answers_short: bool = False) -> None:
        self.open = asyncio.Event()  # a batch is answered once this is set
        self.open.set()
        self.alone: list[tuple] = []
        self.batches: list[list[tuple]] = []
        self.many_fails = many_fails
        self.answers_short = answers_short

    @staticmethod
    def answer(args: tuple) -> object:
        service, user = args
        return Refused(f"NOT_FOUND: service {service} does not exist") if service == "nothing" else f"{service}/{user}"

    async def one(self, args: tuple) -> object:
        self.alone.append(args)
        await self.open.wait()
        answer = self.answer(args)
        if isinstance(answer, Refused):
            raise answer
        return answer

    async def many(self, batch: list[tuple]) -> list[object]:
        self.batches.append(list(batch))
        await self.open.wait()
        if self.many_fails is not None:
            raise self.many_fails
        answers = [self.answer(args) for args in batch]
        return answers[:-1] if self.answers_short else answers


async def read_all(coalescer: Coalescer, reads: list[tuple]) -> list[object]:
    return await asyncio.gather(*(coalescer.read(args) for args in reads), return_exceptions=True)


async def until(condition) -> None:
    async def turns() -> None:
        while not condition():
            await asyncio.sleep(0)

    await asyncio.wait_for(turns(), timeout=5)


def plain(results: list[object]) -> list[object]:
    return [f"refused {r.chaincode_message}" if isinstance(r, Refused) else r for r in results]


READS = [("weather", f"user{i}") for i in range(5)] + [("nothing", "alice"), ("weather", "alice")]
EXPECTED = [f"weather/user{i}" for i in range(5)] + ["refused NOT_FOUND: service nothing does not exist",
                                                     "weather/alice"]


async def test_reads_of_one_turn_go_as_one_batch_and_each_gets_its_answer():
    peer = Peer()
    coalescer = Coalescer(peer.one, peer.many, limit=64, in_flight=1000)
    assert plain(await read_all(coalescer, READS)) == EXPECTED
    assert peer.batches == [READS] and peer.alone == []


async def test_a_read_alone_goes_out_alone_through_the_plain_function():
    peer = Peer()
    coalescer = Coalescer(peer.one, peer.many, limit=64, in_flight=1000)
    assert await coalescer.read(("weather", "alice")) == "weather/alice"
    with pytest.raises(Refused, match="NOT_FOUND"):
        await coalescer.read(("nothing", "alice"))
    assert peer.alone == [("weather", "alice"), ("nothing", "alice")] and peer.batches == []


async def test_reads_made_while_a_proposal_is_out_wait_for_it_and_go_together():
    peer = Peer()
    coalescer = Coalescer(peer.one, peer.many, limit=64, in_flight=1)
    peer.open.clear()
    first = asyncio.ensure_future(coalescer.read(READS[0]))
    await until(lambda: peer.alone == [READS[0]])
    later = asyncio.ensure_future(read_all(coalescer, READS[1:]))
    await until(lambda: len(coalescer.pending) == len(READS) - 1)
    assert peer.batches == []
    peer.open.set()
    assert [await first, *plain(await later)] == EXPECTED
    assert peer.batches == [READS[1:]]


async def test_a_full_batch_goes_at_once_even_while_another_is_out():
    peer = Peer()
    coalescer = Coalescer(peer.one, peer.many, limit=3, in_flight=1)
    peer.open.clear()
    reads = asyncio.ensure_future(read_all(coalescer, READS))
    await until(lambda: len(peer.batches) == 2)  # two full batches out, one read waiting
    assert peer.batches == [READS[0:3], READS[3:6]] and peer.alone == []
    peer.open.set()
    assert plain(await reads) == EXPECTED
    assert peer.alone == [READS[6]]


async def test_a_failed_peer_fails_every_read_of_the_batch_without_sending_them_again():
    unreachable = GatewayError(grpc.StatusCode.UNAVAILABLE, "no peer reachable")
    peer = Peer(many_fails=unreachable)
    coalescer = Coalescer(peer.one, peer.many, limit=64, in_flight=1000)
    assert await read_all(coalescer, READS) == [unreachable] * len(READS)
    assert peer.alone == []


@pytest.mark.parametrize("peer", [
    Peer(many_fails=GatewayError(grpc.StatusCode.UNKNOWN,
                                 "chaincode response 500, INVALID_ARGUMENT: Function GetSpecCallTimes not found")),
    Peer(answers_short=True),
    Peer(many_fails=MalformedBatch("not a list")),
], ids=["batch function refused", "one answer short", "malformed"])
async def test_a_batch_the_chaincode_does_not_answer_is_read_one_at_a_time(peer, caplog):
    coalescer = Coalescer(peer.one, peer.many, limit=64, in_flight=1000)
    assert plain(await read_all(coalescer, READS)) == EXPECTED
    assert peer.alone == READS
    assert plain(await read_all(coalescer, READS)) == EXPECTED
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1  # warned once


async def test_a_caller_that_goes_away_leaves_the_others_their_answers():
    peer = Peer()
    coalescer = Coalescer(peer.one, peer.many, limit=64, in_flight=1000)
    peer.open.clear()
    reads = [asyncio.ensure_future(coalescer.read(args)) for args in READS]
    await until(lambda: peer.batches)  # the batch is out
    reads[0].cancel()
    peer.open.set()
    results = await asyncio.gather(*reads, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert plain(results[1:]) == EXPECTED[1:]


async def test_an_unexpected_failure_reaches_every_caller_and_none_waits_for_ever():
    async def broken(batch):
        raise RuntimeError("a defect")

    coalescer = Coalescer(Peer().one, broken, limit=64, in_flight=1000)
    results = await asyncio.wait_for(read_all(coalescer, READS), timeout=5)
    assert all(isinstance(r, RuntimeError) for r in results)


async def test_a_batch_cancelled_while_out_cancels_its_reads_and_later_reads_still_go():
    peer = Peer()
    coalescer = Coalescer(peer.one, peer.many, limit=64, in_flight=1)
    peer.open.clear()
    reads = asyncio.ensure_future(read_all(coalescer, READS))
    await until(lambda: len(peer.batches) == 1)
    for task in list(coalescer.tasks):  # as when the gateway stops
        task.cancel()
    assert all(isinstance(r, asyncio.CancelledError) for r in await reads)
    peer.open.set()
    assert plain(await read_all(coalescer, READS)) == EXPECTED


def test_a_refusal_read_from_a_batch_is_the_problem_the_plain_read_gave():
    message = 'INVALID_ARGUMENT: voucher 0 is for service "chaincode response 9, NOT_FOUND: x", not "svc"'
    plain_read = GatewayError(grpc.StatusCode.UNKNOWN, f"evaluate failed: chaincode response 500, {message}")
    problems = [problem_from_refusal(Refused(message)), problem_from_fabric(plain_read)]
    assert [(p.status, p.code, p.detail) for p in problems] == [(422, "INVALID_ARGUMENT", message[18:])] * 2
