"""The pages: the dashboard (``dashboard.html``, one self-contained file) and the API docs.

``/docs`` is Swagger UI served from the ``swagger-ui-py`` package's files, never a CDN
(FastAPI's default); without that package it is a short page linking ``/openapi.json``.
"""

from __future__ import annotations

import os
from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException

# the dashboard talks to this server only; the report in its iframe runs no script
_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "img-src 'self' data: blob:; connect-src 'self'; frame-src 'self' blob: data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'self'")


def add_pages(app: FastAPI) -> None:
    """``GET /`` the dashboard, ``GET /docs`` Swagger UI from local files."""
    page = resources.files(__package__).joinpath("dashboard.html").read_text("utf-8")

    @app.get("/", include_in_schema=False)
    def dashboard() -> HTMLResponse:
        return HTMLResponse(page, headers={"Content-Security-Policy": _CSP,
                                           "X-Content-Type-Options": "nosniff"})

    assets = _swagger_assets()

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        if assets is None:
            return HTMLResponse("<!doctype html><title>Sentinel SQL API</title><p>The "
                                "interactive docs need <code>pip install "
                                "'sentinel-sql[server]'</code>. The schema: <a href="
                                "'/openapi.json'>/openapi.json</a>.")
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="Sentinel SQL API",
            swagger_js_url="/docs/swagger-ui-bundle.js", swagger_css_url="/docs/swagger-ui.css",
            swagger_favicon_url="data:,", swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/docs/{name}", include_in_schema=False)
    def docs_asset(name: str) -> Response:
        types = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
        if assets is None or name not in types:
            raise HTTPException(404, "Not Found")
        with open(os.path.join(assets, name), "rb") as f:
            return Response(f.read(), media_type=types[name],
                            headers={"Cache-Control": "public, max-age=86400"})


def _swagger_assets() -> str | None:
    """Swagger UI's files from the ``swagger-ui-py`` package (so /docs needs no CDN)."""
    try:
        import swagger_ui
    except ImportError:
        return None
    folder = os.path.join(os.path.dirname(swagger_ui.__file__), "static")
    return folder if os.path.isfile(os.path.join(folder, "swagger-ui-bundle.js")) else None
