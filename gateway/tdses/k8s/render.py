"""Render: the static kustomize tree (k8s/) plus one generated component per overlay, ready for `kustomize build`.

    <out>/base, <out>/components   copied from k8s/
    <out>/overlays/<overlay>/       copied from k8s/, only the overlays rendered (each of them builds)
    <out>/generated/<overlay>/      made here from network-config/ and the state directory

An overlay is an organization (org1, org2, …) or the orderer namespace with its consensus
(orderer-kafka, orderer-raft). The output holds private keys: keep it private.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
from pathlib import Path

import yaml

from tdses.fabric import packaging, toolchain
from tdses.fabric.state import State
from tdses.fabric.topology import Org, Topology
from tdses.k8s import config_files, credentials, kafka, workloads
from tdses.k8s.component import Component
from tdses.k8s.errors import KubernetesError
from tdses.k8s.placement import namespace
from tdses.k8s.workloads import CHAINCODE_PACKAGE, label
from tdses.paths import REPO_ROOT

K8S_DIR = REPO_ROOT / "k8s"
SHARED = ("base", "components")
VARIANTS = ("kafka", "raft")
ORDERER = "orderer"


def overlay_name(target: str, variant: str) -> str:
    return f"{ORDERER}-{variant}" if target == ORDERER else target


def targets(topology: Topology) -> list[str]:
    """Everything that can be deployed: each organization's namespace and the orderer namespace."""
    return [org.name for org in topology.orgs] + [ORDERER]


# What an image reference may start with: a registry host (and port), then path components (OCI distribution).
REGISTRY = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*")
RENDERED_MARK = ".tdses-rendered"  # in a directory render() made: the next render may replace what it wrote


def _claim(out: Path) -> None:
    """A new or empty directory becomes render's own (0700: the secrets' files are in it); one that holds anything
    else is refused, since rendering replaces whole folders."""
    if out.exists() and not (out / RENDERED_MARK).exists():
        if not out.is_dir() or any(out.iterdir()):
            raise KubernetesError(f"{out} holds files that were not rendered here: choose a new or empty directory")
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise KubernetesError(f"cannot make the output directory {out}: {exc.strerror or exc}") from None
    if not (out / RENDERED_MARK).exists():
        out.chmod(0o700)
        _mark(out)


def _mark(out: Path) -> None:
    (out / RENDERED_MARK).write_text("rendered by tdses k8s render: it replaces this directory's folders\n")


def default_out(state_dir: Path) -> Path:
    """Where deploy and access render by default: the state directory's own, which render may always replace
    (marked as such if an earlier version rendered it without the mark)."""
    out = state_dir / "rendered"
    if out.is_dir() and not (out / RENDERED_MARK).exists():
        _mark(out)
    return out


def render(topology: Topology, state: State, out: Path, variant: str, only: list[str] | None = None,
           registry: str | None = None, source: Path = K8S_DIR) -> dict[str, Path]:
    """Write the tree for the chosen targets (default: all) into out; return overlay name -> overlay directory."""
    if variant not in VARIANTS:
        raise KubernetesError(f"unknown orderer variant {variant!r}: choose one of {', '.join(VARIANTS)}")
    if registry is not None and not REGISTRY.fullmatch(registry):
        raise KubernetesError(f"--registry {registry!r} is not a registry prefix like registry.example.com:5000/tdses")
    chosen = only or targets(topology)
    unknown = [t for t in chosen if t not in targets(topology)]
    if unknown:
        raise KubernetesError(f"nothing to deploy named {', '.join(unknown)}: choose from {', '.join(targets(topology))}")
    credentials.check(topology, state, variant)
    for target in chosen:
        check_overlay(source, topology, target, variant)

    _claim(out)
    # Only the overlays rendered now, each with its generated component: whatever is left in out builds.
    for part in (*SHARED, "overlays", "generated"):
        shutil.rmtree(out / part, ignore_errors=True)
    for part in SHARED:
        shutil.copytree(source / part, out / part)
    overlays = {}
    for target in chosen:
        name = overlay_name(target, variant)
        shutil.copytree(source / "overlays" / name, out / "overlays" / name)
        component = Component(out / "generated" / name)
        if target == ORDERER:
            _orderer_namespace(component, out, topology, state, variant)
        else:
            _organization(component, out, topology, state, topology.org(target), variant)
        _images(component, topology, registry)
        component.write()
        overlays[name] = out / "overlays" / name
    return overlays


def check_overlay(source: Path, topology: Topology, target: str, variant: str) -> None:
    """The static overlay exists, is well-formed and targets the namespace the topology's DNS names use."""
    name = overlay_name(target, variant)
    path = source / "overlays" / name / "kustomization.yaml"
    org = topology.orderer_org if target == ORDERER else topology.org(target)
    expected = namespace(org)
    if not path.is_file():
        hint = (f"copy {source / 'overlays' / topology.orgs[-1].name} to {path.parent} and set `namespace: {expected}`"
                if target != ORDERER else "restore it from the repository")
        raise KubernetesError(f"no overlay {path.parent}: {hint}")
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise KubernetesError(f"overlay {path} is malformed YAML: {exc}") from None
    if not isinstance(spec, dict):
        raise KubernetesError(f"overlay {path} is malformed: expected a Kustomization mapping")
    if spec.get("namespace") != expected:
        raise KubernetesError(f"overlay {path} deploys into namespace {spec.get('namespace')!r}, but the topology "
                              f"places {org.name}'s nodes in {expected!r} (their DNS names depend on it)")
    if f"../../generated/{name}" not in (spec.get("components") or []):
        raise KubernetesError(f"overlay {path} does not include its generated component ../../generated/{name}")


