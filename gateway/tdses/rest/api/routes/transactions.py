"""Transactions: commit status by id, and the signatures of non-custodial users."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

import grpc
from fastapi import APIRouter, Path, Query, Response

from fabric_gateway import CommitStatusError, FabricError
from tdses.rest.api.deps import ContextDep, PrincipalDep, UserDep
from tdses.rest.api.jsonbody import ApiRoute
from tdses.rest.headers import BLOCK_HEADER, TRANSACTION_HEADER
from tdses.rest.models import responses as out
from tdses.rest.models.requests import Signature
from tdses.rest.problems import Problem, problem_from_fabric
from tdses.rest.services.ledger import Submitted
from tdses.rest.services.signing import SignatureRequired

router = APIRouter(route_class=ApiRoute, prefix="/transactions", tags=["transactions"])

TransactionId = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", examples=["3f1c" + "0" * 60])]


@router.get("/{tx_id}", response_model=out.TransactionStatus,
            responses={202: {"description": "not committed (or unknown) yet", "model": out.TransactionStatus}})
async def transaction_status(tx_id: TransactionId, context: ContextDep, principal: PrincipalDep, response: Response,
                             wait: Annotated[float, Query(ge=0, le=30, description="seconds to wait")] = 2.0) -> dict:
    """Whether a transaction committed, and with which validation code."""
    try:
        status = await context.ledger.commit_status(tx_id, principal, timeout=max(wait, 0.1))
    except CommitStatusError as error:
        if error.code != grpc.StatusCode.DEADLINE_EXCEEDED:
            raise problem_from_fabric(error) from None
        response.status_code = 202
        return {"transactionId": tx_id, "status": "PENDING", "committed": False, "valid": False}
    except FabricError as error:
        raise problem_from_fabric(error) from None
    await context.offline.committed(status)
    return {"transactionId": tx_id, "status": status.code_name, "committed": True, "valid": status.successful,
            "blockNumber": status.block_number}


@router.post("/{tx_id}/signature", responses={
    200: {"description": "committed: the chaincode's result"},
    202: {"description": "endorsed: now sign the transaction digest", "model": out.SignatureRequest}})
async def sign_transaction(tx_id: TransactionId, body: Signature, context: ContextDep, principal: UserDep,
                           response: Response) -> dict:
    """Non-custodial: the signature of the digest the gateway gave you (proposal first, then transaction)."""
    try:
        signature = base64.b64decode(body.signature, validate=True)
    except (binascii.Error, ValueError):
        raise Problem(422, "INVALID_ARGUMENT", "signature must be base64") from None
    outcome = await context.offline.sign(principal, tx_id, signature)
    if not isinstance(outcome, Submitted):
        raise SignatureRequired(outcome)
    response.headers[TRANSACTION_HEADER] = outcome.transaction_id
    response.headers[BLOCK_HEADER] = str(outcome.block_number)
    return {"transactionId": outcome.transaction_id, "result": outcome.result}
