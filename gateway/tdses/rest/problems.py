"""RFC 9457 problem details: every error leaves the gateway as application/problem+json with a stable code.

    raise Problem(404, "NOT_FOUND", "service svc1 does not exist")
    problem_from_fabric(error)  # a fabric_gateway error -> the Problem a client should see
"""

from __future__ import annotations

import grpc
from fastapi.responses import JSONResponse

from fabric_gateway import CommitError, CommitStatusError, EndorseError, FabricError, GatewayError, SubmitError
from tdses.chaincode import Code, Refused, error_code

MEDIA_TYPE = "application/problem+json"

# The chaincode's stable error codes (chaincode/contract/errors.go) and what they mean over HTTP.
CHAINCODE_STATUS = {
    Code.INVALID_ARGUMENT: 422,
    Code.UNAUTHENTICATED: 403,  # the HTTP caller is authenticated; its Fabric identity is no registered user
    Code.FORBIDDEN: 403,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.INSUFFICIENT_FUNDS: 409,
    Code.INVALID_STATE: 409,
    "CONFLICT": 409,  # the gateway's own: a read conflict that outlived its retries
    Code.INTERNAL: 502,
}

TITLES = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    409: "Conflict", 410: "Gone", 413: "Content Too Large", 415: "Unsupported Media Type",
    422: "Unprocessable Content", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}


# Not enough peers reachable (or known yet, just after a restart) to meet the endorsement policy: try again later.
TRANSIENT_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.FAILED_PRECONDITION)


class Problem(Exception):
    """An error response: HTTP status, stable code, human-readable detail and optional extension members."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        self.extra = {k: v for k, v in extra.items() if v is not None}

    def body(self) -> dict:
        return {
            "type": f"urn:tdses:problem:{self.code.lower()}",
            "title": TITLES.get(self.status, "Error"),
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
            **self.extra,
        }

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers, media_type=MEDIA_TYPE)


def internal_error() -> Problem:
    """The answer to what the gateway did not expect (the error itself is logged, never sent)."""
    return Problem(500, "INTERNAL", "the gateway failed unexpectedly")


def problem_from_refusal(refusal: FabricError | Refused) -> Problem:
    """The chaincode's refusal, its chaincode_message "NOT_FOUND: service x does not exist", as the client sees it."""
    code = error_code(refusal) or Code.INTERNAL
    message = refusal.chaincode_message or code
    return Problem(CHAINCODE_STATUS.get(code, 502), code, message.removeprefix(f"{code}: "))


def problem_from_fabric(error: FabricError, attempts: int | None = None) -> Problem:
    """What a failed evaluate/endorse/submit/commit means for the client (after fabric-samples' errors.ts:
    the chaincode's own refusals return at once, conflicts were already retried with fresh transactions,
    a commit not seen in time is reported with its transaction id to poll). `attempts`: how many transactions
    the retry policy made before giving up, when it did."""
    tx_id = getattr(error, "transaction_id", None) or None
    if isinstance(error, CommitError):
        if error.code_name in ("MVCC_READ_CONFLICT", "PHANTOM_READ_CONFLICT"):
            after = f" after {attempts} attempts" if attempts and attempts > 1 else ""
            return Problem(409, "CONFLICT", f"the transaction kept conflicting with concurrent ones "
                           f"({error.code_name}{after}); try again", transactionId=tx_id, headers={"Retry-After": "1"})
        return Problem(502, "COMMIT_FAILED", f"the peers rejected the transaction ({error.code_name})",
                       transactionId=tx_id, validationCode=error.code_name)
    if not isinstance(error, GatewayError):
        return Problem(502, "FABRIC_ERROR", "the Fabric client failed", transactionId=tx_id)
    if error_code(error) is not None:
        return problem_from_refusal(error)
    if error.code == grpc.StatusCode.DEADLINE_EXCEEDED:
        if isinstance(error, CommitStatusError):
            return Problem(504, "COMMIT_TIMEOUT", "the transaction was submitted but its commit was not seen in "
                           "time; poll GET /v1/transactions/{transactionId}", transactionId=tx_id)
        return Problem(504, "PEER_TIMEOUT", "the peer did not answer in time", transactionId=tx_id)
    if error.code in TRANSIENT_CODES:
        what = "ordering service" if isinstance(error, SubmitError) else "peer"
        return Problem(503, "UNAVAILABLE", f"not enough {what}s of the network are reachable", transactionId=tx_id,
                       headers={"Retry-After": "5"})
    if isinstance(error, EndorseError):
        return Problem(502, "ENDORSEMENT_FAILED", "the transaction could not be endorsed: "
                       + "; ".join(d.message for d in error.details)[:500] if error.details
                       else f"the transaction could not be endorsed: {error.message[:500]}", transactionId=tx_id)
    if isinstance(error, SubmitError):
        return Problem(503, "SUBMIT_FAILED", "the ordering service did not accept the transaction",
                       transactionId=tx_id, headers={"Retry-After": "5"})
    return Problem(502, "GATEWAY_ERROR", f"the gateway peer failed: {error.code.name}", transactionId=tx_id)
