"""Deleting an account on the cluster profile (`photoshare up`: write and read APIs,
relay, workers; views in Cassandra, Redis and OpenSearch; media in S3): afterwards the
person's email, username, captions and comment texts are nowhere in clear — not in any
table of the PostgreSQL event database (every column, as bytes and as text), not in any
message of the Kafka topics, not in `photoshare events export` — and the views forgot
them. Views rebuilt from the topics afterwards (a new worker group into a new keyspace,
Redis prefix and index prefix, as the README's cluster rebuild goes) answer as the live
ones."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from kafka import KafkaConsumer
from opensearchpy import OpenSearch
from psycopg import sql

from photoshare.infra.cassandra.schema import connect
from photoshare.infra.roots.view_stores import cluster_queries
from photoshare.infra.settings import Settings

from photoshare.streams.topics import all_topics
from support.cluster import ClusterServers, cluster_servers, photoshare_up
from support.engines import Engines
from support.serve import PHOTOSHARE
from support.story import Person

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

CAPTION = "Quokka selfie at Rottnest #rottnestsecret"
COMMENT = "my unmistakable xylophone comment"
BIO = "bio of a very private person"


def test_a_deleted_account_leaves_no_personal_data_in_clear(tmp_path: Path,
                                                            engines: Engines) -> None:
    with cluster_servers(engines, tmp_path, view_engines=True,
                         PHOTOSHARE_MIN_POSITION_WAIT_SECONDS="30") as servers, \
            photoshare_up(servers, workers=2) as base, \
            httpx.Client(base_url=base, timeout=40) as api:
        dora = Person(api, "dora_erased", "Dora Erasable")
        fred = Person(api, "fred_stays", "Fred")
        dora.write("PATCH", "/v1/users/me", 200, json={"bio": BIO})
        photo = dora.post(CAPTION)
        freds = fred.post("fred's photo")
        dora.write("PUT", f"/v1/users/me/following/{fred.user_id}", 204)
        fred.write("PUT", f"/v1/users/me/following/{dora.user_id}", 204)
        dora.write("PUT", f"/v1/photos/{freds}/likes/me", 204)
        dora.write("POST", f"/v1/photos/{freds}/comments", 201, json={"text": COMMENT})
        fred.position = max(fred.position, dora.position)
        assert fred.read(f"/v1/photos/{freds}")["comments"] == 1
        secrets = ["dora_erased", "dora_erased@story.example", "Dora Erasable", BIO, CAPTION,
                   "rottnestsecret", COMMENT]
        # Before the deletion the data is stored, sealed: the checks below can fail.
        assert "rottnestsecret" in export(servers)

        wrong = api.request("DELETE", "/v1/users/me", headers=dora.auth,
                            json={"password": "not it"})
        assert wrong.status_code == 401
        deleted = dora.write("DELETE", "/v1/users/me", 204, json={"password": "story password"})
        fred.position = int(deleted.headers["X-Event-Position"])

        assert api.get(f"/v1/users/{dora.user_id}",
                       headers={"X-Min-Position": str(fred.position)}).status_code == 404
        card = fred.read(f"/v1/photos/{freds}")
        assert (card["likes"], card["comments"]) == (0, 0)
        profile = fred.read(f"/v1/users/{fred.user_id}")
        assert (profile["followers"], profile["following"]) == (0, 0)
        assert photo not in [i["photo_id"] for i in fred.read("/v1/timeline")["items"]]
        assert fred.read("/v1/notifications")["items"] == []
        assert fred.read("/v1/search/users?q=dora")["items"] == []
        assert fred.read("/v1/search/photos?q=rottnest")["items"] == []

        found = {
            "event database": in_postgres(servers.dsn, secrets),
            "kafka topics": in_kafka(servers, secrets),
            "events export": [s for s in secrets if s in export(servers)],
        }
        assert found == {"event database": [], "kafka topics": [], "events export": []}

        # The username and the email are free again.
        again = Person(api, "dora_erased", "Dora Again")
        assert again.user_id != dora.user_id
        again.write("PUT", f"/v1/users/me/following/{fred.user_id}", 204)
        fred.position = again.position
        fred.read(f"/v1/users/{fred.user_id}")  # the live views have it all

        users = [dora.user_id, fred.user_id, again.user_id]
        check_a_rebuild_answers_as_the_live_views(servers, users, [photo, freds])


def check_a_rebuild_answers_as_the_live_views(servers: ClusterServers, users: list[str],
                                              photos: list[str]) -> None:
    test_id = uuid.uuid4().hex[:8]
    live = servers.settings()
    env = {"PHOTOSHARE_WORKER_GROUP": f"{live.worker_group}-rebuilt-{test_id}",
           "PHOTOSHARE_CASSANDRA_KEYSPACE": f"{live.cassandra_keyspace}_rebuilt",
           "PHOTOSHARE_REDIS_PREFIX": f"{live.redis_prefix}rebuilt:",
           "PHOTOSHARE_OPENSEARCH_INDEX_PREFIX": f"{live.opensearch_index_prefix}rebuilt-"}
    rebuilt_env = {**servers.env, **env}
    for engine in ("cassandra", "opensearch"):
        run(rebuilt_env, engine, "init")
    worker = servers.role("worker", log_name="rebuilt-worker.log", **env)
    try:
        deadline = time.monotonic() + 120
        while True:
            status = json.loads(run(rebuilt_env, "projections", "status", "--json"))
            if status["partitions"] and all(row["applied"] == row["published"]
                                            for row in status["partitions"]):
                break
            assert time.monotonic() < deadline, status
            assert worker.poll() is None, (servers.log_dir / "rebuilt-worker.log").read_text()
            time.sleep(1)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    rebuilt = Settings(**{key[len("PHOTOSHARE_"):].lower(): value
                          for key, value in rebuilt_env.items() if key.startswith("PHOTOSHARE_")})
    want = answers(live, users, photos)
    assert set(want["profiles"]) == set(users[1:])  # the deleted account is not there
    assert [n.type for n in want["notifications"][users[1]]] == ["follow"]
    assert answers(rebuilt, users, photos) == want


def answers(settings: Settings, users: list[str], photos: list[str]) -> dict[str, Any]:
    """What the views answer about these users and photos (every view)."""
    session = connect(settings.cassandra_hosts or "", settings.cassandra_keyspace)
    client = redis.Redis.from_url(settings.redis_url or "")
    search = OpenSearch(settings.opensearch_url)
    try:
        search.indices.refresh(index=f"{settings.opensearch_index_prefix}*")
        q = cluster_queries(session, client, settings, search)
        everything = 1000
        return {
            "profiles": q.profiles.many(users),
            "by_username": q.profiles.by_username("dora_erased"),
            "photos": q.photos.many(photos),
            "comments": {p: q.photos.comments(p, None, everything) for p in photos},
            "liked": {u: q.photos.liked_by(u, photos) for u in users},
            "home": {u: q.timelines.home(u, None, everything) for u in users},
            "followers": {u: q.graph.followers(u, None, everything) for u in users},
            "following": {u: q.graph.following(u, None, everything) for u in users},
            "notifications": {u: q.notifications.for_user(u, None, everything)
                              for u in users},
            "read": {u: q.notifications.read_up_to(u) for u in users},
            "search": {text: (q.search.users(text, 0, 50), q.search.photos(text, 0, 50))
                       for text in ("dora", "fred", "quokka", "#rottnestsecret", "photo")},
            "hashtags": q.search.hashtags("rott", 10),
        }
    finally:
        session.cluster.shutdown()
        client.close()
        search.close()


def run(env: dict[str, str], *argv: str) -> str:
    done = subprocess.run([str(PHOTOSHARE), *argv], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def export(servers: ClusterServers) -> str:
    return run(servers.env, "events", "export")


def in_postgres(dsn: str, secrets: list[str]) -> list[str]:
    """`table.column: secret` for each secret found in any column of any table of the
    database, read as bytes (bytea) and as text (everything else, cast to text)."""
    found = []
    with psycopg.connect(dsn) as connection:
        columns = connection.execute(
            "SELECT table_schema, table_name, column_name, data_type FROM "
            "information_schema.columns WHERE table_schema NOT IN "
            "('pg_catalog', 'information_schema')").fetchall()
        assert any(table == "photoshare_personal_keys" for _, table, _, _ in columns)
        for schema, table, column, data_type in columns:
            query = sql.SQL("SELECT {}::text, {} FROM {}").format(
                sql.Identifier(column), sql.Identifier(column),
                sql.Identifier(schema, table))
            for text, raw in connection.execute(query):
                blob = bytes(raw) if isinstance(raw, (bytes, memoryview)) else b""
                for secret in secrets:
                    if secret in (text or "") or secret.encode() in blob:
                        found.append(f"{table}.{column}: {secret}")
    return found


def in_kafka(servers: ClusterServers, secrets: list[str]) -> list[str]:
    settings = servers.settings()
    consumer = KafkaConsumer(*all_topics(settings.kafka_topic_prefix),
                             bootstrap_servers=servers.bootstrap,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=5000, group_id=None)
    found, messages = [], 0
    try:
        for message in consumer:
            messages += 1
            for secret in secrets:
                if secret.encode() in (message.value or b"") + (message.key or b""):
                    found.append(f"{message.topic}@{message.offset}: {secret}")
    finally:
        consumer.close()
    assert messages >= 10, "read the topics"
    return found
