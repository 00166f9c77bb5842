"""Each organization's REST gateway as a node of the local network: its configuration and secrets."""

from __future__ import annotations

import base64
import secrets
import sys
from collections.abc import Callable
from pathlib import Path, PurePath

import yaml

from tdses.fabric.nodes import ca_name
from tdses.fabric.state import State
from tdses.fabric.topology import Node, Org, Topology


def _secret_file(path: Path, make) -> Path:
    """A 0600 file holding a secret, created once and kept across restarts."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(make())
    return path


def admin_token_file(state: State, org: Org) -> Path:
    return _secret_file(state.secrets / f"{org.name}-gateway-admin-token", lambda: secrets.token_urlsafe(32))


def settings(
    topology: Topology,
    org: Org,
    *,
    tls_root: Callable[[Org], PurePath],
    registrar_secret_file: PurePath,
    admin_msp_dir: PurePath,
    admin_token_file: PurePath,
    key_encryption_key_file: PurePath,
    store: PurePath | str,
    listen: str | None = None,
) -> dict:
    """The one description of an organization's gateway settings (tdses.rest.config.Settings keys);
    where the files are differs between the local network, a pod and a test."""
    gateway = org.gateway
    assert gateway is not None
    return {
        "org": org.name,
        "msp_id": org.msp_id,
        "channel": topology.channel,
        "chaincode": topology.chaincode_name,
        "listen": listen or gateway.listen(gateway.ports.listen),
        "peers": [{"address": p.address, "server_name": p.name, "tls_ca_file": str(tls_root(org))} for p in org.peers],
        # Every peer of the channel: a write is answered once each has committed it (read-your-writes).
        "channel_peers": [
            {"address": p.address, "server_name": p.name, "tls_ca_file": str(tls_root(o))}
            for o in topology.orgs for p in o.peers
        ],
        "ca": {
            "url": f"https://{org.ca.address}",
            "name": ca_name(org.ca),
            "tls_ca_file": str(tls_root(org)),
            "registrar": "admin",
            "registrar_secret_file": str(registrar_secret_file),
        },
        "admin_msp_dir": str(admin_msp_dir),
        "admin_token_file": str(admin_token_file),
        "key_encryption_key_file": str(key_encryption_key_file),
        "store": str(store),
        # The registry index, fed by the channel's blocks: a SQLite file beside a SQLite store, else the store's
        # PostgreSQL database (its tables and version table are its own).
        "index": {"database": str(store.parent / "index.db") if isinstance(store, PurePath) else store},
    }


def config(topology: Topology, state: State, org: Org) -> dict:
    gateway = org.gateway
    assert gateway is not None
    kek = _secret_file(state.secrets / f"{org.name}-gateway-kek", lambda: base64.b64encode(secrets.token_bytes(32)).decode())
    return settings(
        topology, org,
        tls_root=state.tls_ca_cert,
        registrar_secret_file=state.registrar_secret(org),
        admin_msp_dir=state.admin_msp(org),
        admin_token_file=admin_token_file(state, org),
        key_encryption_key_file=kek,
        store=state.node_dir(gateway) / "gateway.db",
    )


def config_file(state: State, node: Node) -> Path:
    return state.node_dir(node) / "gateway.yaml"


def write_config(topology: Topology, state: State, node: Node) -> Path:
    path = config_file(state, node)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)  # like everything else in a node's directory
    path.write_text(yaml.safe_dump(config(topology, state, node.org), sort_keys=False))
    return path


def command(state: State, node: Node) -> list[str]:
    return [sys.executable, "-m", "tdses.cli", "gateway", "serve", "--config", str(config_file(state, node))]
