"""A small synchronous client of the gateway's REST API (for the CLI, scripts and benchmarks).

    api = ApiClient("http://127.0.0.1:8081", token)
    api.call("POST", "/v1/services/weather-api/rights", {"calls": 5})
"""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    """The gateway answered with a problem (or could not be reached: status 0)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        super().__init__(f"{status} {problem.get('code', '')}: {problem.get('detail', '')}".strip())


class ApiClient:
    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0) -> None:
        parsed = httpx.URL(url)  # httpx.InvalidURL when it does not parse at all
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise httpx.InvalidURL(f"the gateway's URL must be http:// or https:// with a host, got {url!r}")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

    def call(self, method: str, path: str, body: Any = None, params: dict | None = None,
             idempotency_key: str | None = None) -> Any:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        params = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, json=body, params=params, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ApiError(0, {"code": "UNREACHABLE", "detail": f"cannot reach {self._http.base_url}: {exc}"}) from None
        except httpx.HTTPError as exc:  # sent, maybe: the gateway may have done it
            raise ApiError(0, {"code": "NO_ANSWER", "detail": f"no answer from {self._http.base_url} "
                               f"({exc or type(exc).__name__}): the request may have taken effect"}) from None
        try:
            content = response.json() if response.content else None
            readable = content is None or isinstance(content, (dict, list))
        except ValueError:
            content, readable = None, False
        if response.is_redirect:  # never followed: a write would not be sent again, and a token not sent elsewhere
            where = response.headers.get("location", "")
            raise ApiError(response.status_code, {"code": "REDIRECTED", "detail": f"{self._http.base_url} answered "
                           f"{response.status_code}, to {where!r}: nothing was done; use that URL as the gateway's"})
        if not response.is_success:
            raise ApiError(response.status_code, content if isinstance(content, dict) else {
                "detail": f"{self._http.base_url} answered {response.status_code} {response.reason_phrase} without "
                          "the gateway's problem JSON: is it a T-DSES gateway?"})
        if not readable:
            raise ApiError(response.status_code, {"code": "NOT_THE_API", "detail": f"{self._http.base_url} answered "
                           "with something else than the gateway's JSON: is it a T-DSES gateway?"})
        return content

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
