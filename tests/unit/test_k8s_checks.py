"""What the API server refuses, caught offline: Secret keys, root containers, mounts of missing keys; and
what deploy says when the API server refuses or warns anyway."""

from __future__ import annotations

import base64
import copy
import json

import pytest
import yaml

from tdses.k8s import access, cluster, component, controlplane, deploy, validate
from tdses.k8s.errors import KubernetesError
from tdses.paths import REPO_ROOT
from test_k8s_support import named, of_kind, pod_spec, rendered  # noqa: F401


def test_every_key_of_every_rendered_secret_and_config_map_is_one_the_api_server_accepts(rendered):
    for (variant, overlay) in rendered.overlays:
        for obj in rendered.objects(variant, overlay):
            if obj["kind"] in ("Secret", "ConfigMap"):
                for key in obj.get("data") or {}:
                    assert validate.key_errors(key) == [], f"{validate.name(obj)}: {key}"


def test_the_admin_certificate_whose_file_name_has_an_at_sign_is_mounted_back_at_its_path(rendered):
    objects = rendered.org_objects("org1")
    secret = next(o for o in of_kind(objects, "Secret") if o["metadata"]["name"].startswith("admin-msp-"))
    volume = next(v for v in pod_spec(named(objects, "Deployment", "gateway"))["volumes"] if v["name"] == "admin")
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    items = {i["path"]: i["key"] for i in volume["secret"]["items"]}
    key = items["msp/signcerts/Admin@org1.tdses.test-cert.pem"]
    assert "@" not in key and key in secret["data"]
    assert base64.b64decode(secret["data"][key]).startswith(b"-----BEGIN CERTIFICATE-----")


def test_secret_keys_of_different_paths_never_collide():
    paths = ["msp/signcerts/Admin@org1-cert.pem", "msp/signcerts/Admin_org1-cert.pem",
             "msp/signcerts/Admin#org1-cert.pem", "msp/keystore/priv_sk", "tls/" + "x" * 300]
    keys = [component.secret_key(p) for p in paths]
    assert len(set(keys)) == len(paths)
    assert all(validate.key_errors(k) == [] for k in keys)
    assert component.secret_key("msp/keystore/priv_sk") == "msp.keystore.priv_sk"  # valid paths keep their name


def test_offline_checks_refuse_a_bad_key_a_root_container_and_a_mount_of_a_missing_key(rendered):
    objects = copy.deepcopy(rendered.org_objects("org1"))
    secret = next(o for o in of_kind(objects, "Secret") if o["metadata"]["name"].startswith("admin-msp-"))
    secret["data"]["msp.signcerts.Admin@org1-cert.pem"] = secret["data"].popitem()[1]
    gateway = pod_spec(named(objects, "Deployment", "gateway"))
    gateway["containers"][0]["securityContext"]["runAsUser"] = 0
    cli = pod_spec(named(objects, "Deployment", "cli"))
    cli["containers"][0]["securityContext"]["capabilities"] = {"drop": ["NET_RAW"]}
    with pytest.raises(KubernetesError) as caught:
        validate.validate(objects)
    message = str(caught.value)
    assert "key 'msp.signcerts.Admin@org1-cert.pem' is not a valid key" in message
    assert "Deployment tdses-org1/gateway container gateway: runs as root" in message
    assert "Deployment tdses-org1/cli container cli: must drop all capabilities" in message
    assert "volume admin: Secret admin-msp-" in message and "has no key" in message


def test_validation_and_pod_security_pins_name_the_control_planes_kubernetes_release():
    assert controlplane.kubernetes_release().startswith(f"v{validate.KUBERNETES_VERSION}.")
    for path in (REPO_ROOT / "k8s" / "base").rglob("namespace.yaml"):
        labels = yaml.safe_load(path.read_text())["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce-version"] == f"v{validate.KUBERNETES_VERSION}", path


# --- what deploy says when the API server refuses or warns ------------------------------------------

