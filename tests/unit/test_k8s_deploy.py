"""The deploy command: its dry-run plan, its errors, and apply → wait with a stand-in for the cluster."""

from __future__ import annotations

import argparse
import copy
import io
import json
from unittest import mock

import pytest

from tdses.fabric.errors import NetworkError
from tdses.k8s import cli, deploy, prune, validate
from tdses.k8s.cluster import Cluster
from tdses.k8s.errors import KubernetesError
from test_k8s_support import fake_state, kube_topology, named, rendered  # noqa: F401


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tdses")
    cli.add_parsers(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["k8s", *argv])


@pytest.fixture
def state_dir(tmp_path):
    fake_state(tmp_path / "state", kube_topology())
    return tmp_path / "state"


def test_dry_run_prints_the_plan_and_touches_no_cluster(state_dir, tmp_path, capsys):
    args = parse("deploy", "org2", "--variant", "kafka", "--dry-run", "--state-dir", str(state_dir),
                 "--out", str(tmp_path / "out"))
    with mock.patch.object(Cluster, "connect", side_effect=AssertionError("dry-run must not connect")):
        assert cli.run(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("deploy org2 into namespace tdses-org2")
    assert lines[1] == "  apply Namespace tdses-org2"
    assert "  apply StatefulSet tdses-org2/peer1" in lines
    secret = next(i for i, line in enumerate(lines) if "apply Secret tdses-org2/peer0-crypto-" in line)
    assert secret < lines.index("  apply StatefulSet tdses-org2/peer0")  # what a pod mounts exists first
    assert any("join-channel.sh" in line for line in lines[lines.index("then, to bootstrap:"):])


def test_dry_run_of_the_raft_orderers_plans_the_join_job_last(state_dir, tmp_path, capsys):
    args = parse("deploy", "orderer", "--variant", "raft", "--dry-run", "--state-dir", str(state_dir),
                 "--out", str(tmp_path / "out"))
    assert cli.run(args) == 0
    applies = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  apply ")]
    assert applies[-1] == "  apply Job tdses-orderer/join-channel"


def test_only_the_first_organization_creates_the_kafka_channel():
    topology = kube_topology()
    assert any("--create" in step for step in deploy.bootstrap_steps(topology, "org1", "kafka"))
    assert not any("--create" in step for step in deploy.bootstrap_steps(topology, "org2", "kafka"))
    assert not any("--create" in step for step in deploy.bootstrap_steps(topology, "org1", "raft"))


def test_deploying_an_unknown_organization_is_a_clear_error(state_dir, tmp_path):
    args = parse("deploy", "org4", "--variant", "raft", "--dry-run", "--state-dir", str(state_dir),
                 "--out", str(tmp_path / "out"))
    with pytest.raises(KubernetesError, match="nothing to deploy named org4"):
        cli.run(args)
    assert issubclass(KubernetesError, NetworkError)  # so `tdses` prints it as `error: …` and exits 1


def test_deploying_without_credentials_says_to_run_init(tmp_path):
    args = parse("deploy", "org1", "--variant", "raft", "--dry-run", "--state-dir", str(tmp_path / "none"))
    with pytest.raises(KubernetesError, match="tdses k8s init --state-dir"):
        cli.run(args)


# --- validation catches what an edited overlay could break --------------------------------------------

def test_validation_rejects_unknown_fields_a_pem_in_a_config_map_and_missing_probes(rendered):
    objects = copy.deepcopy(rendered.org_objects())
    peer = named(objects, "StatefulSet", "peer0")
    peer["spec"]["template"]["spec"]["containers"][0]["livenessProb"] = {}  # a typo
    del peer["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    gateway = named(objects, "Deployment", "gateway")
    gateway["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "1Gi"
    config = next(o for o in objects if o["kind"] == "ConfigMap")
    config["data"]["leak.pem"] = "-----BEGIN PRIVATE KEY-----\n..."
    with pytest.raises(KubernetesError) as caught:
        validate.validate(objects)
    message = str(caught.value)
    assert "StatefulSet tdses-org1/peer0: spec.template.spec.containers.0" in message and "livenessProb" in message
    assert "peer0 container peer: needs a liveness and a readiness probe" in message
    assert "gateway container gateway: needs cpu and memory requests equal to its limits" in message
    assert "key leak.pem holds a key or certificate" in message


# --- apply and wait, against a stand-in for the cluster -----------------------------------------------

class NotFound(Exception):
    status = 404


class FakeDynamic:
    """The methods of kubernetes.dynamic.DynamicClient that Cluster uses, over an in-memory store."""

    def __init__(self, status=None, live=None, namespace=None):
        self.resources = mock.Mock()
        self.resources.get.side_effect = lambda api_version, kind: kind
        self.applied: list[tuple[str, str]] = []
        self.deleted: list[tuple[str, str, str | None]] = []  # kind, name, dry run
        self.status = status or (lambda kind, name: {})
        self.live = live or {}  # kind -> the objects a list of namespace finds (what earlier deploys left)
        self.namespace = namespace

    def server_side_apply(self, resource, body, name, namespace, field_manager, force_conflicts, **options):
        assert field_manager == "tdses" and force_conflicts
        self.applied.append((resource, name))

    def delete(self, resource, name, namespace, body, dry_run=None):
        assert body == {"propagationPolicy": "Background"} and namespace == self.namespace
        self.deleted.append((resource, name, dry_run))

    def get(self, resource, name=None, namespace=None, label_selector=None):
        if name is None:
            assert label_selector == "app.kubernetes.io/part-of=tdses" and namespace == self.namespace
            return {"items": self.live.get(resource, [])}
        if resource == "Namespace":
            raise NotFound()  # absent: the deploy applies it
        return {"metadata": {"generation": 1}, "spec": {"replicas": 2 if resource == "Deployment" else 1},
                "status": self.status(resource, name)}


def _plan(rendered) -> deploy.Plan:
    objects = rendered.org_objects("org1")
    return deploy.Plan("org1", "raft", "org1", "tdses-org1", objects, ["join-channel.sh"])


def test_apply_applies_every_object_of_the_plan_server_side(rendered):
    dynamic = FakeDynamic()
    plan = _plan(rendered)
    deploy.apply(plan, Cluster(dynamic))
    assert [name for _, name in dynamic.applied] == [o["metadata"]["name"] for o in plan.objects]


def test_an_apply_failure_names_the_object(rendered):
    dynamic = FakeDynamic()
    dynamic.server_side_apply = mock.Mock(side_effect=RuntimeError("forbidden"))
    with pytest.raises(KubernetesError, match="applying Namespace /tdses-org1 failed: forbidden"):
        deploy.apply(_plan(rendered), Cluster(dynamic))


def test_waiting_reports_what_is_not_ready_when_the_timeout_passes(rendered):
    def status(kind, name):
        ready = 0 if name in ("peer1", "gateway-store") else (2 if kind == "Deployment" else 1)
        return {"observedGeneration": 1, "readyReplicas": ready, "updatedReplicas": ready}

    clock = iter(range(0, 1000, 5))
    waiting = deploy.wait_ready(_plan(rendered), Cluster(FakeDynamic(status)), timeout=20, sleep=lambda s: None,
                                clock=lambda: next(clock))
    assert waiting == ["StatefulSet tdses-org1/gateway-store: 0/1 ready", "StatefulSet tdses-org1/peer1: 0/1 ready"]


def test_a_deployment_whose_ready_pods_run_an_older_spec_is_not_ready(rendered):
    def status(kind, name):
        if kind == "PersistentVolumeClaim":
            return {"phase": "Bound"}
        replicas = 2 if kind == "Deployment" else 1
        updated = 1 if name == "gateway" else replicas  # the new pod of a rollout cannot start
        return {"observedGeneration": 1, "readyReplicas": replicas, "updatedReplicas": updated}

    assert deploy.not_ready(_plan(rendered), Cluster(FakeDynamic(status))) == [
        "Deployment tdses-org1/gateway: 1/2 updated to the latest spec"]


def test_waiting_ends_as_soon_as_everything_is_ready(rendered):
    def status(kind, name):
        if kind == "PersistentVolumeClaim":
            return {"phase": "Bound"}
        replicas = 2 if kind == "Deployment" else 1
        return {"observedGeneration": 1, "readyReplicas": replicas, "updatedReplicas": replicas}

    sleeps = []
    assert deploy.wait_ready(_plan(rendered), Cluster(FakeDynamic(status)), timeout=60, sleep=sleeps.append) == []
    assert sleeps == []


def test_deploy_without_dry_run_applies_waits_and_exits_3_when_something_is_not_ready(state_dir, tmp_path, capsys):
    dynamic = FakeDynamic(lambda kind, name: {"observedGeneration": 1})
    args = parse("deploy", "org3", "--variant", "raft", "--state-dir", str(state_dir), "--out", str(tmp_path / "out"),
                 "--timeout", "0")
    assert cli._deploy(args, cluster=Cluster(dynamic)) == 3
    assert ("StatefulSet", "peer0") in dynamic.applied
    assert "StatefulSet tdses-org3/ca: 0/1 ready" in capsys.readouterr().err.split("not ready after 0s:")[1]


def test_waiting_says_what_it_waits_for_whenever_that_changes(rendered):
    ready_after = {"peer1": 2}  # polls until peer1 is ready; everything else is ready at once
    polls = []

    def status(kind, name):
        if kind == "PersistentVolumeClaim":
            return {"phase": "Bound"}
        replicas = 2 if kind == "Deployment" else 1
        ready = 0 if len(polls) < ready_after.get(name, 0) else replicas
        return {"observedGeneration": 1, "readyReplicas": ready, "updatedReplicas": ready}

    out = io.StringIO()
    clock = iter(range(0, 1000, 5))
    waiting = deploy.wait_ready(_plan(rendered), Cluster(FakeDynamic(status)), timeout=60, sleep=polls.append,
                                clock=lambda: next(clock), out=out)
    assert waiting == [] and len(polls) == 2
    assert out.getvalue() == "[10s] waiting for 1:\n  StatefulSet tdses-org1/peer1: 0/1 ready\n"  # said once


def test_a_failed_job_ends_the_wait_at_once_and_says_what_to_do(rendered):
    plan = deploy.Plan("orderer", "raft", "orderer", "tdses-orderer",
                       [{"apiVersion": "batch/v1", "kind": "Job",
                         "metadata": {"name": "join-channel", "namespace": "tdses-orderer"}}])
    failed = {"failed": 7, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                           "message": "Job has reached the specified backoff limit"}]}
    sleeps, out = [], io.StringIO()
    clock = iter(range(0, 1000, 5))
    (waiting,) = deploy.wait_ready(plan, Cluster(FakeDynamic(lambda kind, name: failed)), timeout=600,
                                   sleep=sleeps.append, clock=lambda: next(clock), out=out)
    assert sleeps == [] and out.getvalue() == ""  # what it returns is said once, by the caller
    assert waiting.startswith("Job tdses-orderer/join-channel: failed (Job has reached the specified backoff limit)")
    assert "delete it and deploy again" in waiting


def test_a_changed_job_the_api_server_refuses_is_named_with_what_to_do(rendered):
    class Immutable(Exception):
        status = 422
        body = json.dumps({"code": 422, "reason": "Invalid", "message": 'Job.batch "join-channel" is invalid: '
                           'spec.template: Invalid value: ...: field is immutable'})

    dynamic = FakeDynamic()
    dynamic.server_side_apply = mock.Mock(side_effect=Immutable())
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "join-channel", "namespace": "tdses-orderer"}}
    plan = deploy.Plan("orderer", "raft", "orderer", "tdses-orderer", [job])
    with pytest.raises(KubernetesError, match="field is immutable. A Job cannot change.*"
                                              "kubectl -n tdses-orderer delete job join-channel, then deploy again"):
        deploy.apply(plan, Cluster(dynamic))


