"""tdses.chaincode names exactly what the Go chaincode defines."""

from __future__ import annotations

import re
from pathlib import Path

from tdses.chaincode import Code, Fn, ServiceStatus, UserStatus

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
