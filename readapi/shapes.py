"""The JSON shapes of API.md, assembled from view records in as few queries as possible."""

from __future__ import annotations

from typing import Any

from photoshare.projections.photos import PhotoRecord
from photoshare.projections.profiles import Profile
from photoshare.readapi.services import ReadServices, ViewQueries


def user_summary(services: ReadServices, profile: Profile | None, user_id: str) -> dict[str, Any]:
    return summary_of(services, user_id, None if profile is None else
                      (profile.username, profile.display_name, profile.avatar_key))


def summary_of(services: ReadServices, user_id: str,
               found: tuple[str, str, str | None] | None) -> dict[str, Any]:
    """A person's summary from `ProfileQueries.summaries`' narrow row (None: no profile
    yet, a view that lags another for a moment: its fields null, never a 500)."""
    if found is None:
        return {"user_id": user_id, "username": None, "display_name": None, "avatar_url": None}
    username, display_name, avatar_key = found
    return {"user_id": user_id, "username": username, "display_name": display_name,
            "avatar_url": services.media_url(avatar_key)}


def user(services: ReadServices, profile: Profile) -> dict[str, Any]:
    return {**user_summary(services, profile, profile.user_id), "bio": profile.bio,
            "location": profile.location, "followers": profile.followers,
            "following": profile.following, "photos": profile.photos,
            "private": profile.private}


def users(services: ReadServices, q: ViewQueries, user_ids: list[str]) -> list[dict[str, Any]]:
    profiles = q.profiles.many(user_ids)
    return [user_summary(services, profiles.get(uid), uid) for uid in user_ids]


def photos(services: ReadServices, q: ViewQueries, records: list[PhotoRecord],
           viewer: str | None) -> list[dict[str, Any]]:
    """Photo cards: one narrow read of every owner and tagged user, one of the viewer's
    likes, begun together (on the cluster, one wait for both). A person's summary is
    made once per page (a feed repeats owners)."""
    answer_people = q.profiles.start_summaries(
        sorted({r.owner_id for r in records} | {u for r in records for u in r.tagged_user_ids}))
    answer_liked = (q.photos.start_liked_by(viewer, [r.photo_id for r in records])
                    if viewer else set)
    people, liked = answer_people(), answer_liked()
    summaries: dict[str, dict[str, Any]] = {}

    def summary(user_id: str) -> dict[str, Any]:
        made = summaries.get(user_id)
        if made is None:
            made = summaries[user_id] = summary_of(services, user_id, people.get(user_id))
        return made

    media_url = services.media_url
    cards = []
    for record in records:
        urls, sized = {}, {}
        sizes = record.variant_sizes
        for name, key in record.variants.items():
            url = urls[name] = media_url(key)
            size = sizes.get(name) or {}
            sized[name] = {"url": url, "width": size.get("width"), "height": size.get("height")}
        card = {
            "photo_id": record.photo_id,
            "owner": summary(record.owner_id),
            "caption": record.caption,
            "location": record.location,
            "hashtags": record.hashtags,
            "tagged": [summary(u) for u in record.tagged_user_ids],
            "created_at": record.posted_at,
            "urls": urls,
            "variants": sized,
            "placeholder": record.placeholder,
            "alt_text": record.alt_text,
            "width": record.width,
            "height": record.height,
            "likes": record.likes,
            "comments": record.comments,
        }
        if viewer:
            card["liked_by_me"] = record.photo_id in liked
        cards.append(card)
    return cards


THUMBNAIL_VARIANT = "square"


def photo_thumbnail(services: ReadServices, record: PhotoRecord) -> dict[str, Any]:
    """A photo as a notification names it: its id, the square variant (as `urls` and
    `variants` of the full shape hold it) and its placeholder."""
    square = {name: size for name, size in variants(services, record).items()
              if name == THUMBNAIL_VARIANT}
    return {"photo_id": record.photo_id,
            "urls": {name: variant["url"] for name, variant in square.items()},
            "variants": square, "placeholder": record.placeholder}


def variants(services: ReadServices, record: PhotoRecord) -> dict[str, dict[str, Any]]:
    """Each variant's URL with its pixel size (None where the events do not tell it)."""
    return {name: {"url": services.media_url(key),
                   "width": record.variant_sizes.get(name, {}).get("width"),
                   "height": record.variant_sizes.get(name, {}).get("height")}
            for name, key in record.variants.items()}
