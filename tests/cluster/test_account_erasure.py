"""Deleting an account on the cluster profile (`photoshare up`: write and read APIs,
relay, workers; views in Cassandra, Redis and OpenSearch; media in S3): afterwards the
person's email, username, captions and comment texts are nowhere in clear — not in any
table of the PostgreSQL event database (every column, as bytes and as text), not in any
message of the Kafka topics, not in `photoshare events export` — and the views forgot
them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import psycopg
import pytest
from kafka import KafkaConsumer
from psycopg import sql

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


def export(servers: ClusterServers) -> str:
    done = subprocess.run([str(PHOTOSHARE), "events", "export"], env=servers.env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


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
