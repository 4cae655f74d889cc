"""Which stores serve the views in the cluster profile.

`PHOTOSHARE_VIEW_STORES`:

* `cluster`: every view on the cluster's servers (ARCHITECTURE.md §3). Graph, photos,
  profiles, timelines' follows and posts, and notifications in Cassandra; counters,
  timeline heads and the workers' partition checkpoints (with a copy in Cassandra) in
  Redis; search in OpenSearch.
  No process needs a file another one writes, so any role runs on any host.
* `sqlite`: every view in one SQLite file in the data dir, shared by every process:
  one machine only (said at start-up).
* `auto` (the default): `cluster` when the Cassandra, Redis and OpenSearch addresses are
  all set, else `sqlite`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from photoshare.infra.settings import Settings
from photoshare.readapi.services import ViewQueries
from photoshare.streams.delivery import Delivery
from photoshare.streams.runner import Binding, Notice

log = logging.getLogger("photoshare.views")


class ViewStoresError(RuntimeError):
    """The settings do not name the servers the chosen view stores need."""


def view_store_kind(settings: Settings) -> str:
    missing = [name for name, value in (("PHOTOSHARE_CASSANDRA_HOSTS", settings.cassandra_hosts),
                                        ("PHOTOSHARE_REDIS_URL", settings.redis_url),
                                        ("PHOTOSHARE_OPENSEARCH_URL", settings.opensearch_url))
               if not value]
    if settings.view_stores == "cluster" and missing:
        raise ViewStoresError("PHOTOSHARE_VIEW_STORES=cluster needs " + ", ".join(missing))
    if settings.view_stores == "auto":
        return "sqlite" if missing else "cluster"
    return settings.view_stores


@dataclass
class ViewStores:
    """The views of one process: `queries` for the read API, `applier` for a worker,
    `checkpoints` (partition -> position applied) for the watermark."""

    kind: str
    queries: Callable[[], ViewQueries]
    checkpoints: Callable[[], dict[str, int]]
    make_applier: Callable[[Callable[[Sequence[Notice]], None] | None], Any]
    closers: list[Callable[[], None]] = field(default_factory=list)

    def applier(self, publish: Callable[[Sequence[Notice]], None] | None = None) -> Any:
        return self.make_applier(publish)

    def close(self) -> None:
        for close in reversed(self.closers):
            close()


def open_view_stores(settings: Settings) -> ViewStores:
    kind = view_store_kind(settings)
    if kind == "cluster":
        log.info("view stores: Cassandra %s (keyspace %s), Redis, OpenSearch %s",
                 settings.cassandra_hosts, settings.cassandra_keyspace, settings.opensearch_url)
        return _cluster_stores(settings)
    log.warning("view stores: SQLite in %s, shared by every process of this machine "
                "(set PHOTOSHARE_CASSANDRA_HOSTS, _REDIS_URL and _OPENSEARCH_URL to "
                "serve them from the cluster)", settings.views_path)
    return _sqlite_stores(settings)


def _sqlite_stores(settings: Settings) -> ViewStores:
    from photoshare.infra.sqlite.catalog import bindings, open_views, thread_view_queries
    from photoshare.streams.partitioned import PartitionedApplier

    views = open_views(settings.views_path)
    return ViewStores(
        "sqlite",
        queries=thread_view_queries(views, settings),
        checkpoints=views.checkpoints,
        make_applier=lambda publish: PartitionedApplier(views, bindings(settings),
                                                        publish=publish),
        closers=[views.close])


def cluster_queries(session: Any, client: Any, settings: Settings,
                    search: Any | None) -> ViewQueries:
    """The query ports of every view on the cluster's servers (`search`: an OpenSearch
    client, or None for a caller that needs no search). While Redis has lost its data,
    the counts come from Cassandra's rows: each read finds that out with the counters
    (`RedisCounters.saved_table`)."""
    from photoshare.infra.cassandra.controls import CassandraControlQueries
    from photoshare.infra.cassandra.follow_requests import CassandraFollowRequestQueries
    from photoshare.infra.cassandra.graph import CassandraGraphQueries
    from photoshare.infra.cassandra.notifications import CassandraNotificationQueries
    from photoshare.infra.cassandra.photos import CassandraPhotoQueries
    from photoshare.infra.cassandra.profiles import CassandraProfileQueries
    from photoshare.infra.cassandra.timelines import (
        CassandraTimelineQueries,
        TimelineTables,
    )
    from photoshare.infra.opensearch.search import OpenSearchSearchQueries
    from photoshare.infra.redis.counters import RedisCounters

    return ViewQueries(
        profiles=CassandraProfileQueries(
            session, RedisCounters(client, settings.redis_prefix, Delivery())),
        graph=CassandraGraphQueries(session),
        photos=CassandraPhotoQueries(
            session, RedisCounters(client, settings.redis_prefix, Delivery())),
        timelines=CassandraTimelineQueries(TimelineTables(session, client, settings.redis_prefix),
                                           settings.timeline_cap),
        search=(OpenSearchSearchQueries(search, settings.opensearch_index_prefix)
                if search is not None else None),  # type: ignore[arg-type]
        notifications=CassandraNotificationQueries(session),
        controls=CassandraControlQueries(session),
        follow_requests=CassandraFollowRequestQueries(session))


def cluster_bindings(session: Any, client: Any, settings: Settings, delivery: Delivery,
                     counters: Any, search_store: Any | None,
                     buffer: Any | None = None, *,
                     before_search: Callable[[], None] = lambda: None) -> list[Binding]:
    """Every projection bound to its cluster store (search only with a `search_store`).
    The stores read the current event from `delivery` and stage counts in `counters`,
    and the Cassandra writes they can defer in `buffer` (a WriteBuffer the caller
    flushes before it saves checkpoints; without one they write at once).
    `before_search` runs at the start of each batch, before anything is applied (it points
    the search store at the live version, or raises while a rebuild switches it in)."""
    from photoshare.infra.cassandra.controls import CassandraControlStore
    from photoshare.infra.cassandra.follow_requests import CassandraFollowRequestStore
    from photoshare.infra.cassandra.graph import CassandraGraphStore
    from photoshare.infra.cassandra.notifications import CassandraNotificationStore
    from photoshare.infra.cassandra.photos import CassandraPhotoStore
    from photoshare.infra.cassandra.profiles import CassandraProfileStore
    from photoshare.infra.cassandra.timelines import (
        CassandraTimelineStore,
        TimelineTables,
    )
    from photoshare.projections.controls import ControlsProjection
    from photoshare.projections.follow_requests import FollowRequestsProjection
    from photoshare.projections.graph import GraphProjection
    from photoshare.projections.notifications import NotificationsProjection
    from photoshare.projections.photos import PhotosProjection
    from photoshare.projections.profiles import ProfilesProjection
    from photoshare.projections.search import SearchProjection
    from photoshare.projections.timelines import TimelinesProjection

    graph = CassandraGraphStore(session, buffer)
    photos = CassandraPhotoStore(session, delivery, counters)
    profiles = CassandraProfileStore(session, counters, delivery)
    timelines = CassandraTimelineStore(TimelineTables(session, client, settings.redis_prefix),
                                       counters, delivery, buffer=buffer)
    notifications = CassandraNotificationStore(session, delivery, buffer=buffer)
    controls = CassandraControlStore(session)
    requests = CassandraFollowRequestStore(session)
    bindings = [
        Binding(ProfilesProjection(), lambda _c, _o: profiles),
        Binding(GraphProjection(), lambda _c, _o: graph),
        Binding(PhotosProjection(), lambda _c, _o: photos),
        Binding(TimelinesProjection(cap=settings.timeline_cap,
                                    celebrity_threshold=settings.celebrity_threshold),
                lambda _c, outbox: timelines.bind(outbox)),
        Binding(NotificationsProjection(), lambda _c, outbox: notifications.bind(outbox)),
        Binding(ControlsProjection(), lambda _c, _o: controls),
        Binding(FollowRequestsProjection(), lambda _c, _o: requests),
    ]
    if search_store is not None:
        def search_for_batch(_c: Any, _o: Any) -> Any:
            before_search()
            return search_store

        bindings.append(Binding(SearchProjection(), search_for_batch))
    return bindings


class RedisDataLost(RuntimeError):
    """Redis has no checkpoints while Cassandra has their copy: it lost its data."""


class ClusterCheckpoints:
    """The cluster applier's checkpoints: Redis's, which move atomically with the
    counters (infra/redis/counters.py), then a durable copy in Cassandra. After Redis
    lost its data, the copy keeps the watermark where it was, `redis_lost` turns True
    (reads count from Cassandra meanwhile, finding the loss themselves:
    `RedisCounters.saved_table`), and a worker's (`strict`) load refuses until
    `photoshare projections rebuild-redis` has put Redis back (infra/roots/redis_rebuild.py):
    without the counters' checkpoints it could not count each event once."""

    def __init__(self, counters: Any, copy: Any, *, strict: bool = False) -> None:
        self.counters, self.copy, self.strict = counters, copy, strict
        self.redis_lost = False

    def load(self) -> dict[str, int]:
        # The copy is saved after Redis, with the same partitions, so while Redis has
        # checkpoints they are the newest: the copy is read only when Redis has none
        # (a fresh cluster, or lost data). The read API polls this every few ms.
        live = self.counters.load()
        if live:
            self.redis_lost = False
            return live
        kept = self.copy.load()
        self.redis_lost = bool(kept)
        if self.redis_lost and self.strict:
            raise RedisDataLost("Redis has lost its data (its checkpoints are gone, their "
                                "copy in Cassandra is not): waiting for `photoshare "
                                "projections rebuild-redis` to restore it")
        return kept

    def save(self, moved: dict[str, int]) -> None:
        self.counters.save(moved)
        self.copy.save(moved)


