"""Response bodies: the chaincode's JSON as it is (camelCase), documented for OpenAPI."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tdses.rest.models.fields import ANALYTICS_ROWS


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


class Invitation(Out):
    invitation: str = Field(description="the token, shown only now")
    path: str = Field(description="the sign-up page's path and query on this gateway: give it to one person")
    expiresAt: str


class RemovalReceipt(Out):
    name: str = ""
    returnedToPool: int = 0
    serversRevoked: int = Field(0, description="authorizations of servers on its services, withdrawn")
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


class ServiceListing(Service):
    callsBought: int | None = Field(default=None, description="calls bought in total (from the index)")
    compositions: int | None = Field(default=None, description="times composed into mashups (from the index)")


class ServicePage(Out):
    items: list[ServiceListing]
    next: str | None = Field(default=None, description="pass as ?cursor= for the next page; none: the last page")
    nextCursor: str | None = Field(default=None, description="the same as next (kept for older clients)")


class Buyer(Out):
    user: str
    bought: int
    used: int
    remaining: int
    paid: int
    updatedAt: str = ""
    vouchersOnly: bool = False  # used up only by settled vouchers


class Buyers(Out):
    service: str
    buyers: list[Buyer]


class Activity(Out):
    kind: str = Field(description="purchase, reduction, settlement, reward, transfer, mashup_created, "
                      "user_registered, ...")
    service: str | None = None
    user: str | None = Field(default=None, description="who acted (the buyer, the payer, the sender)")
    counterparty: str | None = Field(default=None, description="the other party (the reducer, the developer "
                                     "rewarded, the receiver)")
    calls: int | None = None
    amount: int | None = Field(default=None, description="SToken moved")
    detail: dict = Field(default_factory=dict)
    blockNumber: int
    transactionId: str
    timestamp: str


class ActivityPage(Out):
    items: list[Activity]
    next: str | None = Field(default=None, description="pass as ?cursor= for older entries")


class RevenueBucket(Out):
    bucket: str = Field(description="the period: day 2026-11-30, week its Monday, month 2026-11")
    amount: int = Field(description="SToken received: purchases, rewards and compositions")
    calls: int = Field(description="calls sold")


class Revenue(Out):
    service: str
    bucket: str
    total: int
    buckets: list[RevenueBucket]


class UserRights(Out):
    user: str
    rights: list[Rights]


class CompositionService(Out):
    name: str
    category: str
    developer: str = ""
    price: int
    latencyMs: int
    availabilityBp: int


class CompositionQoS(Out):
    cost: int = Field(description="SToken per call of the mashup: the sum of the prices")
    latencyMs: int = Field(description="the critical path: stages add up, parallel services take the longest")
    availabilityBp: int = Field(description="the product of the availabilities, rounded down")


class CompositionResult(Out):
    workflow: list[list[str]]
    objective: str
    services: list[CompositionService]
    qos: CompositionQoS
    candidates: int = Field(description="available services considered")


class RelatedService(Out):
    name: str
    together: int = Field(description="mashups (or buyers) the two share")
    jaccard: float


class RelatedServices(Out):
    service: str
    composedWith: list[RelatedService]
    boughtWith: list[RelatedService]


class Suggestion(Out):
    name: str
    score: float
    together: int
    because: list[str] = Field(description="the user's services it goes with")


class Suggestions(Out):
    user: str
    items: list[Suggestion]


class AnalyticsRow(Out):
    bucket: str
    key: str = Field(description="the service, developer or organization (MSP ID)")
    value: int


class Analytics(Out):
    by: str
    bucket: str
    metric: str
    rows: list[AnalyticsRow]
    truncated: bool = Field(default=False, description=f"the oldest periods were left out (at most "
                            f"{ANALYTICS_ROWS:,} rows, the newest): ask for a longer bucket")


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
    vouchersOnly: bool = False  # used up only by settled vouchers: bought while the service required them


class ServiceUsage(Out):
    service: str = ""
    callsBought: int = 0
    callsUsed: int = 0
    compositions: int = 0


class Compaction(Out):
    owner: str = ""
    deltas: int = 0
    more: bool = False  # more credits wait: compact again


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
    committed: bool = Field(description="in a block of the ledger, valid or not")
    valid: bool = Field(description="committed as VALID: the transaction took effect")
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
