"""Logs that carry the correlation id of the request being served: one JSON object per
line for machines (log collectors), or short plain lines for a person at a terminal."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

# Extra attributes a log call may pass (`logger.info(..., extra={...})`) that go into JSON.
_EXTRA_FIELDS = ("method", "path", "status", "duration_ms", "client", "event_position")
LOG_FORMATS = ("auto", "plain", "json")
# uvicorn's own start and stop lines ("Started server process", "Waiting for application
# startup.", "Uvicorn running on ..."): a person gets photoshare's one line instead.
_UVICORN_CHATTER = "uvicorn.error"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": correlation_id.get(),
        }
        entry.update({k: getattr(record, k) for k in _EXTRA_FIELDS if hasattr(record, k)})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """`20:31:07 GET /v1/timeline 200 3 ms` for a request, `20:31:07 WARNING message` for
    the rest (the level only when it is not INFO): what a person reads in a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        if hasattr(record, "method") and hasattr(record, "status"):
            text = (f"{record.method} {getattr(record, 'path', '')} {record.status} "
                    f"{getattr(record, 'duration_ms', 0):.0f} ms")
        else:
            text = record.getMessage()
        level = "" if record.levelno == logging.INFO else f"{record.levelname} "
        line = f"{when} {level}{text}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def resolve_log_format(log_format: str, stream: TextIO | None = None) -> str:
    """`auto` is `plain` when the logs go to a terminal (a person), else `json`."""
    if log_format != "auto":
        return log_format
    stream = stream if stream is not None else sys.stderr
    try:
        return "plain" if stream.isatty() else "json"
    except (AttributeError, ValueError):  # a closed or unusual stream
        return "json"


def configure_logging(level: str = "INFO", log_format: str = "json") -> str:
    """Send every log record, uvicorn's included, to stderr: one JSON object per line, or
    plain lines (`log_format` plain, or auto at a terminal). Returns the format chosen."""
    chosen = resolve_log_format(log_format)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(PlainFormatter() if chosen == "plain" else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # uvicorn's start-up lines stay in JSON (machines may wait for them); at a terminal
    # `announce` says the one line that matters.
    logging.getLogger(_UVICORN_CHATTER).setLevel(
        logging.WARNING if chosen == "plain" and logging.getLevelName(level) <= logging.INFO
        else logging.NOTSET)
    # Our own access log (with correlation ids) replaces uvicorn's.
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every request at INFO: `up` probes each role every second and the
    # gateway forwards every request, which would drown the log. Their failures are
    # logged by us where they matter. At DEBUG they are shown.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(
            logging.NOTSET if logging.getLevelName(level) <= logging.DEBUG else logging.WARNING)
    return chosen


def announce(message: str) -> None:
    """A line for the person who started the server (`photoshare is running on ...`):
    plain on stderr at a terminal, a JSON log line otherwise."""
    root = logging.getLogger()
    plain = any(isinstance(h.formatter, PlainFormatter) for h in root.handlers)
    if plain:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
    else:
        logging.getLogger("photoshare").info(message)
