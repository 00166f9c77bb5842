"""The follower: reads the channel's blocks from the checkpoint on and applies each to the index, for as long as
it runs. It never fails for good: an unreachable database or peer is retried with backoff, and logged.

    follower = Follower(lambda: IndexStore("index.db"), reader, "tdses")
    task = follower.start()                               # in the gateway's lifespan
    follower.current_block                                # the last block applied, -1 before the first
    await follower.wait_for_block(42, timeout=5)          # True once block 42 is in the index
    follower.wait_for_block_from_thread(42, timeout=5)    # the same, from outside its event loop
    await follower.run(stop_at=height - 1)                # apply up to a block, then return (verify, rebuild)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from fabric_gateway.aio.deliver import BlockReader

from tdses.index.blocks import index_block
from tdses.index.store import IndexStore

log = logging.getLogger("tdses.index")
# A peer that sends no block for this long while another peer of the channel holds it is left for the next one.
STALL_SECONDS = 10.0
LIVE_BLOCKS = 10  # an index at most this far behind the ledger is following it live, not catching up
REFLECT_SECONDS = 2.0  # a write waits at most this long for its gateway's live index (a block takes milliseconds)


class Follower:
    def __init__(self, open_store: Callable[[], IndexStore], reader: BlockReader, chaincode: str, *,
                 max_delay: float = 30.0, on_block: Callable[[int], None] | None = None) -> None:
        self._open_store = open_store
        self.store: IndexStore | None = None
        self.reader = reader
        self.chaincode = chaincode
        self.max_delay = max_delay
        self.on_block = on_block
        self.current_block = -1
        self.last_error = ""
        self.last_applied_at: float | None = None
        self.blocks_applied = 0  # by this follower or found applied by another, since it started
        # Whether a peer of the channel is known to hold a block (the gateway's ChannelPeers): then a peer that
        # does not send it is behind.
        self.held_elsewhere: Callable[[int], bool] | None = None
        self._advanced = asyncio.Event()
        self._stuck_at = -2  # the block the index stayed at while a write waited for it in vain
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- waiting ------------------------------------------------------------------------------

    def _advance(self, block_number: int) -> None:
        if block_number > self.current_block:
            self.current_block = block_number
            self.last_applied_at = time.time()
            self._advanced.set()
            self._advanced = asyncio.Event()
            if self.on_block is not None:
                self.on_block(block_number)

    async def wait_for_block(self, block_number: int, timeout: float) -> bool:
        """Wait until the index holds the block; False if it does not within timeout seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.current_block < block_number:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return False
            try:
                async with asyncio.timeout(remaining):
                    await self._advanced.wait()
            except TimeoutError:
                return self.current_block >= block_number
        return True

    async def reflect(self, block_number: int) -> None:
        """Wait (at most REFLECT_SECONDS) until the index holds a block a write through this gateway committed
        in, so that its writer reads it here at once — when the index is live. One catching up from far behind,
        or stuck since such a wait ran out, does not hold writes: X-Min-Block is the way to read them then."""
        if block_number - self.current_block > LIVE_BLOCKS or self.current_block == self._stuck_at:
            return
        if not await self.wait_for_block(block_number, REFLECT_SECONDS):
            self._stuck_at = self.current_block

    def wait_for_block_from_thread(self, block_number: int, timeout: float) -> bool:
        """wait_for_block for code outside the follower's event loop (a worker thread, a test)."""
        if self._loop is None:
            raise RuntimeError("the follower is not running")
        future = asyncio.run_coroutine_threadsafe(self.wait_for_block(block_number, timeout), self._loop)
        return future.result(timeout + 5)

    def health(self) -> dict[str, Any]:
        return {"block": self.current_block, "following": self._task is not None and not self._task.done(),
                "error": self.last_error or self.reader.last_error or None}

    # --- following ----------------------------------------------------------------------------

    async def _store(self) -> IndexStore:
        if self.store is None:
            self.store = await asyncio.to_thread(self._open_store)
        return self.store

    async def _follow(self, stop_at: int | None) -> None:
        store = await self._store()
        start = await asyncio.to_thread(store.next_block)
        if start - 1 < self.current_block:  # rebuilt meanwhile: what it holds is what it answers from
            self.current_block = start - 1
        self._advance(start - 1)
        if stop_at is not None and start > stop_at:
            return
        if stop_at is not None:
            blocks = self.reader.blocks(start, stop_at)
        elif self.held_elsewhere is not None:
            blocks = self.reader.blocks(start, stall=STALL_SECONDS, held_elsewhere=self.held_elsewhere)
        else:
            blocks = self.reader.blocks(start)
        try:
            async for block in blocks:
                indexed = index_block(block, self.chaincode)
                if await asyncio.to_thread(store.apply, indexed):
                    log.debug("index: block %d applied (%d transactions)", indexed.number,
                              len(indexed.transactions))
                else:
                    # Another follower on this database applied it: go on from wherever that one is.
                    checkpoint = await asyncio.to_thread(store.next_block)
                    if checkpoint < indexed.number:
                        raise RuntimeError(f"the index's checkpoint went back to {checkpoint} (a rebuild?)")
                self._advance(indexed.number)
                self.blocks_applied += 1
                self.last_error = ""
        finally:
            await blocks.aclose()

    async def run(self, stop_at: int | None = None) -> None:
        """Follow the channel (until stop_at is applied, if given), retrying every failure with backoff."""
        failures = 0
        while stop_at is None or self.current_block < stop_at:
            applied = self.blocks_applied
            try:
                await self._follow(stop_at)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the gateway must keep serving whatever happens here
                # A failure after blocks were applied is a new one: its wait starts short again.
                failures = 1 if self.blocks_applied > applied else failures + 1
                delay = min(self.max_delay, 0.5 * 2 ** min(failures - 1, 16))
                self.last_error = f"{type(error).__name__}: {error}"
                log.warning("index: %s; following again in %.1fs", self.last_error, delay,
                            exc_info=failures == 1)
                await asyncio.sleep(delay)

    def start(self) -> asyncio.Task:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self.run(), name="index-follower")
        return self._task

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await self.reader.close()
        if self.store is not None:
            self.store.close()
