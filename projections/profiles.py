"""Profiles: who a user is, with follower, following and photo counts."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from photoshare.events import (
    AccountDeleted,
    AccountPrivacyChanged,
    AvatarChanged,
    Envelope,
    PhotoDeleted,
    PhotoPosted,
    ProfileUpdated,
    UserFollowed,
    UserRegistered,
    UserUnfollowed,
)
from photoshare.projections.base import Projection, on

AVATAR_VARIANT = "avatar"


@dataclass(frozen=True)
class Profile:
    user_id: str
    username: str
    display_name: str
    bio: str
    location: str
    avatar_key: str | None
    followers: int
    following: int
    photos: int
    private: bool = False


class ProfileStore(ABC):
    """Write port of the profiles view."""

    @abstractmethod
    def add(self, profile: Profile) -> None: ...

    @abstractmethod
    def update(self, user_id: str, **fields: object) -> None: ...

    @abstractmethod
    def count(self, user_id: str, counter: str, delta: int) -> None:
        """Add `delta` to `counter` (followers, following or photos)."""

    @abstractmethod
    def remove(self, user_id: str) -> None:
        """Forget the profile (the account was deleted), and its username with it."""


class ProfileQueries(ABC):
    """Read port of the profiles view."""

    @abstractmethod
    def by_id(self, user_id: str) -> Profile | None: ...

    @abstractmethod
    def by_username(self, username: str) -> Profile | None:
        """Case-insensitive."""

    @abstractmethod
    def many(self, user_ids: list[str]) -> dict[str, Profile]: ...

    def summaries(self, user_ids: list[str]) -> dict[str, tuple[str, str, str | None]]:
        """(username, display name, avatar key) of each of `user_ids` that has a profile:
        what a person's summary on a photo card shows. A store with a cheaper read than
        `many` overrides this."""
        return {uid: (p.username, p.display_name, p.avatar_key)
                for uid, p in self.many(user_ids).items()}

    def start_summaries(self, user_ids: list[str]
                        ) -> Callable[[], dict[str, tuple[str, str, str | None]]]:
        """`summaries`, begun now and answered by the call it returns (see
        `PhotoQueries.start_card_states`). By default the read runs when answered."""
        return lambda: self.summaries(user_ids)


class ProfilesProjection(Projection[ProfileStore]):
    name = "profiles"

    @on(UserRegistered)
    def _registered(self, event: UserRegistered, _: Envelope, store: ProfileStore) -> None:
        store.add(Profile(user_id=event.user_id, username=event.username,
                          display_name=event.display_name, bio=event.bio,
                          location=event.location, avatar_key=None,
                          followers=0, following=0, photos=0))

    @on(ProfileUpdated)
    def _updated(self, event: ProfileUpdated, _: Envelope, store: ProfileStore) -> None:
        store.update(event.user_id, display_name=event.display_name, bio=event.bio,
                     location=event.location)

    @on(AvatarChanged)
    def _avatar(self, event: AvatarChanged, _: Envelope, store: ProfileStore) -> None:
        store.update(event.user_id, avatar_key=event.variants.get(AVATAR_VARIANT))

    @on(AccountPrivacyChanged)
    def _privacy(self, event: AccountPrivacyChanged, _: Envelope, store: ProfileStore) -> None:
        store.update(event.user_id, private=event.private)

    @on(UserFollowed)
    def _followed(self, event: UserFollowed, _: Envelope, store: ProfileStore) -> None:
        store.count(event.follower_id, "following", +1)
        store.count(event.followee_id, "followers", +1)

    @on(UserUnfollowed)
    def _unfollowed(self, event: UserUnfollowed, _: Envelope, store: ProfileStore) -> None:
        store.count(event.follower_id, "following", -1)
        store.count(event.followee_id, "followers", -1)

    @on(PhotoPosted)
    def _posted(self, event: PhotoPosted, _: Envelope, store: ProfileStore) -> None:
        store.count(event.owner_id, "photos", +1)

    @on(PhotoDeleted)
    def _deleted(self, event: PhotoDeleted, _: Envelope, store: ProfileStore) -> None:
        store.count(event.owner_id, "photos", -1)

    @on(AccountDeleted)
    def _account_deleted(self, event: AccountDeleted, _: Envelope, store: ProfileStore) -> None:
        # Others' counts were corrected by the UserUnfollowed events before it.
        store.remove(event.user_id)
