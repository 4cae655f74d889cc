"""The search view: SearchProjection through the real ProjectionRunner into the real SQLite
FTS5 store, queried through its read port.

Covers prefix matching on usernames and names, accent folding, hashtags versus caption
words, AND, ranking, re-indexing on rename, deletion, hostile queries, paging, and
convergence under duplicate delivery (a Hypothesis property over random valid histories).
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from photoshare.events import (
    Envelope,
    Event,
    PhotoDeleted,
    PhotoPosted,
    ProfileUpdated,
    UserRegistered,
    event_from_data,
)
from photoshare.infra.settings import Settings
from photoshare.infra.sqlite import search
from photoshare.infra.sqlite.viewdb import ViewDatabase
from photoshare.projections.search import (
    SearchProjection,
    SearchQueries,
    Tag,
    Word,
    parse_query,
    parse_tag_prefix,
)
from photoshare.streams.runner import ProjectionRunner
from support.histories import ListLog, envelopes, histories, uid

SETTINGS = Settings()
ALL = 1000


# --- building histories -------------------------------------------------------------------


def user(n: object, username: str, display_name: str) -> tuple[Event, str]:
    return UserRegistered(user_id=uid("user", n), username=username,
                          display_name=display_name), uid("user", n)


def rename(n: object, display_name: str) -> tuple[Event, str]:
    return ProfileUpdated(user_id=uid("user", n), display_name=display_name, bio="",
                          location="", age=None), uid("user", n)


def photo(n: object, caption: str, hashtags: list[str] | None = None,
          owner: object = 0) -> tuple[Event, str]:
    return PhotoPosted(photo_id=uid("photo", n), owner_id=uid("user", owner), caption=caption,
                       hashtags=hashtags or [], original_key="o.jpg", format="jpeg", width=1,
                       height=1, variants={"large": "l.jpg"}), uid("user", owner)


def delete(n: object, owner: object = 0) -> tuple[Event, str]:
    return PhotoDeleted(photo_id=uid("photo", n), owner_id=uid("user", owner)), uid("user", owner)


def open_views(directory: Path) -> ViewDatabase:
    return ViewDatabase(directory / "views.sqlite3", [search.SCHEMA])


def run(views: ViewDatabase, items: list[Envelope], batch_size: int = 500) -> None:
    ProjectionRunner(ListLog(items), views, [search.binding(SETTINGS)],
                     batch_size=batch_size).catch_up()


class View:
    """A search view built from a history, with short names for its answers."""

    def __init__(self, views: ViewDatabase, history: list[tuple[Event, str]]) -> None:
        self.views = views
        self.items = envelopes(history)
        run(views, self.items)

    @property
    def q(self) -> SearchQueries:
        return search.queries(self.views.reader(), SETTINGS)

    def users(self, q: str, offset: int = 0, limit: int = ALL) -> list[str]:
        return self.q.users(q, offset, limit)

    def photos(self, q: str, offset: int = 0, limit: int = ALL) -> list[str]:
        return self.q.photos(q, offset, limit)

    def redeliver(self, *positions: int) -> None:
        """Apply already-applied events again, bypassing the runner's position check (what
        an at-least-once consumer without it would do)."""
        with self.views.transaction() as connection:
            store = search.SqliteSearchStore(connection)
            for envelope in self.items:
                if envelope.position in positions:
                    event = event_from_data(envelope.event_type, envelope.schema_version,
                                            envelope.data)
                    SearchProjection().apply(event, envelope, store)


@pytest.fixture
def view(tmp_path: Path) -> Iterator[Callable[[list[tuple[Event, str]]], View]]:
    opened: list[ViewDatabase] = []

    def build(history: list[tuple[Event, str]]) -> View:
        views = open_views(tmp_path / str(len(opened)))
        opened.append(views)
        return View(views, history)

    yield build
    for views in opened:
        views.close()


def U(n: object) -> str:  # noqa: N802 - reads like the ids in the assertions
    return uid("user", n)


def P(n: object) -> str:  # noqa: N802
    return uid("photo", n)


# --- users ----------------------------------------------------------------------------------

PEOPLE = [
    user(1, "cy_d", "Cyrus Dee"),
    user(2, "ann.lee", "Ann Lee"),
    user(3, "zoe_k", "Zoë Kravitz"),
    user(4, "bob", "Robert Café"),
    user(5, "jose", "José Núñez"),
]


@pytest.mark.parametrize(("q", "expected"), [
    ("cy", [1]), ("cy_", [1]), ("cy_d", [1]), ("CY_D", [1]), ("cy.d", [1]), ("cyd", [1]),
    ("cyr", [1]), ("dee", [1]),
    ("ann", [2]), ("ann.", [2]), ("ann.l", [2]), ("annl", [2]), ("lee", [2]), ("Le", [2]),
    ("kra", [3]), ("zo", [3]),
    ("rob", [4]), ("bo", [4]),
    ("nun", [5]), ("jos", [5]),
    ("xyz", []), ("yrus", []), ("ravitz", []),
])
def test_users_prefix_match_username_and_each_name(view: Callable[..., View], q: str,
                                                   expected: list[int]) -> None:
    assert view(PEOPLE).users(q) == [U(n) for n in expected]


@pytest.mark.parametrize(("q", "expected"), [
    ("zoe", [3]), ("ZOE", [3]), ("zoë", [3]), ("Zoë", [3]),
    ("cafe", [4]), ("café", [4]), ("CAFÉ", [4]), ("caf", [4]),
    ("nunez", [5]), ("núñez", [5]), ("jose", [5]), ("JOSÉ", [5]),
    ("ｊｏｓｅ", [5]),   # full-width letters
    ("Jose\u0301", [5]),  # a combining accent
])
def test_users_accents_and_case_are_folded(view: Callable[..., View], q: str,
                                           expected: list[int]) -> None:
    assert view(PEOPLE).users(q) == [U(n) for n in expected]


def test_accent_folding_works_both_ways(view: Callable[..., View]) -> None:
    v = view([user(1, "plain", "Zoe Cafe"), user(2, "fancy", "Zoë Café")])
    assert set(v.users("zoe")) == set(v.users("zoë")) == {U(1), U(2)}
    assert set(v.users("café")) == {U(1), U(2)}


def test_user_terms_are_anded(view: Callable[..., View]) -> None:
    v = view(PEOPLE + [user(6, "ann_other", "Ann Other")])
    assert set(v.users("ann")) == {U(2), U(6)}
    assert v.users("ann lee") == [U(2)]
    assert v.users("lee ann") == [U(2)]
    assert v.users("ann oth") == [U(6)]
    assert v.users("ann kravitz") == []


def test_exact_username_comes_first(view: Callable[..., View]) -> None:
    v = view([user(1, "anna", "Anna Ann Annabel"), user(2, "annie", "Ann Annie"),
              user(3, "ann", "Zed Quux"), user(4, "ann_b", "Ann B")])
    assert v.users("ann")[0] == U(3)
    assert v.users("ANN")[0] == U(3)
    assert v.users("@ann")[0] == U(3)
    assert set(v.users("ann")) == {U(1), U(2), U(3), U(4)}


def test_equal_matches_are_ordered_by_username(view: Callable[..., View]) -> None:
    v = view([user(n, f"same{n}", "Same Name") for n in (3, 1, 2)])
    assert v.users("name") == [U(1), U(2), U(3)]
    assert v.users("name") == v.users("name")


def test_a_rename_reindexes_the_display_name(view: Callable[..., View]) -> None:
    v = view([user(1, "ann", "Ann Old"), user(2, "bob", "Bob Old"), rename(1, "Zoë New")])
    assert v.users("old") == [U(2)]
    assert v.users("zoe") == [U(1)]
    assert v.users("new") == [U(1)]
    assert v.users("ann") == [U(1)]  # the username stays


def test_a_rename_of_an_unknown_user_is_ignored(view: Callable[..., View]) -> None:
    v = view([user(1, "ann", "Ann"), rename(9, "Ghost")])
    assert v.users("ghost") == []
    assert v.users("ann") == [U(1)]


def test_redelivered_user_events_change_nothing(view: Callable[..., View]) -> None:
    v = view([user(1, "ann", "Ann Old"), rename(1, "Ann New")])
    before = v.views.dump()
    v.redeliver(1)        # the registration again, after the rename
    v.redeliver(2, 2)
    assert v.views.dump() == before
    assert v.users("new") == [U(1)] and v.users("old") == []


# --- photos ---------------------------------------------------------------------------------

PHOTOS = [
    user(0, "owner", "Owner"),
    photo(1, "Sunny day at the beach #sun", ["sun"]),
    photo(2, "sun on the sea"),
    photo(3, "Evening #sunset", ["sunset"]),
    photo(4, "Café crème #Nuit", ["nuit"]),
    photo(5, "Ice cream #crème_brûlée #SUN", ["crème_brûlée", "sun"]),
]


@pytest.mark.parametrize(("q", "expected"), [
    # The last (here: only) #tag of a query is a prefix of a tag: what is being typed.
    ("#sun", {1, 3, 5}), ("#SUN", {1, 3, 5}), ("#Sun", {1, 3, 5}),
    ("sun", {1, 2, 5}),            # the caption word (a hashtag is a word of its caption too)
    ("#sunset", {3}), ("sunset", {3}), ("#suns", {3}), ("#su", {1, 3, 5}), ("su", set()),
    ("#sunsets", set()), ("#sea", set()), ("sea", {2}),
    ("cafe", {4}), ("CAFÉ", {4}), ("creme", {4, 5}), ("crème", {4, 5}), ("#nuit", {4}),
    ("#NUIT", {4}), ("nuit", {4}), ("#nu", {4}),
    ("#crème_brûlée", {5}), ("#CRÈME_BRÛLÉE", {5}), ("#creme_brulee", set()),
    ("#crème", {5}), ("#creme", set()), ("beach", {1}), ("beaches", set()),
])
def test_photos_match_caption_words_and_hashtags(view: Callable[..., View], q: str,
                                                 expected: set[int]) -> None:
    assert set(view(PHOTOS).photos(q)) == {P(n) for n in expected}


@pytest.mark.parametrize(("q", "expected"), [
    ("sun beach", {1}), ("beach sun", {1}), ("#sun beach", {1}), ("#sun #crème_brûlée", {5}),
    ("#sun ice", {5}), ("#sun sea", set()), ("sun #sunset", set()), ("cafe creme #nuit", {4}),
    ("sun sun", {1, 2, 5}), ("#sun #su", {1, 5}), ("#su #sun", set()), ("#sun #crè", {5}),
])
def test_photo_terms_are_anded(view: Callable[..., View], q: str, expected: set[int]) -> None:
    assert set(view(PHOTOS).photos(q)) == {P(n) for n in expected}


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
    assert v.photos("dog") == [P(3), P(2), P(1)]
    assert v.photos("#pet") == [P(3), P(2), P(1)]


def test_a_deleted_photo_is_not_found(view: Callable[..., View]) -> None:
    v = view(PHOTOS + [delete(1)])
    assert set(v.photos("#sun")) == {P(3), P(5)}  # "sun" and "sunset"
    assert v.photos("beach") == []
    assert [(t.tag, t.photos) for t in v.q.hashtags("su", ALL)] == [("sun", 1), ("sunset", 1)]


def test_a_photo_redelivered_after_its_deletion_stays_deleted(view: Callable[..., View]) -> None:
    v = view(PHOTOS + [delete(1)])
    before = v.views.dump()
    v.redeliver(2)                      # PhotoPosted of photo 1 again
    v.redeliver(len(PHOTOS) + 1)        # and its deletion again
    assert v.views.dump() == before
    assert v.photos("beach") == []


def test_a_deletion_before_the_post_still_wins(view: Callable[..., View]) -> None:
    v = view([user(0, "owner", "Owner"), delete(1), photo(1, "beach")])
    assert v.photos("beach") == []


# --- the last #tag is a prefix; the type-ahead's prefixes -------------------------------------


@pytest.mark.parametrize(("q", "terms"), [
    ("#bea", (Tag("bea", prefix=True),)),
    ("#Sun #BEA", (Tag("sun"), Tag("bea", prefix=True))),
    ("#sun beach", (Tag("sun", prefix=True), Word(("beach",)))),
    ("#a#b c #d", (Tag("a"), Tag("b"), Word(("c",)), Tag("d", prefix=True))),
    ("#sun #sun", (Tag("sun", prefix=True),)),
    ("sun #", (Word(("sun",)),)),
])
def test_the_last_tag_of_a_photo_query_is_a_prefix(q: str, terms: tuple[object, ...]) -> None:
    assert parse_query(q, tags=True).terms == terms


def test_a_user_query_has_no_tags() -> None:
    assert parse_query("#bea", tags=False).terms == (Word(("bea",)),)


@pytest.mark.parametrize(("q", "prefix"), [
    ("bea", "bea"), ("#bea", "bea"), ("  #BEA ", "bea"), ("Crème_", "crème_"),
    ("straß", "strass"), ("日本", "日本"), ("a" * 100, "a" * 100), ("#" + "a" * 100, "a" * 100),
    ("", None), ("#", None), ("##a", None), ("a b", None), ("#a#b", None), ("a-b", None),
    ("___", None), ("😀", None), ("a*", None), ("a" * 101, None), ("a\x00", None),
])
def test_a_tag_prefix_is_letters_digits_and_underscores(q: str, prefix: str | None) -> None:
    assert parse_tag_prefix(q) == prefix


# --- hostile input ----------------------------------------------------------------------------

HOSTILE = [
    "", " ", "\t\n", '"', '""', '"""', '"unclosed', 'a"b', 'sun" OR "x', '" OR 1=1 --',
    "*", "**", "sun*", "*sun", "-", "-sun", "--", "+", "^sun", ":", "sun:", "caption:sun",
    "caption : sun", "tags : x", "{caption tags}: sun", "{", "}", "(", ")", "(sun", "sun)",
    "()", "NEAR", "NEAR(sun beach)", "NEAR(sun beach, 2)", "AND", "OR", "NOT", "sun AND",
    "AND sun", "sun OR", "NOT sun", "sun NOT beach", "and or not", "#", "##", "#\"", "#*",
    "#-", "#(", "# sun", "#_", "#___", "#😀", "😀", "👍🏽 sun", "🏳️‍🌈", "\x00", "sun\x00beach",
    "\u200b", "\u200bsun", "\u0301", "\ufeff", "\ufffd", "ǅ", "Ⅻ", "𝔰𝔲𝔫", "ｓｕｎ", "١٢٣",
    "שלום", "مرحبا", "日本語", "한국어", "ไทย", "Ελληνικά", "ß", "İstanbul", "ﬁ", "'", "''",
    "'; DROP TABLE search_users; --", "%", "_", "\\", "\\\"", "/", "@", "@@", ".", "..",
    "x" * 1000, "sun " * 250, "#sun " * 250, '"' * 1000, "(" * 1000, "a" + " AND a" * 150,
    "🙂" * 1000, "é" * 1000, "\U0010ffff", "\ue000", "x\ud800y",
]


