"""Crash tests of the cluster profile: kill -9 the relay, then a worker, and a read API, at
random moments during a load of a few thousand writes; restart them; then check that no
event is missing from Kafka, that every view equals a rebuild from event zero, and that no
notification is duplicated. Two workers share the partitions throughout; reads go on
through two read APIs all along, and the one that was not killed never fails. It runs with every view on
SQLite (one file every process shares), and again with every view on the cluster's
stores (Cassandra, Redis, OpenSearch; no view file at all), which are compared with the
rebuild through their query ports."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaConsumer
from photoshare.infra.localcluster.process import free_port
from photoshare.infra.postgres.relay_positions import RelayPositions
from photoshare.infra.roots.embedded import open_event_store
from photoshare.infra.roots.supervisor import prepare
from photoshare.infra.roots.view_stores import open_view_stores
from photoshare.infra.settings import Settings
from photoshare.infra.sqlite.catalog import bindings, open_views, view_queries
from photoshare.infra.sqlite.viewdb import ViewDatabase
from photoshare.streams.partitioned import watermark
from photoshare.streams.runner import ProjectionRunner
from photoshare.streams.topics import all_topics
from support.cluster import cluster_servers
from support.embedded import image_bytes
from support.engines import Engines
from support.serve import wait_healthy

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

USERS = 12
ACTIONS = 2400
PHOTO = image_bytes(size=(64, 48))


class Load:
    """A seeded random mix of writes through the write API, from several threads."""

    def __init__(self, base: str, seed: int) -> None:
        self.api = httpx.Client(base_url=base, timeout=30,
                                limits=httpx.Limits(max_connections=16))
        self.random = random.Random(seed)
        self.tokens: dict[str, str] = {}
        self.photos: list[str] = []
        self.comments: list[tuple[str, str, str]] = []  # (photo, comment, author)
        self.statuses: Counter[int] = Counter()
        self._lock = threading.Lock()

    def register(self, count: int) -> None:
        for n in range(count):
            name = f"user{n}"
            created = self.api.post("/v1/users", json={
                "username": name, "email": f"{name}@crash.example", "password": "crash test pw",
                "display_name": f"User {n}"})
            assert created.status_code == 201, created.text
            session = self.api.post("/v1/sessions", json={"login": name,
                                                          "password": "crash test pw"})
            self.tokens[created.json()["user_id"]] = session.json()["access_token"]

    def _request(self, user: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.api.request(method, path, headers={
            "Authorization": f"Bearer {self.tokens[user]}"}, **kwargs)
        with self._lock:
            self.statuses[response.status_code] += 1
        return response

    def step(self, rng: random.Random) -> None:
        users = list(self.tokens)
        user, other = rng.sample(users, 2)
        roll = rng.random()
        with self._lock:
            photo = rng.choice(self.photos) if self.photos else None
            comment = rng.choice(self.comments) if self.comments else None
        if roll < 0.30:
            verb = "PUT" if rng.random() < 0.7 else "DELETE"
            self._request(user, verb, f"/v1/users/me/following/{other}")
        elif roll < 0.38 or photo is None:
            tagged = rng.choice([f"user{rng.randrange(USERS)}", ""])
            response = self._request(user, "POST", "/v1/photos",
                                     data={"caption": f"#crash {rng.random():.4f}",
                                           "tagged": tagged},
                                     files={"file": ("p.jpg", PHOTO, "image/jpeg")})
            if response.status_code == 201:
                with self._lock:
                    self.photos.append(response.json()["photo_id"])
        elif roll < 0.70:
            verb = "PUT" if rng.random() < 0.75 else "DELETE"
            self._request(user, verb, f"/v1/photos/{photo}/likes/me")
        elif roll < 0.85:
            response = self._request(user, "POST", f"/v1/photos/{photo}/comments",
                                     json={"text": f"nice {rng.random():.3f}"})
            if response.status_code == 201:
                with self._lock:
                    self.comments.append((photo, response.json()["comment_id"], user))
        elif roll < 0.90 and comment is not None:
            photo_id, comment_id, author = comment
            self._request(author, "DELETE", f"/v1/photos/{photo_id}/comments/{comment_id}")
        elif roll < 0.95:
            notifications = self.api.get("/v1/notifications", headers={
                "Authorization": f"Bearer {self.tokens[user]}"})
            items = notifications.json().get("items", []) if notifications.is_success else []
            if items:
                self._request(user, "POST", "/v1/notifications/read",
                              json={"up_to": items[0]["notification_id"]})
        else:
            with self._lock:
                mine = photo if photo else None
            if mine:
                self._request(user, "DELETE", f"/v1/photos/{mine}")

    def run(self, actions: int, threads: int = 4) -> None:
        seeds = [self.random.randrange(2**32) for _ in range(threads)]

        def worker(seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(actions // threads):
                self.step(rng)

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(worker, seeds))


class Reads:
    """Reads through each read API, from one thread per API, while the load runs: every
    answer must be a 200, and a read API may fail to answer only while it is down."""

    PATHS = ("/v1/timeline", "/v1/notifications")

    def __init__(self, load: Load, bases: dict[str, str], seed: int) -> None:
        self.load, self.bases, self.random = load, bases, random.Random(seed)
        self.down: set[str] = set()  # the read APIs killed and not yet healthy again
        self.answers: dict[str, Counter[int]] = {name: Counter() for name in bases}
        self.unexpected: list[tuple[str, str]] = []  # (API, what went wrong)
        self.refused: Counter[str] = Counter()  # failures while down
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._read, args=(name, seed + n))
                         for n, name in enumerate(bases)]

    def _read(self, name: str, seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=self.bases[name], timeout=10) as client:
            while not self._stop.is_set():
                token = self.load.tokens[rng.choice(list(self.load.tokens))]
                path = rng.choice(self.PATHS)
                was_down = name in self.down
                try:
                    answer = client.get(path, headers={"Authorization": f"Bearer {token}"})
                except httpx.TransportError as error:
                    if was_down or name in self.down:
                        self.refused[name] += 1
                        self._stop.wait(0.05)  # polling a port nobody listens on yet
                    else:
                        self.unexpected.append((name, f"{path}: {error!r}"))
                    continue
                self.answers[name][answer.status_code] += 1
                if answer.status_code != 200:
                    self.unexpected.append((name, f"{path}: {answer.status_code} "
                                                  f"{answer.text[:200]}"))

    def __enter__(self) -> Reads:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def kill9(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=15)


def wait_until_projected(settings: Settings, timeout: float = 180) -> int:
    """Until the relay has published the whole log and the views have applied it all."""
    commands = open_event_store(settings)
    relay = RelayPositions(settings.postgres_dsn)
    views = open_view_stores(settings)
    try:
        deadline = time.monotonic() + timeout
        while True:
            head = commands.head_position()
            published, partitions = relay.load()
            if published >= head and watermark(published, partitions, views.checkpoints()) >= head:
                return head
            assert time.monotonic() < deadline, (head, published, partitions, views.checkpoints())
            time.sleep(0.5)
    finally:
        commands.close()
        relay.close()
        views.close()


def positions_in_kafka(settings: Settings) -> dict[str, list[int]]:
    """Each partition's positions, in offset order."""
    consumer = KafkaConsumer(*all_topics(settings.kafka_topic_prefix),
                             bootstrap_servers=settings.kafka_bootstrap,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=5000)
    partitions: dict[str, list[tuple[int, int]]] = {}
    for message in consumer:
        partitions.setdefault(f"{message.topic}:{message.partition}", []).append(
            (message.offset, json.loads(message.value)["position"]))
    consumer.close()
    return {partition: [position for _, position in sorted(messages)]
            for partition, messages in partitions.items()}


