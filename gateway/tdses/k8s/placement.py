"""Where nodes run on Kubernetes: each in a pod of its own behind a Service in its organization's namespace,
all on Fabric's usual ports.

    topology = load("default", placement=Kubernetes())
"""

from __future__ import annotations

from tdses.fabric.topology import Node, Org, Ports, Topology

PORTS = {
    "orderer": Ports(listen=7050, admin=7053, operations=9443),
    "peer": Ports(listen=7051, chaincode=7052, operations=9443),
    "ca": Ports(listen=7054, operations=9443),
    "chaincode": Ports(listen=9999, operations=0),
    "gateway": Ports(listen=8080, operations=0),
}


def namespace(org: Org) -> str:
    """The Kubernetes namespace of an organization."""
    return f"tdses-{org.name}"


class Kubernetes:
    """tdses.fabric.topology.Placement on a cluster: a node's host is its Service's DNS name."""

    def place(self, kind: str, host_label: str, org: Org) -> Node:
        return Node(kind, f"{host_label}.{org.domain}", org, PORTS[kind],
                    host=f"{host_label}.{namespace(org)}.svc.cluster.local", bind="0.0.0.0")

    def check(self, topology: Topology) -> None:
        pass  # every pod has the whole port range to itself
