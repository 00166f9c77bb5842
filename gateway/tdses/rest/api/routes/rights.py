"""Call-time rights: buy calls, read them, reduce them (the developer or its authorized servers), reward."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from tdses.rest.api.deps import ChaincodeDep, PrincipalDep, UserChaincodeDep
from tdses.rest.api.jsonbody import ApiRoute
from tdses.rest.api.lean import lean
from tdses.rest.api.transact import TRANSACTION_RESPONSES
from tdses.rest.models import responses as out
from tdses.rest.models.fields import NAME_PATTERN
from tdses.rest.models.requests import Purchase, Reduction, Reward
from tdses.rest.problems import Problem

router = APIRouter(route_class=ApiRoute, prefix="/services/{name}", tags=["rights"])

ServiceName = Annotated[str, Path(pattern=NAME_PATTERN, examples=["weather-api"])]
UserName = Annotated[str, Path(pattern=NAME_PATTERN, examples=["alice"])]


@lean
@router.post("/rights", response_model=out.Rights, responses=TRANSACTION_RESPONSES)
async def buy_calls(name: ServiceName, body: Purchase, chaincode: UserChaincodeDep) -> dict:
    """Buy calls of an available service: you pay price × calls SToken to its developer (with maxPrice: only if a
    call costs at most that much now)."""
    return await chaincode.buy_calls(name, body.calls, body.max_price)


@router.get("/rights", response_model=out.ServiceUsage)
async def service_usage(name: ServiceName, chaincode: ChaincodeDep, principal: PrincipalDep) -> dict:
    """For the service's developer: calls bought and used by all users, and how often it was composed."""
    if not principal.is_admin:
        service = await chaincode.query_service(name)
        if not principal.is_user(service.get("developer", "")):
            raise Problem(403, "FORBIDDEN", f"only the developer of {name!r} sees its usage")
    return await chaincode.service_usage(name)


@lean
@router.get("/rights/{user}", response_model=out.Rights)
async def get_rights(name: ServiceName, user: UserName, chaincode: ChaincodeDep) -> dict:
    """One user's rights on a service (zeros if it never bought any)."""
    return await chaincode.rights(name, user)


@lean
@router.post("/rights/{user}/reduce", response_model=out.Rights, responses=TRANSACTION_RESPONSES)
async def reduce_calls(name: ServiceName, user: UserName, body: Reduction, chaincode: UserChaincodeDep) -> dict:
    """Use a caller's calls: for the service's developer or a server it authorized."""
    return await chaincode.reduce_calls(name, user, body.calls)


@lean
@router.post("/rewards", response_model=out.RewardReceipt, responses=TRANSACTION_RESPONSES)
async def reward_service(name: ServiceName, body: Reward, chaincode: UserChaincodeDep) -> dict:
    """Pay SToken to a service's developer as a reward."""
    return await chaincode.reward_service(name, body.amount)