@pytest.mark.parametrize("q", HOSTILE)
def test_hostile_queries_never_raise(view: Callable[..., View], q: str) -> None:
    v = view(PEOPLE + PHOTOS)
    for limit in (0, 1, ALL):
        assert isinstance(v.users(q, 0, limit), list)
        assert isinstance(v.photos(q, 0, limit), list)
    assert isinstance(v.users(q, 5, 3), list) and isinstance(v.photos(q, 5, 3), list)


@pytest.mark.parametrize("q", ["", " ", "***", "#", "😀", "- + :", '"', "()", "\u200b", "#😀"])
def test_a_query_with_no_usable_term_finds_nothing(view: Callable[..., View], q: str) -> None:
    v = view(PEOPLE + PHOTOS)
    assert parse_query(q, tags=True).terms == ()
    assert v.users(q) == [] and v.photos(q) == []


@pytest.mark.parametrize(("q", "users", "photos"), [
    ('"sun"', [], {1, 2, 5}), ("(sun)", [], {1, 2, 5}), ("-sun", [], {1, 2, 5}),
    ("sun*", [], {1, 2, 5}), ("NOT sun", [], set()), ("sun OR beach", [], set()),
    ("ｓｕｎ", [], {1, 2, 5}), ("𝔰𝔲𝔫", [], {1, 2, 5}), ("#SUN!", [], {1, 3, 5}),
    ('"ann"', [2], set()), ("ann*", [2], set()), ("(ann", [2], set()), ("@zoe_k", [3], set()),
])
def test_operators_are_plain_text(view: Callable[..., View], q: str, users: list[int],
                                  photos: set[int]) -> None:
    """FTS5 operators in a query are words or punctuation, never syntax."""
    v = view(PEOPLE + PHOTOS)
    assert v.users(q) == [U(n) for n in users]
    assert set(v.photos(q)) == {P(n) for n in photos}


