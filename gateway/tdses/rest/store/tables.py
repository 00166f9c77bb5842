"""The gateway store's tables (SQLAlchemy Core): the one description that the migrations and the queries share."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Integer, LargeBinary, MetaData, String, Table, Text

metadata = MetaData()

users = Table(
    "users", metadata,
    Column("name", String(64), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("certificate", LargeBinary, nullable=False),
    Column("sealed_key", LargeBinary),  # AES-256-GCM; NULL for non-custodial and removed users
    Column("custodial", Boolean, nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
)

# One row, whose version the database raises (triggers, migration 0005) on every change to users, whoever makes
# it: a replica that remembers tokens asks for this row now and then instead of for every token.
users_version = Table(
    "users_version", metadata,
    Column("id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False),
)

idempotency = Table(
    "idempotency", metadata,
    Column("owner", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status", Integer),  # NULL while the first request runs
    Column("headers", Text),
    Column("body", LargeBinary),
    Column("created_at", Float, nullable=False),
)

# Non-custodial transactions between their signatures: any replica may take the next signature.
pending_transactions = Table(
    "pending_transactions", metadata,
    Column("transaction_id", String(64), primary_key=True),
    Column("owner", String(64), nullable=False, index=True),
    Column("proposal", LargeBinary, nullable=False),  # gateway.ProposedTransaction, unsigned
    Column("transaction", LargeBinary),  # gateway.PreparedTransaction once endorsed, unsigned
    Column("after_commit", String(32)),  # what the gateway does once it committed (tdses.rest.services.signing)
    Column("expires_at", Float, nullable=False),
)

# Token buckets of the rate limit, shared by the replicas: per caller ("u:<name>") and per client address.
rate_buckets = Table(
    "rate_buckets", metadata,
    Column("key", String(80), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("updated", Float, nullable=False),  # wall-clock seconds: every replica's clock
    Column("passed", Boolean, nullable=False),  # whether the last request passed
)

# The web pages' sign-in: a password hash per user (argon2id), sessions and invitations stored by their SHA-256.
passwords = Table(
    "passwords", metadata,
    Column("name", String(64), primary_key=True),
    Column("hash", String(255), nullable=False),
)

web_sessions = Table(
    "web_sessions", metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("name", String(64), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),  # the synchronizer token of the session's forms
    Column("expires_at", Float, nullable=False),
)

invitations = Table(
    "invitations", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_by", String(64)),  # NULL until someone signs up with it
)
