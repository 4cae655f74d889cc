"""The cluster profile's delivery: events partitioned by aggregate (order kept within a
partition only), the partitions interleaved in any order, redelivered after crashes and
rebalances, in batches of any size. Every view must come out exactly as one clean pass
over the log in order.

Runs the workers' PartitionedApplier and every real SQLite view over random valid
histories (no broker: this is the ordering and idempotence property itself; the Kafka
path is exercised for real by tests/cluster)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from photoshare.events import (
    PhotoDeleted,
    PhotoLiked,
    PhotoPosted,
    PhotoUnliked,
    UserRegistered,
)
from photoshare.infra.sqlite.catalog import bindings
from photoshare.streams.partitioned import PartitionedApplier
from support.histories import envelopes, histories, uid
from support.partitions import aggregate_key, deliveries
from support.views import (
    PROFILE,
    VIEW_SETTINGS,
    clean_pass,
    fresh_views,
)


@settings(PROFILE, suppress_health_check=[*PROFILE.suppress_health_check,
                                          HealthCheck.large_base_example])
@given(history=histories(), data=st.data(), batch=st.integers(1, 9))
def test_any_partitioned_delivery_gives_the_clean_views(history: Any, data: Any,
                                                        batch: int) -> None:
    items = envelopes(history)
    expected = clean_pass(items)
    delivered = data.draw(deliveries(items))
    views = fresh_views()
    try:
        applier = PartitionedApplier(views, bindings(VIEW_SETTINGS))
        for start in range(0, len(delivered), batch):
            applier.apply(delivered[start:start + batch])
        got = views.dump()
        differing = {table: (sorted(set(expected[table]) - set(rows)),
                             sorted(set(rows) - set(expected[table])))
                     for table, rows in got.items() if rows != expected[table]}
        assert differing == {}
    finally:
        views.close()


def test_a_like_again_delivered_after_its_photos_deletion_gives_the_clean_views() -> None:
    """Found by the cluster crash test on real Kafka: like, unlike, like again, then the
    photo is deleted, and the deletion (photos topic) overtakes the second like
    (engagement topic). The notification must end as in log order: removed, at the
    second like's position."""
    ann, bob, photo = uid("user", 0), uid("user", 1), uid("photo", 0)
    liked = (PhotoLiked(photo_id=photo, owner_id=ann, user_id=bob), bob)
    history = [
        (UserRegistered(user_id=ann, username="ann", display_name="Ann"), ann),
        (UserRegistered(user_id=bob, username="bob", display_name="Bob"), bob),
        (PhotoPosted(photo_id=photo, owner_id=ann, caption="c", hashtags=[],
                     tagged_user_ids=[], original_key="o.jpg", format="jpeg", width=1,
                     height=1, variants={"large": "l.jpg"}), ann),
        liked, (PhotoUnliked(photo_id=photo, owner_id=ann, user_id=bob), bob), liked,
        (PhotoDeleted(photo_id=photo, owner_id=ann), ann)]
    items = envelopes(history)
    *before, like_again, deletion = items
    views = fresh_views()
    try:
        PartitionedApplier(views, bindings(VIEW_SETTINGS)).apply(
            [(f"topic:{aggregate_key(e)}", e) for e in [*before, deletion, like_again]])
        assert views.dump() == clean_pass(items)
    finally:
        views.close()
