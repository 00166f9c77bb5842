"""/docs without the internet: Swagger UI's files from the installed swagger-ui-bundle package."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

SWAGGER_ASSETS = "/static/swagger-ui"

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def api_docs() -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title="T-DSES gateway API",
                               swagger_js_url=f"{SWAGGER_ASSETS}/swagger-ui-bundle.js",
                               swagger_css_url=f"{SWAGGER_ASSETS}/swagger-ui.css",
                               swagger_favicon_url=f"{SWAGGER_ASSETS}/favicon-32x32.png")


def mount_swagger_assets(application: FastAPI) -> None:
    application.mount(SWAGGER_ASSETS, StaticFiles(directory=swagger_ui_path), name="swagger-ui")
