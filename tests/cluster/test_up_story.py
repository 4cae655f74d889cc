"""The read-side story over HTTP against `photoshare up`: every role of the cluster
profile as its own process (write API, read API, relay, two Faust workers) on real
PostgreSQL, Redis, the Tansu Kafka-protocol broker and the moto S3 server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_story import tell_the_story
from tests.support.cluster import cluster_servers, photoshare_up

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]


def test_the_whole_story_on_the_cluster_profile(tmp_path: Path) -> None:
    # Workers join their consumer group some seconds after start: reads that name a
    # position may wait that long the first time.
    with cluster_servers(tmp_path, PHOTOSHARE_SSE_KEEPALIVE_SECONDS="1",
                         PHOTOSHARE_MIN_POSITION_WAIT_SECONDS="30") as servers, \
            photoshare_up(servers, workers=2) as base:
        tell_the_story(base)
