"""What an import shows while it runs (Progress on stderr) and what it reports at the end (Summary).

    progress = Progress(sys.stderr); progress.plan(300); progress.tick()
    print(summary.render())
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO

from tdses.ecosystem.programmableweb import Ecosystem, Service


class Progress:
    """Transactions done of planned, rate and ETA on stderr: one refreshed line on a terminal, else a line
    per 10 %."""

    def __init__(self, out: TextIO = sys.stderr) -> None:
        self.out = out
        self.tty = out.isatty()
        self.total = 0
        self.done = 0
        self.started = time.monotonic()
        self._last_decile = 0
        self._last_draw = 0.0

    def plan(self, total: int) -> None:
        self.total, self.done, self._last_decile = total, 0, 0
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        print(f"\r{text}" if self.tty else text, file=self.out, flush=True)

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        percent = 100 * self.done // self.total if self.total else 100
        return (f"import: {self.done}/{self.total} transactions ({percent}%), {rate:.1f} tx/s, "
                f"ETA {int(eta) // 60}m{int(eta) % 60:02d}s")

    def tick(self) -> None:
        self.done += 1
        if self.tty:
            now = time.monotonic()
            if now - self._last_draw >= 0.5 or self.done == self.total:
                self._last_draw = now
                print(f"\r{self.line()}\x1b[K", end="" if self.done < self.total else "\n", file=self.out,
                      flush=True)
            return
        decile = 10 * self.done // self.total if self.total else 10
        if decile > self._last_decile:
            self._last_decile = decile
            print(self.line(), file=self.out, flush=True)


@dataclass
class Summary:
    """What a run found and did. `tally[(what, outcome)]`: outcome is "new" (this run), "already" (on chain
    before) or "failed"."""

    selected: Counter = field(default_factory=Counter)
    tally: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)  # reason → count
    notes: Counter = field(default_factory=Counter)  # decisions worth knowing → count
    failures: list[str] = field(default_factory=list)
    transactions: int = 0
    elapsed: float = 0.0

    def fail(self, what: str, message: str) -> None:
        self.tally[(what, "failed")] += 1
        if len(self.failures) < 20:
            self.failures.append(message)

    @property
    def failed(self) -> int:
        return sum(n for (_, outcome), n in self.tally.items() if outcome == "failed")

    @property
    def rate(self) -> float:
        return self.transactions / self.elapsed if self.elapsed > 0 else 0.0

    def render(self) -> str:
        rows = ["developers", "services", "mashups", "published", "invalidated", "funded"]
        lines = [f"{'':<13}{'selected':>9}{'this run':>10}{'already':>9}{'failed':>8}"]
        for what in rows:
            if not self.selected[what] and not any(self.tally[(what, o)] for o in ("new", "already", "failed")):
                continue
            lines.append(f"{what:<13}{self.selected[what]:>9}{self.tally[(what, 'new')]:>10}"
                         f"{self.tally[(what, 'already')]:>9}{self.tally[(what, 'failed')]:>8}")
        lines.append(f"transactions {self.transactions} in {self.elapsed:.1f} s: {self.rate:.1f} tx/s")
        if self.skipped:
            lines.append("skipped:")
            lines += [f"  {n:>6}  {reason}" for reason, n in sorted(self.skipped.items(), key=lambda x: -x[1])]
        if self.notes:
            lines.append("notes:")
            lines += [f"  {n:>6}  {note}" for note, n in sorted(self.notes.items(), key=lambda x: -x[1])]
        if self.failures:
            lines.append(f"failures ({self.failed}; first {len(self.failures)}):")
            lines += [f"  {f}" for f in self.failures]
        return "\n".join(lines)


def describe_selection(summary: Summary, ecosystem: Ecosystem, services: list[Service], limit: int | None) -> None:
    """Normalization's skips and decisions, into the summary."""
    r = ecosystem.report
    if r.edges_to_missing_apis:
        summary.skipped["mashup→API edges to APIs missing from the data"] = len(r.edges_to_missing_apis)
    if r.edges_from_missing_mashups:
        summary.skipped["mashup→API edges from mashups missing from the data"] = len(r.edges_from_missing_mashups)
    if r.duplicate_edges:
        summary.skipped["duplicate mashup→API edges"] = r.duplicate_edges
    if r.components_dropped:
        summary.skipped["components beyond the chaincode's 32 per mashup (the first 32 kept)"] = r.components_dropped
    if limit is not None:
        left = len(ecosystem.mashups) - sum(1 for s in services if s.kind == "mashup")
        summary.skipped[f"mashups outside --limit {limit} (a component beyond the slice, or none known)"] = left
    plain = sum(1 for s in services if s.kind == "mashup" and not s.composed)
    if plain:
        summary.notes["mashups without a known component, imported as plain services"] = plain
    for note, keys in [("mashup urls the chaincode refuses, replaced by their ProgrammableWeb page",
                         set(r.mashup_urls_replaced)),
                        ("names taken by another record, given a hash suffix",
                         {key for key, _ in r.renamed_on_collision})]:
        count = sum(1 for s in services if s.key in keys)
        if count:
            summary.notes[note] = count
