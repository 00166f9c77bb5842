"""The web pages in Debian's Chromium against the real network, one gateway per organization: a developer signs up
through an invitation on org1's site and publishes a service; a buyer on org2's site finds it by keyword and buys
5 calls; a composer on org3's site composes it into a mashup; the developer's balance and contribution rise. Wrong
passwords, expired sessions, forged forms and others' edit pages are refused. Every page passes axe-core without
serious violations; the main ones are photographed (into docs/web-*.png by `make screenshots`)."""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tdses.cli import main
from tests.support.browser import chromium, serious_violations
from tests.support.gateways import secret_file

pytestmark = pytest.mark.integration

# The README's pictures: `make screenshots` takes them into docs/; other runs into a directory of their own, so a
# test run leaves the working tree as it was.
SHOTS = Path(os.environ.get("TDSES_SCREENSHOTS_DIR") or tempfile.mkdtemp(prefix="tdses-web-shots-"))
PASSWORD = "a long enough password"
PRICE, CALLS, MASHUP_PRICE = 3, 5, 9
TRANSACTION_MS = 120_000  # a page that waits for its transaction's block, on a slow shared machine


@pytest.fixture(scope="module")
def browser():
    with chromium() as started:
        yield started


class Person:
    """Someone at one organization's site, in a browser context of their own (their own cookies)."""

    def __init__(self, browser, gateways, org: str, name: str) -> None:
        self.org, self.name, self.base = org, name, gateways.url(org)
        self.context = browser.new_context(base_url=self.base, viewport={"width": 1280, "height": 860})
        self.context.set_default_timeout(TRANSACTION_MS)
        self.page = self.context.new_page()
        self.visited: set[str] = set()

    def go(self, path: str) -> None:
        response = self.page.goto(path)
        assert response is not None and response.ok, f"{path}: {response and response.status}"
        self.check()

    def submit(self, button: str, url: str) -> None:
        """Press a form's button and wait for the page the form leads to."""
        with self.page.expect_navigation(url=re.compile(url)):
            self.page.get_by_role("button", name=button).click()
        self.check()

    def check(self) -> None:
        """Each kind of page once: axe-core finds no serious or critical violation."""
        kind = re.sub(r"/services/[^/?]+", "/services/*", urlparse(self.page.url).path)
        if kind not in self.visited:
            self.visited.add(kind)
            assert serious_violations(self.page) == []

    def text(self, selector: str) -> str:
        return self.page.inner_text(selector).strip()

    def sign_up(self, gateways, link: str | None = None, about: str = "") -> None:
        """Through an invitation: the admin's link, or one made now through the API."""
        if link is None:
            with gateways.client(self.org, gateways.admin_token(self.org)) as admin:
                invitation = admin.post("/v1/invitations")
            assert invitation.status_code == 201, invitation.text
            link = self.base + invitation.json()["path"]
        self.go(link)
        self.page.get_by_label("Name", exact=True).fill(self.name)
        self.page.get_by_label("Password", exact=True).fill(PASSWORD)
        self.page.get_by_label("Password again").fill(PASSWORD)
        self.page.get_by_label("About you").fill(about)
        self.submit("Create my account", r"/me$")

    def sign_in(self, password: str = PASSWORD) -> None:
        self.page.get_by_label("Name").fill(self.name)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_load_state()

    def balance(self) -> int:
        self.go("/me")
        return int(self.text("#balance"))

    def block(self) -> int:
        """The block of the last write, as the page it led to names it."""
        return int(parse_qs(urlparse(self.page.url).query)["block"][0])

    def shoot(self, name: str) -> None:
        shot = SHOTS / f"web-{name}.png"
        self.page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 0

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def people(browser, gateways):
    tag = secrets.token_hex(3)
    cast = {role: Person(browser, gateways, org, f"{role}-{tag}")
            for role, org in (("dev", "org1"), ("buyer", "org2"), ("composer", "org3"))}
    yield tag, cast
    for person in cast.values():
        person.close()


