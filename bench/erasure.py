"""The footprint pass of an account deletion: the one pass over the whole log that finds
the aggregates naming the person (commands/erasure.py), as `DeleteAccount` runs it
(`PhotoShareCommands.log_naming`: only the events whose stored bytes hold the id are
decoded and opened) next to decoding every event (`iter_log`, what it did before), in the
same run, on the same event store, and checks that both find the same footprint.

Reads the event store of an embedded data dir seeded by `bench/timeline.py` or
`bench/readpath.py` (`--data-dir`; 20,000 users, 470,000 events by default there), for
the person with the most photos and for one with the fewest. No event is written.
Run: `.venv/bin/python bench/erasure.py --data-dir /tmp/readpath-20k`.
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from pathlib import Path

from photoshare.commands.erasure import Footprint
from photoshare.infra.roots.embedded import open_event_store
from photoshare.infra.settings import Settings


def people(event_store: Path) -> list[str]:
    """The owner of the most photos, and an owner of one."""
    db = sqlite3.connect(f"file:{event_store}?mode=ro", uri=True)
    try:
        owners = db.execute(
            "SELECT json_extract(state, '$.data.owner_id') AS owner, count(*) AS photos "
            "FROM stored_events WHERE topic LIKE '%:Photo.Started' "
            "GROUP BY owner ORDER BY photos DESC").fetchall()
    finally:
        db.close()
    if not owners:
        raise SystemExit(f"no photos in {event_store}: seed the data dir first")
    return [owners[0][0], owners[-1][0]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True,
                        help="a seeded embedded data dir (its events.sqlite3 is read)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    settings = Settings(data_dir=args.data_dir, secret_key="bench-" + "x" * 40)
    app = open_event_store(settings)
    try:
        events = app.recorder.max_notification_id() or 0
        print(f"{events:,} events in {settings.event_store_path}")
        for person in people(settings.event_store_path):
            before, now = [], []
            for _ in range(args.rounds):
                started = time.perf_counter()
                every = Footprint.of(person, app.iter_log(include_internal=True))
                before.append(time.perf_counter() - started)
                started = time.perf_counter()
                named = Footprint.of(person, app.log_naming(person))
                now.append(time.perf_counter() - started)
                assert dict(named.by_event_type) == dict(every.by_event_type)
                assert named.images == every.images
            b, a = min(before), min(now)
            found = sum(len(ids) for ids in named.by_event_type.values())
            print(f"person {person} ({found} aggregates): every event decoded {b:.2f} s "
                  f"({b / events * 1e6:.1f} µs an event), only those naming them {a:.2f} s "
                  f"({a / events * 1e6:.1f} µs); {b / a:.1f}x")
    finally:
        app.close()


if __name__ == "__main__":
    main()
