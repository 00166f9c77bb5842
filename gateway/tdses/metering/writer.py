"""Journal writes off the event loop: a thread commits the vouchers of all the calls waiting at that moment in
one transaction (a group commit), and wakes each call when its voucher is on disk.

The disk sometimes takes 100 ms or more for one write (a filesystem journal commit, dirty-page throttling):
done on the event loop, that would stall every call in flight; here it delays only the calls whose vouchers
are in that write, and the calls that arrive meanwhile share the next one.
"""

from __future__ import annotations

import asyncio
import queue
import threading

from tdses.metering.journal import Journal

MOST_PER_COMMIT = 1024


class JournalWriter:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="meter-journal", daemon=True)
        self._thread.start()

    async def record(self, user: str, count: int, voucher: str) -> bool:
        """True once the voucher is on disk; False if this user's count was recorded before (a replay)."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._queue.put((user, count, voucher, loop, done))
        return await done

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < MOST_PER_COMMIT:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                batch.append(item)
            try:
                kept = self.journal.record_many([(user, count, voucher) for user, count, voucher, _, _ in batch])
            except Exception as error:  # noqa: BLE001 - each waiting call answers with it
                for *_, loop, done in batch:
                    loop.call_soon_threadsafe(_fail, done, error)
                continue
            for (*_, loop, done), recorded in zip(batch, kept):
                loop.call_soon_threadsafe(_resolve, done, recorded)


def _resolve(done: asyncio.Future, recorded: bool) -> None:
    if not done.done():
        done.set_result(recorded)


def _fail(done: asyncio.Future, error: Exception) -> None:
    if not done.done():
        done.set_exception(error)
