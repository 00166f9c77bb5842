"""Metered calls: users' voucher keys, vouchers signed for custodial users, and settlements by service servers
(tdses.metering; the format in tdses/metering/voucher.py)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Path

from tdses.metering.voucher import Claim, Voucher
from tdses.rest.api.deps import ChaincodeDep, UserChaincodeDep, UserDep, same_user
from tdses.rest.api.jsonbody import ApiRoute
from tdses.rest.api.lean import lean
from tdses.rest.api.transact import TRANSACTION_RESPONSES
from tdses.rest.models import responses as out
from tdses.rest.models.fields import NAME_PATTERN
from tdses.rest.models.requests import SettlementCreate, VoucherSigning
from tdses.rest.problems import Problem

router = APIRouter(route_class=ApiRoute, tags=["metering"])

Name = Annotated[str, Path(pattern=NAME_PATTERN, examples=["weather-api"])]


@router.get("/users/{name}/voucher-keys", response_model=out.VoucherKeys)
async def voucher_keys(name: Name, chaincode: ChaincodeDep) -> dict:
    """The public keys a user's vouchers may be signed with, newest first, and whether the user is active."""
    return await chaincode.query_voucher_keys(name)


@router.post("/users/{name}/voucher-key", response_model=out.VoucherKeys, responses=TRANSACTION_RESPONSES)
async def update_voucher_key(name: Name, chaincode: UserChaincodeDep, principal: UserDep) -> dict:
    """After re-enrolling with a new key: make it the key of your vouchers. The three before it stay valid; a fifth
    key within 7 days of the last change is refused (409), so that no voucher a server holds is voided."""
    same_user(principal, name)
    return await chaincode.update_voucher_key()


@lean
@router.post("/services/{name}/settlements", response_model=out.Settlement, responses=TRANSACTION_RESPONSES)
async def settle_calls(name: Name, body: SettlementCreate, chaincode: UserChaincodeDep) -> dict:
    """For the service's developer or a server it authorized: record the calls users' vouchers account for. Per
    user, used calls become the highest count that holds; vouchers that do not hold are listed in `rejected`."""
    return await chaincode.settle_calls(name, body.vouchers)


@router.post("/services/{name}/vouchers", response_model=out.SignedVouchers)
async def sign_vouchers(name: Name, body: VoucherSigning, principal: UserDep) -> dict:
    """For a custodial user: vouchers for your next calls of a service, signed with your key; one per (count,
    request digest). The counts are yours to keep (tdses.metering.client does): the service settles the
    highest count it accepted, so a count signed twice is refused as a replay and a count skipped is paid for."""
    if not principal.custodial:
        raise Problem(403, "FORBIDDEN", "your key is yours: sign your vouchers yourself (tdses.metering.client)")
    now = int(time.time() * 1000)
    key = principal.signer.private_key
    return {"vouchers": [Voucher.sign(Claim(name, principal.name, v.count, v.digest, now), key).text
                         for v in body.vouchers]}
