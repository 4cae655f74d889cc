"""Search view: people by username / first and last name, photos by caption words and #tags.

The projection is pure and self-contained: it keeps its own documents (never reads another
view). The query language is backend-neutral and lives here too: `parse_query` turns what a
user typed into clean terms (words and tags), so every backend matches the same way and no
user input ever reaches a backend's query syntax unescaped.

Matching rules (every backend):
- users: each term is a PREFIX of a word of the username (split at `_` and `.`), of the
  whole username without `_` and `.`, or of a word of the display name; several terms are
  ANDed; case- and accent-insensitive ("zoe" finds "Zoë"); an exact username match comes
  first, then relevance, then username.
- photos: a plain term is a whole word of the caption (case- and accent-insensitive); a
  `#tag` term is exactly one of the photo's hashtags (case-insensitive), except the last
  `#tag` of the query, which is a PREFIX of one (what is being typed: "#bea" finds
  "#beach"; photos with the whole tag rank above those it only begins); terms are ANDed;
  relevance first, newest first among equals.
- hashtags (the type-ahead): the tags that start with a typed prefix (`#` optional, the
  rest letters, digits and `_`, as the command side parses hashtags), each with how many
  live photos carry it, most used first, then by tag.

Private accounts: the store keeps each owner's privacy flag (from AccountPrivacyChanged,
guarded by its position), and every photo query and the hashtag type-ahead are asked for
an `Audience`: a private account's photos (and their tags and counts) are found only by
their owner and the accounts the audience follows. The filter is applied in the backend's
query at read time, so a page is still a full page and an account turning private or
public changes what is found at once, with no re-indexing.
"""

from __future__ import annotations

import re
import unicodedata
from abc import ABC, abstractmethod
from dataclasses import dataclass

from photoshare.events import (
    AccountDeleted,
    AccountPrivacyChanged,
    Envelope,
    PhotoDeleted,
    PhotoPosted,
    ProfileUpdated,
    UserRegistered,
)
from photoshare.projections.base import Projection, on

MAX_TERMS = 32            # terms of one query that are used; the rest are ignored
MAX_QUERY_CHARS = 2000    # what is read of a query at all
MAX_TAG_CHARS = 100       # hashtags are cut to this length when posted (commands.rules)
_PIECE = re.compile(r"[^\W_]+")       # a run of letters and digits
_TAG = re.compile(r"#(\w+)")          # as the command side parses hashtags
_TAG_PREFIX = re.compile(r"#?(\w+)")   # what the hashtag type-ahead accepts
_ALNUM = re.compile(r"[^\W_]")


def fold(text: str) -> str:
    """Compatibility-normalised and case-folded text (accents are left to the backend's
    analyser, which removes them on both the indexed and the query side)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def tag_key(tag: str) -> str:
    """The form a hashtag is indexed and searched by: exact, but case-insensitive."""
    return fold(tag)


def words(text: str) -> list[str]:
    """The letter-and-digit runs of folded `text`."""
    return _PIECE.findall(fold(text))


def handle(username: str) -> str:
    """A username without its separators: "ann.lee" -> "annlee"."""
    return "".join(words(username))


@dataclass(frozen=True)
class Word:
    """One typed term: its letter-and-digit runs, folded ("cy_d" -> ("cy", "d"))."""

    pieces: tuple[str, ...]


@dataclass(frozen=True)
class Tag:
    """A `#tag` term, as `tag_key` made it; `prefix`: it matches the tags it begins."""

    tag: str
    prefix: bool = False


Term = Word | Tag


@dataclass(frozen=True)
class ParsedQuery:
    terms: tuple[Term, ...]
    exact: str  # the whole query folded, for "exact username first"

    def __bool__(self) -> bool:
        return bool(self.terms)


def parse_query(q: str, *, tags: bool) -> ParsedQuery:
    """Split `q` at white space into terms. With `tags`, a term starting with `#` gives its
    hashtags, the last of which is a prefix; otherwise `#` is punctuation. Terms without a
    letter or digit are dropped, repeats are dropped, and at most MAX_TERMS are kept."""
    q = q[:MAX_QUERY_CHARS]
    terms: list[Term] = []
    for raw in q.split():
        found: list[Term]
        if tags and raw.startswith("#"):
            found = [Tag(tag_key(m)) for m in _TAG.findall(raw) if _ALNUM.search(m)]
        else:
            pieces = tuple(words(raw))
            found = [Word(pieces)] if pieces else []
        for term in found:
            if term not in terms:
                terms.append(term)
    _last_tag_is_a_prefix(terms)
    exact = "".join(c for c in fold(q.strip()).lstrip("@")
                    if unicodedata.category(c) != "Cs")
    return ParsedQuery(tuple(terms[:MAX_TERMS]), exact)


def _last_tag_is_a_prefix(terms: list[Term]) -> None:
    # The last hashtag is the one a person may still be typing; earlier ones are whole.
    for index in range(len(terms) - 1, -1, -1):
        term = terms[index]
        if isinstance(term, Tag):
            terms[index] = Tag(term.tag, prefix=True)
            return


def parse_tag_prefix(q: str) -> str | None:
    """The hashtag prefix the type-ahead asks for (`#` optional, then letters, digits or
    `_`, at most MAX_TAG_CHARS of them), as `tag_key` makes it; None if `q` is not one."""
    match = _TAG_PREFIX.fullmatch(q.strip())
    if match is None or len(match.group(1)) > MAX_TAG_CHARS or not _ALNUM.search(match.group(1)):
        return None
    return tag_key(match.group(1))[:MAX_TAG_CHARS]


@dataclass(frozen=True)
class HashtagCount:
    """A hashtag and how many live photos carry it."""

    tag: str
    photos: int


@dataclass(frozen=True)
class UserDocument:
    user_id: str
    username: str
    display_name: str
    position: int  # of the registration: unique, stable across replays


@dataclass(frozen=True)
class PhotoDocument:
    photo_id: str
    owner_id: str
    caption: str
    hashtags: list[str]
    position: int  # of the post: unique, stable across replays; newer is larger


@dataclass(frozen=True)
class Audience:
    """Who searches: `viewer_id` (None: anonymous) and the accounts they follow. Only they
    find a private account's photos (the owner too); the default finds public ones only."""

    viewer_id: str | None = None
    followed: frozenset[str] = frozenset()

    def may_see_private(self) -> list[str]:
        """The owners whose private photos this audience may find, sorted."""
        allowed = set(self.followed)
        if self.viewer_id is not None:
            allowed.add(self.viewer_id)
        return sorted(allowed)


