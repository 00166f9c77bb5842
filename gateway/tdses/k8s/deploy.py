"""Deploy one namespace: render → build → validate → apply → wait until ready, reporting what is not → prune
(tdses.k8s.prune).

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
from tdses.k8s.errors import KubernetesError
from tdses.k8s.placement import namespace

# Namespaces and what pods mount exist before the pods; Jobs run last, once the orderers exist.
APPLY_ORDER = ["Namespace", "ConfigMap", "Secret", "PersistentVolumeClaim", "Service", "NetworkPolicy",
               "PodDisruptionBudget", "StatefulSet", "Deployment", "Job"]
WORKLOADS_WITH_PODS = ("StatefulSet", "Deployment", "Job")
COMMIT_AND_INIT = ("commits the chaincode definition, then calls Init, as the founder organization's admin, with the "
                   "SToken genesis of network-config/stoken.yaml (idempotent: an initialized chaincode is left as "
                   "it is)")


@dataclass
class Plan:
    target: str
    variant: str
    overlay: str
    namespace: str
    objects: list[dict]
    bootstrap: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

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
    warning = render.registry_warning(topology, registry, [target])
    return Plan(target, variant, overlay, namespace(org), objects, bootstrap_steps(topology, target, variant),
                [warning] if warning else [])


def bootstrap_steps(topology: Topology, target: str, variant: str) -> list[str]:
    if target == render.ORDERER:
        if variant == "raft":
            first = (f"the Job join-channel joins every orderer to channel {topology.channel} (osnadmin); "
                     f"watch it: kubectl -n {namespace(topology.orderer_org)} logs job/join-channel -f")
        else:
            first = (f"orderers start from the system channel genesis block; then one organization creates "
                     f"channel {topology.channel} (join-channel.sh --create)")
        return [first, "in each organization, once it is deployed: join-channel.sh, then deploy-chaincode.sh",
                f"once every organization installed and approved, the founder organization "
                f"({topology.orgs[0].name}): deploy-chaincode.sh --commit, which {COMMIT_AND_INIT}"]
    ns = namespace(topology.org(target))
    first = target == topology.orgs[0].name
    steps = []
    if variant == "kafka" and first:
        steps.append(f"kubectl -n {ns} exec deploy/cli -- join-channel.sh --create")
    else:
        steps.append(f"kubectl -n {ns} exec deploy/cli -- join-channel.sh")
    steps.append(f"kubectl -n {ns} exec deploy/cli -- deploy-chaincode.sh")
    founder = topology.orgs[0]
    steps.append(f"once every organization installed and approved, the founder organization ({founder.name}): "
                 f"kubectl -n {namespace(founder)} exec deploy/cli -- deploy-chaincode.sh --commit  # "
                 f"{COMMIT_AND_INIT}")
    return steps


def apply(plan: Plan, cluster: Cluster, out=None, dry_run: bool = False) -> list[str]:
    """Apply every object server-side (or only dry-run it); return the API server's warnings, one line each.

    A Namespace that already exists with the labels the manifests give it is left alone: an operator whose
    account may only read its namespace (see `tdses k8s access`) can deploy into it; an absent or different
    one is applied, which takes a cluster administrator.
    """
    found = []
    for obj in plan.objects:
        if obj["kind"] == "Namespace" and _namespace_as_wanted(obj, cluster):
            if out is not None:
                print(f"{validate.name(obj)} exists as wanted", file=out, flush=True)
            continue
        if dry_run and obj["kind"] != "Namespace" and cluster.read(_namespace_of(plan)) is None:
            raise KubernetesError(f"namespace {plan.namespace} does not exist yet: the server-side dry run checked "
                                  f"the Namespace only; objects in it can be dry-run once it exists")
        found += [f"{validate.name(obj)}: {w}" for w in _apply(cluster, obj, dry_run)]
        if out is not None:
            print(f"{'checked (dry run)' if dry_run else 'applied'} {validate.name(obj)}", file=out, flush=True)
    return found


def _apply(cluster: Cluster, obj: dict, dry_run: bool) -> list[str]:
    try:
        return cluster.apply(obj, dry_run=dry_run)
    except KubernetesError as error:
        if obj["kind"] == "Job" and "field is immutable" in str(error):
            meta = obj["metadata"]
            raise KubernetesError(f"{error}. A Job cannot change once it exists (here: what it mounts or runs): to "
                                  f"apply it, kubectl -n {meta['namespace']} delete job {meta['name']}, then "
                                  "deploy again") from None
        raise


def _namespace_of(plan: Plan) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": plan.namespace}}


def _namespace_as_wanted(obj: dict, cluster: Cluster) -> bool:
    live = cluster.read(obj)
    if live is None:
        return False
    labels = (live.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in (obj["metadata"].get("labels") or {}).items())


def not_ready(plan: Plan, cluster: Cluster) -> list[str]:
    """What is not ready yet, one line each, with why when a pod tells; empty when everything is."""
    return [line for line, _ in _waiting(plan, cluster)]


def _waiting(plan: Plan, cluster: Cluster) -> list[tuple[str, bool]]:
    """not_ready's lines, each with whether it is final (a failed Job: no wait makes it ready)."""
    waiting = []
    for obj in plan.objects:
        if obj["kind"] not in ("StatefulSet", "Deployment", "Job", "PersistentVolumeClaim"):
            continue
        live = cluster.read(obj)
        if live is not None and obj["kind"] == "Job" and (failure := _job_failure(live)) is not None:
            waiting.append((f"{validate.name(obj)}: failed ({failure}); a failed Job does not run again: read its "
                            f"logs, then delete it and deploy again", True))
            continue
        problem = "not found" if live is None else _problem(obj["kind"], live)
        if problem:
            why = _why(obj, live, cluster) if live is not None else None
            waiting.append((f"{validate.name(obj)}: {problem}" + (f" ({why})" if why else ""), False))
    return waiting