# --- paging -----------------------------------------------------------------------------------


def test_paging_users_and_photos_has_no_gaps_or_repeats(view: Callable[..., View]) -> None:
    v = view([user(n, f"pager_{n:02}", f"Page Person {n}") for n in range(25)]
             + [photo(n, f"paged #page number {n % 3}", ["page"]) for n in range(25)])
    for fetch in (v.users, v.photos):
        whole = fetch("page")
        assert len(whole) == len(set(whole)) == 25
        pages = [fetch("page", offset, 10) for offset in (0, 10, 20, 30)]
        assert [len(p) for p in pages] == [10, 10, 5, 0]
        assert list(itertools.chain(*pages)) == whole
    # Equally relevant: newest first, and by username.
    assert v.photos("#page") == [P(n) for n in reversed(range(25))]
    assert v.users("page") == [U(n) for n in range(25)]


def test_out_of_range_windows_are_safe(view: Callable[..., View]) -> None:
    v = view(PEOPLE)
    assert v.users("ann", 10**30, 10) == []
    assert v.users("ann", -5, 10) == [U(2)]
    assert v.users("ann", 0, -1) == []
    assert v.users("ann", 0, 10**30) == [U(2)]


# --- convergence under duplicate delivery ---------------------------------------------------

USER_QUERIES = ["ann", "bob", "cy", "dee", "eli", "zoe", "zoë", "plain", "other", "unicode",
                "ünïcode", "u", "a", "ann other", "3"]
