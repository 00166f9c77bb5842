"""Deploy the chaincode as a service: build the server, package, install, approve, commit (idempotent).

Each organization runs its own chaincode server, so each packages its own connection.json and
approves its own package id; the chaincode definition (name, version, sequence) is the same for all.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

from tdses.network.admin import Admin
from tdses.network.errors import NetworkError
from tdses.network.state import State
from tdses.network.topology import Org, Topology
from tdses.paths import CHAINCODE_DIR

SEQUENCE = "1"


def build_server(state: State, source: Path = CHAINCODE_DIR) -> Path:
    """Compile the chaincode server (Go's build cache makes a rebuild of unchanged code nearly free)."""
    out = state.chaincode / "tdses-chaincode"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["go", "build", "-trimpath", "-o", str(out), "."], cwd=source, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise NetworkError(f"building the chaincode in {source} failed:\n{result.stderr.strip()[-3000:]}")
    return out


def label(topology: Topology) -> str:
    return f"{topology.chaincode_name}_{topology.chaincode_version}"


def _tar_gz(files: dict[str, bytes]) -> bytes:
    """A reproducible .tar.gz: fixed order, times and owners, so the same content has the same package id."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(files[name]))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def package(topology: Topology, state: State, org: Org) -> tuple[Path, str]:
    """Write org's chaincode package (metadata.json + code.tar.gz with connection.json); return it and its id."""
    server = org.chaincode
    assert server is not None
    connection = {
        "address": server.address,
        "dial_timeout": "10s",
        "tls_required": True,
        "client_auth_required": False,
        "root_cert": state.tls_ca_cert(org).read_text(),
    }
    code = _tar_gz({"connection.json": json.dumps(connection, indent=2).encode()})
    metadata = {"type": "ccaas", "label": label(topology)}
    data = _tar_gz({"metadata.json": json.dumps(metadata).encode(), "code.tar.gz": code})
    path = state.chaincode / f"{label(topology)}-{org.name}.tar.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path, f"{label(topology)}:{hashlib.sha256(data).hexdigest()}"


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
            "--sequence", SEQUENCE]


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
                   "-c", json.dumps({"Args": ["TokenInfo"]}))
    except NetworkError:
        return False
    return True


def initialize(admin: Admin, genesis: dict) -> None:
    """Call the chaincode's set-once Init as the first organization's admin (a maintaining organization)."""
    if initialized(admin):
        return
    t = admin.topology
    args = {**genesis, "maintainers": [org.msp_id for org in t.orgs]}
    admin.peer(t.peers[0], "chaincode", "invoke", *admin.orderer_tls_args(), "-C", t.channel, "-n",
               t.chaincode_name, *_endorsers(admin), "-c", json.dumps({"Args": ["Init", json.dumps(args)]}),
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
