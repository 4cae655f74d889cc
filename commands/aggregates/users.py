"""Users, their username and email claims and their credentials."""

from __future__ import annotations

from collections.abc import Mapping
from functools import singledispatchmethod
from typing import Any
from uuid import UUID, uuid4

from photoshare.commands import rules
from photoshare.commands.aggregates.base import EventSourcedAggregate
from photoshare.commands.errors import InvalidValueError
from photoshare.commands.ids import (
    credentials_id,
    email_claim_id,
    normalise_email,
    normalise_username,
    username_claim_id,
)
from photoshare.commands.messages import CommandContext, StoredImage
from photoshare.events import (
    AccountDeleted,
    AccountPrivacyChanged,
    AvatarChanged,
    EmailClaimed,
    EmailReleased,
    Event,
    PasswordSet,
    ProfileUpdated,
    UserRegistered,
    UsernameClaimed,
    UsernameReleased,
)

EDITABLE_PROFILE_FIELDS = ("display_name", "bio", "location", "age")


def _clean_profile(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "display_name": rules.clean_text(
            "display_name", fields["display_name"], max_length=rules.MAX_DISPLAY_NAME, required=True
        ),
        "bio": rules.clean_text("bio", fields["bio"], max_length=rules.MAX_BIO, multiline=True),
        "location": rules.clean_text("location", fields["location"], max_length=rules.MAX_LOCATION),
        "age": rules.check_age(fields["age"]),
    }


class User(EventSourcedAggregate):
    """A person's public identity and profile. Accounts registered before accounts could
    be deleted have the id `user_id_for(username)`; newer ones a random id."""

    @classmethod
    def register(cls, *, username: str, profile: Mapping[str, Any],
                 context: CommandContext) -> User:
        rules.check_username(username)
        user_id = uuid4()
        event = UserRegistered(user_id=str(user_id), username=username, **_clean_profile(profile))
        return cls._start(user_id, event, context)

    def profile(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in EDITABLE_PROFILE_FIELDS}

    def update_profile(self, changes: Mapping[str, Any], context: CommandContext) -> None:
        """Record the new profile; changing nothing records nothing. `private` is its own
        event (`set_private`): it is no part of the profile's text."""
        changes = dict(changes)
        private = changes.pop("private", None)
        unknown = set(changes) - set(EDITABLE_PROFILE_FIELDS)
        if unknown:
            raise InvalidValueError(sorted(unknown)[0], "cannot be changed")
        profile = _clean_profile({**self.profile(), **changes})
        if profile != self.profile():
            self._record(ProfileUpdated(user_id=str(self.id), **profile), context)
        if private is not None:
            self.set_private(private, context)

    def set_private(self, private: bool, context: CommandContext) -> None:
        """Make the account private or public; the same value again records nothing."""
        if not isinstance(private, bool):
            raise InvalidValueError("private", "must be true or false")
        if private != self.private:
            self._record(AccountPrivacyChanged(user_id=str(self.id), private=private), context)

    def change_avatar(self, image: StoredImage, context: CommandContext) -> None:
        event = AvatarChanged(
            user_id=str(self.id), original_key=image.original_key, variants=dict(image.variants),
            variant_sizes={name: dict(size) for name, size in image.variant_sizes.items()},
            placeholder=image.placeholder,
        )
        self._record(event, context)

    def delete(self, context: CommandContext) -> None:
        if not self.deleted:
            self._record(AccountDeleted(user_id=str(self.id)), context)

    @singledispatchmethod
    def when(self, event: Event) -> None:
        super().when(event)

    @when.register
    def _registered(self, event: UserRegistered) -> None:
        self.deleted = False
        self.username = event.username
        self.display_name, self.bio = event.display_name, event.bio
        self.location, self.age = event.location, event.age
        self.avatar = {}
        self.private = False

    @when.register
    def _profile_updated(self, event: ProfileUpdated) -> None:
        self.display_name, self.bio = event.display_name, event.bio
        self.location, self.age = event.location, event.age

    @when.register
    def _avatar_changed(self, event: AvatarChanged) -> None:
        self.avatar = dict(event.variants)

    @when.register
    def _privacy_changed(self, event: AccountPrivacyChanged) -> None:
        self.private = event.private

    @when.register
    def _deleted(self, event: AccountDeleted) -> None:
        self.deleted = True
        self.avatar = {}


class UsernameClaim(EventSourcedAggregate):
    """Reserves one normalised username for one user (its id derives from the name);
    released when that account is deleted, and claimable again then."""

    @classmethod
    def claim(cls, *, username: str, user_id: UUID, context: CommandContext) -> UsernameClaim:
        event = UsernameClaimed(username=normalise_username(username), user_id=str(user_id))
        return cls._start(username_claim_id(username), event, context)

    @property
    def held(self) -> bool:
        return self.user_id is not None

    def reclaim(self, username: str, user_id: UUID, context: CommandContext) -> None:
        self._record(UsernameClaimed(username=normalise_username(username),
                                     user_id=str(user_id)), context)

    def release(self, context: CommandContext) -> None:
        if self.held:
            self._record(UsernameReleased(user_id=self.user_id), context)

    @singledispatchmethod
    def when(self, event: Event) -> None:
        super().when(event)

    @when.register
    def _claimed(self, event: UsernameClaimed) -> None:
        self.user_id = event.user_id

    @when.register
    def _released(self, event: UsernameReleased) -> None:
        self.user_id = None


class EmailClaim(EventSourcedAggregate):
    """Reserves one normalised email address for one user (its id derives from the email)."""

    @classmethod
    def claim(cls, *, email: str, user_id: UUID, context: CommandContext) -> EmailClaim:
        email = normalise_email(rules.check_email(email))
        event = EmailClaimed(email=email, user_id=str(user_id))
        return cls._start(email_claim_id(email), event, context)

    @property
    def held(self) -> bool:
        return self.user_id is not None

    def reclaim(self, email: str, user_id: UUID, context: CommandContext) -> None:
        email = normalise_email(rules.check_email(email))
        self._record(EmailClaimed(email=email, user_id=str(user_id)), context)

    def release(self, context: CommandContext) -> None:
        if self.held:
            self._record(EmailReleased(user_id=self.user_id), context)

    @singledispatchmethod
    def when(self, event: Event) -> None:
        super().when(event)

    @when.register
    def _claimed(self, event: EmailClaimed) -> None:
        self.email, self.user_id = event.email, event.user_id

    @when.register
    def _released(self, event: EmailReleased) -> None:
        self.user_id = None


class Credentials(EventSourcedAggregate):
    """A user's password hash, kept apart from the public User so it is never published."""

    @classmethod
    def create(cls, *, user_id: UUID, password_hash: str,
               context: CommandContext) -> Credentials:
        event = PasswordSet(user_id=str(user_id), password_hash=password_hash)
        return cls._start(credentials_id(user_id), event, context)

    @singledispatchmethod
    def when(self, event: Event) -> None:
        super().when(event)

    @when.register
    def _password_set(self, event: PasswordSet) -> None:
        self.user_id, self.password_hash = event.user_id, event.password_hash
