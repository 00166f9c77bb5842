"""Composition and recommendations over the gateway's index (tdses.discovery does the work).

    structures = await discovery.structures(store, block)     # built once per index block, then cached
    plan = await discovery.bounded(lambda give_up_at: compose(..., give_up_at=give_up_at))
        # in a worker thread, until a time limit, in few slots
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tdses.discovery.composition import TooLong
from tdses.discovery.recommend import CoOccurrence
from tdses.index.store import IndexStore
from tdses.rest.problems import Problem

T = TypeVar("T")
OVERRUN = 1.0  # seconds a composition past its limit may take to notice it before it is answered for


@dataclass(frozen=True)
class Structures:
    """What recommendations read, as the index held it at one block."""

    block: int
    composed: CoOccurrence  # mashups and their components
    bought: CoOccurrence  # users and the services they bought
    available: frozenset[str]


class Discovery:
    def __init__(self, compose_timeout: float, compose_slots: int) -> None:
        self.compose_timeout = compose_timeout
        self._slots = threading.BoundedSemaphore(compose_slots)
        self._lock = asyncio.Lock()
        self._cached: Structures | None = None

    async def structures(self, store: IndexStore, block: int) -> Structures:
        """The co-occurrence structures at the index's block: rebuilt only when the index moved on."""
        async with self._lock:
            cached = self._cached
            if cached is None or cached.block < block:
                cached = self._cached = await asyncio.to_thread(self._build, store, block)
            return cached

    @staticmethod
    def _build(store: IndexStore, block: int) -> Structures:
        return Structures(block, CoOccurrence.from_pairs(store.mashup_edges()),
                          CoOccurrence.from_pairs(store.purchases()), frozenset(store.service_names()))

    async def bounded(self, work: Callable[[float], T]) -> T:
        """Run a composition in a worker thread: at most `compose_slots` at once (503 beyond), each given until
        `compose_timeout` seconds from now (work(give_up_at), a time.monotonic() value), when it stops (TooLong) and
        frees its slot: 503. A thread that overruns anyway is answered for at the limit and frees its slot when it
        ends, so slow requests cannot pile up threads."""
        if not self._slots.acquire(blocking=False):
            raise Problem(503, "BUSY", "too many compositions are running; try again", headers={"Retry-After": "1"})
        give_up_at = time.monotonic() + self.compose_timeout

        def run() -> T:
            try:
                return work(give_up_at)
            finally:
                self._slots.release()

        try:
            return await asyncio.wait_for(asyncio.to_thread(run), self.compose_timeout + OVERRUN)
        except (TimeoutError, TooLong):
            raise Problem(503, "COMPOSITION_TIMEOUT", f"the composition took longer than {self.compose_timeout:g} s: "
                          "narrow the workflow or the constraints", headers={"Retry-After": "5"}) from None
