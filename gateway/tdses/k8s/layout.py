"""Where a node finds its files inside its pod: the Kubernetes implementation of tdses.fabric.nodes.Layout.

Every pod runs one node, so per-node paths do not include the node's name: the mounts are the same in
every peer (or orderer) and the Secret behind them differs. The static manifests in k8s/base mount
volumes at exactly these paths; tests check that they agree.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from tdses.fabric.topology import Node, Org

FABRIC = PurePosixPath("/var/hyperledger/fabric")
CONFIG = FABRIC / "config"  # ConfigMaps: config/peer/core.yaml, config/orderer/orderer.yaml
CRYPTO = FABRIC / "crypto"  # Secret <node>-crypto: msp/ and tls/ of a peer or orderer
SERVICE_TLS = FABRIC / "tls"  # Secret: TLS key pair of a CA or chaincode server
CA_KEYPAIR = FABRIC / "ca"  # Secret: the organization's root CA key pair, used by its fabric-ca-server
TLS_ROOTS = FABRIC / "tls-roots"  # Secret: every organization's TLS root certificate, <org>.pem
ADMIN = FABRIC / "admin"  # Secret: the organization admin's msp/ and tls/ (CLI and bootstrap Jobs)
CHANNEL = FABRIC / "channel"  # Secret: channel genesis block or creation transaction, chaincode package
PEER_DATA = PurePosixPath("/var/hyperledger/production")
ORDERER_DATA = PEER_DATA / "orderer"
CA_HOME = PurePosixPath("/var/hyperledger/fabric-ca")
SCRIPTS = PurePosixPath("/opt/tdses/bin")  # ConfigMap: bootstrap scripts of the CLI and Jobs

# The official Fabric images install their binaries here; our chaincode image does the same.
BINARIES = {name: PurePosixPath("/usr/local/bin") / name for name in ("peer", "orderer", "fabric-ca-server")}
# The fabric-peer image ships the chaincode-as-a-service builder here.
CCAAS_BUILDER = "/opt/hyperledger/ccaas_builder"


class KubernetesLayout:
    """tdses.fabric.nodes.Layout for a pod: fixed mount paths, filled by Secrets, ConfigMaps and PVCs."""

    @property
    def config(self) -> PurePosixPath:
        return CONFIG

    @property
    def chaincode(self) -> PurePosixPath:
        return PurePosixPath("/usr/local/bin")

    def node_crypto(self, node: Node) -> PurePosixPath:
        return CRYPTO

    def node_dir(self, node: Node) -> PurePosixPath:
        return {"peer": PEER_DATA, "orderer": ORDERER_DATA, "ca": CA_HOME}[node.kind]

    def service_tls(self, node: Node) -> PurePosixPath:
        return SERVICE_TLS

    def ca_cert(self, org: Org) -> PurePosixPath:
        return CA_KEYPAIR / "cert.pem"

    def ca_key(self, org: Org) -> PurePosixPath:
        return CA_KEYPAIR / "key.pem"

    def tls_root(self, org: Org) -> PurePosixPath:
        return TLS_ROOTS / f"{org.name}.pem"