class Refused(Exception):
    def __init__(self, status: dict):
        self.status, self.reason, self.body = status["code"], status["reason"], json.dumps(status).encode()


def test_a_refusal_carries_the_api_servers_whole_explanation():
    message = ('Secret "admin-msp-abc" is invalid: data[msp.signcerts.Admin@org1-cert.pem]: Invalid value: '
               "\"msp.signcerts.Admin@org1-cert.pem\": a valid config key must consist of alphanumeric characters, "
               "'-', '_' or '.'")
    exc = Refused({"kind": "Status", "code": 422, "reason": "Invalid", "message": message,
                   "details": {"causes": [{"field": "data[msp.signcerts.Admin@org1-cert.pem]"}]}})
    assert cluster.refusal(exc) == f"422 Invalid: {message}"


def test_an_error_without_a_status_body_is_shown_as_it_is():
    assert cluster.refusal(ConnectionRefusedError("connection refused")) == "connection refused"


def test_warning_headers_become_their_texts():
    class Headers(dict):
        def getlist(self, name):
            return ['299 - "would violate PodSecurity \\"restricted:v1.33\\": runAsUser=0"', '299 - "deprecated"']

    assert cluster.warnings(Headers()) == ['would violate PodSecurity "restricted:v1.33": runAsUser=0', "deprecated"]


# --- the RBAC an operator's service account is given -----------------------------------------------

def test_the_deployers_role_allows_applying_exactly_the_kinds_of_its_namespace_and_pruning_the_others(rendered):
    objects = rendered.org_objects("org1")
    plan = deploy.Plan("org1", "raft", "org1", "tdses-org1", objects)
    granted = access.objects(plan)
    role = next(o for o in granted if o["kind"] == "Role")
    resources = {(g, r) for rule in role["rules"] if rule["verbs"] == access.DEPLOY_VERBS
                 for g in rule["apiGroups"] for r in rule["resources"]}
    assert resources == {access.RESOURCES[o["kind"]] for o in objects if o["kind"] != "Namespace"}
    prunable = {(g, r) for rule in role["rules"] if rule["verbs"] == access.PRUNE_VERBS
                for g in rule["apiGroups"] for r in rule["resources"]}
    assert prunable == set(access.RESOURCES.values()) - resources and ("batch", "jobs") in prunable
    cluster_role = next(o for o in granted if o["kind"] == "ClusterRole")
    assert cluster_role["rules"] == [{"apiGroups": [""], "resources": ["namespaces"], "resourceNames": ["tdses-org1"],
                                      "verbs": ["get"]}]
    assert not any(o["kind"] == "ClusterRoleBinding" and o["roleRef"]["name"] == "cluster-admin" for o in granted)


# --- the local control plane's command, without starting it ------------------------------------------

def test_cluster_status_says_nothing_runs_in_a_directory_that_never_held_a_cluster(tmp_path, capsys):
    from test_k8s_deploy import parse
    from tdses.k8s import cli

    assert cli.run(parse("cluster", "status", "--dir", str(tmp_path / "none"))) == 3
    assert capsys.readouterr().out.strip() == "running: nothing"


def test_a_recorded_pid_of_a_process_outside_the_clusters_directory_is_not_taken_for_a_component(tmp_path):
    import os
    local = controlplane.LocalCluster(tmp_path)
    (tmp_path / "pids.json").write_text(json.dumps({"etcd": os.getpid()}))  # alive, but runs elsewhere
    assert local.running() == {}
    local.down(out=None)  # stops nothing: this test's own process is still here to assert
    assert not (tmp_path / "pids.json").exists()


def test_the_operators_guide_lists_every_permission_the_deployer_is_given():
    guide = (REPO_ROOT / "k8s" / "README.md").read_text()
    section = guide.split("## Who may deploy")[1].split("\n## ")[0]
    for group, resource in access.RESOURCES.values():
        assert f"`{resource}`" in section and (not group or f"({group})" in section), resource
    assert all(f"`{verb}`" in section for verb in access.DEPLOY_VERBS)
