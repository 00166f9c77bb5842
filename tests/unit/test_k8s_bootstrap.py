"""The chaincode's bootstrap on Kubernetes: deploy-chaincode.sh --commit calls Init with the SToken genesis the
local runner passes (network-config/stoken.yaml), once; the plan says so; images without a registry are warned of."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tdses.chaincode import Code, Fn, argument
from tdses.fabric import stoken
from tdses.fabric.state import State
from tdses.k8s import cli, deploy, layout, render, workloads
from tdses.local import lifecycle
from tdses.local.admin import Admin
from tdses.paths import NETWORK_CONFIG
from test_k8s_deploy import parse
from test_k8s_support import fake_state, kube_topology  # noqa: F401

SCRIPT = render.K8S_DIR / "base" / "organization" / "scripts" / "deploy-chaincode.sh"
# What the peer CLI prints when the chaincode refuses a second Init (chaincode/contract/token.go).
SECOND_INIT = (f'Error: endorsement failure during invoke. response: status:500 '
               f'message:"{Code.ALREADY_EXISTS}: the chaincode is already initialized"')

# A stand-in for the peer CLI: records its arguments (one JSON list a line) and answers as a deployed, committed
# chaincode would; Init answers what FAKE_INIT_ANSWER says (nothing: success), TokenInfo fails (not initialized).
FAKE_PEER = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[:3] == ["lifecycle", "chaincode", "queryinstalled"]:
    print("Package ID: " + os.environ.get("TDSES_PACKAGE_ID", "") + ", Label: tdses")
elif args[:3] == ["lifecycle", "chaincode", "checkcommitreadiness"]:
    print(json.dumps({{"approvals": {{os.environ.get("CORE_PEER_LOCALMSPID", ""): True}}}}, indent=1))
elif args[:2] == ["chaincode", "query"]:
    sys.exit("Error: endorsement failure during query. response: status:500 message:\\"INVALID_STATE: not init\\"")
elif args[:2] == ["chaincode", "invoke"] and os.environ.get("FAKE_INIT_ANSWER"):
    sys.exit(os.environ["FAKE_INIT_ANSWER"])
"""


@pytest.fixture
def fake_peer(tmp_path) -> Path:
    path = tmp_path / "bin" / "peer"
    path.parent.mkdir()
    path.write_text(FAKE_PEER.format(python=sys.executable, log=str(tmp_path / "peer.log")))
    path.chmod(0o755)
    return path


def calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def invokes(log: Path) -> list[list[str]]:
    return [c for c in calls(log) if c[:2] == ["chaincode", "invoke"]]


def option(call: list[str], name: str) -> str:
    return call[call.index(name) + 1]


