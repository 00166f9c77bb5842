"""SToken: balances, transfers and the supply."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from tdses.chaincode import Fn
from tdses.rest.api.deps import ContextDep, PrincipalDep
from tdses.rest.api.transact import TRANSACTION_RESPONSES, transact
from tdses.rest.models import responses as out
from tdses.rest.models.requests import TransferCreate

router = APIRouter(tags=["stoken"])

# A user ("alice") or a maintaining organization's account ("org:Org1MSP").
ACCOUNT_PATTERN = r"^([A-Za-z0-9][A-Za-z0-9._-]{0,63}|org:[A-Za-z0-9][A-Za-z0-9._-]{0,127})$"


@router.get("/balances/{account}", response_model=out.Balance)
async def balance(account: Annotated[str, Path(pattern=ACCOUNT_PATTERN, examples=["alice", "org:Org1MSP"])],
                  context: ContextDep, principal: PrincipalDep) -> dict:
    """The SToken balance of a user or of a maintaining organization (org:<MSP ID>)."""
    return await context.ledger.evaluate(principal, Fn.BALANCE_OF, account)


@router.post("/transfers", status_code=201, response_model=out.TransferReceipt, responses=TRANSACTION_RESPONSES)
async def transfer(body: TransferCreate, context: ContextDep, principal: PrincipalDep, response: Response) -> dict:
    """Send SToken to a user: from your account, or with the admin token from the organization's account."""
    function = Fn.ORG_TRANSFER if principal.is_admin else Fn.TRANSFER
    return await transact(context, principal, response, function, body.to, str(body.amount))


@router.get("/token", response_model=out.TokenInfo)
async def supply(context: ContextDep, principal: PrincipalDep) -> dict:
    """The SToken supply: cap, circulating, incentive pool, next registration grant."""
    return await context.ledger.evaluate(principal, Fn.TOKEN_INFO)
