"""The web pages without a network: offline /docs, invitations, sign-in, sessions and CSRF."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import uvicorn

from tdses.rest.middleware import idempotency
from tdses.rest.middleware.ratelimit import RateLimiter
from tdses.rest.services.ledger import Submitted
from tdses.rest.services.passwords import hash_password
from tdses.rest.services.tokens import token_hash
from tdses.rest.problems import Problem
from tdses.rest.store import ACTIVE, PENDING, UserRecord
from tdses.rest.web import signin
from tests.unit.test_rest_app import build_gateway, client, gateway  # noqa: F401  (the gateway fixture)

PASSWORD = "correct horse battery"


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


async def sign_in(http, name: str = "alice", password: str = PASSWORD):
    form = await http.get("/signin")
    return await http.post("/signin", data={"csrf": csrf_of(form.text), "name": name, "password": password,
                                            "next": "/account"})


async def test_docs_load_swagger_ui_from_the_gateway_itself(gateway):
    application, _ = gateway
    async with client(application) as http:
        page = await http.get("/docs")
        assert page.status_code == 200 and page.headers["x-frame-options"] == "DENY"
        assert page.headers["content-security-policy"] == "frame-ancestors 'none'"
        scripts = re.findall(r'src="([^"]+)"', page.text) + re.findall(r'href="([^"]+\.css)"', page.text)
        assert scripts and all(s.startswith("/static/swagger-ui/") for s in scripts)
        for asset in scripts:
            assert (await http.get(asset)).status_code == 200


async def test_only_the_admin_invites_and_an_invitation_opens_the_sign_up_page(gateway):
    application, tokens = gateway
    async with client(application, tokens["alice"]) as http:
        assert (await http.post("/v1/invitations")).status_code == 403
    async with client(application, "admin-token") as http:
        invitation = (await http.post("/v1/invitations")).json()
    async with client(application) as http:
        page = await http.get(invitation["path"])
        assert page.status_code == 200 and 'name="password2"' in page.text
        assert (await http.get("/signup?invitation=made-up")).status_code == 403


async def test_a_used_invitation_cannot_be_used_again(gateway):
    application, _ = gateway
    store = application.state.context.store
    store.add_invitation(token_hash("once"), time.time() + 60)
    assert store.use_invitation(token_hash("once"), "carol") == "taken"
    assert store.use_invitation(token_hash("once"), "dave") is None
    store.add_invitation(token_hash("late"), time.time() - 1)
    assert not store.invitation_open(token_hash("late"))


async def test_sign_in_needs_the_right_password_and_the_forms_token(gateway):
    application, _ = gateway
    application.state.context.store.set_password("alice", hash_password(PASSWORD))
    async with client(application) as http:
        wrong = await sign_in(http, password="not the password")
        assert wrong.status_code == 401 and "tdses_session" not in wrong.headers.get("set-cookie", "")
        assert "tdses_form_org1=" in wrong.headers.get("set-cookie", "")
        unknown = await sign_in(http, name="nobody")
        assert unknown.status_code == 401
        forged = await http.post("/signin", data={"csrf": "guess", "name": "alice", "password": PASSWORD})
        assert forged.status_code == 403 and "CSRF" in forged.text
        signed_in = await sign_in(http)
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/account"
        # Named after the organization: browsers do not tell 127.0.0.1:7070's cookies from 127.0.0.1:7080's.
        cookie = [c for c in signed_in.headers.get_list("set-cookie") if c.startswith("tdses_session_org1=")][0]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
        assert "alice" in (await http.get("/account")).text


async def test_pages_load_only_the_sites_own_files_and_are_never_framed(gateway):
    application, _ = gateway
    async with client(application) as http:
        page = await http.get("/signin")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "form-action 'self'" in policy
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text and " style=" not in page.text  # nothing inline for the policy to refuse


async def test_a_form_without_the_sessions_token_is_refused(gateway):
    application, tokens = gateway
    application.state.context.store.set_password("alice", hash_password(PASSWORD))
    async with client(application) as http:
        await sign_in(http)
        refused = await http.post("/account/token", data={"csrf": "from another site"})
        assert refused.status_code == 403
        account = await http.get("/account")
        rotated = await http.post("/account/token", data={"csrf": csrf_of(account.text)})
        assert rotated.status_code == 200
        new = re.search(r'<code id="token" class="secret">([^<]+)</code>', rotated.text).group(1)
    async with client(application, tokens["alice"]) as old:
        assert (await old.get("/v1/users/me")).status_code == 401
    async with client(application, new) as fresh:
        assert (await fresh.post("/v1/users/alice/token")).status_code == 200


async def test_an_expired_session_sends_the_visitor_to_sign_in(gateway):
    application, _ = gateway
    store = application.state.context.store
    store.set_password("alice", hash_password(PASSWORD))
    async with client(application) as http:
        await sign_in(http)
        assert (await http.get("/account")).status_code == 200
        store.expire_sessions("alice")
        page = await http.get("/me")
        assert page.status_code == 303 and page.headers["location"] == "/signin?next=%2Fme"


async def test_sign_out_ends_the_session(gateway):
    application, _ = gateway
    application.state.context.store.set_password("alice", hash_password(PASSWORD))
    async with client(application) as http:
        await sign_in(http)
        account = await http.get("/account")
        assert (await http.post("/signout", data={"csrf": csrf_of(account.text)})).status_code == 303
        assert (await http.get("/account")).status_code == 303


async def test_sign_in_goes_only_to_this_sites_pages(gateway):
    application, _ = gateway
    application.state.context.store.set_password("alice", hash_password(PASSWORD))
    async with client(application) as http:
        form = await http.get("/signin")
        answer = await http.post("/signin", data={"csrf": csrf_of(form.text), "name": "alice",
                                                  "password": PASSWORD, "next": "//evil.example/"})
        assert answer.headers["location"] == "/"


async def test_bad_form_input_is_a_422_page_before_any_transaction(gateway):
    application, _ = gateway
    application.state.context.store.set_password("alice", hash_password(PASSWORD))
    async with client(application) as http:
        await sign_in(http)
        csrf = csrf_of((await http.get("/account")).text)
        for path, form in (("/new/service", {"name": "svc", "category": "c", "url": "https://s.example",
                                             "price": "three"}),
                           ("/new/service", {"name": "-bad", "category": "c", "url": "https://s.example",
                                             "price": "3"}),
                           ("/services/svc/buy", {"calls": "0", "maxPrice": "1"})):
            answer = await http.post(path, data={"csrf": csrf, **form})
            assert answer.status_code == 422 and 'role="alert"' in answer.text, (path, form)
        assert (await http.get("/services/svc/buy?calls=-1")).status_code == 422
        typed = {"csrf": csrf, "name": "svc", "category": "weather", "url": "https://s.example", "price": "three",
                 "description": "kept <as typed>"}
        again = await http.post("/new/service", data=typed)  # the form again, with what was typed and why not
        assert again.status_code == 422 and 'name="category"' in again.text and 'value="weather"' in again.text
        assert "kept &lt;as typed&gt;" in again.text and "price must be a whole number" in again.text


async def test_sign_in_attempts_are_limited_per_address_and_per_name(gateway):
    application, _ = gateway
    context = application.state.context
    context.store.set_password("alice", hash_password(PASSWORD))
    context.signin = RateLimiter(3 / 60, 3, context.store, namespace="signin:")  # 3 a minute
    async with client(application) as http:
        guesses = await asyncio.gather(*(sign_in(http, password=f"guess {i}") for i in range(5)))
        # Sent together, they are taken from the buckets before any password is checked: only 3 are.
        assert sorted(g.status_code for g in guesses) == [401, 401, 401, 429, 429]
        limited = await sign_in(http)  # the right password, too late
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert "Too many sign-in attempts" in limited.text and "tdses_session" not in str(limited.headers)
        assert (await sign_in(http, name="bob")).status_code == 429  # this address has used its budget
    elsewhere = httpx.AsyncClient(transport=httpx.ASGITransport(app=application, client=("10.0.0.9", 4000)),
                                  base_url="http://gw")
    async with elsewhere:
        assert (await sign_in(elsewhere)).status_code == 429  # alice's name has used its budget too
        assert (await sign_in(elsewhere, name="bob", password="a guess at it")).status_code == 401
    context.store.forget_full_buckets(50, 100, 10**12, "api:")  # the API's sweep leaves sign-in buckets alone
    async with client(application) as http:
        assert (await sign_in(http)).status_code == 429


async def test_a_password_typed_as_the_name_is_not_kept_as_a_rate_limit_key(gateway):
    from sqlalchemy import select

    from tdses.rest.store.tables import rate_buckets

    application, _ = gateway
    context = application.state.context
    async with client(application) as http:
        assert (await sign_in(http, name="hunter2 my-Secret!", password="")).status_code == 401
    with context.store._engine.connect() as db:
        keys = [row[0] for row in db.execute(select(rate_buckets.c.key))]
    assert keys and not any("hunter2" in k for k in keys), keys


async def test_behind_a_trusted_proxy_the_sign_in_limit_counts_the_client_the_proxy_names(tmp_path):
    application, _ = build_gateway(tmp_path, trusted_proxies=["127.0.0.0/8"])
    context = application.state.context
    context.signin = RateLimiter(3 / 60, 3, context.store, namespace="signin:")
    config = uvicorn.Config(application, **context.settings.server_options())
    config.load()  # the application as uvicorn serves it, with its handling of proxy headers

    def connection(address: str, forwarded_for: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=config.loaded_app, client=(address, 4000)),
                                 base_url="http://gw", headers={"X-Forwarded-For": forwarded_for})

    async with connection("127.0.0.1", "203.0.113.7") as proxied:
        assert [(await sign_in(proxied, name=f"n{i}")).status_code for i in range(4)] == [401, 401, 401, 429]
    async with connection("127.0.0.1", "203.0.113.8") as another_client:
        assert (await sign_in(another_client, name="n4")).status_code == 401
    # Not from a trusted proxy: the header is the client's own claim, and the connection's address is counted.
    for i in range(4):
        async with connection("10.0.0.9", f"198.51.100.{i}") as direct:
            assert (await sign_in(direct, name=f"m{i}")).status_code == (429 if i == 3 else 401)


async def test_sign_up_refuses_a_name_being_created_by_someone_else_and_bad_text_before_the_ca(gateway):
    application, _ = gateway
    store = application.state.context.store
    store.add_user(UserRecord("pending-bob", token_hash("t"), b"", None, custodial=True, state=PENDING))
    store.add_invitation(token_hash("inv"), time.time() + 60)
    async with client(application) as http:
        form = await http.get("/signup?invitation=inv")
        fields = {"csrf": csrf_of(form.text), "invitation": "inv", "password": PASSWORD, "password2": PASSWORD}
        taken = await http.post("/signup", data={**fields, "name": "pending-bob"})
        assert taken.status_code == 409 and "is taken" in taken.text
        control = await http.post("/signup", data={**fields, "name": "newbie", "introduction": "hi\x01there"})
        assert control.status_code == 422 and "About you must not contain" in control.text
    assert store.invitation_open(token_hash("inv"))  # neither took it, and no CA was asked (it is unreachable)
    assert store.user("newbie") is None
    assert store.user("pending-bob").state == PENDING


async def test_two_sign_ups_of_one_name_with_one_invitation_at_once_create_one_user_and_use_it_up(
        gateway, monkeypatch):
    application, _ = gateway
    store = application.state.context.store
    store.add_invitation(token_hash("inv"), time.time() + 60)

    arrived, both_arrived = [], asyncio.Event()
    check_form = signin.check_anonymous_form

    def arriving(*args) -> None:  # each sign-up passes here before anything else
        check_form(*args)
        arrived.append(1)
        if len(arrived) == 2:
            both_arrived.set()

    async def create_user(context, name, introduction, csr_pem, *, may_resume):
        """As the real one: the first enrolls while the other sign-up is there, then holds the name; another one
        meanwhile finds the name at the CA."""
        if store.user(name) is not None:
            raise Problem(409, "ALREADY_EXISTS", f"user {name!r} already exists")
        if store.invitation_holder(token_hash("inv")) == name and creating:
            raise Problem(409, "ALREADY_EXISTS", f"the organization's CA already has an identity {name!r}")
        creating.append(name)
        await asyncio.wait_for(both_arrived.wait(), timeout=5)
        store.add_user(UserRecord(name, token_hash("t-" + name), b"", None, custodial=True, state=ACTIVE))

    creating: list[str] = []
    monkeypatch.setattr(signin, "check_anonymous_form", arriving)
    monkeypatch.setattr(signin, "create_user", create_user)
    async with client(application) as http:
        form = await http.get("/signup?invitation=inv")
        fields = {"csrf": csrf_of(form.text), "invitation": "inv", "name": "twin", "password": PASSWORD,
                  "password2": PASSWORD}
        answers = await asyncio.gather(*(http.post("/signup", data=fields) for _ in range(2)))
        assert sorted(a.status_code for a in answers) == [303, 409]
        assert not store.invitation_open(token_hash("inv"))  # used up by the one user it created
        again = await http.post("/signup", data={**fields, "name": "another"})
        assert again.status_code == 403 and store.user("another") is None


async def test_sign_ups_of_one_name_with_three_invitations_at_once_give_the_losers_their_invitations_back(
        gateway, monkeypatch):
    application, _ = gateway
    store = application.state.context.store
    for invitation in "abc":
        store.add_invitation(token_hash(f"inv-{invitation}"), time.time() + 60)
    arrived, all_arrived = [], asyncio.Event()
    check_form = signin.check_anonymous_form

    def arriving(*args) -> None:
        check_form(*args)
        arrived.append(1)
        if len(arrived) == 3:
            all_arrived.set()

    one_at_a_time, resuming = asyncio.Lock(), []

    async def create_user(context, name, introduction, csr_pem, *, may_resume):
        """As the real one: creations of a name one at a time; the name taken, the next is refused."""
        await asyncio.wait_for(all_arrived.wait(), timeout=5)  # all three passed the check of the name
        async with one_at_a_time:
            resuming.append(may_resume)
            if store.user(name) is not None:
                raise Problem(409, "ALREADY_EXISTS", f"user {name!r} already exists")
            store.add_user(UserRecord(name, token_hash("t-" + name), b"", None, custodial=True, state=ACTIVE))

    monkeypatch.setattr(signin, "check_anonymous_form", arriving)
    monkeypatch.setattr(signin, "create_user", create_user)
    async with client(application) as http:
        csrf = csrf_of((await http.get("/signup?invitation=inv-a")).text)
        answers = await asyncio.gather(*(http.post("/signup", data={
            "csrf": csrf, "invitation": f"inv-{i}", "name": "popular", "password": PASSWORD, "password2": PASSWORD})
            for i in "abc"))
    assert sorted(a.status_code for a in answers) == [303, 409, 409]
    assert resuming == [False] * 3  # none of them resumes another's creation
    assert sum(store.invitation_open(token_hash(f"inv-{i}")) for i in "abc") == 2  # the losers may sign up again


async def test_a_sign_up_sent_twice_through_two_replicas_never_reopens_the_invitation(gateway, monkeypatch):
    """The other replica's request takes the invitation and creates the user between this one's check of the name
    and its own take: this one is the same person's, and must not hand the invitation back."""
    application, _ = gateway
    store = application.state.context.store
    store.add_invitation(token_hash("inv"), time.time() + 60)
    use_invitation = store.use_invitation

    def other_replica_first(held: str, name: str):
        assert use_invitation(held, name) == "taken"
        store.add_user(UserRecord(name, token_hash("t"), b"", None, custodial=True, state=ACTIVE))
        return use_invitation(held, name)

    async def create_user(context, name, introduction, csr_pem, *, may_resume):
        assert may_resume  # the invitation holds the name: the same sign-up's creation
        raise Problem(409, "ALREADY_EXISTS", f"user {name!r} already exists")

    monkeypatch.setattr(store, "use_invitation", other_replica_first)
    monkeypatch.setattr(signin, "create_user", create_user)
    async with client(application) as http:
        csrf = csrf_of((await http.get("/signup?invitation=inv")).text)
        answer = await http.post("/signup", data={"csrf": csrf, "invitation": "inv", "name": "twin",
                                                  "password": PASSWORD, "password2": PASSWORD})
    assert answer.status_code == 409
    assert not store.invitation_open(token_hash("inv"))


