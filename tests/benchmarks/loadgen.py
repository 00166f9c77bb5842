"""The Go load generator (tests/benchmarks/loadgen), built once per source version into the cache, and run.

    summary = run("http://127.0.0.1:7070", [{"path": "/v1/services/x", "token": t}], concurrency=64, count=20000)
    summary["throughput"], summary["p50"], summary["failures"]      # see loadgen/summary.go
    summary = run_fabric("127.0.0.1:7051", "tlsca.pem", members, [{"identity": 0, "function": "QueryService",
                         "args": ["x"]}], concurrency=8, count=10**6, seconds=30)    # the official Go client

A Python client at a few thousand requests per second spends as much CPU as the gateway it measures; this one
spends a fraction of it, so the figures are the server's.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from tdses.paths import CACHE_DIR

SOURCE = Path(__file__).resolve().parent / "loadgen"


def build() -> Path:
    digest = hashlib.sha256()
    for path in sorted(SOURCE.glob("*")):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    binary = CACHE_DIR / "bench" / f"loadgen-{digest.hexdigest()[:12]}"
    if not binary.exists():
        binary.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["go", "build", "-o", str(binary), "."], cwd=SOURCE, check=True)
    return binary


def run(base: str, requests: list[dict], concurrency: int, count: int, seconds: float = 20.0) -> dict:
    """Closed loop: `concurrency` requests in flight, `count` at most, `seconds` at most."""
    lines = "".join(json.dumps(r) + "\n" for r in requests)
    done = subprocess.run([str(build()), "http", "-base", base, "-c", str(concurrency), "-n", str(count),
                           "-duration", f"{seconds}s"], input=lines, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"loadgen http failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def run_fabric(peer: str, tls_ca: Path, members: Path, calls: list[dict], concurrency: int, count: int,
               seconds: float = 20.0, channel: str = "tdses", chaincode: str = "tdses") -> dict:
    """The official Fabric Gateway client: `calls` ({identity, function, args, submit}) as the identities of the
    `members` file ([{mspId, certificate, privateKey}]), closed loop, through one peer."""
    lines = "".join(json.dumps(c) + "\n" for c in calls)
    done = subprocess.run([str(build()), "fabric", "-peer", peer, "-tls-ca", str(tls_ca), "-identities", str(members),
                           "-channel", channel, "-chaincode", chaincode, "-c", str(concurrency), "-n", str(count),
                           "-duration", f"{seconds}s"], input=lines, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"loadgen fabric failed: {done.stderr.strip()}")
    return json.loads(done.stdout)
