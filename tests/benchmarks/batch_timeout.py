"""The orderers' batch timeout, measured: networks of the default topology that differ only in
orderer_org.batch_timeout_ms, started side by side, and REST purchases of one call (until committed) on each, at
concurrency 1 (a lone purchase's latency) and 128 (throughput), the networks taking turns so that each phase of
each network sees the same machine.

    .venv/bin/python tests/benchmarks/batch_timeout.py [--timeouts 500,100] [--seconds 30] [--rounds 2]

Prints one line per phase and a summary per timeout (medians over the rounds). Starts its networks on free
loopback ports in a temporary directory and removes them at the end (about 30 s per network to start).
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import yaml

from tdses.fabric.topology import TOPOLOGY_DIR
from tdses.local.network import Network

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.benchmarks import loadgen  # noqa: E402
from tests.support.ports import free_base_port  # noqa: E402

TDSES = str(Path(sys.executable).with_name("tdses"))
PHASES = ((1, 50), (128, 10**6))  # (concurrency, requests at most)
BUYERS = 128


def start(timeout_ms: int, scratch: Path) -> tuple[Path, str]:
    """A default network whose orderers cut a block after `timeout_ms`; its state directory and org1's URL."""
    spec = yaml.safe_load((TOPOLOGY_DIR / "default.yaml").read_text())
    spec["orderer_org"]["batch_timeout_ms"] = timeout_ms
    topology = scratch / f"batch-{timeout_ms}ms.yaml"
    topology.write_text(yaml.safe_dump(spec))
    state = scratch / f"net-{timeout_ms}"
    print(f"starting a network with a {timeout_ms} ms batch timeout …", file=sys.stderr, flush=True)
    subprocess.run([TDSES, "network", "up", "--state-dir", str(state), "--topology", str(topology),
                    "--base-port", str(free_base_port())], check=True, stdout=subprocess.DEVNULL)
    return state, f"http://127.0.0.1:{Network.open(state).topology.org('org1').gateway.ports.listen}"


def purchases(url: str, state: Path) -> list[dict]:
    """A developer with a published service (price 1) and BUYERS buyers; one purchase request per buyer."""
    token = (state / "secrets" / "org1-gateway-admin-token").read_text().strip()
    tag = secrets.token_hex(3)
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as admin:
        def user(name: str) -> str:
            created = admin.post("/v1/users", json={"name": name})
            created.raise_for_status()
            return created.json()["token"]

        developer = {"Authorization": f"Bearer {user(f'dev-{tag}')}"}
        service = f"batch-{tag}"
        httpx.post(f"{url}/v1/services", headers=developer, timeout=60, json={
            "name": service, "category": "bench", "url": "https://bench.example", "price": 1}).raise_for_status()
        httpx.post(f"{url}/v1/services/{service}/publish", headers=developer, timeout=60).raise_for_status()
        with ThreadPoolExecutor(8) as pool:
            buyers = list(pool.map(user, [f"buyer-{tag}-{i}" for i in range(BUYERS)]))
    return [{"method": "POST", "path": f"/v1/services/{service}/rights", "token": t, "body": {"calls": 1}}
            for t in buyers]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--timeouts", default="500,100", help="batch timeouts in ms, comma-separated (1–10000 each)")
    p.add_argument("--seconds", type=float, default=30.0, help="seconds per phase (at most)")
    p.add_argument("--rounds", type=int, default=2, help="times each network runs both phases")
    a = p.parse_args(argv)
    timeouts = [int(t) for t in a.timeouts.split(",")]
    if not all(1 <= t <= 10_000 for t in timeouts) or not 1 <= a.seconds <= 600 or not 1 <= a.rounds <= 10:
        p.error("--timeouts 1..10000 each, --seconds 1..600, --rounds 1..10")

    figures: dict[tuple[int, int], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="tdses-batch-") as scratch:
        networks = []
        try:
            for timeout_ms in timeouts:
                state, url = start(timeout_ms, Path(scratch))
                networks.append((timeout_ms, state, url))
            loads = {timeout_ms: purchases(url, state) for timeout_ms, state, url in networks}
            for round_ in range(1, a.rounds + 1):
                for timeout_ms, _, url in networks:
                    for concurrency, count in PHASES:
                        s = loadgen.run(url, loads[timeout_ms], concurrency, count, a.seconds)
                        figures.setdefault((timeout_ms, concurrency), []).append(s)
                        print(f"round {round_}  {timeout_ms:>5} ms  c={concurrency:<4} ok={s['ok']:<5} "
                              f"{s['throughput']:6.1f} tx/s  p50 {s['p50'] * 1000:7.1f} ms  "
                              f"p99 {s['p99'] * 1000:7.1f} ms  failures {s['failures']}", flush=True)
        finally:
            for _, state, _ in networks:
                subprocess.run([TDSES, "network", "down", "--state-dir", str(state)], stdout=subprocess.DEVNULL)
    print("\nbatch timeout | c=1 p50 | c=1 p99 | c=128 tx/s (median of rounds)")
    for timeout_ms in timeouts:
        lone, loaded = figures[(timeout_ms, 1)], figures[(timeout_ms, 128)]
        print(f"{timeout_ms:>10} ms | {statistics.median(s['p50'] for s in lone) * 1000:5.0f} ms | "
              f"{statistics.median(s['p99'] for s in lone) * 1000:5.0f} ms | "
              f"{statistics.median(s['throughput'] for s in loaded):6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
