"""Everything a request may need, built once per gateway from its settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from tdses.chaincode import Chaincode
from tdses.index.follower import Follower

from tdses.rest.config import Settings
from tdses.rest.middleware.metrics import Metrics
from tdses.rest.middleware.ratelimit import RateLimiter
from tdses.rest.problems import Problem
from tdses.rest.services.ca import OrgCA
from tdses.rest.services.cards import ServiceCards
from tdses.rest.services.discovery import Discovery
from tdses.rest.services.indexing import index_follower
from tdses.rest.services.invokers import Submitting
from tdses.rest.services.keyedlocks import KeyedLocks
from tdses.rest.services.keystore import KeyBox, derived_key
from tdses.rest.services.ledger import Ledger
from tdses.rest.services.principal import Principals, load_admin
from tdses.rest.services.signing import OfflineSigning
from tdses.rest.services.streams import StreamSlots
from tdses.rest.services.tokens import new_token, token_hash
from tdses.rest.store import ACTIVE, Store


@dataclass
class Context:
    settings: Settings
    store: Store
    keybox: KeyBox
    ledger: Ledger
    ca: OrgCA
    offline: OfflineSigning
    metrics: Metrics
    admin_token_hash: str = field(repr=False)
    principals: Principals
    signin: RateLimiter  # web sign-in attempts, per client address and per name
    browser_key: bytes = field(repr=False)  # signs the web's known-browser cookies (web.sessions)
    streams: StreamSlots  # open event streams per caller (/v1/events, the web feed)
    index: Follower | None = None  # started by the app's lifespan
    discovery: Discovery | None = None  # composition and recommendations over the index
    cards: ServiceCards = field(default_factory=ServiceCards)  # GET /v1/services/{name}'s answers, kept
    # The web sign-ups of one invitation, one at a time: else two of one name at once both take it (a sign-up may
    # take it again to resume), and the one that loses at the CA hands it back while the other creates the user.
    signups: KeyedLocks = field(default_factory=KeyedLocks)
    # The creations of one user name, one at a time: a second one finds what the first made (across replicas the
    # CA tells them apart: tdses.rest.services.ca).
    creating: KeyedLocks = field(default_factory=KeyedLocks)
    # Services' developers as the event streams learned them (they never change): asked of a peer once, not per
    # stream, so that a peer's hiccup ends few streams.
    developers: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings) -> Context:
        admin = load_admin(settings.msp_id, settings.admin_msp_dir)
        metrics = Metrics()
        index = index_follower(settings, admin, metrics.registry)
        ledger = Ledger(settings, admin, index=index)
        if index is not None and ledger.channel_peers is not None:  # known once a write waited for its block
            channel_peers = ledger.channel_peers
            index.held_elsewhere = lambda number: channel_peers.newest() >= number
        store = Store(settings.store, settings.token_cache_seconds)
        if store.url.startswith("sqlite"):
            store.release_unfinished_requests()  # one process per SQLite store: none of them is running
        ca = OrgCA(settings)

        async def forget_user(name: str) -> None:
            """After RemoveUser: the key and the token go; the identity is revoked at the CA."""
            store.forget_key(name, token_hash(new_token()))
            try:
                await ca.revoke(name)
            except Problem:
                pass  # removed on chain already; the certificate is useless without its key, which is now gone

        key_encryption_key = settings.key_encryption_key()
        keybox = KeyBox(key_encryption_key)
        actions = {"activate_user": lambda name: store.set_state(name, ACTIVE), "forget_user": forget_user}
        return cls(
            settings=settings,
            store=store,
            keybox=keybox,
            ledger=ledger,
            ca=ca,
            offline=OfflineSigning(ledger, store, settings.prepared_ttl_seconds, actions),
            metrics=metrics,
            admin_token_hash=token_hash(settings.admin_token()),
            principals=Principals(settings.msp_id, keybox),
            signin=RateLimiter(settings.web.signin_attempts_per_minute / 60, settings.web.signin_attempts_per_minute,
                               store, namespace="signin:"),
            browser_key=derived_key(key_encryption_key, b"tdses known browser v1"),
            index=index,
            discovery=Discovery(settings.index.compose_timeout_seconds, settings.index.compose_concurrency),
            streams=StreamSlots(settings.event_streams_per_caller),
        )

    def admin_chaincode(self) -> Chaincode:
        """The chaincode as the organization admin: the gateway's own reads."""
        return Chaincode(Submitting(self.ledger, self.ledger.admin))

    async def close(self) -> None:
        if self.index is not None:
            await self.index.close()
        await self.ledger.close()
        await self.ca.close()
        self.store.close()
