"""`tdses network …` and `tdses toolchain …`: the local network from the command line."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from tdses.fabric import gateways, kafka, toolchain
from tdses.fabric.nodes import ca_name
from tdses.fabric.state import State
from tdses.local import migration
from tdses.local.network import Network, clean, init_state
from tdses.paths import DEFAULT_STATE_DIR


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_parsers(sub: argparse._SubParsersAction) -> None:
    net = sub.add_parser("network", help="run a local Fabric network as plain processes on loopback")
    net.set_defaults(handler=run)
    net_sub = net.add_subparsers(dest="action", required=True)

    def with_state(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                       help=f"where the network keeps its files (default {DEFAULT_STATE_DIR}, or $TDSES_STATE_DIR)")
        return p

    up = with_state(net_sub.add_parser("up", help="create or resume the network and wait until it is healthy"))
    up.add_argument("--topology", default=os.environ.get("TDSES_TOPOLOGY", "default"),
                    help="default (3 orgs x 2 peers, 3 orderers), small (2 orgs x 1 peer, 1 orderer), kafka "
                         "(3 orgs x 1 peer, 3 Kafka-mode orderers, 3 brokers, 3 ZooKeeper servers) or a file")
    up.add_argument("--base-port", type=int, default=_env_int("TDSES_BASE_PORT"),
                    help="first of the consecutive loopback ports the network uses (default 7050)")
    up.add_argument("--json", action="store_true", help="print the endpoints as JSON")
    with_state(net_sub.add_parser("down", help="stop the processes the network started"))
    status = with_state(net_sub.add_parser("status", help="each process, its health and block height"))
    status.add_argument("--json", action="store_true")
    logs = with_state(net_sub.add_parser("logs", help="show a node's log (all nodes' last lines without a name)"))
    logs.add_argument("node", nargs="?", help="e.g. peer0.org1, orderer0.orderer, ca.org2, chaincode.org1")
    logs.add_argument("-n", "--lines", type=positive, default=40)
    logs.add_argument("-f", "--follow", action="store_true")
    with_state(net_sub.add_parser("clean", help="stop the network and delete its state directory"))
    migrate = with_state(net_sub.add_parser(
        "migrate", help="move a kafka network's ordering to raft (Fabric's Kafka-to-Raft migration), ledgers kept"))
    migrate.add_argument("--to", choices=["raft"], required=True)

    tc = sub.add_parser("toolchain", help="the Fabric binaries, built from Go modules, and Kafka's jars")
    tc.set_defaults(handler=run)
    tc_sub = tc.add_subparsers(dest="action", required=True)
    tc_sub.add_parser("install", help="build what is missing into the cache")
    tc_sub.add_parser("path", help="print the directories of the installed binaries")


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


def run(args: argparse.Namespace) -> int:
    if args.command == "toolchain":
        if args.action == "install":
            toolchain.install_all()
            kafka.install()
        else:
            for t in toolchain.toolchains():
                print(t.bin_dir())
            print(kafka.jars_dir())
        return 0
    return {"up": _up, "down": _down, "status": _status, "logs": _logs, "clean": _clean,
            "migrate": _migrate}[args.action](args)


def _up(args: argparse.Namespace) -> int:
    network = init_state(args.state_dir, args.topology, args.base_port)
    network.up(out=sys.stderr)
    endpoints = describe(network)
    if args.json:
        print(json.dumps(endpoints, indent=2))
    else:
        print_endpoints(endpoints)
    return 0


def describe(network: Network) -> dict:
    """Everything a client needs to reach the network."""
    s, t = network.state, network.topology
    orgs = {}
    for org in t.orgs:
        orgs[org.name] = {
            "msp_id": org.msp_id,
            "peers": [p.address for p in org.peers],
            "peer_host_names": [p.name for p in org.peers],
            "tls_ca": str(s.tls_ca_cert(org)),
            "ca_url": f"https://{org.ca.address}",
            "ca_name": ca_name(org.ca),
            "ca_registrar": "admin",
            "ca_registrar_secret_file": str(s.registrar_secret(org)),
            "admin_msp": str(s.admin_msp(org)),
            "chaincode_server": org.chaincode.address if org.chaincode else None,
            "gateway_url": f"http://{org.gateway.address}" if org.gateway else None,
            "web_url": f"http://{org.gateway.address}/" if org.gateway else None,  # the gateway serves the pages
            "gateway_admin_token_file": str(gateways.admin_token_file(s, org)) if org.gateway else None,
        }
    return {
        "state_dir": str(s.root),
        "channel": t.channel,
        "chaincode": t.chaincode_name,
        "orderers": [o.address for o in t.orderers],
        "orderer_tls_ca": str(s.tls_ca_cert(t.orderer_org)),
        "orgs": orgs,
        "nodes": network.status(),
    }


def print_endpoints(endpoints: dict) -> None:
    print(f"network up: channel {endpoints['channel']}, chaincode {endpoints['chaincode']}, "
          f"state in {endpoints['state_dir']}")
    _print_table(endpoints["nodes"])
    for name, org in endpoints["orgs"].items():
        print(f"{name} ({org['msp_id']}): web {org['web_url']} (sign-up links: tdses user invite); "
              f"REST gateway {org['gateway_url']} (admin token in "
              f"{org['gateway_admin_token_file']}); peers {', '.join(org['peers'])}; CA {org['ca_url']} "
              f"({org['ca_name']}); TLS root {org['tls_ca']}")
    print("logs: tdses network logs NODE   status: tdses network status   stop: tdses network down")


def _print_table(rows: list[dict]) -> None:
    print(f"{'NODE':<22}{'KIND':<11}{'ADDRESS':<17}{'OPERATIONS':<17}{'PID':<9}{'HEALTH':<9}HEIGHT")
    for r in rows:
        health = "ok" if r["healthy"] else ("running" if r["pid"] else "stopped")
        height = "" if r["height"] is None else str(r["height"])
        print(f"{r['node']:<22}{r['kind']:<11}{r['address']:<17}{r['operations']:<17}{str(r['pid'] or '-'):<9}"
              f"{health:<9}{height}")


def _down(args: argparse.Namespace) -> int:
    if not State(args.state_dir).exists():
        print(f"no network in {args.state_dir}: nothing to stop", file=sys.stderr)
        return 0
    Network.open(args.state_dir).down(out=sys.stderr)
    return 0


def _status(args: argparse.Namespace) -> int:
    rows = Network.open(args.state_dir).status()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _print_table(rows)
    return 0 if all(r["healthy"] for r in rows) else 3


def _logs(args: argparse.Namespace) -> int:
    network = Network.open(args.state_dir)
    nodes = [network.topology.node(args.node)] if args.node else network.topology.nodes
    if args.follow:
        cmd = ["tail", "-n", str(args.lines), "-F", *(str(network.state.log(n)) for n in nodes)]
        try:
            return subprocess.call(cmd)
        except KeyboardInterrupt:
            return 0
    for node in nodes:
        log = network.state.log(node)
        if len(nodes) > 1:
            print(f"==> {node.short_name} ({log})")
        try:
            print("\n".join(log.read_text(errors="replace").splitlines()[-args.lines:]))
        except FileNotFoundError:
            print("(no log yet)")
    return 0


def _migrate(args: argparse.Namespace) -> int:
    migration.migrate_to_raft(Network.open(args.state_dir), out=sys.stderr)
    return 0


def _clean(args: argparse.Namespace) -> int:
    clean(args.state_dir)
    print(f"removed {args.state_dir}", file=sys.stderr)
    return 0