def out_of_log_order(positions: list[int]) -> list[tuple[int, int]]:
    """(earlier, later) pairs of a partition where a position's first copy came after a
    higher position's first copy. The workers skip an event at or below their
    partition's checkpoint as a redelivery, which is right only if each partition holds
    the log's order (the relay's republished copies, after it, aside)."""
    seen: set[int] = set()
    highest, found = 0, []
    for position in positions:
        if position in seen:
            continue  # a republished copy
        seen.add(position)
        if position < highest:
            found.append((position, highest))
        highest = max(highest, position)
    return found


EVERYTHING = 1_000_000


def follow_history(commands: Any, user: str) -> list[tuple[int, str, str, str]]:
    """(position, type, follower, followee) of every follow event touching `user`: what a
    graph mismatch is read against."""
    return [(e.position, e.event_type, e.data["follower_id"], e.data["followee_id"])
            for e in commands.iter_log()
            if e.event_type in ("UserFollowed", "UserUnfollowed")
            and user in (e.data["follower_id"], e.data["followee_id"])]


def pair_history(commands: Any, follower: str, followee: str) -> list[tuple[int, str]]:
    """(position, type) of the follows and unfollows of one pair."""
    return [(e.position, e.event_type) for e in commands.iter_log()
            if e.event_type in ("UserFollowed", "UserUnfollowed")
            and (e.data["follower_id"], e.data["followee_id"]) == (follower, followee)]


