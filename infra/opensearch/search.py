"""Search view on OpenSearch: the cluster profile's SearchStore and SearchQueries.

The matching rules are the ones `projections.search` states and `infra/sqlite/search.py`
implements; this module gives them the same meaning with OpenSearch queries.

Indices. Two indices, `{prefix}users-v{n}` and `{prefix}photos-v{n}`, sit behind the aliases
`{prefix}users` and `{prefix}photos`; the live store and every query go through the aliases.
A rebuild creates version n+1 beside the live one (`create_indices(..., version=n+1)`), fills
it through a store on `SearchIndices.versioned(prefix, n+1)`, and calls `switch_alias` for
each alias: one `indices.update_aliases` request, so readers never see a half-built view.

Text. Documents are indexed already split into words by `projections.search.words` (the
function that also splits queries), joined by spaces; the analysers only split at those
spaces, lowercase and fold accents (`asciifolding`), so "zoe" finds "Zoë" and both sides
of a match are always cut the same way. A `.prefixes` sub-field also indexes every leading
part of each word (edge n-grams at the word's own position), which gives exact prefix
matching with no expansion limit. Hashtags are `keyword`s holding `tag_key(tag)`: exact and
case-insensitive, but not accent-folded ("#creme" does not find "#crème"), as in SQLite.

Queries. Only `parse_query`'s cleaned terms reach OpenSearch, as values inside query JSON,
so no user input is ever parsed as query syntax. Per term (terms are ANDed):
- users: the term's pieces are consecutive words of the username or of the display name,
  the last one a prefix (an `intervals` query when there are several pieces), or the joined
  pieces are a prefix of the handle (the username without `_` and `.`). Weights follow the
  SQLite view: username and handle 2, display name 1. Order: the exact username first (a
  constant boost far above any BM25 score), then score, then folded username, then id.
- photos: a word term is a phrase of the caption (whole words); a `#tag` term is exactly
  one of the photo's hashtags, the query's last one a prefix of one (a `prefix` query, of
  constant score, beside the exact `term`, so the whole tag ranks above tags it only
  begins). Order: score, then newest (position) first, then id.
- hashtags (the type-ahead): a `terms` aggregation of the `hashtags` keyword over the live
  photos having a tag with the prefix, restricted to those tags (`include`, a regular
  expression of the escaped prefix), most photos first, then by tag. With one shard (the
  default) the counts are exact; over several, each shard sends its top tags
  (`shard_size`), which makes rare tags' counts approximate, as OpenSearch documents.
- private accounts: each account's privacy is a small document of its own in the users
  index (`_id` "privacy:<user id>", with `user_id` and `private`, no text, so it never
  matches a user search); a photo search or the type-ahead first looks up the private
  accounts (up to MAX_PRIVATE_OWNERS of them) and excludes the photos of those the
  audience may not see (`must_not` on `owner_id`), so pages stay full and a change of
  privacy applies at once, with no re-indexing. With more private accounts than that, a
  photo search also looks up the privacy of each match's owner, reading the matches from
  the first (slower, never showing a hidden photo); the type-ahead's counts may then
  include the tags of the others' photos.
Searches use `dfs_query_then_fetch` so that scores, and thus "newest first among equals",
do not depend on which shard holds a document (free when an index has one shard).

Writes. `OpenSearchSearchStore` buffers its operations and `flush()` sends them with
`opensearchpy.helpers.bulk`; the worker calls `flush()` at the end of each batch, before it
records the batch's position. No read-after-write is needed inside a batch: the
SearchProjection only writes (SearchStore has no read method), and the one write that
depends on an earlier one, the partial `update` of a rename, is applied by the server after
the user's `create` because a bulk request runs the actions of one shard in order (and one
document always lives on one shard; chunks are sent one after another). Every write is
keyed by the user or photo id and is idempotent:
- add_user / add_photo: `create`, so a document that exists (a user already indexed, a photo
  already indexed or already deleted) is left as is; the 409 conflict is expected.
- rename_user: partial `update` of the display name; an unknown user gives an expected 404.
- set_owner_private: `index` of the account's privacy document with external versioning,
  its version the event's position: an older or redelivered change is refused by the
  server (an expected 409), so the newest change wins in any order, with no script.
- remove_photo: `index` of a tombstone (`deleted: true`, no text), replacing the photo; the
  tombstone makes a redelivered `add_photo` conflict, so a deleted photo stays deleted, and
  it carries no words, so it neither matches nor weighs in the relevance statistics.
A failed flush raises and keeps the buffer: sending it again is safe.

Freshness. A search sees writes once the index has refreshed (`index.refresh_interval`,
1 s by default). The worker's store is made with `refresh=True` (the setting
PHOTOSHARE_OPENSEARCH_REFRESH_ON_FLUSH, on by default): each flush that wrote anything
refreshes the shards it touched before the worker records the batch's position, so a read
with X-Min-Position finds its own new user or photo, as on the other views. That costs a
small segment per flush; a deployment that indexes faster than it needs read-your-writes
on search turns it off and searches then lag by up to the refresh interval. Paging uses from/size, so results past `index.max_result_window`
(10,000) are not served: a deeper page comes back empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opensearchpy import OpenSearch, helpers
from opensearchpy.exceptions import RequestError
from opensearchpy.helpers import BulkIndexError

from photoshare.projections.search import (
    ANYONE,
    Audience,
    HashtagCount,
    PhotoDocument,
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

# Longest word prefix indexed. Usernames (30) and display names (64) are far shorter; a
# longer typed prefix is cut to this length, so it matches on its first 128 characters.
MAX_PREFIX = 128
# The whitespace tokenizer splits longer tokens (255 by default); words here are at most a
# caption long (2,200 characters), and 4,096 stays below Lucene's 32,766-byte term limit.
MAX_WORD = 4096
MAX_RESULT_WINDOW = 10_000  # OpenSearch's default index.max_result_window
# OpenSearch fails a search whose query looks up more words and terms in all (its leaf
# clauses) than `indices.query.bool.max_clause_count`, 1,024 by default ("too many nested
# clauses"). A user term costs 2 per piece + 1, a photo word term 1 per piece, a tag 1;
# `parse_query` caps terms and characters but not pieces ("a.a.a..." is one term of up to
# 1,000 pieces), so the queries below keep terms, in order, while they fit and ignore the
# rest, as `parse_query` ignores terms past its MAX_TERMS. Only queries of hundreds of words
# reach this; lower it if a cluster sets a lower limit.
MAX_CLAUSES = 1024

USERNAME_WEIGHT = 2.0
HANDLE_WEIGHT = 2.0
DISPLAY_NAME_WEIGHT = 1.0
# Far above any BM25 score, so the exact username sorts first; only one user can have it.
EXACT_USERNAME_BOOST = 1_000_000.0

_FOLDED = "folded_words"
_PREFIXES = "folded_word_prefixes"
_PREFIX_QUERY = "folded_prefix_query"

ANALYSIS: dict[str, Any] = {
    "tokenizer": {"words": {"type": "whitespace", "max_token_length": MAX_WORD}},
    "filter": {
        "word_prefixes": {"type": "edge_ngram", "min_gram": 1, "max_gram": MAX_PREFIX,
                          "preserve_original": True},
        "prefix_length": {"type": "truncate", "length": MAX_PREFIX},
    },
    "analyzer": {
        _FOLDED: {"type": "custom", "tokenizer": "words",
                  "filter": ["lowercase", "asciifolding"]},
        _PREFIXES: {"type": "custom", "tokenizer": "words",
                    "filter": ["lowercase", "asciifolding", "word_prefixes"]},
        _PREFIX_QUERY: {"type": "custom", "tokenizer": "words",
                        "filter": ["lowercase", "asciifolding", "prefix_length"]},
    },
}

_KEYWORD = {"type": "keyword"}
_WORDS_WITH_PREFIXES = {
    "type": "text", "analyzer": _FOLDED,
    "fields": {"prefixes": {"type": "text", "analyzer": _PREFIXES,
                            "search_analyzer": _PREFIX_QUERY}},
}

# Fields added to the users index after it was first released: `create_indices` adds
# them to an index made before. `private` is set on privacy documents only.
ADDED_USER_FIELDS: dict[str, Any] = {
    "private": {"type": "boolean"},
}

USERS_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "user_id": _KEYWORD,
        "username_key": _KEYWORD,           # fold(username): exact match and ordering
        "username_words": _WORDS_WITH_PREFIXES,
        "handle": {"type": "text", "analyzer": _PREFIXES, "search_analyzer": _PREFIX_QUERY},
        "display_name_words": _WORDS_WITH_PREFIXES,
        "position": {"type": "long"},
        **ADDED_USER_FIELDS,
    },
}

# The most private accounts a photo search excludes by id (OpenSearch's default
# `index.max_terms_count` is 65,536; a search reads them in one page of this size).
MAX_PRIVATE_OWNERS = 10_000
PRIVACY_ID_PREFIX = "privacy:"

PHOTOS_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "photo_id": _KEYWORD,
        "owner_id": _KEYWORD,
        "caption_words": {"type": "text", "analyzer": _FOLDED},
        "hashtags": _KEYWORD,               # tag_key(tag) each
        "position": {"type": "long"},
        "deleted": {"type": "boolean"},
    },
}

# Bulk failures that are the idempotent writes working as meant (see the module docstring).
_EXPECTED_FAILURES = frozenset({
    ("create", 409, "version_conflict_engine_exception"),
    ("update", 404, "document_missing_exception"),
    ("index", 409, "version_conflict_engine_exception"),  # an older privacy change
})


@dataclass(frozen=True)
class SearchIndices:
    """The users and photos index names a store writes to or queries read from.

    `aliases` says the names are the live aliases: writes then pass `require_alias`, so a
    missing alias fails loudly instead of auto-creating a stray index under its name.
    Index names must be lowercase, so the prefix must be too.
    """

    users: str
    photos: str
    aliases: bool

    @classmethod
    def live(cls, prefix: str) -> SearchIndices:
        return cls(f"{prefix}users", f"{prefix}photos", aliases=True)

    @classmethod
    def versioned(cls, prefix: str, version: int) -> SearchIndices:
        return cls(f"{prefix}users-v{version}", f"{prefix}photos-v{version}", aliases=False)


def _index_settings(shards: int, replicas: int | None) -> dict[str, Any]:
    settings: dict[str, Any] = {"number_of_shards": shards, "analysis": ANALYSIS}
    if replicas is not None:
        settings["number_of_replicas"] = replicas
    return settings


def create_indices(client: OpenSearch, prefix: str, version: int | None = None, *,
                   shards: int = 1, replicas: int | None = None) -> SearchIndices:
    """Create version `version` of both indices (an index that exists is left as is) and
    point each live alias at it if that alias does not exist yet; a rebuild's new version
    is therefore not live until `switch_alias`. Returns the versioned names. Without a
    `version` (what a starting process asks for): version 1 on a fresh cluster, else the
    version the aliases point at (a rebuild may have replaced version 1), untouched but
    for the fields added since it was made."""
    live = SearchIndices.live(prefix)
    if version is None:
        version = 1
        if client.indices.exists_alias(name=live.users):
            (current,) = client.indices.get_alias(name=live.users)
            version = int(current.rsplit("-v", 1)[1])
    target = SearchIndices.versioned(prefix, version)
    for alias, index, mapping in ((live.users, target.users, USERS_MAPPING),
                                  (live.photos, target.photos, PHOTOS_MAPPING)):
        body: dict[str, Any] = {"settings": _index_settings(shards, replicas),
                                "mappings": mapping}
        if not client.indices.exists_alias(name=alias):
            body["aliases"] = {alias: {}}
        try:
            client.indices.create(index=index, body=body)
        except RequestError as error:
            # Another process (a second worker starting) created it first: same definition.
            if error.error != "resource_already_exists_exception":
                raise
    # An index made before fields were added gains them (adding fields is allowed).
    client.indices.put_mapping(index=target.users, body={"properties": ADDED_USER_FIELDS})
    return target


def switch_alias(client: OpenSearch, alias: str, new_index: str) -> None:
    """Point `alias` at `new_index` alone, in one atomic `update_aliases` request: readers
    see the old index or the new one, never neither. Run one switch at a time per alias."""
    current = client.indices.get_alias(name=alias) if client.indices.exists_alias(
        name=alias) else {}
    actions: list[dict[str, Any]] = [{"remove": {"index": index, "alias": alias}}
                                     for index in current if index != new_index]
    actions.append({"add": {"index": new_index, "alias": alias}})
    client.indices.update_aliases(body={"actions": actions})


def _is_expected(failure: dict[str, Any]) -> bool:
    ((op_type, item),) = failure.items()
    error = item.get("error")
    kind = error.get("type") if isinstance(error, dict) else None
    return (op_type, item.get("status"), kind) in _EXPECTED_FAILURES


class OpenSearchSearchStore(SearchStore):
    """SearchStore that buffers bulk actions; `flush()` sends them (see the module docstring
    for why a batch needs no read-after-write and why every action is idempotent)."""

    def __init__(self, client: OpenSearch, indices: SearchIndices, *,
                 chunk_size: int = 500, refresh: bool = False) -> None:
        self.client, self.indices, self.chunk_size = client, indices, chunk_size
        self.refresh = refresh  # make each flush visible to searches before it returns
        self._pending: list[dict[str, Any]] = []

    @property
    def pending(self) -> int:
        """Actions buffered since the last successful flush."""
        return len(self._pending)

    def add_user(self, user: UserDocument) -> None:
        self._pending.append({
            "_op_type": "create", "_index": self.indices.users, "_id": user.user_id,
            "_source": {"user_id": user.user_id, "username_key": fold(user.username),
                        "username_words": " ".join(words(user.username)),
                        "handle": handle(user.username),
                        "display_name_words": " ".join(words(user.display_name)),
                        "position": user.position}})

    def rename_user(self, user_id: str, display_name: str) -> None:
        self._pending.append({
            "_op_type": "update", "_index": self.indices.users, "_id": user_id,
            "doc": {"display_name_words": " ".join(words(display_name))}})

    def add_photo(self, photo: PhotoDocument) -> None:
        self._pending.append({
            "_op_type": "create", "_index": self.indices.photos, "_id": photo.photo_id,
            "_source": {"photo_id": photo.photo_id, "owner_id": photo.owner_id,
                        "caption_words": " ".join(words(photo.caption)),
                        "hashtags": list(dict.fromkeys(tag_key(t) for t in photo.hashtags)),
                        "position": photo.position, "deleted": False}})

    def set_owner_private(self, owner_id: str, private: bool, position: int) -> None:
        self._pending.append({
            "_op_type": "index", "_index": self.indices.users,
            "_id": PRIVACY_ID_PREFIX + owner_id, "version": position,
            "version_type": "external",
            "_source": {"user_id": owner_id, "private": private, "position": position}})

    def remove_photo(self, photo_id: str) -> None:
        self._pending.append({
            "_op_type": "index", "_index": self.indices.photos, "_id": photo_id,
            "_source": {"photo_id": photo_id, "deleted": True}})

    def remove_user(self, user_id: str) -> None:
        # A document without a username (not a delete): a late redelivery of the
        # registration is a `create` that conflicts with it, and user searches match only
        # documents with a username, so it stays unfindable.
        self._pending.append({
            "_op_type": "index", "_index": self.indices.users, "_id": user_id,
            "_source": {"user_id": user_id}})

    def flush(self) -> None:
        """Send the buffered actions in order. Raises `BulkIndexError` if any failed for a
        reason other than an idempotent write finding its work done; the buffer is then
        kept, and flushing again is safe."""
        if not self._pending:
            return
        _, failures = helpers.bulk(self.client, self._pending, chunk_size=self.chunk_size,
                                   raise_on_error=False, require_alias=self.indices.aliases,
                                   refresh="true" if self.refresh else "false")
        unexpected = [failure for failure in failures if not _is_expected(failure)]
        if unexpected:
            raise BulkIndexError(f"{len(unexpected)} search view write(s) failed", unexpected)
        self._pending.clear()

    def discard(self) -> None:
        """Drop the buffered actions (their batch failed and is applied again)."""
        self._pending.clear()


# --- queries ------------------------------------------------------------------------------


def _weighted(query: dict[str, Any], weight: float) -> dict[str, Any]:
    return {"bool": {"must": [query], "boost": weight}}


def _words_then_prefix(field: str, pieces: tuple[str, ...], weight: float) -> dict[str, Any]:
    """`pieces` as consecutive words of `field`, the last one only a prefix (what FTS5's
    `"a b" *` means)."""
    *leading, last = pieces
    if not leading:
        return {"match": {f"{field}.prefixes": {"query": last, "operator": "and",
                                                 "boost": weight}}}
    # `mode: ordered`, not the boolean `ordered`: OpenSearch 2.x deprecates that (a warning
    # on every query) and newer versions drop it.
    return _weighted({"intervals": {field: {"all_of": {
        "mode": "ordered", "max_gaps": 0,
        "intervals": [
            {"match": {"query": " ".join(leading), "mode": "ordered", "max_gaps": 0}},
            # Same positions as `field` (edge n-grams keep their word's position).
            {"match": {"query": last, "use_field": f"{field}.prefixes"}},
        ]}}}}, weight)


def _user_term(term: Word) -> dict[str, Any]:
    return {"bool": {"should": [
        _words_then_prefix("username_words", term.pieces, USERNAME_WEIGHT),
        _words_then_prefix("display_name_words", term.pieces, DISPLAY_NAME_WEIGHT),
        {"match": {"handle": {"query": "".join(term.pieces), "operator": "and",
                              "boost": HANDLE_WEIGHT}}},
    ], "minimum_should_match": 1}}


def users_query(q: str) -> dict[str, Any] | None:
    """The query of a user search, or None if `q` has no usable term."""
    parsed = parse_query(q, tags=False)
    if not parsed:
        return None
    budget = MAX_CLAUSES - 1  # the exact-username term
    terms = []
    for term in parsed.terms:
        assert isinstance(term, Word)
        # Its pieces in the username and in the display name, and the handle prefix.
        budget -= 2 * len(term.pieces) + 1
        if budget < 0:
            break
        terms.append(_user_term(term))
    if not terms:
        return None
    exact = {"constant_score": {"filter": {"term": {"username_key": parsed.exact}},
                                "boost": EXACT_USERNAME_BOOST}}
    # Only documents with a username: a deleted account's (`remove_user`) has none,
    # whatever a rename delivered again after it added.
    return {"bool": {"must": terms, "should": [exact],
                     "filter": [{"exists": {"field": "username_key"}}]}}


def _tag_query(term: Tag) -> dict[str, Any]:
    exact = {"term": {"hashtags": term.tag}}
    if not term.prefix:
        return exact
    return {"bool": {"should": [exact, {"prefix": {"hashtags": term.tag}}],
                     "minimum_should_match": 1}}


def _regex_literal(text: str) -> str:
    """`text` as a Lucene regular expression that matches it alone (a backslash makes any
    character literal)."""
    return "".join(c if c.isascii() and (c.isalnum() or c == "_") else "\\" + c for c in text)


def _hiding(query: dict[str, Any], hidden_owners: list[str]) -> dict[str, Any]:
    """`query` (a bool query) without the photos of `hidden_owners`."""
    if not hidden_owners:
        return query
    return {"bool": {**query["bool"], "must_not": [{"terms": {"owner_id": hidden_owners}}]}}


def hashtags_body(q: str, limit: int,
                  hidden_owners: list[str] = []) -> dict[str, Any] | None:  # noqa: B006
    """The search body of the hashtag type-ahead, or None if `q` is no tag prefix;
    `hidden_owners`' photos are not counted."""
    prefix = parse_tag_prefix(q)
    if prefix is None or limit <= 0:
        return None
    return {
        "size": 0, "track_total_hits": False,
        "query": _hiding({"bool": {"filter": [{"prefix": {"hashtags": prefix}},
                                              {"term": {"deleted": False}}]}},
                         hidden_owners),
        "aggs": {"tags": {"terms": {
            "field": "hashtags", "include": _regex_literal(prefix) + ".*", "size": limit,
            "order": [{"_count": "desc"}, {"_key": "asc"}]}}},
    }


