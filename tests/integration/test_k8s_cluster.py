"""The rendered overlays against a real control plane (tdses.k8s.controlplane: Kubernetes' own API server,
controllers and scheduler, kwok's fake nodes), as an operator deploys them.

Proves what the API server does (validation, defaulting, admission with PodSecurity `restricted`, RBAC,
server-side apply) and what the controllers and the scheduler do; not what a kubelet, images, a CNI or a
storage driver would do. The tests of the raft cluster run in the README's order: orderer, org1, org2, org3.
"""

from __future__ import annotations

import argparse
import copy
import re

import pytest
import yaml

from tdses.fabric.state import State
from tdses.k8s import access, cli, controlplane, deploy, render, validate
from tdses.k8s.cluster import Cluster
from tdses.k8s.controlplane import LocalCluster
from tdses.k8s.errors import KubernetesError
from tests.unit.test_k8s_support import fake_state, kube_topology

pytestmark = pytest.mark.cluster


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tdses")
    cli.add_parsers(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["k8s", *argv])


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("k8s-state") / "state"
    fake_state(path, kube_topology())
    return path


def start(directory) -> LocalCluster:
    controlplane.install()  # built by `make tools`; a no-op then
    local = LocalCluster(directory, nodes=1)
    local.up(out=None)
    return local


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory):
    local = start(tmp_path_factory.mktemp("cluster") / "raft")
    yield local
    local.down(out=None)


def plan_of(state_dir, tmp_path, target: str, variant: str) -> deploy.Plan:
    return deploy.make_plan(kube_topology(), State(state_dir), target, variant, tmp_path / "rendered")


def deploy_cli(state_dir, tmp_path, kubeconfig, target: str, *extra: str) -> int:
    return cli.run(parse("deploy", target, "--variant", "raft", "--state-dir", str(state_dir), "--out",
                         str(tmp_path / "rendered"), "--kubeconfig", str(kubeconfig), *extra))


def dry_run_cli(state_dir, tmp_path, kubeconfig, target: str, capsys) -> None:
    """`deploy --server-dry-run`: every object accepted, no warning."""
    assert deploy_cli(state_dir, tmp_path, kubeconfig, target, "--server-dry-run") == 0
    captured = capsys.readouterr()
    assert "the API server accepts all" in captured.out and "warned" not in captured.err, captured.err


def create_namespace(local: LocalCluster, state_dir, tmp_path, target: str) -> None:
    """What a cluster administrator does first: the namespace, with the manifests' labels."""
    plan = plan_of(state_dir, tmp_path, target, "raft")
    Cluster.connect(kubeconfig=str(local.kubeconfig)).apply(next(o for o in plan.objects if o["kind"] == "Namespace"))


def test_every_kafka_overlay_is_accepted_in_a_dry_run_then_for_real_without_warnings(state_dir, tmp_path_factory):
    local = start(tmp_path_factory.mktemp("cluster") / "kafka")
    try:
        cluster = Cluster.connect(kubeconfig=str(local.kubeconfig))
        for target in render.targets(kube_topology()):
            plan = plan_of(state_dir, tmp_path_factory.mktemp(target), target, "kafka")
            namespace = next(o for o in plan.objects if o["kind"] == "Namespace")
            assert cluster.apply(namespace, dry_run=True) == []
            assert cluster.read(namespace) is None  # a dry run persists nothing
            assert cluster.apply(namespace) == []
            assert deploy.apply(plan, cluster, dry_run=True) == [], target
            assert deploy.apply(plan, cluster) == [], target
            assert sum(1 for o in plan.objects if cluster.read(o) is not None) == len(plan.objects)
            assert deploy.wait_ready(plan, cluster, timeout=120) == [], target
    finally:
        local.down(out=None)


