"""The gateway's own state: its users (token hash, certificate, sealed key) and idempotency records, in SQLite
(one gateway) or PostgreSQL (replicas of one organization's gateway sharing it).

    store = Store("gateway.db")                                   # SQLite file, created 0600
    store = Store("postgresql+psycopg://gateway@db:5432/org1")    # PostgreSQL
    store.add_user(UserRecord("alice", token_hash, cert_pem, sealed_key, custodial=True))
"""

from tdses.rest.store.store import (
    ACTIVE, PENDING, REMOVED, PendingRecord, Store, StoredResponse, UserRecord, WebSession, store_url,
)

__all__ = ["ACTIVE", "PENDING", "REMOVED", "PendingRecord", "Store", "StoredResponse", "UserRecord", "WebSession",
           "store_url"]
