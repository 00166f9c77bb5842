"""Create the application channel on the orderers and join every peer to it (idempotent)."""

from __future__ import annotations

import json
import re
import time

from tdses.fabric import systemchannel
from tdses.fabric.errors import NetworkError
from tdses.fabric.topology import Node
from tdses.local import processes
from tdses.local.admin import Admin

ORDERING_TIMEOUT = 120.0  # brokers elect partition leaders and orderers connect with Kafka.Retry.ShortInterval


def orderer_joined(admin: Admin, orderer: Node) -> bool:
    out = admin.osnadmin(orderer, "list")
    body = out[out.index("{") :] if "{" in out else "{}"
    try:
        channels = json.loads(body).get("channels") or []
    except ValueError:
        return False
    return any(c.get("name") == admin.topology.channel for c in channels)


def join_orderers(admin: Admin) -> None:
    block = admin.state.genesis_block(admin.topology.channel)
    for orderer in admin.topology.orderers:
        if not orderer_joined(admin, orderer):
            admin.osnadmin(orderer, "join", "--channelID", admin.topology.channel, "--config-block", str(block))


def peer_joined(admin: Admin, peer: Node) -> bool:
    out = admin.peer(peer, "channel", "list")
    return admin.topology.channel in out.split()


def join_peers(admin: Admin) -> None:
    block = admin.state.genesis_block(admin.topology.channel)
    for peer in admin.topology.peers:
        if peer_joined(admin, peer):
            continue
        # Right after the orderers join, the raft cluster may still be electing a leader: retry briefly.
        for attempt in range(30):
            try:
                admin.peer(peer, "channel", "join", "-b", str(block))
                break
            except NetworkError:
                if attempt == 29:
                    raise
                time.sleep(1)


def height(admin: Admin, peer: Node) -> int:
    """The peer's block height on the channel, from `peer channel getinfo`."""
    out = admin.peer(peer, "channel", "getinfo", "-c", admin.topology.channel, timeout=30)
    match = re.search(r'"height":(\d+)', out)
    if not match:
        raise NetworkError(f"unexpected answer from peer channel getinfo on {peer.short_name}: {out.strip()[-300:]}")
    return int(match.group(1))


# --- Kafka ordering: the application channel is created through the system channel -------------------------


def create_through_system_channel(admin: Admin) -> None:
    """The first organization's admin sends the channel creation transaction; its answer, the channel's
    genesis block, is what the peers join with. A channel created by an earlier, interrupted run is fetched."""
    t, state = admin.topology, admin.state
    block = state.genesis_block(t.channel)
    if block.exists():
        return
    peer = t.orgs[0].peers[0]
    partial = block.with_suffix(".partial")

    def created() -> bool:
        try:
            admin.peer(peer, "channel", "create", "-c", t.channel, "-f", str(systemchannel.channel_tx(state, t.channel)),
                       "--outputBlock", str(partial), *admin.orderer_tls_args(), timeout=60)
            return True
        except NetworkError as error:
            if "version" not in str(error):  # "expected version 0, got 1": it exists already
                return False
        try:
            admin.peer(peer, "channel", "fetch", "0", str(partial), "-c", t.channel, *admin.orderer_tls_args(),
                       timeout=30)
            return True
        except NetworkError:
            return False

    # The orderers accept it once their system channel has connected to the brokers.
    processes.wait_until(created, f"creating channel {t.channel} through the system channel", ORDERING_TIMEOUT)
    partial.rename(block)


def orderers_serve(admin: Admin) -> bool:
    """Every orderer delivers the channel: a Kafka orderer refuses Deliver (and Broadcast) until its chain has
    connected to the channel's partition."""
    scratch = admin.state.channel_dir / "probe.block"
    try:
        for orderer in admin.topology.orderers:
            admin.peer(admin.topology.orgs[0].peers[0], "channel", "fetch", "oldest", str(scratch),
                       "-c", admin.topology.channel, *admin.orderer_tls_args(orderer), timeout=30)
    except NetworkError:
        return False
    finally:
        scratch.unlink(missing_ok=True)
    return True


def set_anchor_peers(admin: Admin) -> None:
    """Each organization announces its peer0 to the others (gossip across organizations, service discovery)."""
    for org in admin.topology.orgs:
        admin.peer(org.peers[0], "channel", "update", "-c", admin.topology.channel,
                   "-f", str(systemchannel.anchor_peers_tx(admin.state, org)), *admin.orderer_tls_args(), timeout=60)
