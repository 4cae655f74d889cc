"""The read routes' fast path.

A read is a few sub-millisecond SQLite queries, so FastAPI's default handling costs more
than the work: a thread-pool hop for a sync endpoint, and validating and re-encoding the
returned dict through pydantic. `ReadRoute` runs a sync endpoint inline on the event loop
and writes its dict straight out as JSON. An endpoint whose queries can be slow (search
ranks every match) is marked `@offload` and still runs in the thread pool.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response


class JSONBody(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


_SUB_RESPONSE = "dependency_response"


def offload(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Run this endpoint in the thread pool: its queries may take a while."""
    endpoint.offload = True  # type: ignore[attr-defined]
    return endpoint


def _fast(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(endpoint):
        return endpoint
    threaded = getattr(endpoint, "offload", False)

    @functools.wraps(endpoint)
    async def run(*args: Any, **kwargs: Any) -> Any:
        headers = kwargs.pop(_SUB_RESPONSE).headers
        if threaded:
            result = await run_in_threadpool(endpoint, *args, **kwargs)
        else:
            result = endpoint(*args, **kwargs)
        if isinstance(result, Response):
            return result
        # Headers that dependencies set (X-Read-Position, ...) would be dropped by FastAPI
        # for a returned Response, so they are carried over here.
        return JSONBody(result, headers=dict(headers))

    # Ask FastAPI for the response object that dependencies write headers to.
    signature = inspect.signature(endpoint)
    extra = inspect.Parameter(_SUB_RESPONSE, inspect.Parameter.KEYWORD_ONLY, annotation=Response)
    run.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), extra])
    return run


class ReadRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, _fast(endpoint), **kwargs)
