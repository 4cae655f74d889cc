"""Blocks and mutes hold in every read, whatever the history and the delivery order.

A random valid history of follows, blocks, unblocks, mutes, unmutes, posts, likes and
comments (the write side's rules: a block ends the pair's follows both ways and refuses
follows, likes, comments and tags between the two) is delivered as the cluster profile's
workers receive it (partitioned by aggregate, interleaved, redelivered, in batches) into
every real SQLite view. Then, for every user, the read routes themselves (the functions
the HTTP routes run, with `readapi/blocking.py`'s rules) are walked page by page and
compared with a model folded from the history in log order:

- the controls view holds exactly the model's blocks and mutes;
- the home timeline is the definition (own and followees' live posts, newest `cap`)
  without the posts of anyone blocked either way or muted;
- notifications never come from anyone blocked either way or muted, and are all the
  others;
- user and photo search never show anyone blocked either way (or their photos), and
  show every other hit an anonymous search shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from photoshare.events import (
    Envelope,
    PhotoDeleted,
    PhotoPosted,
    UserBlocked,
    UserFollowed,
    UserMuted,
    UserRegistered,
    UserUnblocked,
    UserUnfollowed,
    UserUnmuted,
    event_from_data,
)
from photoshare.infra.sqlite.catalog import bindings, view_queries
from photoshare.projections import controls as controls_module
from photoshare.projections.controls import Controls
from photoshare.readapi.pagination import PageRequest, decode_cursor
from photoshare.readapi.routes import notifications, search, timeline
from photoshare.readapi.services import ReadServices
from photoshare.streams.partitioned import PartitionedApplier
from support.histories import NAMES, envelopes, histories
from support.partitions import deliveries
from support.views import VIEW_SETTINGS, fresh_views

# Weighted towards what blocks and mutes act on.
CONTROL_KINDS = ("follow", "follow", "follow", "unfollow", "post", "post", "post", "delete",
                 "like", "comment", "block", "block", "unblock", "mute", "mute", "unmute")
PAGE_SIZES = (1, 2, 5)
QUERIES = ("sun", "beach", "#beach", "night")


@dataclass
class Model:
    follows: set[tuple[str, str]] = field(default_factory=set)
    posts: dict[str, tuple[str, int]] = field(default_factory=dict)  # photo -> (owner, pos)
    blocks: set[tuple[str, str]] = field(default_factory=set)
    mutes: set[tuple[str, str]] = field(default_factory=set)
    users: list[str] = field(default_factory=list)

    def apply(self, envelope: Envelope) -> None:
        e = event_from_data(envelope.event_type, envelope.schema_version, envelope.data)
        match e:
            case UserRegistered():
                self.users.append(e.user_id)
            case UserFollowed():
                self.follows.add((e.follower_id, e.followee_id))
            case UserUnfollowed():
                self.follows.discard((e.follower_id, e.followee_id))
            case PhotoPosted():
                self.posts[e.photo_id] = (e.owner_id, envelope.position)
            case PhotoDeleted():
                self.posts.pop(e.photo_id, None)
            case UserBlocked():
                self.blocks.add((e.blocker_id, e.blocked_id))
            case UserUnblocked():
                self.blocks.discard((e.blocker_id, e.blocked_id))
            case UserMuted():
                self.mutes.add((e.muter_id, e.muted_id))
            case UserUnmuted():
                self.mutes.discard((e.muter_id, e.muted_id))

    def controls(self, user: str) -> Controls:
        return Controls(blocking=frozenset(b for a, b in self.blocks if a == user),
                        blocked_by=frozenset(a for a, b in self.blocks if b == user),
                        muting=frozenset(b for a, b in self.mutes if a == user))

    def hidden(self, user: str) -> frozenset[str]:
        """Who `user` and they see nothing of each other: blocked either way."""
        controls = self.controls(user)
        return controls.blocking | controls.blocked_by

    def home(self, user: str, cap: int) -> list[str]:
        mine = sorted(((position, photo) for photo, (owner, position) in self.posts.items()
                       if owner == user or (user, owner) in self.follows), reverse=True)[:cap]
        silenced = self.hidden(user) | self.controls(user).muting
        return [photo for _, photo in mine if self.posts[photo][0] not in silenced]


def walk(read: Any, size: int) -> list[dict[str, Any]]:
    """Every item of a paged read, `size` at a time, following the cursors."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(500):
        # As the client gets it (the timeline's cards are ready JSON: readapi/cards.py).
        got = orjson.loads(orjson.dumps(read(PageRequest(
            size, decode_cursor(cursor) if cursor else None))))
        assert len(got["items"]) <= size
        items += got["items"]
        cursor = got["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the page walk does not end")


