"""An aio Contract and Network stand-in whose steps fail as scripted: what tdses.retry and its callers are tested
against without a network.

    contract = FakeContract(endorse=[EndorseError(grpc.StatusCode.UNAVAILABLE, "down")], status=[MVCC_READ_CONFLICT])
    await policy.submit(contract, "Buy", "svc1", network=FakeNetwork(contract))
    contract.calls  # [("endorse", "tx1"), ("endorse", "tx2"), ("submit", "tx2"), ("status", "tx2"), ...]
"""

from __future__ import annotations

from fabric_gateway import Status, TransactionError
from fabric_protos.peer import transaction_pb2

BLOCK = 5


def _raise_or_return(script: list, transaction_id: str):
    """The next scripted outcome of a step: an exception (given this transaction's ID) is raised, else returned."""
    if not script:
        return None
    outcome = script.pop(0)
    if isinstance(outcome, BaseException):
        if isinstance(outcome, TransactionError):
            outcome.transaction_id = transaction_id
        raise outcome
    return outcome


class FakeContract:
    """Each step pops its script: `endorse`, `submit` and `evaluate` hold exceptions; `status` holds exceptions or
    validation codes (VALID when empty). Transaction IDs are tx1, tx2, ... or the nonce's hex when one is given."""

    def __init__(self, *, endorse=(), submit=(), status=(), evaluate=(), result: bytes = b'{"ok": true}') -> None:
        self.scripts = {"endorse": list(endorse), "submit": list(submit), "status": list(status),
                        "evaluate": list(evaluate)}
        self.result = result
        self.calls: list[tuple[str, str]] = []
        self.nonces: list[bytes | None] = []

    def new_proposal(self, function: str, *args: str, nonce: bytes | None = None) -> FakeProposal:
        self.nonces.append(nonce)
        return FakeProposal(self, nonce.hex() if nonce is not None else f"tx{len(self.nonces)}")

    async def evaluate_transaction(self, function: str, *args: str) -> bytes:
        self.calls.append(("evaluate", function))
        _raise_or_return(self.scripts["evaluate"], "")
        return self.result

    def steps(self, step: str) -> list[str]:
        """The transaction IDs the given step ran for, in order."""
        return [tx_id for name, tx_id in self.calls if name == step]


class FakeProposal:
    def __init__(self, contract: FakeContract, transaction_id: str) -> None:
        self.contract = contract
        self.transaction_id = transaction_id

    async def endorse(self) -> FakeTransaction:
        self.contract.calls.append(("endorse", self.transaction_id))
        _raise_or_return(self.contract.scripts["endorse"], self.transaction_id)
        return FakeTransaction(self.contract, self.transaction_id)


class FakeTransaction:
    def __init__(self, contract: FakeContract, transaction_id: str) -> None:
        self.contract = contract
        self.transaction_id = transaction_id
        self.result = contract.result

    async def submit(self) -> FakeCommit:
        self.contract.calls.append(("submit", self.transaction_id))
        _raise_or_return(self.contract.scripts["submit"], self.transaction_id)
        return FakeCommit(self.contract, self.transaction_id)


class FakeCommit:
    def __init__(self, contract: FakeContract, transaction_id: str) -> None:
        self.contract = contract
        self.transaction_id = transaction_id

    async def status(self) -> Status:
        self.contract.calls.append(("status", self.transaction_id))
        code = _raise_or_return(self.contract.scripts["status"], self.transaction_id)
        return Status(self.transaction_id, transaction_pb2.VALID if code is None else code, BLOCK)


class FakeNetwork:
    """new_commit for a transaction ID, and the wait for a block on the channel's peers (already there)."""

    def __init__(self, contract: FakeContract) -> None:
        self.contract = contract
        self.waited: list[int] = []

    def new_commit(self, transaction_id: str) -> FakeCommit:
        self.contract.calls.append(("new_commit", transaction_id))
        return FakeCommit(self.contract, transaction_id)

    async def wait_for_block(self, block_number: int) -> list[str]:
        self.waited.append(block_number)
        return []
