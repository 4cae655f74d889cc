"""Aggregates: consistency boundaries whose verbs check rules and record events."""

from photoshare.commands.aggregates.control import Block, Mute
from photoshare.commands.aggregates.engagement import Comment, Like
from photoshare.commands.aggregates.graph import Follow
from photoshare.commands.aggregates.inbox import Inbox
from photoshare.commands.aggregates.photos import Photo
from photoshare.commands.aggregates.requests import FollowRequests
from photoshare.commands.aggregates.users import Credentials, EmailClaim, User, UsernameClaim

__all__ = ["Block", "Comment", "Credentials", "EmailClaim", "Follow", "FollowRequests", "Inbox",
           "Like", "Mute", "Photo", "User", "UsernameClaim"]


def _register_topics_before_the_namespace() -> None:
    """Stored events name their class by topic (`module:qualname`). Until 2026-12 the
    modules were top-level (`commands.aggregates.users:User.Started`); they are now
    `photoshare.commands...`. Each aggregate and each of its nested event classes gets
    its old topic as an alias, so an event store written before still loads."""
    from eventsourcing.utils import register_topic

    def nested(cls: type) -> list[type]:
        inner = [value for value in vars(cls).values() if isinstance(value, type)
                 and value.__qualname__.startswith(f"{cls.__qualname__}.")]
        return [cls, *(found for value in inner for found in nested(value))]

    for aggregate in (Comment, Credentials, EmailClaim, Follow, Inbox, Like, Photo, User):
        # (UsernameClaim is newer than the rename: no old topic.)
        for cls in nested(aggregate):
            old_module = cls.__module__.removeprefix("photoshare.")
            register_topic(f"{old_module}:{cls.__qualname__}", cls)


_register_topics_before_the_namespace()
