"""Who the suite's load comes from, made on the running network: a developer with one published service (price 1),
REST buyers (custodial users of org1's gateway, by their API tokens) and client buyers (identities enrolled here at
org1's CA, each registered on chain as a user by itself), every buyer with enough SToken."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization

from fabric_ca import CAClient
from fabric_gateway import EcdsaSigner, Identity
from fabric_gateway.aio import Connection, Gateway
from tdses.fabric.nodes import ca_name
from tdses.local.network import Network
from tdses.retry import RetryPolicy

PRICE = 1
FUNDED = 500  # SToken each buyer holds at least (a full run spends < 100 each); the registration grant halves as
# the network's registrations grow, so later buyers get less
REGISTRATION = RetryPolicy(attempts=10)


@dataclass
class ClientBuyer:
    name: str
    identity: Identity
    signer: EcdsaSigner
    key_pem: str

    def member(self) -> dict:
        """As loadgen fabric reads it from -identities."""
        return {"mspId": self.identity.msp_id, "certificate": self.identity.certificate.decode(),
                "privateKey": self.key_pem}


@dataclass
class Actors:
    service: str
    developer_token: str
    rest_buyers: list[tuple[str, str]]  # (name, API token)
    client_buyers: list[ClientBuyer]

    def write_members(self, path: Path) -> Path:
        path.write_text(json.dumps([b.member() for b in self.client_buyers]))
        path.chmod(0o600)
        return path


class Admin:
    """org1's REST gateway as its organization admin: users, transfers, balances (429s waited out; a 503, e.g.
    registrations that kept conflicting on the grant pool, tried again)."""

    def __init__(self, url: str, token: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {token}"})

    def call(self, method: str, path: str, **kwargs) -> dict:
        for _ in range(30):
            answer = self.http.request(method, path, **kwargs)
            if answer.status_code not in (409, 429, 503):  # 409: transfers conflicting on the org's account
                answer.raise_for_status()
                return answer.json()
            time.sleep(float(answer.headers.get("Retry-After", "1")))
        raise RuntimeError(f"{method} {path}: still rate-limited")

    def create_user(self, name: str) -> str:
        return self.call("POST", "/v1/users", json={"name": name})["token"]

    def fund(self, name: str) -> None:
        balance = self.call("GET", f"/v1/balances/{name}")["balance"]
        if balance < FUNDED:
            self.call("POST", "/v1/transfers", json={"to": name, "amount": FUNDED - balance})


def load_or_create(network: Network, url: str, admin_token: str, tag: str, rest_buyers: int, client_buyers: int,
                   log) -> Actors:
    """The buyers of an earlier run on this network (kept in its state directory) when there are enough, else new
    ones; either way every buyer is funded."""
    saved = network.state.root / "bench" / "actors.json"
    admin = Admin(url, admin_token)
    actors = load(saved)
    if (actors is None or len(actors.rest_buyers) < rest_buyers or len(actors.client_buyers) < client_buyers
            or admin.http.get(f"/v1/services/{actors.service}").status_code != 200):
        actors = create(network, admin, tag, rest_buyers, client_buyers, log)
        save(actors, saved)
    else:
        log(f"reusing the buyers of an earlier run ({saved}), service {actors.service}")
        actors = Actors(actors.service, actors.developer_token, actors.rest_buyers[:rest_buyers],
                        actors.client_buyers[:client_buyers])
    with ThreadPoolExecutor(4) as pool:  # reads mostly: a transfer only for a buyer below FUNDED
        list(pool.map(admin.fund, [n for n, _ in actors.rest_buyers] + [b.name for b in actors.client_buyers]))
    log(f"every buyer holds at least {FUNDED} SToken")
    return actors


def save(actors: Actors, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps({"service": actors.service, "developerToken": actors.developer_token,
                                "restBuyers": actors.rest_buyers,
                                "clientBuyers": [{"name": b.name, **b.member()} for b in actors.client_buyers]}))


def load(path: Path) -> Actors | None:
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    buyers = [ClientBuyer(b["name"], Identity(b["mspId"], b["certificate"].encode()),
                          EcdsaSigner.from_pem(b["privateKey"]), b["privateKey"]) for b in saved["clientBuyers"]]
    return Actors(saved["service"], saved["developerToken"], [tuple(b) for b in saved["restBuyers"]], buyers)


def create(network: Network, admin: Admin, tag: str, rest_buyers: int, client_buyers: int, log) -> Actors:
    url = str(admin.http.base_url).rstrip("/")
    developer = f"bench-{tag}-dev"
    developer_token = admin.create_user(developer)
    service = f"bench-{tag}"
    as_developer = httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {developer_token}"})
    as_developer.post("/v1/services", json={"name": service, "category": "bench", "url": "https://bench.example",
                                            "price": PRICE}).raise_for_status()
    as_developer.post(f"/v1/services/{service}/publish").raise_for_status()
    log(f"developer {developer}, service {service} (price {PRICE})")

    names = [f"bench-{tag}-r{i}" for i in range(rest_buyers)]
    with ThreadPoolExecutor(8) as pool:
        tokens = list(pool.map(admin.create_user, names))
    log(f"{rest_buyers} REST buyers created")
    buyers = enroll(network, [f"bench-{tag}-c{i}" for i in range(client_buyers)])
    asyncio.run(register(network, buyers))
    log(f"{client_buyers} client identities enrolled at org1's CA and registered on chain")
    return Actors(service, developer_token, list(zip(names, tokens)), buyers)


def enroll(network: Network, names: list[str]) -> list[ClientBuyer]:
    org = network.topology.org("org1")
    with CAClient(f"https://{org.ca.address}", tls_root_certs=network.state.tls_ca_cert(org).read_bytes(),
                  ca_name=ca_name(org.ca)) as ca:
        registrar = ca.enroll("admin", network.state.registrar_secret(org).read_text().strip())

        def one(name: str) -> ClientBuyer:
            key, certificate = ca.enroll(name, ca.register(registrar, name, type="client"))
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
            return ClientBuyer(name, Identity(org.msp_id, certificate), EcdsaSigner(key), pem)

        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(one, names))


async def register(network: Network, buyers: list[ClientBuyer], concurrency: int = 16) -> None:
    """Each identity registers its own user (RegisterUser binds the user to the caller's enrollment), under the
    project's retry policy: endorsers a block apart disagree, registrations conflict on a grant pool's shard."""
    org = network.topology.org("org1")
    connection = Connection(org.peers[0].address, network.state.tls_ca_cert(org).read_bytes())
    slots = asyncio.Semaphore(concurrency)
    t = network.topology

    async def one(buyer: ClientBuyer) -> None:
        async with slots:
            channel = Gateway.connect(connection, identity=buyer.identity, signer=buyer.signer).get_network(t.channel)
            await REGISTRATION.submit(channel.get_contract(t.chaincode_name), "RegisterUser", buyer.name,
                                      "benchmark buyer", network=channel)

    try:
        await asyncio.gather(*(one(b) for b in buyers))
    finally:
        await connection.close()
