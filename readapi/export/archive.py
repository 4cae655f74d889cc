"""What a person's data export holds, written as a zip stream (see README_TEXT).

Everything comes from the views, a page at a time, and the originals from the blob store a
piece at a time: the export holds one page of rows and one piece of a blob at once,
whatever the size of the account. A page is read with the calling thread's view queries
(`sources.queries()` for each page), since the pieces of a streamed answer may be made on
different threads of the pool.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from photoshare.infra.media.blobs import READ_CHUNK_BYTES, BlobStore
from photoshare.projections.graph import Edge
from photoshare.projections.photos import PhotoRecord
from photoshare.projections.profiles import Profile
from photoshare.readapi.export import people
from photoshare.readapi.export.people import PeoplePage
from photoshare.readapi.export.zipstream import ZipStream
from photoshare.readapi.services import ViewQueries

PAGE_SIZE = 100

README_TEXT = """\
Your photoshare data
====================

This archive holds what photoshare keeps about you, as of {exported_at} (UTC).
JSON files are UTF-8; times are ISO 8601, UTC. Each list holds the newest first.

profile.json     Your profile: user id, username, display name, bio, location, your
                 follower, following and photo counts, and your avatar (its media key,
                 its address, and the file avatar.<ext> in this archive, if you have one).
photos.json      Each photo you posted: its id, caption, location, hashtags, the people
                 tagged in it, its alt text, when you posted it, its like and comment
                 counts, its size, the addresses of the sizes we serve, and `original`:
                 the path of the file you uploaded, in this archive (null for a photo
                 whose original we could not find).
photos/          The files you uploaded, untouched (with their metadata, such as where a
                 photo was taken), named <photo id>.<extension>.
comments.json    Each comment you wrote, on anyone's photo: its id, the photo's id, its
                 text and when you wrote it.
likes.json       Each photo you like: its id and its owner (their photo is theirs, so
                 it is not in your archive).
following.json   The people you follow.
followers.json   The people who follow you.
blocks.json      The people you block.
mutes.json       The people you mute.

