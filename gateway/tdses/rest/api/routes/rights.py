"""Call-time rights: buy calls, read them, reduce them (the developer or its authorized servers), reward."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from tdses.chaincode import Fn
from tdses.rest.api.deps import ContextDep, PrincipalDep, UserDep
from tdses.rest.api.transact import TRANSACTION_RESPONSES, transact
from tdses.rest.models import responses as out
from tdses.rest.models.fields import NAME_PATTERN
from tdses.rest.models.requests import Purchase, Reduction, Reward
from tdses.rest.problems import Problem

router = APIRouter(prefix="/services/{name}", tags=["rights"])

ServiceName = Annotated[str, Path(pattern=NAME_PATTERN, examples=["weather-api"])]
UserName = Annotated[str, Path(pattern=NAME_PATTERN, examples=["alice"])]


@router.post("/rights", response_model=out.Rights, responses=TRANSACTION_RESPONSES)
async def buy_calls(name: ServiceName, body: Purchase, context: ContextDep, principal: UserDep,
                    response: Response) -> dict:
    """Buy calls of an available service: you pay price × calls SToken to its developer (with maxPrice: only if a
    call costs at most that much now)."""
    if body.max_price is None:
        return await transact(context, principal, response, Fn.BUY_CALLS_AT_ANY_PRICE, name, str(body.calls))
    return await transact(context, principal, response, Fn.BUY_CALLS, name, str(body.calls), str(body.max_price))


@router.get("/rights", response_model=out.ServiceUsage)
async def service_usage(name: ServiceName, context: ContextDep, principal: PrincipalDep) -> dict:
    """For the service's developer: calls bought and used by all users, and how often it was composed."""
    if not principal.is_admin:
        service = await context.ledger.evaluate(principal, Fn.QUERY_SERVICE, name)
        if service.get("developer") != principal.name:
            raise Problem(403, "FORBIDDEN", f"only the developer of {name!r} sees its usage")
    return await context.ledger.evaluate(principal, Fn.GET_SERVICE_USAGE, name)


@router.get("/rights/{user}", response_model=out.Rights)
async def get_rights(name: ServiceName, user: UserName, context: ContextDep, principal: PrincipalDep) -> dict:
    """One user's rights on a service (zeros if it never bought any)."""
    return await context.ledger.evaluate(principal, Fn.GET_RIGHTS, name, user)


@router.post("/rights/{user}/reduce", response_model=out.Rights, responses=TRANSACTION_RESPONSES)
async def reduce_calls(name: ServiceName, user: UserName, body: Reduction, context: ContextDep, principal: UserDep,
                       response: Response) -> dict:
    """Use a caller's calls: for the service's developer or a server it authorized."""
    return await transact(context, principal, response, Fn.REDUCE_CALLS, name, user, str(body.calls))


@router.post("/rewards", response_model=out.RewardReceipt, responses=TRANSACTION_RESPONSES)
async def reward_service(name: ServiceName, body: Reward, context: ContextDep, principal: UserDep,
                         response: Response) -> dict:
    """Pay SToken to a service's developer as a reward."""
    return await transact(context, principal, response, Fn.REWARD_SERVICE, name, str(body.amount))
