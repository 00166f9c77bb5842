"""Deploy the chaincode on the running network: install, approve, commit, initialize (each skipped when done)."""

from __future__ import annotations

import json
from pathlib import Path

from tdses.chaincode import Fn, peer_cli_call
from tdses.fabric import configtx, stoken
from tdses.fabric.errors import NetworkError
from tdses.fabric.packaging import SEQUENCE
from tdses.fabric.topology import Org
from tdses.local.admin import Admin


def committed(admin: Admin) -> bool:
    t = admin.topology
    try:
        admin.peer(t.peers[0], "lifecycle", "chaincode", "querycommitted", "--channelID", t.channel, "--name",
                   t.chaincode_name)
    except NetworkError:
        return False
    return True


def install(admin: Admin, org: Org, package_path: Path, package_id: str) -> None:
    for peer in org.peers:
        out = admin.peer(peer, "lifecycle", "chaincode", "queryinstalled", "--output", "json")
        if package_id in out:
            continue
        admin.peer(peer, "lifecycle", "chaincode", "install", str(package_path), timeout=300)


def _definition(admin: Admin) -> list[str]:
    t = admin.topology
    return ["--channelID", t.channel, "--name", t.chaincode_name, "--version", t.chaincode_version,
            "--sequence", SEQUENCE, "--signature-policy", configtx.endorsement_policy(t)]


def approve(admin: Admin, org: Org, package_id: str) -> None:
    peer = org.peers[0]
    readiness = admin.peer(peer, "lifecycle", "chaincode", "checkcommitreadiness", *_definition(admin),
                           "--output", "json")
    try:
        approved = json.loads(readiness).get("approvals", {}).get(org.msp_id, False)
    except ValueError:
        approved = False
    if not approved:
        admin.peer(peer, "lifecycle", "chaincode", "approveformyorg", *admin.orderer_tls_args(), *_definition(admin),
                   "--package-id", package_id, "--waitForEvent")


def commit(admin: Admin) -> None:
    admin.peer(admin.topology.peers[0], "lifecycle", "chaincode", "commit", *admin.orderer_tls_args(),
               *_definition(admin), *_endorsers(admin), "--waitForEvent")


def _endorsers(admin: Admin) -> list[str]:
    """One peer of every organization: enough for the majority endorsement policy, whatever the majority is."""
    args: list[str] = []
    for org in admin.topology.orgs:
        args += ["--peerAddresses", org.peers[0].address, "--tlsRootCertFiles", str(admin.state.tls_ca_cert(org))]
    return args


def initialized(admin: Admin) -> bool:
    t = admin.topology
    try:
        admin.peer(t.peers[0], "chaincode", "query", "-C", t.channel, "-n", t.chaincode_name,
                   "-c", peer_cli_call(Fn.TOKEN_INFO))
    except NetworkError:
        return False
    return True


def initialize(admin: Admin) -> None:
    """Call the chaincode's set-once Init with the SToken genesis (network-config/stoken.yaml) as the first
    organization's admin (the founder organization)."""
    if initialized(admin):
        return
    t = admin.topology
    admin.peer(t.peers[0], "chaincode", "invoke", *admin.orderer_tls_args(), "-C", t.channel, "-n",
               t.chaincode_name, *_endorsers(admin), "-c", peer_cli_call(Fn.INIT, stoken.init_argument(t)),
               "--waitForEvent")


def deploy(admin: Admin, packages: dict[str, tuple[Path, str]]) -> None:
    """Install every org's package on its peers, approve per org, commit once — skipping what is done."""
    if committed(admin):
        return
    for org in admin.topology.orgs:
        path, package_id = packages[org.name]
        install(admin, org, path, package_id)
    for org in admin.topology.orgs:
        approve(admin, org, packages[org.name][1])
    commit(admin)
