"""The namespaces hold exactly the paper's components, wired by Services and fenced by NetworkPolicies."""

from __future__ import annotations

from collections import Counter

import pytest
import yaml

from tdses.fabric import configtx
from tdses.fabric import kafka as fabric_kafka
from tdses.fabric.topology import load
from tdses.k8s import kafka, validate
from tdses.k8s.placement import PORTS as KUBERNETES_PORTS
from test_k8s_support import container, env, named, of_kind, pod_spec, rendered  # noqa: F401

COMPONENT = "app.kubernetes.io/component"
LONG_RUNNING = ("Deployment", "StatefulSet")
FABRIC_IMAGES = ("hyperledger/",)


def workloads(objects: list[dict]) -> list[dict]:
    return [o for o in objects if o["kind"] in LONG_RUNNING]


def replicas(objects: list[dict]) -> Counter:
    """Pods per component."""
    count: Counter = Counter()
    for w in workloads(objects):
        count[w["spec"]["template"]["metadata"]["labels"][COMPONENT]] += w["spec"].get("replicas", 1)
    return count


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("org", ["org1", "org2", "org3"])
def test_an_organization_namespace_has_a_ca_two_peers_a_cli_a_gateway_and_the_chaincode(rendered, org):
    objects = rendered.org_objects(org)
    assert sorted(w["metadata"]["name"] for w in workloads(objects)) == \
        ["ca", "chaincode", "cli", "gateway", "gateway-store", "peer0", "peer1"]
    assert replicas(objects) == {"ca": 1, "peer": 2, "cli": 1, "gateway": 2, "gateway-store": 1, "chaincode": 2}
    assert of_kind(objects, "Job") == []


def test_the_orderer_namespaces_hold_three_orderers_and_their_consensus(rendered):
    assert replicas(rendered.orderer_objects("raft")) == {"orderer": 3}
    assert [j["metadata"]["name"] for j in of_kind(rendered.orderer_objects("raft"), "Job")] == ["join-channel"]
    assert replicas(rendered.orderer_objects("kafka")) == {"orderer": 3, "kafka": 3, "zookeeper": 3}


