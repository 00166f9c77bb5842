"""Create the application channel on the orderers and join every peer to it (idempotent)."""

from __future__ import annotations

import json
import re
import time

from tdses.fabric.errors import NetworkError
from tdses.fabric.topology import Node
from tdses.local.admin import Admin


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
