"""Field types with the chaincode's bounds (chaincode/contract/validate.go), checked before any transaction."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints

from tdses.chaincode.text import INVISIBLE, unprintable
from tdses.metering.voucher import MAX_LENGTH as MAX_VOUCHER

# ASCII letters, digits, '.', '_', '-', starting with a letter or digit: no separator, no look-alikes.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
SEARCH_PATTERN = r"^[^\x00-\x1f\x7f]*$"  # search words and categories: no control characters (PostgreSQL refuses NUL)
MAX_CALLS = 1_000_000
MAX_PRICE = 10**12
MAX_AMOUNT = 10**15
MAX_LATENCY_MS = 3_600_000
MAX_AVAILABILITY_BP = 10_000
MAX_COMPONENTS = 32
MAX_CSR = 4096
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 20, 100


def check_text(value: str) -> str:
    """Text the chaincode accepts (tdses.chaincode.text)."""
    for char in value:
        if unprintable(char):
            raise ValueError(f"must not contain control, line-breaking or reserved characters (found "
                             f"U+{ord(char):04X})")
        if char in INVISIBLE:
            raise ValueError(f"must not contain bidirectional controls or invisible characters (U+{ord(char):04X})")
    return value


def check_required_text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return check_text(value)


def check_url(value: str) -> str:
    check_text(value)
    try:
        parts = urlsplit(value)
        host, port = parts.hostname, parts.port  # port: ValueError when not a number in 0-65535
    except ValueError:
        raise ValueError("must be an absolute http or https URL") from None
    if parts.scheme not in ("http", "https") or not host or " " in value:
        raise ValueError("must be an absolute http or https URL")
    if port == 0:
        raise ValueError("must have a port from 1 to 65535")
    if "@" in parts.netloc:  # https://trusted.example@evil.example/ reads as trusted.example
        raise ValueError("must not contain user information (user@ or user:password@)")
    return value


Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN), Field(examples=["weather-api"])]
Category = Annotated[str, Field(min_length=1, max_length=64, examples=["weather"]),
                    AfterValidator(check_required_text)]
Text = Annotated[str, Field(max_length=1024), AfterValidator(check_text)]
Url = Annotated[str, Field(min_length=1, max_length=512, examples=["https://weather.example.com/v1"]),
                AfterValidator(check_url)]
Price = Annotated[int, Field(strict=True, ge=0, le=MAX_PRICE, examples=[3], description="SToken per call")]
Calls = Annotated[int, Field(strict=True, ge=1, le=MAX_CALLS, examples=[5])]
Amount = Annotated[int, Field(strict=True, ge=1, le=MAX_AMOUNT, examples=[10], description="SToken")]
LatencyMs = Annotated[int, Field(strict=True, ge=0, le=MAX_LATENCY_MS)]
AvailabilityBp = Annotated[int, Field(strict=True, ge=0, le=MAX_AVAILABILITY_BP,
                                      description="basis points: 10000 = 100 %")]
# A voucher (tdses.metering.voucher): v1.<claim>.<signature>, unpadded base64url; the chaincode checks the rest.
ANALYTICS_ROWS = 1000  # rows of one analytics answer: the newest periods'
MAX_SETTLEMENT = 256
MAX_VOUCHERS_SIGNED = 100
VoucherText = Annotated[str, StringConstraints(min_length=8, max_length=MAX_VOUCHER,
                                               pattern=r"^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")]
RequestDigest = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{43}$"),
                          Field(description="unpadded base64url SHA-256 of METHOD LF target LF body")]