@pytest.mark.parametrize("variant,overlay", [("raft", "org1"), ("raft", "orderer-raft"), ("kafka", "orderer-kafka")])
def test_every_service_selects_the_pods_of_one_workload_on_ports_they_expose(rendered, variant, overlay):
    objects = rendered.objects(variant, overlay)
    for service in of_kind(objects, "Service"):
        chosen = [w for w in workloads(objects)
                  if selects(service["spec"]["selector"], w["spec"]["template"]["metadata"]["labels"])]
        assert len(chosen) == 1, f"Service {service['metadata']['name']} selects {len(chosen)} workloads"
        ports = {p["name"]: p["containerPort"] for c in pod_spec(chosen[0])["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, f"{service['metadata']['name']}: no container port {port['targetPort']}"
            assert ports[port["targetPort"]] == port["port"]


def test_service_ports_are_the_topologys_kubernetes_ports(rendered):
    services = {s["metadata"]["name"]: {p["port"] for p in s["spec"]["ports"]}
                for s in of_kind(rendered.org_objects() + rendered.orderer_objects("raft"), "Service")}
    for name, kind in [("peer0", "peer"), ("ca", "ca"), ("chaincode", "chaincode"), ("orderer0", "orderer"),
                       ("gateway", "gateway")]:
        assert services[name] == set(KUBERNETES_PORTS[kind].all()) - {KUBERNETES_PORTS[kind].chaincode}, name


def test_every_node_is_reached_at_the_address_the_topology_gives_it(rendered):
    topology = rendered.topology
    for org in topology.orgs:
        names = {s["metadata"]["name"] for s in of_kind(rendered.org_objects(org.name), "Service")}
        for node in org.nodes:
            assert node.host == f"{node.short_name.split('.')[0]}.tdses-{org.name}.svc.cluster.local"
            assert node.host.split(".")[0] in names


@pytest.mark.parametrize("variant,overlay", [("raft", "org1"), ("raft", "orderer-raft"), ("kafka", "orderer-kafka")])
def test_every_container_has_probes_equal_requests_and_limits_and_runs_as_non_root(rendered, variant, overlay):
    for workload in rendered.objects(variant, overlay):
        if workload["kind"] not in validate.WORKLOADS:
            continue
        pod = pod_spec(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        for c in pod["containers"]:
            where = f"{validate.name(workload)}/{c['name']}"
            assert c["resources"]["requests"] == c["resources"]["limits"], where
            assert set(c["resources"]["limits"]) == {"cpu", "memory"}, where
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, where
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"], where
            assert c["securityContext"]["readOnlyRootFilesystem"] is True, where
            if workload["kind"] in LONG_RUNNING:
                assert c["livenessProbe"] and c["readinessProbe"], where


def test_fabric_nodes_are_probed_on_their_operations_healthz(rendered):
    for workload in workloads(rendered.org_objects() + rendered.orderer_objects("raft")):
        for c in pod_spec(workload)["containers"]:
            if c["name"] in ("peer", "orderer", "ca"):
                for probe in (c["livenessProbe"], c["readinessProbe"]):
                    assert probe["httpGet"] == {"path": "/healthz", "port": "operations"}
                operations = next(p for p in c["ports"] if p["name"] == "operations")["containerPort"]
                assert operations == KUBERNETES_PORTS[c["name"]].operations


def test_kafka_orderers_are_probed_on_version_since_their_healthz_panics_before_the_brokers_answer(rendered):
    orderers = [w for w in workloads(rendered.orderer_objects("kafka")) if w["metadata"]["name"].startswith("orderer")]
    assert len(orderers) == 3
    for orderer in orderers:
        c = container(orderer, "orderer")
        for probe in (c["livenessProbe"], c["readinessProbe"]):
            assert probe["httpGet"] == {"path": "/version", "port": "operations"}


def test_the_gateway_runs_two_replicas_ready_on_readyz_with_configuration_and_secrets_mounted(rendered):
    """Its replicas share the PostgreSQL store of the namespace, whose password neither is in a ConfigMap."""
    gateway = named(rendered.org_objects(), "Deployment", "gateway")
    assert gateway["spec"]["replicas"] == 2
    c = container(gateway, "gateway")
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["args"] == ["gateway", "serve", "--config", "/etc/tdses/gateway.yaml"]
    volumes = {v["name"]: v for v in pod_spec(gateway)["volumes"]}
    assert volumes["config"]["configMap"]["name"].startswith("gateway-config-")
    assert volumes["secrets"]["secret"]["secretName"].startswith("gateway-secrets-")
    assert volumes["admin"]["secret"]["secretName"].startswith("admin-msp-")
    assert "store" not in volumes and not of_kind(rendered.org_objects(), "PersistentVolumeClaim")
    password = next(e for e in c["env"] if e["name"] == "PGPASSWORD")["valueFrom"]["secretKeyRef"]
    store = named(rendered.org_objects(), "StatefulSet", "gateway-store")
    postgres = container(store, "postgres")
    server_password = next(e for e in postgres["env"] if e["name"] == "POSTGRES_PASSWORD")["valueFrom"]["secretKeyRef"]
    assert password == server_password and password["name"].startswith("gateway-store-")
    secret = named(rendered.org_objects(), "Secret", password["name"])
    assert secret["data"]["password"]
    config = yaml.safe_load(named(rendered.org_objects(), "ConfigMap", volumes["config"]["configMap"]["name"])
                            ["data"]["gateway.yaml"])
    assert config["store"] == "postgresql+psycopg://gateway@gateway-store:5432/gateway"


def test_disruption_budgets_select_existing_pods_and_keep_quorums(rendered):
    for objects in (rendered.org_objects(), rendered.orderer_objects("kafka"), rendered.orderer_objects("raft")):
        for budget in of_kind(objects, "PodDisruptionBudget"):
            selector = budget["spec"]["selector"]["matchLabels"]
            assert any(selects(selector, w["spec"]["template"]["metadata"]["labels"]) for w in workloads(objects))
    budgets = {b["metadata"]["name"]: b["spec"] for b in of_kind(rendered.orderer_objects("kafka"), "PodDisruptionBudget")}
    assert budgets == {"orderer": {"maxUnavailable": 1, "selector": {"matchLabels": {COMPONENT: "orderer"}}},
                       "kafka": {"maxUnavailable": 1, "selector": {"matchLabels": {COMPONENT: "kafka"}}},
                       "zookeeper": {"maxUnavailable": 1, "selector": {"matchLabels": {COMPONENT: "zookeeper"}}}}


# --- NetworkPolicies ---------------------------------------------------------------------------------

DNS = ("kube-system", "kube-dns")
ANYWHERE = ("*", "*")


def _place(peer: dict, own_kind: str) -> tuple[str, str, bool]:
    """(namespace kind, component, same namespace only) of a policy peer."""
    component = peer.get("podSelector", {}).get("matchLabels", {}).get(COMPONENT) or \
        peer.get("podSelector", {}).get("matchLabels", {}).get("k8s-app", "*")
    if "namespaceSelector" not in peer:
        return own_kind, component, True
    labels = peer["namespaceSelector"]["matchLabels"]
    return labels.get("tdses.io/kind") or labels.get("kubernetes.io/metadata.name"), component, False


def flows(policies: list[tuple[str, dict]]) -> tuple[set, set]:
    """Directed (source, destination, port) flows each side allows; a place is (ns kind, component, same-ns)."""
    ingress, egress = set(), set()
    for kind, policy in policies:
        spec = policy["spec"]
        selected = spec["podSelector"].get("matchLabels", {}).get(COMPONENT, "*")
        for rule in spec.get("ingress", []):
            sources = [_place(p, kind) for p in rule.get("from", [])] or [ANYWHERE + (False,)]
            for src in sources:
                for port in rule["ports"]:
                    ingress.add(((src[0], src[1]), (kind, selected), port["port"], src[2]))
        for rule in spec.get("egress", []):
            for dst in [_place(p, kind) for p in rule["to"]]:
                for port in rule["ports"]:
                    egress.add(((kind, selected), (dst[0], dst[1]), port["port"], dst[2]))
    return ingress, egress


def _policies(objects: list[dict], kind: str) -> list[tuple[str, dict]]:
    return [(kind, p) for p in of_kind(objects, "NetworkPolicy")]


ORG, ORD = "organization", "orderer"
COMMON_FLOWS = {
    ((ORG, "gateway"), (ORG, "peer"), 7051, False),  # every org's peers: a write waits for their blocks
    ((ORG, "gateway"), (ORG, "ca"), 7054, True),
    ((ORG, "gateway"), (ORG, "gateway-store"), 5432, True),
    ((ORG, "cli"), (ORG, "ca"), 7054, True),
    ((ORG, "peer"), (ORG, "peer"), 7051, False),  # gossip and endorsement, across organizations too
    ((ORG, "cli"), (ORG, "peer"), 7051, False),  # bootstrap: join, install, commit with every org's endorsement
    ((ORG, "peer"), (ORD, "orderer"), 7050, False),
    ((ORG, "cli"), (ORD, "orderer"), 7050, False),
    ((ORG, "peer"), (ORG, "chaincode"), 9999, True),
}
RAFT_FLOWS = {
    ((ORD, "orderer"), (ORD, "orderer"), 7050, True),
    ((ORD, "orderer-admin"), (ORD, "orderer"), 7053, True),
}
KAFKA_FLOWS = {
    ((ORD, "orderer"), (ORD, "kafka"), 9092, True),
    ((ORD, "kafka"), (ORD, "kafka"), 9092, True),
    ((ORD, "kafka"), (ORD, "zookeeper"), 2181, True),
    ((ORD, "zookeeper"), (ORD, "zookeeper"), 2888, True),
    ((ORD, "zookeeper"), (ORD, "zookeeper"), 3888, True),
}


@pytest.mark.parametrize("variant,expected", [("raft", COMMON_FLOWS | RAFT_FLOWS), ("kafka", COMMON_FLOWS | KAFKA_FLOWS)])
def test_network_policies_allow_exactly_the_needed_flows(rendered, variant, expected):
    policies = _policies(rendered.org_objects("org1", variant), ORG) + \
        _policies(rendered.orderer_objects(variant), ORD)
    ingress, egress = flows(policies)
    allowed = ingress & egress
    assert allowed == expected
    # Nothing allowed on one side only, but clients → gateway and every pod → DNS.
    assert ingress - allowed == {(ANYWHERE, (ORG, "gateway"), 8080, False)}
    assert {(dst, port) for _, dst, port, _ in egress - allowed} == {(DNS, 53)}


@pytest.mark.parametrize("variant,overlay", [("raft", "org2"), ("raft", "orderer-raft"), ("kafka", "orderer-kafka")])
def test_every_namespace_starts_from_default_deny(rendered, variant, overlay):
    deny = named(rendered.objects(variant, overlay), "NetworkPolicy", "default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_policy_selectors_match_the_namespace_labels(rendered):
    org_ns = named(rendered.org_objects(), "Namespace", "tdses-org1")["metadata"]["labels"]
    orderer_ns = named(rendered.orderer_objects("raft"), "Namespace", "tdses-orderer")["metadata"]["labels"]
    assert org_ns["tdses.io/kind"] == ORG and orderer_ns["tdses.io/kind"] == ORD
    assert org_ns["pod-security.kubernetes.io/enforce"] == "restricted"


# --- Kafka and ZooKeeper -----------------------------------------------------------------------------

def _bytes(size: str) -> int:
    number, unit = size.split()
    return int(number) * {"KB": 1024, "MB": 1024 ** 2}[unit]


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def kafka_config(rendered, name: str) -> dict[str, str]:
    found = [o for o in of_kind(rendered.orderer_objects("kafka"), "ConfigMap")
             if o["metadata"]["name"].startswith("kafka-config")]  # the generator adds a content hash
    assert len(found) == 1
    return _properties(found[0]["data"][name])


def test_kafka_brokers_keep_every_ordered_block(rendered):
    broker = named(rendered.orderer_objects("kafka"), "StatefulSet", "kafka")
    settings = kafka_config(rendered, "server.properties")
    assert broker["spec"]["replicas"] == kafka.BROKERS == 3
    assert settings["default.replication.factor"] == "3"
    assert settings["min.insync.replicas"] == "2"
    assert settings["unclean.leader.election.enable"] == "false"
    assert settings["log.retention.ms"] == "-1"
    profile = configtx.configtx(rendered.topology, rendered.state)["Profiles"][configtx.PROFILE]
    absolute_max = _bytes(profile["Orderer"]["BatchSize"]["AbsoluteMaxBytes"])
    assert int(settings["message.max.bytes"]) > absolute_max
    assert int(settings["replica.fetch.max.bytes"]) > absolute_max
    command = " ".join(container(broker, "kafka")["command"])
    assert "broker.id=${HOSTNAME##*-}" in command and "/etc/tdses-kafka/server.properties" in command


def test_kafka_and_zookeeper_settings_are_the_local_networks(rendered, tmp_path):
    """One source (network-config/kafka/kafka.yaml): a pod's properties and a local node's differ only in where
    they run."""
    local = load("kafka", 20000)
    broker, zookeeper = local.brokers[0], local.zookeepers[0]
    placed = {"broker.id", "listeners", "advertised.listeners", "zookeeper.connect", "log.dirs"}
    assert _without(kafka_config(rendered, "server.properties"), placed) == _without(
        fabric_kafka.broker_properties(broker, local, tmp_path), placed)
    placed = {"dataDir", "clientPort", "clientPortAddress", "quorumListenOnAllIPs"} | {f"server.{i}" for i in (1, 2, 3)}
    assert _without(kafka_config(rendered, "zookeeper.properties"), placed) == _without(
        fabric_kafka.zookeeper_properties(zookeeper, local, tmp_path), placed)
    orderer = next(w for w in workloads(rendered.orderer_objects("kafka")) if w["metadata"]["name"] == "orderer0")
    assert env(orderer, "orderer")["ORDERER_KAFKA_VERSION"] == fabric_kafka.settings().protocol


def _without(values: dict[str, str], keys: set[str]) -> dict[str, str]:
    return {k: v for k, v in values.items() if k not in keys}


def test_zookeeper_ensemble_of_three_takes_its_ids_from_the_statefulset_ordinals(rendered):
    ensemble = named(rendered.orderer_objects("kafka"), "StatefulSet", "zookeeper")
    assert ensemble["spec"]["replicas"] == 3
    assert "echo $(( ${HOSTNAME##*-} + 1 )) > /var/lib/zookeeper/data/myid" in " ".join(
        container(ensemble, "zookeeper")["command"])
    settings = kafka_config(rendered, "zookeeper.properties")
    assert [settings[f"server.{i + 1}"] for i in range(3)] == [f"zookeeper-{i}.zookeeper:2888:3888" for i in range(3)]
    service = named(rendered.orderer_objects("kafka"), "Service", "zookeeper")
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"] is True


def test_kafka_and_zookeeper_run_the_local_networks_kafka_version(rendered):
    images = {c["image"] for w in workloads(rendered.orderer_objects("kafka")) for c in pod_spec(w)["containers"]}
    assert f"apache/kafka:{fabric_kafka.settings().version}" in images


def test_brokers_and_zookeeper_servers_mount_the_generated_kafka_config(rendered):
    configs = {o["metadata"]["name"] for o in of_kind(rendered.orderer_objects("kafka"), "ConfigMap")}
    for name in ("kafka", "zookeeper"):
        volumes = pod_spec(named(rendered.orderer_objects("kafka"), "StatefulSet", name))["volumes"]
        mounted = {v["configMap"]["name"] for v in volumes if "configMap" in v}
        assert len(mounted) == 1 and mounted <= configs and next(iter(mounted)).startswith("kafka-config-")
