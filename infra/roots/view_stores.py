"""Which store serves each view in the cluster profile, chosen per view by settings.

`auto` picks the cluster server when its address is set (Cassandra for the graph and
photos views, OpenSearch for search) and the SQLite view in the data dir otherwise;
`PHOTOSHARE_STORE_<VIEW>` forces a choice. Profiles, timelines and notifications are on
SQLite here (their counters and timeline heads are the Redis work still to do). The choice
is logged at start-up, so an operator sees which views are single-machine.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from photoshare.infra.settings import Settings
from photoshare.infra.sqlite.catalog import bindings, view_queries
from photoshare.readapi.services import ViewQueries
from photoshare.streams.runner import Binding

log = logging.getLogger("photoshare.views")


@dataclass
class ViewStores:
    """The worker's bindings, the flushes of batched stores, and the read side's queries."""

    choice: dict[str, str]
    bindings: list[Binding]
    flushes: list[Callable[[], None]] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)  # view name -> query object

    def queries(self, connection: sqlite3.Connection, settings: Settings) -> ViewQueries:
        return replace(view_queries(connection, settings), **self.overrides)


def choose(settings: Settings) -> dict[str, str]:
    def pick(forced: str, server: str | None, name: str) -> str:
        if forced != "auto":
            return forced
        return name if server else "sqlite"

    return {
        "profiles": "sqlite", "timelines": "sqlite", "notifications": "sqlite",
        "graph": pick(settings.store_graph, settings.cassandra_hosts, "cassandra"),
        "photos": pick(settings.store_photos, settings.cassandra_hosts, "cassandra"),
        "search": pick(settings.store_search, settings.opensearch_url, "opensearch"),
    }


def open_view_stores(settings: Settings) -> ViewStores:
    choice = choose(settings)
    log.info("view stores: %s", ", ".join(f"{view}={store}" for view, store in choice.items()))
    by_name = {binding.projection.name: binding for binding in bindings(settings)}
    stores = ViewStores(choice, [])
    if "cassandra" in choice.values():
        from photoshare.infra.cassandra.graph import (
            CassandraGraphQueries,
            CassandraGraphStore,
        )
        from photoshare.infra.cassandra.photos import (
            CassandraPhotoQueries,
            CassandraPhotoStore,
        )
        from photoshare.infra.cassandra.schema import connect

        # `host` or `host:port` entries, comma-separated: parsed by `connect`.
        session = connect(settings.cassandra_hosts or "", settings.cassandra_keyspace)
        if choice["graph"] == "cassandra":
            graph_store = CassandraGraphStore(session)
            by_name["graph"] = replace(by_name["graph"], store=lambda _c, _o: graph_store)
            stores.overrides["graph"] = CassandraGraphQueries(session)
        if choice["photos"] == "cassandra":
            photo_store = CassandraPhotoStore(session)
            by_name["photos"] = replace(by_name["photos"], store=lambda _c, _o: photo_store)
            stores.overrides["photos"] = CassandraPhotoQueries(session)
    if choice["search"] == "opensearch":
        from opensearchpy import OpenSearch

        from photoshare.infra.opensearch.search import (
            OpenSearchSearchQueries,
            OpenSearchSearchStore,
            SearchIndices,
        )

        client = OpenSearch(settings.opensearch_url)
        search_store = OpenSearchSearchStore(
            client, SearchIndices.live(settings.opensearch_index_prefix),
            refresh=settings.opensearch_refresh_on_flush)
        by_name["search"] = replace(by_name["search"], store=lambda _c, _o: search_store)
        stores.flushes.append(search_store.flush)
        stores.overrides["search"] = OpenSearchSearchQueries(
            client, settings.opensearch_index_prefix)
    stores.bindings = list(by_name.values())
    return stores