def assert_engine_views_equal_rebuild(settings: Settings, rebuilt: ViewDatabase,
                                      commands: Any) -> None:
    """The cluster stores answer every query as the rebuilt SQLite views, and hold each
    notification once."""
    reader = rebuilt.reader()
    expected = view_queries(reader, settings)
    stores = open_view_stores(settings)
    assert stores.kind == "cluster"
    actual = stores.queries()
    users = [row[0] for row in reader.execute("SELECT user_id FROM profiles")]
    names = [row[0] for row in reader.execute("SELECT username FROM profiles")]
    photos = [row[0] for row in reader.execute(
        "SELECT photo_id FROM photos UNION SELECT photo_id FROM photo_tombstones")]
    live = [row[0] for row in reader.execute("SELECT photo_id FROM photos")]
    assert users and photos
    try:
        assert actual.profiles.many(users) == expected.profiles.many(users)
        for user in users:
            for side in ("followers", "following"):
                got = getattr(actual.graph, side)(user, None, EVERYTHING)
                want = getattr(expected.graph, side)(user, None, EVERYTHING)
                assert got == want, (side, user, sorted(set(want) - set(got), key=str),
                                     sorted(set(got) - set(want), key=str),
                                     follow_history(commands, user))
            # Of live photos: a like saved just after its photo's deletion and applied
            # before it may leave a row the read API never asks about (the store's
            # docstring, infra/cassandra/photos.py).
            assert actual.photos.liked_by(user, live) == expected.photos.liked_by(user, live)
            assert actual.photos.by_owner(user, None, EVERYTHING) == \
                expected.photos.by_owner(user, None, EVERYTHING), user
            got = actual.timelines.home(user, None, EVERYTHING)
            want = expected.timelines.home(user, None, EVERYTHING)
            if got != want:
                differing = {e.owner_id for e in set(got) ^ set(want)}
                assert got == want, (user, sorted(set(want) - set(got), key=str),
                                     sorted(set(got) - set(want), key=str),
                                     {owner: pair_history(commands, user, owner)
                                      for owner in differing})
            notifications = actual.notifications.for_user(user, None, EVERYTHING)
            assert notifications == expected.notifications.for_user(user, None, EVERYTHING)
            assert actual.notifications.read_up_to(user) == \
                expected.notifications.read_up_to(user), user
            # No notification twice: one per (type, actor, photo), comments aside.
            keys = [(n.type, n.actor_id, n.photo_id) for n in notifications
                    if n.type != "comment"]
            assert len(keys) == len(set(keys)), user
        assert actual.photos.many(photos) == expected.photos.many(photos)
        for photo in live:  # as the read API asks (infra/cassandra/photos.py)
            assert actual.photos.comments(photo, None, EVERYTHING) == \
                expected.photos.comments(photo, None, EVERYTHING), photo
        for name in names:
            assert actual.search.users(name, 0, 100) == expected.search.users(name, 0, 100)
        assert sorted(actual.search.photos("#crash", 0, 10_000)) == \
            sorted(expected.search.photos("#crash", 0, 10_000))
    finally:
        stores.close()


