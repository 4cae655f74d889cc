"""The whole story through HTTP against the real server: register, follow, post, read your
own writes on the timeline, like, comment, counts, search, notifications and their live
stream, paging, unfollow and delete."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.serve import serve
from support.story import tell_the_story

pytestmark = pytest.mark.e2e


def test_the_whole_story(tmp_path: Path) -> None:
    with serve(tmp_path / "data", tmp_path / "server.log",
               PHOTOSHARE_SSE_KEEPALIVE_SECONDS="1") as server:
        tell_the_story(server.base)
