"""REST latency and throughput of a running gateway, for a query and for a purchase (bounded in count and time).

    .venv/bin/python tests/benchmarks/rest_latency.py --url http://127.0.0.1:PORT \
        --admin-token-file .state/network/secrets/org1-gateway-admin-token [--requests 200] [--concurrency 8]

It creates a developer with a published service (price 1) and --users buyers with the admin token, then times
GET /v1/services/{name} (a query: one evaluate) and POST /v1/services/{name}/rights {"calls": 1} (a purchase:
endorse, order, commit) at the given concurrency, and prints p50/p99 latency and throughput for each.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def measure(label: str, request, count: int, concurrency: int, time_limit: float) -> dict | None:
    """Time `count` calls of request(i) (bounded by time_limit); 429s are counted apart, not timed. Prints a line
    and returns its figures (seconds, requests/s), or None when no request finished."""
    deadline = time.monotonic() + time_limit
    latencies: list[float] = []
    failures: Counter[int] = Counter()
    limited = 0

    def one(i: int) -> tuple[float, int] | None:
        if time.monotonic() > deadline:
            return None
        started = time.perf_counter()
        status = request(i).status_code
        return time.perf_counter() - started, status

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for outcome in pool.map(one, range(count)):
            if outcome is None:
                continue
            if outcome[1] == 429:
                limited += 1
                continue
            latencies.append(outcome[0])
            if outcome[1] >= 300:
                failures[outcome[1]] += 1
    elapsed = time.perf_counter() - started
    if not latencies:
        print(f"{label}: no request finished within {time_limit:.0f}s")
        return None
    figures = {"n": len(latencies), "failures": sum(failures.values()), "p50": percentile(latencies, 50),
               "p99": percentile(latencies, 99), "throughput": len(latencies) / elapsed}
    by_status = ",".join(f"{status}:{n}" for status, n in sorted(failures.items())) or "0"
    print(f"{label:<9} n={len(latencies):<5} failures={by_status:<3} p50={figures['p50'] * 1000:7.1f} ms  "
          f"p99={figures['p99'] * 1000:7.1f} ms  mean={statistics.mean(latencies) * 1000:7.1f} ms  "
          f"throughput={figures['throughput']:6.1f} req/s  (concurrency {concurrency}, rate-limited {limited})",
          flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="the gateway, e.g. http://127.0.0.1:7077")
    p.add_argument("--admin-token-file", type=Path, required=True)
    p.add_argument("--requests", type=int, default=200, help="requests per measurement (at most)")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--users", type=int, default=None,
                   help="buyers to spread the load over (default: the concurrency, at least 16): each buyer's "
                        "purchases in flight conflict with one another, and the gateway rate-limits each token")
    p.add_argument("--time-limit", type=float, default=60.0, help="seconds per measurement (at most)")
    a = p.parse_args(argv)
    a.users = a.users or max(16, a.concurrency)

    admin = httpx.Client(base_url=a.url, timeout=60,
                         headers={"Authorization": f"Bearer {a.admin_token_file.read_text().strip()}"})
    tag = secrets.token_hex(3)

    def user(name: str) -> httpx.Client:
        created = admin.post("/v1/users", json={"name": name})
        created.raise_for_status()
        limits = httpx.Limits(max_connections=a.concurrency)
        return httpx.Client(base_url=a.url, timeout=60, limits=limits,
                            headers={"Authorization": f"Bearer {created.json()['token']}"})

    developer = user(f"bench-dev-{tag}")
    buyers = [user(f"bench-buyer-{tag}-{i}") for i in range(a.users)]
    service = f"bench-{tag}"
    developer.post("/v1/services", json={"name": service, "category": "bench", "url": "https://bench.example",
                                         "price": 1}).raise_for_status()
    developer.post(f"/v1/services/{service}/publish").raise_for_status()

    print(f"gateway {a.url}, service {service}")
    measure("query", lambda i: buyers[i % a.users].get(f"/v1/services/{service}"),
            a.requests, a.concurrency, a.time_limit)
    measure("purchase", lambda i: buyers[i % a.users].post(f"/v1/services/{service}/rights", json={"calls": 1}),
            a.requests, a.concurrency, a.time_limit)
    usage = developer.get(f"/v1/services/{service}/rights").json()
    print(f"calls bought on chain: {usage['callsBought']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
