"""Shared by the test_k8s_* modules: a state directory with stand-in credentials, and the rendered overlays.

The stand-ins have cryptogen's layout and PEM markers but are not real keys: rendering only copies them
into Secrets, so the tests need neither cryptogen nor configtxgen. kustomize is installed (once, into the
cache) from the Go module proxy, like every tool the project uses.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tdses.fabric.state import State
from tdses.fabric.topology import Topology, load
from tdses.k8s import credentials, kafka, kustomize, render
from tdses.k8s.placement import Kubernetes

FAKE_CERT = "-----BEGIN CERTIFICATE-----\nstand-in\n-----END CERTIFICATE-----\n"
FAKE_KEY = "-----BEGIN PRIVATE KEY-----\nstand-in\n-----END PRIVATE KEY-----\n"
REGISTRAR_SECRET = "registrar-secret-of-{org}"
ADMIN_TOKEN = "admin-token-of-{org}"


def kube_topology() -> Topology:
    return load("default", placement=Kubernetes())


def _write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())


def _msp(root: Path, name: str) -> None:
    _write(root / "cacerts" / "ca-cert.pem", FAKE_CERT)
    _write(root / "tlscacerts" / "tlsca-cert.pem", FAKE_CERT)
    _write(root / "signcerts" / f"{name}-cert.pem", FAKE_CERT)
    _write(root / "keystore" / "priv_sk", FAKE_KEY)
    _write(root / "config.yaml", "NodeOUs:\n  Enable: true\n")


def _tls(root: Path, cert: str = "server") -> None:
    _write(root / f"{cert}.crt", FAKE_CERT)
    _write(root / f"{cert}.key", FAKE_KEY)
    _write(root / "ca.crt", FAKE_CERT)


def fake_state(root: Path, topology: Topology) -> State:
    state = State(root)
    for org in topology.all_orgs:
        _write(state.tls_ca_cert(org), FAKE_CERT)
        _write(state.ca_cert(org), FAKE_CERT)
        _write(state.ca_key(org), FAKE_KEY)
        _msp(state.admin_msp(org), f"Admin@{org.domain}")
        _tls(state.admin_tls(org), "client")
        _tls(state.service_tls(org.ca))
        _write(state.registrar_secret(org), REGISTRAR_SECRET.format(org=org.name))
    for org in topology.orgs:
        _tls(state.service_tls(org.chaincode))
        _write(credentials.gateway_admin_token(state, org), ADMIN_TOKEN.format(org=org.name))
        _write(credentials.gateway_key_encryption_key(state, org), "a2V5LWVuY3J5cHRpb24ta2V5")
    for node in topology.nodes:
        if node.kind in ("peer", "orderer"):
            _msp(state.node_crypto(node) / "msp", node.name)
            _tls(state.node_crypto(node) / "tls")
    _write(state.genesis_block(topology.channel), b"\x0a\x02raft-genesis")
    _write(kafka.system_genesis_block(state), b"\x0a\x02system-genesis")
    _write(kafka.channel_tx(state, topology.channel), b"\x0a\x02channel-tx")
    return state


class Rendered:
    """Both variants rendered once; each overlay built once, on demand."""

    def __init__(self, root: Path):
        self.topology = kube_topology()
        self.state = fake_state(root / "state", self.topology)
        self.overlays: dict[tuple[str, str], Path] = {}
        for variant in render.VARIANTS:
            for name, path in render.render(self.topology, self.state, root / variant, variant).items():
                self.overlays[(variant, name)] = path
        self._built: dict[tuple[str, str], list[dict]] = {}

    def objects(self, variant: str, overlay: str) -> list[dict]:
        key = (variant, overlay)
        if key not in self._built:
            self._built[key] = kustomize.build(self.overlays[key])
        return self._built[key]

    def org_objects(self, org: str = "org1", variant: str = "raft") -> list[dict]:
        return self.objects(variant, org)

    def orderer_objects(self, variant: str) -> list[dict]:
        return self.objects(variant, f"orderer-{variant}")


@pytest.fixture(scope="session")
def rendered(tmp_path_factory) -> Rendered:
    return Rendered(tmp_path_factory.mktemp("k8s"))


def of_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def named(objects: list[dict], kind: str, name: str) -> dict:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def container(workload: dict, name: str) -> dict:
    return next(c for c in pod_spec(workload)["containers"] if c["name"] == name)


def env(workload: dict, name: str) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(workload, name).get("env", []) if "value" in e}