def _job_failure(live: dict) -> str | None:
    for condition in (live.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            return condition.get("message") or condition.get("reason") or "no reason given"
    return None


def _why(obj: dict, live: dict, cluster: Cluster) -> str | None:
    """The first reason the workload's pods give (unschedulable, refused by admission, …)."""
    for condition in (live.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
            return condition.get("message")
    if obj["kind"] not in WORKLOADS_WITH_PODS:
        return None
    selector = ((live.get("spec") or {}).get("selector") or {}).get("matchLabels")
    if not selector:
        return None
    for pod in sorted(cluster.pods(obj["metadata"]["namespace"], selector), key=lambda p: p["metadata"]["name"]):
        status = pod.get("status") or {}
        for condition in status.get("conditions") or []:
            if condition.get("status") == "False" and condition.get("message"):
                return f"pod {pod['metadata']['name']} {status.get('phase', '')}: {condition['message']}"
        for container in status.get("containerStatuses") or []:
            waiting = (container.get("state") or {}).get("waiting")
            if waiting:
                return f"pod {pod['metadata']['name']} container {container['name']}: {waiting.get('reason')}"
    return None


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
    if ready < wanted:
        return f"{ready}/{wanted} ready"
    # Old pods may still be ready while new ones are not: the rollout is done when all run the latest spec.
    if kind == "Deployment" and (status.get("updatedReplicas") or 0) < wanted:
        return f"{status.get('updatedReplicas') or 0}/{wanted} updated to the latest spec"
    if kind == "StatefulSet" and status.get("updateRevision") not in (None, status.get("currentRevision")):
        return f"{status.get('updatedReplicas') or 0}/{wanted} updated to the latest spec"
    return None


def wait_ready(plan: Plan, cluster: Cluster, timeout: float, interval: float = 5.0,
               sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
               out=None) -> list[str]:
    """Poll until everything is ready, a Job has failed, or the timeout passes; return what is still not ready.
    While it waits, whenever what it waits for changes, a few lines on `out` say what that is now."""
    started = clock()
    shown: list[str] = []
    while True:
        waiting = _waiting(plan, cluster)
        lines = [line for line, _ in waiting]
        if not waiting or clock() >= started + timeout or any(final for _, final in waiting):
            return lines
        if out is not None and lines != shown:
            print(f"[{clock() - started:.0f}s] waiting for {len(lines)}:", *lines, sep="\n  ", file=out, flush=True)
            shown = lines
        sleep(interval)