def _organization(c: Component, out: Path, topology: Topology, state: State, org: Org, variant: str) -> None:
    for peer in org.peers:
        name = label(peer)
        c.instance(name, out / "base" / "organization" / "peer", suffix=name.removeprefix("peer"))
        crypto = state.node_crypto(peer)
        items = c.directory_secret(f"{name}-crypto", {"msp": crypto / "msp", "tls": crypto / "tls"})
        c.patch(workloads.peer(peer, topology, items))

    c.config_map("peer-config", {"core.yaml": config_files.core_yaml()})
    c.config_map("gateway-config",
                 {"gateway.yaml": yaml.safe_dump(config_files.gateway_config(topology, org), sort_keys=False)})
    registrar_secret = state.registrar_secret(org).read_text().strip()
    c.secret("ca-server-config", {"fabric-ca-server-config.yaml": config_files.ca_server_config(registrar_secret)})
    c.secret("ca-keypair", {"cert.pem": state.ca_cert(org), "key.pem": state.ca_key(org)})
    c.secret("ca-tls", _tls_files(state.service_tls(org.ca)))
    assert org.chaincode is not None
    c.secret("chaincode-tls", _tls_files(state.service_tls(org.chaincode)))
    c.secret("tls-roots", {f"{o.name}.pem": state.tls_ca_cert(o) for o in topology.all_orgs})
    c.secret("gateway-secrets", {
        "admin-token": credentials.gateway_admin_token(state, org),
        "registrar-secret": registrar_secret,
        "key-encryption-key": credentials.gateway_key_encryption_key(state, org),
    })
    c.secret("gateway-store", {"password": credentials.gateway_store_password(state, org)})
    admin_items = c.directory_secret("admin-msp", {"msp": state.admin_msp(org), "tls": state.admin_tls(org)})

    package, package_id = packaging.package(topology, state, org)
    artifacts: dict[str, Path | str | bytes] = {CHAINCODE_PACKAGE: package}
    if variant == "kafka":
        artifacts[f"{topology.channel}.tx"] = kafka.channel_tx(state, topology.channel)
    c.secret("channel-artifacts", artifacts)

    c.patch(workloads.ca(org, topology))
    c.patch(workloads.chaincode_server(org, topology, package_id))
    c.patch(workloads.gateway(admin_items))
    c.patch(workloads.cli(org, topology, variant, package_id, admin_items))


def _orderer_namespace(c: Component, out: Path, topology: Topology, state: State, variant: str) -> None:
    org = topology.orderer_org
    for node in org.orderers:
        name = label(node)
        c.instance(name, out / "base" / "orderer" / "orderer", suffix=name.removeprefix("orderer"))
        crypto = state.node_crypto(node)
        items = c.directory_secret(f"{name}-crypto", {"msp": crypto / "msp", "tls": crypto / "tls"})
        c.patch(workloads.orderer(node, topology, variant, items))
    c.config_map("orderer-config", {"orderer.yaml": config_files.orderer_yaml()})
    c.secret("tls-roots", {f"{org.name}.pem": state.tls_ca_cert(org)})
    if variant == "kafka":
        c.secret("channel-artifacts", {kafka.GENESIS_BLOCK: kafka.system_genesis_block(state)})
        c.config_map("kafka-config", kafka.config_files())
    else:
        c.secret("channel-artifacts", {f"{topology.channel}.block": state.genesis_block(topology.channel)})
        admin_items = c.directory_secret("admin-msp", {"tls": state.admin_tls(org)})
        c.patch(workloads.orderer_admin_job(topology, admin_items))


def _tls_files(directory: Path) -> dict[str, Path | str | bytes]:
    return {name: directory / name for name in ("server.crt", "server.key", "ca.crt")}


def image_tags(topology: Topology) -> dict[str, str]:
    """Image -> tag: Fabric's from network-config/toolchain/toolchain.yaml, ours from their versions."""
    releases = {t.name: t.release for t in toolchain.toolchains()}
    try:
        gateway_version = importlib.metadata.version("tdses")
    except importlib.metadata.PackageNotFoundError:
        gateway_version = "latest"
    return {
        "hyperledger/fabric-peer": releases["fabric"],
        "hyperledger/fabric-orderer": releases["fabric"],
        "hyperledger/fabric-tools": releases["fabric"],
        "hyperledger/fabric-ca": releases["fabric-ca"],
        "tdses-chaincode": topology.chaincode_version,
        "tdses-gateway": gateway_version,
        kafka.IMAGE: kafka.image_tag(),  # network-config/kafka/kafka.yaml: the local network's Kafka version
    }


def _ours(image: str) -> bool:
    """Our images (k8s/images): built by the operator and pushed to a registry of their choice."""
    return image.startswith("tdses-")


def registry_warning(topology: Topology, registry: str | None, chosen: list[str] | None = None) -> str | None:
    """Without a registry, a cluster pulls our images from Docker Hub, which has none of them: say so loudly
    when an organization, which runs them, is among the targets (default: all)."""
    if registry or all(target == ORDERER for target in chosen or targets(topology)):
        return None
    ours = " and ".join(f"{image}:{tag}" for image, tag in image_tags(topology).items() if _ours(image))
    return (f"WARNING: no --registry: images {ours} name no registry, so the cluster pulls them from Docker Hub, "
            f"which has neither and the pods will not start. Build and push them (k8s/README.md, Prerequisites) "
            f"and pass --registry REGISTRY, unless every node already holds them.")


def _images(c: Component, topology: Topology, registry: str | None) -> None:
    for image, tag in image_tags(topology).items():
        c.image(image, tag, registry if _ours(image) else None)
