"""Request bodies: unknown fields, wrong types and out-of-range values are refused (422) before any transaction."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tdses.metering.voucher import MAX_COUNT as MAX_VOUCHER_COUNT
from tdses.rest.models.fields import (
    MAX_AMOUNT, MAX_COMPONENTS, MAX_CSR, MAX_SETTLEMENT, MAX_VOUCHERS_SIGNED, Amount, AvailabilityBp, Calls, Category,
    LatencyMs, Name, Price, RequestDigest, Text, Url, VoucherText,
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QoS(Strict):
    latencyMs: LatencyMs = 0
    availabilityBp: AvailabilityBp = 0


class QoSPatch(Strict):
    """A patch's qos: a field left out keeps its value."""

    latencyMs: LatencyMs | None = None
    availabilityBp: AvailabilityBp | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> QoSPatch:
        if self.latencyMs is None and self.availabilityBp is None:
            raise ValueError("the qos patch changes nothing: give latencyMs, availabilityBp or both")
        return self


class UserCreate(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "alice", "introduction": "weather services"},
    ]})

    name: Name
    introduction: Text = ""
    csr: str | None = Field(default=None, max_length=MAX_CSR, description=(
        "Non-custodial: a PEM PKCS#10 request signed by your own P-256 key, subject CN = name. The gateway "
        "enrolls it and never sees your key; you then sign each transaction's digests."))


class ServiceCreate(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "weather-api", "category": "weather", "description": "forecasts by city",
        "url": "https://weather.example.com/v1", "price": 3, "qos": {"latencyMs": 120, "availabilityBp": 9990},
    }]})

    name: Name
    category: Category
    description: Text = ""
    url: Url
    price: Price
    qos: QoS | None = None
    requireVouchers: bool = Field(default=False, strict=True, description=(
        "calls are used up only by settling users' vouchers (POST /v1/services/{name}/settlements), never by "
        "the developer's word (…/reduce)"))


class MashupCreate(ServiceCreate):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "trip-planner", "category": "travel", "url": "https://trips.example.com", "price": 10,
        "components": ["weather-api"], "maxPaid": 5,
    }]})

    components: list[Name] = Field(min_length=1, max_length=MAX_COMPONENTS)
    maxPaid: int | None = Field(default=None, strict=True, ge=0, le=MAX_AMOUNT,
                                description="refuse (409) if the components cost more than this in total now")

    @model_validator(mode="after")
    def _distinct_components(self) -> MashupCreate:
        if len(set(self.components)) != len(self.components):
            raise ValueError("components must not repeat")
        if self.name in self.components:
            raise ValueError("a mashup cannot be its own component")
        return self


class ServicePatch(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"price": 4}]})

    category: Category | None = None
    description: Text | None = None
    url: Url | None = None
    price: Price | None = None
    qos: QoSPatch | None = None
    requireVouchers: bool | None = Field(default=None, strict=True)

    @model_validator(mode="after")
    def _changes_something(self) -> ServicePatch:
        if not self.model_dump(exclude_none=True):
            raise ValueError("the patch changes nothing: give at least one field")
        return self


class Purchase(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"calls": 5, "maxPrice": 3}]})
    calls: Calls
    max_price: Price | None = Field(default=None, alias="maxPrice",
                                    description="refuse (409) if a call costs more than this now")


class Reduction(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"calls": 1}]})
    calls: Calls


class Reward(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"amount": 10}]})
    amount: Amount


class TransferCreate(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"to": "bob", "amount": 25}]})
    to: Name
    amount: Amount


class ServerAuthorization(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"server": "weather-server-1"}]})
    server: Name


class Signature(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"signature": "MEUCIQD..."}]})
    signature: str = Field(min_length=8, max_length=200, description="base64 DER ECDSA signature of the digest")


class SettlementCreate(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"vouchers": ["v1.eyJzIjo....MEUCIQ..."]}]})
    vouchers: list[VoucherText] = Field(min_length=1, max_length=MAX_SETTLEMENT,
                                        description="users' vouchers for this service; per user the highest counts")


class VoucherToSign(Strict):
    count: int = Field(strict=True, ge=1, le=MAX_VOUCHER_COUNT, description="calls of the service used in total, "
                       "this one included")
    digest: RequestDigest


class VoucherSigning(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"vouchers": [{"count": 1, "digest": "pm-01rzkDLMEIKIv-p2_opH6uFWSHkIAbUzr3sRBjQk"}]}]})
    vouchers: list[VoucherToSign] = Field(min_length=1, max_length=MAX_VOUCHERS_SIGNED)


MAX_WORKFLOW = 12  # categories of one composition request


class CompositionConstraints(Strict):
    maxCost: int | None = Field(default=None, strict=True, ge=0, le=MAX_AMOUNT, description="SToken per call, total")
    maxLatencyMs: LatencyMs | None = Field(default=None, description="deadline for the critical path")
    minAvailabilityBp: AvailabilityBp | None = None


class CompositionRequest(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "workflow": ["Mapping", ["Weather", "Messaging"]],
        "constraints": {"maxCost": 6, "maxLatencyMs": 900, "minAvailabilityBp": 9500},
        "objective": "cost",
    }]})

    workflow: list[Category | list[Category]] = Field(
        min_length=1, max_length=MAX_WORKFLOW,
        description="stages in order: a category, or a list of categories that run in parallel")
    constraints: CompositionConstraints = CompositionConstraints()
    objective: Literal["cost", "latency", "availability"] = "cost"

    @model_validator(mode="after")
    def _categories_once(self) -> CompositionRequest:
        flat = [c for step in self.workflow for c in ([step] if isinstance(step, str) else step)]
        if any(isinstance(step, list) and not step for step in self.workflow):
            raise ValueError("a stage needs at least one category")
        if len(flat) > MAX_WORKFLOW:
            raise ValueError(f"at most {MAX_WORKFLOW} categories")
        if len(set(flat)) != len(flat):
            raise ValueError("a category occurs twice in the workflow")
        return self
