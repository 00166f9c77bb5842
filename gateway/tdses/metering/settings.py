"""How a meter runs: its service, its gateway and token, its journal, and its limits. Kept apart from the meter so
that the command line reads its defaults without loading the meter.

    MeterSettings(service="weather-api", gateway_url="http://127.0.0.1:7070", token=token, journal="weather.journal")
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class MeterSettings:
    service: str
    gateway_url: str
    token: str = field(repr=False)
    journal: str | os.PathLike
    freshness: float = 60.0  # seconds a voucher's time may be off from the server's clock
    settle_every_calls: int = 10_000
    settle_interval: float = 30.0
    # A call refused on what the cache says (unknown user, key or calls) re-reads the user if the cache is older
    # than this. A purchase takes at least one block (the orderers' batch timeout, 500 ms), so a call made after
    # a purchase was answered is never refused on what the cache read before it; and a flood of refused calls
    # costs the gateway at most one read per user per interval.
    reread_after: float = 0.25
    max_body_bytes: int = 16 * 1024 * 1024  # a metered request's body is read whole (its digest) before serving
    # Reads of users never found on chain yet (two gateway requests each), at most this many a second and
    # lookups_burst at once: vouchers naming made-up users cannot spend the gateway's rate limit of the meter's
    # token (50 requests a second by default) that settlements and the users already known need. Beyond it a call
    # gets 503 and its client tries again. Rereads of users found before (after a purchase, a settlement) are not
    # on this budget.
    lookups_per_second: float = 10.0
    lookups_burst: int = 50

    def __post_init__(self) -> None:
        positive = {"freshness": self.freshness, "settle_interval": self.settle_interval,
                    "lookups_per_second": self.lookups_per_second, "settle_every_calls": self.settle_every_calls,
                    "lookups_burst": self.lookups_burst, "max_body_bytes": self.max_body_bytes}
        for name, value in positive.items():
            if not value > 0:  # NaN too
                raise ValueError(f"{name} must be positive, got {value}")
        if not self.reread_after >= 0:
            raise ValueError(f"reread_after must be 0 or more, got {self.reread_after}")
