"""The local network's life cycle: up, down, status, logs, clean.

`up` on a new state directory makes everything (crypto, configuration, channel, chaincode); on an existing
one it starts what is not running and resumes the same ledger. Whatever fails, `up` stops what it started
and names the problem.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from fabric_gateway import Endpoint
from jinja2 import Environment, StrictUndefined

from tdses.fabric import configtx, crypto, gateways, kafka, nodes, packaging, systemchannel, toolchain
from tdses.fabric.errors import NetworkError
from tdses.fabric.state import State, owner_only
from tdses.fabric.topology import Node, Topology, load, topology_path
from tdses.local import channel, lifecycle, processes
from tdses.local.admin import Admin
from tdses.paths import NETWORK_CONFIG, REPO_ROOT
from tdses.ports import port_in_use
from tdses.probes import accepts, serves_tls

FABRIC_CONFIG = NETWORK_CONFIG / "fabric"
BUILDER = NETWORK_CONFIG / "builders" / "ccaas"
DEFAULT_BASE_PORT = 7050
START_TIMEOUT = 60.0


@dataclass
class Network:
    state: State
    topology: Topology

    @classmethod
    def open(cls, state_dir: Path) -> "Network":
        state = State(state_dir)
        return cls(state, state.topology())

    def manifest(self) -> dict:
        return self.state.read_manifest()

    def channel_peers(self) -> list[Endpoint]:
        """Every peer of the channel with its organization's TLS root: what a client waits for after a write."""
        return [
            Endpoint(peer.address, tls_root_certs=self.state.tls_ca_cert(org).read_bytes())
            for org in self.topology.orgs for peer in org.peers
        ]

    # --- up --------------------------------------------------------------------------------------

    def render_config(self) -> None:
        """Node configuration from network-config/fabric: rendered on every up, so edits apply on restart."""
        env = Environment(undefined=StrictUndefined, keep_trailing_newline=True)
        peer_dir = self.state.config / "peer"
        peer_dir.mkdir(parents=True, exist_ok=True)
        core = env.from_string((FABRIC_CONFIG / "core.yaml").read_text())
        (peer_dir / "core.yaml").write_text(core.render(ccaas_builder=str(BUILDER)))
        orderer_dir = self.state.config / "orderer"
        orderer_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FABRIC_CONFIG / "orderer.yaml", orderer_dir / "orderer.yaml")
        ca_config = env.from_string((FABRIC_CONFIG / "fabric-ca-server-config.yaml").read_text())
        for org in self.topology.all_orgs:
            home = self.state.node_dir(org.ca)
            home.mkdir(parents=True, exist_ok=True)
            target = home / "fabric-ca-server-config.yaml"
            target.touch(mode=0o600)
            target.write_text(ca_config.render(registrar_secret=self.state.registrar_secret(org).read_text().strip()))

    def create(self, binaries: dict[str, Path]) -> None:
        """Everything a new network needs before its processes start."""
        crypto.generate(self.topology, self.state, binaries["cryptogen"])
        self.state.secrets.mkdir(mode=0o700, parents=True, exist_ok=True)
        for org in self.topology.all_orgs:
            secret_file = self.state.registrar_secret(org)
            secret_file.touch(mode=0o600)
            secret_file.write_text(secrets.token_urlsafe(24))
        if self.kafka_ordering:
            brokers = [b.address for b in self.topology.brokers]
            systemchannel.write_artifacts(self.topology, self.state, binaries["configtxgen"], brokers)
        else:
            configtx.genesis_block(self.topology, self.state, binaries["configtxgen"])

    @property
    def kafka_ordering(self) -> bool:
        """The orderers started from a system channel (Kafka ordering), whether or not they were migrated since."""
        return self.topology.ordering == "kafka"

    @property
    def consensus(self) -> str:
        """What orders the channels now: the topology's ordering until `tdses network migrate` changed it."""
        return self.manifest().get("consensus", self.topology.ordering)

    def runs(self, node: Node) -> bool:
        """Whether the network runs the node: after a migration to raft, no broker or ZooKeeper server."""
        return node.kind not in ("zookeeper", "kafka") or self.consensus == "kafka"

    def check_complete(self) -> None:
        """A state directory that claims a network must still hold its crypto and genesis block."""
        needed = [systemchannel.system_genesis_block(self.state) if self.kafka_ordering
                  else self.state.genesis_block(self.topology.channel)]
        for org in self.topology.all_orgs:
            needed += [self.state.org_msp(org), self.state.ca_key(org), self.state.registrar_secret(org)]
        for node in self.topology.nodes:
            if node.kind in ("peer", "orderer"):
                needed.append(self.state.node_crypto(node) / "tls" / "server.key")
        missing = [str(p) for p in needed if not p.exists()]
        if missing:
            raise NetworkError(
                f"state directory {self.state.root} is corrupted: missing {', '.join(missing[:3])}"
                f"{' and more' if len(missing) > 3 else ''}; run `tdses network clean` to start over"
            )

    def env(self, node: Node, package_ids: dict[str, str]) -> dict[str, str]:
        if node.kind == "peer":
            return nodes.peer_env(node, self.topology, self.state)
        if node.kind == "orderer" and self.kafka_ordering:
            return nodes.orderer_env(node, self.topology, self.state) | kafka.orderer_env(
                systemchannel.system_genesis_block(self.state))
        if node.kind == "orderer":
            return nodes.orderer_env(node, self.topology, self.state)
        if node.kind == "ca":
            return nodes.ca_env(node, self.topology, self.state)
        return nodes.chaincode_env(node, package_ids[node.org.name], self.topology, self.state)

    def start_node(self, node: Node, binaries: dict[str, Path], package_ids: dict[str, str]) -> None:
        if node.kind == "gateway":
            gateways.write_config(self.topology, self.state, node)
            # The gateway runs the code of the runner that starts it, not whatever copy the interpreter installed.
            cmd, env = gateways.command(self.state, node), {"PYTHONPATH": str(REPO_ROOT / "gateway")}
        elif node.kind in ("zookeeper", "kafka"):
            config = kafka.write_config(node, self.topology, self.state.config / "kafka", self.state.node_dir(node))
            cmd, env = kafka.command(node, config), {}
        else:
            cmd, env = nodes.command(node, binaries, self.state), self.env(node, package_ids)
        processes.start(
            cmd,
            env,
            self.state.log(node),
            self.state.pid_file(node),
            cwd=self.state.node_dir(node),
        )

    def healthy(self, node: Node) -> bool:
        if node.kind == "chaincode":
            return accepts(node.ports.listen)
        if node.kind == "gateway":
            return processes.healthz(node.ports.listen)
        if node.kind == "zookeeper":
            return kafka.zookeeper_serving(node.ports.listen)
        if node.kind == "kafka":
            return kafka.broker_ready(node.ports.listen)
        if node.kind in ("peer", "orderer"):
            # Kafka orderers: whether they order is wait_ordering's to tell.
            path = nodes.health_path(node, self.kafka_ordering)
            # The operations server answers before the node loads its TLS key, and exits if it cannot: the node is
            # up once its gRPC server serves TLS too.
            return processes.healthz(node.ports.operations, path=path) and serves_tls(node.ports.listen)
        return processes.healthz(node.ports.operations)  # a CA

    def wait_healthy(self, node: Node) -> None:
        check = lambda: self.healthy(node)  # noqa: E731
        processes.wait_until(check, node.short_name, START_TIMEOUT, self.state.pid_file(node), self.state.log(node))

    def up(self, out=sys.stdout) -> None:
        binaries = toolchain.binaries()
        if self.consensus == "kafka":
            kafka.install(out)
        with owner_only():
            server = packaging.build_server(self.state)
        binaries = {**binaries, "chaincode": server}
        manifest = self.manifest()
        try:
            with owner_only():
                self._up(binaries, manifest, out)
        except BaseException:
            self.down(quiet=True)
            raise

    def _up(self, binaries: dict[str, Path], manifest: dict, out) -> None:
        t = self.topology
        todo = [n for n in t.nodes if self.runs(n) and processes.running_pid(self.state.pid_file(n)) is None]
        for node in todo:
            for port in node.ports.all():
                if port_in_use(port):
                    raise NetworkError(
                        f"port {port} ({node.short_name}) is already in use: stop what uses it or choose another "
                        f"--base-port"
                    )
        if not manifest.get("created"):
            _say(out, "generating crypto material and the channel genesis block")
            self.create(binaries)
            manifest["created"] = True
            self.state.write_manifest(manifest)
        self.check_complete()
        self.render_config()

        packages = {org.name: packaging.package(t, self.state, org) for org in t.orgs}
        package_ids = {name: pid for name, (_, pid) in packages.items()}
        manifest["package_ids"] = package_ids
        self.state.write_manifest(manifest)

        for kind in ("ca", "zookeeper", "kafka", "orderer", "chaincode", "peer"):
            self.start_kind(kind, todo, binaries, package_ids, out)

        admin = Admin(t, self.state, binaries)
        if not manifest.get("channel_joined"):
            _say(out, f"creating channel {t.channel} and joining every peer")
            if self.kafka_ordering:
                channel.create_through_system_channel(admin)
            else:
                channel.join_orderers(admin)
            channel.join_peers(admin)
            manifest["channel_joined"] = True
            self.state.write_manifest(manifest)
        self.wait_ordering(admin)
        if self.kafka_ordering and not manifest.get("anchor_peers_set"):
            _say(out, "announcing each organization's anchor peer")
            channel.set_anchor_peers(admin)
            manifest["anchor_peers_set"] = True
            self.state.write_manifest(manifest)
        if not manifest.get("chaincode_committed"):
            _say(out, f"deploying chaincode {t.chaincode_name} as a service")
            lifecycle.deploy(admin, packages)
            manifest["chaincode_committed"] = True
            self.state.write_manifest(manifest)
        if not manifest.get("chaincode_initialized"):
            _say(out, "initializing the SToken supply (network-config/stoken.yaml)")
            lifecycle.initialize(admin)
            manifest["chaincode_initialized"] = True
            self.state.write_manifest(manifest)
        self.wait_peers_known(out)
        self.start_kind("gateway", todo, binaries, package_ids, out)

    def start_kind(self, kind: str, todo: list[Node], binaries: dict[str, Path], package_ids: dict[str, str],
                   out) -> None:
        batch = [n for n in todo if n.kind == kind]
        for node in batch:
            self.start_node(node, binaries, package_ids)
        for node in batch:
            self.wait_healthy(node)
        if batch:
            _say(out, f"started {len(batch)} {kind}{'s' if len(batch) > 1 else ''}")

    def wait_ordering(self, admin: Admin) -> None:
        """Wait until the orderers order the channel: a raft leader, or every Kafka orderer connected."""
        if self.consensus == "kafka":
            processes.wait_until(lambda: channel.orderers_serve(admin), "the Kafka orderers' channel start",
                                 channel.ORDERING_TIMEOUT)
        else:
            self.wait_raft_leader()

    def wait_peers_known(self, out=sys.stdout) -> None:
        """A peer plans endorsements from what its gossip knows of the channel's other peers. Gossip across
        organizations starts only once each peer trusts the others' TLS CAs (from the channel) and retries at its
        own pace: until every peer knows all the others, a client may be told that no combination of peers meets
        the endorsement policy."""
        peers = self.topology.peers
        label = f'channel="{self.topology.channel}"'

        def known() -> bool:
            return all(processes.metric(p.ports.operations, "gossip_membership_total_peers_known", label)
                       == len(peers) - 1 for p in peers)

        if not known():
            _say(out, "waiting until every peer's gossip knows the channel's other peers")
            processes.wait_until(known, "every peer's gossip knowing the channel's other peers", START_TIMEOUT)

    def wait_raft_leader(self, channel_name: str | None = None) -> None:
        """Transactions are refused until the orderers have elected a leader for the channel."""
        label = f'channel="{channel_name or self.topology.channel}"'

        def elected() -> bool:
            return any(
                processes.metric(o.ports.operations, "consensus_etcdraft_is_leader", label) == 1.0
                for o in self.topology.orderers
            )

        processes.wait_until(elected, "the orderers' raft leader election", START_TIMEOUT)

    # --- down, status, clean -----------------------------------------------------------------------

    def down(self, quiet: bool = False, out=sys.stdout) -> int:
        """Stop every process this state directory started (peers first); return how many were running."""
        stopped = 0
        for node in reversed(self.topology.nodes):
            if processes.stop(self.state.pid_file(node)):
                stopped += 1
        if not quiet:
            _say(out, f"stopped {stopped} process{'es' if stopped != 1 else ''}")
        return stopped

    def status(self) -> list[dict]:
        rows = []
        for node in filter(self.runs, self.topology.nodes):
            pid = processes.running_pid(self.state.pid_file(node))
            healthy = pid is not None and self.healthy(node)
            height = None
            if healthy and node.kind == "peer":
                value = processes.metric(node.ports.operations, "ledger_blockchain_height")
                height = int(value) if value is not None else None
            if healthy and node.kind == "orderer":
                value = processes.metric(node.ports.operations, "consensus_etcdraft_committed_block_number",
                                         f'channel="{self.topology.channel}"')
                height = int(value) + 1 if value is not None else None
            rows.append(
                {
                    "node": node.short_name,
                    "kind": node.kind,
                    "address": node.address,
                    "operations": f"127.0.0.1:{node.ports.operations}" if node.ports.operations else "",
                    "pid": pid,
                    "healthy": healthy,
                    "height": height,
                }
            )
        return rows


