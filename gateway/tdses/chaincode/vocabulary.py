"""The service chaincode's vocabulary, as the Python side uses it: function names, statuses, error codes.
`tests/unit/test_chaincode_vocabulary.py` checks each against the Go source, so the two cannot drift."""

from __future__ import annotations

import re
from enum import StrEnum


class Fn(StrEnum):
    """Contract functions. The paper's names are kept on chain; where one misleads, the comment says what it does."""

    INIT = "Init"
    TOKEN_INFO = "TokenInfo"
    BALANCE_OF = "BalanceOf"
    TRANSFER = "Transfer"
    ORG_TRANSFER = "OrgTransfer"
    REGISTER_USER = "RegisterUser"
    REMOVE_USER = "RemoveUser"
    QUERY_USER = "QueryUser"
    WHO_AM_I = "WhoAmI"
    SET_CONTRIBUTION_WEIGHTS = "SetContributionWeights"
    COMPACT_ACCOUNT = "CompactAccount"
    REGISTER_SERVICE = "RegisterService"
    PUBLISH_SERVICE = "PublishService"
    INVALIDATE_SERVICE = "InvalidateService"
    EDIT_SERVICE = "EditService"
    QUERY_SERVICE = "QueryService"
    QUERY_SERVICE_BY_USER = "QueryServiceByUser"
    QUERY_SERVICE_BY_RANGE = "QueryServiceByRange"
    QUERY_SERVICE_BY_STATUS = "QueryServiceByStatus"
    COMPACT_SERVICE = "CompactService"
    CREATE_MASHUP = "CreateMashup"
    BUY_CALLS_AT_ANY_PRICE = "CallService"  # the paper's name: it buys calls
    BUY_CALLS = "BuyCalls"  # with the most the buyer pays per call
    GET_RIGHTS = "GetSpecCallTime"
    GET_RIGHTS_OF_MANY = "GetSpecCallTimes"  # several GetSpecCallTime in one evaluation
    GET_SERVICE_USAGE = "GetCallTimesOfService"
    REDUCE_CALLS = "ReduceCallTime"
    AUTHORIZE_SERVER = "AuthorizeServer"
    REVOKE_SERVER = "RevokeServer"
    QUERY_SERVER_GRANT = "QueryServerGrant"
    REWARD_SERVICE = "RewardService"
    SETTLE_CALLS = "SettleCalls"
    UPDATE_VOUCHER_KEY = "UpdateVoucherKey"
    QUERY_VOUCHER_KEYS = "QueryVoucherKeys"


RIGHTS_PER_READ = 64  # pairs one GetSpecCallTimes answers at most (maxRightsPerRead)


class ServiceStatus(StrEnum):
    CREATED = "created"
    AVAILABLE = "available"
    INVALID = "invalid"


class UserStatus(StrEnum):
    ACTIVE = "active"
    REMOVED = "removed"


class Code(StrEnum):
    """The stable prefix of every chaincode error message ("CODE: message")."""

    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    FORBIDDEN = "FORBIDDEN"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    INVALID_STATE = "INVALID_STATE"
    INTERNAL = "INTERNAL"


class Refused(Exception):
    """A refusal the chaincode answered inside a result (each pair's error in GetSpecCallTimes), read as a Fabric
    error's: error_code(refused), refused.chaincode_message ("NOT_FOUND: service x does not exist")."""

    def __init__(self, chaincode_message: str) -> None:
        super().__init__(chaincode_message)
        self.chaincode_message = chaincode_message


# Every message of the chaincode starts with its code: "NOT_FOUND: service x does not exist".
_ERROR_CODE = re.compile(r"^([A-Z][A-Z0-9_]*):\s")
# How a gateway peer wraps what the chaincode answered (when handed the raw text rather than the error).
_CHAINCODE_RESPONSE = re.compile(r"chaincode response \d+, (.*)", re.DOTALL)


def error_code(error_or_message: object) -> Code | str | None:
    """The code in front of the chaincode's message: a Code when the chaincode declares it, another upper-case
    word as it came, None when the chaincode did not refuse (an unreachable peer, a timeout, an invalid commit).

        error_code(endorse_error)  # Code.INSUFFICIENT_FUNDS
        error_code("chaincode response 500, NOT_FOUND: no such service")  # Code.NOT_FOUND

    An error is read through its `chaincode_message` (fabric_gateway's GatewayError has one); a string is read
    as it is, the gateway's "chaincode response 500, " in front or not.
    """
    if isinstance(error_or_message, str):
        wrapped = _CHAINCODE_RESPONSE.search(error_or_message)
        message = wrapped.group(1) if wrapped else error_or_message
    else:
        message = getattr(error_or_message, "chaincode_message", None)
    match = _ERROR_CODE.match(message) if message else None
    if match is None:
        return None
    try:
        return Code(match.group(1))
    except ValueError:  # a code this vocabulary does not know (yet): kept as the chaincode wrote it
        return match.group(1)
