"""The gateway's building blocks without a network: key sealing, tokens, rate limit, problem mapping, config."""

from __future__ import annotations

import base64
import os

import grpc
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fabric_gateway import CommitError, CommitStatusError, EndorseError, ErrorDetail, EventPosition, SubmitError
from fabric_protos.peer import transaction_pb2
from tdses.rest.config import ConfigError, Settings, load_settings, read_secret
from tdses.rest.middleware.ratelimit import RateLimiter
from tdses.ecosystem.programmableweb import clean_text
from tdses.rest.models.fields import check_required_text, check_url
from tdses.rest.models.requests import ServicePatch
from tdses.rest.problems import problem_from_fabric
from tdses.rest.services.keystore import KeyBox, KeyBoxError
from tdses.rest.services.ledger import resume_point
from tdses.rest.services.tokens import matches, new_token, token_hash
from tdses.rest.store import ACTIVE, PENDING, Store, UserRecord
from tests.unit.test_index import block, endorser_tx

MVCC, VALID = transaction_pb2.MVCC_READ_CONFLICT, transaction_pb2.VALID


def test_a_sealed_key_opens_only_for_its_owner_with_the_same_kek():
    key = ec.generate_private_key(ec.SECP256R1())
    box = KeyBox(os.urandom(32))
    sealed = box.seal("alice", key)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    assert der not in sealed
    assert box.open("alice", sealed).private_numbers() == key.private_numbers()
    with pytest.raises(KeyBoxError):
        box.open("mallory", sealed)  # a row's key swapped into another user's row
    with pytest.raises(KeyBoxError):
        KeyBox(os.urandom(32)).open("alice", sealed)
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(KeyBoxError):
        box.open("alice", tampered)
    assert "AES" in repr(box) and str(key.private_numbers().private_value) not in repr(box)


def test_tokens_are_random_and_only_their_hash_matches():
    first, second = new_token(), new_token()
    assert first != second and len(first) > 40
    assert token_hash(first) != first and len(token_hash(first)) == 64
    assert matches(token_hash(first), token_hash(first))
    assert not matches(token_hash(first), token_hash(second))


def test_the_token_bucket_allows_a_burst_then_the_rate(tmp_path):
    now = [1_000.0]
    limiter = RateLimiter(rate=2, burst=3, store=Store(tmp_path / "gateway.db"), clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)
    assert limiter.take("b") == 0.0  # buckets are per token
    now[0] += 0.5
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0
    now[0] += 100
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]  # refills up to the burst only
    assert limiter.take("a") > 0
    assert limiter.wait("b") == 0.0 and limiter.wait("b") == 0.0  # looking uses nothing
    other_replica = RateLimiter(rate=2, burst=3, store=Store(tmp_path / "gateway.db"), clock=lambda: now[0])
    assert other_replica.take("a") > 0  # one bucket for all the replicas of a store


def test_a_busy_token_takes_its_bucket_in_leases_and_replicas_never_pass_more_than_the_bucket(tmp_path):
    now = [1_000.0]
    replicas = [RateLimiter(rate=50, burst=100, store=Store(tmp_path / "gateway.db"), clock=lambda: now[0])
                for _ in range(2)]
    assert replicas[0].lease == 25
    passed = sum(replicas[i % 2].take_leased("t:busy") == 0.0 for i in range(300))
    assert passed == 100  # the burst, shared: each replica spends whole leases
    assert replicas[0].take_leased("t:busy") > 0 and replicas[1].take_leased("t:busy") > 0
    now[0] += 0.1  # five tokens refill: too few for a lease, taken one by one
    assert [replicas[0].take_leased("t:busy") == 0.0 for _ in range(6)] == [True] * 5 + [False]
    assert RateLimiter(rate=2, burst=3, store=Store(tmp_path / "other.db")).lease == 1  # small buckets: exact


