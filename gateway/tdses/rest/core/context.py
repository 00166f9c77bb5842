"""Everything a request may need, built once per gateway from its settings."""

from __future__ import annotations

from dataclasses import dataclass

from tdses.rest.core.ca import OrgCA
from tdses.rest.core.config import Settings
from tdses.rest.core.keystore import KeyBox
from tdses.rest.core.ledger import Ledger
from tdses.rest.core.metrics import Metrics
from tdses.rest.core.principal import load_admin
from tdses.rest.core.signing import OfflineSigning
from tdses.rest.store import Store
from tdses.rest.core.tokens import token_hash


@dataclass
class Context:
    settings: Settings
    store: Store
    keybox: KeyBox
    ledger: Ledger
    ca: OrgCA
    offline: OfflineSigning
    metrics: Metrics
    admin_token_hash: str

    @classmethod
    def build(cls, settings: Settings) -> Context:
        admin = load_admin(settings.msp_id, settings.admin_msp_dir)
        ledger = Ledger(settings, admin)
        store = Store(settings.store)
        if store.url.startswith("sqlite"):
            store.release_unfinished_requests()  # one process per SQLite store: none of them is running
        return cls(
            settings=settings,
            store=store,
            keybox=KeyBox(settings.key_encryption_key()),
            ledger=ledger,
            ca=OrgCA(settings),
            offline=OfflineSigning(ledger, settings.prepared_ttl_seconds),
            metrics=Metrics(),
            admin_token_hash=token_hash(settings.admin_token()),
        )

    async def close(self) -> None:
        await self.ledger.close()
        await self.ca.close()
        self.store.close()
