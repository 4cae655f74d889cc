"""GET /v1/users/me/export: the caller's data as a zip, streamed as it is made.

Read your writes: with X-Min-Position the export waits (bounded, as every read does) for
the views to pass it before it starts. One export per person at a time, and a few per
process (`PHOTOSHARE_MAX_EXPORTS`): another is a 429 with Retry-After. The answer's status
is sent before the archive is made; a failure midway ends the download early, and the zip
is then incomplete (unreadable), which the browser shows as a failed download.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from photoshare.infra.http.web import ApiError, CurrentUserId
from photoshare.infra.media.blobs import BlobStore
from photoshare.readapi.deps import Views
from photoshare.readapi.export.archive import ExportSources, archive_name, export_archive
from photoshare.readapi.export.gate import ExportGate
from photoshare.readapi.export.zipstream import ZipStream
from photoshare.readapi.services import ReadServices

router = APIRouter(tags=["users"])
log = logging.getLogger("photoshare.export")

# Retry-After of a refused export: exports take seconds to minutes.
EXPORT_RETRY_AFTER_SECONDS = 30


@dataclass(frozen=True)
class ExportServices:
    """What the export route needs beyond the read services (built by the roots)."""

    sources: ExportSources
    gate: ExportGate


def export_services(read: ReadServices, originals: BlobStore, media: BlobStore,
                    max_running: int) -> ExportServices:
    """For `app.state.export` of an app serving the read API."""
    return ExportServices(ExportSources(queries=read.queries, originals=originals,
                                        media=media, media_url=read.media_url),
                          ExportGate(max_running))


class _GatedStreamingResponse(StreamingResponse):
    """Gives the export's place back when the answer ends, however it ends."""

    def __init__(self, content: AsyncIterator[bytes], release: Callable[[], None],
                 **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.release()


async def _in_threads(pieces: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Each piece made in the thread pool (the views and blob stores block). The pieces
    are closed at the end, whatever ends it, so that a blob's file or connection goes
    back; a cancelled step is waited for first (to_thread finishes the step it runs)."""
    done = object()
    try:
        while (piece := await anyio.to_thread.run_sync(next, pieces, done)) is not done:
            yield piece  # type: ignore[misc]
    except Exception:
        log.exception("the data export failed midway; the download ends incomplete")
        raise
    finally:
        pieces.close()  # type: ignore[attr-defined]


@router.get("/v1/users/me/export", response_class=StreamingResponse, responses={
    200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
          "description": "the caller's data as a zip, streamed, with `Content-Disposition: "
                         "attachment; filename=\"photoshare-<username>-<date>.zip\"`"},
    429: {"description": "an export of the caller's, or too many exports, already run; "
                         "see Retry-After"}})
async def export_my_data(request: Request, response: Response, views: Views,
                         user_id: CurrentUserId) -> StreamingResponse:
    """Download your data (an extension of API.md, "People's control"). The zip holds
    `README.txt` (what each file holds); `profile.json` (profile fields, counts, avatar);
    `avatar.<ext>`; `photos.json` (each photo: id, caption, location, hashtags, tagged
    users, alt text, posted_at, counts, size, variant URLs, and `original`, the path of
    its original in the zip); `photos/<photo_id>.<ext>` (the originals as uploaded);
    `comments.json` (the caller's comments on anyone's photos, with the photo id);
    `likes.json` (the photos they like); `following.json`, `followers.json`,
    `blocks.json`, `mutes.json` (people: id, username, display name). Lists are newest
    first. One export per person at a time (429 `export_in_progress`), a few per
    process (429 `too_many_exports`), with Retry-After."""
    export: ExportServices = request.app.state.export
    profile = await anyio.to_thread.run_sync(lambda: views.queries().profiles.by_id(user_id))
    if profile is None:
        raise ApiError(404, "user_not_found", "no such user")
    release = export.gate.enter(user_id)
    if release is None:
        message = ("an export of your data is already being made; wait for it to finish"
                   if export.gate.running(user_id) else
                   "too many exports are being made right now; try again shortly")
        raise ApiError(429, "export_in_progress" if export.gate.running(user_id)
                       else "too_many_exports", message,
                       {"Retry-After": str(EXPORT_RETRY_AFTER_SECONDS)})
    now = datetime.now(UTC)
    try:
        body = _in_threads(export_archive(export.sources, profile, ZipStream(), now))
        return _GatedStreamingResponse(body, release, media_type="application/zip", headers={
            "Content-Disposition":
                f'attachment; filename="{archive_name(profile.username, now)}"',
            "X-Content-Type-Options": "nosniff",  # Cache-Control: the authenticated default
            **{name: value for name, value in response.headers.items()
               if name.startswith("x-read-")}})  # X-Read-Position, X-Read-Stale
    except BaseException:
        release()
        raise