PHOTO_QUERIES = ["sun", "#sun", "beach", "#beach", "cafe", "café", "crème", "#nuit", "nuit",
                 "night", "dog", "sun beach", "#sun #beach", "#nuit night", "#s", "#be", "#n"]
TAG_PREFIXES = ["s", "su", "#b", "bea", "n", "x"]


def answers(views: ViewDatabase) -> dict[str, Any]:
    q = search.queries(views.reader(), SETTINGS)
    return {"users": [q.users(text, 0, ALL) for text in USER_QUERIES],
            "photos": [q.photos(text, 0, ALL) for text in PHOTO_QUERIES],
            "hashtags": [q.hashtags(text, ALL) for text in TAG_PREFIXES],
            "paged": [q.users("a", offset, 2) for offset in range(0, 8, 2)]}


def at_least_once(views: ViewDatabase, items: list[Envelope], cuts: list[tuple[int, int]]
                  ) -> None:
    """Deliver like a consumer that restarts from an older checkpoint: windows of the log
    that overlap, each in its own transaction, with no position check."""
    projection = SearchProjection()
    for start, end in cuts:
        with views.transaction() as connection:
            store = search.SqliteSearchStore(connection)
            for envelope in items[start:end]:
                event = event_from_data(envelope.event_type, envelope.schema_version,
                                        envelope.data)
                projection.apply(event, envelope, store)