def test_publish_find_buy_and_compose_through_three_organizations_sites(people, gateways, tmp_path, monkeypatch,
                                                                       capsys):
    tag, cast = people
    dev, buyer, composer = cast["dev"], cast["buyer"], cast["composer"]
    service, mashup, keyword = f"forecast-{tag}", f"trip-{tag}", f"hailstorm{tag}"

    dev.sign_up(gateways)
    dev.go("/new/service")
    dev.page.get_by_label("Name").fill(service)
    dev.page.get_by_label("Category").fill("weather")
    dev.page.get_by_label("Resource URL").fill("https://forecast.example/v1")
    dev.page.get_by_label("Price (SToken per call)").fill(str(PRICE))
    dev.page.get_by_label("Description").fill(f"forecasts with {keyword} warnings")
    dev.page.get_by_label("Latency (ms, advertised)").fill("120")
    dev.page.get_by_label("Availability (basis points, 10000 = 100 %)").fill("9990")
    dev.submit("Register", r"/me\?")
    dev.submit(f"Publish {service}", r"/me\?done=published")
    assert "available" in dev.text("table.services")
    published = dev.block()
    dev_balance, dev_contribution = int(dev.text("#balance")), float(dev.text("#contribution"))

    buyer.sign_up(gateways)
    buyer_balance = buyer.balance()
    buyer.go(f"/?block={published}")  # org2's index has the publication
    buyer.page.get_by_label("Search").fill(keyword)
    buyer.submit("Search", r"q=")
    buyer.shoot("catalog")
    buyer.page.set_viewport_size({"width": 390, "height": 760})  # a phone: one column, nothing cut off
    buyer.shoot("catalog-phone")
    buyer.page.set_viewport_size({"width": 1280, "height": 860})
    buyer.page.get_by_role("link", name=service).click()
    buyer.page.wait_for_url(re.compile(f"/services/{service}$"))
    buyer.check()
    assert buyer.text("#remaining") == "0"
    buyer.page.get_by_label("Calls to buy").fill(str(CALLS))
    assert buyer.text("#cost") == f"{CALLS} × {PRICE} = {CALLS * PRICE} SToken"
    buyer.shoot("service")
    buyer.submit("Buy…", r"/buy\?calls=5")
    assert buyer.text("#total") == f"{CALLS * PRICE} SToken"  # the cost, before anything is paid
    buyer.shoot("buy")
    buyer.submit(f"Confirm: pay {CALLS * PRICE} SToken", rf"/services/{service}\?done=bought")
    assert buyer.text("#remaining") == str(CALLS)
    bought = buyer.block()
    assert buyer.balance() == buyer_balance - CALLS * PRICE
    buyer.go(f"/rights?block={bought}")
    assert service in buyer.text("main")

    monkeypatch.setenv("TDSES_CONFIG_DIR", str(tmp_path / "config"))
    admin_token = secret_file(tmp_path / "admin-token", gateways.admin_token("org3"))
    assert main(["user", "invite", "--url", composer.base, "--token-file", str(admin_token), "--json"]) == 0
    composer.sign_up(gateways, json.loads(capsys.readouterr().out)["link"])  # the admin's command line made it
    composer.go(f"/?block={bought}")
    composer.go(f"/new/mashup?q={keyword}")
    composer.page.get_by_label(re.compile(f"^{service} ")).check()
    assert composer.text("#mashup-total") == f"1 component(s): {PRICE} SToken"
    composer.page.get_by_label("Mashup name").fill(mashup)
    composer.page.get_by_label("Category").fill("travel")
    composer.page.get_by_label("Resource URL").fill("https://trip.example")
    composer.page.get_by_label("Price (SToken per call)").fill(str(MASHUP_PRICE))
    composer.submit("Review the cost…", r"/new/mashup/review\?")
    assert composer.text("#total") == f"{PRICE} SToken"
    composer.submit(f"Confirm: pay {PRICE} SToken", r"/me\?done=composed")
    assert mashup in composer.text("table.services")

    dev.go("/me")
    assert int(dev.text("#balance")) == dev_balance + CALLS * PRICE + PRICE
    assert float(dev.text("#contribution")) > dev_contribution
    assert buyer.name in dev.text("table.services")  # my buyers
    dev.shoot("my-services")

    # The network page's feed is live: the buyer's reward appears on it without a reload (server-sent events).
    dev.go("/network")
    assert int(dev.text("#height")) > bought
    buyer.go(f"/services/{service}")
    buyer.page.get_by_label("SToken").fill("2")
    buyer.submit("Reward", rf"/services/{service}\?done=rewarded")
    dev.page.locator("#feed li", has_text=f"reward {service} by {buyer.name}, 2 SToken").wait_for()
    dev.shoot("network")
    created = f"mashup created {mashup} by {composer.name}"
    assert created in dev.text("#feed") and f"{created}," not in dev.text("#feed")  # what it paid: its creator's
    composer.go("/network")  # neither the payer nor the developer: the mashup, not the payments
    feed = composer.text("#feed")
    assert f"{created}, " in feed and f"user registered by {buyer.name}" in feed
    assert f"reward {service}" not in feed and f"purchase {service}" not in feed


