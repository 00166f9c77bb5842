"""Deploy one namespace: render → build → validate → apply → wait until ready, reporting what is not.

The plan (the objects, in apply order, and the bootstrap steps that follow) is computed without a
cluster, which is what `--dry-run` prints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tdses.fabric.state import State
from tdses.fabric.topology import Topology
from tdses.k8s import kustomize, render, validate
from tdses.k8s.cluster import Cluster
from tdses.k8s.placement import namespace

# Namespaces and what pods mount exist before the pods; Jobs run last, once the orderers exist.
APPLY_ORDER = ["Namespace", "ConfigMap", "Secret", "PersistentVolumeClaim", "Service", "NetworkPolicy",
               "PodDisruptionBudget", "StatefulSet", "Deployment", "Job"]


@dataclass
class Plan:
    target: str
    variant: str
    overlay: str
    namespace: str
    objects: list[dict]
    bootstrap: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"deploy {self.overlay} into namespace {self.namespace} ({len(self.objects)} objects, "
               f"{self.variant} ordering):"]
        out += [f"  apply {validate.name(obj)}" for obj in self.objects]
        out += ["then, to bootstrap:"] + [f"  {step}" for step in self.bootstrap]
        return out


def make_plan(topology: Topology, state: State, target: str, variant: str, out: Path,
              registry: str | None = None) -> Plan:
    overlays = render.render(topology, state, out, variant, only=[target], registry=registry)
    overlay = render.overlay_name(target, variant)
    objects = kustomize.build(overlays[overlay])
    validate.validate(objects)
    objects.sort(key=lambda o: APPLY_ORDER.index(o["kind"]) if o["kind"] in APPLY_ORDER else len(APPLY_ORDER))
    org = topology.orderer_org if target == render.ORDERER else topology.org(target)
    return Plan(target, variant, overlay, namespace(org), objects, bootstrap_steps(topology, target, variant))


def bootstrap_steps(topology: Topology, target: str, variant: str) -> list[str]:
    if target == render.ORDERER:
        if variant == "raft":
            return [f"the Job join-channel joins every orderer to channel {topology.channel} (osnadmin); "
                    f"watch it: kubectl -n {namespace(topology.orderer_org)} logs job/join-channel -f"]
        return [f"orderers start from the system channel genesis block; then one organization creates "
                f"channel {topology.channel} (join-channel.sh --create)"]
    ns = namespace(topology.org(target))
    first = target == topology.orgs[0].name
    steps = []
    if variant == "kafka" and first:
        steps.append(f"kubectl -n {ns} exec deploy/cli -- join-channel.sh --create")
    else:
        steps.append(f"kubectl -n {ns} exec deploy/cli -- join-channel.sh")
    steps.append(f"kubectl -n {ns} exec deploy/cli -- deploy-chaincode.sh")
    steps.append(f"once every organization approved, one of them: "
                 f"kubectl -n {ns} exec deploy/cli -- deploy-chaincode.sh --commit")
    return steps


def apply(plan: Plan, cluster: Cluster, out=None) -> None:
    for obj in plan.objects:
        cluster.apply(obj)
        if out is not None:
            print(f"applied {validate.name(obj)}", file=out, flush=True)


def not_ready(plan: Plan, cluster: Cluster) -> list[str]:
    """What is not ready yet, one line each; empty when everything is."""
    waiting = []
    for obj in plan.objects:
        if obj["kind"] not in ("StatefulSet", "Deployment", "Job", "PersistentVolumeClaim"):
            continue
        live = cluster.read(obj)
        problem = "not found" if live is None else _problem(obj["kind"], live)
        if problem:
            waiting.append(f"{validate.name(obj)}: {problem}")
    return waiting


def _problem(kind: str, live: dict) -> str | None:
    status = live.get("status") or {}
    if kind == "PersistentVolumeClaim":
        phase = status.get("phase", "Pending")
        return None if phase == "Bound" else f"{phase} (is there a storage class for its access mode?)"
    if kind == "Job":
        if status.get("succeeded"):
            return None
        return f"{status.get('failed', 0)} failed attempt(s), not completed yet"
    wanted = (live.get("spec") or {}).get("replicas", 1)
    ready = status.get("readyReplicas") or 0
    if (status.get("observedGeneration") or 0) < (live.get("metadata") or {}).get("generation", 0):
        return "its latest spec is not rolled out yet"
    return None if ready >= wanted else f"{ready}/{wanted} ready"


def wait_ready(plan: Plan, cluster: Cluster, timeout: float, interval: float = 5.0,
               sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> list[str]:
    """Poll until everything is ready or the timeout passes; return what is still not ready."""
    deadline = clock() + timeout
    while True:
        waiting = not_ready(plan, cluster)
        if not waiting or clock() >= deadline:
            return waiting
        sleep(interval)
