"""Search view on SQLite FTS5.

Two plain tables hold the documents (keyed by user / photo id) and two FTS5 tables index
them, their rowid being the position of the event that created the document (unique and the
same on every replay). Text is indexed folded (`projections.search.fold`) and the tokenizer
removes diacritics, so "zoe" finds "Zoë". `_` and `.` are separators for unicode61, so the
username "cy_d" is indexed as "cy d" (found by "cy", "cy_" and "d") and also as the handle
"cyd". Hashtags are indexed as one opaque token each ("t" + hex of the UTF-8 tag), so a
`#tag` term matches exactly that tag and nothing else, and a prefix of a tag is a prefix of
its token ("t626561" begins "t6265616368": "bea", "beach"), which FTS5 prefix queries
find. The hashtag type-ahead reads FTS5's own vocabulary of the `tags` column (an
`fts5vocab` table in each reading connection's temp schema): each tag token and the number
of rows (live photos) holding it, so it needs no state of its own, views built before it
answer at once, and it stays exact through deletions and rebuilds.

Private accounts: `search_owners` holds each owner's privacy flag; photo queries keep a
private owner's photos only for an audience that may see them (a JSON list bound as one
parameter, read with `json_each`), and the type-ahead takes away, from each tag's count,
the photos of private owners the audience may not see.

Queries are built only from `parse_query`'s cleaned terms, each one double-quoted (any `"`
doubled), so user input never reaches FTS5 syntax.
"""

from __future__ import annotations

import sqlite3

from photoshare.infra.settings import Settings
from photoshare.infra.sqlite.util import to_json
from photoshare.projections.search import (
    ANYONE,
    Audience,
    HashtagCount,
    PhotoDocument,
    SearchProjection,
    SearchQueries,
    SearchStore,
    Tag,
    UserDocument,
    Word,
    fold,
    handle,
    parse_query,
    parse_tag_prefix,
    tag_key,
    words,
)
from photoshare.streams.runner import Binding

