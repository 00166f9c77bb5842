"""/docs without the internet: Swagger UI's files (version 5, which reads OpenAPI 3.1) from the installed
fastapi-offline package, whose static directory is all we use of it."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

SWAGGER_ASSETS = "/static/swagger-ui"
SWAGGER_FILES = Path(fastapi_offline.__file__).parent / "static"

router = APIRouter(include_in_schema=False)
# Framed by no one, as the pages (render.PAGE_HEADERS); Swagger UI starts from an inline script, so no script rule.
DOCS_HEADERS = {"Content-Security-Policy": "frame-ancestors 'none'", "X-Frame-Options": "DENY",
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


@router.get("/docs")
async def api_docs() -> HTMLResponse:
    page = get_swagger_ui_html(openapi_url="/openapi.json", title="T-DSES gateway API",
                               swagger_js_url=f"{SWAGGER_ASSETS}/swagger-ui-bundle.js",
                               swagger_css_url=f"{SWAGGER_ASSETS}/swagger-ui.css",
                               swagger_favicon_url=f"{SWAGGER_ASSETS}/favicon.png")
    html = bytes(page.body).decode().replace("<html>", '<html lang="en">', 1)  # screen readers pick the language
    return HTMLResponse(html, headers=DOCS_HEADERS)


def mount_swagger_assets(application: FastAPI) -> None:
    application.mount(SWAGGER_ASSETS, StaticFiles(directory=SWAGGER_FILES), name="swagger-ui")
