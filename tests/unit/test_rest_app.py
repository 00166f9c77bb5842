"""The gateway app without a network: authentication, acting only as oneself, idempotency, limits, errors."""

from __future__ import annotations

import asyncio
import base64
import datetime
import os

import fastapi.routing
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fabric_gateway.commit import Status
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2, transaction_pb2
from fastapi import APIRouter
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from sqlalchemy import text
from starlette.routing import Route

from tdses.chaincode import Fn
from tdses.rest.api.deps import ChaincodeDep, PrincipalDep
from tdses.rest.api.lean import lean, lean_routes
from tdses.rest.api.routes.events import Audience
from tdses.rest.config import CASettings, PeerSettings, Settings
from tdses.rest.main import app
from tdses.rest.middleware.idempotency import IdempotencyMiddleware
from tdses.rest.models import responses as out
from tdses.rest.problems import Problem
from tdses.rest.services import visibility
from tdses.rest.services.keystore import KeyBox
from tdses.rest.services.ledger import Submitted
from tdses.rest.services.principal import Principal
from tdses.rest.services.tokens import new_token, token_hash
from tdses.rest.store import ACTIVE, PENDING, Store, UserRecord
from tests.support.gateways import secret_file


def certificate(name: str, key: ec.EllipticCurvePrivateKey) -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def gateway(tmp_path):
    return build_gateway(tmp_path)


def build_gateway(tmp_path, **settings):
    """A gateway whose peers and CA do not exist: enough for everything that must fail before the ledger."""
    key = ec.generate_private_key(ec.SECP256R1())
    msp = tmp_path / "msp"
    (msp / "signcerts").mkdir(parents=True)
    (msp / "keystore").mkdir()
    (msp / "signcerts" / "cert.pem").write_bytes(certificate("Admin@org1", key))
    (msp / "keystore" / "priv_sk").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    tls = tmp_path / "tlsca.pem"
    tls.write_bytes(certificate("tlsca", key))
    kek = os.urandom(32)
    settings = Settings(
        org="org1", msp_id="Org1MSP", channel="tdses", chaincode="tdses", listen="127.0.0.1:1",
        peers=[PeerSettings(address="127.0.0.1:1", tls_ca_file=tls)],
        ca=CASettings(url="https://127.0.0.1:1", name="ca-org1", tls_ca_file=tls,
                      registrar_secret_file=secret_file(tmp_path / "registrar", "pw")),
        admin_msp_dir=msp, admin_token_file=secret_file(tmp_path / "admin", "admin-token"),
        key_encryption_key_file=secret_file(tmp_path / "kek", base64.b64encode(kek).decode()),
        store=tmp_path / "gateway.db", max_body_bytes=2048, connect_timeout=0.2, **settings,
    )
    application = app(settings)
    store: Store = application.state.context.store
    tokens = {}
    for name in ("alice", "bob"):
        user_key = ec.generate_private_key(ec.SECP256R1())
        tokens[name] = new_token()
        store.add_user(UserRecord(name, token_hash(tokens[name]), certificate(name, user_key),
                                  KeyBox(kek).seal(name, user_key), custodial=True, state=ACTIVE))
    return application, tokens


