"""Photos view: details, a user's photos newest first, likers and comments."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from photoshare.events import (
    CommentAdded,
    CommentDeleted,
    Envelope,
    PhotoAltTextChanged,
    PhotoDeleted,
    PhotoLiked,
    PhotoPosted,
    PhotoUnliked,
)
from photoshare.projections.base import Projection, on


@dataclass(frozen=True)
class PhotoRecord:
    photo_id: str
    owner_id: str
    caption: str
    location: str
    hashtags: list[str]
    tagged_user_ids: list[str]
    variants: dict[str, str]
    width: int
    height: int
    posted_at: str
    position: int
    likes: int = 0
    comments: int = 0
    # Variant name -> {"width", "height"} of that image; the photo's BlurHash, or None.
    variant_sizes: dict[str, dict[str, int]] = field(default_factory=dict)
    placeholder: str | None = None
    # The owner's description of the photo for people who cannot see it, or None.
    alt_text: str | None = None
    # The blob key of the untouched upload (in the originals store), for the owner's data
    # export; None in a view row made before the view kept it (a rebuild fills it in).
    original_key: str | None = None


@dataclass(frozen=True)
class LikeRecord:
    """One like of a photo, as seen from the liker: the photo and the like's position."""

    photo_id: str
    position: int


@dataclass(frozen=True)
class CommentRecord:
    comment_id: str
    photo_id: str
    author_id: str
    text: str
    created_at: str
    position: int


class CardState(NamedTuple):
    """What can change in a photo's card (the rest is fixed at its post)."""

    likes: int
    comments: int
    alt_text: str | None
    liked: bool  # by the reader asked about (False when none)


class PhotoStore(ABC):
    """Write port. Likes and comments on a photo that is gone are ignored. A live photo's
    counts are its like and comment rows: a store may count the rows as they appear and
    go, or count the events (+1 a like or comment, -1 an unlike or deletion), which agree
    on every history the write side makes (one pair's likes and unlikes alternate, a
    comment is deleted at most once)."""

    @abstractmethod
    def add_photo(self, photo: PhotoRecord) -> None: ...

    @abstractmethod
    def set_alt_text(self, photo_id: str, alt_text: str | None, position: int) -> None:
        """Set the photo's alt text if `position` (the edit's) is newer than the one its
        current alt text came from (the post's or an earlier edit's): a stale edit,
        delivered again after a newer one, changes nothing. A photo not (or no longer)
        in the view is left alone."""

    @abstractmethod
    def remove_photo(self, photo_id: str) -> None:
        """The photo, its likes and its comments."""

    @abstractmethod
    def like(self, photo_id: str, user_id: str, position: int) -> None: ...

    @abstractmethod
    def unlike(self, photo_id: str, user_id: str, position: int) -> None:
        """Remove the user's like if it is older than `position` (the unlike's): a stale
        unlike, delivered again after the photo was liked anew, changes nothing."""

    @abstractmethod
    def add_comment(self, comment: CommentRecord) -> None: ...

    @abstractmethod
    def remove_comment(self, comment_id: str, photo_id: str) -> None:
        """The comment, from `photo_id` (the photo it was on, which a store that counts
        per event needs even when the comment's rows are gone)."""


