"""ASGI middleware of the gateway, outermost first: metrics, body limit, rate limit, idempotency. In front of
them the lean routes (tdses.rest.api.lean) serve the hottest requests, with the rate limit and metrics applied there."""