async def test_a_payment_form_sent_again_is_the_same_request_to_the_ledger(gateway, monkeypatch):
    application, _ = gateway
    context = application.state.context
    context.store.set_password("alice", hash_password(PASSWORD))
    under = []

    async def submit(principal, function, *args):
        under.append((function, idempotency.current_request()))
        rights = {"service": args[0], "user": principal.name, "bought": 2, "used": 0, "remaining": 2, "paid": 6,
                  "updatedAt": "2026-12-01T00:00:00Z"}
        return Submitted(rights, "tx1", 41)

    monkeypatch.setattr(context.ledger, "submit", submit)
    async with client(application) as http:
        await sign_in(http)
        csrf = csrf_of((await http.get("/account")).text)
        form = {"csrf": csrf, "calls": "2", "maxPrice": "3", "once": "k" * 22}
        for _ in range(2):  # sent again: the ledger finds the first transaction (the same IDs)
            assert (await http.post("/services/weather/buy", data=form)).status_code == 303
        assert (await http.post("/services/weather/buy", data={**form, "calls": "3"})).status_code == 303
        stale = await http.post("/services/weather/buy", data={**form, "once": ""})
        assert stale.status_code == 422 and "reload the page" in stale.text
    first, again, other = under
    assert first == again and first[0] == "BuyCalls" and first[1][0] == "alice"
    assert first[1][1].startswith("web-form:" + "k" * 22) and other[1] != first[1]  # another payment, other IDs


