"""What each node runs: its command line and the environment that configures it.

The shared configuration files in network-config/fabric/ hold everything nodes have in common; this
module computes the few values that differ per node (addresses, MSP and TLS paths, data directories) as
the environment variables Fabric reads. The same environment places a node on loopback here and in a
pod on Kubernetes, with the layout (where files live) as the only difference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from tdses.fabric import stoken
from tdses.fabric.topology import Node, Org, Topology


class Layout(Protocol):
    """Where a node finds its files: the local state directory (tdses.fabric.state.State) or a pod's mounts."""

    @property
    def config(self) -> Path: ...  # holds peer/core.yaml and orderer/orderer.yaml

    @property
    def chaincode(self) -> Path: ...  # holds the chaincode server binary

    def node_crypto(self, node: Node) -> Path: ...  # a peer's or orderer's msp/ and tls/

    def node_dir(self, node: Node) -> Path: ...  # a node's data (ledger, CA home)

    def service_tls(self, node: Node) -> Path: ...  # server.crt/server.key/ca.crt of a CA or chaincode server

    def ca_cert(self, org: Org) -> Path: ...

    def ca_key(self, org: Org) -> Path: ...


def ca_name(node: Node) -> str:
    return f"ca-{node.org.name}"


def peer_env(node: Node, topology: Topology, state: Layout) -> dict[str, str]:
    crypto = state.node_crypto(node)
    data = state.node_dir(node)
    siblings = [p for p in node.org.peers if p is not node] or [node]
    return {
        "FABRIC_CFG_PATH": str(state.config / "peer"),
        "FABRIC_LOGGING_SPEC": "info:gossip=warning:comm.grpc.server=warning",
        "CORE_PEER_ID": node.name,
        "CORE_PEER_NETWORKID": topology.name,
        "CORE_PEER_LISTENADDRESS": node.listen(node.ports.listen),
        "CORE_PEER_ADDRESS": node.address,
        "CORE_PEER_CHAINCODELISTENADDRESS": node.listen(node.ports.chaincode),
        "CORE_PEER_CHAINCODEADDRESS": f"{node.host}:{node.ports.chaincode}",
        "CORE_PEER_GOSSIP_BOOTSTRAP": " ".join(p.address for p in siblings),
        "CORE_PEER_GOSSIP_ENDPOINT": node.address,
        "CORE_PEER_GOSSIP_EXTERNALENDPOINT": node.address,
        "CORE_PEER_LOCALMSPID": node.org.msp_id,
        "CORE_PEER_MSPCONFIGPATH": str(crypto / "msp"),
        "CORE_PEER_TLS_CERT_FILE": str(crypto / "tls" / "server.crt"),
        "CORE_PEER_TLS_KEY_FILE": str(crypto / "tls" / "server.key"),
        "CORE_PEER_TLS_ROOTCERT_FILE": str(crypto / "tls" / "ca.crt"),
        "CORE_PEER_TLS_CLIENTROOTCAS_FILES": str(crypto / "tls" / "ca.crt"),
        "CORE_PEER_FILESYSTEMPATH": str(data),
        "CORE_LEDGER_SNAPSHOTS_ROOTDIR": str(data / "snapshots"),
        "CORE_OPERATIONS_LISTENADDRESS": node.listen(node.ports.operations),
    }


def health_path(node: Node, kafka_ordering: bool) -> str:
    """Where a node's operations server says it is up. Fabric 2.5's Kafka chain panics on /healthz until its
    producer reached the brokers, and the panic ends the orderer: a Kafka orderer is asked /version."""
    return "/version" if node.kind == "orderer" and kafka_ordering else "/healthz"


