"""After an apply: delete what an earlier deploy of the namespace applied and the plan no longer has.

Every object the overlays make carries the label app.kubernetes.io/part-of=tdses. One that carries it, was
applied by this tool (its field manager), and is not in the plan is left over: a ConfigMap or Secret whose
generated name changed with its content, a peer taken out of the topology, the Kafka brokers after a switch
to Raft. It is deleted, with what it owns. A PersistentVolumeClaim is never deleted (it holds a ledger or a
store): it is named, for the operator to delete when its data is no longer needed.
"""

from __future__ import annotations

from dataclasses import dataclass

from tdses.k8s import validate
from tdses.k8s.access import RESOURCES
from tdses.k8s.cluster import FIELD_MANAGER, Cluster
from tdses.k8s.deploy import Plan
from tdses.k8s.errors import KubernetesError

PART_OF = {"app.kubernetes.io/part-of": "tdses"}
KEPT = ("PersistentVolumeClaim",)
FORBIDDEN = 403


@dataclass
class Pruned:
    deleted: list[str]  # validate.name of each object deleted (or that a dry run would delete)
    kept: list[str]  # left over, but holding data
    refused: list[str]  # kinds the deployer may not list or delete, with what to do


def api_version(kind: str) -> str:
    group = RESOURCES[kind][0]
    return f"{group}/v1" if group else "v1"


def leftovers(plan: Plan, cluster: Cluster) -> tuple[list[dict], list[str]]:
    """The objects of the namespace this tool applied that the plan does not have, and the kinds it could not
    list. A kind the plan does not have either may be outside the deployer's Role: then it is passed over."""
    wanted = {(o["kind"], o["metadata"]["name"]) for o in plan.objects}
    planned_kinds = {o["kind"] for o in plan.objects}
    found, refused = [], []
    for kind in RESOURCES:
        try:
            listed = cluster.list(api_version(kind), kind, plan.namespace, PART_OF)
        except KubernetesError as error:
            if error.status == FORBIDDEN and kind not in planned_kinds:
                continue
            if error.status == FORBIDDEN:
                refused.append(f"{kind}: {error}")
                continue
            raise
        for live in listed:
            meta = live["metadata"]
            if (kind, meta["name"]) not in wanted and applied_by_us(live):
                found.append({"apiVersion": api_version(kind), "kind": kind,
                              "metadata": {"name": meta["name"], "namespace": plan.namespace}})
    return found, refused


def applied_by_us(live: dict) -> bool:
    return any(m.get("manager") == FIELD_MANAGER for m in live["metadata"].get("managedFields") or ())


def prune(plan: Plan, cluster: Cluster, out=None, dry_run: bool = False) -> Pruned:
    """Delete the leftovers (a dry run only names them); report what was deleted, kept and refused."""
    found, refused = leftovers(plan, cluster)
    result = Pruned([], [], refused)
    for obj in found:
        if obj["kind"] in KEPT:
            result.kept.append(validate.name(obj))
            continue
        if not dry_run:
            try:
                cluster.delete(obj)
            except KubernetesError as error:
                if error.status != FORBIDDEN:
                    raise
                result.refused.append(f"{obj['kind']}: {error}")
                continue
        result.deleted.append(validate.name(obj))
        if out is not None:
            print(f"{'would delete' if dry_run else 'deleted'} {validate.name(obj)}: no longer in the plan",
                  file=out, flush=True)
    return result
