"""SToken: balances, transfers and the supply."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from tdses.rest.api.deps import ChaincodeDep, PrincipalDep
from tdses.rest.api.jsonbody import ApiRoute
from tdses.rest.api.lean import lean
from tdses.rest.api.transact import TRANSACTION_RESPONSES
from tdses.rest.models import responses as out
from tdses.rest.models.requests import TransferCreate

router = APIRouter(route_class=ApiRoute, tags=["stoken"])

# A user ("alice") or a maintaining organization's account ("org:Org1MSP").
ACCOUNT_PATTERN = r"^([A-Za-z0-9][A-Za-z0-9._-]{0,63}|org:[A-Za-z0-9][A-Za-z0-9._-]{0,127})$"


@lean
@router.get("/balances/{account}", response_model=out.Balance)
async def balance(account: Annotated[str, Path(pattern=ACCOUNT_PATTERN, examples=["alice", "org:Org1MSP"])],
                  chaincode: ChaincodeDep) -> dict:
    """The SToken balance of a user or of a maintaining organization (org:<MSP ID>)."""
    return await chaincode.balance_of(account)


@router.post("/transfers", status_code=201, response_model=out.TransferReceipt, responses=TRANSACTION_RESPONSES)
async def transfer(body: TransferCreate, chaincode: ChaincodeDep, principal: PrincipalDep) -> dict:
    """Send SToken to a user: from your account, or with the admin token from the organization's account."""
    if principal.is_admin:
        return await chaincode.org_transfer(body.to, body.amount)
    return await chaincode.transfer(body.to, body.amount)


@lean
@router.get("/token", response_model=out.TokenInfo)
async def supply(chaincode: ChaincodeDep) -> dict:
    """The SToken supply: cap, circulating, incentive pool, next registration grant."""
    return await chaincode.token_info()