def test_form_numbers_are_ascii_digits_only():
    import pytest

    from tdses.rest.web.acting import integer

    assert integer({"price": " 12 "}, "price") == 12 and integer({}, "price", required=False) is None
    for text in ("-1", "1_0", "١", "+3", "1e3", "9" * 19, ""):
        with pytest.raises(Problem, match="price must be a whole number, 0 or more"):
            integer({"price": text}, "price")


def test_an_edit_form_without_a_description_leaves_it_and_an_empty_one_clears_it():
    from tdses.rest.web.acting import service_fields

    assert service_fields({"price": "7"}, with_name=False) == {"price": 7}
    assert service_fields({"description": " ", "url": ""}, with_name=False) == {"description": ""}
    assert service_fields({"description": "one\nline"}, with_name=False) == {"description": "one line"}


async def test_a_page_s_invalid_query_is_a_problem_page_not_json(gateway):
    application, _ = gateway
    application.state.context.store.set_password("alice", hash_password(PASSWORD))
    async with client(application) as http:
        await sign_in(http)
        for path in ("/rights?block=abc", "/rights?block=-1", "/account?done=" + "x" * 30, "/new/mashup?q=a%00b"):
            answer = await http.get(path)
            assert answer.status_code == 422 and answer.headers["content-type"].startswith("text/html"), path
            assert any(f"{name}:" in answer.text for name in ("block", "done", "q")), answer.text


