"""The cluster, through the kubernetes client: server-side apply and status reads."""

from __future__ import annotations

import json
from typing import Any

from tdses.k8s.errors import KubernetesError

FIELD_MANAGER = "tdses"


class Cluster:
    """Wraps a kubernetes.dynamic.DynamicClient (or a stand-in with the same methods, in tests)."""

    def __init__(self, dynamic: Any):
        self.dynamic = dynamic

    @classmethod
    def connect(cls, context: str | None = None, kubeconfig: str | None = None) -> "Cluster":
        """The cluster of the kubeconfig (or the pod's service account when run inside one)."""
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException
        from kubernetes.dynamic import DynamicClient

        try:
            api = config.new_client_from_config(config_file=kubeconfig, context=context)
        except (ConfigException, FileNotFoundError, TypeError):
            if kubeconfig:
                raise KubernetesError(f"cannot use kubeconfig {kubeconfig}") from None
            try:
                config.load_incluster_config()
            except ConfigException as exc:
                raise KubernetesError(f"no cluster to talk to: no usable kubeconfig and not in a pod ({exc})") from None
            api = client.ApiClient()
        return cls(DynamicClient(api))

    def _resource(self, obj: dict):
        return self.dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])

    def apply(self, obj: dict, dry_run: bool = False) -> list[str]:
        """Server-side apply (with dry_run, only validated, admitted and defaulted); return the API server's
        warnings. A refusal is a KubernetesError with the API server's whole explanation."""
        meta = obj["metadata"]
        options = {"dry_run": "All"} if dry_run else {}
        try:
            response = self.dynamic.server_side_apply(self._resource(obj), body=obj, name=meta["name"],
                                                      namespace=meta.get("namespace"), field_manager=FIELD_MANAGER,
                                                      force_conflicts=True, serialize=False, **options)
        except Exception as exc:  # the client raises ApiException, connection errors, …: name the object
            raise KubernetesError(f"applying {obj['kind']} {meta.get('namespace', '')}/{meta['name']} failed: "
                                  f"{refusal(exc)}") from None
        return warnings(getattr(response, "headers", None))

    def read(self, obj: dict) -> dict | None:
        """The object as the cluster has it now, or None."""
        meta = obj["metadata"]
        try:
            found = self.dynamic.get(self._resource(obj), name=meta["name"], namespace=meta.get("namespace"))
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise KubernetesError(f"reading {obj['kind']} {meta['name']} failed: {refusal(exc)}") from None
        return found.to_dict() if hasattr(found, "to_dict") else found

    def list(self, api_version: str, kind: str, namespace: str, selector: dict[str, str]) -> list[dict]:
        """The objects of one kind in a namespace that carry every label of selector."""
        labels = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        try:
            found = self.dynamic.get(self.dynamic.resources.get(api_version=api_version, kind=kind),
                                     namespace=namespace, label_selector=labels)
        except Exception as exc:
            raise KubernetesError(f"listing the {kind}s of {namespace} failed: {refusal(exc)}",
                                  status=getattr(exc, "status", None)) from None
        listed = found.to_dict() if hasattr(found, "to_dict") else found
        return listed.get("items") or []

    def delete(self, obj: dict, dry_run: bool = False) -> None:
        """Delete an object (with dry_run, only checked); what it owns (a Deployment's ReplicaSets and their
        pods) goes with it."""
        meta = obj["metadata"]
        options = {"dry_run": "All"} if dry_run else {}
        try:
            self.dynamic.delete(self._resource(obj), name=meta["name"], namespace=meta.get("namespace"),
                                body={"propagationPolicy": "Background"}, **options)
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                return  # gone already
            raise KubernetesError(f"deleting {obj['kind']} {meta.get('namespace', '')}/{meta['name']} failed: "
                                  f"{refusal(exc)}", status=getattr(exc, "status", None)) from None

    def pods(self, namespace: str, selector: dict[str, str]) -> list[dict]:
        """The pods of a workload (by its selector's labels)."""
        resource = self.dynamic.resources.get(api_version="v1", kind="Pod")
        labels = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        try:
            found = self.dynamic.get(resource, namespace=namespace, label_selector=labels)
        except Exception as exc:
            raise KubernetesError(f"listing the pods of {namespace} ({labels}) failed: {refusal(exc)}") from None
        listed = found.to_dict() if hasattr(found, "to_dict") else found
        return listed.get("items") or []


def refusal(exc: Exception) -> str:
    """The API server's explanation of an error: its Status message and every cause, else the error itself."""
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    try:
        status = json.loads(body) if body else None
    except ValueError:
        status = None
    if not isinstance(status, dict) or not status.get("message"):
        reason = getattr(exc, "reason", None)
        return f"{getattr(exc, 'status', '')} {reason}".strip() if reason else str(exc)
    text = f"{status.get('code', getattr(exc, 'status', ''))} {status.get('reason', '')}: {status['message']}"
    causes = (status.get("details") or {}).get("causes") or []
    # The message already lists the causes of a validation failure; others (conflicts) only in details.
    extra = [c.get("message", "") for c in causes if c.get("message") and c["message"] not in status["message"]]
    return "; ".join([text, *extra])


def warnings(headers) -> list[str]:
    """The texts of the API server's `Warning: 299 - "…"` response headers."""
    if headers is None:
        return []
    values = headers.getlist("Warning") if hasattr(headers, "getlist") else [headers.get("Warning")]
    found = []
    for value in values:
        if value:
            text = value.split(" ", 2)[-1].strip()
            if text.startswith('"') and text.endswith('"'):
                text = text[1:-1].replace('\\"', '"')
            found.append(text)
    return found
