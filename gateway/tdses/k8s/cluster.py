"""The cluster, through the kubernetes client: server-side apply and status reads."""

from __future__ import annotations

from typing import Any

from tdses.k8s.errors import KubernetesError

FIELD_MANAGER = "tdses"


class Cluster:
    """Wraps a kubernetes.dynamic.DynamicClient (or a stand-in with the same methods, in tests)."""

    def __init__(self, dynamic: Any):
        self.dynamic = dynamic

    @classmethod
    def connect(cls, context: str | None = None) -> "Cluster":
        """The cluster of the kubeconfig (or the pod's service account when run inside one)."""
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException
        from kubernetes.dynamic import DynamicClient

        try:
            config.load_kube_config(context=context)
        except (ConfigException, FileNotFoundError, TypeError):
            try:
                config.load_incluster_config()
            except ConfigException as exc:
                raise KubernetesError(f"no cluster to talk to: no usable kubeconfig and not in a pod ({exc})") from None
        return cls(DynamicClient(client.ApiClient()))

    def _resource(self, obj: dict):
        return self.dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])

    def apply(self, obj: dict) -> None:
        meta = obj["metadata"]
        try:
            self.dynamic.server_side_apply(self._resource(obj), body=obj, name=meta["name"],
                                           namespace=meta.get("namespace"), field_manager=FIELD_MANAGER,
                                           force_conflicts=True)
        except Exception as exc:  # the client raises ApiException, connection errors, …: name the object
            raise KubernetesError(f"applying {obj['kind']} {meta.get('namespace', '')}/{meta['name']} failed: "
                                  f"{getattr(exc, 'reason', None) or exc}") from None

    def read(self, obj: dict) -> dict | None:
        """The object as the cluster has it now, or None."""
        meta = obj["metadata"]
        try:
            found = self.dynamic.get(self._resource(obj), name=meta["name"], namespace=meta.get("namespace"))
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise KubernetesError(f"reading {obj['kind']} {meta['name']} failed: {exc}") from None
        return found.to_dict() if hasattr(found, "to_dict") else found
