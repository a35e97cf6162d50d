"""The API's documentation pages, Swagger UI at ``/docs`` and ReDoc at ``/redoc``, served offline.

FastAPI's own pages load their scripts from a CDN, so on a machine without internet (or behind a
strict proxy) ``/docs`` is blank.  The ``fastapi-offline`` package ships both bundles; we serve
them from its folder under ``/static/api-docs`` and build the pages with FastAPI's helpers.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS = "/static/api-docs"
BUNDLES = files("fastapi_offline") / "static"
#: The one off-site address inside ReDoc's bundle (its "powered by" logo): pointed at our own icon,
#: so reading the docs tells no third party who is reading them.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@cache
def _redoc_bundle() -> bytes:
    return (BUNDLES / "redoc.standalone.js").read_bytes().replace(REDOC_LOGO.encode(), b"/static/favicon.svg")


def install(app: FastAPI) -> None:
    """Mount the bundles and add the two pages (the app is made with ``docs_url=None, redoc_url=None``)."""
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(f"{ASSETS}/redoc.standalone.js", include_in_schema=False)
    def redoc_bundle() -> Response:
        return Response(
            _redoc_bundle(), media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"}
        )

    app.mount(ASSETS, StaticFiles(directory=str(BUNDLES)), name="api-docs")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return _with_policy(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{app.title} API",
                swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
                swagger_css_url=f"{ASSETS}/swagger-ui.css",
                swagger_favicon_url="/static/favicon.svg",
            )
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return _with_policy(
            get_redoc_html(
                openapi_url=openapi_url,
                title=f"{app.title} API",
                redoc_js_url=f"{ASSETS}/redoc.standalone.js",
                redoc_favicon_url="/static/favicon.svg",
                with_google_fonts=False,
            )
        )


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    """The page with its own Content-Security-Policy (``headers.docs_policy``): its inline start-up
    script admitted by hash, nothing from elsewhere."""
    from paperboy.web.headers import docs_policy

    page.headers["content-security-policy"] = docs_policy(bytes(page.body))
    return page
