"""Benchmark: how long `tdses network up` takes (cold and warm) and how much memory the network holds at idle.

    .venv/bin/python tests/benchmarks/network_up.py [--topology default] [--runs 1]

Cold: a new state directory (crypto, channel, chaincode deployment, SToken Init). Warm: `up` after `down`
on the same state directory (the ledger is resumed). Uses a temporary state directory on free ports and
removes it afterwards. Prints one line per figure.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tdses.local.network import clean, init_state
from tdses.local.processes import running_pid

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.ports import free_base_port  # noqa: E402


def rss_mib(network) -> float:
    total_kib = 0
    for node in network.topology.nodes:
        pid = running_pid(network.state.pid_file(node))
        if pid is None:
            continue
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total_kib += int(line.split()[1])
    return total_kib / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topology", default="default")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()

    cold, warm, memory = [], [], []
    for run in range(1, args.runs + 1):
        state_dir = Path(tempfile.mkdtemp(prefix="tdses-bench-")) / "network"
        try:
            network = init_state(state_dir, args.topology, free_base_port(args.topology))
            print(f"run {run}/{args.runs}: cold up of {args.topology} …", file=sys.stderr, flush=True)
            started = time.perf_counter()
            network.up(out=io.StringIO())
            cold.append(time.perf_counter() - started)
            time.sleep(5)  # let start-up work settle before measuring idle memory
            memory.append(rss_mib(network))
            network.down(quiet=True)
            print(f"run {run}/{args.runs}: warm up …", file=sys.stderr, flush=True)
            started = time.perf_counter()
            network.up(out=io.StringIO())
            warm.append(time.perf_counter() - started)
        finally:
            clean(state_dir)
            state_dir.parent.rmdir()

    nodes = len(network.topology.nodes)
    print(f"topology {args.topology}: {nodes} processes, {args.runs} run(s)")
    print(f"cold up: median {statistics.median(cold):.1f} s (min {min(cold):.1f}, max {max(cold):.1f})")
    print(f"warm up: median {statistics.median(warm):.1f} s (min {min(warm):.1f}, max {max(warm):.1f})")
    print(f"resident memory at idle, all processes: median {statistics.median(memory):.0f} MiB")


if __name__ == "__main__":
    main()
