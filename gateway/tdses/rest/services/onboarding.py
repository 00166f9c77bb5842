"""Creating a user: an identity at the organization's CA, a key (kept sealed here, or the client's own), the user
registered on chain as that identity, and an API token shown once.

A crash, a timeout or a conflict half-way leaves a pending row; creating the same name again resumes with the same
identity, for whoever may resume it: the organization admin, or the request that began it (with the token it was
given). Only a refusal by the chaincode (e.g. the name is taken on chain) drops it and revokes the identity.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tdses.chaincode import Chaincode
from tdses.rest.problems import Problem
from tdses.rest.services.context import Context
from tdses.rest.services.invokers import Preparing, Submitting
from tdses.rest.services.principal import Principal
from tdses.rest.services.signing import SignatureRequest
from tdses.rest.services.tokens import new_token, token_hash
from tdses.rest.store import ACTIVE, PENDING, UserRecord


@dataclass
class Created:
    user: Any  # the chaincode's User, or a placeholder while a non-custodial registration awaits signatures
    token: str
    certificate: bytes
    signature_request: SignatureRequest | None = None


def check_csr(name: str, csr_pem: str) -> None:
    """The CA signs only what fabric-ca accepts and the chaincode can use: a P-256 key, CN = the user's name."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except (ValueError, UnicodeEncodeError):
        raise Problem(422, "INVALID_ARGUMENT", "csr is not a PEM certificate signing request") from None
    if not csr.is_signature_valid:
        raise Problem(422, "INVALID_ARGUMENT", "csr is not signed by its own key")
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise Problem(422, "INVALID_ARGUMENT", "csr must hold an ECDSA P-256 public key")
    common_names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if [a.value for a in common_names] != [name]:
        raise Problem(422, "INVALID_ARGUMENT", f"csr subject CN must be the user's name {name!r}")


async def create_user(context: Context, name: str, introduction: str, csr_pem: str | None, *,
                      may_resume: bool) -> Created:
    if csr_pem is not None:
        check_csr(name, csr_pem)
    async with context.creating.one_at_a_time(name):
        return await _create(context, name, introduction, csr_pem, may_resume)


async def _create(context: Context, name: str, introduction: str, csr_pem: str | None, may_resume: bool) -> Created:
    store = context.store
    existing = store.user(name)
    if existing is not None and existing.state != PENDING:
        raise Problem(409, "ALREADY_EXISTS", f"user {name!r} already exists")
    if existing is not None and not may_resume:
        raise Problem(409, "ALREADY_EXISTS", f"user {name!r} is being created: the organization admin, or the "
                      "request that began it (with the token it was given), resumes it")
    if existing is None:
        await _name_is_free(context, name)
    token = new_token()
    if existing is not None and existing.custodial == (csr_pem is None):
        if csr_pem is not None and not _same_key(existing.certificate, csr_pem):
            raise Problem(409, "ALREADY_EXISTS", f"user {name!r} is being created with another key: resume it "
                          "with a CSR of that key")
        store.set_token(name, token_hash(token))  # resume the earlier, unfinished creation
        record = store.user(name)
    else:
        if existing is not None:
            raise Problem(409, "ALREADY_EXISTS", f"user {name!r} is being created with another kind of key")
        record = await _enroll(context, name, csr_pem, token)
    principal = _principal(context, record)
    if existing is not None and await _registered_by(context, name):
        # The registration committed, but its answer was lost before the user was marked active here.
        store.set_state(name, ACTIVE)
        return Created(await context.admin_chaincode().query_user(name), token, record.certificate)
    if not principal.custodial:
        request = await Chaincode(Preparing(context.offline, principal)).register_user(
            name, introduction, after_commit="activate_user")
        placeholder = {"name": name, "mspId": context.settings.msp_id, "status": "pending"}
        return Created(placeholder, token, record.certificate, request)
    try:
        submitted = await Chaincode(Submitting(context.ledger, principal)).register_user(name, introduction)
        user = submitted.result
    except Problem as problem:
        if problem.code == "ALREADY_EXISTS" and await _registered_by(context, name):
            user = await context.admin_chaincode().query_user(name)  # an earlier attempt did commit
        elif problem.status in (503, 504):
            problem.extra["token"] = token  # the registration may still commit: the token is valid then
            raise
        elif problem.code == "CONFLICT":
            # Concurrent registrations kept winning: nothing happened on chain. The identity stays pending, so
            # creating the same name again resumes with it instead of finding the name taken at the CA.
            problem.detail += "; create the user again (with this token, unless you are the admin) to resume"
            problem.extra["token"] = token
            raise
        else:
            store.delete_user(name)
            await _revoke_quietly(context, name)
            raise
    store.set_state(name, ACTIVE)
    return Created(user, token, record.certificate)


async def _name_is_free(context: Context, name: str) -> None:
    try:
        await context.admin_chaincode().query_user(name)
    except Problem as problem:
        if problem.code == "NOT_FOUND":
            return
        raise
    raise Problem(409, "ALREADY_EXISTS", f"user name {name!r} is taken")


async def _enroll(context: Context, name: str, csr_pem: str | None, token: str) -> UserRecord:
    secret = await context.ca.register(name)
    if csr_pem is None:
        enrollment = await context.ca.enroll(name, secret)
        certificate, sealed = enrollment.certificate, context.keybox.seal(name, enrollment.key)
    else:
        certificate, sealed = await context.ca.enroll_csr(name, secret, csr_pem), None
    record = UserRecord(name, token_hash(token), certificate, sealed, custodial=csr_pem is None, state=PENDING)
    context.store.add_user(record)
    return record


def _same_key(certificate_pem: bytes, csr_pem: str) -> bool:
    def spki(key) -> bytes:
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    certificate = x509.load_pem_x509_certificate(certificate_pem)
    return spki(certificate.public_key()) == spki(x509.load_pem_x509_csr(csr_pem.encode()).public_key())


def _principal(context: Context, record: UserRecord) -> Principal:
    return context.principals.of(record)


async def _registered_by(context: Context, name: str) -> bool:
    """Whether the user `name` on chain is bound to our CA's identity of that name (fabric-ca: CN = enrollment ID)."""
    try:
        user = await context.admin_chaincode().query_user(name)
    except Problem:
        return False
    try:
        cert_id = base64.b64decode(user.get("certId", "")).decode()
    except ValueError:
        return False
    subject = cert_id.removeprefix("x509::").split("::")[0]
    return user.get("mspId") == context.settings.msp_id and f"CN={name}," in subject + ","


async def _revoke_quietly(context: Context, name: str) -> None:
    try:
        await context.ca.revoke(name)
    except Problem:
        pass  # the identity could not be used on chain anyway; the CA keeps it as registered
