"""The service chaincode as the Python side sees it: its vocabulary (function names, statuses, error codes,
checked against the Go source by tests/unit/test_chaincode_vocabulary.py), and how to read its refusals."""

from tdses.chaincode.vocabulary import Code, Fn, ServiceStatus, UserStatus, error_code

__all__ = ["Code", "Fn", "ServiceStatus", "UserStatus", "error_code"]
