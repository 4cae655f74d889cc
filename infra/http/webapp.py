"""The web app's static files (`webapp/`), served at `/` by the embedded profile.

Only the files that exist in the folder when the app is built get a route, each at its own
exact path (`/`, `/index.html`, `/app.js`, `/style.css`, ...), registered after the API's
routes: so nothing here can ever shadow `/v1/*`, `/media/*`, the health checks or the
docs, and an unknown path still gets the API's JSON 404.

The files have no content hash in their names (there is no build step), so they are sent
with `Cache-Control: no-cache` and a validator: browsers keep them and revalidate, and a
new deploy shows at once. Text files are sent gzipped to a browser that accepts it
(compressed once per version of the file): the first visit downloads 36 KB of the app
instead of 130 KB. `index.html` also carries a strict Content-Security-Policy: the
app loads nothing from another origin but images (which may come from a CDN).
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from photoshare.infra.http.web import error_response

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
# Sent gzipped when the browser accepts it and the file is big enough to gain from it.
COMPRESSIBLE = frozenset({".html", ".js", ".mjs", ".css", ".svg", ".webmanifest", ".json",
                          ".txt"})
MIN_COMPRESSED_BYTES = 1024
# Paths the API owns: never served from the folder, whatever it holds.
RESERVED = re.compile(r"^/(v1|media|healthz|readyz|metrics|openapi\.json|docs|redoc)(/|$)")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
CACHE_CONTROL = "no-cache"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' blob: data: https: http:; connect-src 'self'; font-src 'self'; "
    "object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def _files(directory: Path) -> dict[str, Path]:
    """URL path -> file, for every servable file under `directory` (no dotfiles)."""
    found: dict[str, Path] = {}
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if (not path.is_file() or path.suffix not in MEDIA_TYPES
                or not all(_SAFE_NAME.match(part) for part in relative.parts)):
            continue
        url = "/" + relative.as_posix()
        if not RESERVED.match(url):
            found[url] = path
    return found


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header allows gzip (named, or `*`, with a q above 0)."""
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        if coding.strip().lower() not in ("gzip", "*"):
            continue
        name, _, value = params.partition("=")
        if name.strip().lower() != "q":
            return True
        try:
            return float(value) > 0
        except ValueError:
            return False
    return False


def _responder(path: Path) -> Callable[[Request], Awaitable[Response]]:
    media_type = MEDIA_TYPES[path.suffix]
    html = path.suffix == ".html"
    compressible = path.suffix in COMPRESSIBLE
    compressed: dict[str, bytes] = {}  # the file's current version, gzipped: etag -> bytes

    def gzipped(etag: str, data: bytes) -> bytes:
        found = compressed.get(etag)
        if found is None:
            found = gzip.compress(data, compresslevel=9, mtime=0)
            compressed.clear()  # only the newest version is asked for
            compressed[etag] = found
        return found

    async def serve(request: Request) -> Response:
        try:
            # Small files, read per request so an edit shows without a restart.
            data = await run_in_threadpool(path.read_bytes)
        except OSError:
            return error_response(404, "not_found", "Not Found")
        digest = hashlib.sha256(data).hexdigest()[:32]
        etag = f'"{digest}"'
        headers = {"Cache-Control": CACHE_CONTROL, "X-Content-Type-Options": "nosniff"}
        if compressible and len(data) >= MIN_COMPRESSED_BYTES:
            headers["Vary"] = "Accept-Encoding"
            if accepts_gzip(request.headers.get("accept-encoding", "")):
                # Its own validator: the gzipped bytes are another representation.
                data, etag = gzipped(etag, data), f'"{digest}-gzip"'
                headers["Content-Encoding"] = "gzip"
        headers["ETag"] = etag
        if html:
            headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
            headers["Referrer-Policy"] = "same-origin"
            headers["X-Frame-Options"] = "DENY"
        if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
            return Response(status_code=304, headers=headers)
        if request.method == "HEAD":
            return Response(status_code=200, headers={**headers,
                            "Content-Length": str(len(data))}, media_type=media_type)
        return Response(data, media_type=media_type, headers=headers)

    return serve


def install_webapp(app: FastAPI, directory: Path) -> None:
    """Serve the web app in `directory` at `/`. Call after the API's routes are added.
    A missing folder (e.g. an install without the app) serves nothing and breaks nothing."""
    if not directory.is_dir():
        return
    files = _files(directory)
    index = files.get("/index.html")
    if index is not None:
        files["/"] = index
    for url, path in files.items():
        app.add_api_route(url, _responder(path), methods=["GET", "HEAD"],
                          include_in_schema=False, name=f"webapp:{url}")
