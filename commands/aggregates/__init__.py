"""Aggregates: consistency boundaries whose verbs check rules and record events."""

from commands.aggregates.engagement import Comment, Like
from commands.aggregates.graph import Follow
from commands.aggregates.inbox import Inbox
from commands.aggregates.photos import Photo
from commands.aggregates.users import Credentials, EmailClaim, User

__all__ = ["Comment", "Credentials", "EmailClaim", "Follow", "Inbox", "Like", "Photo", "User"]
