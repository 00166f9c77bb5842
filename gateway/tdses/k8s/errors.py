"""Errors of the Kubernetes tooling."""

from tdses.fabric.errors import NetworkError


class KubernetesError(NetworkError):
    """A problem the operator can act on (a missing overlay, a malformed manifest, an object that is not ready).
    status is the API server's HTTP status when it answered one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