def client(application, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://gw", headers=headers)


async def test_requests_without_a_valid_token_get_401_problems(gateway):
    application, _ = gateway
    for token in (None, "not-a-token"):
        async with client(application, token) as http:
            response = await http.post("/v1/users/alice/token")
            assert response.status_code == 401
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["code"] == "UNAUTHENTICATED"
    async with client(application) as http:
        response = await http.get("/v1/token", headers={"Authorization": "Basic YWxpY2U6cHc="})
        assert response.status_code == 401


async def test_a_user_rotates_only_its_own_token_and_the_old_one_dies(gateway):
    application, tokens = gateway
    async with client(application, tokens["alice"]) as alice:
        assert (await alice.post("/v1/users/bob/token")).status_code == 403
        rotated = await alice.post("/v1/users/alice/token")
        assert rotated.status_code == 200
        assert (await alice.post("/v1/users/alice/token")).status_code == 401
    async with client(application, rotated.json()["token"]) as alice:
        assert (await alice.post("/v1/users/alice/token")).status_code == 200
    async with client(application, tokens["bob"]) as bob:
        assert (await bob.post("/v1/users", json={"name": "carol"})).status_code == 403  # only the admin creates


async def test_the_admin_resets_the_token_of_a_user_who_lost_it(gateway):
    application, tokens = gateway
    async with client(application, "admin-token") as admin:
        reset = await admin.post("/v1/users/bob/token")
        assert reset.status_code == 200
        assert (await admin.post("/v1/users/nobody/token")).status_code == 404
    async with client(application, tokens["bob"]) as old:
        assert (await old.get("/v1/users/me")).status_code == 401
    async with client(application, reset.json()["token"]) as bob:
        assert (await bob.post("/v1/users/bob/token")).status_code == 200  # the new token is bob's


async def test_a_token_is_looked_up_once_per_request(gateway, monkeypatch):
    """The idempotency middleware and the route share one authentication of the token."""
    application, tokens = gateway
    store: Store = application.state.context.store
    lookups = []
    original = store.user_by_token
    monkeypatch.setattr(store, "user_by_token", lambda hashed: lookups.append(hashed) or original(hashed))
    async with client(application, tokens["alice"]) as alice:
        rotated = await alice.post("/v1/users/alice/token", headers={"Idempotency-Key": "rotate-once"})
    assert rotated.status_code == 200
    assert lookups == [token_hash(tokens["alice"])]


def test_each_principal_acts_on_its_own_network_built_once(gateway):
    application, _ = gateway
    context = application.state.context
    principals = [context.principals.of(context.store.user(name)) for name in ("alice", "bob")]
    principals.append(context.ledger.admin)
    networks = [context.ledger.network(p) for p in principals]
    assert context.ledger.network(context.principals.of(context.store.user("alice"))) is networks[0]
    assert len({id(n) for n in networks}) == 3
    for principal, network in zip(principals, networks):
        signed = network.get_contract("tdses").new_proposal("Ping").evaluate_request().proposed_transaction
        header = common_pb2.Header.FromString(proposal_pb2.Proposal.FromString(signed.proposal_bytes).header)
        assert common_pb2.SignatureHeader.FromString(header.signature_header).creator == principal.identity.creator()


async def test_stored_keys_are_sealed_and_new_tokens_never_stored(gateway, tmp_path):
    application, tokens = gateway
    async with client(application, tokens["bob"]) as bob:
        rotated = await bob.post("/v1/users/bob/token", headers={"Idempotency-Key": "rotate-1"})
        assert rotated.status_code == 200 and "idempotent-replayed" not in rotated.headers
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("gateway.db*"))  # with the write-ahead log
    assert b"PRIVATE KEY" not in raw
    assert tokens["alice"].encode() not in raw and token_hash(tokens["alice"]).encode() in raw
    assert rotated.json()["token"].encode() not in raw


async def test_invalid_input_is_refused_before_any_peer_is_asked(gateway):
    application, tokens = gateway
    async with client(application, tokens["alice"]) as alice:
        bad = await alice.post("/v1/services/weather/rights", content=b"{", headers={"content-type": "application/json"})
        assert bad.status_code == 400 and bad.json()["code"] == "MALFORMED_JSON"
        for path, twice in (("/v1/services/weather/rights", b'{"calls": 1, "calls": 1000}'),  # a lean route
                            ("/v1/transfers", b'{"to": "bob", "amount": 1, "amount": 900}'),  # the router
                            ("/v1/transfers", b'{"to": "bob", "amount": 1, "memo": [{"a": 1, "a": 2}]}')):
            refused = await alice.post(path, content=twice, headers={"content-type": "application/json"})
            assert refused.status_code == 400 and refused.json()["code"] == "MALFORMED_JSON", twice
            assert "twice" in refused.json()["detail"]
        for body in ({"calls": 0}, {"calls": "1"}, {"calls": 1, "more": True}, {"calls": 2**70}):
            response = await alice.post("/v1/services/weather/rights", json=body)
            assert response.status_code == 422, body
            assert all("input" not in e for e in response.json()["errors"])  # the input is not echoed back
        big = await alice.post("/v1/services", content=b"x" * 5000, headers={"content-type": "application/json"})
        assert big.status_code == 413

        async def chunks():  # no Content-Length: the body is streamed in and grows past the limit
            for _ in range(5):
                yield b"x" * 1000

        chunked = await alice.post("/v1/services", content=chunks(), headers={"content-type": "application/json"})
        assert chunked.status_code == 413 and chunked.json()["code"] == "BODY_TOO_LARGE"
        assert (await alice.get("/v1/services/a%00b")).status_code == 422
        missing = await alice.get("/v1/nothing-here")
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


async def test_an_unreachable_network_is_a_503_not_a_500(gateway):
    application, tokens = gateway
    async with client(application, tokens["alice"]) as alice:
        response = await alice.get("/v1/token")
        assert response.status_code == 503 and response.headers["retry-after"]
        assert (await alice.get("/readyz")).status_code == 503
        assert (await alice.get("/healthz")).status_code == 200
        metrics = await alice.get("/metrics")
        assert 'tdses_gateway_requests_total{method="GET",route="/v1/token",status="503"}' in metrics.text


