"""What the servers log: httpx's line per request (every probe of `up`, every request its
gateway forwards) stays out of the log unless it is asked for at DEBUG."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from photoshare.infra.logs import configure_logging


@pytest.fixture
def restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.NOTSET)


@pytest.mark.parametrize(("level", "shown"), [("INFO", False), ("DEBUG", True)])
def test_httpx_request_lines_only_at_debug(restored: None, capsys: pytest.CaptureFixture[str],
                                           level: str, shown: bool) -> None:
    configure_logging(level, "json")
    logging.getLogger("httpx").info("HTTP Request: GET http://127.0.0.1:1/healthz")
    logging.getLogger("httpx").warning("a warning")
    logging.getLogger("photoshare.up").info("ready")
    messages = [json.loads(line)["message"] for line in capsys.readouterr().err.splitlines()]
    assert ("HTTP Request: GET http://127.0.0.1:1/healthz" in messages) is shown
    assert "a warning" in messages and "ready" in messages
