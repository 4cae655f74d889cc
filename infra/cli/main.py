"""The `photoshare` command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from photoshare.infra.cli.options import OPTIONS, SERVER, command
from photoshare.infra.settings import Settings


# Requests still running when the server is told to stop (an upload on a slow link) get
# this long; live streams end at once (infra/http/serving.py).
GRACEFUL_STOP_SECONDS = 5.0


def _serve(args: argparse.Namespace) -> int:
    from photoshare.infra.http.serving import run_api
    from photoshare.infra.logs import configure_logging
    from photoshare.infra.roots.embedded import create_embedded_app

    overrides = {name: getattr(args, name)
                 for name in ("host", "port", "data_dir", "log_level", "log_format")
                 if getattr(args, name) is not None}
    settings = Settings(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    app = create_embedded_app(settings)
    started = run_api(app, host=settings.host, port=settings.port, name="photoshare",
                      graceful_seconds=GRACEFUL_STOP_SECONDS,
                      proxy_headers=bool(settings.forwarded_allow_ips),  # trust no one unless listed
                      forwarded_allow_ips=settings.forwarded_allow_ips)
    return 0 if started else 3


def _events_schema(args: argparse.Namespace) -> int:
    from photoshare.events.schema import published_schema

    text = json.dumps(published_schema(), indent=2, ensure_ascii=False) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _settings(args: argparse.Namespace) -> Settings:
    """The settings `serve` would use (PHOTOSHARE_* variables), with --data-dir applied."""
    return Settings(data_dir=args.data_dir) if args.data_dir is not None else Settings()


def _fail(message: str) -> int:
    sys.stderr.write(f"photoshare: {message}\n")
    return 2


def _failure(error: Exception) -> int:
    """`_fail` with the error's words, and where a data dir has no event store, how to
    name the server's (it is ./data only when `serve` was started without --data-dir)."""
    message = str(error)
    data_dir = getattr(error, "data_dir", None)
    if data_dir is not None:
        message += (f" (in {Path(data_dir).resolve()}). Is the server's data dir elsewhere "
                    "(`make run ARGS=\"--data-dir DIR\"`, `photoshare serve --data-dir DIR`)? "
                    "Pass --data-dir DIR or set PHOTOSHARE_DATA_DIR=DIR.")
    return _fail(message)


def _events_export(args: argparse.Namespace) -> int:
    from photoshare.streams.analytics import iter_events, write_csv, write_jsonl

    try:
        events = iter_events(_settings(args), types=args.types, since=args.since,
                             until=args.until, aggregate=args.aggregate,
                             from_position=args.from_position)
        write = write_csv if args.format == "csv" else write_jsonl
        if args.output:
            with open(args.output, "w", encoding="utf-8", newline="") as out:
                count = write(events, out)
            sys.stderr.write(f"exported {count} events to {args.output}\n")
        else:
            write(events, sys.stdout)
    except (ValueError, FileNotFoundError) as error:
        return _failure(error)
    return 0


def _events_seal_legacy(args: argparse.Namespace) -> int:
    from photoshare.infra.crypto.legacy import run_seal_legacy

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s",
                        stream=sys.stderr)
    try:
        report = run_seal_legacy(_settings(args), user_id=args.user, dry_run=args.dry_run)
    except (ValueError, FileNotFoundError) as error:
        return _failure(error)
    verb = "would rewrite" if args.dry_run else "rewrote"
    sys.stdout.write(f"scanned {report.scanned} events; {verb} {report.sealed} as sealed "
                     f"and {report.redacted} as redacted (accounts deleted)\n")
    return 0


def _events_tail(args: argparse.Namespace) -> int:
    from photoshare.streams.analytics import follow_events, last_events, write_jsonl

    settings = _settings(args)
    try:
        events, head = last_events(settings, args.lines, types=args.types)
        write_jsonl(events, sys.stdout)
        sys.stdout.flush()
        if not args.follow:
            return 0
        for event in follow_events(settings, head, types=args.types,
                                   poll_seconds=args.interval):
            write_jsonl([event], sys.stdout)
            sys.stdout.flush()
    except (ValueError, FileNotFoundError) as error:
        return _failure(error)
    except KeyboardInterrupt:
        return 0
    return 0


