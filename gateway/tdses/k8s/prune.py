"""Once a deploy is ready: delete what an earlier deploy of the namespace applied and the plan no longer has.

Every object the overlays make carries the label app.kubernetes.io/part-of=tdses. One that carries it, was
applied by this tool (its field manager), and is not in the plan is left over: a ConfigMap or Secret whose
generated name changed with its content, a peer taken out of the topology, the Kafka brokers after a switch
to Raft. It is deleted, with what it owns, after the new objects are ready (old pods may still mount an old
ConfigMap until then). The claims of a deleted StatefulSet's pods are kept (they hold a ledger or a store):
they are named, for the operator to delete once their data is no longer needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tdses.k8s import validate
from tdses.k8s.access import RESOURCES
from tdses.k8s.cluster import FIELD_MANAGER, Cluster
from tdses.k8s.deploy import Plan
from tdses.k8s.errors import KubernetesError

PART_OF = {"app.kubernetes.io/part-of": "tdses"}
FORBIDDEN = 403


@dataclass
class Pruned:
    deleted: list[str] = field(default_factory=list)  # validate.name of each (that a dry run would delete)
    kept: list[str] = field(default_factory=list)  # claims of deleted StatefulSets' pods: they hold data
    refused: list[str] = field(default_factory=list)  # what the deployer may not list or delete, and why


def api_version(kind: str) -> str:
    group = RESOURCES[kind][0]
    return f"{group}/v1" if group else "v1"


def leftovers(plan: Plan, cluster: Cluster, refused: list[str]) -> list[dict]:
    """The objects of the namespace this tool applied that the plan does not have, as the cluster has them."""
    wanted = {(o["kind"], o["metadata"]["name"]) for o in plan.objects}
    found = []
    for kind in RESOURCES:
        try:
            listed = cluster.list(api_version(kind), kind, plan.namespace, PART_OF)
        except KubernetesError as error:
            if error.status != FORBIDDEN:
                raise
            refused.append(str(error))
            continue
        found += [{"apiVersion": api_version(kind), "kind": kind, **live} for live in listed
                  if (kind, live["metadata"]["name"]) not in wanted and applied_by_us(live)]
    return found


def applied_by_us(live: dict) -> bool:
    return any(m.get("manager") == FIELD_MANAGER for m in live["metadata"].get("managedFields") or ())


def claims(statefulset: dict) -> list[str]:
    """The PersistentVolumeClaims a StatefulSet's pods were given: <template>-<statefulset>-<ordinal>."""
    meta, spec = statefulset["metadata"], statefulset.get("spec") or {}
    return [f"PersistentVolumeClaim {meta['namespace']}/{t['metadata']['name']}-{meta['name']}-{i}"
            for t in spec.get("volumeClaimTemplates") or () for i in range(spec.get("replicas", 1))]


def prune(plan: Plan, cluster: Cluster, out=None, dry_run: bool = False) -> Pruned:
    """Delete the leftovers (a dry run has the API server check each delete without doing it)."""
    result = Pruned()
    for live in leftovers(plan, cluster, result.refused):
        obj = {"apiVersion": live["apiVersion"], "kind": live["kind"],
               "metadata": {"name": live["metadata"]["name"], "namespace": plan.namespace}}
        try:
            cluster.delete(obj, dry_run=dry_run)
        except KubernetesError as error:
            if error.status != FORBIDDEN:
                raise
            result.refused.append(str(error))
            continue
        result.deleted.append(validate.name(obj))
        if obj["kind"] == "StatefulSet":
            result.kept += claims({**live, "metadata": obj["metadata"]})
        if out is not None:
            print(f"{'would delete' if dry_run else 'deleted'} {validate.name(obj)}: no longer in the plan",
                  file=out, flush=True)
    return result