def _say(out, text: str) -> None:
    print(f"[network] {text}", file=out, flush=True)


def init_state(state_dir: Path, topology_name: str, base_port: int | None) -> Network:
    """Open the network in state_dir, creating its manifest if the directory holds none yet."""
    state = State(state_dir)
    if state.exists():
        manifest = state.read_manifest()
        if base_port is not None and int(manifest.get("base_port", -1)) != base_port:
            raise NetworkError(
                f"{state_dir} holds a network on base port {manifest.get('base_port')}, not {base_port}: "
                "omit --base-port to resume it, or use another --state-dir"
            )
        return Network(state, state.topology())
    if state_dir.exists() and any(state_dir.iterdir()):
        raise NetworkError(
            f"state directory {state_dir} is not empty and holds no {state.manifest.name}: it is corrupted or not a "
            "network's; run `tdses network clean` or choose another --state-dir"
        )
    path = topology_path(topology_name)
    stored = path.stem if path.parent == topology_path("default").parent else str(path.resolve())
    base = DEFAULT_BASE_PORT if base_port is None else base_port
    topology = load(stored, base)
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    state_dir.chmod(0o700)
    with owner_only():
        state.write_manifest({"topology": stored, "base_port": base, "created": False,
                              "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return Network(state, topology)


def clean(state_dir: Path) -> None:
    """Stop the network (if its manifest is readable) and delete its state directory."""
    state = State(state_dir)
    if state.exists():
        try:
            Network.open(state_dir).down(quiet=True)
        except NetworkError:
            pass
    # A corrupted manifest must not leave processes behind: stop whatever the pid files name.
    run = state.root / "run"
    if run.is_dir():
        for pid_file in run.glob("*.pid"):
            processes.stop(pid_file)
    shutil.rmtree(state_dir, ignore_errors=True)
