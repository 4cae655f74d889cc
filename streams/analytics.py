"""The event log for analysts and operators: read it in order (filtered), export and load
it back, follow it, trace one request through it, and measure each projection's lag.

A small Python API for notebooks (the `photoshare events ...` and `photoshare projections
status` commands are built on it):

    from photoshare.infra.settings import Settings
    from photoshare.streams.analytics import iter_events
    for event in iter_events(Settings(data_dir="data"), types=["PhotoPosted"]):
        ...

Everything here only reads: the event store is opened without creating tables and the
views database with `PRAGMA query_only`, both in WAL mode, so it works the same whether
`photoshare serve` runs or not, and never holds a write lock.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from photoshare.commands import PhotoShareCommands
from photoshare.events import Envelope, event_classes
from photoshare.events.codec import envelope_to_dict
from photoshare.infra.settings import Settings

# The envelope's fields, in order: the columns of a CSV export (`data` as a JSON string).
# (Not `sealed`: only envelopes published to Kafka carry it, never an export.)
ENVELOPE_FIELDS = tuple(field.name for field in dataclasses.fields(Envelope)
                        if field.name != "sealed")

# `events tail -f` polls the log at this interval, clamped to these bounds.
MIN_POLL_SECONDS, MAX_POLL_SECONDS = 0.05, 10.0


class LogNotFoundError(FileNotFoundError):
    """There is no event store in the data dir (`data_dir`; None in the cluster profile,
    whose log is in PostgreSQL)."""

    def __init__(self, message: str, data_dir: Path | None = None) -> None:
        super().__init__(message)
        self.data_dir = data_dir


# --- opening the stores for reading -----------------------------------------------------


@contextmanager
def open_log(settings: Settings) -> Iterator[PhotoShareCommands]:
    """The event store, for reading (never creates anything): the SQLite file in the
    data dir (embedded profile) or the PostgreSQL database (cluster profile)."""
    if settings.profile == "cluster":
        commands = _open_postgres_log(settings)
    else:
        path = settings.event_store_path
        if not path.is_file():
            raise LogNotFoundError(f"no event store at {path}", data_dir=settings.data_dir)
        from photoshare.infra.crypto.keystores import embedded_keys_exist, open_sealer

        # Sealed personal fields are opened with the key store in the same file (a store
        # written before crypto-shredding has none, and nothing sealed).
        commands = PhotoShareCommands(env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(path),
            "SQLITE_LOCK_TIMEOUT": "10",
            "CREATE_TABLE": "false",
        }, sealer=open_sealer(settings) if embedded_keys_exist(settings) else None)
    try:
        yield commands
    finally:
        commands.close()


def _open_postgres_log(settings: Settings) -> PhotoShareCommands:
    from urllib.parse import urlsplit

    from photoshare.infra.crypto.keystores import open_sealer
    from photoshare.infra.postgres.event_store import event_store_env

    env = {**event_store_env(settings.postgres_dsn, settings.postgres_schema),
           "CREATE_TABLE": "false", "POSTGRES_POOL_SIZE": "2", "POSTGRES_MAX_OVERFLOW": "0"}
    commands = None
    try:
        # Sealed personal fields are opened with the key table beside the events.
        commands = PhotoShareCommands(env=env, sealer=open_sealer(settings))
        commands.head_position()
    except Exception as error:  # noqa: BLE001 - no server, no database or no tables yet
        if commands is not None:
            commands.close()
        url = urlsplit(settings.postgres_dsn)
        where = f"{url.hostname}:{url.port or 5432}{url.path}"  # never the password
        raise LogNotFoundError(f"no event store at postgresql://{where} "
                               f"(PHOTOSHARE_POSTGRES_DSN): {type(error).__name__}") from None
    return commands


def cluster_progress(settings: Settings) -> dict[str, Any]:
    """The cluster profile's progress from positions only: what the relay published (in
    total and per Kafka partition) and what the workers applied per partition."""
    from photoshare.infra.postgres.relay_positions import RelayPositions
    from photoshare.infra.roots.view_stores import open_view_stores

    relay = RelayPositions(settings.postgres_dsn)
    try:
        stores = open_view_stores(settings)
        try:
            return progress_from(relay, stores)
        finally:
            stores.close()
    finally:
        relay.close()


def progress_from(relay: Any, stores: Any, versions: Any | None = None) -> dict[str, Any]:
    """`cluster_progress` through open connections: the relay's positions (a
    `RelayPositions`), the workers' checkpoints (a `ViewStores`) and, given `versions`
    (a `ViewVersions`), the views rebuilt beside their live version right now."""
    from photoshare.streams.partitioned import watermark

    published, partitions = relay.load()
    applied = stores.checkpoints()
    rows = [{"partition": name, "published": last, "applied": applied.get(name, 0),
             "lag_events": max(0, last - applied.get(name, 0))}
            for name, last in sorted(partitions.items())]
    progress = {"published": published,
                "position": watermark(published, partitions, applied),
                "view_stores": stores.kind, "partitions": rows}
    if versions is not None:
        progress["rebuilds"] = [
            {"view": row.view, "live": row.live, "building": row.building,
             "position": row.position, "switching": row.switching,
             "running": versions.running(row.view)}
            for row in versions.all() if row.building is not None]
    return progress


def projection_names(settings: Settings) -> list[str]:
    from photoshare.infra.sqlite.catalog import bindings

    return [binding.projection.name for binding in bindings(settings)]


def projection_positions(settings: Settings) -> dict[str, int]:
    """Each projection's last applied log position, from the views database (0 for a
    projection that has applied nothing, or when there are no views yet)."""
    names = projection_names(settings)
    if settings.profile == "cluster":
        # The workers apply every projection together, checkpointed per partition.
        position = cluster_progress(settings)["position"]
        return dict.fromkeys(names, position)
    stored: dict[str, int] = {}
    path = settings.views_path
    if path.is_file():
        with closing(sqlite3.connect(path, timeout=30)) as connection:
            connection.execute("PRAGMA query_only = ON")
            try:
                stored = dict(connection.execute(
                    "SELECT name, position FROM projection_positions").fetchall())
            except sqlite3.OperationalError:  # views not created yet
                stored = {}
    names += [name for name in sorted(stored) if name not in names]
    return {name: stored.get(name, 0) for name in names}


# --- filtering --------------------------------------------------------------------------


def parse_time(value: datetime | str | None) -> datetime | None:
    """An ISO-8601 time (or date) as an aware datetime; naive times are taken as UTC."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_types(types: Iterable[str] | str | None) -> frozenset[str] | None:
    """Event type names (a list, or one comma-separated string); unknown names are an error."""
    if types is None:
        return None
    names = [t.strip() for t in (types.split(",") if isinstance(types, str) else types)]
    wanted = frozenset(name for name in names if name)
    known = {cls.event_type() for cls in event_classes()}
    if unknown := sorted(wanted - known):
        raise ValueError(f"unknown event type(s): {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(known))}")
    return wanted or None


