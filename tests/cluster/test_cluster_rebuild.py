"""`photoshare projections rebuild search` on the cluster profile (streams/cluster_rebuild.py):
a new version of the search indices built beside the live one while people keep writing
and a worker keeps applying, then switched in. After the switch, searches through the
read API equal those on a rebuild from event zero made apart, and find what was written
during the rebuild; an interrupted rebuild resumes from its own position; views it
cannot rebuild beside the live one are refused with a clear message."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from opensearchpy import OpenSearch
from photoshare.infra.opensearch.search import OpenSearchSearchQueries, create_indices
from photoshare.infra.postgres.view_versions import ViewVersions
from photoshare.projections.search import SearchProjection
from photoshare.streams.analytics import open_log
from photoshare.streams.cluster_rebuild import SearchVersions, _catch_up, rebuild_cluster_view
from photoshare.streams.rebuild import Progress
from support.cluster import ClusterServers, cluster_servers, photoshare_up
from support.engines import Engines
from support.serve import PHOTOSHARE
from support.story import Person

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

QUERIES = ["seed", "during", "after", "renamed", "#rebuild", "photo", "zz"]


def photoshare(servers: ClusterServers, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PHOTOSHARE), *argv], env=servers.env, capture_output=True,
                          text=True, timeout=600, check=False)


class Writer:
    """Writes that reach the search view, in a thread, until stopped: renames (partial
    updates, which depend on the user's document), registrations and posts."""

    def __init__(self, api: httpx.Client, people: list[Person]) -> None:
        self.api, self.people = api, people
        self.registered: list[Person] = []
        self.names: dict[str, str] = {}
        self.position = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            step = 0
            while not self.stop.is_set():
                person = self.people[step % len(self.people)]
                name = f"Renamed {step}"
                person.write("PATCH", "/v1/users/me", 200, json={"display_name": name})
                self.names[person.user_id] = name
                if step % 3 == 0:
                    self.registered.append(Person(self.api, f"during{step}", f"During {step}"))
                if step % 4 == 0:
                    person.post(f"#rebuild photo {step}")
                self.position = max([self.position, person.position,
                                     *(p.position for p in self.registered)])
                step += 1
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.error = error


def search_ids(api: httpx.Client, reader: Person, kind: str, q: str,
               position: int) -> list[str]:
    response = api.get(f"/v1/search/{kind}", params={"q": q, "limit": 100},
                       headers={**reader.auth, "X-Min-Position": str(position)})
    assert response.status_code == 200, response.text
    assert "X-Read-Stale" not in response.headers
    items = response.json()["items"]
    key = "user_id" if kind == "users" else "photo_id"
    return [item[key] if key in item else item["id"] for item in items]


def reference(servers: ClusterServers, client: OpenSearch, prefix: str) -> Any:
    """The search view rebuilt from event zero apart, behind aliases of its own."""
    create_indices(client, prefix, 1)
    store = SearchVersions(client, prefix).store(1)
    with open_log(servers.settings()) as log:
        _catch_up(log, store, SearchProjection(), 0, 500, lambda _: None)
    for index in SearchVersions(client, prefix).indices(1):
        client.indices.refresh(index=index)
    return OpenSearchSearchQueries(client, prefix)


def documents(client: OpenSearch, index: str) -> dict[str, Any]:
    client.indices.refresh(index=index)
    found = client.search(index=index, body={"query": {"match_all": {}}, "size": 10000})
    return {hit["_id"]: hit["_source"] for hit in found["hits"]["hits"]}


def same_as_a_rebuild_from_zero(servers: ClusterServers, client: OpenSearch,
                                api: httpx.Client, reader: Person, position: int,
                                tag: str) -> None:
    prefix = servers.env["PHOTOSHARE_OPENSEARCH_INDEX_PREFIX"]
    ref_prefix = f"{prefix}ref{tag}-"
    queries = reference(servers, client, ref_prefix)
    try:
        for alias, ref in ((f"{prefix}users", f"{ref_prefix}users-v1"),
                           (f"{prefix}photos", f"{ref_prefix}photos-v1")):
            assert documents(client, alias) == documents(client, ref), alias
        for q in QUERIES:
            assert search_ids(api, reader, "users", q, position) == queries.users(q, 0, 100), q
            assert search_ids(api, reader, "photos", q, position) == queries.photos(
                q, 0, 100), q
    finally:
        SearchVersions(client, ref_prefix).drop(1)


def test_search_is_rebuilt_beside_the_live_one_while_writes_flow(tmp_path: Path,
                                                                 engines: Engines) -> None:
    with cluster_servers(engines, tmp_path, view_engines=True,
                         PHOTOSHARE_MIN_POSITION_WAIT_SECONDS="30") as servers, \
            photoshare_up(servers, workers=1) as base, \
            httpx.Client(base_url=base, timeout=60) as api:
        settings = servers.settings()
        prefix = settings.opensearch_index_prefix
        client = OpenSearch(settings.opensearch_url)
        people = [Person(api, f"seed{i}", f"Seed {i}") for i in range(3)]
        for person in people:
            person.post(f"#rebuild photo of {person.user_id[:4]}")

        # Views the cluster cannot rebuild beside the live one, and no view at all.
        refused = photoshare(servers, "projections", "rebuild", "timelines")
        assert refused.returncode == 2
        assert "only search can be rebuilt" in refused.stderr, refused.stderr
        unknown = photoshare(servers, "projections", "rebuild", "nosuch")
        assert unknown.returncode == 2 and "no view named 'nosuch'" in unknown.stderr

        # The rebuild, while a writer writes and the worker applies.
        writer = Writer(api, people)
        writer.thread.start()
        try:
            done = photoshare(servers, "projections", "rebuild", "search")
        finally:
            writer.stop.set()
            writer.thread.join(timeout=120)
        assert writer.error is None, writer.error
        assert done.returncode == 0, done.stderr[-3000:]
        assert "search: version 2 rebuilt to position" in done.stdout, done.stdout
        assert f"dropped {prefix}users-v1, {prefix}photos-v1" in done.stdout
        assert "rebuild search" in done.stderr  # the progress bar
        assert writer.registered, "nothing was written during the rebuild"
        assert client.indices.get_alias(name=f"{prefix}users") == {
            f"{prefix}users-v2": {"aliases": {f"{prefix}users": {}}}}
        assert not client.indices.exists(index=f"{prefix}users-v1")
        # A process starting now (`up`, `opensearch init`) finds version 2 live and does
        # not make version 1 again.
        assert create_indices(client, prefix).users == f"{prefix}users-v2"
        assert not client.indices.exists(index=f"{prefix}users-v1")

        # Written after the switch: applied by the worker to the new version.
        after = Person(api, "after", "After Switch")
        after.post("#rebuild photo after the switch")
        position = max(writer.position, after.position)
        during = {p.user_id for p in writer.registered}
        assert set(search_ids(api, after, "users", "during", position)) == during
        assert search_ids(api, after, "users", "after", position) == [after.user_id]
        for user_id, name in writer.names.items():
            assert user_id in search_ids(api, after, "users", name, position), name
        same_as_a_rebuild_from_zero(servers, client, api, after, position, "a")

        # Interrupted after its first batch, a rebuild resumes from where it got to.
        def interrupt(_: Progress) -> None:
            raise KeyboardInterrupt

        with open_log(settings) as log, pytest.raises(KeyboardInterrupt):
            rebuild_cluster_view(settings, log, "search", batch_size=20,
                                 on_progress=interrupt)
        versions = ViewVersions(settings.postgres_dsn)
        try:
            row = versions.get("search")
        finally:
            versions.close()
        assert row is not None and row.live == 2 and row.building == 3
        assert row.position > 0 and not row.switching
        # `projections status` shows the stopped rebuild, and how to go on with it.
        shown = photoshare(servers, "projections", "status", "--json")
        assert shown.returncode == 0, shown.stderr
        rebuilds = json.loads(shown.stdout)["rebuilds"]
        assert [(r["view"], r["live"], r["building"], r["position"], r["running"],
                 r["switching"]) for r in rebuilds] == [
            ("search", 2, 3, row.position, False, False)]
        assert rebuilds[0]["lag_events"] > 0
        table = photoshare(servers, "projections", "status").stdout
        assert (f"rebuilding search: version 3 beside live version 2, at position "
                f"{row.position}") in table and "stopped: `photoshare projections " \
            "rebuild search` resumes it" in table, table
        later = Person(api, "later", "Later Still")  # while the rebuild is interrupted
        seen: list[int] = []
        with open_log(settings) as log:
            rebuilt = rebuild_cluster_view(settings, log, "search", batch_size=20,
                                           keep_old=True,
                                           on_progress=lambda p: seen.append(p.position))
        assert seen[0] > row.position and seen[0] - row.position <= 20 + 10, (seen, row)
        assert rebuilt.version == 3 and rebuilt.dropped == ()
        assert client.indices.exists(index=f"{prefix}users-v2")  # --keep-old
        assert search_ids(api, later, "users", "later", later.position) == [later.user_id]
        same_as_a_rebuild_from_zero(servers, client, api, later, later.position, "b")
        client.close()


def test_the_hand_over_loses_no_event_a_worker_applies_around_the_switch(
        tmp_path: Path, engines: Engines) -> None:
    """The worker's side of the switch, step by step, with the cluster applier fed from
    the log by hand (no Kafka, so each step happens exactly when the test says): an event
    the worker applies to the old version after the rebuild's first catch-up reaches the
    new version too, and a batch that arrives during the switch waits, having written
    nothing, and goes to the new version once it is live."""
    from photoshare.commands import messages as m
    from photoshare.infra.postgres.view_versions import ViewSwitching
    from photoshare.infra.roots.embedded import open_event_store
    from photoshare.infra.roots.supervisor import prepare
    from photoshare.infra.roots.view_stores import open_view_stores
    from photoshare.projections.search import words

    def named(name: str) -> str:
        return " ".join(words(name))

    with cluster_servers(engines, tmp_path, view_engines=True, s3=False) as servers:
        settings = servers.settings()
        prepare(settings)
        commands = open_event_store(settings)
        stores = open_view_stores(settings)
        applier = stores.applier()
        client = OpenSearch(settings.opensearch_url)
        prefix = settings.opensearch_index_prefix
        ctx = m.CommandContext(actor_id=None, correlation_id="hand-over")
        applied = 0

        def register(name: str) -> str:
            return str(commands.execute(m.RegisterUser(
                username=name, email=f"{name}@h.example", password_hash="x",
                display_name=name.title()), ctx).value)

        def rename(user_id: str, name: str) -> None:
            commands.execute(m.UpdateProfile(user_id=user_id,
                                             changes={"display_name": name}), ctx)

        def worker_batch() -> None:
            """What a worker does with the events it has not applied yet."""
            nonlocal applied
            envelopes, last = commands.read_batch(applied, 1000)
            applier.apply([("t:0", envelope) for envelope in envelopes])
            applied = last

        def user(index: str, user_id: str) -> Any:
            """The display name indexed for the user (as its words)."""
            client.indices.refresh(index=index)
            return client.get(index=index, id=user_id)["_source"]["display_name_words"]

        ann, bob = register("ann"), register("bob")
        worker_batch()
        caught_up = False
        during: list[str] = []

        def on_progress(step: Progress) -> None:
            nonlocal caught_up
            if step.position >= step.head and not caught_up:
                caught_up = True
                # After the rebuild's first catch-up, before the switch: the worker
                # applies these to version 1 only.
                rename(ann, "Ann Before Switch")
                during.append(register("cid"))
                worker_batch()
                assert user(f"{prefix}users-v1", ann) == named("Ann Before Switch")

        def on_switching() -> None:
            # During the switch: the worker's next batch waits and writes nothing.
            rename(bob, "Bob During Switch")
            with pytest.raises(ViewSwitching):
                worker_batch()
            assert user(f"{prefix}users-v1", bob) == named("Bob")

        with open_log(settings) as log:
            rebuilt = rebuild_cluster_view(settings, log, "search", keep_old=True,
                                           on_progress=on_progress,
                                           on_switching=on_switching)
        assert rebuilt.version == 2 and caught_up
        worker_batch()   # tried again: now to version 2
        rename(ann, "Ann After Switch")
        worker_batch()
        v2 = f"{prefix}users-v2"
        assert user(v2, ann) == named("Ann After Switch")
        assert user(v2, bob) == named("Bob During Switch")
        assert user(v2, during[0]) == named("Cid")
        assert user(f"{prefix}users-v1", ann) == named("Ann Before Switch")  # kept, not written
        queries = OpenSearchSearchQueries(client, prefix)
        assert queries.users("during switch", 0, 10) == [bob]
        assert queries.users("after switch", 0, 10) == [ann]
        client.close()
        stores.close()
        commands.close()
