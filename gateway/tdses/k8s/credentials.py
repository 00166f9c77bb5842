"""Everything secret or signed that a deployment needs, made once into a state directory.

The directory has the local network's layout (tdses.fabric.state.State): cryptogen's MSP and TLS
material for the Kubernetes topology (certificates name the Services), the CA registrar secrets, the
gateways' admin tokens and key-encryption keys, and the channel artifacts of both orderer variants.
Render reads it into Secrets; nothing in it ever goes into a ConfigMap.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from pathlib import Path

from tdses.fabric import configtx, crypto
from tdses.fabric.state import State, owner_only
from tdses.fabric.topology import Org, Topology
from tdses.k8s import kafka
from tdses.k8s.errors import KubernetesError


def gateway_admin_token(state: State, org: Org) -> Path:
    return state.secrets / f"{org.name}-gateway-admin-token"


def gateway_key_encryption_key(state: State, org: Org) -> Path:
    return state.secrets / f"{org.name}-gateway-kek"


def gateway_store_password(state: State, org: Org) -> str:
    """The gateway store's PostgreSQL password, derived from the gateway's key-encryption key (no new secret to keep)."""
    kek = base64.b64decode(gateway_key_encryption_key(state, org).read_text().strip())
    return base64.urlsafe_b64encode(hmac.new(kek, b"tdses gateway store password", hashlib.sha256).digest()).decode()


def create(topology: Topology, state: State, binaries: dict[str, Path]) -> bool:
    """Make what is missing; return False when the directory already held it all."""
    if not missing(topology, state, "raft") and not missing(topology, state, "kafka"):
        return False
    if state.crypto.exists():
        raise KubernetesError(f"{state.root} holds partial material ({', '.join(missing(topology, state, 'raft'))}):"
                              f" remove it and run `tdses k8s init` again")
    state.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    state.root.chmod(0o700)
    with owner_only():
        crypto.generate(topology, state, binaries["cryptogen"])
        state.secrets.mkdir(mode=0o700, parents=True, exist_ok=True)
        for org in topology.all_orgs:
            _write_secret(state.registrar_secret(org), secrets.token_urlsafe(24))
        for org in topology.orgs:
            _write_secret(gateway_admin_token(state, org), secrets.token_urlsafe(32))
            _write_secret(gateway_key_encryption_key(state, org), base64.b64encode(secrets.token_bytes(32)).decode())
        configtx.genesis_block(topology, state, binaries["configtxgen"])
        kafka.write_artifacts(topology, state, binaries["configtxgen"])
    return True


def _write_secret(path: Path, value: str) -> None:
    path.touch(mode=0o600)
    path.write_text(value)


def required(topology: Topology, state: State, variant: str) -> list[Path]:
    paths = [kafka.system_genesis_block(state), kafka.channel_tx(state, topology.channel)] if variant == "kafka" \
        else [state.genesis_block(topology.channel)]
    for org in topology.all_orgs:
        paths += [state.tls_ca_cert(org), state.ca_cert(org), state.ca_key(org), state.registrar_secret(org),
                  state.admin_msp(org), state.admin_tls(org), state.service_tls(org.ca)]
    for org in topology.orgs:
        paths += [gateway_admin_token(state, org), gateway_key_encryption_key(state, org), state.service_tls(org.chaincode)]
    for node in topology.nodes:
        if node.kind in ("peer", "orderer"):
            paths.append(state.node_crypto(node))
    return paths


def missing(topology: Topology, state: State, variant: str) -> list[str]:
    return [str(p) for p in required(topology, state, variant) if not p.exists()]


def check(topology: Topology, state: State, variant: str) -> None:
    absent = missing(topology, state, variant)
    if absent:
        raise KubernetesError(
            f"the state directory {state.root} lacks {len(absent)} file(s) the {variant} deployment needs, e.g. "
            f"{absent[0]}: run `tdses k8s init --state-dir {state.root}`"
        )
