"""Metered calls: users' voucher keys, vouchers signed for custodial users, and settlements by service servers
(tdses.metering; the format in tdses/metering/voucher.py)."""

from __future__ import annotations

import json
import time
from typing import Annotated

from fastapi import APIRouter, Path, Response

from tdses.metering.voucher import Claim, Voucher
from tdses.rest.api.deps import ContextDep, PrincipalDep, UserDep, same_user
from tdses.rest.api.transact import TRANSACTION_RESPONSES, transact
from tdses.rest.core.problems import Problem
from tdses.rest.models import responses as out
from tdses.rest.models.fields import NAME_PATTERN
from tdses.rest.models.requests import SettlementCreate, VoucherSigning

router = APIRouter(tags=["metering"])

Name = Annotated[str, Path(pattern=NAME_PATTERN, examples=["weather-api"])]


@router.get("/users/{name}/voucher-keys", response_model=out.VoucherKeys)
async def voucher_keys(name: Name, context: ContextDep, principal: PrincipalDep) -> dict:
    """The public keys a user's vouchers may be signed with, newest first, and whether the user is active."""
    return await context.ledger.evaluate(principal, "QueryVoucherKeys", name)


@router.post("/users/{name}/voucher-key", response_model=out.VoucherKeys, responses=TRANSACTION_RESPONSES)
async def update_voucher_key(name: Name, context: ContextDep, principal: UserDep, response: Response) -> dict:
    """After re-enrolling with a new key: make it the key of your vouchers (the previous one stays valid)."""
    same_user(principal, name)
    return await transact(context, principal, response, "UpdateVoucherKey")


@router.post("/services/{name}/settlements", response_model=out.Settlement, responses=TRANSACTION_RESPONSES)
async def settle_calls(name: Name, body: SettlementCreate, context: ContextDep, principal: UserDep,
                       response: Response) -> dict:
    """For the service's developer or a server it authorized: record the calls users' vouchers account for. Per
    user, used calls become the highest count that holds; vouchers that do not hold are listed in `rejected`."""
    return await transact(context, principal, response, "SettleCalls", name,
                          json.dumps(body.vouchers, separators=(",", ":")))


@router.post("/services/{name}/vouchers", response_model=out.SignedVouchers)
async def sign_vouchers(name: Name, body: VoucherSigning, context: ContextDep, principal: UserDep) -> dict:
    """For a custodial user: vouchers for the next calls of a service, one per request digest, signed with your
    key. Counts continue from the last one the gateway signed and from what is settled on chain."""
    if not principal.custodial:
        raise Problem(403, "FORBIDDEN", "your key is yours: sign your vouchers yourself (tdses.metering.client)")
    rights = await context.ledger.evaluate(principal, "GetSpecCallTime", name, principal.name)
    first = context.store.take_voucher_counts(principal.name, name, len(body.digests), at_least=int(rights["used"]))
    now = int(time.time() * 1000)
    key = principal.signer.private_key
    vouchers = [Voucher.sign(Claim(name, principal.name, first + i, digest, now), key).text
                for i, digest in enumerate(body.digests)]
    return {"vouchers": vouchers, "first": first}
