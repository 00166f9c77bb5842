"""Run Fabric's admin commands (peer, osnadmin) as an organization's admin."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tdses.fabric.errors import NetworkError
from tdses.fabric.state import State
from tdses.fabric.topology import Node, Topology


class Admin:
    def __init__(self, topology: Topology, state: State, binaries: dict[str, Path]):
        self.topology = topology
        self.state = state
        self.binaries = binaries

    def _run(self, cmd: list[str], env: dict[str, str], what: str, timeout: float = 120) -> str:
        try:
            result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise NetworkError(f"{what}: no answer after {timeout:.0f}s") from None
        if result.returncode != 0:
            raise NetworkError(f"{what} failed: {(result.stderr or result.stdout).strip()[-2000:]}")
        return result.stdout + result.stderr

    def peer_env(self, peer: Node) -> dict[str, str]:
        """Environment for the peer CLI acting as the admin of peer's organization, talking to peer."""
        import os

        org = peer.org
        return {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/"),
            "FABRIC_CFG_PATH": str(self.state.config / "peer"),
            "FABRIC_LOGGING_SPEC": "warning",
            "CORE_PEER_LOCALMSPID": org.msp_id,
            "CORE_PEER_MSPCONFIGPATH": str(self.state.admin_msp(org)),
            "CORE_PEER_ADDRESS": peer.address,
            "CORE_PEER_TLS_ENABLED": "true",
            "CORE_PEER_TLS_ROOTCERT_FILE": str(self.state.tls_ca_cert(org)),
        }

    def as_orderer_admin(self, *args: str, what: str = "", timeout: float = 120) -> str:
        """The peer CLI (channel fetch, channel update) as the orderer organization's admin."""
        org = self.topology.orderer_org
        env = {**self.peer_env(self.topology.peers[0]), "CORE_PEER_LOCALMSPID": org.msp_id,
               "CORE_PEER_MSPCONFIGPATH": str(self.state.admin_msp(org))}
        return self._run([str(self.binaries["peer"]), *args], env, what or f"peer {' '.join(args[:2])}", timeout)

    def peer(self, peer: Node, *args: str, what: str = "", timeout: float = 120) -> str:
        return self._run(
            [str(self.binaries["peer"]), *args], self.peer_env(peer), what or f"peer {args[0]} on {peer.short_name}",
            timeout,
        )

    def orderer_tls_args(self, orderer: Node | None = None) -> list[str]:
        orderer = orderer or self.topology.orderers[0]
        return ["-o", orderer.address, "--tls", "--cafile", str(self.state.tls_ca_cert(orderer.org))]

    def osnadmin(self, orderer: Node, *args: str) -> str:
        org = orderer.org
        tls = self.state.admin_tls(org)
        return self._run(
            [
                str(self.binaries["osnadmin"]), "channel", *args,
                "-o", f"127.0.0.1:{orderer.ports.admin}",
                "--ca-file", str(self.state.tls_ca_cert(org)),
                "--client-cert", str(tls / "client.crt"),
                "--client-key", str(tls / "client.key"),
            ],
            {},
            f"osnadmin channel {args[0]} on {orderer.short_name}",
        )