@dataclasses.dataclass(frozen=True)
class EventFilter:
    """Which events to keep: any of `types`, `since` <= occurred_at < `until`, one aggregate."""

    types: frozenset[str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    aggregate: str | None = None

    @classmethod
    def of(cls, types: Iterable[str] | str | None = None, since: datetime | str | None = None,
           until: datetime | str | None = None, aggregate: str | None = None) -> EventFilter:
        return cls(parse_types(types), parse_time(since), parse_time(until), aggregate or None)

    def matches(self, envelope: Envelope) -> bool:
        return ((self.types is None or envelope.event_type in self.types)
                and (self.since is None or envelope.occurred_at >= self.since)
                and (self.until is None or envelope.occurred_at < self.until)
                and (self.aggregate is None or envelope.aggregate_id == self.aggregate))


# --- reading ----------------------------------------------------------------------------


def iter_events(settings: Settings, *, types: Iterable[str] | str | None = None,
                since: datetime | str | None = None, until: datetime | str | None = None,
                aggregate: str | None = None, from_position: int = 0,
                include_internal: bool = False, batch: int = 1000) -> Iterator[dict[str, Any]]:
    """The log in order, as envelope dicts (ARCHITECTURE §4), data upcast to the current
    schema version. `from_position` is inclusive; `since` inclusive and `until` exclusive
    (on `occurred_at`); internal events (private facts) only when asked."""
    wanted = EventFilter.of(types, since, until, aggregate)  # bad filters fail here, early
    with open_log(settings):  # and so does a missing log: now, not at the first `next`
        pass
    return _iter_events(settings, wanted, max(from_position - 1, 0), include_internal, batch)


def _iter_events(settings: Settings, wanted: EventFilter, after: int, include_internal: bool,
                 batch: int) -> Iterator[dict[str, Any]]:
    with open_log(settings) as log:
        for envelope in log.iter_log(after, batch=batch, include_internal=include_internal):
            if wanted.matches(envelope):
                yield envelope_to_dict(envelope)


def last_events(settings: Settings, count: int, *,
                types: Iterable[str] | str | None = None) -> tuple[list[dict[str, Any]], int]:
    """The last `count` published events (of `types`), oldest first, and the log head they
    were read up to (to follow the log from there)."""
    wanted = EventFilter.of(types)
    with open_log(settings) as log:
        head = log.head_position()
        if count <= 0:
            return [], head
        window = max(count * 2, 100)
        while True:
            start = max(head - window, 0)
            found = [e for e in log.iter_log(start, include_internal=False)
                     if e.position <= head and wanted.matches(e)]
            if len(found) >= count or start == 0:
                return [envelope_to_dict(e) for e in found[-count:]], head
            window *= 4


def follow_events(settings: Settings, after: int, *, types: Iterable[str] | str | None = None,
                  poll_seconds: float = 1.0,
                  sleep: Callable[[float], None] | None = None) -> Iterator[dict[str, Any]]:
    """Every published event (of `types`) after position `after`, forever: polls the log
    every `poll_seconds` (clamped to 0.05-10 s). Stop by closing the iterator."""
    wanted = EventFilter.of(types)
    poll = min(max(poll_seconds, MIN_POLL_SECONDS), MAX_POLL_SECONDS)
    sleep = sleep or time.sleep
    with open_log(settings) as log:
        while True:
            envelopes, last = log.read_batch(after, 1000)
            for envelope in envelopes:
                if wanted.matches(envelope):
                    yield envelope_to_dict(envelope)
            if last == after:
                sleep(poll)
            after = last


def trace(settings: Settings, correlation_id: str) -> list[dict[str, Any]]:
    """Every published event the request `correlation_id` caused, in log order, each with
    the projections that have applied it (position >= the event's) and those that have not."""
    positions = projection_positions(settings)
    found = []
    for event in iter_events(settings):
        if event["correlation_id"] != correlation_id:
            continue
        found.append({
            "position": event["position"], "event_type": event["event_type"],
            "aggregate_id": event["aggregate_id"], "occurred_at": event["occurred_at"],
            "applied_by": [n for n, p in positions.items() if p >= event["position"]],
            "pending": [n for n, p in positions.items() if p < event["position"]],
        })
    return found


# --- projection lag ---------------------------------------------------------------------


def _occurred_at(log: PhotoShareCommands, position: int) -> datetime | None:
    """When the event at `position` (or the first one after it) happened."""
    envelopes, _ = log.read_batch(max(position - 1, 0), 1, include_internal=True)
    return envelopes[0].occurred_at if envelopes else None


def projection_status(settings: Settings) -> dict[str, Any]:
    """Each projection's position against the log head: lag in events, and in seconds
    (when the head event happened minus when the projection's last applied event did;
    0 when caught up)."""
    progress = cluster_progress(settings) if settings.profile == "cluster" else None
    positions = (dict.fromkeys(projection_names(settings), progress["position"])
                 if progress else projection_positions(settings))
    with open_log(settings) as log:
        return status_from(log, positions, progress)


def status_from(log: PhotoShareCommands, positions: dict[str, int],
                progress: dict[str, Any] | None) -> dict[str, Any]:
    """`projection_status` from an open log, the projections' positions and (cluster
    profile) `cluster_progress`."""
    head = log.head_position()
    head_time = _occurred_at(log, head) if head else None
    times: dict[int, datetime | None] = {}
    rows = []
    for name, position in positions.items():
        lag = max(head - position, 0)
        seconds = 0.0
        if lag and head_time is not None:
            if position not in times:
                times[position] = _occurred_at(log, max(position, 1))
            applied_time = times[position]
            if applied_time is not None:
                seconds = max((head_time - applied_time).total_seconds(), 0.0)
        rows.append({"name": name, "position": position, "lag_events": lag,
                     "lag_seconds": round(seconds, 3)})
    status: dict[str, Any] = {"head": head, "projections": rows,
                              "head_occurred_at": head_time.isoformat() if head_time else None}
    if progress:
        status["published"] = progress["published"]
        status["partitions"] = progress["partitions"]
        if "rebuilds" in progress:
            status["rebuilds"] = [{**row, "lag_events": max(head - row["position"], 0)}
                                  for row in progress["rebuilds"]]
    return status



def add_rates(current: dict[str, Any], previous: dict[str, Any] | None,
              elapsed: float) -> dict[str, Any]:
    """`current` with each projection's events/s since `previous` (None on the first)."""
    before = {row["name"]: row["position"] for row in (previous or {}).get("projections", [])}
    for row in current["projections"]:
        moved = row["position"] - before[row["name"]] if row["name"] in before else None
        row["events_per_second"] = (round(moved / elapsed, 1)
                                    if moved is not None and elapsed > 0 else None)
    return current


# --- export files -----------------------------------------------------------------------


def write_jsonl(events: Iterable[dict[str, Any]], out: IO[str]) -> int:
    """One compact JSON envelope per line (as `events.codec.encode_envelope`); the count."""
    count = 0
    for event in events:
        out.write(json.dumps(event, separators=(",", ":"), ensure_ascii=False) + "\n")
        count += 1
    return count


def write_csv(events: Iterable[dict[str, Any]], out: IO[str]) -> int:
    """A header of the envelope fields, then one row per event (`data` as a JSON string,
    no actor as an empty cell); the count."""
    writer = csv.DictWriter(out, fieldnames=ENVELOPE_FIELDS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for event in events:
        row = dict(event)
        row["data"] = json.dumps(event["data"], separators=(",", ":"), ensure_ascii=False)
        row["actor_id"] = event["actor_id"] or ""
        writer.writerow(row)
        count += 1
    return count


def read_export(path: Path | str, format: str | None = None) -> Iterator[dict[str, Any]]:
    """Read an export back as the envelope dicts `iter_events` yielded (`format` is
    `jsonl` or `csv`; by default, from the file name)."""
    path = Path(path)
    format = format or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    with path.open(encoding="utf-8", newline="") as file:
        if format == "jsonl":
            for line in file:
                if line.strip():
                    yield json.loads(line)
            return
        for row in csv.DictReader(file):
            yield {
                **row,
                "schema_version": int(row["schema_version"]),
                "aggregate_version": int(row["aggregate_version"]),
                "position": int(row["position"]),
                "actor_id": row["actor_id"] or None,
                "data": json.loads(row["data"]),
            }