class PhotoQueries(ABC):
    @abstractmethod
    def photo(self, photo_id: str) -> PhotoRecord | None: ...

    @abstractmethod
    def many(self, photo_ids: list[str]) -> dict[str, PhotoRecord]: ...

    def card_states(self, photo_ids: list[str],
                    liker: str | None = None) -> dict[str, CardState]:
        """What can change in the card of each of `photo_ids` that is there: its like and
        comment counts, its alt text, and whether `liker` (if any) likes it. A store
        with a cheaper read than `many` and `liked_by` overrides this."""
        records = self.many(photo_ids)
        liked = self.liked_by(liker, list(records)) if liker and records else set()
        return {pid: CardState(r.likes, r.comments, r.alt_text, pid in liked)
                for pid, r in records.items()}

    def start_liked_by(self, user_id: str, photo_ids: list[str]) -> Callable[[], set[str]]:
        """`liked_by`, begun now and answered by the call it returns (see
        `start_card_states`). By default the read runs when answered."""
        return lambda: self.liked_by(user_id, photo_ids)

    def start_card_states(self, photo_ids: list[str], liker: str | None = None
                          ) -> Callable[[], dict[str, CardState]]:
        """`card_states`, begun now and answered by the call it returns. A store whose
        reads are round trips to a server sends them here, so that reads begun one after
        another (a page's card states and its people) wait for their answers once. By
        default the read runs when it is answered."""
        return lambda: self.card_states(photo_ids, liker)

    @abstractmethod
    def by_owner(self, owner_id: str, before: int | None, limit: int) -> list[PhotoRecord]:
        """The owner's photos, newest first, positions below `before`."""

    @abstractmethod
    def recent_by_owners(self, owner_ids: list[str], before: int | None,
                         limit: int) -> list[PhotoRecord]:
        """The newest photos of any of `owner_ids`, positions below `before`."""

    @abstractmethod
    def liked_by(self, user_id: str, photo_ids: list[str]) -> set[str]:
        """Which of `photo_ids` `user_id` likes. Asked of live photos (the cluster store
        may keep a like saved just after its photo's deletion)."""

    @abstractmethod
    def comments(self, photo_id: str, after: int | None, limit: int) -> list[CommentRecord]:
        """Comments on the photo, oldest first, positions above `after`."""

    @abstractmethod
    def likes_by_user(self, user_id: str, before: int | None, limit: int) -> list[LikeRecord]:
        """The live photos `user_id` likes, most recent like first, like positions below
        `before` (for the person's data export)."""

    @abstractmethod
    def comments_by_author(self, author_id: str, before: int | None,
                           limit: int) -> list[CommentRecord]:
        """The comments `author_id` wrote on live photos, anyone's, newest first,
        positions below `before` (for the person's data export)."""


class PhotosProjection(Projection[PhotoStore]):
    name = "photos"

    @on(PhotoPosted)
    def _posted(self, event: PhotoPosted, envelope: Envelope, store: PhotoStore) -> None:
        store.add_photo(PhotoRecord(
            photo_id=event.photo_id, owner_id=event.owner_id, caption=event.caption,
            location=event.location, hashtags=list(event.hashtags),
            tagged_user_ids=list(event.tagged_user_ids), variants=dict(event.variants),
            width=event.width, height=event.height,
            variant_sizes={name: dict(size) for name, size in event.variant_sizes.items()},
            placeholder=event.placeholder, alt_text=event.alt_text,
            original_key=event.original_key,
            posted_at=envelope.occurred_at.isoformat(), position=envelope.position))

    @on(PhotoAltTextChanged)
    def _alt_text_changed(self, event: PhotoAltTextChanged, envelope: Envelope,
                          store: PhotoStore) -> None:
        store.set_alt_text(event.photo_id, event.alt_text, envelope.position)

    @on(PhotoDeleted)
    def _deleted(self, event: PhotoDeleted, _: Envelope, store: PhotoStore) -> None:
        store.remove_photo(event.photo_id)

    @on(PhotoLiked)
    def _liked(self, event: PhotoLiked, envelope: Envelope, store: PhotoStore) -> None:
        store.like(event.photo_id, event.user_id, envelope.position)

    @on(PhotoUnliked)
    def _unliked(self, event: PhotoUnliked, envelope: Envelope, store: PhotoStore) -> None:
        store.unlike(event.photo_id, event.user_id, envelope.position)

    @on(CommentAdded)
    def _commented(self, event: CommentAdded, envelope: Envelope, store: PhotoStore) -> None:
        store.add_comment(CommentRecord(
            comment_id=event.comment_id, photo_id=event.photo_id, author_id=event.author_id,
            text=event.text, created_at=envelope.occurred_at.isoformat(),
            position=envelope.position))

    @on(CommentDeleted)
    def _uncommented(self, event: CommentDeleted, _: Envelope, store: PhotoStore) -> None:
        store.remove_comment(event.comment_id, event.photo_id)
