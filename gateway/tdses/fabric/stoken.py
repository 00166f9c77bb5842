"""The SToken genesis both runners pass once to the chaincode's Init: network-config/stoken.yaml."""

from __future__ import annotations

import yaml

from tdses.fabric.topology import Topology
from tdses.paths import NETWORK_CONFIG

GENESIS = NETWORK_CONFIG / "stoken.yaml"


def init_config(topology: Topology) -> dict:
    """Init's argument: the genesis settings, with every peer organization of the topology as a maintainer."""
    return {**yaml.safe_load(GENESIS.read_text()), "maintainers": [org.msp_id for org in topology.orgs]}