async def test_failures_sent_by_others_do_not_lock_out_a_browser_that_signed_in_before(gateway):
    application, _ = gateway
    context = application.state.context
    context.store.set_password("alice", hash_password(PASSWORD))
    context.signin = RateLimiter(3 / 60, 3, context.store, namespace="signin:")

    def browser(address: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=application, client=(address, 4000)),
                                 base_url="http://gw")

    async with browser("10.0.0.1") as owner, browser("10.0.0.2") as attacker, browser("10.0.0.3") as new:
        assert (await sign_in(owner)).status_code == 303  # one of the name's 3, before her browser was known
        guesses = [(await sign_in(attacker, password=f"guess {i}")).status_code for i in range(3)]
        assert guesses == [401, 401, 429]
        assert (await sign_in(new)).status_code == 429  # an unknown browser: alice's name is locked for it
        assert (await sign_in(owner)).status_code == 303  # her own browser is not
        new.cookies.set("tdses_known_org1", "made-up")  # a tag nobody else can make
        assert (await sign_in(new)).status_code == 429
        context.store.set_password("alice", hash_password("a new password, long"))
        assert (await sign_in(owner, password="a new password, long")).status_code == 429  # the old tag is void


def test_my_rights_mark_calls_used_up_only_by_vouchers():
    from tdses.rest.web.render import templates

    row = {"service": "weather", "bought": 2, "used": 0, "remaining": 2, "paid": 2}
    html = templates.env.get_template("rights.html").render(
        rights=[{**row, "vouchers_only": True}, {**row, "service": "maps", "vouchers_only": False}], history=[])
    cells = re.findall(r'<a href="/services/(\w+)">\w+</a>( <small[^>]*>metered</small>)?</td>', html)
    assert [(service, bool(mark)) for service, mark in cells] == [("weather", True), ("maps", False)]