ANYONE = Audience()


class SearchStore(ABC):
    """Write port. Every change is keyed by the user or photo id, so a redelivered event
    changes nothing."""

    @abstractmethod
    def add_user(self, user: UserDocument) -> None:
        """Index a new user; a user already indexed is left as is."""

    @abstractmethod
    def rename_user(self, user_id: str, display_name: str) -> None:
        """Re-index the user under `display_name`; an unknown user is ignored."""

    @abstractmethod
    def add_photo(self, photo: PhotoDocument) -> None:
        """Index a new photo; one already indexed, or already deleted, is left as is."""

    @abstractmethod
    def remove_photo(self, photo_id: str) -> None:
        """Unindex the photo for good (a late redelivery of its post does not bring it
        back)."""

    @abstractmethod
    def set_owner_private(self, owner_id: str, private: bool, position: int) -> None:
        """Record whether `owner_id`'s account is private, unless a newer change (a
        larger `position`) is recorded already."""

    @abstractmethod
    def remove_user(self, user_id: str) -> None:
        """Unindex the user for good (the account was deleted; its photos were unindexed
        by their PhotoDeleted events)."""


class SearchQueries(ABC):
    """Read port. `q` is raw user input: any string is safe, and one with no usable term
    finds nothing."""

    @abstractmethod
    def users(self, q: str, offset: int, limit: int) -> list[str]:
        """User ids, best match first (see the module's rules)."""

    @abstractmethod
    def photos(self, q: str, offset: int, limit: int,
               audience: Audience = ANYONE) -> list[str]:
        """Photo ids, best match first, newest first among equals; private accounts'
        photos only for an `audience` that may see them."""

    @abstractmethod
    def hashtags(self, q: str, limit: int, audience: Audience = ANYONE) -> list[HashtagCount]:
        """At most `limit` hashtags that start with the prefix `q` (`parse_tag_prefix`;
        nothing if it is not one), each with its live photos that `audience` may see,
        most used first, then by tag (a tag only such photos carry is not listed)."""


class SearchProjection(Projection[SearchStore]):
    name = "search"

    @on(UserRegistered)
    def _registered(self, event: UserRegistered, envelope: Envelope,
                    store: SearchStore) -> None:
        store.add_user(UserDocument(user_id=event.user_id, username=event.username,
                                    display_name=event.display_name,
                                    position=envelope.position))

    @on(ProfileUpdated)
    def _updated(self, event: ProfileUpdated, _: Envelope, store: SearchStore) -> None:
        store.rename_user(event.user_id, event.display_name)

    @on(PhotoPosted)
    def _posted(self, event: PhotoPosted, envelope: Envelope, store: SearchStore) -> None:
        store.add_photo(PhotoDocument(photo_id=event.photo_id, owner_id=event.owner_id,
                                      caption=event.caption, hashtags=list(event.hashtags),
                                      position=envelope.position))

    @on(PhotoDeleted)
    def _deleted(self, event: PhotoDeleted, _: Envelope, store: SearchStore) -> None:
        store.remove_photo(event.photo_id)

    @on(AccountPrivacyChanged)
    def _privacy(self, event: AccountPrivacyChanged, envelope: Envelope,
                 store: SearchStore) -> None:
        store.set_owner_private(event.user_id, event.private, envelope.position)

    @on(AccountDeleted)
    def _account_deleted(self, event: AccountDeleted, _: Envelope, store: SearchStore) -> None:
        store.remove_user(event.user_id)
