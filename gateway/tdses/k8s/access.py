"""What an organization's operator needs to deploy its namespace, and no more: RBAC for a service account.

A cluster administrator applies these objects once per namespace (`tdses k8s access TARGET --variant V`):
the Namespace itself (its PodSecurity labels are the administrator's to set), a ServiceAccount in it, a
Role allowing exactly the kinds the namespace's manifests contain (get, create, patch: server-side apply; list,
delete: pruning what a deploy before applied and the manifests no longer have), list and delete on the other
kinds a deploy may have left (the other ordering variant's), reading pods (to say why something is not ready),
and read access to that one Namespace object.
Nothing cluster-wide can be changed with it, and the namespace's labels neither.
"""

from __future__ import annotations

from tdses.k8s.deploy import Plan

ACCOUNT = "tdses-deployer"
DEPLOY_VERBS = ["get", "list", "create", "patch", "delete"]
PRUNE_VERBS = ["list", "delete"]  # on the kinds of RESOURCES the namespace's manifests do not have (any more)
# Kind -> (API group, resource) of every kind that the overlays contain inside a namespace.
RESOURCES = {
    "ConfigMap": ("", "configmaps"),
    "Secret": ("", "secrets"),
    "Service": ("", "services"),
    "PersistentVolumeClaim": ("", "persistentvolumeclaims"),
    "NetworkPolicy": ("networking.k8s.io", "networkpolicies"),
    "PodDisruptionBudget": ("policy", "poddisruptionbudgets"),
    "StatefulSet": ("apps", "statefulsets"),
    "Deployment": ("apps", "deployments"),
    "Job": ("batch", "jobs"),
}


def rules(plan: Plan) -> list[dict]:
    """The Role's rules: apply and prune each kind of the plan, prune the other kinds a deploy may have left
    (those of the other ordering variant), read pods; grouped by API group."""
    by_group: dict[str, list[str]] = {}
    for kind in sorted({o["kind"] for o in plan.objects if o["kind"] != "Namespace"}):
        if kind not in RESOURCES:
            raise ValueError(f"no RBAC resource known for kind {kind}: add it to tdses.k8s.access.RESOURCES")
        group, resource = RESOURCES[kind]
        by_group.setdefault(group, []).append(resource)
    found = [{"apiGroups": [g], "resources": sorted(r), "verbs": DEPLOY_VERBS} for g, r in sorted(by_group.items())]
    others: dict[str, list[str]] = {}
    for group, resource in RESOURCES.values():
        if resource not in by_group.get(group, ()):
            others.setdefault(group, []).append(resource)
    found += [{"apiGroups": [g], "resources": sorted(r), "verbs": PRUNE_VERBS} for g, r in sorted(others.items())]
    return found + [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]


def objects(plan: Plan, account: str = ACCOUNT) -> list[dict]:
    """The objects a cluster administrator applies so that `account` can deploy the plan's namespace."""
    ns = plan.namespace
    namespace = next(o for o in plan.objects if o["kind"] == "Namespace")
    cluster_name = f"{account}-{ns}"
    subject = [{"kind": "ServiceAccount", "name": account, "namespace": ns}]
    return [
        namespace,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account, "namespace": ns}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": account, "namespace": ns}, "rules": rules(plan)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": account, "namespace": ns}, "subjects": subject,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": cluster_name},
         "rules": [{"apiGroups": [""], "resources": ["namespaces"], "resourceNames": [ns], "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": cluster_name}, "subjects": subject,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_name}},
    ]
