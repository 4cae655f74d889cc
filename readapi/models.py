"""The read API's answers as OpenAPI models, for the published document only: the routes
build plain dicts (`readapi.shapes`) and declare these with `responses=`, so the
document says what clients get without a second validation pass on every read."""

from __future__ import annotations

from pydantic import BaseModel, Field


class UserSummaryDoc(BaseModel):
    user_id: str
    username: str | None
    display_name: str | None
    avatar_url: str | None


class VariantDoc(BaseModel):
    """One stored image of the photo."""

    url: str
    width: int | None = Field(description="pixels; null where the events do not tell it")
    height: int | None = Field(description="pixels; null where the events do not tell it")


class PhotoDoc(BaseModel):
    photo_id: str
    owner: UserSummaryDoc
    caption: str
    location: str
    hashtags: list[str]
    tagged: list[UserSummaryDoc]
    created_at: str
    urls: dict[str, str] = Field(description="variant name -> URL (the `url`s of `variants`)")
    variants: dict[str, VariantDoc] = Field(
        description="large: the whole photo, fit within 1080; medium: within 640; square: "
                    "the centred 320x320; feed (at most 1080 wide) and feed_small (at most "
                    "640 wide): centre-cropped to between 4:5 and 1.91:1 at upload, absent "
                    "for photos uploaded before them. Feeds show feed/feed_small, the photo "
                    "page large.")
    placeholder: str | None = Field(
        description="BlurHash (4x3 components) of the photo, to show while an image loads; "
                    "null for photos uploaded before placeholders")
    alt_text: str | None = Field(
        description="the owner's description of the photo for people who cannot see it "
                    "(at most 1,500 characters; the image's `alt`), or null if none")
    width: int = Field(description="the original's width after EXIF orientation")
    height: int = Field(description="the original's height after EXIF orientation")
    likes: int
    comments: int
    liked_by_me: bool | None = Field(None, description="only when signed in")


class PhotoPageDoc(BaseModel):
    items: list[PhotoDoc]
    next_cursor: str | None


PHOTO = {200: {"model": PhotoDoc, "description": "the photo"}}
PHOTO_PAGE = {200: {"model": PhotoPageDoc, "description": "a page of photos"}}


class RelationshipDoc(BaseModel):
    """The reader's relationship to a profile's owner, from the reader's side only."""

    following: bool = Field(description="the reader follows this person")
    requested: bool = Field(description="the reader asked to follow this private account "
                                        "and it has not answered yet")
    followed_by: bool = Field(description="this person follows the reader")
    blocking: bool = Field(description="the reader blocks this person")
    muting: bool = Field(description="the reader mutes this person")


class ProfileDoc(UserSummaryDoc):
    bio: str
    location: str
    followers: int
    following: int
    photos: int
    private: bool = Field(description="a private account: only its approved followers see "
                                      "its photos, comments and lists; this header is "
                                      "visible to all")
    relationship: RelationshipDoc | None = Field(
        None, description="only when signed in and the profile is someone else's: this "
                          "person as seen from the reader")


class UserPageDoc(BaseModel):
    items: list[UserSummaryDoc]
    next_cursor: str | None


class FollowRequestDoc(UserSummaryDoc):
    requested_at: str = Field(description="when the request was made (ISO 8601)")


class FollowRequestPageDoc(BaseModel):
    items: list[FollowRequestDoc]
    next_cursor: str | None


PROFILE = {200: {"model": ProfileDoc, "description": "the profile"},
           404: {"description": "no such user, or its owner blocks the caller "
                                "(`user_not_found` either way)"}}
USER_PAGE = {200: {"model": UserPageDoc, "description": "a page of people"}}
FOLLOW_REQUESTS = {200: {"model": FollowRequestPageDoc,
                         "description": "a page of pending follow requests, newest first"}}
PRIVATE = {403: {"description": "`private_account`: the owner is private and the reader "
                                "is neither the owner nor an approved follower"}}
