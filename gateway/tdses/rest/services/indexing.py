"""The gateway's registry index: a follower of the channel's blocks (tdses.index) built from the settings, run in
the background for as long as the gateway runs.

    follower = index_follower(settings, admin, metrics.registry)   # None when settings.index.enabled is false
    await follower.wait_for_block(n, timeout=5)
"""

from __future__ import annotations

from fabric_gateway import Endpoint
from fabric_gateway.aio.deliver import BlockReader
from fabric_gateway.connection import read_pem
from fabric_gateway.signing import SigningIdentity
from prometheus_client import CollectorRegistry, Gauge

from tdses.index.follower import Follower
from tdses.index.store import IndexStore
from tdses.rest.config import Settings
from tdses.rest.services.principal import Principal


def block_reader(settings: Settings, admin: Principal) -> BlockReader:
    """The channel's blocks from the organization's own peers, read as the org admin (a channel reader)."""
    endpoints = [Endpoint(p.address, p.server_name, read_pem(p.tls_ca_file)) for p in settings.peers]
    return BlockReader(endpoints, SigningIdentity(admin.identity, admin.signer), settings.channel,
                       max_delay=settings.index.retry_max_seconds)


def index_follower(settings: Settings, admin: Principal, registry: CollectorRegistry | None = None
                   ) -> Follower | None:
    if not settings.index.enabled:
        return None
    location = settings.index.location(settings.store)
    follower = Follower(lambda: IndexStore(location), block_reader(settings, admin), settings.chaincode,
                        max_delay=settings.index.retry_max_seconds)
    if registry is not None:
        Gauge("tdses_index_block", "the last block applied to the registry index (-1: none yet)",
              registry=registry).set_function(lambda: follower.current_block)
    return follower
