"""Response bodies: the chaincode's JSON as it is (camelCase), documented for OpenAPI."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class Contribution(Out):
    availableServices: int = 0
    buyers: int = 0
    callsBought: int = 0
    composers: int = 0
    compositions: int = 0
    lambdaMilli: int = 0
    gammaMilli: int = 0
    value: float = 0.0


class User(Out):
    name: str = ""
    mspId: str = ""
    status: str = ""
    balance: int = 0
    contribution: Contribution | None = None
    introduction: str = ""
    createdAt: str = ""
    updatedAt: str = ""


class SignatureRequest(Out):
    transactionId: str
    step: str = Field(description="proposal, then transaction")
    digest: str = Field(description="base64 SHA-256 digest to sign")
    algorithm: str = ""
    expiresIn: int = 0
    signatureUrl: str = ""


class UserCreated(Out):
    user: User
    token: str = Field(description="the user's API token: shown only now, store it")
    certificate: str = ""
    signatureRequest: SignatureRequest | None = Field(
        default=None, description="non-custodial only: sign to register the user on chain")


class TokenRotated(Out):
    token: str


class RemovalReceipt(Out):
    name: str = ""
    returnedToPool: int = 0
    servicesInvalidated: int = 0


class QoS(Out):
    latencyMs: int = 0
    availabilityBp: int = 0


class Service(Out):
    name: str = ""
    developer: str = ""
    category: str = ""
    description: str = ""
    url: str = ""
    price: int = 0
    qos: QoS | None = None
    status: str = ""
    requireVouchers: bool = False
    mashup: bool = False
    components: list[str] | None = None
    createdAt: str = ""
    updatedAt: str = ""


class ServicePage(Out):
    items: list[Service]
    nextCursor: str | None = Field(default=None, description="pass as ?cursor= for the next page")


class MashupReceipt(Out):
    mashup: Service
    paid: int = 0


class Rights(Out):
    service: str = ""
    user: str = ""
    bought: int = 0
    used: int = 0
    remaining: int = 0
    paid: int = 0
    updatedAt: str = ""


class ServiceUsage(Out):
    service: str = ""
    callsBought: int = 0
    callsUsed: int = 0
    compositions: int = 0


class ServerGrant(Out):
    service: str = ""
    server: str = ""
    authorizedAt: str = ""


class RewardReceipt(Out):
    service: str = ""
    developer: str = ""
    amount: int = 0
    txId: str = ""


class Balance(Out):
    account: str = ""
    balance: int = 0


class TransferReceipt(Out):
    amount: int = 0
    txId: str = ""


class TokenInfo(Out):
    cap: int = 0
    circulating: int = 0
    pool: int = 0
    registrations: int = 0
    nextGrant: int = 0
    grantShards: int = 1


class TransactionStatus(Out):
    transactionId: str
    status: str = Field(description="VALID, another Fabric validation code, or PENDING when not yet seen")
    committed: bool
    blockNumber: int | None = None


class Health(Out):
    status: str


class ProblemDetail(Out):
    type: str = "urn:tdses:problem:not_found"
    title: str = "Not Found"
    status: int = 404
    code: str = Field(default="NOT_FOUND", description="stable: the chaincode's code or the gateway's")
    detail: str = ""
    transactionId: str | None = None


class VoucherKeys(Out):
    user: str = ""
    status: str = ""
    keys: list[str] = Field(default_factory=list, description="base64 DER public keys, newest first")
    updatedAt: str = ""


class SettledRights(Out):
    user: str = ""
    calls: int = 0
    used: int = 0
    remaining: int = 0


class RejectedVoucher(Out):
    index: int = 0
    user: str = ""
    calls: int = 0
    reason: str = Field(default="", description="UNKNOWN_USER, USER_REMOVED, NO_VOUCHER_KEY, BAD_SIGNATURE, "
                        "BEYOND_BOUGHT")


class Settlement(Out):
    service: str = ""
    settler: str = ""
    settled: list[SettledRights] = Field(default_factory=list)
    rejected: list[RejectedVoucher] = Field(default_factory=list)
    txId: str = ""


class SignedVouchers(Out):
    vouchers: list[str] = Field(description="TDSES-Voucher header values, in the order asked")