def orderer_env(node: Node, topology: Topology, state: Layout) -> dict[str, str]:
    tls = state.node_crypto(node) / "tls"
    data = state.node_dir(node)
    return {
        "FABRIC_CFG_PATH": str(state.config / "orderer"),
        "FABRIC_LOGGING_SPEC": "info:orderer.consensus.etcdraft=warning:comm.grpc.server=warning",
        "ORDERER_GENERAL_LISTENADDRESS": node.bind,
        "ORDERER_GENERAL_LISTENPORT": str(node.ports.listen),
        "ORDERER_GENERAL_LOCALMSPID": node.org.msp_id,
        "ORDERER_GENERAL_LOCALMSPDIR": str(state.node_crypto(node) / "msp"),
        "ORDERER_GENERAL_TLS_PRIVATEKEY": str(tls / "server.key"),
        "ORDERER_GENERAL_TLS_CERTIFICATE": str(tls / "server.crt"),
        "ORDERER_GENERAL_TLS_ROOTCAS": f"[{tls / 'ca.crt'}]",
        "ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE": str(tls / "server.crt"),
        "ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY": str(tls / "server.key"),
        "ORDERER_GENERAL_CLUSTER_ROOTCAS": f"[{tls / 'ca.crt'}]",
        "ORDERER_FILELEDGER_LOCATION": str(data / "ledger"),
        "ORDERER_CONSENSUS_WALDIR": str(data / "etcdraft" / "wal"),
        "ORDERER_CONSENSUS_SNAPDIR": str(data / "etcdraft" / "snapshot"),
        "ORDERER_ADMIN_LISTENADDRESS": node.listen(node.ports.admin),
        "ORDERER_ADMIN_TLS_CERTIFICATE": str(tls / "server.crt"),
        "ORDERER_ADMIN_TLS_PRIVATEKEY": str(tls / "server.key"),
        "ORDERER_ADMIN_TLS_ROOTCAS": f"[{tls / 'ca.crt'}]",
        "ORDERER_ADMIN_TLS_CLIENTROOTCAS": f"[{tls / 'ca.crt'}]",
        "ORDERER_OPERATIONS_LISTENADDRESS": node.listen(node.ports.operations),
    }


def ca_env(node: Node, topology: Topology, state: Layout) -> dict[str, str]:
    tls = state.service_tls(node)
    return {
        "FABRIC_CA_SERVER_HOME": str(state.node_dir(node)),
        "FABRIC_CA_SERVER_ADDRESS": node.bind,
        "FABRIC_CA_SERVER_PORT": str(node.ports.listen),
        "FABRIC_CA_SERVER_CA_NAME": ca_name(node),
        "FABRIC_CA_SERVER_CA_CERTFILE": str(state.ca_cert(node.org)),
        "FABRIC_CA_SERVER_CA_KEYFILE": str(state.ca_key(node.org)),
        "FABRIC_CA_SERVER_TLS_CERTFILE": str(tls / "server.crt"),
        "FABRIC_CA_SERVER_TLS_KEYFILE": str(tls / "server.key"),
        "FABRIC_CA_SERVER_OPERATIONS_LISTENADDRESS": node.listen(node.ports.operations),
    }


def chaincode_env(node: Node, package_id: str, topology: Topology, state: Layout) -> dict[str, str]:
    tls = state.service_tls(node)
    return {
        "CHAINCODE_ID": package_id,
        "CHAINCODE_SERVER_ADDRESS": node.listen(node.ports.listen),
        "TDSES_GENESIS_SHA256": stoken.init_digest(topology),
        "CHAINCODE_TLS_CERT_FILE": str(tls / "server.crt"),
        "CHAINCODE_TLS_KEY_FILE": str(tls / "server.key"),
    }


def command(node: Node, binaries: dict[str, Path], state: Layout) -> list[str]:
    if node.kind == "peer":
        return [str(binaries["peer"]), "node", "start"]
    if node.kind == "orderer":
        return [str(binaries["orderer"])]
    if node.kind == "ca":
        config = state.node_dir(node) / "fabric-ca-server-config.yaml"
        return [str(binaries["fabric-ca-server"]), "start", "-c", str(config)]
    if node.kind == "chaincode":
        return [str(state.chaincode / "tdses-chaincode")]
    raise ValueError(f"no command for a {node.kind} node")