def _live(name: str, manager: str = "tdses", **spec) -> dict:
    return {"metadata": {"name": name, "managedFields": [{"manager": manager, "operation": "Apply"}]}, "spec": spec}


def _ready(kind, name):
    if kind == "PersistentVolumeClaim":
        return {"phase": "Bound"}
    replicas = 2 if kind == "Deployment" else 1
    return {"observedGeneration": 1, "readyReplicas": replicas, "updatedReplicas": replicas}


def test_a_deploy_deletes_what_an_earlier_one_applied_and_the_plan_no_longer_has(rendered):
    plan = _plan(rendered)
    cli_scripts = next(o["metadata"]["name"] for o in plan.objects if o["metadata"]["name"].startswith("cli-scripts"))
    ledger = [{"metadata": {"name": "ledger"}}]
    dynamic = FakeDynamic(namespace="tdses-org1", live={
        "ConfigMap": [_live(cli_scripts), _live("cli-scripts-0ld0ld0ld0"), _live("theirs", manager="kubectl")],
        "StatefulSet": [_live("peer0", replicas=1, volumeClaimTemplates=ledger),
                        _live("peer2", replicas=2, volumeClaimTemplates=ledger)],
    })
    out = io.StringIO()
    pruned = prune.prune(plan, Cluster(dynamic), out=out)
    assert dynamic.deleted == [("ConfigMap", "cli-scripts-0ld0ld0ld0", None), ("StatefulSet", "peer2", None)]
    assert pruned.kept == ["PersistentVolumeClaim tdses-org1/ledger-peer2-0",
                           "PersistentVolumeClaim tdses-org1/ledger-peer2-1"] and pruned.refused == []
    assert "deleted StatefulSet tdses-org1/peer2: no longer in the plan" in out.getvalue()


