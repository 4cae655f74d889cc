"""The read-side story over HTTP against `photoshare up`: every role of the cluster
profile as its own process (write API, read API, relay, two Faust workers) on real
PostgreSQL, Redis, Apache Kafka and the moto S3 server; the views on SQLite (one file
every process shares), then on the cluster's stores (Cassandra, Redis, OpenSearch),
with no view file anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.story import tell_the_story
from support.cluster import cluster_servers, photoshare_up
from support.engines import Engines

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]


@pytest.mark.parametrize("view_engines", [False, True], ids=["sqlite-views", "engine-views"])
def test_the_whole_story_on_the_cluster_profile(tmp_path: Path, engines: Engines,
                                                view_engines: bool) -> None:
    # Workers join their consumer group some seconds after start: reads that name a
    # position may wait that long the first time.
    with cluster_servers(engines, tmp_path, view_engines=view_engines,
                         PHOTOSHARE_SSE_KEEPALIVE_SECONDS="1",
                         PHOTOSHARE_MIN_POSITION_WAIT_SECONDS="30") as servers, \
            photoshare_up(servers, workers=2) as base:
        tell_the_story(base)
        views_file = servers.data_dir / "views.sqlite3"
        assert views_file.exists() != view_engines, views_file
