"""Small helpers for the pure ASGI middlewares."""

from __future__ import annotations

from starlette.types import Scope, Send

from tdses.rest.problems import Problem


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def bearer(scope: Scope) -> str | None:
    value = header(scope, b"authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def send_problem(send: Send, problem: Problem) -> None:
    """The problem as the application's handlers answer it (Problem.response), to the byte."""
    response = problem.response()
    await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})
