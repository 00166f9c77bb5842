"""The `index` key of a gateway's configuration (tdses.rest.config.Settings.index)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_FILE = "index.db"


class IndexSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    # A SQLite file or a PostgreSQL URL; unset: index.db beside a SQLite store, or the store's own PostgreSQL
    # database (the index's tables and version table are its own).
    database: str | None = None
    retry_max_seconds: float = Field(default=30.0, gt=0)  # the longest wait between attempts to reach the peers
    # How long a read asking for a block (X-Min-Block) waits for the index to reach it before a 503.
    wait_seconds: float = Field(default=5.0, ge=0, le=60)
    # How long one composition request may compute, and how many may compute at once.
    compose_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    compose_concurrency: int = Field(default=2, ge=1, le=16)

    def location(self, store: str) -> str:
        if self.database:
            return self.database
        return store if "://" in store else str(Path(store).parent / DEFAULT_FILE)