@pytest.mark.parametrize("view_engines", [False, True], ids=["sqlite-views", "engine-views"])
def test_kill_relay_then_worker_during_load(tmp_path: Path, engines: Engines,
                                            view_engines: bool) -> None:
    rng = random.Random(20261121)
    # With the cluster stores (and photos in S3), each role process gets a data dir of
    # its own, which must stay empty: no process needs a file another one writes.
    with cluster_servers(engines, tmp_path, s3=view_engines, partitions=4,
                         view_engines=view_engines) as servers:
        settings = servers.settings()
        port = free_port()
        if view_engines:
            prepare(settings)  # the keyspace and indices, as `photoshare up` makes them
        role_dirs: list[Path] = []

        def role(*argv: str, log_name: str) -> subprocess.Popen[bytes]:
            if not view_engines:
                return servers.role(*argv, log_name=log_name)
            role_dirs.append(tmp_path / f"data-{log_name.removesuffix('.log')}")
            return servers.role(*argv, log_name=log_name,
                                PHOTOSHARE_DATA_DIR=str(role_dirs[-1]))

        writeapi = role("writeapi", "--port", str(port), log_name="writeapi.log")
        base = f"http://127.0.0.1:{port}"
        read_ports = {"a": free_port(), "b": free_port()}
        read_bases = {name: f"http://127.0.0.1:{p}" for name, p in read_ports.items()}
        readapis = {name: role("readapi", "--port", str(p), log_name=f"readapi-{name}.log")
                    for name, p in read_ports.items()}
        wait_healthy(base, writeapi, servers.log_dir / "writeapi.log")
        for name, process in readapis.items():
            wait_healthy(read_bases[name], process, servers.log_dir / f"readapi-{name}.log")
        relay = role("relay", log_name="relay.log")
        workers = [role("worker", log_name=f"worker-{n}.log") for n in (1, 2)]
        crashed_read_api: list[bool] = []  # whether the load was still running then

        def crash_read_api(reads: Reads) -> threading.Thread:
            """kill -9 read API `a` and start it again on the same port (a fresh process,
            with its own empty data dir); the returned thread waits until it is healthy.
            (Started from this thread: a role dies with the thread that started it.)"""
            crashed_read_api.append(loading.is_alive())
            reads.down.add("a")
            kill9(readapis["a"])
            readapis["a"] = role("readapi", "--port", str(read_ports["a"]),
                                 log_name="readapi-a2.log")

            def healthy_again() -> None:
                wait_healthy(read_bases["a"], readapis["a"],
                             servers.log_dir / "readapi-a2.log")
                reads.down.discard("a")
                crashed_read_api.append(True)  # and healthy again

            waiting = threading.Thread(target=healthy_again)
            waiting.start()
            return waiting

        try:
            load = Load(base, rng.randrange(2**32))
            load.register(USERS)
            loading = threading.Thread(target=load.run, args=(ACTIONS,))
            with Reads(load, read_bases, rng.randrange(2**16)) as reads:
                loading.start()
                # The read API dies at a random one of three moments: before the relay's
                # crash, between the relay's and the worker's, or after the worker's.
                read_crash_slot = rng.randrange(3)
                read_crash = None

                def maybe_crash_read_api(slot: int) -> None:
                    nonlocal read_crash
                    if slot == read_crash_slot:
                        time.sleep(rng.uniform(0.2, 2.0))
                        read_crash = crash_read_api(reads)

                maybe_crash_read_api(0)
                time.sleep(rng.uniform(1.0, 4.0))
                kill9(relay)  # mid-batch, most likely: it publishes continuously under load
                time.sleep(rng.uniform(0.5, 2.0))
                relay = role("relay", log_name="relay-b.log")

                maybe_crash_read_api(1)
                time.sleep(rng.uniform(3.0, 6.0))
                kill9(workers[0])  # its partitions move to the other worker after the timeout
                time.sleep(rng.uniform(0.5, 2.0))
                workers[0] = role("worker", log_name="worker-1b.log")
                maybe_crash_read_api(2)

                loading.join()
                assert read_crash is not None
                read_crash.join(timeout=120)
                assert not read_crash.is_alive()
            assert crashed_read_api == [True, True]  # killed during the writes, restarted
            assert sum(load.statuses.values()) > ACTIONS * 0.9
            assert load.statuses[201] > ACTIONS * 0.1  # posts and comments, not just follows
            assert not [s for s in load.statuses if s >= 500], load.statuses
            # Reads kept answering: through `b` always, through `a` except while it was down.
            assert reads.unexpected == [], reads.unexpected[:10]
            assert reads.answers["b"][200] > 50, reads.answers
            assert reads.answers["a"][200] > 0, reads.answers
            print("reads:", {name: dict(counts) for name, counts in reads.answers.items()},
                  "refused while down:", dict(reads.refused))
            head = wait_until_projected(settings)
            assert_read_apis_agree(load, read_bases, head)
        finally:
            everything = [writeapi, relay, *workers, *readapis.values()]
            for process in everything:
                if process.poll() is None:
                    process.terminate()
            for process in everything:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()

        # No event is missing from Kafka (duplicates from the relay's crash are allowed).
        commands = open_event_store(settings)
        published = [e.position for e in commands.iter_log()]
        by_partition = positions_in_kafka(settings)
        (tmp_path / "kafka-positions.json").write_text(json.dumps(by_partition))
        in_kafka = Counter(p for positions in by_partition.values() for p in positions)
        assert published and published[-1] <= head
        assert [p for p in published if p not in in_kafka] == []
        assert {partition: out_of_log_order(positions)[:10]
                for partition, positions in by_partition.items()
                if out_of_log_order(positions)} == {}
        print("load:", dict(load.statuses), "events:", len(published), "republished:",
              sum(1 for count in in_kafka.values() if count > 1))

        # Every view equals a rebuild from event zero by the embedded runner.
        rebuilt = open_views(tmp_path / "rebuilt.sqlite3")
        ProjectionRunner(commands, rebuilt, bindings(settings)).catch_up()
        if view_engines:
            written = [path for directory in role_dirs if directory.exists()
                       for path in directory.rglob("*")]
            assert len(role_dirs) == 9 and written == [], written
            assert_engine_views_equal_rebuild(settings, rebuilt, commands)
        else:
            assert_sqlite_views_equal_rebuild(open_views(settings.views_path), rebuilt)
        rebuilt.close()
        commands.close()


