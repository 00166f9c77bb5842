"""The organization's web pages, served by its REST gateway: server-rendered Jinja2 templates, a small ES module
and a style sheet of our own. Every change goes through the chaincode facade over the API's own invoker
(tdses.rest.api.transact.Transacting), as the signed-in person; a refusal is shown with its problem's detail.

    install(application)   # the pages, their static files and /docs (Swagger UI from an installed package)
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from tdses.rest.web import account, catalog, docs, mine, signin
from tdses.rest.web.render import STATIC


def install(application: FastAPI) -> None:
    for module in (signin, catalog, mine, account, docs):
        application.include_router(module.router)
    docs.mount_swagger_assets(application)
    application.mount("/static/web", StaticFiles(directory=STATIC), name="web")