def services(queries: Any) -> ReadServices:
    return ReadServices(queries=lambda: queries, consistency=None,  # type: ignore[arg-type]
                        live=None, media_url_prefix="/media")  # type: ignore[arg-type]


def check(model: Model, views: ReadServices) -> None:
    q = views.queries()
    cap = VIEW_SETTINGS.timeline_cap
    for user in model.users:
        controls, hidden = model.controls(user), model.hidden(user)
        read = q.controls.of(user)
        if read.complete:
            assert read == controls, user
        else:  # past the bound (BLOCKERS_LOADED): some loaded, the others asked about
            assert read.blocked_by <= controls.blocked_by, user
            assert {u for u in model.users if read.hides(u)} == hidden, user
        silenced = hidden | controls.muting
        for size in PAGE_SIZES:
            home = walk(lambda page: timeline.timeline(user, views, page), size)
            assert [card["photo_id"] for card in home] == model.home(user, cap), (user, size)
            heard = walk(lambda page: notifications.notifications(views, user, page), size)
            everything = q.notifications.for_user(user, None, 10_000)
            assert [n["notification_id"] for n in heard] == [
                n.notification_id for n in everything if n.actor_id not in silenced]
        for text in QUERIES:
            anyone = walk(lambda page: search.search_photos(text, views, page, None), 100)
            seen = walk(lambda page: search.search_photos(text, views, page, user), 2)
            assert [p["photo_id"] for p in seen] == [
                p["photo_id"] for p in anyone if p["owner"]["user_id"] not in hidden]
            assert all(t["user_id"] not in hidden for p in seen for t in p["tagged"])
        for name in NAMES[:len(model.users)]:
            anyone = walk(lambda page: search.search_users(name, views, page, None), 100)
            seen = walk(lambda page: search.search_users(name, views, page, user), 1)
            assert [u["user_id"] for u in seen] == [
                u["user_id"] for u in anyone if u["user_id"] not in hidden]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.large_base_example])
@given(history=histories(max_users=5, max_steps=80, kinds=CONTROL_KINDS), data=st.data(),
       batch=st.integers(1, 9))
def test_reads_respect_blocks_and_mutes_under_any_delivery(history: Any, data: Any,
                                                          batch: int) -> None:
    # Half the examples read at most one blocker whole (the others are asked about).
    loaded = data.draw(st.sampled_from([controls_module.BLOCKERS_LOADED, 1]), label="loaded")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(controls_module, "BLOCKERS_LOADED", loaded)
        _reads_respect_blocks_and_mutes(history, data, batch)


def _reads_respect_blocks_and_mutes(history: Any, data: Any, batch: int) -> None:
    items = envelopes(history)
    delivered = data.draw(deliveries(items))
    model = Model()
    for envelope in items:
        model.apply(envelope)
    db = fresh_views()
    try:
        applier = PartitionedApplier(db, bindings(VIEW_SETTINGS))
        for start in range(0, len(delivered), batch):
            applier.apply(delivered[start:start + batch])
        check(model, services(view_queries(db.reader(), VIEW_SETTINGS)))
    finally:
        db.close()
