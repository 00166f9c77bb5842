"""Metered calls: users sign a voucher per request, service servers verify and count them locally, and settle the
highest count per user on chain from time to time (chaincode/contract/voucher.go).

    client:  httpx.Client(auth=VoucherAuth(VoucherSigner(service, user, key, counter_file)))
    server:  app.add_middleware(MeterMiddleware, meter=Meter(settings))   or   tdses meter --upstream URL ...
"""

from tdses.metering.voucher import HEADER, Claim, InvalidVoucher, Voucher, request_digest

__all__ = ["HEADER", "Claim", "InvalidVoucher", "Voucher", "request_digest"]
