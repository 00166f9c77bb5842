"""tdses.chaincode names exactly what the Go chaincode defines."""

from __future__ import annotations

import re
from pathlib import Path

from tdses.chaincode import Code, Fn, ServiceStatus, UserStatus, error_code

CONTRACT = Path(__file__).resolve().parents[2] / "chaincode" / "contract"
SOURCE = "\n".join(p.read_text() for p in sorted(CONTRACT.glob("*.go")) if not p.name.endswith("_test.go"))


def test_every_contract_function_and_no_other():
    functions = set(re.findall(r"^func \(c \*SmartContract\) ([A-Z]\w*)\(ctx contractapi", SOURCE, re.M))
    assert functions == {f.value for f in Fn}


def test_statuses_and_error_codes():
    services = dict(re.findall(r'^\s*status(Created|Available|Invalid)\s*=\s*"(\w+)"', SOURCE, re.M))
    assert {v for v in services.values()} == {s.value for s in ServiceStatus}
    users = dict(re.findall(r'^\s*user(Active|Removed)\s*=\s*"(\w+)"', SOURCE, re.M))
    assert set(users.values()) == {s.value for s in UserStatus}
    codes = set(re.findall(r'^\s*Code\w+\s*=\s*"(\w+)"', SOURCE, re.M))
    assert codes == {c.value for c in Code}


def test_error_code_reads_the_code_in_front_of_the_chaincodes_message():
    assert error_code("chaincode response 500, INSUFFICIENT_FUNDS: balance 3 < 5") is Code.INSUFFICIENT_FUNDS
    assert error_code("NOT_FOUND: service x does not exist") is Code.NOT_FOUND
    assert error_code("chaincode response 500, NEW_CODE: later") == "NEW_CODE"  # unknown codes kept as written
    assert error_code("failed to collect enough transaction endorsements") is None
    assert error_code("chaincode response 500, lower case: no code") is None


def test_error_code_of_an_error_reads_its_chaincode_message():
    class Refused:
        chaincode_message = "FORBIDDEN: not the service's developer"

    class Unreachable:
        chaincode_message = None

    assert error_code(Refused()) is Code.FORBIDDEN
    assert error_code(Unreachable()) is None
    assert error_code(ValueError("NOT_FOUND: x")) is None  # no chaincode answered it


def test_a_fold_of_deltas_stays_below_the_peers_range_query_limit():
    """Past ledger.state.totalQueryLimit a peer ends a range query without an error: a fold would come out short."""
    bounds = [int(n) for n in re.findall(r"^\s*max(?:Summed|Folded)Deltas = (\d+)$", SOURCE, re.M)]
    core = (CONTRACT.parents[1] / "network-config" / "fabric" / "core.yaml").read_text()
    limit = int(re.search(r"^\s*totalQueryLimit:\s*(\d+)\s*$", core, re.M).group(1))
    assert len(bounds) == 2 and max(bounds) < limit
