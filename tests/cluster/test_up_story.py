"""The read-side story over HTTP against `photoshare up`: every role of the cluster
profile as its own process (write API, read API, relay, two Faust workers) on real
PostgreSQL, Redis, Apache Kafka and the moto S3 server; the views on SQLite (one file
every process shares), then on the cluster's stores (Cassandra, Redis, OpenSearch),
with no view file anywhere."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import redis
from support.cluster import ClusterServers, cluster_servers, photoshare_up
from support.engines import Engines
from support.serve import PHOTOSHARE
from support.story import Person, tell_the_story

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
        check_the_operators_commands(servers)
        if view_engines:
            check_a_redis_that_lost_its_data(servers, base)


def photoshare(servers: ClusterServers, *argv: str) -> str:
    done = subprocess.run([str(PHOTOSHARE), *argv], env=servers.env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def check_the_operators_commands(servers: ClusterServers) -> None:
    """`events tail|export` read the PostgreSQL log; `projections status` shows the
    lag per partition from the relay's and the workers' positions."""
    tail = [json.loads(line) for line in photoshare(servers, "events", "tail", "-n", "3")
            .splitlines()]
    assert len(tail) == 3 and tail[0]["position"] < tail[1]["position"] < tail[2]["position"]
    exported = photoshare(servers, "events", "export", "--types", "UserRegistered")
    assert {json.loads(line)["data"]["username"] for line in exported.splitlines()} >= {
        "alice", "bob", "zoe"}
    deadline = time.monotonic() + 30
    while True:
        status = json.loads(photoshare(servers, "projections", "status", "--json"))
        if status["projections"][0]["lag_events"] == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status["head"] >= tail[-1]["position"]
    assert {row["lag_events"] for row in status["projections"]} == {0}
    assert len(status["partitions"]) >= 4  # the story's events reach several partitions
    assert all(row["applied"] == row["published"] for row in status["partitions"])
    table = photoshare(servers, "projections", "status")
    assert "per partition" in table and "timelines" in table


def check_a_redis_that_lost_its_data(servers: ClusterServers, base: str) -> None:
    """Redis flushed under a running cluster: reads stay right (from Cassandra), and
    after `projections rebuild-redis` the workers go on from where they were."""
    with httpx.Client(base_url=base, timeout=40) as api:
        carol, dave = Person(api, "carol", "Carol"), Person(api, "dave", "Dave")
        carol.write("PUT", f"/v1/users/me/following/{dave.user_id}", 204)
        first = dave.post("#before the flush")
        carol.position = max(carol.position, dave.position)
        timeline = [item["photo_id"] for item in carol.read("/v1/timeline")["items"]]
        profile = carol.read(f"/v1/users/{dave.user_id}")
        assert timeline == [first] and (profile["followers"], profile["photos"]) == (1, 1)

        client = redis.Redis.from_url(servers.env["PHOTOSHARE_REDIS_URL"])
        keys = list(client.scan_iter(match=f"{servers.redis_prefix}*"))
        assert any(b":tl:" in key for key in keys)  # heads, counters, checkpoints
        client.delete(*keys)
        client.close()
        assert [item["photo_id"] for item in carol.read("/v1/timeline")["items"]] == timeline
        assert carol.read(f"/v1/users/{dave.user_id}") == profile
        # Dave's own post is on his Home without Redis too.
        assert [item["photo_id"] for item in dave.read("/v1/timeline")["items"]] == [first]

        # The workers are idle (the story is over): restore Redis, then write again.
        assert "restored in Redis" in photoshare(servers, "projections", "rebuild-redis")
        second = dave.post("#after the rebuild")
        carol.position = max(carol.position, dave.position)
        assert [item["photo_id"] for item in carol.read("/v1/timeline")["items"]] == [
            second, first]
        assert carol.read(f"/v1/users/{dave.user_id}")["photos"] == 2