def photos_query(q: str) -> dict[str, Any] | None:
    """The query of a photo search, or None if `q` has no usable term."""
    parsed = parse_query(q, tags=True)
    if not parsed:
        return None
    budget = MAX_CLAUSES - 1  # the `deleted` filter
    terms = []
    for term in parsed.terms:
        budget -= (1 + term.prefix) if isinstance(term, Tag) else len(term.pieces)
        if budget < 0:
            break
        terms.append(_tag_query(term) if isinstance(term, Tag)
                     else {"match_phrase": {"caption_words": " ".join(term.pieces)}})
    if not terms:
        return None
    return {"bool": {"must": terms, "filter": [{"term": {"deleted": False}}]}}


USERS_ORDER = [{"_score": "desc"}, {"username_key": "asc"}, {"user_id": "asc"}]
PHOTOS_ORDER = [{"_score": "desc"}, {"position": "desc"}, {"photo_id": "asc"}]


def _window(offset: int, limit: int) -> tuple[int, int] | None:
    """(from, size) inside the result window, or None if nothing of it is there."""
    start = max(0, offset)
    size = min(limit, MAX_RESULT_WINDOW - start)
    return (start, size) if size > 0 else None


class OpenSearchSearchQueries(SearchQueries):
    """SearchQueries over the live aliases; sees what the last index refresh made visible."""

    def __init__(self, client: OpenSearch, prefix: str) -> None:
        self.client, self.indices = client, SearchIndices.live(prefix)

    def _ids(self, index: str, query: dict[str, Any] | None, order: list[dict[str, str]],
             offset: int, limit: int) -> list[str]:
        window = _window(offset, limit)
        if query is None or window is None:
            return []
        start, size = window
        body = {"query": query, "sort": order, "from": start, "size": size,
                "_source": False, "track_total_hits": False}
        found = self.client.search(index=index, body=body, search_type="dfs_query_then_fetch")
        return [hit["_id"] for hit in found["hits"]["hits"]]

    def users(self, q: str, offset: int, limit: int) -> list[str]:
        return self._ids(self.indices.users, users_query(q), USERS_ORDER, offset, limit)

    def photos(self, q: str, offset: int, limit: int,
               audience: Audience = ANYONE) -> list[str]:
        query = photos_query(q)
        if query is None or _window(offset, limit) is None:
            return []
        hidden, complete = self._hidden_owners(audience)
        if complete:
            return self._ids(self.indices.photos, _hiding(query, hidden), PHOTOS_ORDER,
                             offset, limit)
        return self._visible_photos(_hiding(query, hidden), offset, limit, audience)

    def _visible_photos(self, query: dict[str, Any], offset: int, limit: int,
                        audience: Audience) -> list[str]:
        """The photos `offset`.. of `query` that `audience` may see, when there are more
        private accounts than one search excludes by id: the matches are read from the
        first, in windows, and each new owner's privacy document is looked up (one
        `mget` a window), so a private account past the first `MAX_PRIVATE_OWNERS` is
        never shown to a stranger. Slower (it reads every match before `offset`), but
        only with that many private accounts, and within the result window."""
        allowed = set(audience.may_see_private())
        private: dict[str, bool] = {}
        shown: list[str] = []
        start, wanted = 0, offset + limit
        while len(shown) < wanted and start < MAX_RESULT_WINDOW:
            size = min(max(2 * (wanted - len(shown)), 100), MAX_RESULT_WINDOW - start)
            body = {"query": query, "sort": PHOTOS_ORDER, "from": start, "size": size,
                    "_source": ["owner_id"], "track_total_hits": False}
            hits = self.client.search(index=self.indices.photos, body=body,
                                      search_type="dfs_query_then_fetch")["hits"]["hits"]
            owners = sorted({hit["_source"]["owner_id"] for hit in hits}
                            - allowed - private.keys())
            if owners:
                docs = self.client.mget(index=self.indices.users, body={
                    "ids": [PRIVACY_ID_PREFIX + owner for owner in owners]})["docs"]
                private.update((owner, bool(doc.get("found")
                                            and doc["_source"].get("private")))
                               for owner, doc in zip(owners, docs, strict=True))
            shown += [hit["_id"] for hit in hits
                      if not private.get(hit["_source"]["owner_id"], False)]
            if len(hits) < size:
                break
            start += size
        return shown[offset:wanted]

    def hashtags(self, q: str, limit: int, audience: Audience = ANYONE) -> list[HashtagCount]:
        if hashtags_body(q, limit) is None:
            return []
        # Past `MAX_PRIVATE_OWNERS` private accounts, the others' tags still count (the
        # numbers, never their photos: `photos` checks each match's owner then).
        body = hashtags_body(q, limit, self._hidden_owners(audience)[0])
        assert body is not None
        found = self.client.search(index=self.indices.photos, body=body)
        return [HashtagCount(bucket["key"], bucket["doc_count"])
                for bucket in found["aggregations"]["tags"]["buckets"]]

    def _hidden_owners(self, audience: Audience) -> tuple[list[str], bool]:
        """The private accounts whose photos `audience` may not find, at most the first
        `MAX_PRIVATE_OWNERS` private accounts' worth; and whether that was all of them."""
        body = {"query": {"term": {"private": True}}, "size": MAX_PRIVATE_OWNERS,
                "_source": ["user_id"], "track_total_hits": False,
                "sort": [{"position": "asc"}]}
        hits = self.client.search(index=self.indices.users, body=body)["hits"]["hits"]
        allowed = set(audience.may_see_private())
        owners = (hit["_source"]["user_id"] for hit in hits)
        return ([owner for owner in owners if owner not in allowed],
                len(hits) < MAX_PRIVATE_OWNERS)
