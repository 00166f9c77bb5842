"""The organization's REST gateway: every chaincode function over HTTP, each user acting with its own Fabric identity.

    settings = load_settings("gateway.yaml")
    uvicorn.run(app(settings), host="127.0.0.1", port=8081)

Layout after fastapi/full-stack-fastapi-template: api/ (routes/<resource>.py and their dependencies), middleware/
(metrics, body limit, rate limit, idempotency), services/ (ledger, offline signing, onboarding, CA, tokens),
store/ (the gateway's database), models/ (request and response bodies), config.py, problems.py;
main.app(settings) builds the FastAPI application.
"""

from tdses.rest.config import Settings, load_settings
from tdses.rest.main import app

__all__ = ["Settings", "app", "load_settings"]
