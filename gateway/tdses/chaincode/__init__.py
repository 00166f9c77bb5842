"""The service chaincode as the Python side sees it: its vocabulary (function names, statuses, error codes,
checked against the Go source by tests/unit/test_chaincode_vocabulary.py)."""

from tdses.chaincode.vocabulary import Code, Fn, ServiceStatus, UserStatus

__all__ = ["Code", "Fn", "ServiceStatus", "UserStatus"]