@st.composite
def overlapping_windows(draw: st.DrawFn, n: int) -> list[tuple[int, int]]:
    """Windows [start, end) covering 0..n in order, each starting at or before the previous
    end (so some events come twice or more)."""
    windows, done = [], 0
    while done < n:
        start = draw(st.integers(max(0, done - 5), done))
        end = draw(st.integers(done + 1, min(n, done + 8)))
        windows.append((start, end))
        done = end
    return windows


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(history=histories(), data=st.data())
def test_duplicate_delivery_converges_to_one_clean_pass(history: list[tuple[Event, str]],
                                                        data: st.DataObject) -> None:
    items = envelopes(history)
    directory = Path(tempfile.mkdtemp(prefix="photoshare-search-"))
    opened: list[ViewDatabase] = []
    try:
        clean = open_views(directory / "clean")
        opened.append(clean)
        run(clean, items)
        expected_dump, expected_answers = clean.dump(), answers(clean)

        # 1. The real runner fed every envelope twice in a row, in small batches (a batch
        #    applies both copies: the runner only skips what an earlier batch applied).
        doubled = [e for e in items for _ in range(2)]
        twice = open_views(directory / "twice")
        opened.append(twice)
        run(twice, doubled, batch_size=data.draw(st.integers(1, 7), label="batch"))
        # ... and the same log again from the start, by a runner that has forgotten nothing.
        run(twice, items)

        # 2. Overlapping redelivery without any position check.
        replayed = open_views(directory / "replayed")
        opened.append(replayed)
        at_least_once(replayed, items,
                      data.draw(overlapping_windows(len(items)), label="windows"))

        for views in (twice, replayed):
            assert views.dump() == expected_dump
            assert answers(views) == expected_answers
    finally:
        for views in opened:
            views.close()
        shutil.rmtree(directory, ignore_errors=True)


def test_photo_search_reads_each_matchs_owner_flag_by_its_key(tmp_path: Path) -> None:
    """Whether a matched photo's owner is private is one primary-key probe of that
    owner's row, never a read of every private owner's row for each search (with many
    private accounts that read was most of a search's time)."""
    db = ViewDatabase(tmp_path / "views.sqlite3", [search.SCHEMA])
    reader = db.reader()
    statements: list[str] = []
    reader.set_trace_callback(statements.append)
    try:
        search.queries(reader, Settings(data_dir=tmp_path)).photos("sunset", 0, 20)
    finally:
        reader.set_trace_callback(None)
    [query] = [sql for sql in statements if "search_photos_fts MATCH" in sql]
    plan = [row[-1] for row in reader.execute("EXPLAIN QUERY PLAN " + query)]
    assert not [line for line in plan if line.startswith("SCAN search_owners")], plan
    assert [line for line in plan if line.startswith("SEARCH o USING PRIMARY KEY")], plan
    db.close()
