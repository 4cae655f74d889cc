"""GET /media/{key}: an image variant, cacheable forever because a key never names other
bytes (a hash of the upload's salt and the bytes); 404 once its photo is deleted."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from photoshare.infra.media.blobs import CONTENT_TYPES, IMMUTABLE_CACHE_CONTROL, BlobStore, is_valid_key
from photoshare.infra.http.web import ApiError

router = APIRouter(tags=["media"])



@router.get("/media/{key}", responses={200: {"content": {"image/jpeg": {}}}})
async def media(key: str, request: Request) -> Response:
    if not is_valid_key(key):
        raise ApiError(400, "invalid_media_key", "a media key is a SHA-256 hex digest and an "
                                                 "image extension")
    etag = f'"{key}"'
    headers = {"Cache-Control": IMMUTABLE_CACHE_CONTROL, "ETag": etag, "X-Content-Type-Options": "nosniff"}
    store: BlobStore = request.app.state.media
    if request.headers.get("if-none-match") == etag and await run_in_threadpool(store.exists, key):
        return Response(status_code=304, headers=headers)
    data = await run_in_threadpool(store.get, key)
    if data is None:
        raise ApiError(404, "media_not_found", "no media with that key")
    return Response(data, media_type=CONTENT_TYPES[key.rsplit(".", 1)[1]], headers=headers)
