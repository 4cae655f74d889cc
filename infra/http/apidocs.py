"""The interactive API docs, served from the package itself: `/docs` (Swagger UI) and
`/redoc` (ReDoc) load their scripts and styles from `/docs/assets/`, never from a CDN, so
they work without internet (and leak no visit to a third party). The files come from the
npm registry's `swagger-ui-dist` and `redoc` packages, with their licences, in
`docs-assets/` (its README says which versions)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse

from photoshare.infra.http.web import ApiError

ASSETS_DIR = Path(__file__).resolve().parent / "docs-assets"
ASSETS_URL = "/docs/assets"
# name -> content type: only these files are served (the licences are for reading here).
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
# The file names carry no version: browsers revalidate (ETag) rather than keep a stale copy
# after an upgrade.
CACHE_CONTROL = "no-cache"
# The pages may load nothing from another origin, so the browser never asks one (ReDoc's
# sidebar has a logo from its maker's CDN: blocked, it hides itself). Swagger UI starts
# from an inline script and both inject their styles; ReDoc searches in a blob: worker.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
    "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


def _own_origin_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page


def install_api_docs(app: FastAPI) -> None:
    """`/docs`, `/docs/oauth2-redirect`, `/redoc` and their assets. Build the app with
    `docs_url=None, redoc_url=None` so FastAPI's CDN pages are not installed."""
    openapi_url = app.openapi_url or "/openapi.json"
    favicon = f"{ASSETS_URL}/favicon-32x32.png"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return _own_origin_only(get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{app.title}: API docs",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css", swagger_favicon_url=favicon,
            oauth2_redirect_url="/docs/oauth2-redirect"))

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return _own_origin_only(get_redoc_html(
            openapi_url=openapi_url, title=f"{app.title}: API reference",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js", redoc_favicon_url=favicon,
            with_google_fonts=False))

    @app.get(ASSETS_URL + "/{name}", include_in_schema=False)
    def asset(name: str) -> FileResponse:
        if name not in ASSETS:
            raise ApiError(404, "not_found", "no such file")
        return FileResponse(ASSETS_DIR / name, media_type=ASSETS[name],
                            headers={"Cache-Control": CACHE_CONTROL})
