"""What each container runs: command and environment, as strategic-merge patches of the static manifests.

Fabric nodes get exactly the environment tdses.fabric.nodes computes for the local network, with the
pod's layout; the CLI and the orderers' join Job get the values their bootstrap scripts read.
"""

from __future__ import annotations

from tdses.chaincode import Fn, peer_cli_call
from tdses.fabric import configtx, nodes, packaging, stoken
from tdses.fabric.topology import Node, Org, Topology
from tdses.k8s import kafka
from tdses.k8s.layout import ADMIN, BINARIES, CHANNEL, SCRIPTS, KubernetesLayout

POD = KubernetesLayout()
CHAINCODE_PACKAGE = "chaincode.tar.gz"  # key of the organization's package in Secret channel-artifacts


def patch(kind: str, name: str, container: str, env: dict[str, str], command: list[str] | None = None,
          volumes: list[dict] | None = None) -> dict:
    """A strategic-merge patch of one container (merged by name) and of the pod's volumes (merged by name)."""
    spec: dict = {"containers": [{"name": container, "env": [{"name": k, "value": v} for k, v in env.items()]}]}
    if command is not None:
        spec["containers"][0]["command"] = command
    if volumes:
        spec["volumes"] = volumes
    api = "batch/v1" if kind == "Job" else "apps/v1"
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name}, "spec": {"template": {"spec": spec}}}


def label(node: Node) -> str:
    """peer0, orderer2, ca, chaincode: the node's Service and workload name in its namespace."""
    return node.short_name.split(".")[0]


def _command(node: Node) -> list[str]:
    return nodes.command(node, BINARIES, POD)


def peer(node: Node, topology: Topology, crypto_items: list[dict]) -> dict:
    return patch("StatefulSet", label(node), "peer", nodes.peer_env(node, topology, POD), _command(node),
                 [secret_volume("crypto", f"{label(node)}-crypto", crypto_items)])


def orderer(node: Node, topology: Topology, variant: str, crypto_items: list[dict]) -> dict:
    env = nodes.orderer_env(node, topology, POD)
    volumes = [secret_volume("crypto", f"{label(node)}-crypto", crypto_items)]
    if variant == "kafka":
        env |= kafka.orderer_env()
    result = patch("StatefulSet", label(node), "orderer", env, _command(node), volumes)
    if variant == "kafka":
        # The system channel's genesis block, from Secret channel-artifacts.
        pod = result["spec"]["template"]["spec"]
        pod["volumes"].append({"name": "channel", "secret": {"secretName": "channel-artifacts", "defaultMode": 0o440}})
        pod["containers"][0]["volumeMounts"] = [{"name": "channel", "mountPath": str(CHANNEL), "readOnly": True}]
    health = nodes.health_path(node, kafka_ordering=variant == "kafka")
    result["spec"]["template"]["spec"]["containers"][0] |= {
        probe: {"httpGet": {"path": health}} for probe in ("livenessProbe", "readinessProbe")}
    return result


def ca(org: Org, topology: Topology) -> dict:
    return patch("StatefulSet", label(org.ca), "ca", nodes.ca_env(org.ca, topology, POD), _command(org.ca))


def chaincode_server(org: Org, topology: Topology, package_id: str) -> dict:
    node = org.chaincode
    assert node is not None
    return patch("Deployment", label(node), "chaincode", nodes.chaincode_env(node, package_id, topology, POD),
                 _command(node))


def gateway(admin_items: list[dict]) -> dict:
    return patch("Deployment", "gateway", "gateway", {}, volumes=[secret_volume("admin", "admin-msp", admin_items)])


def cli(org: Org, topology: Topology, variant: str, package_id: str, admin_items: list[dict]) -> dict:
    return patch("Deployment", "cli", "cli", cli_env(org, topology, variant, package_id),
                 volumes=[secret_volume("admin", "admin-msp", admin_items)])


def cli_env(org: Org, topology: Topology, variant: str, package_id: str) -> dict[str, str]:
    """The peer CLI as the organization's admin (like tdses.local.admin.Admin), and the scripts' settings."""
    env = {
        "HOME": "/tmp",
        # the bootstrap scripts first: `kubectl exec deploy/cli -- deploy-chaincode.sh` finds them
        "PATH": f"{SCRIPTS}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "FABRIC_CFG_PATH": str(POD.config / "peer"),
        "FABRIC_LOGGING_SPEC": "warning",
        "CORE_PEER_LOCALMSPID": org.msp_id,
        "CORE_PEER_MSPCONFIGPATH": str(ADMIN / "msp"),
        "CORE_PEER_ADDRESS": org.peers[0].address,
        "CORE_PEER_TLS_ENABLED": "true",
        "CORE_PEER_TLS_ROOTCERT_FILE": str(POD.tls_root(org)),
        "TDSES_ORDERER_TYPE": variant,
        "TDSES_CHANNEL": topology.channel,
        "TDSES_ORDERER": topology.orderers[0].address,
        "TDSES_ORDERER_TLS_ROOT": str(POD.tls_root(topology.orderer_org)),
        "TDSES_PEERS": " ".join(p.address for p in org.peers),
        "TDSES_CHAINCODE_NAME": topology.chaincode_name,
        "TDSES_CHAINCODE_VERSION": topology.chaincode_version,
        "TDSES_CHAINCODE_SEQUENCE": packaging.SEQUENCE,
        "TDSES_ENDORSEMENT_POLICY": configtx.endorsement_policy(topology),
        "TDSES_CHAINCODE_PACKAGE": str(CHANNEL / CHAINCODE_PACKAGE),
        "TDSES_PACKAGE_ID": package_id,
        "TDSES_ENDORSERS": " ".join(f"{o.peers[0].address}={POD.tls_root(o)}" for o in topology.orgs),
        "TDSES_STOKEN_INIT": peer_cli_call(Fn.INIT, stoken.init_argument(topology)),
        "TDSES_FOUNDER_MSP": stoken.founder_org(topology),
    }
    if variant == "kafka":
        env["TDSES_CHANNEL_TX"] = str(CHANNEL / f"{topology.channel}.tx")
    return env


def orderer_admin_job(topology: Topology, admin_items: list[dict]) -> dict:
    """The raft overlay's join-channel Job: osnadmin as the orderer organization's admin."""
    env = {
        "HOME": "/tmp",
        "TDSES_CHANNEL": topology.channel,
        "TDSES_CHANNEL_BLOCK": str(CHANNEL / f"{topology.channel}.block"),
        "TDSES_ORDERER_ADMIN_ENDPOINTS": " ".join(f"{o.host}:{o.ports.admin}" for o in topology.orderers),
        "TDSES_ORDERER_TLS_ROOT": str(POD.tls_root(topology.orderer_org)),
        "TDSES_ADMIN_TLS_CERT": str(ADMIN / "tls" / "client.crt"),
        "TDSES_ADMIN_TLS_KEY": str(ADMIN / "tls" / "client.key"),
    }
    return patch("Job", "join-channel", "osnadmin", env, volumes=[secret_volume("admin", "admin-msp", admin_items)])


def secret_volume(volume: str, secret: str, items: list[dict]) -> dict:
    return {"name": volume, "secret": {"secretName": secret, "items": items, "defaultMode": 0o440}}
