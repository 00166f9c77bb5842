"""Offline validation of rendered objects: the Kubernetes schema (strict) and the rules every workload keeps.

Strict schema validation rejects unknown fields, so a typo in a manifest fails here, not in the cluster.
The rules are those of the issue: probes on long-running containers, requests equal to limits, non-root
pods, and no key or certificate in a ConfigMap.
"""

from __future__ import annotations

import kubernetes_validate

from tdses.k8s.errors import KubernetesError

KUBERNETES_VERSION = "1.33"
WORKLOADS = ("Deployment", "StatefulSet", "Job")
PEM_MARKER = "-----BEGIN"


def name(obj: dict) -> str:
    meta = obj.get("metadata", {})
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')} {where}{meta.get('name')}"


def schema_errors(objects: list[dict]) -> list[str]:
    errors = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            errors.append(f"{name(obj)}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{name(obj)}: {exc.message}")
    return errors


def rule_errors(objects: list[dict]) -> list[str]:
    errors = []
    for obj in objects:
        if obj["kind"] == "ConfigMap":
            for key, value in (obj.get("data") or {}).items():
                if PEM_MARKER in value:
                    errors.append(f"{name(obj)}: key {key} holds a key or certificate; use a Secret")
            if obj.get("binaryData"):
                errors.append(f"{name(obj)}: binary data belongs in a Secret")
        if obj["kind"] in WORKLOADS:
            errors += _pod_errors(obj)
    return errors


def _pod_errors(obj: dict) -> list[str]:
    pod = obj["spec"]["template"]["spec"]
    errors = []
    if not pod.get("securityContext", {}).get("runAsNonRoot"):
        errors.append(f"{name(obj)}: the pod does not set runAsNonRoot")
    for container in pod["containers"] + pod.get("initContainers", []):
        where = f"{name(obj)} container {container['name']}"
        resources = container.get("resources", {})
        requests, limits = resources.get("requests", {}), resources.get("limits", {})
        if not requests or set(requests) != {"cpu", "memory"} or requests != limits:
            errors.append(f"{where}: needs cpu and memory requests equal to its limits")
        # A Job's container runs to completion: probes are for what keeps running.
        if obj["kind"] != "Job" and not (container.get("livenessProbe") and container.get("readinessProbe")):
            errors.append(f"{where}: needs a liveness and a readiness probe")
        security = container.get("securityContext", {})
        if security.get("allowPrivilegeEscalation", True) or security.get("privileged"):
            errors.append(f"{where}: must not allow privilege escalation")
    return errors


def validate(objects: list[dict]) -> None:
    """Raise a KubernetesError naming every problem, or return quietly."""
    errors = schema_errors(objects) + rule_errors(objects)
    if errors:
        raise KubernetesError(f"{len(errors)} problem(s) in the rendered manifests:\n  " + "\n  ".join(errors))
