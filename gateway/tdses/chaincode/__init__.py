"""The service chaincode as the Python side sees it: its vocabulary (function names, statuses, error codes,
checked against the Go source by tests/unit/test_chaincode_vocabulary.py), how to read its refusals
(error_code), its functions as typed calls over any Invoker (calls.py), and the text it accepts (text.py)."""

from tdses.chaincode.calls import Argument, Chaincode, Invoker, argument, peer_cli_call
from tdses.chaincode.vocabulary import RIGHTS_PER_READ, Code, Fn, Refused, ServiceStatus, UserStatus, error_code

__all__ = ["RIGHTS_PER_READ", "Argument", "Chaincode", "Code", "Fn", "Invoker", "Refused", "ServiceStatus", "UserStatus",
           "argument", "error_code", "peer_cli_call"]
