"""The README's curl story works as written: its `sh` blocks of "Using the API with curl",
in order, run by bash against the real `photoshare serve`, every call answered 2xx.

Only the port changes (the test server's is free, not 8000). A `curl` function in front of
the real one makes each call fail on a 4xx/5xx answer (`--fail-with-body`) and note its
status on stderr; the live stream, which never ends by itself, is cut after a few seconds
(as Ctrl-C would). `set -euo pipefail` stops at the first failed call or unset variable,
so an edit that breaks the story (an unregistered user, a variable never set, a photo
read after it was deleted) fails this test."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from support.embedded import image_bytes
from support.serve import serve

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Using the API with curl"

PRELUDE = r"""set -euo pipefail
curl() {
  local stream=0 rc=0 limit=()
  for arg in "$@"; do [[ $arg == *notifications/stream* ]] && stream=1; done
  (( stream )) && limit=(--max-time 3)
  command curl --fail-with-body --write-out '%{stderr}HTTP %{http_code} %{url_effective}\n' \
    "${limit[@]}" "$@" || rc=$?
  (( stream && rc == 28 )) && return 0  # the stream was open until cut: as Ctrl-C does
  return $rc
}
"""


def story_blocks(readme: str) -> list[str]:
    start = readme.index(SECTION) + len(SECTION)
    end = readme.index("\n## ", start)
    return re.findall(r"```sh\n(.*?)```", readme[start:end], flags=re.S)


def curl_calls(script: str) -> int:
    """How many curl commands the story runs (comment lines aside)."""
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    return len(re.findall(r"(?<![\w-])curl -", code))


def test_the_readmes_curl_story_runs_as_written(tmp_path: Path) -> None:
    blocks = story_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 3, "the curl section lost its blocks"
    story = "\n".join(blocks)
    assert "localhost:8000" in story
    # The files the README asks the reader to have at hand.
    (tmp_path / "beach.jpg").write_bytes(image_bytes("JPEG", size=(1200, 800)))
    (tmp_path / "me.png").write_bytes(image_bytes("PNG", size=(400, 400)))

    with serve(tmp_path / "data", tmp_path / "server.log") as server:
        port = server.base.rsplit(":", 1)[1]
        script = PRELUDE + story.replace("localhost:8000", f"localhost:{port}")
        done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120, check=False)
    statuses = re.findall(r"^HTTP (\d{3}) (\S+)$", done.stderr, flags=re.M)
    report = f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    assert done.returncode == 0, report
    assert len(statuses) == curl_calls(story), report
    assert all(code.startswith("2") for code, _ in statuses), report
    # The story's point: the photo was posted tagging the two users it registered.
    assert any(url.endswith("/v1/photos") and code == "201" for code, url in statuses)
