"""Rendering: every overlay builds and is valid; Kubernetes runs what network-config/ and nodes.py say."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import stat

import pytest
import yaml

from tdses.fabric import gateways, nodes, toolchain
from tdses.fabric.state import State
from tdses.fabric.topology import load
from tdses.k8s import config_files, credentials, kustomize, layout, render, validate
from tdses.k8s.errors import KubernetesError
from tdses.k8s.layout import KubernetesLayout
from test_k8s_support import (ADMIN_TOKEN, REGISTRAR_SECRET, container, env, fake_state, kube_topology,  # noqa: F401
                              named, of_kind, pod_spec, rendered)

OVERLAYS = [("raft", "org1"), ("raft", "org2"), ("raft", "org3"), ("raft", "orderer-raft"),
            ("kafka", "org1"), ("kafka", "orderer-kafka")]
POD = KubernetesLayout()


@pytest.mark.parametrize("variant,overlay", OVERLAYS)
def test_every_overlay_builds_and_passes_strict_schema_validation_for_kubernetes_1_33(rendered, variant, overlay):
    objects = rendered.objects(variant, overlay)
    assert objects
    assert validate.schema_errors(objects) == []
    assert validate.rule_errors(objects) == []


@pytest.mark.parametrize("variant,overlay", OVERLAYS)
def test_every_object_lands_in_the_namespace_the_topology_names(rendered, variant, overlay):
    topology = rendered.topology
    org = topology.orderer_org if overlay.startswith("orderer") else topology.org(overlay)
    expected = f"tdses-{org.name}"
    for obj in rendered.objects(variant, overlay):
        actual = obj["metadata"]["name"] if obj["kind"] == "Namespace" else obj["metadata"]["namespace"]
        assert actual == expected, validate.name(obj)


def test_peer_containers_run_exactly_the_local_networks_command_and_environment(rendered):
    topology = rendered.topology
    for org in topology.orgs:
        objects = rendered.org_objects(org.name)
        for peer in org.peers:
            workload = named(objects, "StatefulSet", peer.short_name.split(".")[0])
            assert env(workload, "peer") == nodes.peer_env(peer, topology, POD)
            assert container(workload, "peer")["command"] == ["/usr/local/bin/peer", "node", "start"]


def test_orderer_ca_and_chaincode_environment_comes_from_nodes_py(rendered):
    topology = rendered.topology
    raft = rendered.orderer_objects("raft")
    for orderer in topology.orderers:
        assert env(named(raft, "StatefulSet", orderer.short_name.split(".")[0]), "orderer") == \
            nodes.orderer_env(orderer, topology, POD)
    org = topology.org("org2")
    objects = rendered.org_objects("org2")
    assert env(named(objects, "StatefulSet", "ca"), "ca") == nodes.ca_env(org.ca, topology, POD)
    chaincode_env = env(named(objects, "Deployment", "chaincode"), "chaincode")
    assert chaincode_env == nodes.chaincode_env(org.chaincode, chaincode_env["CHAINCODE_ID"], topology, POD)
    assert chaincode_env["CHAINCODE_ID"].startswith(f"{topology.chaincode_name}_{topology.chaincode_version}:")


def test_every_chaincode_server_endorses_only_the_init_argument_the_cli_sends(rendered):
    topology = rendered.topology
    founder = env(named(rendered.org_objects(topology.orgs[0].name), "Deployment", "cli"), "cli")
    [_, init_argument] = json.loads(founder["TDSES_STOKEN_INIT"])["Args"]
    assert founder["TDSES_FOUNDER_MSP"] == founder["CORE_PEER_LOCALMSPID"] == json.loads(init_argument)["founderOrg"]
    digests = {env(named(rendered.org_objects(org.name), "Deployment", "chaincode"), "chaincode")
               ["TDSES_GENESIS_SHA256"] for org in topology.orgs}
    assert digests == {hashlib.sha256(init_argument.encode()).hexdigest()}



def test_the_cli_finds_the_bootstrap_scripts_on_its_path(rendered):
    """`kubectl exec deploy/cli -- deploy-chaincode.sh` (README, the deploy plan) runs what the pod mounts."""
    cli = named(rendered.org_objects("org1"), "Deployment", "cli")
    path = env(cli, "cli")["PATH"].split(":")
    first = path[0]
    assert "/usr/local/bin" in path  # where the fabric-tools image keeps peer (the liveness probe runs it)
    [mount] = [m for m in container(cli, "cli")["volumeMounts"] if m["mountPath"] == first]
    [volume] = [v for v in pod_spec(cli)["volumes"] if v["name"] == mount["name"]]
    config_map = named(rendered.org_objects("org1"), "ConfigMap", volume["configMap"]["name"])
    assert {"join-channel.sh", "deploy-chaincode.sh"} <= set(config_map["data"])
    assert volume["configMap"].get("defaultMode", 0o644) & 0o111 == 0o111, "the scripts are executable"

def test_the_cli_installs_the_package_the_chaincode_server_runs(rendered):
    objects = rendered.org_objects("org3")
    package_id = env(named(objects, "Deployment", "chaincode"), "chaincode")["CHAINCODE_ID"]
    assert env(named(objects, "Deployment", "cli"), "cli")["TDSES_PACKAGE_ID"] == package_id


def test_kafka_orderers_start_from_the_system_channel_genesis_block_they_mount(rendered):
    for workload in of_kind(rendered.orderer_objects("kafka"), "StatefulSet"):
        if workload["metadata"]["name"].startswith("orderer"):
            variables = env(workload, "orderer")
            assert variables["ORDERER_GENERAL_BOOTSTRAPMETHOD"] == "file"
            mounts = {m["mountPath"] for m in container(workload, "orderer")["volumeMounts"]}
            assert str(layout.CHANNEL) in mounts
            assert variables["ORDERER_GENERAL_BOOTSTRAPFILE"].startswith(str(layout.CHANNEL) + "/")


def test_fabric_images_use_the_toolchain_releases(rendered):
    releases = {t.name: t.release for t in toolchain.toolchains()}
    images = {c["image"] for o in rendered.org_objects() + rendered.orderer_objects("raft")
              if o["kind"] in validate.WORKLOADS for c in pod_spec(o)["containers"]}
    fabric = {i for i in images if i.startswith("hyperledger/")}
    assert fabric == {f"hyperledger/fabric-peer:{releases['fabric']}", f"hyperledger/fabric-ca:{releases['fabric-ca']}",
                      f"hyperledger/fabric-tools:{releases['fabric']}", f"hyperledger/fabric-orderer:{releases['fabric']}"}


def test_node_configuration_files_are_the_ones_in_network_config(rendered):
    config_maps = {o["metadata"]["name"].rsplit("-", 1)[0]: o for o in of_kind(rendered.org_objects(), "ConfigMap")}
    core = config_maps["peer-config"]["data"]["core.yaml"]
    assert core == config_files.core_yaml()
    assert f"path: {layout.CCAAS_BUILDER}" in core
    orderer_maps = {o["metadata"]["name"].rsplit("-", 1)[0]: o for o in of_kind(rendered.orderer_objects("raft"), "ConfigMap")}
    assert orderer_maps["orderer-config"]["data"]["orderer.yaml"] == config_files.orderer_yaml()


def _secret_values(obj: dict) -> dict[str, str]:
    return {k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()}


def test_secret_values_are_in_secrets_and_in_no_config_map(rendered):
    objects = rendered.org_objects("org1")
    secrets = {o["metadata"]["name"].rsplit("-", 1)[0]: _secret_values(o) for o in of_kind(objects, "Secret")}
    registrar = REGISTRAR_SECRET.format(org="org1")
    assert registrar in secrets["ca-server-config"]["fabric-ca-server-config.yaml"]
    assert secrets["gateway-secrets"]["registrar-secret"] == registrar
    assert secrets["gateway-secrets"]["admin-token"] == ADMIN_TOKEN.format(org="org1")
    for cm in of_kind(objects, "ConfigMap"):
        for value in cm["data"].values():
            assert registrar not in value and ADMIN_TOKEN.format(org="org1") not in value
            assert "-----BEGIN" not in value


def test_static_manifests_mount_volumes_where_the_kubernetes_layout_says(rendered):
    topology = rendered.topology
    peer = topology.org("org1").peers[0]
    mounts = {m["mountPath"] for m in container(named(rendered.org_objects(), "StatefulSet", "peer0"), "peer")["volumeMounts"]}
    assert {str(POD.config / "peer"), str(POD.node_crypto(peer)), str(POD.node_dir(peer))} <= mounts
    ca = topology.org("org1").ca
    ca_command = container(named(rendered.org_objects(), "StatefulSet", "ca"), "ca")["command"]
    ca_mounts = {m["mountPath"] for m in container(named(rendered.org_objects(), "StatefulSet", "ca"), "ca")["volumeMounts"]}
    assert {ca_command[-1], str(POD.node_dir(ca)), str(POD.service_tls(ca)), str(POD.ca_cert(ca.org).parent)} <= ca_mounts


def test_gateway_configuration_has_the_keys_of_the_local_gateways_configuration(tmp_path, rendered):
    local = load("default", 7050)
    org = local.org("org1")
    local_config = gateways.config(local, State(tmp_path), org)
    kube_config = config_files.gateway_config(rendered.topology, rendered.topology.org("org1"))
    assert set(kube_config) == set(local_config)
    assert set(kube_config["ca"]) == set(local_config["ca"])
    assert set(kube_config["peers"][0]) == set(local_config["peers"][0])
    rendered_map = next(o for o in of_kind(rendered.org_objects(), "ConfigMap") if "gateway.yaml" in o.get("data", {}))
    assert yaml.safe_load(rendered_map["data"]["gateway.yaml"]) == kube_config


def test_a_missing_overlay_names_the_directory_and_how_to_make_it(tmp_path):
    source = tmp_path / "k8s"
    shutil.copytree(render.K8S_DIR, source, ignore=shutil.ignore_patterns("toolchain"))
    shutil.rmtree(source / "overlays" / "org2")
    topology = kube_topology()
    state = fake_state(tmp_path / "state", topology)
    with pytest.raises(KubernetesError, match=r"no overlay .*overlays/org2.*copy .*namespace: tdses-org2"):
        render.render(topology, state, tmp_path / "out", "raft", ["org2"], source=source)


def test_a_malformed_overlay_or_one_with_another_namespace_is_refused(tmp_path):
    source = tmp_path / "k8s"
    shutil.copytree(render.K8S_DIR, source, ignore=shutil.ignore_patterns("toolchain"))
    topology = kube_topology()
    state = fake_state(tmp_path / "state", topology)
    (source / "overlays" / "org1" / "kustomization.yaml").write_text("resources: [unclosed\n")
    with pytest.raises(KubernetesError, match="malformed YAML"):
        render.render(topology, state, tmp_path / "out", "raft", ["org1"], source=source)
    (source / "overlays" / "org1" / "kustomization.yaml").write_text(
        "namespace: tdses-elsewhere\ncomponents: [../../generated/org1]\n")
    with pytest.raises(KubernetesError, match="namespace 'tdses-elsewhere'.*'tdses-org1'"):
        render.render(topology, state, tmp_path / "out", "raft", ["org1"], source=source)


def test_render_without_credentials_says_how_to_make_them(tmp_path):
    with pytest.raises(KubernetesError, match="tdses k8s init"):
        render.render(kube_topology(), State(tmp_path / "empty"), tmp_path / "out", "raft")


def test_render_refuses_unknown_targets_and_variants(tmp_path):
    topology = kube_topology()
    state = fake_state(tmp_path / "state", topology)
    with pytest.raises(KubernetesError, match="org9.*org1, org2, org3, orderer"):
        render.render(topology, state, tmp_path / "out", "raft", ["org9"])
    with pytest.raises(KubernetesError, match="variant 'solo'"):
        render.render(topology, state, tmp_path / "out", "solo")
    for registry in ("Bad Registry/!!", "reg.example/Upper", "reg.example:port/x", ""):
        with pytest.raises(KubernetesError, match="not a registry prefix"):
            render.render(topology, state, tmp_path / "out", "raft", registry=registry)
    (tmp_path / "a-file").write_text("")
    with pytest.raises(KubernetesError, match="cannot make the output directory .*a-file/sub"):
        render.render(topology, state, tmp_path / "a-file" / "sub", "raft")


def test_credentials_check_lists_what_is_missing(tmp_path):
    topology = kube_topology()
    state = fake_state(tmp_path / "state", topology)
    assert credentials.missing(topology, state, "kafka") == []
    (state.channel_dir / f"{topology.channel}.tx").unlink()
    assert credentials.missing(topology, state, "kafka") == [str(state.channel_dir / f"{topology.channel}.tx")]
    assert credentials.missing(topology, state, "raft") == []


@pytest.mark.parametrize("variant", render.VARIANTS)
def test_a_rendered_tree_holds_only_its_variants_overlays_and_every_one_builds(rendered, variant):
    tree = rendered.overlays[(variant, "org1")].parent
    expected = {name for (v, name) in rendered.overlays if v == variant}
    assert {p.name for p in tree.iterdir()} == expected
    assert f"orderer-{variant}" in expected and len(expected) == len(render.targets(rendered.topology))
    for name in sorted(expected):
        assert rendered.objects(variant, name), name


def test_rendering_one_target_over_a_tree_leaves_nothing_that_cannot_build(tmp_path):
    topology = kube_topology()
    state = fake_state(tmp_path / "state", topology)
    render.render(topology, state, tmp_path / "out", "raft")
    overlays = render.render(topology, state, tmp_path / "out", "kafka", ["org2"])
    assert {p.name for p in (tmp_path / "out" / "overlays").iterdir()} == {"org2"}
    assert {p.name for p in (tmp_path / "out" / "generated").iterdir()} == {"org2"}
    assert validate.schema_errors(kustomize.build(overlays["org2"])) == []


def test_the_gateway_store_needs_no_shared_volume(rendered):
    """ReadWriteMany is rare on clusters: the replicated gateway shares a PostgreSQL store on one ReadWriteOnce
    volume instead."""
    objects = rendered.org_objects("org1")
    claims = [c for o in of_kind(objects, "StatefulSet") for c in o["spec"].get("volumeClaimTemplates", [])]
    claims += [o for o in of_kind(objects, "PersistentVolumeClaim")]
    assert claims and all(c["spec"]["accessModes"] == ["ReadWriteOnce"] for c in claims)
    gateway = named(objects, "Deployment", "gateway")
    assert gateway["spec"]["replicas"] > 1
    assert all("persistentVolumeClaim" not in v for v in pod_spec(gateway)["volumes"])
    assert named(objects, "StatefulSet", "gateway-store")["spec"]["replicas"] == 1
    gateway_yaml = next(o for o in of_kind(objects, "ConfigMap") if "gateway.yaml" in o.get("data", {}))
    assert yaml.safe_load(gateway_yaml["data"]["gateway.yaml"])["store"].startswith("postgresql")


def test_render_refuses_a_directory_it_did_not_make_and_leaves_it_as_it_was(tmp_path):
    topology = kube_topology()
    state = fake_state(tmp_path / "state", topology)
    project = tmp_path / "project"
    (project / "overlays").mkdir(parents=True)
    (project / "overlays" / "prod.yaml").write_text("precious")
    project.chmod(0o755)
    with pytest.raises(KubernetesError, match="not rendered here"):
        render.render(topology, state, project, "raft", ["org1"])
    assert (project / "overlays" / "prod.yaml").read_text() == "precious"
    assert stat.S_IMODE(project.stat().st_mode) == 0o755
    empty = tmp_path / "empty"
    empty.mkdir()
    render.render(topology, state, empty, "raft", ["org1"])  # an empty directory is fine, and so is rendering again
    render.render(topology, state, empty, "raft", ["org2"])
    assert stat.S_IMODE(empty.stat().st_mode) == 0o700 and sorted(p.name for p in (empty / "overlays").iterdir()) == ["org2"]