def test_a_token_is_remembered_briefly_and_forgotten_at_once_when_this_store_changes_it(tmp_path, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("tdses.rest.store.store.time.monotonic", lambda: clock[0])
    here, replica = Store(tmp_path / "gateway.db", 1.0), Store(tmp_path / "gateway.db", 1.0)
    here.add_user(UserRecord("carol", token_hash("t1"), b"cert", None, custodial=False, state=ACTIVE))
    assert replica.user_by_token(token_hash("t1")).name == "carol"
    here.set_token("carol", token_hash("t2"))
    assert here.user_by_token(token_hash("t1")) is None  # the store that rotated it forgets at once
    assert replica.user_by_token(token_hash("t1")).name == "carol"  # another replica, within its cache time
    clock[0] += 1.5
    assert replica.user_by_token(token_hash("t1")) is None
    assert replica.user_by_token(token_hash("t2")).name == "carol"
    assert Store(tmp_path / "gateway.db").user_by_token(token_hash("t2")).name == "carol"  # no cache: the row
    here.add_user(UserRecord("dave", token_hash("t3"), b"cert", None, custodial=False, state=PENDING))
    assert replica.user_by_token(token_hash("t3")).state == PENDING
    here.set_state("dave", ACTIVE)  # activated through another replica: not remembered as pending
    assert replica.user_by_token(token_hash("t3")).state == ACTIVE


def endorse_error(message: str, code=grpc.StatusCode.ABORTED) -> EndorseError:
    detail = ErrorDetail("peer0:7051", "Org1MSP", message)
    return EndorseError(code, "failed to endorse transaction", [detail], transaction_id="ab" * 32)


def test_a_database_error_names_no_bound_value_a_secret_could_be(tmp_path):
    import sqlalchemy.exc
    from tdses.index.store import IndexStore

    store = Store(tmp_path / "gateway.db")
    secret = UserRecord("erin", "hash-of-a-secret-token", b"cert", b"sealed-private-key", custodial=True)
    store.add_user(secret)
    with pytest.raises(sqlalchemy.exc.IntegrityError) as raised:
        store.add_user(secret)
    assert "erin" not in str(raised.value) and "hash-of-a-secret-token" not in str(raised.value)
    assert "hidden due to hide_parameters" in str(raised.value)
    index = IndexStore(tmp_path / "index.db")
    with pytest.raises(sqlalchemy.exc.StatementError) as raised:
        with index.engine.connect() as db:
            db.execute(sqlalchemy.text("SELECT :v FROM no_such_table"), {"v": "hash-of-a-secret-token"})
    assert "hash-of-a-secret-token" not in str(raised.value)


@pytest.mark.parametrize("message,status,code", [
    ("chaincode response 500, NOT_FOUND: service \"x\" does not exist", 404, "NOT_FOUND"),
    ("chaincode response 500, ALREADY_EXISTS: service \"x\" already exists", 409, "ALREADY_EXISTS"),
    ("chaincode response 500, INSUFFICIENT_FUNDS: balance 3 < 15", 409, "INSUFFICIENT_FUNDS"),
    ("chaincode response 500, FORBIDDEN: only the developer", 403, "FORBIDDEN"),
    ("chaincode response 500, UNAUTHENTICATED: not a registered user", 403, "UNAUTHENTICATED"),
    ("chaincode response 500, INVALID_ARGUMENT: calls must be between", 422, "INVALID_ARGUMENT"),
    ("chaincode response 500, INVALID_STATE: service is created", 409, "INVALID_STATE"),
    ("chaincode response 500, INTERNAL: arithmetic", 502, "INTERNAL"),
])
def test_chaincode_codes_map_to_http_statuses(message, status, code):
    problem = problem_from_fabric(endorse_error(message))
    assert (problem.status, problem.code) == (status, code)
    assert problem.detail == message.split(f"{code}: ", 1)[1]
    assert problem.body()["type"].endswith(code.lower())


def test_fabric_failures_map_to_503_504_and_409():
    unavailable = problem_from_fabric(endorse_error("connection refused", grpc.StatusCode.UNAVAILABLE))
    assert unavailable.status == 503 and unavailable.headers["Retry-After"]
    timeout = problem_from_fabric(CommitStatusError(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline", [],
                                                    transaction_id="cd" * 32))
    assert timeout.status == 504 and timeout.body()["transactionId"] == "cd" * 32
    conflict = problem_from_fabric(CommitError("ef" * 32, transaction_pb2.MVCC_READ_CONFLICT, 9), attempts=3)
    assert conflict.status == 409 and conflict.code == "CONFLICT" and conflict.body()["transactionId"] == "ef" * 32
    assert "after 3 attempts" in conflict.detail
    assert conflict.headers == {"Retry-After": "1"}  # so an Idempotency-Key's retry runs again
    policy = problem_from_fabric(CommitError("ef" * 32, transaction_pb2.ENDORSEMENT_POLICY_FAILURE))
    assert policy.status == 502 and policy.body()["validationCode"] == "ENDORSEMENT_POLICY_FAILURE"
    too_few = endorse_error("no combination of peers can be derived which satisfy the endorsement policy",
                            grpc.StatusCode.FAILED_PRECONDITION)
    assert problem_from_fabric(too_few).status == 503
    orderer = problem_from_fabric(SubmitError(grpc.StatusCode.UNAVAILABLE, "no orderer", [], transaction_id="x"))
    assert orderer.status == 503


def write(path, content: str, mode: int = 0o600):
    path.write_text(content)
    path.chmod(mode)
    return path


CONFIG = """
org: org1
msp_id: Org1MSP
channel: tdses
chaincode: tdses
listen: 127.0.0.1:8081
peers:
  - {{address: 127.0.0.1:7061, server_name: peer0.org1.tdses.test, tls_ca_file: {tmp}/tlsca.pem}}
  - {{address: 127.0.0.1:7064, server_name: peer1.org1.tdses.test, tls_ca_file: {tmp}/tlsca.pem}}
ca: {{url: "https://127.0.0.1:7067", name: ca-org1, tls_ca_file: {tmp}/tlsca.pem, registrar: admin,
      registrar_secret_file: {tmp}/registrar}}
admin_msp_dir: {tmp}/msp
admin_token_file: {tmp}/admin-token
key_encryption_key_file: {tmp}/kek
store: {tmp}/gateway.db
"""


def test_settings_load_from_yaml_and_the_environment_overrides(tmp_path, monkeypatch):
    path = write(tmp_path / "gateway.yaml", CONFIG.format(tmp=tmp_path))
    settings = load_settings(path)
    assert settings.msp_id == "Org1MSP" and [p.address for p in settings.peers] == ["127.0.0.1:7061", "127.0.0.1:7064"]
    assert (settings.host, settings.port) == ("127.0.0.1", 8081)
    monkeypatch.setenv("TDSES_GATEWAY_LISTEN", "0.0.0.0:9000")
    monkeypatch.setenv("TDSES_GATEWAY_RATE_LIMIT_BURST", "7")
    monkeypatch.setenv("TDSES_GATEWAY_CA__NAME", "ca-other")
    settings = load_settings(path)
    assert (settings.port, settings.rate_limit_burst, settings.ca.name) == (9000, 7, "ca-other")


def test_the_server_keeps_idle_connections_longer_than_clients_pool_them(tmp_path):
    options = load_settings(write(tmp_path / "gateway.yaml", CONFIG.format(tmp=tmp_path))).server_options()
    # A server closing an idle connection first races the client reusing it: "server disconnected" under load.
    assert options["timeout_keep_alive"] > httpx.Limits().keepalive_expiry
    assert (options["host"], options["port"], options["loop"]) == ("127.0.0.1", 8081, "asyncio")
    assert options["proxy_headers"] is False  # no proxy is trusted unless one is named: X-Forwarded-For is ignored


def test_trusted_proxies_are_addresses_or_networks(tmp_path):
    path = write(tmp_path / "gateway.yaml", CONFIG.format(tmp=tmp_path) + "trusted_proxies: [10.0.0.0/8, '::1']\n")
    options = load_settings(path).server_options()
    assert options["proxy_headers"] is True and options["forwarded_allow_ips"] == ["10.0.0.0/8", "::1"]
    with pytest.raises(ValueError, match="not an IP address or network"):
        load_settings(write(tmp_path / "bad.yaml", CONFIG.format(tmp=tmp_path) + "trusted_proxies: ['*']\n"))
    with pytest.raises(ValueError, match="host bits"):  # uvicorn would not match it, and say nothing
        load_settings(write(tmp_path / "bits.yaml", CONFIG.format(tmp=tmp_path) + "trusted_proxies: [10.0.0.1/8]\n"))


def test_settings_refuse_unknown_keys_and_bad_listen_addresses(tmp_path):
    path = write(tmp_path / "gateway.yaml", CONFIG.format(tmp=tmp_path) + "colour: blue\n")
    with pytest.raises(ValueError, match="colour"):
        load_settings(path)
    values = dict(org="o", msp_id="M", channel="c", chaincode="cc", listen="nohostport",
                  peers=[{"address": "a:1", "tls_ca_file": tmp_path}],
                  ca={"url": "https://x", "name": "ca", "tls_ca_file": tmp_path, "registrar_secret_file": tmp_path},
                  admin_msp_dir=tmp_path, admin_token_file=tmp_path, key_encryption_key_file=tmp_path,
                  store=tmp_path / "db")
    with pytest.raises(ValueError, match="HOST:PORT"):
        Settings(**values)
    with pytest.raises(ConfigError, match="no configuration file"):
        load_settings(tmp_path / "missing.yaml")


def test_secret_files_must_be_private_and_the_kek_32_bytes(tmp_path):
    path = write(tmp_path / "gateway.yaml", CONFIG.format(tmp=tmp_path))
    settings = load_settings(path)
    write(tmp_path / "kek", base64.b64encode(os.urandom(32)).decode())
    assert len(settings.key_encryption_key()) == 32
    write(tmp_path / "kek", base64.b64encode(os.urandom(16)).decode())
    with pytest.raises(ConfigError, match="32 bytes"):
        settings.key_encryption_key()
    write(tmp_path / "admin-token", "secret", mode=0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        settings.admin_token()
    write(tmp_path / "empty", "", mode=0o600)
    with pytest.raises(ConfigError, match="empty"):
        read_secret(tmp_path / "empty")


@pytest.mark.parametrize("uid, gid, mode, volume, accepted", [
    (0, 2000, 0o440, True, True),  # a Kubernetes Secret: root's, readable by the pod's fsGroup, which is ours
    (0, 2000, 0o640, True, True),
    (0, 2001, 0o440, True, False),  # a group this process is in, but not its own (a shared one like `users`)
    (0, 2000, 0o440, False, False),  # not in a Secret volume
    (0, 2000, 0o460, True, False),  # the group may write it
    (0, 2000, 0o444, True, False),  # others may read it
    (1000, 2000, 0o440, True, False),  # not root's: a file of ours must be 0600
])
def test_a_pods_secret_may_be_readable_by_its_group_and_nothing_else_may(tmp_path, monkeypatch, uid, gid, mode,
                                                                         volume, accepted):
    path = write(tmp_path / "admin-token", "secret", mode=0o600)
    if volume:  # how the kubelet lays a Secret out: the files behind a ..data symlink
        (tmp_path / "..2026_12_03").mkdir()
        (tmp_path / "..data").symlink_to("..2026_12_03")
    real = os.stat(path)
    faked = os.stat_result((real.st_mode & ~0o777 | mode, *real[1:4], uid, gid, *real[6:]))
    monkeypatch.setattr(os, "stat", lambda p, *a, **k: faked if p == path else os.lstat(p))
    monkeypatch.setattr(os, "getuid", lambda: 1000)
    monkeypatch.setattr(os, "getegid", lambda: 2000)
    if accepted:
        assert read_secret(path) == b"secret"
    else:
        with pytest.raises(ConfigError, match="chmod 600"):
            read_secret(path)


def test_the_store_and_its_write_ahead_log_are_readable_by_their_owner_only(tmp_path):
    import os
    import stat as st

    path = tmp_path / "gateway" / "gateway.db"
    store = Store(path)
    store.claim_idempotency_key("alice", "k1", "fingerprint", 60)
    files = [path, path.with_name("gateway.db-wal"), path.with_name("gateway.db-shm")]
    modes = {p.name: st.S_IMODE(os.stat(p).st_mode) for p in files}
    store.close()
    assert modes == {p.name: 0o600 for p in files}
    assert st.S_IMODE(os.stat(path.parent).st_mode) == 0o700


async def test_random_tokens_from_one_address_are_limited_like_requests_without_one(tmp_path):
    import httpx
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from tdses.rest.middleware.ratelimit import RateLimitMiddleware

    async def me(request):  # only "good" authenticates
        ok = request.headers.get("authorization") == "Bearer good"
        return JSONResponse({}, status_code=200 if ok else 401)

    now = [1_000.0]
    limiter = RateLimiter(rate=1, burst=5, store=Store(tmp_path / "gateway.db"), clock=lambda: now[0])
    app = RateLimitMiddleware(Starlette(routes=[Route("/v1/me", me)]), limiter,
                              caller_of=lambda scope, token: "alice" if token == "good" else None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
        sprayed = [(await http.get("/v1/me", headers={"Authorization": f"Bearer random{n}"})).status_code
                   for n in range(8)]
        assert sprayed == [401] * 5 + [429] * 3  # each failure is charged to the address
        assert (await http.get("/v1/me")).status_code == 429  # so is a request without a token
        blocked = await http.get("/v1/me", headers={"Authorization": "Bearer good"})
        assert blocked.status_code == 429 and blocked.headers["retry-after"] == "1"
        now[0] += 1.0
        assert (await http.get("/v1/me", headers={"Authorization": "Bearer good"})).status_code == 200


async def test_a_user_s_tokens_share_one_bucket_so_rotating_a_token_does_not_refill_it(tmp_path):
    import httpx
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from tdses.rest.middleware.ratelimit import RateLimitMiddleware

    async def me(request):
        return JSONResponse({})

    users = {"old": "alice", "rotated": "alice", "bobs": "bob"}
    limiter = RateLimiter(rate=1, burst=4, store=Store(tmp_path / "gateway.db"), clock=lambda: 1_000.0)
    app = RateLimitMiddleware(Starlette(routes=[Route("/v1/me", me)]), limiter,
                              caller_of=lambda scope, token: users.get(token))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
        async def status(token):
            return (await http.get("/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code

        assert [await status("old") for _ in range(4)] == [200] * 4
        assert await status("rotated") == 429
        assert await status("bobs") == 200  # another user's bucket


async def test_a_middleware_answers_a_problem_to_the_byte_as_the_handlers_do():
    from tdses.rest.middleware.asgi import send_problem
    from tdses.rest.problems import Problem

    problem = Problem(429, "RATE_LIMITED", "trop de requêtes ; réessayez", headers={"Retry-After": "3"})
    sent = []

    async def send(message):
        sent.append(message)

    await send_problem(send, problem)
    handled = problem.response()  # what the application's exception handlers return
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 429 and sent[0]["headers"] == handled.raw_headers
    assert sent[1]["body"] == handled.body and b"requ\xc3\xaates" in handled.body


@pytest.mark.parametrize("url", ["https://[::1", "http://[x", "https://x.example:99999/", "https://x.example:0/",
                                 "https://x.example:port/", "mailto:a@x.example", "https:///path"])
def test_urls_that_do_not_parse_or_have_a_port_outside_1_to_65535_are_refused(url):
    with pytest.raises(ValueError, match="must"):
        check_url(url)
    assert check_url("https://[::1]:8443/v1") == "https://[::1]:8443/v1"


def test_a_qos_patch_carries_only_the_fields_given():
    assert ServicePatch.model_validate({"qos": {"latencyMs": 100}}).model_dump(exclude_none=True) == \
        {"qos": {"latencyMs": 100}}
    with pytest.raises(ValueError, match="changes nothing"):
        ServicePatch.model_validate({"qos": {}})


@pytest.mark.parametrize("text", [" ", "\u00a0", "pay\u00adments", "fill\u3164", "line\u2028break", "para\u2029",
                                  "bidi\u202eexe", "zero\u200bwidth", "nul\u0000"])
def test_blank_invisible_and_line_breaking_text_is_refused_and_cleaned_away_on_import(text):
    with pytest.raises(ValueError, match="must not"):
        check_required_text(text)
    cleaned = clean_text(text, 64)
    assert cleaned == "" or check_required_text(cleaned) == cleaned


def test_events_resume_after_a_transaction_even_when_it_emitted_no_event():
    txs = [endorser_tx("t1", [], ("A", {})), endorser_tx("t2", [], ("B", {})), endorser_tx("t3", [], None),
           endorser_tx("t4", [], ("D", {}))]
    b = block(7, txs, [VALID, MVCC, VALID, VALID])
    assert resume_point(b, "t1") == (None, EventPosition(7, "t1"))  # Fabric's own checkpoint: its event is there
    assert resume_point(b, "t2") == (None, EventPosition(7, "t1"))  # invalid: after the last event before it
    assert resume_point(b, "t3") == (None, EventPosition(7, "t1"))  # valid, without an event: the same
    assert resume_point(b, "t4") == (None, EventPosition(7, "t4"))
    first_invalid = block(8, txs[1:], [MVCC, VALID, VALID])
    assert resume_point(first_invalid, "t2") == (8, None)  # nothing before it: every event of the block follows
    assert resume_point(b, "t9") is None


def test_the_records_that_hold_secrets_show_none_of_them():
    from fabric_ca.calls import Call
    from tdses.rest.store.store import WebSession

    shown = repr([UserRecord("erin", "token-hash", b"cert", b"sealed-key", custodial=True),
                  WebSession("erin", "csrf-token", 1.0),
                  Call("POST", "/api/v1/register", b'{"secret":"enrollment-secret"}', dict, basic_auth=("id", "pw"))])
    assert "erin" in shown and not any(s in shown for s in ("token-hash", "sealed-key", "csrf-token",
                                                            "enrollment-secret", "'pw'"))


def test_a_store_in_memory_is_refused_for_no_thread_could_share_it():
    from tdses.index.store import IndexStore

    with pytest.raises(ValueError, match="not :memory:"):
        Store(":memory:")
    with pytest.raises(ValueError, match="not :memory:"):
        IndexStore(":memory:")