def idempotent_app(tmp_path):
    calls = []

    async def buy(request):
        calls.append(await request.json())
        status = calls[-1].get("fail", 200)
        headers = {"X-Transaction-Id": f"tx{len(calls)}", "X-Block-Number": str(40 + len(calls))}
        if "retry_after" in calls[-1]:
            headers["Retry-After"] = calls[-1]["retry_after"]
        return JSONResponse({"n": len(calls)}, status_code=status, headers=headers)

    owners = {"t-alice": "alice", "t-bob": "bob"}
    application = IdempotencyMiddleware(Starlette(routes=[Route("/buy", buy, methods=["POST"])]),
                                        Store(tmp_path / "i.db"), ttl=60,
                                        owner_of=lambda scope, token: owners.get(token))
    return application, calls


async def test_a_retry_with_the_same_idempotency_key_runs_once(tmp_path):
    application, calls = idempotent_app(tmp_path)
    async with client(application, "t-alice") as alice:
        key = {"Idempotency-Key": "k1"}
        first = await alice.post("/buy", json={"calls": 5}, headers=key)
        again = await alice.post("/buy", json={"calls": 5}, headers=key)
        assert len(calls) == 1 and again.json() == first.json() == {"n": 1}
        assert again.headers["idempotent-replayed"] == "true" and again.headers["x-transaction-id"] == "tx1"
        assert again.headers["x-block-number"] == "41"  # for X-Min-Block on another gateway
        reused = await alice.post("/buy", json={"calls": 6}, headers=key)
        assert reused.status_code == 422 and len(calls) == 1
        await alice.post("/buy", json={"calls": 5})
        await alice.post("/buy", json={"calls": 5})
        assert len(calls) == 3  # without a key every request runs
        bad = await alice.post("/buy", json={}, headers={"Idempotency-Key": "sp ace"})
        assert bad.status_code == 400
    async with client(application, "t-bob") as bob:
        await bob.post("/buy", json={"calls": 5}, headers={"Idempotency-Key": "k1"})
        assert len(calls) == 4  # keys are per user


@pytest.mark.parametrize("answer", [{"fail": 502}, {"fail": 503}, {"fail": 504}, {"fail": 429},
                                    {"fail": 409, "retry_after": "1"}])
async def test_answers_that_are_not_final_are_not_kept_so_a_retry_runs_again(tmp_path, answer):
    """A 504 too: its transaction may have been lost with an orderer, and only running again can tell. A 409 that
    says when to try again (a conflict that outlived the gateway's retries) is not final either."""
    application, calls = idempotent_app(tmp_path)
    async with client(application, "t-alice") as alice:
        key = {"Idempotency-Key": "k2"}
        assert (await alice.post("/buy", json=answer, headers=key)).status_code == answer["fail"]
        again = await alice.post("/buy", json=answer, headers=key)
        assert again.status_code == answer["fail"] and "idempotent-replayed" not in again.headers
        assert len(calls) == 2


async def test_a_final_refusal_is_kept(tmp_path):
    application, calls = idempotent_app(tmp_path)
    async with client(application, "t-alice") as alice:
        key = {"Idempotency-Key": "k4"}
        assert (await alice.post("/buy", json={"fail": 409}, headers=key)).status_code == 409
        again = await alice.post("/buy", json={"fail": 409}, headers=key)
        assert again.status_code == 409 and again.headers["idempotent-replayed"] == "true"
        assert len(calls) == 1


async def test_answers_carrying_a_secret_are_not_kept_under_an_idempotency_key(gateway):
    """An invitation is a secret, kept only as a hash: an idempotency record must not hold it in the clear."""
    application, tokens = gateway
    store: Store = application.state.context.store
    async with client(application, "admin-token") as admin:
        invited = await admin.post("/v1/invitations", headers={"Idempotency-Key": "inv-1"})
        assert invited.status_code == 201
        again = await admin.post("/v1/invitations", headers={"Idempotency-Key": "inv-1"})
        assert again.status_code == 201 and again.json()["invitation"] != invited.json()["invitation"]
    async with client(application, tokens["alice"]) as alice:
        rotated = await alice.post("/v1/users/alice/token", headers={"Idempotency-Key": "tok-1"})
        assert rotated.status_code == 200
    with store._engine.connect() as db:  # what a reader of the store's file or database sees
        kept = db.execute(text("SELECT body FROM idempotency")).scalars().all()
    assert kept == []


async def test_a_key_still_in_use_gets_409(tmp_path):
    application, calls = idempotent_app(tmp_path)
    store: Store = application.store
    store.claim_idempotency_key("alice", "k3", "other", ttl=60)
    async with client(application, "t-alice") as alice:
        response = await alice.post("/buy", json={}, headers={"Idempotency-Key": "k3"})
        assert response.status_code == 422 and not calls  # the reserved key was for another request


