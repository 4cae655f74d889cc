"""The reference for `bench/readpath.py`: a bare Starlette hello app, served by the same
runner as photoshare's APIs (`infra.http.serving.run_api`: the same uvicorn, event loop,
HTTP parser and settings), so that a ratio to it measures photoshare's own cost.

Run: `.venv/bin/python bench/bare_app.py --port 8100`.
"""

from __future__ import annotations

import argparse

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from photoshare.infra.http.serving import run_api


async def hello(_: Request) -> JSONResponse:
    return JSONResponse({"hello": "world"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = Starlette(routes=[Route("/", hello)])
    # As `photoshare serve` runs by default: no proxy headers trusted (uvicorn's own
    # default would add its proxy-headers middleware to every request of this app only).
    run_api(app, host="127.0.0.1", port=args.port, name="",  # type: ignore[arg-type]
            graceful_seconds=1, proxy_headers=False)


if __name__ == "__main__":
    main()