def _events_trace(args: argparse.Namespace) -> int:
    from photoshare.streams.analytics import trace

    try:
        found = trace(_settings(args), args.correlation_id)
    except FileNotFoundError as error:
        return _failure(error)
    if args.json:
        sys.stdout.write(json.dumps(found, indent=2, ensure_ascii=False) + "\n")
        return 0 if found else 1
    if not found:
        sys.stdout.write(f"no events with correlation id {args.correlation_id}\n")
        return 1
    for event in found:
        sys.stdout.write(f"{event['position']:>8}  {event['event_type']:<16} "
                         f"{event['aggregate_id']}  {event['occurred_at']}\n")
        sys.stdout.write(f"          applied by: {', '.join(event['applied_by']) or '-'}\n")
        if event["pending"]:
            sys.stdout.write(f"          pending:    {', '.join(event['pending'])}\n")
    return 0


def _events_report(args: argparse.Namespace) -> int:
    from photoshare.streams.analytics import LogNotFoundError, iter_events
    from photoshare.streams.report import fold, render

    try:
        figures = fold(iter_events(_settings(args), since=args.since, until=args.until))
    except (LogNotFoundError, ValueError) as error:
        return _failure(error)
    Path(args.out).write_text(render(figures), encoding="utf-8")
    sys.stdout.write(f"{args.out}: {figures.events:,} events, {len(figures.users):,} users, "
                     f"{len(figures.likes):,} photos\n")
    return 0


def _status_table(status: dict) -> str:
    rate = any("events_per_second" in row for row in status["projections"])
    lines = [f"log head: {status['head']} ({status['head_occurred_at'] or 'empty log'})",
             f"{'projection':<16}{'position':>10}{'lag':>10}{'lag (s)':>10}"
             + (f"{'events/s':>10}" if rate else "")]
    for row in status["projections"]:
        line = (f"{row['name']:<16}{row['position']:>10}{row['lag_events']:>10}"
                f"{row['lag_seconds']:>10.1f}")
        if rate:
            per_second = row.get("events_per_second")
            line += f"{'-' if per_second is None else per_second:>10}"
        lines.append(line)
    if "partitions" in status:
        lines.append(f"published to Kafka: {status['published']}; per partition "
                     "(every projection applies them together):")
        lines.append(f"{'partition':<32}{'published':>10}{'applied':>10}{'lag':>10}")
        lines += [f"{row['partition']:<32}{row['published']:>10}{row['applied']:>10}"
                  f"{row['lag_events']:>10}" for row in status["partitions"]]
    for row in status.get("rebuilds", []):
        lines.append(f"rebuilding {row['view']}: version {row['building']} beside live "
                     f"version {row['live']}, at position {row['position']} "
                     f"(lag {row['lag_events']}), "
                     + ("switching now" if row["switching"] else "running" if row["running"]
                        else "stopped: `photoshare projections rebuild " + row["view"]
                        + "` resumes it"))
    return "\n".join(lines) + "\n"