def answers_from_the_ledger(application, monkeypatch) -> list[tuple[str, tuple]]:
    """The ledger's reads answered here: what each function returns on chain, a 404 for user "ghost"."""
    asked = []

    async def evaluate(principal, function, *args):
        asked.append((function, args))
        if "ghost" in args:
            raise Problem(404, "NOT_FOUND", "user ghost does not exist")
        if function == Fn.GET_RIGHTS:
            return {"service": args[0], "user": args[1], "bought": 5, "used": 2, "remaining": 3, "paid": 5,
                    "updatedAt": "2026-12-01T00:00:00Z"}
        if function == Fn.BALANCE_OF:
            return {"account": args[0], "balance": 7}
        assert function == Fn.TOKEN_INFO
        return {"cap": 100, "circulating": 60, "pool": 40, "nextGrant": 2}

    monkeypatch.setattr(application.state.context.ledger, "evaluate", evaluate)
    return asked


RIGHTS, BALANCE = "/v1/services/{name}/rights/{user}", "/v1/balances/{account}"
LEAN_READS = [("/v1/services/weather/rights/alice", RIGHTS), ("/v1/services/weather/rights/ghost", RIGHTS),
              ("/v1/balances/alice", BALANCE), ("/v1/balances/org:Org1MSP", BALANCE), ("/v1/token", "/v1/token")]


@pytest.mark.parametrize("path,template", LEAN_READS)
async def test_lean_reads_answer_exactly_as_the_router_would(gateway, monkeypatch, path, template):
    """A query string sends the same read through FastAPI's router: the two answers are the same, byte for byte, and
    only the second one solved dependencies."""
    application, tokens = gateway
    asked = answers_from_the_ledger(application, monkeypatch)
    solved = []
    original = fastapi.routing.solve_dependencies
    monkeypatch.setattr(fastapi.routing, "solve_dependencies", lambda **kw: solved.append(1) or original(**kw))
    async with client(application, tokens["alice"]) as alice:
        lean = await alice.get(path)
        assert solved == [] and len(asked) == 1
        routed = await alice.get(path, params={"via": "router"})
        assert solved and len(asked) == 2 and asked[0] == asked[1]
        metrics = (await alice.get("/metrics")).text
    assert lean.status_code == routed.status_code == (404 if "ghost" in path else 200)
    assert lean.content == routed.content
    assert lean.headers["content-type"] == routed.headers["content-type"]
    status = lean.status_code
    assert f'tdses_gateway_requests_total{{method="GET",route="{template}",status="{status}"}} 2.0' in metrics


async def test_what_is_not_a_plain_lean_read_is_answered_by_the_router(gateway, monkeypatch):
    application, tokens = gateway
    asked = answers_from_the_ledger(application, monkeypatch)
    async with client(application) as anonymous:
        assert (await anonymous.get("/v1/balances/alice")).status_code == 401
    async with client(application, "not-a-token") as stranger:
        unknown = await stranger.get("/v1/balances/alice")
        assert unknown.status_code == 401 and unknown.json()["code"] == "UNAUTHENTICATED"
    async with client(application, tokens["alice"]) as alice:
        invalid = await alice.get("/v1/services/weather/rights/no%20spaces")
        assert invalid.status_code == 422 and invalid.json()["code"] == "INVALID_ARGUMENT"
        assert (await alice.head("/v1/balances/alice")).status_code == 405
    assert asked == []


def submits_to_the_ledger(application, monkeypatch) -> list[tuple[str, tuple]]:
    """The ledger's writes committed here: a purchase's rights, a 409 for service "sold-out"."""
    submitted = []

    async def submit(principal, function, *args):
        submitted.append((principal.name, function, args))
        if "sold-out" in args:
            raise Problem(409, "INSUFFICIENT_BALANCE", "alice cannot pay for 2 calls")
        rights = {"service": args[0], "user": principal.name, "bought": int(args[1]), "used": 0,
                  "remaining": int(args[1]), "paid": 3 * int(args[1]), "updatedAt": "2026-12-01T00:00:00Z"}
        return Submitted(rights, f"tx{len(submitted)}", 40 + len(submitted))

    monkeypatch.setattr(application.state.context.ledger, "submit", submit)
    return submitted