def test_the_orderers_and_org1_deploy_ready_after_a_clean_server_side_dry_run(local_cluster, state_dir, tmp_path,
                                                                               capsys):
    for target in ("orderer", "org1"):
        create_namespace(local_cluster, state_dir, tmp_path, target)
        dry_run_cli(state_dir, tmp_path, local_cluster.kubeconfig, target, capsys)
        assert deploy_cli(state_dir, tmp_path, local_cluster.kubeconfig, target, "--timeout", "120") == 0
        captured = capsys.readouterr()
        assert f"is ready in namespace tdses-{target}" in captured.out, captured.err
        assert "warned" not in captured.err
    cluster = Cluster.connect(kubeconfig=str(local_cluster.kubeconfig))
    for namespace in ("tdses-orderer", "tdses-org1"):
        labels = cluster.read({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})[
            "metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    job = cluster.read({"apiVersion": "batch/v1", "kind": "Job",
                        "metadata": {"name": "join-channel", "namespace": "tdses-orderer"}})
    assert job["status"]["succeeded"] == 1


def test_a_cordoned_node_makes_deploy_name_exactly_what_is_not_ready_and_why(local_cluster, state_dir, tmp_path,
                                                                             capsys):
    from kubernetes import client
    create_namespace(local_cluster, state_dir, tmp_path, "org2")
    dry_run_cli(state_dir, tmp_path, local_cluster.kubeconfig, "org2", capsys)
    with local_cluster.client() as api:
        core = client.CoreV1Api(api)
        (node,) = core.list_node().items
        core.patch_node(node.metadata.name, {"spec": {"unschedulable": True}})
        try:
            assert deploy_cli(state_dir, tmp_path, local_cluster.kubeconfig, "org2", "--timeout", "15") == 3
        finally:
            core.patch_node(node.metadata.name, {"spec": {"unschedulable": False}})
    err = capsys.readouterr().err
    assert "waiting for " in err.split("not ready after")[0]  # it said what it waits for while it waited
    reported, after = re.split(r"not ready after \d+s:\n", err)[1].split("\nnothing pruned: ")
    reported = reported.splitlines()
    workloads = [o for o in plan_of(state_dir, tmp_path, "org2", "raft").objects
                 if o["kind"] in ("StatefulSet", "Deployment")]
    assert sorted(line.split(":")[0].strip() for line in reported) == sorted(validate.name(o) for o in workloads)
    for line in reported:
        assert " 0/" in line and "node(s) were unschedulable" in line, line
    assert after.startswith("what an earlier deploy left is deleted once this one is ready")

    assert deploy_cli(state_dir, tmp_path, local_cluster.kubeconfig, "org2", "--timeout", "120") == 0
    assert "is ready in namespace tdses-org2" in capsys.readouterr().out


