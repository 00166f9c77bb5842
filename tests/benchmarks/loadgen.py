"""The Go load generator (tests/benchmarks/loadgen), built once per source version into the cache, and run.

    summary = run("http://127.0.0.1:7070", [{"path": "/v1/services/x", "token": t}], concurrency=64, count=20000)
    summary["throughput"], summary["p50"], summary["failures"]      # see loadgen/summary.go

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
                           "-duration", f"{seconds}s"], input=lines, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)
