"""tdses.chaincode.Chaincode sends each contract function with exactly the string arguments the chaincode parses."""

from __future__ import annotations

import inspect
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tdses.chaincode import Chaincode, Fn, ServiceStatus, argument

CONTRACT = Path(__file__).resolve().parents[2] / "chaincode" / "contract" / "contract.go"


class Recorder:
    """An Invoker that answers nothing and remembers what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Fn, tuple[str, ...], dict[str, Any]]] = []

    async def evaluate(self, function: Fn, *args: str) -> Any:
        self.calls.append(("evaluate", function, args, {}))
        return {"read": function.value}

    async def submit(self, function: Fn, *args: str, **options: Any) -> Any:
        self.calls.append(("submit", function, args, options))
        return {"wrote": function.value}


SPEC = {"name": "weather-api", "category": "weather", "description": "prévisions “météo”", "url": "https://w.example",
        "price": 3, "qos": {"latencyMs": 120, "availabilityBp": 9990}, "requireVouchers": False}
SPEC_SENT = ('{"name":"weather-api","category":"weather","description":"prévisions “météo”","url":"https://w.example",'
             '"price":3,"qos":{"latencyMs":120,"availabilityBp":9990},"requireVouchers":false}')

# method, positional and keyword arguments -> what the invoker is asked: evaluate or submit, function, arguments.
CASES = [
    ("init", ({"cap": 1000, "maintainers": ["Org1MSP", "Org2MSP"]},), {},
     "submit", Fn.INIT, ('{"cap":1000,"maintainers":["Org1MSP","Org2MSP"]}',)),
    ("token_info", (), {}, "evaluate", Fn.TOKEN_INFO, ()),
    ("balance_of", ("org:Org1MSP",), {}, "evaluate", Fn.BALANCE_OF, ("org:Org1MSP",)),
    ("transfer", ("bob", 25), {}, "submit", Fn.TRANSFER, ("bob", "25")),
    ("org_transfer", ("bob", 25), {}, "submit", Fn.ORG_TRANSFER, ("bob", "25")),
    ("register_user", ("alice", "weather services"), {}, "submit", Fn.REGISTER_USER, ("alice", "weather services")),
    ("register_user", ("alice",), {}, "submit", Fn.REGISTER_USER, ("alice", "")),
    ("remove_user", ("alice",), {}, "submit", Fn.REMOVE_USER, ("alice",)),
    ("query_user", ("alice",), {}, "evaluate", Fn.QUERY_USER, ("alice",)),
    ("who_am_i", (), {}, "evaluate", Fn.WHO_AM_I, ()),
    ("set_contribution_weights", (Decimal("2"), Decimal("0.125")), {},
     "submit", Fn.SET_CONTRIBUTION_WEIGHTS, ("2", "0.125")),
    ("set_contribution_weights", (1, Decimal("5E-1")), {}, "submit", Fn.SET_CONTRIBUTION_WEIGHTS, ("1", "0.5")),
    ("compact_account", (), {}, "submit", Fn.COMPACT_ACCOUNT, ()),
    ("register_service", (SPEC,), {}, "submit", Fn.REGISTER_SERVICE, (SPEC_SENT,)),
    ("create_mashup", ({"name": "trip", "components": ["weather-api", "maps"], "maxPaid": 5},), {},
     "submit", Fn.CREATE_MASHUP, ('{"name":"trip","components":["weather-api","maps"],"maxPaid":5}',)),
    ("edit_service", ("weather-api", {"price": 4, "qos": {"latencyMs": 0, "availabilityBp": 10}}), {},
     "submit", Fn.EDIT_SERVICE, ("weather-api", '{"price":4,"qos":{"latencyMs":0,"availabilityBp":10}}')),
    ("publish_service", ("weather-api",), {}, "submit", Fn.PUBLISH_SERVICE, ("weather-api",)),
    ("invalidate_service", ("weather-api",), {}, "submit", Fn.INVALIDATE_SERVICE, ("weather-api",)),
    ("compact_service", ("weather-api",), {}, "submit", Fn.COMPACT_SERVICE, ("weather-api",)),
    ("query_service", ("weather-api",), {}, "evaluate", Fn.QUERY_SERVICE, ("weather-api",)),
    ("services_by_developer", ("alice",), {"page_size": 7}, "evaluate", Fn.QUERY_SERVICE_BY_USER, ("alice", "7", "")),
    ("services_by_developer", ("alice",), {"page_size": 7, "bookmark": "maps"},
     "evaluate", Fn.QUERY_SERVICE_BY_USER, ("alice", "7", "maps")),
    ("services_by_status", (ServiceStatus.AVAILABLE,), {"page_size": 20},
     "evaluate", Fn.QUERY_SERVICE_BY_STATUS, ("available", "20", "")),
    ("services_by_range", (), {"page_size": 20}, "evaluate", Fn.QUERY_SERVICE_BY_RANGE, ("", "", "20", "")),
    ("services_by_range", ("a", "m"), {"page_size": 5, "bookmark": "c"},
     "evaluate", Fn.QUERY_SERVICE_BY_RANGE, ("a", "m", "5", "c")),
    ("services_by_range", (None, "m"), {"page_size": 5}, "evaluate", Fn.QUERY_SERVICE_BY_RANGE, ("", "m", "5", "")),
    ("buy_calls", ("weather-api", 5), {}, "submit", Fn.BUY_CALLS_AT_ANY_PRICE, ("weather-api", "5")),
    ("buy_calls", ("weather-api", 5), {"max_price": 3}, "submit", Fn.BUY_CALLS, ("weather-api", "5", "3")),
    ("buy_calls", ("weather-api", 5, 0), {}, "submit", Fn.BUY_CALLS, ("weather-api", "5", "0")),  # free calls only
    ("reduce_calls", ("weather-api", "bob", 2), {}, "submit", Fn.REDUCE_CALLS, ("weather-api", "bob", "2")),
    ("rights", ("weather-api", "bob"), {}, "evaluate", Fn.GET_RIGHTS, ("weather-api", "bob")),
    ("rights_of_many", ([("weather-api", "bob"), ("maps", "alice")],), {}, "evaluate", Fn.GET_RIGHTS_OF_MANY,
     ('[["weather-api","bob"],["maps","alice"]]',)),
    ("service_usage", ("weather-api",), {}, "evaluate", Fn.GET_SERVICE_USAGE, ("weather-api",)),
    ("authorize_server", ("weather-api", "srv"), {}, "submit", Fn.AUTHORIZE_SERVER, ("weather-api", "srv")),
    ("revoke_server", ("weather-api", "srv"), {}, "submit", Fn.REVOKE_SERVER, ("weather-api", "srv")),
    ("server_grant", ("weather-api", "srv"), {}, "evaluate", Fn.QUERY_SERVER_GRANT, ("weather-api", "srv")),
    ("reward_service", ("weather-api", 10), {}, "submit", Fn.REWARD_SERVICE, ("weather-api", "10")),
    ("settle_calls", ("weather-api", ["v1.a.b", "v1.c.d"]), {},
     "submit", Fn.SETTLE_CALLS, ("weather-api", '["v1.a.b","v1.c.d"]')),
    ("settle_calls", ("weather-api", ("v1.a.b",)), {}, "submit", Fn.SETTLE_CALLS, ("weather-api", '["v1.a.b"]')),
    ("update_voucher_key", (), {}, "submit", Fn.UPDATE_VOUCHER_KEY, ()),
    ("query_voucher_keys", ("alice",), {}, "evaluate", Fn.QUERY_VOUCHER_KEYS, ("alice",)),
]


@pytest.mark.parametrize(("method", "args", "kwargs", "kind", "function", "sent"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
async def test_each_method_sends_its_function_with_exact_string_arguments(method, args, kwargs, kind, function, sent):
    invoker = Recorder()
    result = await getattr(Chaincode(invoker), method)(*args, **kwargs)
    assert invoker.calls == [(kind, function, sent, {})]
    assert all(type(a) is str for a in invoker.calls[0][2])  # no enum member or int reaches the peers
    assert result == ({"read": function.value} if kind == "evaluate" else {"wrote": function.value})


def test_every_contract_function_has_a_method_and_every_method_a_case():
    assert {case[4] for case in CASES} == set(Fn)
    methods = {name for name, member in inspect.getmembers(Chaincode, inspect.iscoroutinefunction)
               if not name.startswith("_")}
    assert methods == {case[0] for case in CASES}


def test_reads_are_the_functions_the_chaincode_marks_read_only():
    listed = re.search(r"GetEvaluateTransactions\(\) \[\]string \{\s*return \[\]string\{(.*?)\}", CONTRACT.read_text(),
                       re.S)
    assert listed is not None
    read_only = set(re.findall(r'"(\w+)"', listed.group(1)))
    assert {case[4].value for case in CASES if case[3] == "evaluate"} == read_only


async def test_a_write_passes_the_invokers_options_on():
    invoker = Recorder()
    chaincode = Chaincode(invoker)
    await chaincode.remove_user("alice", after_commit="forget_user")
    await chaincode.buy_calls("weather-api", 1, max_price=2, after_commit="x")
    assert invoker.calls == [("submit", Fn.REMOVE_USER, ("alice",), {"after_commit": "forget_user"}),
                             ("submit", Fn.BUY_CALLS, ("weather-api", "1", "2"), {"after_commit": "x"})]


@pytest.mark.parametrize("value", [True, 0.5, b"bytes", None])
def test_an_argument_the_chaincode_could_misread_is_refused(value):
    with pytest.raises(TypeError):
        argument(value)


def test_arguments_are_canonical():
    assert argument(Decimal("1E+1")) == "10"  # the chaincode parses no exponent
    assert argument(-3) == "-3"
    assert argument(ServiceStatus.INVALID) == "invalid"
    assert argument({"b": [1, {"c": None}], "a": "ü"}) == '{"b":[1,{"c":null}],"a":"ü"}'  # key order kept
