"""Domain errors. Each has a stable machine `code`; the APIs map classes to HTTP status."""

from __future__ import annotations


class DomainError(Exception):
    """A command broke a rule; nothing was recorded."""

    code = "domain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidValueError(DomainError):
    """A field's value breaks a rule (length, charset, range)."""

    code = "invalid_value"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class InvalidUsernameError(InvalidValueError):
    code = "invalid_username"

    def __init__(self, message: str) -> None:
        super().__init__("username", message)


class AltTextTooLongError(InvalidValueError):
    code = "alt_text_too_long"

    def __init__(self, message: str) -> None:
        super().__init__("alt_text", message)


class UsernameTakenError(DomainError):
    code = "username_taken"


class EmailTakenError(DomainError):
    code = "email_taken"


class UnknownUserError(DomainError):
    code = "user_not_found"


class UnknownActorError(DomainError):
    """The user a command acts for does not exist (a stale or forged token)."""

    code = "unknown_actor"


class UnknownTaggedUserError(InvalidValueError):
    code = "unknown_tagged_user"

    def __init__(self, username: str) -> None:
        super().__init__("tagged", f"no user named {username!r}")


class SelfFollowError(DomainError):
    code = "cannot_follow_self"


class SelfBlockError(DomainError):
    code = "cannot_block_self"


class SelfMuteError(DomainError):
    code = "cannot_mute_self"


class BlockingUserError(DomainError):
    """The actor blocked the person they try to act on (follow): they must unblock
    first. (The blocked side is answered as if the blocker did not exist.)"""

    code = "user_blocked"


class FollowRequestNotFoundError(DomainError):
    code = "follow_request_not_found"


class PrivateAccountError(DomainError):
    """The photo's owner is private and the actor does not follow them."""

    code = "private_account"


class PhotoNotFoundError(DomainError):
    code = "photo_not_found"


class CommentNotFoundError(DomainError):
    code = "comment_not_found"


class NotPhotoOwnerError(DomainError):
    code = "not_photo_owner"


class NotAllowedToDeleteCommentError(DomainError):
    code = "not_comment_author_or_photo_owner"


class ConcurrentUpdateError(DomainError):
    """Another request changed the same aggregate at the same time, every retry."""

    code = "concurrent_update"