def test_a_server_dry_run_has_each_delete_checked_and_deletes_nothing(rendered):
    dynamic = FakeDynamic(namespace="tdses-org1", live={"Deployment": [_live("gateway-old")]})
    out = io.StringIO()
    pruned = prune.prune(_plan(rendered), Cluster(dynamic), out=out, dry_run=True)
    assert pruned.deleted == ["Deployment tdses-org1/gateway-old"]
    assert dynamic.deleted == [("Deployment", "gateway-old", "All")]
    assert out.getvalue() == "would delete Deployment tdses-org1/gateway-old: no longer in the plan\n"


class Refused(Exception):
    def __init__(self, status: int) -> None:
        self.status = status
        self.body = json.dumps({"code": status, "reason": "Forbidden" if status == 403 else "NotFound",
                                "message": "configmaps is forbidden" if status == 403 else "not found"})


def test_a_delete_refused_is_reported_one_already_gone_is_not_and_any_other_failure_stops(rendered):
    dynamic = FakeDynamic(namespace="tdses-org1", live={"ConfigMap": [_live("a"), _live("b")]})
    answers = iter([Refused(403), Refused(404)])

    def delete(resource, name, namespace, body, dry_run=None):
        raise next(answers)

    dynamic.delete = delete
    pruned = prune.prune(_plan(rendered), Cluster(dynamic))
    assert pruned.refused == ["deleting ConfigMap tdses-org1/a failed: 403 Forbidden: configmaps is forbidden"]
    assert pruned.deleted == ["ConfigMap tdses-org1/b"]  # gone already
    dynamic.delete = mock.Mock(side_effect=Refused(500))
    with pytest.raises(KubernetesError, match="deleting ConfigMap tdses-org1/a failed: 500"):
        prune.prune(_plan(rendered), Cluster(dynamic))


