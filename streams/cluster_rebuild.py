"""Blue-green rebuild of a view on the cluster profile: `photoshare projections rebuild`.

Which views. Only `search` (OpenSearch): its store is separable from the others, a pair of
indices behind the aliases that every query goes through. The other cluster views share
what a rebuild beside them would have to split: the workers' per-partition checkpoints
and the Redis counters (one script moves both), and tables in one Cassandra keyspace that
every store and `rebuild-redis` address by name. They are refused with a message saying
how to rebuild them (a fresh keyspace, README "The cluster profile").

How (the live-version row: infra/postgres/view_versions.py):
1. Build. Version n+1's indices are created beside the live version n, and the log is
   read from event zero through the same projection code the workers run, in batches,
   each flushed and then recorded as the rebuild's own position (an interrupted rebuild
   resumes from there). Readers and workers carry on with version n meanwhile.
2. Switch. Once caught up with the log head, the rebuild sets `switching`: from their
   next batch the workers wait. It then applies what was committed to the log until
   then (every event a worker may have applied to version n only, since the catch-up),
   refreshes the new indices, points the aliases at them (one atomic `update_aliases`
   request: a search sees version n or n+1, never a mix), and records n+1 as live. The
   workers then apply their waiting batches to n+1: every event committed after
   `switching` was set reaches them after it, so none is applied to version n only. What
   they apply again (events the rebuild applied too) is harmless, as a batch applied
   again after a crash is (the store's writes are idempotent, infra/opensearch/search.py).
   The pause lasts the last catch-up, the refresh and the alias switch (0.76 s in
   bench/RESULTS.md).
3. Old version. Dropped `DROP_AFTER_SECONDS` after the switch (a worker batch that read
   the live version just before the switch may still be writing to it), or kept with
   `keep_old`. If the rebuild fails while switching, the aliases go back to version n,
   `switching` is turned off again and version n stays live; running the command again
   resumes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from photoshare.events import event_from_data
from photoshare.infra.postgres.view_versions import (
    SWITCH_AFTER_SECONDS,
    ViewVersions,
)
from photoshare.infra.settings import Settings
from photoshare.streams.rebuild import Progress
from photoshare.streams.runner import EventSource

REBUILDABLE = ("search",)
DROP_AFTER_SECONDS = 5.0


class NotRebuildable(ValueError):
    """A view the cluster rebuild cannot build beside the live one (module docstring)."""


@dataclass(frozen=True)
class Rebuilt:
    view: str
    version: int
    position: int
    dropped: tuple[str, ...]


def check_name(name: str, known: list[str]) -> None:
    if name in REBUILDABLE:
        return
    if name in known:
        raise NotRebuildable(
            f"on the cluster profile only {', '.join(REBUILDABLE)} can be rebuilt beside the "
            f"live version; {name} shares the workers' checkpoints, the Redis counters and "
            "the Cassandra keyspace with the other views: rebuild every view at once into "
            "a fresh PHOTOSHARE_CASSANDRA_KEYSPACE, _REDIS_PREFIX and PHOTOSHARE_WORKER_GROUP "
            "(README, \"The cluster profile\")")
    raise NotRebuildable(f"no view named {name!r}; views: {', '.join(known)} (on the "
                         f"cluster profile: {', '.join(REBUILDABLE)})")


class SearchVersions:
    """The search view's versions: pairs of indices `{prefix}users-v{n}` and
    `{prefix}photos-v{n}` behind the aliases (infra/opensearch/search.py)."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client, self.prefix = client, prefix

    def _aliases(self) -> tuple[str, str]:
        from photoshare.infra.opensearch.search import SearchIndices

        live = SearchIndices.live(self.prefix)
        return live.users, live.photos

    def live_version(self) -> int:
        """The version the aliases point at (1 when none exists yet)."""
        users, _ = self._aliases()
        if not self.client.indices.exists_alias(name=users):
            return 1
        (index,) = self.client.indices.get_alias(name=users)
        match = re.search(r"-v(\d+)$", index)
        return int(match.group(1)) if match else 1

    def indices(self, version: int) -> tuple[str, str]:
        from photoshare.infra.opensearch.search import SearchIndices

        target = SearchIndices.versioned(self.prefix, version)
        return target.users, target.photos

    def create(self, version: int, *, fresh: bool) -> None:
        from photoshare.infra.opensearch.search import create_indices

        if fresh:  # left by an earlier rebuild whose record is gone: start clean
            self.drop(version)
        create_indices(self.client, self.prefix, version)

    def store(self, version: int) -> Any:
        from photoshare.infra.opensearch.search import OpenSearchSearchStore, SearchIndices

        # No refresh per batch: nobody reads the new version before the switch.
        return OpenSearchSearchStore(self.client, SearchIndices.versioned(self.prefix, version),
                                     refresh=False)

    def switch(self, version: int) -> None:
        for index in self.indices(version):
            self.client.indices.refresh(index=index)
        # Both aliases in one request: a search sees one version of both indices.
        actions: list[dict[str, Any]] = []
        for alias, index in zip(self._aliases(), self.indices(version), strict=True):
            current = (self.client.indices.get_alias(name=alias)
                       if self.client.indices.exists_alias(name=alias) else {})
            actions += [{"remove": {"index": old, "alias": alias}}
                        for old in current if old != index]
            actions.append({"add": {"index": index, "alias": alias}})
        self.client.indices.update_aliases(body={"actions": actions})

    def drop(self, version: int) -> tuple[str, ...]:
        dropped = []
        for index in self.indices(version):
            if self.client.indices.exists(index=index):
                self.client.indices.delete(index=index)
                dropped.append(index)
        return tuple(dropped)


