"""Request bodies as the API reads them: JSON whose objects name each key once.

json.loads keeps the last of a key given twice, so {"calls": 1, "calls": 1000} would buy 1,000 calls while a proxy,
a log or another JSON reader may see 1 (RFC 8259 leaves duplicates to the reader; I-JSON, RFC 7493, forbids them).
The router (ApiRoute) and the lean routes both read bodies with loads(): such a body is 400 MALFORMED_JSON.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request


def loads(body: bytes | str) -> Any:
    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found = dict(pairs)
        if len(found) < len(pairs):
            seen: set[str] = set()
            twice = next(key for key, _ in pairs if key in seen or seen.add(key))
            doc = body if isinstance(body, str) else body.decode("utf-8", "replace")
            raise json.JSONDecodeError(f"an object has the key {twice!r} twice", doc, 0)
        return found

    return json.loads(body, object_pairs_hook=unique)


class ApiRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class ApiRoute(APIRoute):
    """The API's routes: FastAPI reads their JSON bodies with loads()."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def handle(request: Request):
            return await handler(ApiRequest(request.scope, request.receive))

        return handle