@pytest.mark.parametrize("service", ["weather", "sold-out"])
async def test_lean_writes_answer_exactly_as_the_router_would(gateway, monkeypatch, service):
    application, tokens = gateway
    submitted = submits_to_the_ledger(application, monkeypatch)
    solved = []
    original = fastapi.routing.solve_dependencies
    monkeypatch.setattr(fastapi.routing, "solve_dependencies", lambda **kw: solved.append(1) or original(**kw))
    path = f"/v1/services/{service}/rights"
    async with client(application, tokens["alice"]) as alice:
        lean = await alice.post(path, json={"calls": 2, "maxPrice": 3})
        assert solved == [] and submitted == [("alice", Fn.BUY_CALLS, (service, "2", "3"))]
        routed = await alice.post(path, params={"via": "router"}, json={"calls": 2, "maxPrice": 3})
        assert solved and len(submitted) == 2 and submitted[0] == submitted[1]
    assert lean.status_code == routed.status_code == (409 if service == "sold-out" else 200)
    assert lean.json() == routed.json() and lean.headers["content-type"] == routed.headers["content-type"]
    if service == "weather":
        assert lean.json()["bought"] == 2
        assert (lean.headers["x-transaction-id"], lean.headers["x-block-number"]) == ("tx1", "41")
        assert (routed.headers["x-transaction-id"], routed.headers["x-block-number"]) == ("tx2", "42")


async def test_what_is_not_a_plain_lean_write_is_answered_by_the_router(gateway, monkeypatch):
    application, tokens = gateway
    submitted = submits_to_the_ledger(application, monkeypatch)
    path = "/v1/services/weather/rights"
    async with client(application, tokens["alice"]) as alice:
        invalid = await alice.post(path, json={"calls": 0})
        assert invalid.status_code == 422 and invalid.json()["code"] == "INVALID_ARGUMENT"
        assert (await alice.post(path, json={"calls": 1, "extra": 1})).status_code == 422
        malformed = await alice.post(path, content=b'{"calls": ', headers={"Content-Type": "application/json"})
        assert malformed.status_code == 400 and malformed.json()["code"] == "MALFORMED_JSON"
        for media_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
            other = await alice.post(path, content=b'{"calls": 1}', headers={"Content-Type": media_type})
            assert other.status_code == 415 and other.json()["code"] == "UNSUPPORTED_MEDIA_TYPE", media_type
        json_suffix = await alice.post(path, content=b'{"calls": 0}',
                                       headers={"Content-Type": "application/merge-patch+json"})
        assert json_suffix.status_code == 422  # read as JSON, then refused for its value
        assert (await alice.post("/v1/services/no%20spaces/rights", json={"calls": 1})).status_code == 422
    async with client(application, "admin-token") as admin:
        refused = await admin.post(path, json={"calls": 1})
        assert refused.status_code == 403 and refused.json()["code"] == "FORBIDDEN"
    async with client(application, "not-a-token") as stranger:
        assert (await stranger.post(path, json={"calls": 1})).status_code == 401
    assert submitted == []


async def test_a_non_custodial_write_read_by_the_lean_route_reaches_the_router_whole(gateway, monkeypatch):
    application, _ = gateway
    submitted = submits_to_the_ledger(application, monkeypatch)
    store: Store = application.state.context.store
    store.add_user(UserRecord("carol", token_hash("carol-token"), certificate("carol", ec.generate_private_key(
        ec.SECP256R1())), None, custodial=False, state=ACTIVE))
    async with client(application, "carol-token") as carol:
        response = await carol.post("/v1/services/weather/rights", json={"calls": 4})
    assert response.status_code == 202 and submitted == []  # a signature request, for the proposal of the body
    pending = store.pending(response.json()["transactionId"])
    proposed = gateway_pb2.ProposedTransaction.FromString(pending.proposal)
    proposal = proposal_pb2.Proposal.FromString(proposed.proposal.proposal_bytes)
    spec = proposal_pb2.ChaincodeProposalPayload.FromString(proposal.payload).input
    invocation = chaincode_pb2.ChaincodeInvocationSpec.FromString(spec)
    assert [bytes(a) for a in invocation.chaincode_spec.input.args] == [Fn.BUY_CALLS_AT_ANY_PRICE.encode(),
                                                                        b"weather", b"4"]


async def test_a_user_whose_registration_has_not_committed_is_not_yet_the_ledger_s_user_of_its_name(gateway):
    """Until its registration commits, another organization may register the same name: what the ledger and the
    index know of that name is someone else's."""
    application, tokens = gateway
    store: Store = application.state.context.store
    store.add_user(UserRecord("pat", token_hash("pat-token"), certificate("pat", ec.generate_private_key(
        ec.SECP256R1())), None, custodial=False, state=PENDING))
    async with client(application, "pat-token") as pat:
        me = await pat.get("/v1/users/me")
        assert me.status_code == 404 and "not registered" in me.json()["detail"]
    principals = application.state.context.principals
    pending = principals.of(store.user("pat"))
    assert not visibility.may_see_user(pending, "pat") and not visibility.may_see_service_accounts(pending, "pat")
    with pytest.raises(Problem) as refused:
        visibility.analytics_scope(pending, "service")
    assert refused.value.status == 403
    store.set_state("pat", ACTIVE)
    registered = principals.of(store.user("pat"))
    assert visibility.may_see_user(registered, "pat") and visibility.may_see_service_accounts(registered, "pat")
    assert visibility.analytics_scope(registered, "service") == "pat"


