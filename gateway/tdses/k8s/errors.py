"""Errors of the Kubernetes tooling."""

from tdses.fabric.errors import NetworkError


class KubernetesError(NetworkError):
    """A problem the operator can act on (a missing overlay, a malformed manifest, an object that is not ready)."""