def test_a_deploy_prunes_only_once_it_is_ready(state_dir, tmp_path, capsys):
    args = parse("deploy", "org3", "--variant", "raft", "--state-dir", str(state_dir), "--out", str(tmp_path / "out"),
                 "--timeout", "0")
    waiting = FakeDynamic(lambda kind, name: {"observedGeneration": 1}, namespace="tdses-org3",
                          live={"ConfigMap": [_live("old")]})
    assert cli._deploy(args, cluster=Cluster(waiting)) == 3
    assert waiting.deleted == [] and "nothing pruned" in capsys.readouterr().err
    ready = FakeDynamic(_ready, namespace="tdses-org3", live={"ConfigMap": [_live("old")]})
    assert cli._deploy(args, cluster=Cluster(ready)) == 0
    assert ready.deleted == [("ConfigMap", "old", None)]
    assert "deleted ConfigMap tdses-org3/old: no longer in the plan" in capsys.readouterr().err


def test_a_deployer_whose_role_predates_pruning_is_told_to_have_it_granted(state_dir, tmp_path, capsys):
    dynamic = FakeDynamic(_ready, namespace="tdses-org3")
    listing = dynamic.get

    def get(resource, name=None, namespace=None, label_selector=None):
        if name is None and resource in ("ConfigMap", "Job"):  # Job: a kind of the other variant only
            raise Refused(403)
        return listing(resource, name, namespace, label_selector)

    dynamic.get = get
    args = parse("deploy", "org3", "--variant", "raft", "--state-dir", str(state_dir), "--out", str(tmp_path / "out"),
                 "--timeout", "0")
    assert cli._deploy(args, cluster=Cluster(dynamic)) == 0
    err = capsys.readouterr().err
    assert "not pruned: the deployer may not list or delete these" in err and "`tdses k8s access org3`" in err
    assert "listing the ConfigMaps of tdses-org3 failed: 403 Forbidden" in err
    assert "listing the Jobs of tdses-org3 failed: 403 Forbidden" in err