Photos, comments and likes deleted before the export are not in it. Something posted
or deleted while the export was being made may be missing from it, or its file may be.
"""


@dataclass(frozen=True)
class ExportSources:
    """Where an export reads from: the views (the calling thread's queries), the
    originals and the served images (avatars), and the block and mute lists."""

    queries: Callable[[], ViewQueries]
    originals: BlobStore
    media: BlobStore
    media_url: Callable[[str | None], str | None]
    blocked: PeoplePage = people.BLOCKED
    muted: PeoplePage = people.MUTED
    page_size: int = PAGE_SIZE
    blob_piece_bytes: int = READ_CHUNK_BYTES


def archive_name(username: str, day: datetime) -> str:
    """The download's file name: `photoshare-<username>-<date>.zip`."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in username)
    return f"photoshare-{safe}-{day.date().isoformat()}.zip"


def export_archive(sources: ExportSources, profile: Profile, zipped: ZipStream,
                   now: datetime | None = None) -> Iterator[bytes]:
    """The zip of `profile`'s person's data, piece by piece."""
    now = now or datetime.now(UTC)
    user_id = profile.user_id
    yield from zipped.add_bytes("README.txt", README_TEXT.format(
        exported_at=now.strftime("%Y-%m-%d %H:%M:%S")).encode())
    avatar = _avatar_file(profile)
    yield from zipped.add_bytes("profile.json", orjson.dumps(
        _profile(sources, profile, avatar, now), option=orjson.OPT_INDENT_2))
    if avatar is not None:
        yield from _blob(zipped, sources.media, profile.avatar_key or "", avatar,
                         sources.blob_piece_bytes)
    # Both passes over the photos stop at the same newest photo, so a photo posted while
    # the export runs is in neither rather than listed without its file.
    newest = sources.queries().photos.by_owner(user_id, None, 1)
    cut = newest[0].position + 1 if newest else 0
    for record in _photos(sources, user_id, cut):
        if record.original_key:
            yield from _blob(zipped, sources.originals, record.original_key,
                             _original_path(record), sources.blob_piece_bytes)
    yield from zipped.add_json_array("photos.json", _photo_items(sources, user_id, cut))
    yield from zipped.add_json_array("comments.json", _comment_items(sources, user_id))
    yield from zipped.add_json_array("likes.json", _like_items(sources, user_id))
    for name, page in (("following.json", lambda q, u, b, n: q.graph.following(u, b, n)),
                       ("followers.json", lambda q, u, b, n: q.graph.followers(u, b, n)),
                       ("blocks.json", sources.blocked), ("mutes.json", sources.muted)):
        yield from zipped.add_json_array(name, _people_items(sources, user_id, page))
    yield from zipped.finish()


# --- walking the views a page at a time ---------------------------------------------------

Item = TypeVar("Item")


def _walk(page: Callable[[int | None], Sequence[Item]],
          position: Callable[[Item], int], before: int | None = None) -> Iterator[Item]:
    """Every item of a newest-first list, page after page, until a page comes back empty
    (a short page is not taken as the end: a view may answer one mid-list)."""
    while True:
        items = page(before)
        if not items:
            return
        yield from items
        before = position(items[-1])


def _pages(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    page: list[Item] = []
    for item in items:
        page.append(item)
        if len(page) == size:
            yield page
            page = []
    if page:
        yield page


def _photos(sources: ExportSources, user_id: str, cut: int) -> Iterator[PhotoRecord]:
    if cut <= 0:
        return iter(())
    return _walk(lambda before: sources.queries().photos.by_owner(
        user_id, before, sources.page_size), lambda record: record.position, cut)


def _usernames(sources: ExportSources, user_ids: Iterable[str]) -> dict[str, Profile]:
    wanted = list(dict.fromkeys(user_ids))
    return sources.queries().profiles.many(wanted) if wanted else {}


# --- the files ----------------------------------------------------------------------------


def _avatar_file(profile: Profile) -> str | None:
    key = profile.avatar_key
    return f"avatar.{key.rsplit('.', 1)[1]}" if key and "." in key else None


def _profile(sources: ExportSources, profile: Profile, avatar: str | None,
             now: datetime) -> dict[str, Any]:
    return {
        "user_id": profile.user_id, "username": profile.username,
        "display_name": profile.display_name, "bio": profile.bio,
        "location": profile.location,
        "counts": {"followers": profile.followers, "following": profile.following,
                   "photos": profile.photos},
        "avatar": None if profile.avatar_key is None else {
            "key": profile.avatar_key, "url": sources.media_url(profile.avatar_key),
            "file": avatar},
        "exported_at": now.isoformat(),
    }


def _original_path(record: PhotoRecord) -> str:
    extension = (record.original_key or "").rsplit(".", 1)[-1]
    return f"photos/{record.photo_id}.{extension}"


def _blob(zipped: ZipStream, store: BlobStore, key: str, name: str,
          piece_bytes: int) -> Iterator[bytes]:
    pieces = store.chunks(key, piece_bytes)
    if pieces is None:
        return  # gone since it was listed: the README says a file may be missing
    try:
        yield from zipped.add_pieces(name, pieces)
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()


def _photo_items(sources: ExportSources, user_id: str, cut: int) -> Iterator[dict[str, Any]]:
    for page in _pages(_photos(sources, user_id, cut), sources.page_size):
        tagged = _usernames(sources, (t for record in page for t in record.tagged_user_ids))
        for record in page:
            yield {
                "photo_id": record.photo_id, "caption": record.caption,
                "location": record.location, "hashtags": record.hashtags,
                "tagged_users": [{"user_id": t, "username": tagged[t].username
                                  if t in tagged else None}
                                 for t in record.tagged_user_ids],
                "alt_text": record.alt_text, "posted_at": record.posted_at,
                "likes": record.likes, "comments": record.comments,
                "width": record.width, "height": record.height,
                "original": _original_path(record) if record.original_key else None,
                "variants": {name: sources.media_url(key)
                             for name, key in sorted(record.variants.items())},
            }


def _comment_items(sources: ExportSources, user_id: str) -> Iterator[dict[str, Any]]:
    for comment in _walk(lambda before: sources.queries().photos.comments_by_author(
            user_id, before, sources.page_size), lambda comment: comment.position):
        yield {"comment_id": comment.comment_id, "photo_id": comment.photo_id,
               "text": comment.text, "created_at": comment.created_at}


def _like_items(sources: ExportSources, user_id: str) -> Iterator[dict[str, Any]]:
    likes = _walk(lambda before: sources.queries().photos.likes_by_user(
        user_id, before, sources.page_size), lambda like: like.position)
    for page in _pages(likes, sources.page_size):
        photos = sources.queries().photos.many([like.photo_id for like in page])
        owners = _usernames(sources, (photo.owner_id for photo in photos.values()))
        for like in page:
            photo = photos.get(like.photo_id)
            owner = owners.get(photo.owner_id) if photo else None
            yield {"photo_id": like.photo_id,
                   "owner_id": photo.owner_id if photo else None,
                   "owner_username": owner.username if owner else None}


def _people_items(sources: ExportSources, user_id: str,
                  page: PeoplePage) -> Iterator[dict[str, Any]]:
    edges: Iterator[Edge] = _walk(lambda before: page(
        sources.queries(), user_id, before, sources.page_size), lambda edge: edge.position)
    for chunk in _pages(edges, sources.page_size):
        found = _usernames(sources, (edge.user_id for edge in chunk))
        for edge in chunk:
            person = found.get(edge.user_id)
            yield {"user_id": edge.user_id,
                   "username": person.username if person else None,
                   "display_name": person.display_name if person else None}