def run_script(fake_peer: Path, tmp_path: Path, *args: str, init_answer: str = "",
               org: str = "org1") -> subprocess.CompletedProcess:
    topology = kube_topology()
    env = workloads.cli_env(topology.org(org), topology, "raft", "tdses_1.0:abc")
    assert env["PATH"].split(":")[0] == str(layout.SCRIPTS)  # where the pod mounts the scripts
    env |= {"PATH": f"{fake_peer.parent}:/usr/bin:/bin", "FAKE_INIT_ANSWER": init_answer}
    return subprocess.run(["sh", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60)


def test_the_init_argument_is_network_config_stoken_yaml_with_every_organization_maintaining():
    topology = kube_topology()
    genesis = yaml.safe_load((NETWORK_CONFIG / "stoken.yaml").read_text())
    assert stoken.init_config(topology) == {**genesis, "founderOrg": "Org1MSP",
                                            "maintainers": ["Org1MSP", "Org2MSP", "Org3MSP"]}


def test_the_cli_pod_calls_init_with_exactly_what_the_local_runner_sends(fake_peer, tmp_path):
    topology = kube_topology()
    cli_env = workloads.cli_env(topology.org("org1"), topology, "kafka", "tdses_1.0:abc")
    admin = Admin(topology, State(tmp_path / "state"), {"peer": fake_peer})
    lifecycle.initialize(admin)
    [local_init] = invokes(tmp_path / "peer.log")
    assert option(local_init, "-c") == cli_env["TDSES_STOKEN_INIT"]
    assert json.loads(cli_env["TDSES_STOKEN_INIT"]) == {"Args": [Fn.INIT, argument(stoken.init_config(topology))]}


def test_commit_then_calls_init_endorsed_by_one_peer_of_every_organization(fake_peer, tmp_path):
    result = run_script(fake_peer, tmp_path, "--commit")
    assert result.returncode == 0, result.stderr
    assert "initialized the SToken supply" in result.stdout
    [init] = invokes(tmp_path / "peer.log")
    topology = kube_topology()
    assert option(init, "-c") == json.dumps({"Args": [Fn.INIT, argument(stoken.init_config(topology))]})
    assert option(init, "-C") == topology.channel and option(init, "-n") == topology.chaincode_name
    endorsers = [init[i + 1] for i, arg in enumerate(init) if arg == "--peerAddresses"]
    assert endorsers == [org.peers[0].address for org in topology.orgs]
    assert "--waitForEvent" in init


def test_a_second_commit_finds_the_chaincode_initialized_and_succeeds(fake_peer, tmp_path):
    result = run_script(fake_peer, tmp_path, "--commit", init_answer=SECOND_INIT)
    assert result.returncode == 0, result.stderr
    assert "the SToken supply is initialized already" in result.stdout
    assert len(invokes(tmp_path / "peer.log")) == 1


def test_an_init_that_fails_otherwise_fails_the_script_with_the_peers_answer(fake_peer, tmp_path):
    answer = "Error: error getting endorser client for invoke: endorser client failed to connect to peer0"
    result = run_script(fake_peer, tmp_path, "--commit", init_answer=answer)
    assert result.returncode != 0
    assert answer in result.stderr
    assert "initialized" not in result.stdout


def test_commit_in_another_organization_than_the_founder_does_nothing_and_says_where(fake_peer, tmp_path):
    result = run_script(fake_peer, tmp_path, "--commit", org="org2")
    assert result.returncode == 2
    assert "founder organization's (Org1MSP)" in result.stderr
    assert calls(tmp_path / "peer.log") == []
    assert run_script(fake_peer, tmp_path, org="org2").returncode == 0, "installing and approving is every org's"


def test_without_commit_the_script_neither_commits_nor_initializes(fake_peer, tmp_path):
    result = run_script(fake_peer, tmp_path)
    assert result.returncode == 0, result.stderr
    assert invokes(tmp_path / "peer.log") == []
    assert not any(c[:3] == ["lifecycle", "chaincode", "commit"] for c in calls(tmp_path / "peer.log"))


@pytest.fixture
def state_dir(tmp_path):
    fake_state(tmp_path / "state", kube_topology())
    return tmp_path / "state"


@pytest.mark.parametrize("target", ["orderer", "org1", "org2"])
def test_the_dry_run_plan_shows_the_init_step(state_dir, tmp_path, capsys, target):
    args = parse("deploy", target, "--variant", "kafka", "--dry-run", "--registry", "registry.example/tdses",
                 "--state-dir", str(state_dir), "--out", str(tmp_path / "out"))
    assert cli.run(args) == 0
    lines = capsys.readouterr().out.splitlines()
    steps = lines[lines.index("then, to bootstrap:") + 1:]
    [init_step] = [s for s in steps if "Init" in s]
    assert "deploy-chaincode.sh --commit" in init_step and "network-config/stoken.yaml" in init_step
    assert "founder organization (org1)" in init_step
    if target != "orderer":
        assert "kubectl -n tdses-org1 exec" in init_step


def test_deploy_without_a_registry_warns_loudly_naming_our_images(state_dir, tmp_path, capsys):
    args = parse("deploy", "org1", "--variant", "raft", "--dry-run", "--state-dir", str(state_dir),
                 "--out", str(tmp_path / "out"))
    assert cli.run(args) == 0
    captured = capsys.readouterr()
    tags = render.image_tags(kube_topology())
    assert captured.err.startswith("WARNING: no --registry")
    assert f"tdses-chaincode:{tags['tdses-chaincode']}" in captured.err
    assert f"tdses-gateway:{tags['tdses-gateway']}" in captured.err
    assert "WARNING" not in captured.out  # the plan itself stays as it was


def test_deploy_with_a_registry_does_not_warn_and_qualifies_our_images(state_dir, tmp_path, capsys):
    args = parse("deploy", "org1", "--variant", "raft", "--dry-run", "--registry", "registry.example/tdses",
                 "--state-dir", str(state_dir), "--out", str(tmp_path / "out"))
    assert cli.run(args) == 0
    assert "WARNING" not in capsys.readouterr().err
    plan = deploy.make_plan(kube_topology(), State(state_dir), "org1", "raft", tmp_path / "again",
                            "registry.example/tdses")
    images = {c["image"] for o in plan.objects if o["kind"] in ("Deployment", "StatefulSet")
              for c in o["spec"]["template"]["spec"]["containers"]}
    ours = {i for i in images if "tdses-" in i}
    assert ours and all(i.startswith("registry.example/tdses/") for i in ours)


def test_the_orderer_namespace_runs_none_of_our_images_so_needs_no_registry(state_dir, tmp_path, capsys):
    args = parse("deploy", "orderer", "--variant", "raft", "--dry-run", "--state-dir", str(state_dir),
                 "--out", str(tmp_path / "out"))
    assert cli.run(args) == 0
    assert "WARNING" not in capsys.readouterr().err
    assert render.registry_warning(kube_topology(), None, ["orderer", "org3"]) is not None


def test_the_cli_pod_approves_the_definition_the_local_runner_approves(fake_peer, tmp_path):
    topology = kube_topology()
    admin = Admin(topology, State(tmp_path / "state"), {"peer": fake_peer})
    lifecycle.approve(admin, topology.org("org2"), "tdses_1.0:abc")
    result = run_script(fake_peer, tmp_path)
    assert result.returncode == 0, result.stderr
    local, pod = [c for c in calls(tmp_path / "peer.log") if c[:3] == ["lifecycle", "chaincode", "checkcommitreadiness"]]
    # A majority of the organizations' peers, as one signature policy (the meaning of MAJORITY Endorsement).
    assert option(local, "--signature-policy") == "OutOf(2,'Org1MSP.peer','Org2MSP.peer','Org3MSP.peer')"
    for name in ("--signature-policy", "--sequence", "--version", "--name", "--channelID"):
        assert option(pod, name) == option(local, name)
