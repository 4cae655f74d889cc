"""What both command lines share: the options several commands take, defined once, and
`command`, which adds a subcommand from its name, texts, handler and option names."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]

# name -> (flags, add_argument keywords); "{port}" in a help text is the command's port.
OPTIONS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "host": (("--host",), {"help": "address to listen on (default 127.0.0.1; PHOTOSHARE_HOST)"}),
    "port": (("--port",), {"type": int,
                           "help": "port to listen on (default {port}; PHOTOSHARE_PORT)"}),
    "data_dir": (("--data-dir",), {"type": Path, "help": "the data dir of the event store and "
                                                         "views (default ./data; "
                                                         "PHOTOSHARE_DATA_DIR)"}),
    "log_level": (("--log-level",), {"choices": LOG_LEVELS, "help": "log level (default INFO; "
                                                                    "PHOTOSHARE_LOG_LEVEL)"}),
    "log_format": (("--log-format",), {"choices": ["auto", "plain", "json"],
                                       "help": "plain lines for a person, or one JSON "
                                               "object per line for machines (default auto: "
                                               "plain at a terminal, else json; "
                                               "PHOTOSHARE_LOG_FORMAT)"}),
    "writers": (("--writers",), {"type": int, "default": 1,
                                 "help": "write API processes (default 1)"}),
    "readers": (("--readers",), {"type": int, "default": 1,
                                 "help": "read API processes (default 1)"}),
    "workers": (("--workers",), {"type": int, "default": 2,
                                 "help": "worker processes (default 2)"}),
}
SERVER = ("host", "port", "data_dir", "log_level", "log_format")
SUPERVISED = ("writers", "readers", "workers")


def command(subcommands: Any, name: str, *, help: str,  # noqa: A002 - argparse's word
            handler: Callable[[argparse.Namespace], int], description: str | None = None,
            options: Iterable[str] = (), port: int | None = None,
            helps: dict[str, str] | None = None) -> argparse.ArgumentParser:
    """Add subcommand `name` with the shared `options` (by name, in order); `helps`
    replaces an option's help text where this command means something narrower."""
    parser = subcommands.add_parser(name, help=help, description=description or None)
    for option in options:
        flags, keywords = OPTIONS[option]
        keywords = {**keywords}
        if helps and option in helps:
            keywords["help"] = helps[option]
        if "help" in keywords:
            keywords["help"] = keywords["help"].replace("{port}", str(port))
        parser.add_argument(*flags, **keywords)
    parser.set_defaults(handler=handler)
    return parser
