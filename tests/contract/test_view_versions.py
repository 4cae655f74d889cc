"""The live-version row of the cluster rebuild (infra/postgres/view_versions.py) on a real
PostgreSQL: what the workers read before each batch, and the rebuild's side of it."""

from __future__ import annotations

import time

import pytest
from photoshare.infra.postgres.view_versions import (
    LiveVersions,
    RebuildRunning,
    ViewSwitching,
    ViewVersions,
)

pytestmark = [pytest.mark.cluster]


def test_workers_see_a_switch_at_their_next_batch_and_the_new_version_after_it(
        postgres_dsn: str) -> None:
    worker = LiveVersions(postgres_dsn, quiet_seconds=0.5)
    rebuild = ViewVersions(postgres_dsn)
    try:
        assert worker.live("search") is None          # never rebuilt: the first version
        state = rebuild.start("search", 1)
        assert (state.live, state.building, state.position, state.switching) == (1, 2, 0, False)
        # With no rebuild seen, the answer is kept for `quiet_seconds`...
        assert worker.live("search") is None
        time.sleep(0.6)
        # ... then read again; while a rebuild is under way, at every batch.
        assert worker.live("search") == 1
        rebuild.set_switching("search", True)
        with pytest.raises(ViewSwitching, match="search is being switched from version 1 to 2"):
            worker.live("search")
        rebuild.advance("search", 40)
        rebuild.switched("search", 40)
        assert worker.live("search") == 2
        assert rebuild.get("search").building is None  # type: ignore[union-attr]
        assert rebuild.seconds_since_start("search") >= 0.6
    finally:
        worker.close()
        rebuild.close()


def test_a_rebuild_resumes_where_it_got_to_and_runs_once_at_a_time(postgres_dsn: str) -> None:
    first, second = ViewVersions(postgres_dsn), ViewVersions(postgres_dsn)
    status = ViewVersions(postgres_dsn)  # what `projections status` asks
    try:
        assert not status.running("search")
        first.lock("search")
        assert status.running("search") and not status.running("timelines")
        with pytest.raises(RebuildRunning):
            second.lock("search")
        first.start("search", 3)
        first.advance("search", 1234)
        first.close()   # interrupted: the lock goes with the connection
        assert not status.running("search")
        assert [(row.view, row.building, row.position) for row in status.all()] == [
            ("search", 4, 1234)]
        second.lock("search")
        assert status.running("search")
        resumed = second.start("search", 3)
        assert (resumed.live, resumed.building, resumed.position) == (3, 4, 1234)
        second.switched("search", 2000)
        again = second.start("search", 4)   # the next rebuild builds the next version
        assert (again.live, again.building, again.position) == (4, 5, 0)
    finally:
        second.close()
        status.close()
