"""Offline validation of rendered objects: the Kubernetes schema (strict) and the rules every workload keeps.

Strict schema validation rejects unknown fields, so a typo in a manifest fails here, not in the cluster.
The schema does not check what the API server validates in code, so the rules repeat what the manifests
could get wrong of it: key syntax of Secrets and ConfigMaps, and PodSecurity `restricted` (non-root,
no privilege escalation, all capabilities dropped, a seccomp profile). Then the project's own: probes on
long-running containers, requests equal to limits, no key or certificate in a ConfigMap, and every item
a pod mounts from a Secret present in it.
"""

from __future__ import annotations

import re

import kubernetes_validate

from tdses.k8s import controlplane
from tdses.k8s.errors import KubernetesError

# The release of the local control plane (k8s/controlplane/toolchain.yaml), e.g. 1.33.
KUBERNETES_VERSION = controlplane.kubernetes_minor()
# What the API server accepts as a key of a Secret's or ConfigMap's data (IsConfigMapKey).
VALID_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")
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


def key_errors(key: str) -> list[str]:
    """Why the API server would refuse key as a Secret or ConfigMap key (nothing when it is valid)."""
    if not VALID_KEY.match(key):
        return [f"key {key!r} is not a valid key: at most 253 letters, digits, '-', '_' or '.'"]
    if key.startswith(".."):
        return [f"key {key!r} is not a valid key: it must not start with '..'"]
    return []


def rule_errors(objects: list[dict]) -> list[str]:
    errors = []
    secrets = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Secret"}
    for obj in objects:
        if obj["kind"] in ("Secret", "ConfigMap"):
            for field in ("data", "stringData", "binaryData"):
                for key in obj.get(field) or {}:
                    errors += [f"{name(obj)}: {e}" for e in key_errors(key)]
        if obj["kind"] == "ConfigMap":
            for key, value in (obj.get("data") or {}).items():
                if PEM_MARKER in value:
                    errors.append(f"{name(obj)}: key {key} holds a key or certificate; use a Secret")
            if obj.get("binaryData"):
                errors.append(f"{name(obj)}: binary data belongs in a Secret")
        if obj["kind"] in WORKLOADS:
            errors += _pod_errors(obj) + _mount_errors(obj, secrets)
    return errors


def _pod_errors(obj: dict) -> list[str]:
    pod = obj["spec"]["template"]["spec"]
    pod_security = pod.get("securityContext", {})
    errors = []
    if not pod_security.get("runAsNonRoot"):
        errors.append(f"{name(obj)}: the pod does not set runAsNonRoot")
    if pod_security.get("runAsUser") == 0:
        errors.append(f"{name(obj)}: the pod runs as root (runAsUser 0)")
    for container in pod["containers"] + pod.get("initContainers", []):
        where = f"{name(obj)} container {container['name']}"
        security = container.get("securityContext", {})
        if security.get("runAsUser") == 0 or security.get("runAsNonRoot") is False:
            errors.append(f"{where}: runs as root")
        if "ALL" not in ((security.get("capabilities") or {}).get("drop") or []):
            errors.append(f"{where}: must drop all capabilities")
        seccomp = (security.get("seccompProfile") or pod_security.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            errors.append(f"{where}: needs seccompProfile RuntimeDefault")
        resources = container.get("resources", {})
        requests, limits = resources.get("requests", {}), resources.get("limits", {})
        if not requests or set(requests) != {"cpu", "memory"} or requests != limits:
            errors.append(f"{where}: needs cpu and memory requests equal to its limits")
        # A Job's container runs to completion: probes are for what keeps running.
        if obj["kind"] != "Job" and not (container.get("livenessProbe") and container.get("readinessProbe")):
            errors.append(f"{where}: needs a liveness and a readiness probe")
        if security.get("allowPrivilegeEscalation", True) or security.get("privileged"):
            errors.append(f"{where}: must not allow privilege escalation")
    return errors


def _mount_errors(obj: dict, secrets: dict[str, dict]) -> list[str]:
    """Every item a pod mounts from a Secret of the same manifests is a key of it: else the pod never starts."""
    errors = []
    for volume in obj["spec"]["template"]["spec"].get("volumes", []):
        source = volume.get("secret") or {}
        secret = secrets.get(source.get("secretName"))
        if secret is None or source.get("optional"):
            continue
        keys = set(secret.get("data") or {}) | set(secret.get("stringData") or {})
        for item in source.get("items") or []:
            if item["key"] not in keys:
                errors.append(f"{name(obj)} volume {volume['name']}: Secret {source['secretName']} has no key "
                              f"{item['key']}")
    return errors


def validate(objects: list[dict]) -> None:
    """Raise a KubernetesError naming every problem, or return quietly."""
    errors = schema_errors(objects) + rule_errors(objects)
    if errors:
        raise KubernetesError(f"{len(errors)} problem(s) in the rendered manifests:\n  " + "\n  ".join(errors))
