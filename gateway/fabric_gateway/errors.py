"""Typed errors, shaped like fabric-gateway's: which step failed, the gRPC status and the peers' details.

    try: contract.submit_transaction("Transfer", "a", "b", "10")
    except EndorseError as e: print(e.chaincode_message, e.details)
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
# How a peer or the orderer refuses a transaction ID it already has (Fabric gives no status code of its own to it).
_DUPLICATE = "duplicate transaction"


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

    def __init__(self, transaction_id: str, code: int, block_number: int | None = None) -> None:
        self.transaction_id = transaction_id
        self.code = code
        self.code_name = validation_code_name(code)
        self.block_number = block_number
        super().__init__(f"transaction {transaction_id} failed to commit with status code {code} ({self.code_name})")


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


def is_duplicate_transaction(error: BaseException) -> bool:
    """The peers or the orderer already have this transaction ID (a resent, or deliberately repeated, transaction).

    A commit says so with its validation code (DUPLICATE_TXID). Endorsement and submission have no status code
    for it: an EndorseError or SubmitError carries it in the gateway's message or a node's detail, hence the one
    match on Fabric's wording, here and nowhere else.

        except SubmitError as e:
            if is_duplicate_transaction(e): commit = network.new_commit(e.transaction_id)
    """
    if isinstance(error, CommitError):
        return error.code == transaction_pb2.DUPLICATE_TXID
    if not isinstance(error, (EndorseError, SubmitError)):
        return False
    return any(_DUPLICATE in text.lower() for text in [error.message, *(d.message for d in error.details)])