def assert_read_apis_agree(load: Load, bases: dict[str, str], head: int) -> None:
    """Once everything is applied, the restarted read API and the other one give every
    user the same timeline and notifications, fresh to `head`."""
    clients = {name: httpx.Client(base_url=base, timeout=30) for name, base in bases.items()}
    try:
        for token in load.tokens.values():
            headers = {"Authorization": f"Bearer {token}", "X-Min-Position": str(head)}
            for path in Reads.PATHS:
                answers = {name: client.get(path, params={"limit": 100}, headers=headers)
                           for name, client in clients.items()}
                for answer in answers.values():
                    assert answer.status_code == 200, answer.text
                    assert "X-Read-Stale" not in answer.headers, (path, answer.headers)
                assert answers["a"].json() == answers["b"].json(), path
    finally:
        for client in clients.values():
            client.close()


def assert_sqlite_views_equal_rebuild(live: ViewDatabase, rebuilt: ViewDatabase) -> None:
    live_dump, rebuilt_dump = live.dump(), rebuilt.dump()
    assert live_dump.keys() == rebuilt_dump.keys()
    for table in rebuilt_dump:
        missing = sorted(set(rebuilt_dump[table]) - set(live_dump[table]))
        extra = sorted(set(live_dump[table]) - set(rebuilt_dump[table]))
        assert (missing, extra) == ([], []), table
        assert len(live_dump[table]) == len(rebuilt_dump[table]), table
    # No notification twice: one per (recipient, type, actor, photo).
    rows = live.reader().execute(
        "SELECT user_id, type, actor_id, photo_id FROM notifications WHERE removed = 0 "
        "AND type != 'comment'").fetchall()
    assert rows, "the load made no notifications"
    assert len(rows) == len({tuple(row) for row in rows})
    live.close()