async def test_lean_reads_take_from_the_rate_limit_as_the_router_s_do(tmp_path, monkeypatch):
    # A bucket that refills once in 100 s: nothing refills during the test.
    application, tokens = build_gateway(tmp_path, rate_limit_per_second=0.01, rate_limit_burst=3)
    asked = answers_from_the_ledger(application, monkeypatch)
    async with client(application, tokens["alice"]) as alice:
        statuses = [(await alice.get("/v1/balances/alice")).status_code for _ in range(3)]
        limited = await alice.get("/v1/balances/alice")
        routed = await alice.get("/v1/balances/alice", params={"via": "router"})  # the same bucket
        metrics = (await alice.get("/metrics")).text
    assert statuses == [200, 200, 200] and len(asked) == 3
    assert limited.status_code == routed.status_code == 429 and limited.content == routed.content
    assert limited.json()["code"] == "RATE_LIMITED" and int(limited.headers["retry-after"]) >= 1
    assert 'tdses_gateway_requests_total{method="GET",route="/v1/balances/{account}",status="429"} 2.0' in metrics


async def test_an_unexpected_error_in_a_lean_route_is_the_router_s_500_and_is_logged(gateway, monkeypatch, caplog):
    application, tokens = gateway

    async def evaluate(principal, function, *args):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(application.state.context.ledger, "evaluate", evaluate)
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)  # as a server: log, answer 500
    async with httpx.AsyncClient(transport=transport, base_url="http://gw",
                                 headers={"Authorization": f"Bearer {tokens['alice']}"}) as alice:
        lean = await alice.get("/v1/balances/alice")
        routed = await alice.get("/v1/balances/alice", params={"via": "router"})
        metrics = (await alice.get("/metrics")).text
    assert lean.status_code == routed.status_code == 500 and lean.json()["code"] == "INTERNAL"
    assert lean.content == routed.content and b"secret" not in lean.content
    assert sum("secret detail" in r.exc_text for r in caplog.records if r.exc_text) == 2
    assert 'tdses_gateway_requests_total{method="GET",route="/v1/balances/{account}",status="500"} 2.0' in metrics


async def test_a_lean_write_with_an_idempotency_key_or_a_large_body_goes_through_the_middleware(gateway, monkeypatch):
    application, tokens = gateway
    submitted = submits_to_the_ledger(application, monkeypatch)
    path = "/v1/services/weather/rights"
    async with client(application, tokens["alice"]) as alice:
        key = {"Idempotency-Key": "buy-once"}
        first = await alice.post(path, json={"calls": 2}, headers=key)
        again = await alice.post(path, json={"calls": 2}, headers=key)
        assert first.status_code == again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
        assert first.json() == again.json() and len(submitted) == 1
        padded = b'{"calls": 2' + b" " * 3000 + b"}"  # over the gateway's 2,048 bytes
        large = await alice.post(path, content=padded, headers={"Content-Type": "application/json"})
        assert large.status_code == 413 and large.json()["code"] == "BODY_TOO_LARGE" and len(submitted) == 1


def test_only_a_get_of_path_parameters_and_the_chaincode_can_be_lean():
    router = APIRouter()

    @lean
    @router.get("/balances/{account}/mine", response_model=out.Balance)
    async def mine(account: str, chaincode: ChaincodeDep, principal: PrincipalDep) -> dict:
        return {}

    with pytest.raises(TypeError, match="cannot be lean"):
        lean_routes(router.routes)


async def test_a_committed_transaction_says_whether_it_took_effect(gateway, monkeypatch):
    application, tokens = gateway
    codes = {"a" * 64: transaction_pb2.VALID, "b" * 64: transaction_pb2.MVCC_READ_CONFLICT}

    async def commit_status(tx_id, principal, timeout):
        return Status(tx_id, codes[tx_id], 9)

    monkeypatch.setattr(application.state.context.ledger, "commit_status", commit_status)
    async with client(application, tokens["alice"]) as alice:
        valid = (await alice.get(f"/v1/transactions/{'a' * 64}")).json()
        conflicted = (await alice.get(f"/v1/transactions/{'b' * 64}")).json()
    assert (valid["status"], valid["committed"], valid["valid"]) == ("VALID", True, True)
    assert (conflicted["status"], conflicted["committed"], conflicted["valid"]) == ("MVCC_READ_CONFLICT", True, False)


