"""Metered calls: verified calls per second, the latency the voucher check adds to a trivial server, and chaincode
transactions per 1,000 calls — through the ASGI middleware and through the `tdses meter` proxy, against the same
server alone. Needs a running network (`make run`) and wrk (installed from Debian when missing).

    .venv/bin/python tests/benchmarks/metering.py --url http://127.0.0.1:7070 \
        --admin-token-file .state/network/secrets/org1-gateway-admin-token [--duration 10] [--connections 32] \
        [--plot docs/metering.png]

Latency is measured with one connection (each request waits for the one before), throughput with --connections.
Each request carries a fresh voucher, signed beforehand by a user who holds its own key.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from httpx_sse import connect_sse

from fabric_ca import new_csr, new_key
from fabric_gateway.signing import to_low_s
from tdses.metering.client import VoucherSigner

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
from tests.support.ports import free_port  # noqa: E402

CALLS_BOUGHT = 1_000_000

# wrk: each thread takes every n-th voucher of the file; done() prints one machine-readable line.
WRK_SCRIPT = """
local counter, threads = 0, {}
function setup(thread) thread:set("id", counter); counter = counter + 1; table.insert(threads, thread) end
function init(args)
  vouchers, i, n, next = {}, 0, tonumber(args[2]), 0
  if args[1] ~= "" then
    for line in io.lines(args[1]) do
      if i % n == id then vouchers[#vouchers + 1] = line end
      i = i + 1
    end
  end
end
function request()
  next = next + 1
  local v = vouchers[next]
  if v == nil then return wrk.format("GET", "/ping") end
  return wrk.format("GET", "/ping", {["TDSES-Voucher"] = v})
end
function response(status, headers, body)
  if status ~= 200 and refusal == nil then refusal = status .. " " .. body end
end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    local why = thread:get("refusal")
    if why then io.write("REFUSED " .. why .. "\\n") end
  end
  io.write(string.format("RESULT %d %d %d %d %d\\n", summary.requests, summary.errors.status, summary.duration,
                         latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass
class Run:
    connections: int
    requests: int
    refused: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return (self.requests - self.refused) / self.seconds


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk from Debian ...", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, stdout=subprocess.DEVNULL)
    return shutil.which("wrk") or sys.exit("wrk did not install")


def sign_digest(key, digest_b64: str) -> str:
    der = key.sign(base64.b64decode(digest_b64), ec.ECDSA(Prehashed(hashes.SHA256())))
    return base64.b64encode(to_low_s(der)).decode()


def complete(http: httpx.Client, key, request: dict) -> dict:
    endorsed = http.post(request["signatureUrl"], json={"signature": sign_digest(key, request["digest"])})
    endorsed.raise_for_status()
    committed = http.post(request["signatureUrl"], json={"signature": sign_digest(key, endorsed.json()["digest"])})
    committed.raise_for_status()
    return committed


def setup_ledger(url: str, admin_token: str, tag: str) -> tuple[str, str, ec.EllipticCurvePrivateKey, list[str], int]:
    """A developer with two metered services (price 0), and a user with its own key who bought calls of both."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=120) as admin:
        dev = admin.post("/v1/users", json={"name": f"bench-dev-{tag}"})
        dev.raise_for_status()
        key, user = new_key(), f"bench-user-{tag}"
        created = admin.post("/v1/users", json={"name": user, "csr": new_csr(user, key).decode()})
        created.raise_for_status()
    dev_token = dev.json()["token"]
    services = [f"bench-mw-{tag}", f"bench-proxy-{tag}"]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {dev_token}"}, timeout=120) as http:
        for service in services:
            http.post("/v1/services", json={"name": service, "category": "bench", "url": "https://bench.example",
                                            "price": 0, "requireVouchers": True}).raise_for_status()
            http.post(f"/v1/services/{service}/publish").raise_for_status()
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {created.json()['token']}"},
                      timeout=120) as http:
        complete(http, key, created.json()["signatureRequest"])
        block = 0
        for service in services:
            bought = complete(http, key, http.post(f"/v1/services/{service}/rights",
                                                   json={"calls": CALLS_BOUGHT}).json())
            block = int(bought.headers["X-Block-Number"])
    return dev_token, user, key, services, block


def start(args: list[str], port: int, log: Path, env: dict | None = None) -> subprocess.Popen:
    process = subprocess.Popen(args, stdout=log.open("w"), stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            sys.exit(f"{args[0]} exited: {log.read_text()[-2000:]}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/ping", timeout=2)
            return process
        except httpx.TransportError:
            if time.monotonic() > deadline:
                sys.exit(f"nothing listens on {port}: {log.read_text()[-2000:]}")
            time.sleep(0.2)


def presign(path: Path, signer: VoucherSigner, count: int) -> Path:
    with path.open("w") as out:
        for n in range(1, count + 1):
            out.write(signer.sign("GET", "/ping", b"", n).text + "\n")
    return path


def wrk(binary: str, script: Path, port: int, vouchers: Path | None, threads: int, connections: int,
        seconds: float) -> Run:
    out = subprocess.run([binary, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script),
                          f"http://127.0.0.1:{port}/ping", "--", str(vouchers or ""), str(threads)],
                         check=True, capture_output=True, text=True).stdout
    for refusal in re.findall(r"^REFUSED (.*)$", out, re.M):
        print(f"  a refused call on port {port}: {refusal[:300]}")
    match = re.search(r"^RESULT (\d+) (\d+) (\d+) (\d+) (\d+)$", out, re.M)
    if match is None:
        sys.exit(f"wrk printed no result:\n{out}")
    requests, refused, micros, p50, p99 = map(int, match.groups())
    return Run(connections, requests, refused, micros / 1e6, p50 / 1000, p99 / 1000)


def settlement_transactions(url: str, token: str, block: int, services: list[str], expected: dict[str, int],
                            timeout: float = 120.0) -> dict[str, int]:
    """CallsSettled transactions per service from block on, once they account for the expected calls."""
    transactions, settled = dict.fromkeys(services, 0), dict.fromkeys(services, 0)
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                      timeout=httpx.Timeout(10, read=timeout)) as http:
        with connect_sse(http, "GET", "/v1/events", params={"start_block": block}) as source:
            for event in source.iter_sse():
                if event.event == "CallsSettled" and event.data:
                    payload = event.json()["payload"]
                    if payload["service"] in transactions and payload["settled"]:
                        transactions[payload["service"]] += 1
                        settled[payload["service"]] = max(s["used"] for s in payload["settled"])
                if settled == expected or time.monotonic() > deadline:
                    break
    if settled != expected:
        print(f"warning: settled {settled}, expected {expected}")
    return transactions


def plot(path: Path, rows: list[tuple[str, Run, Run]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [name for name, _, _ in rows]
    figure, (rate, latency) = plt.subplots(1, 2, figsize=(10, 3.6))
    bars = rate.bar(names, [loaded.rate for _, _, loaded in rows], color=["#999999", "#3b7dd8", "#e08a2c"])
    rate.bar_label(bars, fmt="%.0f")
    rate.set_title(f"served calls per second ({rows[0][2].connections} connections)")
    width = 0.38
    xs = range(len(names))
    p50 = latency.bar([x - width / 2 for x in xs], [one.p50_ms for _, one, _ in rows], width, label="p50")
    p99 = latency.bar([x + width / 2 for x in xs], [one.p99_ms for _, one, _ in rows], width, label="p99")
    latency.bar_label(p50, fmt="%.2f")
    latency.bar_label(p99, fmt="%.1f")
    latency.set_yscale("log")
    latency.set_xticks(list(xs), names)
    latency.set_title("latency of a call, one connection (ms, log scale)")
    latency.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    print(f"plot: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="an organization's REST gateway")
    parser.add_argument("--admin-token-file", type=Path, required=True)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of each throughput run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--plot", type=Path, help="write a PNG of the figures here")
    a = parser.parse_args()
    binary = ensure_wrk()
    tag = secrets.token_hex(3)
    admin_token = a.admin_token_file.read_text().strip()
    print("setting up: a developer, two metered services, a user with its own key ...", flush=True)
    dev_token, user, key, (mw_service, proxy_service), block = setup_ledger(a.url, admin_token, tag)

    work = Path(tempfile.mkdtemp(prefix="tdses-meter-bench-"))
    script = work / "vouchers.lua"
    script.write_text(WRK_SCRIPT)
    (work / "token").write_text(dev_token)
    os.chmod(work / "token", 0o600)
    ports = {"upstream": free_port(), "middleware": free_port(), "proxy": free_port()}
    uvicorn = [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "--log-level", "warning", "--no-access-log"]
    processes = {
        "upstream": start([*uvicorn, "metering_apps:upstream", "--port", str(ports["upstream"])], ports["upstream"],
                          work / "upstream.log"),
        "middleware": start([*uvicorn, "--factory", "metering_apps:metered", "--port", str(ports["middleware"])],
                            ports["middleware"], work / "middleware.log",
                            {"TDSES_METER_SERVICE": mw_service, "TDSES_METER_GATEWAY": a.url,
                             "TDSES_METER_TOKEN": dev_token, "TDSES_METER_JOURNAL": str(work / "mw.journal")}),
        "proxy": start([sys.executable, "-m", "tdses.cli", "meter", "--service", proxy_service, "--upstream",
                        f"http://127.0.0.1:{ports['upstream']}", "--gateway", a.url, "--token-file",
                        str(work / "token"), "--listen", f"127.0.0.1:{ports['proxy']}", "--journal",
                        str(work / "proxy.journal"), "--freshness", "300"], ports["proxy"], work / "proxy.log"),
    }
    try:
        # Enough vouchers for the latency run and the throughput run; unused ones are never settled.
        per_target = int(6000 * (a.duration + 5))
        print(f"signing {2 * per_target} vouchers ...", flush=True)
        files = {name: presign(work / f"{name}.vouchers", VoucherSigner(service, user, key), per_target)
                 for name, service in (("middleware", mw_service), ("proxy", proxy_service))}
        rows = []
        for name, label in (("upstream", "server alone"), ("middleware", "ASGI middleware"),
                            ("proxy", "tdses meter proxy")):
            print(f"measuring {label} ...", flush=True)
            one = wrk(binary, script, ports[name], files.get(name), 1, 1, 5)
            # The latency run used the first vouchers; the loaded run takes the rest.
            rest = None
            if name in files:
                rest = work / f"{name}.rest"
                lines = files[name].read_text().splitlines()[one.requests + 1:]  # + the one in flight at the end
                rest.write_text("\n".join(lines) + "\n")
            loaded = wrk(binary, script, ports[name], rest, 2, a.connections, a.duration)
            rows.append((label, one, loaded))
        for name in ("middleware", "proxy"):  # SIGTERM: each settles what it accepted, then exits
            processes[name].send_signal(signal.SIGTERM)
            processes[name].wait(timeout=120)
        # Per service: the calls the meter accepted, and the count it settled (the highest it accepted; above the
        # number accepted when wrk's threads, each taking every other voucher, stopped at uneven places).
        served, settled = {}, {}
        for name, service in (("middleware", mw_service), ("proxy", proxy_service)):
            with sqlite3.connect(work / f"{'mw' if name == 'middleware' else 'proxy'}.journal") as journal:
                served[service] = journal.execute("SELECT count(*) FROM accepted").fetchone()[0]
                settled[service] = journal.execute("SELECT max(count) FROM settled").fetchone()[0]
        transactions = settlement_transactions(a.url, dev_token, block, [mw_service, proxy_service], settled)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)

    base = rows[0][1]
    print(f"\n{'':<20} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'+p50 ms':>8} {'+p99 ms':>8} {'refused':>8} "
          f"{'tx/1000 calls':>14}")
    for (label, one, loaded), service in zip(rows, (None, mw_service, proxy_service)):
        tx = f"{1000 * transactions[service] / served[service]:.3f}" if service else "-"
        added = (f"{one.p50_ms - base.p50_ms:8.3f} {one.p99_ms - base.p99_ms:8.3f}" if service
                 else f"{'-':>8} {'-':>8}")
        print(f"{label:<20} {loaded.rate:9.0f} {one.p50_ms:8.3f} {one.p99_ms:8.3f} {added} "
              f"{one.refused + loaded.refused:8d} {tx:>14}")
    print(f"\n{a.connections} connections for {a.duration:g} s (2 wrk threads); latency: 1 connection for 5 s; "
          f"accepted: {served[mw_service]} + {served[proxy_service]} calls, settled in "
          f"{transactions[mw_service]} + {transactions[proxy_service]} transactions")
    if a.plot:
        plot(a.plot, rows)


if __name__ == "__main__":
    main()