def test_org3_deploys_with_a_namespaced_service_account_given_only_what_access_grants(local_cluster, state_dir,
                                                                                    tmp_path, capsys):
    from kubernetes import client
    assert cli.run(parse("access", "org3", "--variant", "raft", "--state-dir", str(state_dir), "--out",
                         str(tmp_path / "rendered"), "--apply", "--kubeconfig", str(local_cluster.kubeconfig))) == 0
    with local_cluster.client() as api:
        token = client.CoreV1Api(api).create_namespaced_service_account_token(
            access.ACCOUNT, "tdses-org3", {"spec": {"expirationSeconds": 3600}}).status.token
    kubeconfig = tmp_path / "deployer.kubeconfig"
    admin = yaml.safe_load(local_cluster.kubeconfig.read_text())
    admin["users"][0]["user"] = {"token": token}
    kubeconfig.write_text(yaml.safe_dump(admin))

    dry_run_cli(state_dir, tmp_path, kubeconfig, "org3", capsys)
    assert deploy_cli(state_dir, tmp_path, kubeconfig, "org3", "--timeout", "120") == 0
    assert "is ready in namespace tdses-org3" in capsys.readouterr().out

    # Deployed again, it deletes what it applied before and the plan no longer has, and only that.
    deployer = Cluster.connect(kubeconfig=str(kubeconfig))
    stale = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"join-channel.sh": "exit 1"}, "metadata": {
        "name": "cli-scripts-0ld0ld0ld0", "namespace": "tdses-org3", "labels": {"app.kubernetes.io/part-of": "tdses"}}}
    deployer.apply(stale)
    theirs = copy.deepcopy(stale)
    theirs["metadata"]["name"] = "an-operators-own"
    with local_cluster.client() as api:
        client.CoreV1Api(api).create_namespaced_config_map("tdses-org3", theirs)  # another field manager
    assert deploy_cli(state_dir, tmp_path, kubeconfig, "org3", "--timeout", "120") == 0
    captured = capsys.readouterr()
    assert "is ready in namespace tdses-org3" in captured.out
    assert "deleted ConfigMap tdses-org3/cli-scripts-0ld0ld0ld0: no longer in the plan" in captured.err
    assert "not pruned" not in captured.err and "an-operators-own" not in captured.err
    assert deployer.read(stale) is None and deployer.read(theirs) is not None

    with pytest.raises(KubernetesError, match='403 Forbidden: .*cannot get resource "namespaces"'):
        deploy_cli(state_dir, tmp_path, kubeconfig, "org1")
    elsewhere = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "planted", "namespace": "tdses-org1"},
                 "stringData": {"x": "y"}}
    with pytest.raises(KubernetesError, match='403 Forbidden: .*cannot patch resource "secrets".*"tdses-org1"'):
        deployer.apply(elsewhere)
    relabel = {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "tdses-org3", "labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}
    with pytest.raises(KubernetesError, match="403 Forbidden"):
        deployer.apply(relabel)


def test_the_api_server_refuses_a_bad_key_and_a_root_container_with_its_reason(local_cluster, state_dir, tmp_path):
    cluster = Cluster.connect(kubeconfig=str(local_cluster.kubeconfig))
    create_namespace(local_cluster, state_dir, tmp_path, "org1")
    bad_key = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bad-key", "namespace": "tdses-org1"},
               "stringData": {"msp.signcerts.Admin@org1-cert.pem": "x"}}
    assert validate.rule_errors([bad_key])
    with pytest.raises(KubernetesError, match="422 Invalid: .*a valid config key must consist of alphanumeric"):
        cluster.apply(bad_key, dry_run=True)

    gateway = copy.deepcopy(next(o for o in plan_of(state_dir, tmp_path, "org1", "raft").objects
                                 if o["kind"] == "Deployment" and o["metadata"]["name"] == "gateway"))
    pod_spec = gateway["spec"]["template"]["spec"]
    pod_spec["containers"][0]["securityContext"]["runAsUser"] = 0
    assert any("runs as root" in e for e in validate.rule_errors([gateway]))
    root_pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root", "namespace": "tdses-org1"},
                "spec": pod_spec}
    with pytest.raises(KubernetesError, match=r'403 Forbidden: .*violates PodSecurity "restricted:v1\.\d+": '
                                              r'runAsUser=0'):
        cluster.apply(root_pod, dry_run=True)
    warned = cluster.apply(gateway, dry_run=True)  # a workload's pods are refused later: the apply warns
    assert any('would violate PodSecurity "restricted' in w and "runAsUser=0" in w for w in warned)

    # Applied anyway, its pods never come: deploy says why, in the API server's words.
    gateway["metadata"]["name"] = "root-gateway"
    cluster.apply(gateway)
    plan = deploy.Plan("org1", "raft", "org1", "tdses-org1", [gateway])
    (waiting,) = deploy.wait_ready(plan, cluster, timeout=15)
    assert waiting.startswith("Deployment tdses-org1/root-gateway: 0/2 ready (")
    assert 'is forbidden: violates PodSecurity "restricted:v1.33": ' in waiting and "runAsUser=0" in waiting


def test_init_keeps_every_key_and_secret_for_its_owner_alone(tmp_path):
    import os
    import stat

    from tdses.k8s import credentials

    root = tmp_path / "state"
    args = parse("init", "--state-dir", str(root))
    previous = os.umask(0o022)  # a usual shell's: what init makes must not depend on it
    try:
        assert cli.run(args) == 0  # cryptogen and configtxgen as `make tools` built them
    finally:
        os.umask(previous)
    assert credentials.missing(cli._topology(args), State(root), "raft") == []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_dir():
            assert mode == 0o700, path
        elif path.is_file():
            assert mode & 0o077 == 0, f"{path}: {oct(mode)}"
