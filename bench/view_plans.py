"""Three SQLite view reads whose cost grew with data the 20,000-user bench graph does not
have (issue 14): a home-timeline page of a user who follows thousands of accounts, a
photo search while many accounts are private, and the blocks of a reader whom many
block. Each read the views do now (`SqliteTimelineQueries.home`'s page,
`SqliteSearchQueries.photos`' search, `SqliteControlQueries.of` and a page's
`Controls.learn`) is timed next to the read as it was before, in the same run, executed
and fetched alike: the page without naming the partial index of celebrity edges (the
planner took the primary key and read all the user's follows), the search with its
privacy rule spelled from the private owners (all of them read for each search), and the
reader's blockers read whole (every one of them, for each signed-in request).

The views are made in a temporary file with the stores' own schemas; rows go in by plain
INSERTs (the bench times reads, not the projections). Prints µs per query, medians of
`--rounds`, and the ratio. Run: `.venv/bin/python bench/view_plans.py [--follows 5000]
[--private 100000] [--blockers 100000]`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from photoshare.infra.sqlite import controls, search, timelines
from photoshare.infra.sqlite.viewdb import ViewDatabase

VIEWER = "viewer"


def timed(run: Callable[[], Any], repeat: int) -> float:
    run()
    started = time.perf_counter()
    for _ in range(repeat):
        run()
    return (time.perf_counter() - started) / repeat * 1e6


def seed_timeline(db: ViewDatabase, follows: int) -> None:
    """The viewer follows `follows` accounts, one in 500 a celebrity; every tenth posts
    three photos; the viewer's materialized timeline holds 800 rows; 200 other users
    follow a seventh of the same accounts."""
    with db.transaction() as c:
        c.executemany("INSERT INTO tl_follows VALUES (?, ?, ?)",
                      [(VIEWER, f"f{i:06d}", int(i % 500 == 0)) for i in range(follows)])
        c.executemany("INSERT INTO tl_follows VALUES (?, ?, ?)",
                      [(f"other{j}", f"f{i:06d}", 0) for j in range(200)
                       for i in range(0, follows, 7)])
        posts = [(f"f{i:06d}", 1 + n, f"p{n}") for n, i in
                 enumerate(i for i in range(0, follows, 10) for _ in range(3))]
        c.executemany("INSERT INTO tl_posts VALUES (?, ?, ?)", posts)
        c.executemany("INSERT INTO timeline VALUES (?, ?, ?, ?)",
                      [(VIEWER, position, photo, owner)
                       for owner, position, photo in posts[-800:]])


def seed_search(db: ViewDatabase, private: int) -> None:
    """20,000 photos by 20,000 owners, one in 20 captioned "sunset"; `private` private
    accounts with no photos, and one photo owner in 40 private too."""
    with db.transaction() as c:
        c.executemany("INSERT INTO search_photos (photo_id, owner_id, position) VALUES "
                      "(?, ?, ?)", [(f"p{i}", f"o{i}", i + 1) for i in range(20_000)])
        c.executemany("INSERT INTO search_photos_fts (rowid, caption, tags) VALUES (?, ?, ?)",
                      [(i + 1, "sunset beach" if i % 20 == 0 else "city", "")
                       for i in range(20_000)])
        c.executemany("INSERT INTO search_owners VALUES (?, 1, 1)",
                      [(f"x{i}",) for i in range(private)]
                      + [(f"o{i}",) for i in range(0, 20_000, 40)])


def seed_blocks(db: ViewDatabase, blockers: int) -> None:
    """`blockers` accounts block the viewer; the viewer blocks 50 and mutes 50."""
    with db.transaction() as c:
        c.executemany("INSERT INTO people_controls VALUES ('block', ?, ?, 1, ?)",
                      [(f"b{i:06d}", VIEWER, i + 1) for i in range(blockers)])
        c.executemany("INSERT INTO people_controls VALUES (?, ?, ?, 1, ?)",
                      [(kind, VIEWER, f"{kind}{i}", i + 1) for kind in ("block", "mute")
                       for i in range(50)])


def controls_before(reader: Any) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """`SqliteControlQueries.of` as it was: the blockers read whole."""
    mine: dict[str, set[str]] = {"block": set(), "mute": set()}
    for row in reader.execute(
            "SELECT kind, other_id FROM people_controls WHERE user_id = ? AND kind IN "
            "('block', 'mute') AND active = 1", (VIEWER,)):
        mine[row[0]].add(row[1])
    blockers = {row[0] for row in reader.execute(
        "SELECT user_id FROM people_controls WHERE other_id = ? AND kind = 'block' "
        "AND active = 1", (VIEWER,))}
    return frozenset(mine["block"]), frozenset(blockers), frozenset(mine["mute"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--follows", type=int, default=5000,
                        help="accounts the timeline's viewer follows")
    parser.add_argument("--private", type=int, default=100_000,
                        help="private accounts besides the photos' owners")
    parser.add_argument("--blockers", type=int, default=100_000,
                        help="accounts that block the reader")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=200, help="queries per round")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="photoshare-bench-") as tmp:
        db = ViewDatabase(Path(tmp) / "views.sqlite3",
                          [timelines.SCHEMA, search.SCHEMA, controls.SCHEMA])
        seed_timeline(db, args.follows)
        seed_search(db, args.private)
        seed_blocks(db, args.blockers)
        reader = db.reader()
        home = timelines.SqliteTimelineQueries(reader, cap=800)
        planner_page = timelines._MERGED_PAGE.replace(f" {timelines._CELEBRITY_EDGES}", "")
        page_params = {"user": VIEWER, "before": timelines._NO_LIMIT, "n": 20, "cap": 800}
        photos = search.SqliteSearchQueries(reader)
        match = search.photos_match("sunset")
        def photo_search(rule: str) -> str:
            return ("SELECT p.photo_id FROM search_photos_fts f "
                    "JOIN search_photos p ON p.position = f.rowid "
                    f"WHERE search_photos_fts MATCH ? AND p.deleted = 0 AND NOT ({rule}) "
                    f"ORDER BY bm25(search_photos_fts, {search._PHOTO_WEIGHTS}), "
                    "p.position DESC, p.photo_id LIMIT 21 OFFSET 0")

        old_search = photo_search(search._HIDDEN_FROM_AUDIENCE)
        new_search = photo_search(search._MATCH_HIDDEN_FROM_AUDIENCE)
        # The statements timed answer as the views' queries do.
        assert [(e.photo_id, e.owner_id, e.position) for e in home.home(VIEWER, None, 20)] \
            == [tuple(row) for row in reader.execute(planner_page, page_params)] \
            == [tuple(row) for row in reader.execute(timelines._MERGED_PAGE, page_params)]
        assert photos.photos("sunset", 0, 21) \
            == [row[0] for row in reader.execute(old_search, (match, "[]"))] \
            == [row[0] for row in reader.execute(new_search, (match, "[]"))]
        blocks = controls.SqliteControlQueries(reader)
        # A page's 20 people: two of them block the viewer, one the viewer blocks.
        people = [f"b{args.blockers - 1:06d}", "b000007", "block3",
                  *(f"friend{i}" for i in range(17))]

        def page_check_before() -> list[bool]:
            blocking, blocked_by, _ = controls_before(reader)
            hidden = blocking | blocked_by
            return [who in hidden for who in people]

        def page_check_now() -> list[bool]:
            mine = blocks.of(VIEWER)
            mine.learn(people)
            return [mine.hides(who) for who in people]

        assert page_check_before() == page_check_now() == [True] * 3 + [False] * 17
        cases = [
            (f"timeline page, viewer following {args.follows:,}",
             lambda: reader.execute(planner_page, page_params).fetchall(),
             lambda: reader.execute(timelines._MERGED_PAGE, page_params).fetchall()),
            (f"photo search, {args.private:,} private accounts",
             lambda: reader.execute(old_search, (match, "[]")).fetchall(),
             lambda: reader.execute(new_search, (match, "[]")).fetchall()),
            (f"a reader's blocks and one page's check, {args.blockers:,} blockers",
             page_check_before, page_check_now),
        ]
        print(f"µs per query, median of {args.rounds} rounds of {args.repeat}")
        for name, before, after in cases:
            was, now = [], []
            for _ in range(args.rounds):
                was.append(timed(before, args.repeat))
                now.append(timed(after, args.repeat))
            b, a = statistics.median(was), statistics.median(now)
            print(f"{name}: as planned before {b:,.0f}, now {a:,.0f} (before / now {b / a:.2f})")
        db.close()


if __name__ == "__main__":
    main()