def _projections_status(args: argparse.Namespace) -> int:
    import time

    from photoshare.streams.analytics import LogNotFoundError, add_rates
    from photoshare.streams.status_sources import StatusSources

    # One set of connections for the whole watch; after a failed reading (a server
    # restarted), a one-line message, and the next reading opens a new set.
    sources = StatusSources(_settings(args))
    previous, then, shown, failing = None, time.monotonic(), 0, False
    try:
        while True:
            try:
                status = sources.status()
            except LogNotFoundError as error:
                if args.watch is None or shown == 0:
                    return _failure(error)
                status = None
                _reading_failed(error, failing)
            except Exception as error:  # noqa: BLE001 - a server or connection gone
                if args.watch is None:
                    return _fail(f"could not read the projections' status: "
                                 f"{_one_line(error)}")
                status = None
                _reading_failed(error, failing)
            if status is None:
                sources.close()
                failing = True
                time.sleep(args.watch)
                continue
            if failing:
                sys.stderr.write("photoshare: reconnected\n")
                failing = False
            now = time.monotonic()
            if args.watch is not None:
                status = add_rates(status, previous, now - then)
            if args.json:
                sys.stdout.write(json.dumps(status, ensure_ascii=False) + "\n")
            else:
                sys.stdout.write(_status_table(status) + ("\n" if args.watch else ""))
            sys.stdout.flush()
            shown += 1
            if args.watch is None or (args.iterations and shown >= args.iterations):
                return 0
            previous, then = status, now
            time.sleep(args.watch)
    except KeyboardInterrupt:
        return 0
    finally:
        sources.close()


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]


def _reading_failed(error: BaseException, again: bool) -> None:
    """One line per outage, not one per attempt."""
    if not again:
        sys.stderr.write(f"photoshare: reading the status failed ({_one_line(error)}); "
                         "reconnecting at each interval until the servers answer\n")
        sys.stderr.flush()


def _projections_rebuild(args: argparse.Namespace) -> int:
    from photoshare.streams import rebuild as blue_green
    from photoshare.streams.analytics import LogNotFoundError, open_log

    names = blue_green.view_names() if args.all else [args.name]
    unknown = [name for name in names if name not in blue_green.view_names()]
    if unknown or not names:
        return _fail(f"no view named {unknown[0] if unknown else ''!r}; views: "
                     f"{', '.join(blue_green.view_names())}")
    settings = _settings(args)
    if settings.profile == "cluster":
        return _cluster_rebuild(args, settings, names)
    try:
        with open_log(settings) as log:
            for name in names:
                with _rebuild_bar(name, log.head_position()) as (_bar, advance):
                    position = blue_green.rebuild(settings, log, name, on_progress=advance)
                sys.stdout.write(f"{name}: rebuilt to position {position} and switched in\n")
    except LogNotFoundError as error:
        return _failure(error)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: run the same command again to resume\n")
        return 130
    return 0


@contextlib.contextmanager
def _rebuild_bar(name: str, head: int) -> Iterator[tuple[Any, Callable[[Any], None]]]:
    """A progress bar on stderr for rebuilding `name`, and the `on_progress` that moves
    it (a `streams.rebuild.Progress`: the log head may grow while it runs)."""
    from tqdm import tqdm

    with tqdm(total=head, desc=f"rebuild {name}", unit="ev", unit_scale=True,
              file=sys.stderr) as bar:
        def advance(progress: Any) -> None:
            bar.total = progress.head
            bar.update(progress.position - bar.n)

        yield bar, advance


def _cluster_rebuild(args: argparse.Namespace, settings: Settings, names: list[str]) -> int:
    """`projections rebuild` on the cluster profile: streams/cluster_rebuild.py."""
    from photoshare.infra.postgres.view_versions import RebuildRunning
    from photoshare.streams import cluster_rebuild
    from photoshare.streams import rebuild as blue_green
    from photoshare.streams.analytics import LogNotFoundError, open_log

    if args.all:
        names = list(cluster_rebuild.REBUILDABLE)
    try:
        for name in names:
            cluster_rebuild.check_name(name, blue_green.view_names())
    except cluster_rebuild.NotRebuildable as error:
        return _fail(str(error))
    try:
        with open_log(settings) as log:
            for name in names:
                with _rebuild_bar(name, log.head_position()) as (bar, advance):
                    def switching() -> None:
                        bar.set_description(f"switch {name} (workers wait)")

                    rebuilt = cluster_rebuild.rebuild_cluster_view(
                        settings, log, name, keep_old=args.keep_old,
                        on_progress=advance, on_switching=switching)
                kept = ("old version kept" if args.keep_old or not rebuilt.dropped
                        else "dropped " + ", ".join(rebuilt.dropped))
                sys.stdout.write(f"{name}: version {rebuilt.version} rebuilt to position "
                                 f"{rebuilt.position} and switched in; {kept}\n")
    except (LogNotFoundError, RebuildRunning, cluster_rebuild.NotRebuildable) as error:
        return _failure(error)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: run the same command again to resume\n")
        return 130
    return 0