def _cluster_stores(settings: Settings) -> ViewStores:
    import redis
    from opensearchpy import OpenSearch
    from photoshare.infra.cassandra.checkpoints import CassandraCheckpoints
    from photoshare.infra.cassandra.schema import connect
    from photoshare.infra.cassandra.write_buffer import WriteBuffer
    from photoshare.infra.opensearch.search import OpenSearchSearchStore, SearchIndices
    from photoshare.infra.postgres.view_versions import LiveVersions
    from photoshare.infra.redis.counters import RedisCounters
    from photoshare.streams.partitioned import ClusterApplier

    # `host` or `host:port` entries, comma-separated: parsed by `connect`.
    session = connect(settings.cassandra_hosts or "", settings.cassandra_keyspace)
    client = redis.Redis.from_url(settings.redis_url or "", socket_timeout=10)
    search = OpenSearch(settings.opensearch_url)
    kept = CassandraCheckpoints(session)
    # The read side's, polled for the watermark.
    checkpoints = ClusterCheckpoints(RedisCounters(client, settings.redis_prefix, Delivery()),
                                     kept)
    queries = cluster_queries(session, client, settings, search)

    def make_applier(publish: Callable[[Sequence[Notice]], None] | None) -> ClusterApplier:
        delivery = Delivery()
        counters = RedisCounters(client, settings.redis_prefix, delivery)
        search_store = OpenSearchSearchStore(
            search, SearchIndices.live(settings.opensearch_index_prefix),
            refresh=settings.opensearch_refresh_on_flush)
        # Search can be rebuilt beside the live version (streams/cluster_rebuild.py):
        # each batch writes to the version live when it starts, and waits during a switch.
        live_versions = LiveVersions(settings.postgres_dsn)
        closers.append(live_versions.close)

        def live_search() -> None:
            version = live_versions.live("search")
            prefix = settings.opensearch_index_prefix
            search_store.indices = (SearchIndices.live(prefix) if version is None
                                    else SearchIndices.versioned(prefix, version))

        buffer = WriteBuffer(session)
        bindings = cluster_bindings(session, client, settings, delivery, counters,
                                    search_store, buffer, before_search=live_search)
        # Search's bulk request goes out while the other views apply (it reads nothing:
        # `staged`); at the batch's end, the Cassandra writes the stores staged (either
        # may fail, and the batch is applied again), then, in the applier, the counters
        # with the checkpoints in one script, then their copy.
        return ClusterApplier(ClusterCheckpoints(counters, kept, strict=True), bindings,
                              delivery, threads=settings.worker_threads,
                              publish=publish, flushes=[buffer.flush],
                              staged={"search": search_store.flush},
                              discards=[buffer.discard, search_store.discard,
                                        counters.discard])

    closers: list[Callable[[], None]] = [session.cluster.shutdown, client.close, search.close]
    return ViewStores(
        "cluster", queries=lambda: queries, checkpoints=checkpoints.load,
        make_applier=make_applier, closers=closers)
