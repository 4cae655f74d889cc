"""Photos."""

from __future__ import annotations

from collections.abc import Sequence
from functools import singledispatchmethod
from uuid import UUID, uuid4

from photoshare.commands import rules
from photoshare.commands.aggregates.base import EventSourcedAggregate
from photoshare.commands.errors import InvalidValueError, NotPhotoOwnerError
from photoshare.commands.messages import CommandContext, StoredImage
from photoshare.events import Event, PhotoAltTextChanged, PhotoDeleted, PhotoPosted


class Photo(EventSourcedAggregate):
    """A posted photo. Likes and comments are their own aggregates, so a popular photo
    is not a point of contention."""

    @classmethod
    def post(cls, *, owner_id: UUID, image: StoredImage, caption: str, location: str,
             tagged_user_ids: Sequence[UUID], context: CommandContext,
             alt_text: str | None = None) -> Photo:
        caption = rules.clean_text("caption", caption, max_length=rules.MAX_CAPTION, multiline=True)
        if len(tagged_user_ids) > rules.MAX_TAGGED:
            raise InvalidValueError("tagged", f"at most {rules.MAX_TAGGED} users")
        photo_id = uuid4()
        event = PhotoPosted(
            photo_id=str(photo_id),
            owner_id=str(owner_id),
            caption=caption,
            location=rules.clean_text("location", location, max_length=rules.MAX_LOCATION),
            hashtags=rules.parse_hashtags(caption),
            tagged_user_ids=[str(user_id) for user_id in tagged_user_ids],
            original_key=image.original_key,
            format=image.format,
            width=image.width,
            height=image.height,
            variants=dict(image.variants),
            variant_sizes={name: dict(size) for name, size in image.variant_sizes.items()},
            placeholder=image.placeholder,
            alt_text=rules.clean_alt_text(alt_text),
        )
        return cls._start(photo_id, event, context)

    def check_owner(self, user_id: UUID) -> None:
        if self.owner_id != str(user_id):
            raise NotPhotoOwnerError("only the photo's owner can do that")

    def change_alt_text(self, user_id: UUID, alt_text: str | None,
                        context: CommandContext) -> None:
        """Record the new alt text; the same text as now records nothing (idempotent)."""
        self.check_owner(user_id)
        alt_text = rules.clean_alt_text(alt_text)
        if alt_text != self.alt_text:
            self._record(PhotoAltTextChanged(photo_id=str(self.id), owner_id=self.owner_id,
                                             alt_text=alt_text), context)

    def delete(self, user_id: UUID, context: CommandContext) -> None:
        self.check_owner(user_id)
        self._record(PhotoDeleted(photo_id=str(self.id), owner_id=self.owner_id), context)

    @singledispatchmethod
    def when(self, event: Event) -> None:
        super().when(event)

    @when.register
    def _posted(self, event: PhotoPosted) -> None:
        self.owner_id = event.owner_id
        self.deleted = False
        self.alt_text = event.alt_text
        # Kept so a deletion can say which blobs to remove.
        self.image = StoredImage(original_key=event.original_key, format=event.format,
                                 width=event.width, height=event.height,
                                 variants=dict(event.variants),
                                 variant_sizes=event.variant_sizes,
                                 placeholder=event.placeholder)

    @when.register
    def _alt_text_changed(self, event: PhotoAltTextChanged) -> None:
        self.alt_text = event.alt_text

    @when.register
    def _deleted(self, event: PhotoDeleted) -> None:
        self.deleted = True
