"""The configuration files a pod reads, rendered from network-config/ like the local network's.

core.yaml and orderer.yaml go into ConfigMaps; the CA's configuration carries the registrar secret and
goes into a Secret. The gateway's configuration names endpoints and file paths, never a secret value.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from jinja2 import Environment, StrictUndefined

from tdses.fabric import gateways
from tdses.fabric.topology import Org, Topology
from tdses.k8s import layout
from tdses.paths import NETWORK_CONFIG

GATEWAY_SECRETS = "/var/run/tdses/secrets"  # Secret gateway-secrets
# The replicas' shared store (k8s/base/organization/gateway-store.yaml); the password comes as PGPASSWORD.
GATEWAY_STORE = "postgresql+psycopg://gateway@gateway-store:5432/gateway"

FABRIC_CONFIG = NETWORK_CONFIG / "fabric"
_jinja = Environment(undefined=StrictUndefined, keep_trailing_newline=True)


def core_yaml() -> str:
    return _jinja.from_string((FABRIC_CONFIG / "core.yaml").read_text()).render(ccaas_builder=layout.CCAAS_BUILDER)


def orderer_yaml() -> str:
    return (FABRIC_CONFIG / "orderer.yaml").read_text()


def ca_server_config(registrar_secret: str) -> str:
    template = _jinja.from_string((FABRIC_CONFIG / "fabric-ca-server-config.yaml").read_text())
    return template.render(registrar_secret=registrar_secret)


def gateway_config(topology: Topology, org: Org) -> dict:
    """/etc/tdses/gateway.yaml: the keys of tdses.fabric.gateways.config, with the pod's paths."""
    secrets = PurePosixPath(GATEWAY_SECRETS)
    return gateways.settings(
        topology, org,
        tls_root=layout.KubernetesLayout().tls_root,
        registrar_secret_file=secrets / "registrar-secret",
        admin_msp_dir=layout.ADMIN / "msp",
        admin_token_file=secrets / "admin-token",
        key_encryption_key_file=secrets / "key-encryption-key",
        store=GATEWAY_STORE,
    )
