"""Request and response bodies. Requests are strict: wrong types and unknown fields are
422s. Lengths here only bound what is read; the domain applies the exact rules."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class StrictBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    @model_validator(mode="after")
    def _encodable_text(self) -> StrictBody:
        # JSON may carry lone surrogates ("\ud800"); they cannot be stored or hashed.
        for name, value in self:
            if isinstance(value, str) and not _is_utf8_encodable(value):
                raise ValueError(f"{name} contains an unpaired surrogate character")
        return self


def _is_utf8_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class UserCreate(StrictBody):
    username: str = Field(max_length=64)
    email: str = Field(max_length=320)
    password: str = Field(min_length=8, max_length=1024)
    display_name: str = Field(max_length=256)
    bio: str = Field("", max_length=2000)
    location: str = Field("", max_length=400)
    age: int | None = None


class UserCreated(BaseModel):
    user_id: str
    username: str


class SessionCreate(StrictBody):
    login: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class SessionPublic(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    user_id: str


class ProfileUpdate(StrictBody):
    display_name: str | None = Field(None, max_length=256)
    bio: str | None = Field(None, max_length=2000)
    location: str | None = Field(None, max_length=400)
    age: int | None = None
    private: bool | None = Field(None, description="true makes the account private: "
                                 "following it then takes your approval, and only approved "
                                 "followers see its photos; false makes it public and "
                                 "approves every pending follow request")

    def changes(self) -> dict[str, Any]:
        """Only the fields the client sent; null clears bio, location and age (and
        leaves `private` as it is)."""
        changes = self.model_dump(exclude_unset=True)
        if changes.get("private", False) is None:
            del changes["private"]
        for name in ("bio", "location"):
            if name in changes and changes[name] is None:
                changes[name] = ""
        return changes


class ProfilePublic(BaseModel):
    user_id: str
    username: str
    display_name: str
    bio: str
    location: str
    age: int | None
    avatar_url: str | None
    private: bool = Field(description="whether the account is private")


class VariantPublic(BaseModel):
    """One stored image of a photo or avatar: its URL and its size in pixels (null where
    unknown: photos uploaded before sizes were recorded)."""

    url: str
    width: int | None
    height: int | None


class AvatarPublic(BaseModel):
    avatar_url: str
    avatar_urls: dict[str, str]
    avatar_variants: dict[str, VariantPublic]


class PhotoCreated(BaseModel):
    photo_id: str
    urls: dict[str, str] = Field(description="variant name -> URL (as `variants`, for "
                                             "clients written before it)")
    variants: dict[str, VariantPublic] = Field(
        description="large (fit within 1080, whole photo), medium (fit within 640), square "
                    "(320x320 crop), feed (at most 1080 wide) and feed_small (at most 640 "
                    "wide): centre-cropped to between 4:5 and 1.91:1")
    placeholder: str | None = Field(description="BlurHash of the photo (4x3 components), "
                                                "to show while an image loads; null if unknown")
    alt_text: str | None = Field(description="the owner's description of the photo for "
                                             "people who cannot see it, as stored (cleaned), "
                                             "or null if none")


class PhotoUpdate(StrictBody):
    alt_text: str | None = Field(
        max_length=6000,
        description="the new alt text (at most 1,500 characters once cleaned), or null "
                    "(or an empty text) to remove it")


class CommentCreate(StrictBody):
    text: str = Field(max_length=4000)


class CommentCreated(BaseModel):
    comment_id: str


class AccountDeletion(StrictBody):
    """`DELETE /v1/users/me`: the account's password, checked as a log-in checks it."""

    password: str = Field(min_length=1, max_length=1024)