def test_the_feed_reads_every_fact_between_two_blocks_however_many(tmp_path, monkeypatch):
    from tdses.index.blocks import index_block
    from tdses.index.store import IndexStore
    from tdses.rest.web import account
    from tdses.rest.web.account import facts_between
    from tests.unit.test_index import CC, block, config_tx, endorser_tx, key, user

    def registrations(number: int, names: list[str]):
        return index_block(block(number, [endorser_tx(f"tx-{n}", [(key("tdses.user", n), user(n))],
                                                      ("UserRegistered", {"grant": 0, "mspId": "Org1MSP", "name": n}))
                                          for n in names]), CC)

    store = IndexStore(tmp_path / "index.db")
    try:
        assert store.apply(index_block(block(0, [config_tx()]), CC))
        for number in range(1, 5):  # 70 registrations a block: more than one page of history each
            assert store.apply(registrations(number, [f"u{number}x{i}" for i in range(70)]))
        facts, reached = facts_between(store, 1, 3)  # not block 1, nor 4 (applied after the feed read its height)
        assert reached == 3 and [f["block"] for f in facts] == [2] * 70 + [3] * 70
        assert len({(f["tx_id"], f["seq"]) for f in facts}) == 140

        # More than one poll reads: whole blocks, oldest first, and the next poll goes on from the last.
        monkeypatch.setattr(account, "FEED_BATCH", 100)
        polls, seen = [], 0
        while seen < 4:
            facts, seen = facts_between(store, seen, 4)
            polls.append(sorted({f["block"] for f in facts}))
        assert polls == [[1], [2], [3], [4]]
        monkeypatch.setattr(account, "FEED_BATCH", 30)  # a block of 70 facts is read whole all the same
        facts, reached = facts_between(store, 2, 4)
        assert reached == 3 and len(facts) == 70 and len({(f["tx_id"], f["seq"]) for f in facts}) == 70
    finally:
        store.close()


def test_the_network_page_s_feed_goes_on_from_the_page_s_block_once_the_index_has_one():
    from tdses.rest.web.render import templates

    def source(index_block: int) -> list[str]:
        html = templates.env.get_template("network.html").render(supply={}, height=3, index_block=index_block,
                                                                 recent=[])
        return re.findall(r'data-source="([^"]*)"', html)

    assert source(5) == ["/network/activity?from=5"]
    assert source(-1) == ["/network/activity"]  # an empty index: from now on (?from=-1 would be refused)
