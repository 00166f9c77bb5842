"""Where a network keeps everything it makes: one state directory per network.

    <state>/network.json            what `up` decided: topology, base port, package ids (the network's identity)
    <state>/config/                 rendered configtx.yaml, crypto-config.yaml, core.yaml; kafka/: brokers' and
                                    ZooKeeper servers' properties
    <state>/crypto/                 MSP and TLS material (cryptogen), chaincode server TLS
    <state>/secrets/                CA registrar secrets (mode 0600)
    <state>/channel/<channel>.block the channel's genesis block (Kafka ordering: also the system channel's
                                    genesis block, the channel's creation and anchor peer transactions)
    <state>/chaincode/              chaincode packages and the chaincode server binary
    <state>/nodes/<node>/           each node's data (ledger, CA database)
    <state>/logs/<node>.log         each process's output
    <state>/run/<node>.pid          each running process we started
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fabric_gateway import EcdsaSigner, Identity, load_signer

from tdses.fabric.errors import NetworkError
from tdses.fabric.topology import Node, Org, Topology, load

MANIFEST = "network.json"


@contextmanager
def owner_only() -> Iterator[None]:
    """Everything a network keeps (keys, CA databases, ledgers, configuration, logs) is its owner's alone: files
    0600, directories 0700, also for the tools it runs (cryptogen, configtxgen)."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


@dataclass(frozen=True)
class State:
    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def crypto(self) -> Path:
        return self.root / "crypto"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def channel_dir(self) -> Path:
        return self.root / "channel"

    @property
    def chaincode(self) -> Path:
        return self.root / "chaincode"

    def node_dir(self, node: Node) -> Path:
        return self.root / "nodes" / node.short_name

    def log(self, node: Node) -> Path:
        return self.root / "logs" / f"{node.short_name}.log"

    def pid_file(self, node: Node) -> Path:
        return self.root / "run" / f"{node.short_name}.pid"

    # --- MSP and TLS material, in cryptogen's layout -------------------------------------------

    def org_dir(self, org: Org) -> Path:
        kind = "ordererOrganizations" if org.is_orderer else "peerOrganizations"
        return self.crypto / kind / org.domain

    def org_msp(self, org: Org) -> Path:
        return self.org_dir(org) / "msp"

    def node_crypto(self, node: Node) -> Path:
        group = "orderers" if node.kind == "orderer" else "peers"
        return self.org_dir(node.org) / group / node.name

    def admin_msp(self, org: Org) -> Path:
        return self.org_dir(org) / "users" / f"Admin@{org.domain}" / "msp"

    def admin(self, org: Org) -> tuple[Identity, EcdsaSigner]:
        """The organization admin's identity and signer, from its MSP directory (signcerts/*.pem, keystore/*)."""
        msp = self.admin_msp(org)
        certs = sorted((msp / "signcerts").glob("*.pem"))
        keys = sorted(p for p in (msp / "keystore").iterdir() if p.is_file()) if (msp / "keystore").is_dir() else []
        if not certs or not keys:
            raise NetworkError(f"{msp} holds no signcerts/*.pem or keystore key: is the network initialized?")
        return Identity(org.msp_id, certs[0].read_bytes()), load_signer(keys[0])

    def admin_tls(self, org: Org) -> Path:
        return self.org_dir(org) / "users" / f"Admin@{org.domain}" / "tls"

    def tls_ca_cert(self, org: Org) -> Path:
        """The root every TLS certificate of the organization chains to."""
        return self.org_dir(org) / "tlsca" / f"tlsca.{org.domain}-cert.pem"

    def ca_cert(self, org: Org) -> Path:
        """The organization's root CA: it signs every MSP identity, including those its fabric-ca-server enrolls."""
        return self.org_dir(org) / "ca" / f"ca.{org.domain}-cert.pem"

    def ca_key(self, org: Org) -> Path:
        return self.org_dir(org) / "ca" / "priv_sk"

    def service_tls(self, node: Node) -> Path:
        """TLS key pair of a CA or chaincode server (issued by the org's TLS CA)."""
        return self.crypto / "services" / node.short_name

    def registrar_secret(self, org: Org) -> Path:
        return self.secrets / f"{org.name}-ca-registrar"

    def genesis_block(self, channel: str) -> Path:
        return self.channel_dir / f"{channel}.block"

    # --- the manifest --------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.manifest.exists()

    def read_manifest(self) -> dict:
        try:
            return json.loads(self.manifest.read_text())
        except FileNotFoundError:
            raise NetworkError(f"no network in {self.root}: run `tdses network up` first") from None
        except (OSError, ValueError) as exc:
            raise NetworkError(
                f"state directory {self.root} is corrupted ({self.manifest.name}: {exc}); "
                f"run `tdses network clean --state-dir {self.root}` to start over"
            ) from None

    def write_manifest(self, manifest: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.manifest.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.manifest)

    def topology(self) -> Topology:
        manifest = self.read_manifest()
        try:
            return load(manifest["topology"], int(manifest["base_port"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise NetworkError(f"state directory {self.root} is corrupted ({self.manifest.name}: {exc})") from None
