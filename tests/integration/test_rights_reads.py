"""Users' rights read by many callers at the same moment: the gateway sends them to its peer as one proposal
(GetSpecCallTimes), and each caller gets what it would have got alone, a refusal included."""

from __future__ import annotations

import asyncio
import secrets

import httpx
import pytest

from tdses.chaincode import Fn
from tdses.rest.problems import Problem
from tdses.rest.services.ledger import Ledger
from tdses.rest.services.principal import load_admin

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def reads(gateways) -> list[tuple[str, str]]:
    """(service, user) pairs: calls bought, none bought, an unknown service, an unknown user, each twice."""
    tag = secrets.token_hex(3)
    service, developer, buyers = f"weather-{tag}", f"dev-{tag}", [f"buyer{i}-{tag}" for i in range(3)]
    with gateways.client("org1", gateways.register("org1", developer)) as dev:
        assert dev.post("/v1/services", json={"name": service, "category": "weather", "url": "https://w.example",
                                              "price": 1}).status_code == 201
        assert dev.post(f"/v1/services/{service}/publish").status_code == 200
    for calls, buyer in zip((3, 1), buyers, strict=False):
        with gateways.client("org2", gateways.register("org2", buyer)) as http:
            assert http.post(f"/v1/services/{service}/rights", json={"calls": calls}).status_code == 200
    gateways.register("org3", buyers[2])
    pairs = [(service, b) for b in buyers] + [(f"nothing-{tag}", buyers[0]), (service, f"nobody-{tag}")]
    return pairs * 2


def outcome(result: object) -> object:
    if isinstance(result, Problem):
        return result.status, result.code, result.detail
    assert not isinstance(result, BaseException), result
    return result


async def test_reads_of_one_moment_go_as_one_proposal_and_each_gets_its_own_answer(gateways, reads):
    settings = gateways.settings["org1"]
    admin = load_admin(settings.msp_id, settings.admin_msp_dir)
    ledger = Ledger(settings, admin)
    try:
        alone = []
        for pair in reads:
            alone.append(outcome(*await asyncio.gather(ledger.evaluate(admin, Fn.GET_RIGHTS, *pair),
                                                       return_exceptions=True)))
        assert ledger.rights.batches == 0
        together = await asyncio.gather(*(ledger.evaluate(admin, Fn.GET_RIGHTS, *pair) for pair in reads),
                                        return_exceptions=True)
        assert ledger.rights.batches == 1
    finally:
        await ledger.close()
    assert [outcome(r) for r in together] == alone
    assert [a["remaining"] for a in alone[:3]] == [3, 1, 0]
    assert [a[:2] for a in alone[3:5]] == [(404, "NOT_FOUND")] * 2


async def test_many_callers_at_once_over_http_get_what_each_gets_alone(gateways, reads):
    token = gateways.admin_token("org3")
    async with httpx.AsyncClient(base_url=gateways.url("org3"), timeout=60,
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        def answer(response: httpx.Response) -> tuple[int, dict]:
            return response.status_code, response.json()

        paths = [f"/v1/services/{service}/rights/{user}" for service, user in reads]
        alone = [answer(await http.get(path)) for path in paths]
        together = [answer(r) for r in await asyncio.gather(*(http.get(path) for path in paths * 4))]
    assert together == alone * 4
    assert [status for status, _ in alone] == [200, 200, 200, 404, 404] * 2