def _catch_up(source: EventSource, store: Any, projection: Any, position: int,
              batch_size: int, on_batch: Callable[[int], None]) -> int:
    """Apply the log after `position` to `store` until the head; the position reached."""
    while True:
        envelopes, last = source.read_batch(position, batch_size)
        if last <= position:
            return position
        for envelope in envelopes:
            event = event_from_data(envelope.event_type, envelope.schema_version,
                                    envelope.data)
            projection.apply(event, envelope, store)
        store.flush()
        position = last
        on_batch(position)


def rebuild_cluster_view(settings: Settings, source: EventSource, name: str, *,
                         batch_size: int = 2000, keep_old: bool = False,
                         drop_after_seconds: float = DROP_AFTER_SECONDS,
                         on_progress: Callable[[Progress], None] = lambda _: None,
                         on_switching: Callable[[], None] = lambda: None) -> Rebuilt:
    """Rebuild cluster view `name` beside the live one and switch it in (module
    docstring). `on_switching` is called once the workers have been told to wait."""
    from opensearchpy import OpenSearch

    from photoshare.projections.search import SearchProjection

    if name not in REBUILDABLE:
        raise NotRebuildable(f"cannot rebuild {name!r} on the cluster profile")
    if not settings.opensearch_url:
        raise NotRebuildable("rebuilding search needs PHOTOSHARE_OPENSEARCH_URL")
    client = OpenSearch(settings.opensearch_url)
    versions = ViewVersions(settings.postgres_dsn)
    try:
        versions.lock(name)
        search = SearchVersions(client, settings.opensearch_index_prefix)
        live = search.live_version()
        recorded = versions.get(name)
        fresh = recorded is None or recorded.building is None
        state = versions.start(name, live)
        assert state.building is not None
        live, building = state.live, state.building
        search.create(building, fresh=fresh)
        store, projection = search.store(building), SearchProjection()
        started, first = time.monotonic(), state.position

        def advanced(position: int) -> None:
            versions.advance(name, position)
            elapsed = time.monotonic() - started
            rate = (position - first) / elapsed if elapsed > 0 else 0.0
            on_progress(Progress(name, position, source.head_position(), rate))

        position = _catch_up(source, store, projection, state.position, batch_size, advanced)
        # Workers that saw no rebuild may trust that for QUIET_SECONDS: wait them out.
        while (wait := SWITCH_AFTER_SECONDS - versions.seconds_since_start(name)) > 0:
            time.sleep(wait)
            position = _catch_up(source, store, projection, position, batch_size, advanced)
        versions.set_switching(name, True)
        aliased = False
        try:
            on_switching()
            position = _catch_up(source, store, projection, position, batch_size, advanced)
            search.switch(building)
            aliased = True
            versions.switched(name, position)
        except BaseException:
            # Version `live` stays live, for readers too; the same command resumes.
            if aliased:
                search.switch(live)
            versions.set_switching(name, False)
            raise
        dropped: tuple[str, ...] = ()
        if not keep_old and live != building:
            time.sleep(drop_after_seconds)
            dropped = search.drop(live)
        return Rebuilt(name, building, position, dropped)
    finally:
        versions.close()
        client.close()
