"""The channel's configuration (configtx.yaml) and its genesis block.

One application channel, created through the orderers' channel participation API: no system channel.
Policies use NodeOU roles; the chaincode endorsement policy is the channel default, a majority of the
organizations. Anchor peers (each org's peer0) are part of the genesis block.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tdses.fabric.errors import NetworkError
from tdses.fabric.state import State
from tdses.fabric.topology import Org, Topology

PROFILE = "TdsesChannel"


def _signature(rule: str) -> dict:
    return {"Type": "Signature", "Rule": rule}


def _implicit(rule: str) -> dict:
    return {"Type": "ImplicitMeta", "Rule": rule}


def _org(org: Org, state: State) -> dict:
    m = org.msp_id
    section = {
        "Name": m,
        "ID": m,
        "MSPDir": str(state.org_msp(org)),
        "Policies": {
            "Readers": _signature(f"OR('{m}.admin', '{m}.peer', '{m}.client', '{m}.orderer')"),
            "Writers": _signature(f"OR('{m}.admin', '{m}.client', '{m}.orderer')"),
            "Admins": _signature(f"OR('{m}.admin')"),
        },
    }
    if org.is_orderer:
        section["OrdererEndpoints"] = [o.address for o in org.orderers]
    else:
        section["Policies"]["Endorsement"] = _signature(f"OR('{m}.peer')")
        anchor = org.peers[0]
        section["AnchorPeers"] = [{"Host": anchor.host, "Port": anchor.ports.listen}]
    return section


def endorsement_policy(topology: Topology) -> str:
    """The chaincode's endorsement policy: the channel's MAJORITY Endorsement written out as one signature policy,
    a majority of the organizations' peers. It means the same, but a peer validating a transaction checks each
    endorsement's signature once; the implicit-meta policy checks the whole set once per organization it tries
    (each endorsement two or three times with three organizations: a third of a peer's CPU under load)."""
    members = ",".join(f"'{org.msp_id}.peer'" for org in topology.orgs)
    return f"OutOf({len(topology.orgs) // 2 + 1},{members})"


def configtx(topology: Topology, state: State) -> dict:
    orderer_org = _org(topology.orderer_org, state)
    orgs = [_org(org, state) for org in topology.orgs]
    consenters = [
        {
            "Host": o.host,
            "Port": o.ports.listen,
            "ClientTLSCert": str(state.node_crypto(o) / "tls" / "server.crt"),
            "ServerTLSCert": str(state.node_crypto(o) / "tls" / "server.crt"),
        }
        for o in topology.orderers
    ]
    return {
        "Profiles": {
            PROFILE: {
                "Policies": {
                    "Readers": _implicit("ANY Readers"),
                    "Writers": _implicit("ANY Writers"),
                    "Admins": _implicit("MAJORITY Admins"),
                },
                "Capabilities": {"V2_0": True},
                "Orderer": {
                    "OrdererType": "etcdraft",
                    "BatchTimeout": f"{topology.batch_timeout_ms}ms",
                    "BatchSize": {"MaxMessageCount": 500, "AbsoluteMaxBytes": "10 MB", "PreferredMaxBytes": "2 MB"},
                    "EtcdRaft": {
                        "Consenters": consenters,
                        "Options": {
                            "TickInterval": "500ms",
                            "ElectionTick": 10,
                            "HeartbeatTick": 1,
                            "MaxInflightBlocks": 5,
                            "SnapshotIntervalSize": "16 MB",
                        },
                    },
                    "Organizations": [orderer_org],
                    "Policies": {
                        "Readers": _implicit("ANY Readers"),
                        "Writers": _implicit("ANY Writers"),
                        "Admins": _implicit("MAJORITY Admins"),
                        "BlockValidation": _implicit("ANY Writers"),
                    },
                    "Capabilities": {"V2_0": True},
                },
                "Application": {
                    "Organizations": orgs,
                    "Policies": {
                        "Readers": _implicit("ANY Readers"),
                        "Writers": _implicit("ANY Writers"),
                        "Admins": _implicit("MAJORITY Admins"),
                        "LifecycleEndorsement": _implicit("MAJORITY Endorsement"),
                        "Endorsement": _implicit("MAJORITY Endorsement"),
                    },
                    "Capabilities": {"V2_5": True},
                },
            }
        }
    }


def genesis_block(topology: Topology, state: State, configtxgen: Path) -> Path:
    """Write configtx.yaml and make the channel's genesis block."""
    state.config.mkdir(parents=True, exist_ok=True)
    (state.config / "configtx.yaml").write_text(yaml.safe_dump(configtx(topology, state), sort_keys=False))
    block = state.genesis_block(topology.channel)
    block.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            str(configtxgen),
            "-configPath", str(state.config),
            "-profile", PROFILE,
            "-channelID", topology.channel,
            "-outputBlock", str(block),
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise NetworkError(f"configtxgen failed: {result.stderr.strip()[-2000:]}")
    return block