def test_wrong_password_expired_session_forged_form_and_others_edit_page_are_refused(people, gateways):
    tag, cast = people
    dev, buyer = cast["dev"], cast["buyer"]
    service = f"alerts-{tag}"
    dev.sign_up(gateways)
    with gateways.client("org1", gateways.admin_token("org1")) as admin:
        assert admin.get(f"/v1/users/{dev.name}").status_code == 200  # the chain user, as POST /v1/users makes it
    dev.go("/new/service")
    dev.page.get_by_label("Name").fill(service)
    dev.page.get_by_label("Category").fill("weather")
    dev.page.get_by_label("Resource URL").fill("https://alerts.example")
    dev.page.get_by_label("Price (SToken per call)").fill("2")
    dev.submit("Register", r"/me\?")
    dev.submit(f"Publish {service}", r"/me\?done=published")

    buyer.sign_up(gateways, about="I buy weather.\nAnd alerts.")  # a textarea's lines: one line on chain
    with gateways.client("org2", gateways.admin_token("org2")) as admin:
        assert admin.get(f"/v1/users/{buyer.name}").json()["introduction"] == "I buy weather. And alerts."
    # Another user's edit page: refused, with the problem's detail.
    response = buyer.page.goto(f"/services/{service}/edit")
    assert response.status == 403 and f"only the developer of '{service}' edits it" in buyer.text("[role=alert]")
    buyer.check()
    # A form without the session's CSRF token (as another site would send it): refused, nothing bought.
    forged = buyer.context.request.post(f"{buyer.base}/services/{service}/buy",
                                        form={"calls": "1", "maxPrice": "2", "csrf": "guessed"}, max_redirects=0)
    assert forged.status == 403 and "not sent from this site" in forged.text()
    buyer.go(f"/services/{service}")
    assert buyer.text("#remaining") == "0"

    # The session expires: the next page is the sign-in page.
    gateways.context("org2").store.expire_sessions(buyer.name)
    buyer.page.goto("/me")
    assert urlparse(buyer.page.url).path == "/signin"
    buyer.check()
    buyer.shoot("sign-in")
    # A wrong password: refused; the right one: back to the page asked for.
    buyer.sign_in("not the password")
    assert buyer.text("[role=alert]") == "The name or the password is wrong."
    assert urlparse(buyer.page.url).path == "/signin"
    buyer.sign_in()
    assert urlparse(buyer.page.url).path == "/me"
    buyer.go("/account")
    # The API documentation renders offline, from the gateway's own files. It is Swagger UI's page, not ours:
    # axe-core finds its known structure problems (nested-interactive), so it is not held to the pages' check.
    buyer.page.goto("/docs")
    buyer.page.wait_for_selector(".swagger-ui .info .title")
    # The accessibility check does see violations where there are some.
    buyer.page.set_content('<html><body><img src="/static/web/none.png"><input></body></html>')
    assert {v.split(": ")[1].split(" ")[0] for v in serious_violations(buyer.page)} >= {"image-alt", "label"}
