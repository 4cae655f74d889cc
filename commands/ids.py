"""Deterministic ids: the same natural key always gives the same aggregate id.

That is how uniqueness is enforced without reading a view: two registrations of one
username both try to create version 1 of the same aggregate, and the event store lets
exactly one of them in. Likewise a follow, a like or an email claim exists at most once.
"""

from __future__ import annotations

from uuid import UUID, uuid5

NAMESPACE = UUID("8f1d5a3e-2c4b-4f7a-9b61-6a0c2e9d7f10")


def normalise_username(username: str) -> str:
    return username.strip().lower()


def normalise_email(email: str) -> str:
    return email.strip().lower()


def user_id_for(username: str) -> UUID:
    """The user id of an account registered before accounts could be deleted. New
    accounts get a random id (a deleted account's username may be registered again)
    and reserve their username with a UsernameClaim."""
    return uuid5(NAMESPACE, f"user:{normalise_username(username)}")


def username_claim_id(username: str) -> UUID:
    """The claim reserving a username (accounts registered since usernames can be
    released; an older account's user id is `user_id_for` its username instead)."""
    return uuid5(NAMESPACE, f"username:{normalise_username(username)}")


def email_claim_id(email: str) -> UUID:
    return uuid5(NAMESPACE, f"email:{normalise_email(email)}")


def credentials_id(user_id: UUID) -> UUID:
    return uuid5(NAMESPACE, f"credentials:{user_id}")


def follow_id(follower_id: UUID, followee_id: UUID) -> UUID:
    return uuid5(NAMESPACE, f"follow:{follower_id}:{followee_id}")


def block_id(blocker_id: UUID, blocked_id: UUID) -> UUID:
    return uuid5(NAMESPACE, f"block:{blocker_id}:{blocked_id}")


def mute_id(muter_id: UUID, muted_id: UUID) -> UUID:
    return uuid5(NAMESPACE, f"mute:{muter_id}:{muted_id}")


def like_id(photo_id: UUID, user_id: UUID) -> UUID:
    return uuid5(NAMESPACE, f"like:{photo_id}:{user_id}")


def parse_id(value: str | UUID) -> UUID | None:
    """The UUID in `value`, or None if it is not one (ids from clients are untrusted)."""
    if isinstance(value, UUID):
        return value
    try:
        return UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None