def _projections_rebuild_redis(args: argparse.Namespace) -> int:
    import redis

    from photoshare.infra.cassandra.schema import connect
    from photoshare.infra.roots.redis_rebuild import rebuild_redis

    settings = _settings(args)
    if settings.profile != "cluster" or not (settings.cassandra_hosts and settings.redis_url):
        return _fail("rebuild-redis needs the cluster profile with PHOTOSHARE_CASSANDRA_HOSTS "
                     "and PHOTOSHARE_REDIS_URL set")
    session = connect(settings.cassandra_hosts, settings.cassandra_keyspace)
    client = redis.Redis.from_url(settings.redis_url)
    done: dict[str, int] = {}

    def progress(step: str, count: int) -> None:
        done[step] = done.get(step, 0) + count
        if done[step] % 1000 == 0 or count > 1:
            sys.stderr.write(f"{step}: {done[step]}\n")

    try:
        counts = rebuild_redis(session, client, settings.redis_prefix, settings.timeline_cap,
                               progress=progress)
    finally:
        session.cluster.shutdown()
        client.close()
    sys.stdout.write(", ".join(f"{count} {what.replace('_', ' ')}"
                               for what, count in counts.items()) + " restored in Redis\n")
    return 0


def _data_dir_option(parser: argparse.ArgumentParser) -> None:
    flags, keywords = OPTIONS["data_dir"]
    parser.add_argument(*flags, **keywords)


