"""One contract for the search ports (SearchStore, SearchQueries): the SQLite FTS5 view and
the OpenSearch view.

Events go through the real SearchProjection into each backend's store, one batch at a time
(for SQLite one view transaction, for OpenSearch one bulk flush then an index refresh), and
come back through its SearchQueries. Both always run: OpenSearch is the session's real
server (tests/support/engines.py), where each test gets indices of its own under a unique
prefix, deleted afterwards. The OpenSearch-only test
at the end covers what only that adapter promises: a rebuilt version switched in by alias.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import pytest
from opensearchpy import OpenSearch

from photoshare.events import (
    AccountDeleted,
    AccountPrivacyChanged,
    Envelope,
    Event,
    PhotoDeleted,
    PhotoPosted,
    ProfileUpdated,
    UserRegistered,
    event_from_data,
)
from photoshare.infra.opensearch.search import (
    OpenSearchSearchQueries,
    OpenSearchSearchStore,
    SearchIndices,
    create_indices,
    switch_alias,
)
from photoshare.infra.opensearch import search as opensearch_search
from photoshare.infra.settings import Settings
from photoshare.infra.sqlite import search as sqlite_search
from photoshare.infra.sqlite.viewdb import ViewDatabase
from photoshare.projections.search import (
    ANYONE,
    Audience,
    SearchProjection,
    SearchQueries,
    SearchStore,
)
from support.histories import envelopes, uid

pytestmark = pytest.mark.cluster

ALL = 1000


# --- backends -----------------------------------------------------------------------------

Batch = Callable[[], AbstractContextManager[SearchStore]]


@dataclass
class Backend:
    """One implementation of the ports: `batch()` opens a store whose writes are visible to
    `queries` once the block ends (what a worker's batch is)."""

    batch: Batch
    queries: SearchQueries


def sqlite_backend(directory: Path) -> Iterator[Backend]:
    views = ViewDatabase(directory / "views.sqlite3", [sqlite_search.SCHEMA])

    @contextmanager
    def batch() -> Iterator[SearchStore]:
        with views.transaction() as connection:
            yield sqlite_search.SqliteSearchStore(connection)

    yield Backend(batch, sqlite_search.queries(views.reader(), Settings()))
    views.close()


def opensearch_client(url: str) -> OpenSearch:
    return OpenSearch(hosts=[url], timeout=30)


def delete_indices(client: OpenSearch, prefix: str) -> None:
    """Every index under `prefix`, by name (their aliases go with them)."""
    for index in client.indices.get(index=f"{prefix}*"):
        client.indices.delete(index=index)


def unique_prefix() -> str:
    return f"photoshare-test-{uuid4().hex[:12]}-"


def opensearch_batch(client: OpenSearch, indices: SearchIndices) -> Batch:
    @contextmanager
    def batch() -> Iterator[SearchStore]:
        store = OpenSearchSearchStore(client, indices)
        yield store
        store.flush()
        client.indices.refresh(index=f"{indices.users},{indices.photos}")

    return batch


def opensearch_backend(url: str) -> Iterator[Backend]:
    client = opensearch_client(url)
    prefix = unique_prefix()
    try:
        create_indices(client, prefix)
        yield Backend(opensearch_batch(client, SearchIndices.live(prefix)),
                      OpenSearchSearchQueries(client, prefix))
    finally:
        delete_indices(client, prefix)
        client.close()


@pytest.fixture(params=["sqlite", "opensearch"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield from sqlite_backend(tmp_path)
    else:
        yield from opensearch_backend(request.getfixturevalue("opensearch_url"))


# --- histories ----------------------------------------------------------------------------


def user(n: object, username: str, display_name: str) -> tuple[Event, str]:
    return UserRegistered(user_id=U(n), username=username, display_name=display_name), U(n)


def rename(n: object, display_name: str) -> tuple[Event, str]:
    return ProfileUpdated(user_id=U(n), display_name=display_name, bio="", location="",
                          age=None), U(n)


def photo(n: object, caption: str, hashtags: Sequence[str] = ()) -> tuple[Event, str]:
    return PhotoPosted(photo_id=P(n), owner_id=U(0), caption=caption, hashtags=list(hashtags),
                       original_key="o.jpg", format="jpeg", width=1, height=1,
                       variants={"large": "l.jpg"}), U(0)


def owned_photo(n: object, owner: object, caption: str,
                hashtags: Sequence[str] = ()) -> tuple[Event, str]:
    return PhotoPosted(photo_id=P(n), owner_id=U(owner), caption=caption,
                       hashtags=list(hashtags), original_key="o.jpg", format="jpeg", width=1,
                       height=1, variants={"large": "l.jpg"}), U(owner)


def privacy(n: object, private: bool) -> tuple[Event, str]:
    return AccountPrivacyChanged(user_id=U(n), private=private), U(n)


def delete(n: object) -> tuple[Event, str]:
    return PhotoDeleted(photo_id=P(n), owner_id=U(0)), U(0)


def erase(n: object) -> tuple[Event, str]:
    return AccountDeleted(user_id=U(n)), U(n)


def U(n: object) -> str:  # noqa: N802 - reads like the ids in the assertions
    return uid("user", n)


def P(n: object) -> str:  # noqa: N802
    return uid("photo", n)


class View:
    """A backend fed a history through the SearchProjection, with short names for reads."""

    def __init__(self, backend: Backend, history: list[tuple[Event, str]]) -> None:
        self.backend = backend
        self.items = envelopes(history)
        self.deliver(self.items)

    def deliver(self, items: Sequence[Envelope]) -> None:
        """Apply `items` as one batch, with no position check (what an at-least-once
        consumer restarting from an older checkpoint does)."""
        projection = SearchProjection()
        with self.backend.batch() as store:
            for envelope in items:
                event = event_from_data(envelope.event_type, envelope.schema_version,
                                        envelope.data)
                projection.apply(event, envelope, store)

    def redeliver(self, *positions: int) -> None:
        by_position = {envelope.position: envelope for envelope in self.items}
        self.deliver([by_position[p] for p in positions])

    def users(self, q: str, offset: int = 0, limit: int = ALL) -> list[str]:
        return self.backend.queries.users(q, offset, limit)

    def photos(self, q: str, offset: int = 0, limit: int = ALL,
               audience: Audience = ANYONE) -> list[str]:
        return self.backend.queries.photos(q, offset, limit, audience)

    def hashtags(self, q: str, limit: int = ALL,
                 audience: Audience = ANYONE) -> list[tuple[str, int]]:
        return [(found.tag, found.photos)
                for found in self.backend.queries.hashtags(q, limit, audience)]


@pytest.fixture
def view(backend: Backend) -> Callable[[list[tuple[Event, str]]], View]:
    return lambda history: View(backend, history)


PEOPLE = [
    user(1, "cy_d", "Cyrus Dee"),
    user(2, "ann.lee", "Ann Lee"),
    user(3, "zoe_k", "Zoë Kravitz"),
    user(4, "bob", "Robert Café"),
    user(5, "jose", "José Núñez"),
]

PHOTOS = [
    user(0, "owner", "Owner"),
    photo(1, "Sunny day at the beach #sun", ["sun"]),
    photo(2, "sun on the sea"),
    photo(3, "Evening #sunset", ["sunset"]),
    photo(4, "Café crème #Nuit", ["nuit"]),
    photo(5, "Ice cream #crème_brûlée #SUN", ["crème_brûlée", "sun"]),
]


# --- users: prefixes, folding, AND, order ---------------------------------------------------


@pytest.mark.parametrize(("q", "expected"), [
    ("cy", [1]), ("cy_", [1]), ("cy_d", [1]), ("cy.d", [1]), ("cyd", [1]), ("cyr", [1]),
    ("dee", [1]), ("ann", [2]), ("ann.l", [2]), ("annl", [2]), ("lee", [2]), ("kra", [3]),
    ("zo", [3]), ("rob", [4]), ("bo", [4]), ("jos", [5]), ("nun", [5]),
    ("xyz", []), ("yrus", []), ("ravitz", []), ("an.lee", []), ("lee.ann", []), ("lee.a", []),
])
def test_users_are_found_by_a_prefix_of_the_username_or_a_name(
        view: Callable[..., View], q: str, expected: list[int]) -> None:
    assert view(PEOPLE).users(q) == [U(n) for n in expected]


@pytest.mark.parametrize(("q", "expected"), [
    ("zoe", [3]), ("zoë", [3]), ("cafe", [4]), ("café", [4]), ("caf", [4]), ("nunez", [5]),
    ("núñez", [5]), ("jose", [5]), ("ｊｏｓｅ", [5]), ("Jose\u0301", [5]),
])
def test_user_search_folds_accents(view: Callable[..., View], q: str,
                                   expected: list[int]) -> None:
    assert view(PEOPLE).users(q) == [U(n) for n in expected]


@pytest.mark.parametrize(("q", "expected"), [
    ("CY_D", [1]), ("Le", [2]), ("ZOE", [3]), ("CAFÉ", [4]), ("JOSÉ", [5]), ("Kravitz", [3]),
])
def test_user_search_ignores_case(view: Callable[..., View], q: str,
                                  expected: list[int]) -> None:
    assert view(PEOPLE).users(q) == [U(n) for n in expected]


def test_accent_folding_works_both_ways(view: Callable[..., View]) -> None:
    v = view([user(1, "plain", "Zoe Cafe"), user(2, "fancy", "Zoë Café")])
    assert set(v.users("zoe")) == set(v.users("zoë")) == {U(1), U(2)}
    assert set(v.users("café")) == set(v.users("cafe")) == {U(1), U(2)}


def test_user_terms_are_anded(view: Callable[..., View]) -> None:
    v = view(PEOPLE + [user(6, "ann_other", "Ann Other")])
    assert set(v.users("ann")) == {U(2), U(6)}
    assert v.users("ann lee") == v.users("lee ann") == [U(2)]
    assert v.users("ann oth") == [U(6)]
    assert v.users("ann kravitz") == []


def test_the_exact_username_comes_first(view: Callable[..., View]) -> None:
    v = view([user(1, "anna", "Anna Ann Annabel"), user(2, "annie", "Ann Annie"),
              user(3, "ann", "Zed Quux"), user(4, "ann_b", "Ann B")])
    for q in ("ann", "ANN", "@ann"):
        assert v.users(q)[0] == U(3)
    assert set(v.users("ann")) == {U(1), U(2), U(3), U(4)}


def test_equal_user_matches_are_ordered_by_username(view: Callable[..., View]) -> None:
    v = view([user(n, f"same{n}", "Same Name") for n in (3, 1, 2)])
    assert v.users("name") == [U(1), U(2), U(3)]


# --- users: renames and redelivery ----------------------------------------------------------


def test_a_rename_updates_the_search(view: Callable[..., View]) -> None:
    v = view([user(1, "ann", "Ann Old"), user(2, "bob", "Bob Old"), rename(1, "Zoë New")])
    assert v.users("old") == [U(2)]
    assert v.users("zoe") == v.users("new") == [U(1)]
    assert v.users("ann") == [U(1)]  # the username stays


def test_a_rename_in_a_later_batch_updates_the_search(view: Callable[..., View]) -> None:
    v = view([user(1, "ann", "Ann Old")])
    v.deliver(envelopes([user(1, "ann", "Ann Old"), rename(1, "Ann New")])[1:])
    assert v.users("new") == [U(1)] and v.users("old") == []


def test_a_rename_of_an_unknown_user_is_ignored(view: Callable[..., View]) -> None:
    v = view([user(1, "ann", "Ann"), rename(9, "Ghost")])
    assert v.users("ghost") == []
    assert v.users("ann") == [U(1)]


def test_a_redelivered_registration_does_not_undo_a_rename(view: Callable[..., View]) -> None:
    v = view([user(1, "ann", "Ann Old"), rename(1, "Ann New")])
    v.redeliver(1)
    v.redeliver(2, 2)
    assert v.users("new") == [U(1)] and v.users("old") == []


def test_a_deleted_account_is_found_no_more_even_after_a_redelivery(
        view: Callable[..., View]) -> None:
    v = view([user(1, "ann", "Ann Gone"), user(2, "annie", "Annie Stays"), rename(1, "Ann X"),
              erase(1)])
    assert v.users("ann") == [U(2)]
    assert v.users("gone") == v.users("x") == []
    v.redeliver(1, 3)  # the registration and the rename, delivered again
    assert v.users("ann") == [U(2)]
    v.redeliver(4)  # the deletion again, and one of a user never indexed
    v.deliver(envelopes([erase(9)]))
    assert v.users("annie") == [U(2)]


# --- photos ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("q", "expected"), [
    ("sun", {1, 2, 5}), ("SUN", {1, 2, 5}), ("sea", {2}), ("beach", {1}), ("evening", {3}),
    ("su", set()), ("beaches", set()), ("cafe", {4}), ("CAFÉ", {4}), ("creme", {4, 5}),
    ("crème", {4, 5}), ("ice cream", {5}), ("sun beach", {1}), ("beach sea", set()),
])
def test_photos_are_found_by_whole_caption_words(view: Callable[..., View], q: str,
                                                 expected: set[int]) -> None:
    assert set(view(PHOTOS).photos(q)) == {P(n) for n in expected}


@pytest.mark.parametrize(("q", "expected"), [
    # The last #tag is a prefix (what is being typed), earlier ones are whole tags.
    ("#sun", {1, 3, 5}), ("#SUN", {1, 3, 5}), ("#Sun", {1, 3, 5}), ("#sunset", {3}),
    ("#suns", {3}), ("#su", {1, 3, 5}), ("#s", {1, 3, 5}), ("#sunsets", set()),
    ("#sea", set()), ("#nuit", {4}), ("#NUIT", {4}), ("#n", {4}), ("#u", set()),
    ("#crème_brûlée", {5}), ("#CRÈME_BRÛLÉE", {5}), ("#creme_brulee", set()),
    ("#crème", {5}), ("#crè", {5}), ("#cre", set()), ("#sun beach", {1}),
    ("#sun #crème_brûlée", {5}), ("#sun #crè", {5}), ("#su #crème", set()),
    ("#sun #su", {1, 5}), ("#sun sea", set()), ("sun #sunset", set()), ("beach #su", {1}),
])
def test_photos_are_found_by_hashtags_the_last_one_a_prefix(view: Callable[..., View], q: str,
                                                             expected: set[int]) -> None:
    assert set(view(PHOTOS).photos(q)) == {P(n) for n in expected}


def test_a_whole_tag_ranks_above_the_tags_it_begins(view: Callable[..., View]) -> None:
    filler = [photo(100 + n, f"filler {n}") for n in range(10)]
    v = view([user(0, "owner", "Owner"), *filler, photo(1, "x #beach", ["beach"]),
              photo(2, "x #bea", ["bea"]), photo(3, "x #beach", ["beach"]),
              photo(4, "x #bear", ["bear"])])
    assert v.photos("#bea") == [P(2), P(4), P(3), P(1)]
    assert v.photos("#beach") == [P(3), P(1)]


def test_more_relevant_photos_rank_first(view: Callable[..., View]) -> None:
    filler = [photo(100 + n, f"filler caption number {n}") for n in range(10)]
    v = view([user(0, "owner", "Owner"),
              photo(1, "a dog in a very long caption about a park and a sunny afternoon"),
              photo(2, "dog dog dog"), *filler])
    assert v.photos("dog") == [P(2), P(1)]


def test_equally_relevant_photos_come_newest_first(view: Callable[..., View]) -> None:
    filler = [photo(100 + n, f"filler {n}") for n in range(10)]
    v = view([user(0, "owner", "Owner"), photo(1, "dog #pet", ["pet"]), *filler,
              photo(2, "dog #pet", ["pet"]), photo(3, "dog #pet", ["pet"])])
    assert v.photos("dog") == v.photos("#pet") == [P(3), P(2), P(1)]


# --- photos: deletion -----------------------------------------------------------------------


def test_a_deleted_photo_disappears(view: Callable[..., View]) -> None:
    v = view(PHOTOS + [delete(1)])
    assert set(v.photos("#sun")) == {P(3), P(5)}  # "sun" and "sunset"
    assert v.hashtags("su") == [("sun", 1), ("sunset", 1)]
    assert v.photos("beach") == []


def test_a_deleted_photo_stays_gone_after_a_redelivered_post(view: Callable[..., View]) -> None:
    v = view(PHOTOS + [delete(1)])
    v.redeliver(2)                       # PhotoPosted of photo 1, in a later batch
    v.redeliver(2, len(PHOTOS) + 1, 2)   # post, deletion, post again in one batch
    assert v.photos("beach") == []
    assert set(v.photos("#sun")) == {P(3), P(5)}
    assert v.hashtags("sun") == [("sun", 1), ("sunset", 1)]


def test_a_deletion_before_the_post_still_wins(view: Callable[..., View]) -> None:
    v = view([user(0, "owner", "Owner"), delete(1), photo(1, "beach")])
    assert v.photos("beach") == []


def test_a_redelivered_post_adds_nothing(view: Callable[..., View]) -> None:
    v = view(PHOTOS)
    v.redeliver(2, 3)
    assert set(v.photos("sun")) == {P(1), P(2), P(5)}


# --- private accounts ---------------------------------------------------------------------

PRIVATE = [
    user(7, "pat", "Pat Private"), user(8, "pub", "Pub Lic"),
    owned_photo(71, 7, "sunset one #dusk #dune", ["dusk", "dune"]),
    owned_photo(81, 8, "sunset two #dusk", ["dusk"]),
    owned_photo(72, 7, "sunset three #duskonly", ["duskonly"]),
    privacy(7, True),
]
FOLLOWER = Audience(viewer_id=U(9), followed=frozenset({U(7), U(8)}))
OWNER = Audience(viewer_id=U(7))
STRANGER = Audience(viewer_id=U(9), followed=frozenset({U(8)}))


def test_private_photos_are_found_by_their_owner_and_followers_only(
        view: Callable[..., View]) -> None:
    v = view(PRIVATE)
    everyone = {P(71), P(81), P(72)}
    assert set(v.photos("sunset", audience=OWNER)) == everyone
    assert set(v.photos("sunset", audience=FOLLOWER)) == everyone
    assert v.photos("sunset", audience=STRANGER) == [P(81)]
    assert v.photos("sunset") == [P(81)]
    # Filtered in the query: a page of one is a full page.
    assert v.photos("sunset", limit=1) == [P(81)]
    assert v.photos("sunset", offset=1) == []
    # The user is still found.
    assert v.users("pat") == [U(7)]


def test_private_photos_count_in_hashtags_only_for_those_who_may_see_them(
        view: Callable[..., View]) -> None:
    v = view(PRIVATE)
    assert v.hashtags("#dus", audience=FOLLOWER) == [("dusk", 2), ("duskonly", 1)]
    assert v.hashtags("#dus", audience=OWNER) == [("dusk", 2), ("duskonly", 1)]
    assert v.hashtags("#dus", audience=STRANGER) == [("dusk", 1)]
    assert v.hashtags("du") == [("dusk", 1)]


def test_going_public_and_private_again_applies_at_once(view: Callable[..., View]) -> None:
    v = view(PRIVATE)
    v.deliver(envelopes([*PRIVATE, privacy(7, False)])[-1:])
    assert len(v.photos("sunset")) == 3 and v.hashtags("dusk") == [("dusk", 2),
                                                                  ("duskonly", 1)]
    v.deliver(envelopes([*PRIVATE, privacy(7, False), privacy(7, True)])[-1:])
    assert v.photos("sunset") == [P(81)]


def test_a_stale_privacy_change_redelivered_changes_nothing(view: Callable[..., View]) -> None:
    history = [*PRIVATE, privacy(7, False), privacy(7, True)]
    v = view(history)
    assert v.photos("sunset") == [P(81)]
    v.redeliver(7)           # the older "public" again
    assert v.photos("sunset") == [P(81)]
    v.redeliver(6, 1, 3)     # the first "private", a registration, a post
    assert v.photos("sunset") == [P(81)]


def test_a_photo_posted_after_going_private_is_hidden_too(view: Callable[..., View]) -> None:
    v = view([*PRIVATE, owned_photo(73, 7, "sunset four")])
    assert v.photos("sunset") == [P(81)]
    assert P(73) in v.photos("sunset", audience=FOLLOWER)


def test_more_private_accounts_than_a_search_excludes_by_id_stay_hidden(
        view: Callable[..., View], monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenSearch excludes the first `MAX_PRIVATE_OWNERS` private accounts in the query;
    past them, a photo search checks each match's owner: still never shown to a stranger,
    and pages still follow each other (here the bound is one account, Pat)."""
    monkeypatch.setattr(opensearch_search, "MAX_PRIVATE_OWNERS", 1)
    v = view([*PRIVATE, user(6, "quinn", "Quinn Quiet"), owned_photo(61, 6, "sunset five"),
              privacy(6, True)])
    assert v.photos("sunset", audience=STRANGER) == [P(81)]
    assert v.photos("sunset") == [P(81)]
    assert v.photos("sunset", limit=1) == [P(81)]
    assert v.photos("sunset", offset=1) == []
    assert set(v.photos("sunset", audience=FOLLOWER)) == {P(71), P(81), P(72)}
    of_quinn = Audience(viewer_id=U(9), followed=frozenset({U(6)}))
    seen = v.photos("sunset", audience=of_quinn)
    assert set(seen) == {P(61), P(81)}
    assert [v.photos("sunset", offset=n, limit=1, audience=of_quinn) for n in range(3)] \
        == [[seen[0]], [seen[1]], []]
    assert set(v.photos("sunset", audience=Audience(viewer_id=U(6)))) == {P(61), P(81)}


# --- hashtags: the type-ahead ----------------------------------------------------------------


TAGGED = PHOTOS + [photo(6, "#sea", ["sea"]), photo(7, "#sand", ["sand"])]


@pytest.mark.parametrize(("q", "expected"), [
    ("su", [("sun", 2), ("sunset", 1)]), ("#su", [("sun", 2), ("sunset", 1)]),
    ("#SU", [("sun", 2), ("sunset", 1)]), ("Sun", [("sun", 2), ("sunset", 1)]),
    ("sunset", [("sunset", 1)]), ("sunsets", []), (" #sun ", [("sun", 2), ("sunset", 1)]),
    # Most used first, then by tag.
    ("s", [("sun", 2), ("sand", 1), ("sea", 1), ("sunset", 1)]),
    ("n", [("nuit", 1)]), ("cr", [("crème_brûlée", 1)]), ("CRÈME_", [("crème_brûlée", 1)]),
    ("cre", []), ("x", []), ("u", []),
])
def test_hashtags_by_prefix_most_used_first(view: Callable[..., View], q: str,
                                            expected: list[tuple[str, int]]) -> None:
    assert view(TAGGED).hashtags(q) == expected


def test_hashtags_are_limited(view: Callable[..., View]) -> None:
    v = view(TAGGED)
    assert v.hashtags("s", 1) == [("sun", 2)]
    assert v.hashtags("s", 3) == [("sun", 2), ("sand", 1), ("sea", 1)]
    assert v.hashtags("s", 0) == [] and v.hashtags("s", -1) == []


def test_hashtag_counts_follow_deletions_not_redeliveries(view: Callable[..., View]) -> None:
    v = view(TAGGED + [delete(5)])
    assert v.hashtags("su") == [("sun", 1), ("sunset", 1)]
    assert v.hashtags("cr") == []
    v.redeliver(2, 6)  # the posts of photos 1 and 5 again: 5 stays deleted, 1 counts once
    v.deliver(envelopes(TAGGED + [delete(5), delete(1)])[-1:])
    assert v.hashtags("su") == [("sunset", 1)]
    assert v.hashtags("s") == [("sand", 1), ("sea", 1), ("sunset", 1)]


@pytest.mark.parametrize("q", ["", " ", "#", "##", "#_", "___", "a b", "#a#b", "a-b", "😀",
                               "#😀", "s*", ".*", "s.*", "[a-z]", "(s)", "s|n", "\\s", "x" * 101,
                               "\x00", "s\x00"])
def test_what_is_no_tag_prefix_finds_no_hashtags(view: Callable[..., View], q: str) -> None:
    assert view(TAGGED).hashtags(q) == []


def test_hashtags_of_any_script(view: Callable[..., View]) -> None:
    v = view([user(0, "owner", "Owner"), photo(1, "#日本語", ["日本語"]),
              photo(2, "#Straße", ["strasse"]),  # case-folded, as the command side does
              photo(3, "#ünïcode_1", ["ünïcode_1"])])
    assert v.hashtags("日本") == [("日本語", 1)]
    assert v.hashtags("straß") == v.hashtags("#STRASSE") == [("strasse", 1)]
    assert v.hashtags("ÜNÏ") == [("ünïcode_1", 1)]
    assert v.photos("#ünïcode") == [P(3)] and v.photos("#日本") == [P(1)]


# --- paging and empty results ---------------------------------------------------------------


def test_pages_have_no_gaps_or_repeats(view: Callable[..., View]) -> None:
    v = view([user(n, f"pager_{n:02}", f"Page Person {n}") for n in range(25)]
             + [photo(n, f"paged #page number {n % 3}", ["page"]) for n in range(25)])
    for fetch in (v.users, v.photos):
        whole = fetch("page")
        assert len(whole) == len(set(whole)) == 25
        pages = [fetch("page", offset, 10) for offset in (0, 10, 20, 30)]
        assert [len(p) for p in pages] == [10, 10, 5, 0]
        assert list(itertools.chain(*pages)) == whole
    assert v.photos("#page") == [P(n) for n in reversed(range(25))]
    assert v.users("page") == [U(n) for n in range(25)]


def test_out_of_range_windows_are_safe(view: Callable[..., View]) -> None:
    v = view(PEOPLE + PHOTOS)
    assert v.users("ann", 10**30, 10) == [] and v.photos("sun", 10**30, 10) == []
    assert v.users("ann", -5, 10) == [U(2)] and v.photos("sea", -5, 10) == [P(2)]
    assert v.users("ann", 0, 0) == [] and v.photos("sea", 0, -1) == []
    assert v.users("ann", 0, 10**30) == [U(2)] and v.photos("sea", 0, 10**30) == [P(2)]


@pytest.mark.parametrize("q", ["", " ", "***", "#", "😀", "- + :", '"', "()", "\u200b", "#😀"])
def test_a_query_with_no_usable_term_finds_nothing(view: Callable[..., View], q: str) -> None:
    v = view(PEOPLE + PHOTOS)
    assert v.users(q) == [] and v.photos(q) == []


def test_an_empty_view_finds_nothing(view: Callable[..., View]) -> None:
    v = view([])
    assert v.users("ann") == [] and v.photos("sun") == [] and v.photos("#sun") == []
    assert v.hashtags("sun") == []


HOSTILE = [
    '"unclosed', 'sun" OR "x', "caption:sun", "{caption tags}: sun", "NEAR(sun beach)",
    "sun AND", "NOT sun", "*sun", "sun*", "^sun", "(sun", "a" + " AND a" * 150, "x" * 1000,
    "sun " * 250, "#sun " * 250, "\x00", "x\ud800y", "\U0010ffff", "日本語", "ß", "İstanbul",
    '{"query": {"match_all": {}}}', "\\", "/", "@@", "..",
    # One term of 1,000 words, and 32 terms of 20: more word clauses than OpenSearch takes.
    "a." * 1000, " ".join(f"w{n}." * 20 for n in range(32)),
]


@pytest.mark.parametrize("q", HOSTILE)
def test_hostile_queries_are_plain_text(view: Callable[..., View], q: str) -> None:
    v = view(PEOPLE + PHOTOS)
    for offset, limit in ((0, 0), (0, 1), (0, ALL), (5, 3)):
        assert isinstance(v.users(q, offset, limit), list)
        assert isinstance(v.photos(q, offset, limit), list)
    assert isinstance(v.hashtags(q), list)
    if q.strip(' "()*^') == "sun" or set(q.split()) == {"sun"}:
        assert set(v.photos(q)) == {P(1), P(2), P(5)}, "operators are text: the word is found"


# --- OpenSearch only: a rebuilt version goes live by switching the aliases ------------------


def test_a_rebuilt_version_goes_live_when_the_aliases_switch(opensearch_url: str) -> None:
    client = opensearch_client(opensearch_url)
    prefix = unique_prefix()
    live = SearchIndices.live(prefix)
    try:
        create_indices(client, prefix)
        old = View(Backend(opensearch_batch(client, live),
                           OpenSearchSearchQueries(client, prefix)),
                   [user(1, "ann", "Ann Old"), user(0, "owner", "Owner"), photo(1, "old one")])
        v2 = create_indices(client, prefix, version=2)
        assert create_indices(client, prefix, version=2) == v2   # an existing index is kept
        View(Backend(opensearch_batch(client, v2), old.backend.queries),
             [user(1, "ann", "Ann New"), user(0, "owner", "Owner"), photo(2, "new one")])
        assert old.users("old") == [U(1)] and old.photos("one") == [P(1)]  # not live yet

        switch_alias(client, live.users, v2.users)
        switch_alias(client, live.photos, v2.photos)
        assert old.users("old") == [] and old.users("new") == [U(1)]
        assert old.photos("one") == [P(2)]
        assert set(client.indices.get_alias(name=live.users)) == {v2.users}
        switch_alias(client, live.users, v2.users)                # switching again is a no-op
        assert set(client.indices.get_alias(name=live.users)) == {v2.users}

        old.deliver(envelopes([photo(3, "third one")]))           # live writes reach v2
        assert set(old.photos("one")) == {P(2), P(3)}
    finally:
        delete_indices(client, prefix)
        client.close()


def test_a_refreshing_store_makes_each_flush_searchable_at_once(opensearch_url: str) -> None:
    """What read-your-writes on search rests on in the cluster profile: the worker's store
    (refresh=True) returns from flush only once searches see the writes, with no
    `indices.refresh` of ours and a refresh interval far longer than the test."""
    client = opensearch_client(opensearch_url)
    prefix = unique_prefix()
    live = SearchIndices.live(prefix)
    try:
        created = create_indices(client, prefix)
        for index in (created.users, created.photos):
            client.indices.put_settings(index=index,
                                        body={"index": {"refresh_interval": "1h"}})

        @contextmanager
        def refreshing_batch() -> Iterator[SearchStore]:
            store = OpenSearchSearchStore(client, live, refresh=True)
            yield store
            store.flush()

        queries = OpenSearchSearchQueries(client, prefix)
        View(Backend(refreshing_batch, queries), [user(1, "zoe", "Zoe Emil"), photo(1, "sunset")])
        assert queries.users("zoe", 0, 10) == [U(1)]
        assert queries.photos("sunset", 0, 10) == [P(1)]
    finally:
        delete_indices(client, prefix)
        client.close()
