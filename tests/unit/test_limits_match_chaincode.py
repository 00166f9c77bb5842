"""The input limits the gateway checks before any transaction are the chaincode's own: read from its Go
constants, so that a change on either side that the other does not follow fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from tdses.chaincode import RIGHTS_PER_READ
from tdses.metering import voucher
from tdses.rest.models import fields

CONTRACT = Path(__file__).resolve().parents[2] / "chaincode" / "contract"


def go_constants() -> dict[str, int]:
    """The integer constants of the contract package's const blocks, their expressions evaluated."""
    source = "\n".join(p.read_text() for p in sorted(CONTRACT.glob("*.go")) if not p.name.endswith("_test.go"))
    values: dict[str, int] = {}
    for block in re.findall(r"^const \($(.*?)^\)$", source, re.S | re.M):
        for name, expr in re.findall(r"^\s*(\w+)\s*=\s*([^/\n]+?)\s*(?://.*)?$", block, re.M):
            if re.fullmatch(r"[\w\s*+()-]+", expr) and not expr.strip().startswith('"'):
                try:
                    values[name] = eval(expr, {"__builtins__": {}}, dict(values))  # Go and Python agree on 1_000
                except NameError:
                    pass
    return values


GO = go_constants()


def max_length(annotated) -> int:
    return TypeAdapter(annotated).json_schema()["maxLength"]


@pytest.mark.parametrize("python, go", [
    (fields.MAX_CALLS, "maxCallsPerBuy"),
    (fields.MAX_PRICE, "maxPrice"),
    (fields.MAX_AMOUNT, "maxAmount"),
    (fields.MAX_LATENCY_MS, "maxLatencyMs"),
    (fields.MAX_AVAILABILITY_BP, "maxAvailabilityBp"),
    (fields.MAX_COMPONENTS, "maxComponents"),
    (fields.MAX_PAGE_SIZE, "maxPageSize"),
    (fields.DEFAULT_PAGE_SIZE, "defaultPageSize"),
    (fields.MAX_SETTLEMENT, "maxVouchersPerSettlement"),
    (voucher.MAX_LENGTH, "maxVoucherLen"),
    (RIGHTS_PER_READ, "maxRightsPerRead"),
    (voucher.MAX_COUNT, "maxVoucherCalls"),
    (max_length(fields.Category), "maxCategoryLen"),
    (max_length(fields.Text), "maxTextLen"),
    (max_length(fields.Url), "maxURLLen"),
])
def test_a_gateway_limit_is_the_chaincode_s(python, go):
    assert python == GO[go]


def test_names_are_the_chaincode_s():
    longest = int(re.search(r"\{0,(\d+)\}", fields.NAME_PATTERN).group(1)) + 1
    assert longest == GO["maxNameLen"]
    assert voucher.NAME.pattern == fields.NAME_PATTERN


def test_the_constants_are_read():
    assert len(GO) > 20 and GO["maxSettlementLen"] == GO["maxVouchersPerSettlement"] * (GO["maxVoucherLen"] + 3)