async def test_with_open_registration_a_pending_user_is_resumed_only_by_its_creator_or_the_admin(tmp_path, monkeypatch):
    application, tokens = build_gateway(tmp_path, open_registration=True)
    context = application.state.context
    key = ec.generate_private_key(ec.SECP256R1())
    context.store.add_user(UserRecord("carol", token_hash("carol-token"), certificate("carol", key),
                                      context.keybox.seal("carol", key), custodial=True, state=PENDING))
    registered = []

    async def submit(principal, function, *args):
        registered.append((principal.name, function, args))
        return Submitted({"name": args[0], "mspId": "Org1MSP"}, "tx1", 9)

    monkeypatch.setattr(context.ledger, "submit", submit)
    body = {"name": "carol", "introduction": "weather"}
    async with client(application) as anyone:
        taken = await anyone.post("/v1/users", json=body)
        assert taken.status_code == 409 and "being created" in taken.json()["detail"]
    async with client(application, tokens["bob"]) as bob:
        assert (await bob.post("/v1/users", json=body)).status_code == 403
    assert registered == [] and context.store.user("carol").token_hash == token_hash("carol-token")
    async with client(application, "carol-token") as carol:  # the token its first attempt was given
        resumed = await carol.post("/v1/users", json=body)
    assert resumed.status_code == 201 and registered == [("carol", Fn.REGISTER_USER, ("carol", "weather"))]
    record = context.store.user("carol")
    assert record.state == ACTIVE and record.token_hash == token_hash(resumed.json()["token"])


async def test_the_event_stream_shows_payments_only_to_whom_they_concern():
    def principal(name: str, admin: bool = False) -> Principal:
        return Principal(name, None, None, is_admin=admin)  # type: ignore[arg-type]

    async def developer_of(service: str) -> str | None:
        return {"weather": "dev"}.get(service)

    bought = {"buyer": "alice", "service": "weather", "calls": 2, "cost": 6, "price": 3}
    rewarded = {"from": "alice", "developer": "dev", "service": "weather", "amount": 5}
    moved = {"from": "alice", "to": "bob", "amount": 1}
    composed = {"developer": "carol", "service": "map", "components": ["weather", "roads"], "paid": 7,
                "payments": [{"developer": "dev", "service": "weather", "amount": 3},
                             {"developer": "eve", "service": "roads", "amount": 4}]}
    published = {"developer": "dev", "service": "weather", "status": "available"}
    seen = {}
    for who in ("alice", "bob", "dev", "carol", "mallory"):
        audience = Audience(principal(who), developer_of)
        seen[who] = [await audience.view(name, payload) for name, payload in (
            ("CallsBought", bought), ("ServiceRewarded", rewarded), ("Transferred", moved),
            ("MashupCreated", composed), ("ServicePublished", published))]
    assert seen["alice"][:3] == [bought, rewarded, moved] and seen["bob"][:3] == [None, None, moved]
    assert seen["dev"][:3] == [bought, rewarded, None] and seen["mallory"][:3] == [None, None, None]
    assert seen["carol"][3] == composed  # its own mashup, with what it paid
    assert seen["dev"][3]["payments"] == [composed["payments"][0]] and "paid" not in seen["dev"][3]
    assert seen["mallory"][3]["payments"] == [] and seen["mallory"][3]["components"] == ["weather", "roads"]
    assert all(s[4] == published for s in seen.values())  # the registry's facts are public
    admin = Audience(principal("admin", admin=True), developer_of)
    assert [await admin.view("Transferred", moved), await admin.view("MashupCreated", composed)] == [moved, composed]


async def test_the_event_stream_shows_uses_of_calls_only_to_whom_they_concern():
    async def developer_of(service: str) -> str | None:
        return {"weather": "dev"}.get(service)

    reduced = {"service": "weather", "user": "alice", "reducer": "srv", "calls": 1}
    settled = {"service": "weather", "settler": "srv", "txId": "t",
               "settled": [{"user": "alice", "calls": 4, "used": 9, "remaining": 1},
                           {"user": "bob", "calls": 1, "used": 1, "remaining": 0}],
               "rejected": [{"user": "bob", "calls": 3, "index": 2, "reason": "BAD_SIGNATURE"}]}
    seen = {}
    for who in ("alice", "bob", "dev", "srv", "mallory"):
        audience = Audience(Principal(who, None, None), developer_of)  # type: ignore[arg-type]
        seen[who] = [await audience.view("CallsReduced", reduced), await audience.view("CallsSettled", settled)]
    assert seen["dev"] == seen["srv"] == [reduced, settled] and seen["mallory"] == [None, None]
    assert seen["alice"] == [reduced, {**settled, "settled": settled["settled"][:1], "rejected": []}]
    assert seen["bob"] == [None, {**settled, "settled": settled["settled"][1:], "rejected": settled["rejected"]}]


