"""ASGI middleware of the gateway, outermost first: metrics, body limit, rate limit, idempotency."""
