"""Open server-sent event streams per caller (/v1/events, the web feed): each holds a stream from a peer or polls
the index for as long as it is open, so a caller may hold a few, not as many as its rate limit lets it open.

    held = context.streams.hold(caller)     # 429 beyond the caller's share
    held.until_gone(frames)                 # the response's iterator: ran to its end, cut off, or never started
"""

from __future__ import annotations

import weakref
from collections import Counter

from tdses.rest.problems import Problem


class StreamSlots:
    def __init__(self, most_per_caller: int) -> None:
        self.most = most_per_caller
        self._open: Counter[str] = Counter()

    def hold(self, caller: str) -> Held:
        if self._open[caller] >= self.most:
            raise Problem(429, "TOO_MANY_STREAMS", f"{self.most} event streams are open for this caller already: "
                          "close one first", headers={"Retry-After": "5"})
        self._open[caller] += 1
        return Held(self, caller)

    def open(self, caller: str) -> int:
        return self._open[caller]

    def _release(self, caller: str) -> None:
        self._open[caller] -= 1
        if self._open[caller] <= 0:
            del self._open[caller]


class Held:
    """One open stream's place, given back once (release, or when the stream it is tied to is gone)."""

    def __init__(self, slots: StreamSlots, caller: str) -> None:
        self._slots, self._caller, self._held = slots, caller, True

    def until_gone(self, stream: object) -> None:
        weakref.finalize(stream, self.release)

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slots._release(self._caller)