TOKENIZER = "unicode61 remove_diacritics 2"

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS search_users (
    user_id TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL,
    display_name TEXT NOT NULL,
    position INTEGER NOT NULL UNIQUE
);
CREATE VIRTUAL TABLE IF NOT EXISTS search_users_fts USING fts5(
    username, handle, display_name, tokenize = '{TOKENIZER}'
);
CREATE TABLE IF NOT EXISTS search_photos (
    photo_id TEXT PRIMARY KEY,
    owner_id TEXT,
    position INTEGER UNIQUE,
    deleted INTEGER NOT NULL DEFAULT 0
);
-- Users whose account was deleted: a late redelivery of a registration stays unindexed.
CREATE TABLE IF NOT EXISTS search_deleted_users (
    user_id TEXT PRIMARY KEY
) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS search_photos_fts USING fts5(
    caption, tags, tokenize = '{TOKENIZER}'
);
CREATE INDEX IF NOT EXISTS search_photos_by_owner ON search_photos (owner_id);
CREATE TABLE IF NOT EXISTS search_owners (
    owner_id TEXT PRIMARY KEY,
    private INTEGER NOT NULL,
    position INTEGER NOT NULL
) WITHOUT ROWID;
"""

# The photos a private owner's privacy hides from an audience: `?` is the JSON list of
# the owners whose private photos it may see (Audience.may_see_private). Two spellings of
# one rule, for the two directions a query runs in: from the private owners to their
# photos (the type-ahead's hidden tags), and from matched photos to their owner's flag
# (photo search: one primary-key probe a match, where the first spelling would read
# every private owner's row for each search).
_HIDDEN_FROM_AUDIENCE = (
    "p.owner_id IN (SELECT owner_id FROM search_owners WHERE private = 1) "
    "AND p.owner_id NOT IN (SELECT value FROM json_each(?))")
_MATCH_HIDDEN_FROM_AUDIENCE = (
    "EXISTS (SELECT 1 FROM search_owners o WHERE o.owner_id = p.owner_id AND o.private = 1) "
    "AND p.owner_id NOT IN (SELECT value FROM json_each(?))")

# bm25 column weights (higher counts more): username, handle, display name; caption, tags.
_USER_WEIGHTS = "2.0, 2.0, 1.0"
_PHOTO_WEIGHTS = "1.0, 1.0"
_MAX_OFFSET = 2**31  # far beyond any real page; keeps SQLite integers in range


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _tag_token(tag: str) -> str:
    """One unicode61 token per tag, equal only for equal tags."""
    return "t" + tag_key(tag).encode("utf-8", "surrogatepass").hex()


def _tag_of(token: str) -> str:
    return bytes.fromhex(token[1:]).decode("utf-8", "surrogatepass")


def _tag_clause(term: Tag) -> str:
    token = _quoted(_tag_token(term.tag))
    if not term.prefix:
        return f"tags : {token}"
    # The whole tag matches both phrases, so bm25 ranks it above tags it only begins.
    return f"tags : ({token} OR {token} *)"


def users_match(q: str) -> str | None:
    """The FTS5 expression for a user search, or None if `q` has no usable term."""
    parsed = parse_query(q, tags=False)
    clauses = []
    for term in parsed.terms:
        assert isinstance(term, Word)
        phrase = _quoted(" ".join(term.pieces)) + " *"
        compact = _quoted("".join(term.pieces)) + " *"
        clauses.append(f"({{username display_name}} : {phrase} OR handle : {compact})")
    return " AND ".join(clauses) or None


def photos_match(q: str) -> str | None:
    """The FTS5 expression for a photo search, or None if `q` has no usable term."""
    parsed = parse_query(q, tags=True)
    clauses = []
    for term in parsed.terms:
        if isinstance(term, Tag):
            clauses.append(_tag_clause(term))
        else:
            clauses.append(f"caption : {_quoted(' '.join(term.pieces))}")
    return " AND ".join(clauses) or None


class SqliteSearchStore(SearchStore):
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection

    def _index_user(self, position: int, username: str, display_name: str) -> None:
        self.db.execute("DELETE FROM search_users_fts WHERE rowid = ?", (position,))
        self.db.execute(
            "INSERT INTO search_users_fts (rowid, username, handle, display_name) "
            "VALUES (?, ?, ?, ?)",
            (position, " ".join(words(username)), handle(username), fold(display_name)))

    def add_user(self, user: UserDocument) -> None:
        if self.db.execute("SELECT 1 FROM search_deleted_users WHERE user_id = ?",
                           (user.user_id,)).fetchone():
            return
        inserted = self.db.execute(
            "INSERT INTO search_users (user_id, username, username_key, display_name, position) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (user.user_id, user.username, fold(user.username), user.display_name,
             user.position)).rowcount
        if inserted:
            self._index_user(user.position, user.username, user.display_name)

    def rename_user(self, user_id: str, display_name: str) -> None:
        row = self.db.execute(
            "UPDATE search_users SET display_name = ? WHERE user_id = ? "
            "RETURNING position, username", (display_name, user_id)).fetchone()
        if row is not None:
            self._index_user(row[0], row[1], display_name)

    def add_photo(self, photo: PhotoDocument) -> None:
        inserted = self.db.execute(
            "INSERT INTO search_photos (photo_id, owner_id, position) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING", (photo.photo_id, photo.owner_id, photo.position)).rowcount
        if inserted:
            tags = " ".join(dict.fromkeys(_tag_token(tag) for tag in photo.hashtags))
            self.db.execute(
                "INSERT INTO search_photos_fts (rowid, caption, tags) VALUES (?, ?, ?)",
                (photo.position, fold(photo.caption), tags))

    def set_owner_private(self, owner_id: str, private: bool, position: int) -> None:
        self.db.execute(
            "INSERT INTO search_owners (owner_id, private, position) VALUES (?, ?, ?) "
            "ON CONFLICT DO UPDATE SET private = excluded.private, position = excluded.position "
            "WHERE excluded.position > search_owners.position",
            (owner_id, int(private), position))

    def remove_photo(self, photo_id: str) -> None:
        row = self.db.execute(
            "INSERT INTO search_photos (photo_id, deleted) VALUES (?, 1) "
            "ON CONFLICT (photo_id) DO UPDATE SET deleted = 1 RETURNING position",
            (photo_id,)).fetchone()
        if row is not None and row[0] is not None:
            self.db.execute("DELETE FROM search_photos_fts WHERE rowid = ?", (row[0],))


    def remove_user(self, user_id: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO search_deleted_users VALUES (?)", (user_id,))
        row = self.db.execute("DELETE FROM search_users WHERE user_id = ? RETURNING position",
                              (user_id,)).fetchone()
        if row is not None:
            self.db.execute("DELETE FROM search_users_fts WHERE rowid = ?", (row[0],))


# Per connection (temp schema): fts5vocab tables cannot be written, so they must stay out of
# the view's own schema, whose tables a rebuild copies.
_TAG_VOCABULARY = ("CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_photos_tag_vocab "
                   "USING fts5vocab(main, search_photos_fts, col)")
# Tag tokens are "t" + lower-case hex digits, so every token beginning with `:low` sorts
# below `:low` + "g".
_TAGS_BEGINNING = ("SELECT term, doc FROM temp.search_photos_tag_vocab "
                   "WHERE col = 'tags' AND term >= :low AND term < :low || 'g'")


def _window(offset: int, limit: int) -> tuple[int, int]:
    return max(0, min(limit, _MAX_OFFSET)), max(0, min(offset, _MAX_OFFSET))


class SqliteSearchQueries(SearchQueries):
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection

    def users(self, q: str, offset: int, limit: int) -> list[str]:
        match = users_match(q)
        if match is None or limit <= 0:
            return []
        exact = parse_query(q, tags=False).exact
        rows = self.db.execute(
            "SELECT u.user_id FROM search_users_fts f "
            "JOIN search_users u ON u.position = f.rowid "
            "WHERE search_users_fts MATCH ? "
            f"ORDER BY u.username_key = ? DESC, bm25(search_users_fts, {_USER_WEIGHTS}), "
            "u.username_key, u.user_id LIMIT ? OFFSET ?",
            (match, exact, *_window(offset, limit)))
        return [row[0] for row in rows]

    def photos(self, q: str, offset: int, limit: int,
               audience: Audience = ANYONE) -> list[str]:
        match = photos_match(q)
        if match is None or limit <= 0:
            return []
        rows = self.db.execute(
            "SELECT p.photo_id FROM search_photos_fts f "
            "JOIN search_photos p ON p.position = f.rowid "
            f"WHERE search_photos_fts MATCH ? AND p.deleted = 0 "
            f"AND NOT ({_MATCH_HIDDEN_FROM_AUDIENCE}) "
            f"ORDER BY bm25(search_photos_fts, {_PHOTO_WEIGHTS}), p.position DESC, "
            "p.photo_id LIMIT ? OFFSET ?",
            (match, to_json(audience.may_see_private()), *_window(offset, limit)))
        return [row[0] for row in rows]

    def hashtags(self, q: str, limit: int, audience: Audience = ANYONE) -> list[HashtagCount]:
        prefix = parse_tag_prefix(q)
        if prefix is None or limit <= 0:
            return []
        self.db.execute(_TAG_VOCABULARY)
        # Every tag with the prefix is read (its count comes from its posting list), then
        # ranked here: a short prefix of a big view reads many, hence `@offload` on the route.
        low = _tag_token(prefix)
        counts = {token: count for token, count in
                  self.db.execute(_TAGS_BEGINNING, {"low": low}) if count > 0}
        for token in self._hidden_tag_tokens(low, audience):
            if token in counts:
                counts[token] -= 1
        found = [HashtagCount(_tag_of(token), count) for token, count in counts.items()
                 if count > 0]
        found.sort(key=lambda tag: (-tag.photos, tag.tag))
        return found[:limit]

    def _hidden_tag_tokens(self, low: str, audience: Audience) -> list[str]:
        """Each tag token beginning with `low` of each live photo `audience` may not see
        (once per photo and token), to take away from the vocabulary's counts."""
        # From the hidden owners' photos (by owner), not from every photo with the prefix.
        rows = self.db.execute(
            "SELECT f.tags FROM search_photos p "
            "JOIN search_photos_fts f ON f.rowid = p.position "
            f"WHERE p.deleted = 0 AND {_HIDDEN_FROM_AUDIENCE}",
            (to_json(audience.may_see_private()),))
        return [token for (tags,) in rows for token in set(tags.split())
                if token.startswith(low)]


def binding(_: Settings) -> Binding:
    return Binding(SearchProjection(), lambda connection, _outbox: SqliteSearchStore(connection))


def queries(connection: sqlite3.Connection, _: Settings) -> SqliteSearchQueries:
    return SqliteSearchQueries(connection)