async def test_an_event_stream_ends_once_its_token_no_longer_authenticates(monkeypatch):
    from tdses.rest.api.routes import events

    class Stream:
        def __aiter__(self):
            return self

        async def __anext__(self):
            await asyncio.Event().wait()  # nothing comes

        def close(self) -> None:
            self.closed = True

    monkeypatch.setattr(events, "KEEPALIVE_SECONDS", 0.01)
    valid = [True]
    stream = Stream()
    frames = events.sse(stream, Audience(None, None, still_valid=lambda: valid[0]))  # type: ignore[arg-type]
    assert [await anext(frames), await anext(frames)] == [": connected\n\n", ": keep-alive\n\n"]
    valid[0] = False  # the token was rotated, or its user removed
    assert (await anext(frames)).startswith("event: error\ndata: {\"detail\": \"the token is no longer valid\"}")
    with pytest.raises(StopAsyncIteration):
        await anext(frames)
    assert stream.closed


def test_an_event_stream_s_token_is_valid_until_rotated_and_the_admin_s_stays_valid(gateway):
    from tdses.rest.api.routes.events import audience

    application, tokens = gateway
    context = application.state.context
    alice = audience(context, Principal("alice", None, None), tokens["alice"])  # type: ignore[arg-type]
    admin = audience(context, context.ledger.admin, "admin-token")
    assert alice.still_valid() and admin.still_valid()
    context.store.set_token("alice", token_hash("a-new-token"))
    assert not alice.still_valid() and admin.still_valid()
    assert not audience(context, context.ledger.admin, "a-made-up-token").still_valid()


def test_a_caller_s_event_streams_are_few_and_each_gives_its_place_back_however_it_ends():
    from tdses.rest.services.streams import StreamSlots

    async def frames():
        yield ": connected\n\n"

    slots = StreamSlots(2)
    first, second = frames(), frames()
    slots.hold("alice").until_gone(first)
    slots.hold("alice").until_gone(second)
    with pytest.raises(Problem) as refused:
        slots.hold("alice")
    assert (refused.value.status, refused.value.code) == (429, "TOO_MANY_STREAMS")
    slots.hold("bob").release()  # another caller's share is its own
    del first  # never started: its response was dropped
    assert slots.open("alice") == 1
    held = slots.hold("alice")
    held.release()
    held.release()  # once only
    assert slots.open("alice") == 1 and slots.open("bob") == 0


async def test_the_event_stream_route_holds_a_place_per_caller(gateway, monkeypatch):
    from starlette.requests import Request

    from tdses.rest.api.routes.events import events as route

    application, tokens = gateway
    context = application.state.context
    opened = []

    class Silent:  # the peer's stream, never answering
        def __aiter__(self):
            return self

        async def __anext__(self):
            await asyncio.Event().wait()  # nothing comes

        def close(self) -> None:
            pass

    async def events(start, checkpoint):
        opened.append(start)
        return Silent()

    monkeypatch.setattr(context.ledger, "events", events)
    monkeypatch.setattr(context.streams, "most", 1)

    scope = {"type": "http", "headers": [(b"authorization", f"Bearer {tokens['alice']}".encode())], "state": {}}
    alice = context.principals.of(context.store.user("alice"))
    first = await route(Request(scope), context, alice)
    with pytest.raises(Problem) as refused:
        await route(Request(scope), context, alice)
    assert refused.value.status == 429 and len(opened) == 1  # refused before a stream from the peer was opened
    del first
    assert context.streams.open("@admin") == 0 and context.streams.open("alice") == 0


async def test_an_event_whose_audience_cannot_be_told_now_ends_the_stream_before_it():
    from types import SimpleNamespace

    from tdses.rest.api.routes import events

    class Stream:
        def __init__(self) -> None:
            self.events = iter([SimpleNamespace(event_name="CallsBought", block_number=7, transaction_id="t" * 64,
                                                payload=b'{"buyer": "alice", "service": "weather"}')])

        def __aiter__(self):
            return self

        async def __anext__(self):
            return next(self.events)

        def close(self) -> None:
            pass

    async def developer_of(service: str) -> str | None:
        raise Problem(503, "UNAVAILABLE", "no peer reachable")

    dev = Audience(Principal("dev", None, None), developer_of)  # type: ignore[arg-type]
    frames = [frame async for frame in events.sse(Stream(), dev)]
    assert frames[1].startswith("event: error") and "no peer reachable" in frames[1] and len(frames) == 2
