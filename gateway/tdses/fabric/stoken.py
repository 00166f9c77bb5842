"""The SToken genesis both runners pass once to the chaincode's Init: network-config/stoken.yaml.

Every organization's chaincode server is started with the SHA-256 of that Init argument and endorses no other,
so the genesis is what the organizations agreed to, not what the admin who calls Init chooses."""

from __future__ import annotations

import hashlib

import yaml

from tdses.chaincode import argument
from tdses.fabric.topology import Topology
from tdses.paths import NETWORK_CONFIG

GENESIS = NETWORK_CONFIG / "stoken.yaml"


def founder_org(topology: Topology) -> str:
    """The organization whose admin calls Init and becomes the founder user: the topology's first."""
    return topology.orgs[0].msp_id


def init_config(topology: Topology) -> dict:
    """Init's settings: network-config/stoken.yaml, with every peer organization of the topology a maintainer and
    the first one the founder's (the topology decides both, whatever the file says)."""
    return {**yaml.safe_load(GENESIS.read_text()), "founderOrg": founder_org(topology),
            "maintainers": [org.msp_id for org in topology.orgs]}


def init_argument(topology: Topology) -> str:
    """Init's argument, byte for byte as the chaincode servers' digest covers it."""
    return argument(init_config(topology))


def init_digest(topology: Topology) -> str:
    """The chaincode servers' TDSES_GENESIS_SHA256."""
    return hashlib.sha256(init_argument(topology).encode()).hexdigest()
