"""The index's tables. Every row carries the block, transaction and time that last wrote it; the migrations in
migrations/ create exactly these (and the full-text index, which depends on the database).

Names start with index_ so the tables can share a PostgreSQL database with the gateway's store.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger, Boolean, Column, DateTime, Integer, MetaData, String, Table, Text,
)

metadata = MetaData()
VERSION_TABLE = "index_alembic_version"


def written() -> list[Column]:
    """Where a row comes from: the block, transaction and timestamp (channel header) that last wrote it."""
    return [
        Column("block", BigInteger, nullable=False),
        Column("tx_id", String(64), nullable=False),
        Column("ts", DateTime(timezone=True), nullable=False),
    ]


# The next block to apply; written in the same database transaction as that block's rows.
checkpoint = Table(
    "index_checkpoint", metadata,
    Column("id", Integer, primary_key=True),
    Column("next_block", BigInteger, nullable=False),
)

users = Table(
    "index_users", metadata,
    Column("name", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("msp_id", Text, nullable=False),
    Column("cert_id", Text, nullable=False),  # subject and issuer, base64
    Column("introduction", Text, nullable=False),
    Column("available_services", BigInteger, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    *written(),
)

services = Table(
    "index_services", metadata,
    Column("name", String(64), primary_key=True),
    Column("developer", String(64), nullable=False, index=True),
    Column("mashup", Boolean, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("category", Text, nullable=False, index=True),
    Column("description", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("latency_ms", BigInteger, nullable=False),
    Column("availability_bp", BigInteger, nullable=False),
    Column("require_vouchers", Boolean, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    *written(),
)

mashup_components = Table(
    "index_mashup_components", metadata,
    Column("mashup", String(64), primary_key=True),
    Column("component", String(64), primary_key=True, index=True),
    Column("position", Integer, nullable=False),
    *written(),
)

rights = Table(
    "index_rights", metadata,
    Column("service", String(64), primary_key=True),
    Column("user", String(64), primary_key=True, index=True),
    Column("bought", BigInteger, nullable=False),
    Column("paid", BigInteger, nullable=False),
    Column("used", BigInteger, nullable=False),
    Column("remaining", BigInteger, nullable=False),
    Column("vouchers_only", Boolean, nullable=False),  # migration 0003
    Column("updated_at", String(40), nullable=False),
    *written(),
)

servers = Table(
    "index_servers", metadata,
    Column("service", String(64), primary_key=True),
    Column("server", String(64), primary_key=True),
    Column("authorized_at", String(40), nullable=False),
    *written(),
)

# A tally's base record (tx_id_key = seq = "") and its delta records, as the chaincode keeps them: an account's
# balance and counters are their sum (tdses.tally and tdses.tally~delta).
tallies = Table(
    "index_tallies", metadata,
    Column("kind", String(16), primary_key=True),
    Column("owner", Text, primary_key=True),  # a user name or an MSP ID
    Column("delta_tx", String(64), primary_key=True),
    Column("delta_seq", String(16), primary_key=True),
    Column("balance", BigInteger, nullable=False),
    Column("buyers", BigInteger, nullable=False),
    Column("calls_bought", BigInteger, nullable=False),
    Column("calls_used", BigInteger, nullable=False),
    Column("composers", BigInteger, nullable=False),
    Column("compositions", BigInteger, nullable=False),
    *written(),
)

# What happened, one row per fact, never updated: purchases, reductions and settlements from their records,
# rewards and transfers from their events, registrations and status changes.
activity = Table(
    "index_activity", metadata,
    Column("tx_id", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("block", BigInteger, nullable=False, index=True),
    Column("position", Integer, nullable=False),  # the transaction's place in its block
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("kind", String(32), nullable=False, index=True),
    Column("service", String(64), index=True),
    Column("user", Text, index=True),  # a user, or "org:<MSP ID>" for an organization account
    Column("counterparty", Text),
    Column("calls", BigInteger),
    Column("amount", BigInteger),
    Column("detail", Text),  # JSON: what does not fit the columns
)

events = Table(
    "index_events", metadata,
    Column("tx_id", String(64), primary_key=True),
    Column("block", BigInteger, nullable=False, index=True),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("name", String(64), nullable=False, index=True),
    Column("payload", Text, nullable=False),
)

# Rebuilt from block 0, these hold the same rows (the full-text index is derived from index_services).
DATA_TABLES = (users, services, mashup_components, rights, servers, tallies, activity, events)
