"""The chaincode as a service: its server binary and each organization's package (connection.json).

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

from tdses.fabric.errors import NetworkError
from tdses.fabric.state import State
from tdses.fabric.topology import Org, Topology
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
