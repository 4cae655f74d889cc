"""Likes and comments."""

from __future__ import annotations

from functools import singledispatchmethod
from uuid import UUID, uuid4

from photoshare.commands import rules
from photoshare.commands.aggregates.base import EventSourcedAggregate
from photoshare.commands.errors import NotAllowedToDeleteCommentError
from photoshare.commands.ids import like_id
from photoshare.commands.messages import CommandContext
from photoshare.events import CommentAdded, CommentDeleted, Event, PhotoLiked, PhotoUnliked


class Like(EventSourcedAggregate):
    """Whether one user likes one photo; its id derives from the pair."""

    @classmethod
    def start(cls, photo_id: UUID, owner_id: str, user_id: UUID,
              context: CommandContext) -> Like:
        event = PhotoLiked(photo_id=str(photo_id), owner_id=owner_id, user_id=str(user_id))
        return cls._start(like_id(photo_id, user_id), event, context)

    def like(self, context: CommandContext) -> None:
        if not self.active:
            self._record(PhotoLiked(photo_id=self.photo_id, owner_id=self.owner_id,
                                    user_id=self.user_id), context)

    def unlike(self, context: CommandContext) -> None:
        if self.active:
            self._record(PhotoUnliked(photo_id=self.photo_id, owner_id=self.owner_id,
                                      user_id=self.user_id), context)

    @singledispatchmethod
    def when(self, event: Event) -> None:
        super().when(event)

    @when.register
    def _liked(self, event: PhotoLiked) -> None:
        self.photo_id, self.owner_id, self.user_id = event.photo_id, event.owner_id, event.user_id
        self.active = True

    @when.register
    def _unliked(self, event: PhotoUnliked) -> None:
        self.active = False


class Comment(EventSourcedAggregate):
    """One comment on one photo."""

    @classmethod
    def add(cls, *, photo_id: UUID, photo_owner_id: str, author_id: UUID, text: str,
            context: CommandContext) -> Comment:
        text = rules.clean_text("text", text, max_length=rules.MAX_COMMENT, multiline=True,
                                required=True)
        comment_id = uuid4()
        event = CommentAdded(comment_id=str(comment_id), photo_id=str(photo_id),
                             photo_owner_id=photo_owner_id, author_id=str(author_id), text=text)
        return cls._start(comment_id, event, context)

    def check_can_delete(self, user_id: UUID, photo_owner_id: str) -> None:
        if str(user_id) not in (self.author_id, photo_owner_id):
            raise NotAllowedToDeleteCommentError(
                "only the comment's author or the photo's owner can delete it"
            )

    def delete(self, user_id: UUID, photo_owner_id: str, context: CommandContext) -> None:
        self.check_can_delete(user_id, photo_owner_id)
        self._record(CommentDeleted(comment_id=str(self.id), photo_id=self.photo_id,
                                    author_id=self.author_id, deleted_by=str(user_id)), context)

    @singledispatchmethod
    def when(self, event: Event) -> None:
        super().when(event)

    @when.register
    def _added(self, event: CommentAdded) -> None:
        self.photo_id, self.author_id = event.photo_id, event.author_id
        self.deleted = False

    @when.register
    def _deleted(self, event: CommentDeleted) -> None:
        self.deleted = True