def _positive_seconds(text: str) -> float:
    value = float(text)
    if not 0.05 <= value <= 3600:
        raise argparse.ArgumentTypeError("must be between 0.05 and 3600 seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photoshare",
        description="Event-sourced CQRS photo sharing. Settings come from PHOTOSHARE_* "
                    "environment variables; flags override them.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    command(commands, "serve", handler=_serve, port=8000, options=SERVER,
            helps={"data_dir": "where the event store, secret key and photos live "
                               "(default ./data; PHOTOSHARE_DATA_DIR)"},
            help="run the embedded profile (APIs, projections, media) in one process",
            description="Run the embedded profile: the write API, the read API, the "
                        "projection runner and /media in one process, with the event store, "
                        "the views, the secret key and the photos in --data-dir.")

    events = commands.add_parser(
        "events", help="the event log: schema, export, tail, trace, report",
        description="Read the event log, the single source of truth: its JSON Schema, an "
                    "export, the last events, the events of one request, or a report. "
                    "They open the store for reading only, so they work while the server "
                    "runs; give them the server's data dir (--data-dir or "
                    "PHOTOSHARE_DATA_DIR; the cluster profile's log is in PostgreSQL).")
    event_commands = events.add_subparsers(dest="events_command", required=True)
    schema = event_commands.add_parser(
        "schema", help="print the JSON Schema of every published event type's envelope",
        description="Print the JSON Schema (draft 2020-12) of the envelope of every "
                    "published event type: event_id, event_type, schema_version, "
                    "aggregate_id, aggregate_version, position, occurred_at, actor_id, "
                    "correlation_id and the type's data. Exports, `events tail` and the "
                    "Kafka topics carry envelopes of this shape. Needs no data dir.")
    schema.add_argument("--output", "-o", help="write to this file instead of stdout")
    schema.set_defaults(handler=_events_schema)

    export = event_commands.add_parser(
        "export", help="the published log in order, as JSON lines or CSV",
        description="Write the published events in log order (data upcast to the current "
                    "schema), one envelope per line (jsonl) or per row (csv, data as a JSON "
                    "string). Works while the server runs.")
    export.add_argument("--types", help="only these event types (comma-separated)")
    export.add_argument("--since", help="only events that occurred at or after this ISO time")
    export.add_argument("--until", help="only events that occurred before this ISO time")
    export.add_argument("--aggregate", help="only the events of this aggregate id")
    export.add_argument("--from-position", type=int, default=0, metavar="N",
                        help="start at log position N (inclusive)")
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl",
                        help="one JSON envelope per line (default), or CSV with the data "
                             "as a JSON string")
    export.add_argument("--output", "-o", help="write to this file instead of stdout")
    _data_dir_option(export)
    export.set_defaults(handler=_events_export)

    seal = event_commands.add_parser(
        "seal-legacy", help="one-time: encrypt the personal fields of events stored "
                            "before crypto-shredding (logged)",
        description="Events stored before personal fields were encrypted per person hold "
                    "them in plaintext. Readers already hide a deleted person's plaintext "
                    "(redacted form), but the stored bytes keep it. This rewrites each "
                    "such event in place, sealed with its person's key, or redacted if "
                    "the account was deleted, logs every rewrite (position, type, "
                    "person; never the data) and vacuums the event table (PostgreSQL: "
                    "VACUUM FULL, which locks it while it runs). Copies already published "
                    "to Kafka and backups are not rewritten.")
    seal.add_argument("--user", metavar="USER_ID", help="only this person's events")
    seal.add_argument("--dry-run", action="store_true", help="log what would be rewritten")
    _data_dir_option(seal)
    seal.set_defaults(handler=_events_seal_legacy)

    tail = event_commands.add_parser(
        "tail", help="the last events as JSON lines; -f follows new ones",
        description="Print the last N published events as JSON lines; with -f, keep "
                    "polling the log and print new events until Ctrl-C.")
    tail.add_argument("-n", "--lines", type=int, default=10, metavar="N",
                      help="how many of the last events to print first (default 10)")
    tail.add_argument("-f", "--follow", action="store_true", help="follow new events")
    tail.add_argument("--types", help="only these event types (comma-separated)")
    tail.add_argument("--interval", type=_positive_seconds, default=1.0,
                      help="seconds between polls with -f (default 1; 0.05 to 3600)")
    _data_dir_option(tail)
    tail.set_defaults(handler=_events_tail)

    trace = event_commands.add_parser(
        "trace", help="the events one request caused and the projections that applied them",
        description="Every published event whose correlation id is CORRELATION_ID (the "
                    "request's X-Request-ID), with the projections that have applied it.")
    trace.add_argument("correlation_id", metavar="CORRELATION_ID",
                       help="the request's X-Request-ID (every answer carries it)")
    trace.add_argument("--json", action="store_true", help="print JSON")
    _data_dir_option(trace)
    trace.set_defaults(handler=_events_trace)

    report = event_commands.add_parser(
        "report", help="an HTML page of charts made from the log alone",
        description="Uploads and new users per hour (per day over more than a week), the "
                    "follower-count distribution, the most used hashtags and likes per "
                    "photo, as one self-contained HTML page of full-width charts with their "
                    "values (log scale only where the counts span orders of magnitude) "
                    "and their data tables.")
    report.add_argument("--out", default="report.html", help="where to write the page "
                                                             "(default report.html)")
    report.add_argument("--since", help="only events at or after this ISO time")
    report.add_argument("--until", help="only events before this ISO time")
    _data_dir_option(report)
    report.set_defaults(handler=_events_report)

    projections = commands.add_parser(
        "projections", help="the read views' projections: status, rebuild",
        description="The projections that fold the log into the read views: how far each "
                    "has got, and rebuilding a view from event zero. Give them the "
                    "server's data dir (--data-dir or PHOTOSHARE_DATA_DIR).")
    projection_commands = projections.add_subparsers(dest="projections_command",
                                                     required=True)
    status = projection_commands.add_parser(
        "status", help="each projection's position, lag in events and seconds",
        description="Each projection's position against the log head: lag in events and "
                    "in seconds (0 when caught up). With --watch, repeat and show events/s.")
    status.add_argument("--json", action="store_true", help="print JSON (one line per reading)")
    status.add_argument("--watch", type=_positive_seconds, nargs="?", const=1.0,
                        metavar="SECONDS", help="repeat every SECONDS (default 1) until "
                                                "Ctrl-C, with events/s")
    status.add_argument("--iterations", type=int, default=0, help=argparse.SUPPRESS)
    status.epilog = ("On the cluster profile the readings go through one set of connections "
                     "(PostgreSQL, Redis, Cassandra) for the whole --watch; if a server "
                     "restarts, one line says so and the next readings reconnect.")
    _data_dir_option(status)
    status.set_defaults(handler=_projections_status)

    rebuild = projection_commands.add_parser(
        "rebuild", help="rebuild a view from event zero beside the live one, then switch",
        description="Rebuild a view from event zero into a new version beside the live one "
                    "(reads go on), catch up with the log head, switch it in atomically and "
                    "drop the old rows. Interrupted, the same command resumes.",
        epilog="Cluster profile: only `search` can be rebuilt this way (new OpenSearch "
               "indices behind the aliases); the other views share the workers' "
               "checkpoints, Redis counters and Cassandra keyspace and are refused (README, "
               "\"The cluster profile\"). The workers wait during the switch (about as "
               "long as the last catch-up takes); the old indices are dropped a few seconds "
               "after it unless --keep-old. The progress is kept in PostgreSQL "
               "(photoshare_view_versions): interrupted, the same command resumes.")
    which = rebuild.add_mutually_exclusive_group(required=True)
    which.add_argument("name", nargs="?", help="the view: profiles, graph, photos, "
                                               "timelines, search, notifications or "
                                               "controls (blocks and mutes); on the "
                                               "cluster profile: search")
    which.add_argument("--all", action="store_true",
                       help="rebuild every view (cluster profile: every one it can, search)")
    rebuild.add_argument("--keep-old", action="store_true",
                         help="cluster profile: keep the old version's indices after the "
                              "switch (default: dropped)")
    _data_dir_option(rebuild)
    rebuild.set_defaults(handler=_projections_rebuild)

    rebuild_redis = projection_commands.add_parser(
        "rebuild-redis", help="cluster: put back what Redis lost (counters, home "
                              "timelines, checkpoints) from Cassandra",
        description="After Redis lost its data, reads fall back to Cassandra and the "
                    "workers wait. This counts the counters again from Cassandra's rows, "
                    "rebuilds every home timeline, and restores the workers' checkpoints "
                    "from their Cassandra copy, last. Stop the workers first (SIGTERM lets "
                    "each finish its batch).")
    _data_dir_option(rebuild_redis)
    rebuild_redis.set_defaults(handler=_projections_rebuild_redis)

    from photoshare.infra.cli.cluster import add_cluster_commands
    add_cluster_commands(commands)
    return parser


# Every file and directory the embedded data-dir commands make is the owner's alone (0600 /
# 0700): the data dir holds password hashes, emails and originals with GPS positions. Not the
# cluster commands: `local-cluster` run as root hands its directories to the `postgres` user.
PRIVATE_UMASK = 0o077
_DATA_DIR_COMMANDS = frozenset({_serve, _events_export, _events_seal_legacy, _events_tail,
                                _events_trace,
                                _events_report, _projections_status, _projections_rebuild})


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.handler not in _DATA_DIR_COMMANDS:
        return args.handler(args)
    previous = os.umask(PRIVATE_UMASK)
    try:
        return args.handler(args)
    finally:
        os.umask(previous)  # for callers in the same process (the tests)


if __name__ == "__main__":
    raise SystemExit(main())
