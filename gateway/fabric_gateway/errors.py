"""Typed errors, shaped like fabric-gateway's: which step failed, the gRPC status and the peers' details.

    try: contract.submit_transaction("Transfer", "a", "b", "10")
    except EndorseError as e: print(e.chaincode_error_code, e.details)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import transaction_pb2

from ._rpc_status import status_details

# The gateway peer reports a chaincode error as "chaincode response 500, <message from the chaincode>".
_CHAINCODE_RESPONSE = re.compile(r"chaincode response (\d+), (.*)", re.DOTALL)
# Our chaincode prefixes its messages with a stable upper-case code: "NOT_FOUND: service x does not exist".
_ERROR_CODE = re.compile(r"^([A-Z][A-Z0-9_]*):\s")


class FabricError(Exception):
    """Base class of every error raised by fabric_gateway."""


class SignerRequiredError(FabricError):
    """A message had to be signed but the gateway has no signer (offline signing mode)."""


@dataclass(frozen=True)
class ErrorDetail:
    """One node's part of a failure: its address, its MSP ID and its message."""

    address: str
    msp_id: str
    message: str

    def __str__(self) -> str:
        return f"{self.address} ({self.msp_id}): {self.message}"


def chaincode_error_code(message: str) -> str | None:
    """The stable code a chaincode put in front of its message, e.g. "NOT_FOUND" in "NOT_FOUND: no such service".

        chaincode_error_code("chaincode response 500, INSUFFICIENT_FUNDS: balance 3 < 5")  # "INSUFFICIENT_FUNDS"
    """
    text = chaincode_message(message)
    match = _ERROR_CODE.match(message if text is None else text)
    return match.group(1) if match else None


def chaincode_message(message: str) -> str | None:
    """The chaincode's own message inside a gateway message, or None when the chaincode did not answer.

        chaincode_message("chaincode response 500, NOT_FOUND: x")  # "NOT_FOUND: x"
    """
    match = _CHAINCODE_RESPONSE.search(message)
    return match.group(2) if match else None


class GatewayError(FabricError):
    """A gRPC call to the gateway peer failed.

        except GatewayError as e:
            if e.code is grpc.StatusCode.UNAVAILABLE: ...
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        details: Sequence[ErrorDetail] = (),
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = list(details)
        self.__cause__ = cause

    @property
    def chaincode_message(self) -> str | None:
        """The message the chaincode returned, if a chaincode rejected the call."""
        for detail in self.details:
            found = chaincode_message(detail.message)
            if found is not None:
                return found
        return chaincode_message(self.message)

    @property
    def chaincode_status(self) -> int | None:
        """The status the chaincode returned (usually 500), if a chaincode rejected the call."""
        for text in [d.message for d in self.details] + [self.message]:
            match = _CHAINCODE_RESPONSE.search(text)
            if match:
                return int(match.group(1))
        return None

    @property
    def chaincode_error_code(self) -> str | None:
        """The stable code in front of the chaincode's message ("NOT_FOUND", "INSUFFICIENT_FUNDS", ...)."""
        message = self.chaincode_message
        return None if message is None else chaincode_error_code(message)

    def _describe(self) -> str:
        lines = [f"{self.code.name}: {self.message}"]
        lines.extend(f"  - {detail}" for detail in self.details)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._describe()


class TransactionError(GatewayError):
    """A GatewayError about one transaction, whose ID is kept so that the caller can poll or report it."""

    step = "transaction"

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        details: Sequence[ErrorDetail] = (),
        cause: BaseException | None = None,
        transaction_id: str = "",
    ) -> None:
        super().__init__(code, message, details, cause)
        self.transaction_id = transaction_id

    def __str__(self) -> str:
        return f"{self.step} error for transaction {self.transaction_id}: {self._describe()}"


class EndorseError(TransactionError):
    """Endorsement failed: the chaincode refused, the policy could not be met, or no peer answered."""

    step = "endorse"


class SubmitError(TransactionError):
    """The endorsed transaction could not be sent to the ordering service."""

    step = "submit"


class CommitStatusError(TransactionError):
    """The commit status could not be obtained (e.g. DEADLINE_EXCEEDED: the commit was not seen in time)."""

    step = "commit status"


class CommitError(FabricError):
    """The transaction was ordered but the peers marked it invalid (MVCC_READ_CONFLICT, ENDORSEMENT_POLICY_FAILURE...).

        except CommitError as e: print(e.transaction_id, e.code_name)
    """

    def __init__(
        self, transaction_id: str, code: int, block_number: int | None = None, attempts: int = 1
    ) -> None:
        self.transaction_id = transaction_id
        self.code = code
        self.code_name = validation_code_name(code)
        self.block_number = block_number
        # How many fresh transactions were tried (more than 1 after conflict retries).
        self.attempts = attempts
        suffix = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(
            f"transaction {transaction_id} failed to commit with status code {code} ({self.code_name}){suffix}"
        )


def validation_code_name(code: int) -> str:
    """The TxValidationCode name of a numeric code ("MVCC_READ_CONFLICT" for 11)."""
    try:
        return transaction_pb2.TxValidationCode.Name(code)
    except ValueError:
        return f"UNKNOWN_{code}"


def error_details(error: grpc.RpcError) -> list[ErrorDetail]:
    """The gateway.ErrorDetail entries of a failed call's rich status."""
    metadata = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    results: list[ErrorDetail] = []
    for detail in status_details(metadata):
        if detail.Is(gateway_pb2.ErrorDetail.DESCRIPTOR):
            message = gateway_pb2.ErrorDetail()
            detail.Unpack(message)
            results.append(ErrorDetail(message.address, message.msp_id, message.message))
    return results


def from_rpc_error(
    error: grpc.RpcError, kind: type[GatewayError] = GatewayError, transaction_id: str = ""
) -> GatewayError:
    """Translate a grpc (sync or aio) error into the typed error for the step that failed."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    message = (error.details() if hasattr(error, "details") else None) or str(error)
    details = error_details(error)
    if issubclass(kind, TransactionError):
        return kind(code, message, details, error, transaction_id=transaction_id)
    return kind(code, message, details, error)


def is_duplicate_transaction(error: FabricError) -> bool:
    """The peers or the orderer already have this transaction ID (a resent, or deliberately repeated, transaction).

    Fabric says so only in its message ("duplicate transaction found"), hence the match, in this one place.
    """
    texts = [str(error)] + [d.message for d in getattr(error, "details", [])]
    return any("duplicate transaction" in text.lower() for text in texts)
