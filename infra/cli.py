"""The `photoshare` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from infra.settings import Settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from infra.bootstrap import create_embedded_app
    from infra.logs import configure_logging

    overrides = {name: getattr(args, name) for name in ("host", "port", "data_dir", "log_level")
                 if getattr(args, name) is not None}
    settings = Settings(**overrides)
    configure_logging(settings.log_level)
    app = create_embedded_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None,
                access_log=False, server_header=False)
    return 0


def _events_schema(args: argparse.Namespace) -> int:
    from events.schema import published_schema

    text = json.dumps(published_schema(), indent=2, ensure_ascii=False) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photoshare",
        description="Event-sourced CQRS photo sharing. Settings come from PHOTOSHARE_* "
                    "environment variables; flags override them.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve", help="run the embedded profile (APIs, projections, media) in one process",
        description="Run the embedded profile: the write API, the read API, the projection "
                    "runner and /media in one process, with the event store, the views, the "
                    "secret key and the photos in --data-dir.")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1; "
                                      "PHOTOSHARE_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8000; "
                                                "PHOTOSHARE_PORT)")
    serve.add_argument("--data-dir", type=Path, help="where the event store, secret key and "
                                                     "photos live (default ./data; "
                                                     "PHOTOSHARE_DATA_DIR)")
    serve.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                       help="log level (default INFO; PHOTOSHARE_LOG_LEVEL)")
    serve.set_defaults(handler=_serve)

    events = commands.add_parser("events", help="the event log's published vocabulary")
    event_commands = events.add_subparsers(dest="events_command", required=True)
    schema = event_commands.add_parser(
        "schema", help="print the JSON Schema of every published event type's envelope")
    schema.add_argument("--output", "-o", help="write to this file instead of stdout")
    schema.set_defaults(handler=_events_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
