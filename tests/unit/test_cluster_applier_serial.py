"""The cluster applier applies the events that read an account's follower count and act
on it (streams.partitioned.counted_account) one at a time per account, also when they
come from different partitions of a batch; everything else still side by side. The
stores' side is the cluster views contract
(`test_the_celebrity_crossing_survives_two_follows_applied_at_once`)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from photoshare.events import Envelope, UserFollowed, event_to_data
from photoshare.streams.delivery import Delivery
from photoshare.streams.partitioned import ClusterApplier, counted_account
from photoshare.streams.runner import Binding


def follow(position: int, follower: str, followee: str) -> Envelope:
    event = UserFollowed(follower_id=follower, followee_id=followee)
    return Envelope(event_id=f"e{position}", event_type=event.event_type(),
                    schema_version=event.schema_version,
                    aggregate_id=f"{follower}:{followee}", aggregate_version=1,
                    position=position, occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
                    actor_id=follower, correlation_id="c", data=event_to_data(event))


class Checkpoints:
    def __init__(self) -> None:
        self.saves: list[dict[str, int]] = []

    def load(self) -> dict[str, int]:
        return {}

    def save(self, moved: dict[str, int]) -> None:
        self.saves.append(dict(moved))


class InFlight:
    """Counts how many events are being applied at once, in all and per followee."""

    name = "in-flight"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: Counter[str] = Counter()
        self.most: Counter[str] = Counter()

    def apply(self, _event: Any, envelope: Envelope, _store: Any) -> None:
        keys = ("all", envelope.data["followee_id"])
        with self.lock:
            for key in keys:
                self.now[key] += 1
                self.most[key] = max(self.most[key], self.now[key])
        time.sleep(0.05)
        with self.lock:
            for key in keys:
                self.now[key] -= 1


def test_follows_of_one_account_are_applied_one_at_a_time_across_partitions() -> None:
    projection, checkpoints = InFlight(), Checkpoints()
    applier = ClusterApplier(checkpoints, [Binding(projection, lambda _c, _o: None)],
                             Delivery(), threads=8, serialized=[projection.name])
    batch = [("t:0", follow(1, "cy", "bob")), ("t:1", follow(2, "dee", "bob")),
             ("t:2", follow(3, "eve", "bob")), ("t:3", follow(4, "ann", "fay")),
             ("t:4", follow(5, "gus", "hal"))]
    assert applier.apply(batch) == 5
    assert projection.most["bob"] == 1
    assert projection.most["all"] >= 2  # other accounts' events still side by side
    assert checkpoints.saves == [{"t:0": 1, "t:1": 2, "t:2": 3, "t:3": 4, "t:4": 5}]


def test_which_events_are_serialized() -> None:
    assert counted_account(follow(1, "cy", "bob")) == "bob"
    posted = Envelope(event_id="p", event_type="PhotoPosted", schema_version=1,
                      aggregate_id="ph", aggregate_version=1, position=2,
                      occurred_at=datetime(2026, 1, 1, tzinfo=UTC), actor_id="bob",
                      correlation_id="c", data={"photo_id": "ph", "owner_id": "bob"})
    assert counted_account(posted) == "bob"
    liked = Envelope(event_id="l", event_type="PhotoLiked", schema_version=1,
                     aggregate_id="ph:cy", aggregate_version=1, position=3,
                     occurred_at=datetime(2026, 1, 1, tzinfo=UTC), actor_id="cy",
                     correlation_id="c", data={"photo_id": "ph", "user_id": "cy"})
    assert counted_account(liked) is None


class Settling:
    """Records when `settle` runs (after which checkpoint saves) and what it is given."""

    name = "settling"

    def __init__(self, checkpoints: Checkpoints) -> None:
        self.checkpoints = checkpoints
        self.settled: list[tuple[int, list[int], int]] = []

    def apply(self, *_: Any) -> None:
        pass

    def settle(self, envelopes: list[Envelope], _store: Any) -> None:
        self.settled.append((len(self.checkpoints.saves),
                             sorted(e.position for e in envelopes), delivery.position))


delivery = Delivery()


class Remembering(Checkpoints):
    def __init__(self) -> None:
        super().__init__()
        self.done: dict[str, int] = {}

    def load(self) -> dict[str, int]:
        return dict(self.done)

    def save(self, moved: dict[str, int]) -> None:
        super().save(moved)
        self.done.update(moved)


def test_settle_runs_after_the_save_over_every_delivered_event_redeliveries_included() -> None:
    checkpoints = Remembering()
    projection = Settling(checkpoints)
    applier = ClusterApplier(checkpoints, [Binding(projection, lambda _c, _o: None)],
                             delivery, threads=2)
    applier.apply([("t:0", follow(1, "cy", "bob")), ("t:1", follow(2, "dee", "bob"))])
    # The same batch again (a worker that died before acknowledging it): nothing is
    # applied, and it is settled again.
    assert applier.apply([("t:0", follow(1, "cy", "bob")), ("t:1", follow(2, "dee", "bob"))]) == 0
    assert projection.settled == [(1, [1, 2], 2), (2, [1, 2], 2)]


class Staging:
    """A write-only projection: records what it staged, and when its flush ran."""

    name = "staging"

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def apply(self, _event: Any, envelope: Envelope, _store: Any) -> None:
        self.log.append(f"staged {envelope.position}")


class Slow:
    name = "slow"

    def __init__(self, log: list[str], flushing: threading.Event) -> None:
        self.log, self.flushing = log, flushing

    def apply(self, _event: Any, envelope: Envelope, _store: Any) -> None:
        # The staged flush is already under way while this projection applies.
        assert self.flushing.wait(5), "the staged flush did not start before the others"
        self.log.append(f"applied {envelope.position}")


def test_staged_projections_are_sent_while_the_others_apply_and_before_the_checkpoints() -> None:
    log: list[str] = []
    flushing = threading.Event()
    checkpoints = Remembering()

    def send() -> None:
        flushing.set()
        time.sleep(0.1)
        log.append("sent")

    applier = ClusterApplier(
        checkpoints, [Binding(Slow(log, flushing), lambda _c, _o: None),
                      Binding(Staging(log), lambda _c, _o: None)],
        Delivery(), threads=4, staged={"staging": send},
        flushes=[lambda: log.append("batch end")])
    # Partition t:0 holds a redelivery within the batch (position 1 twice).
    batch = [("t:0", follow(1, "cy", "bob")), ("t:1", follow(2, "dee", "eve")),
             ("t:0", follow(1, "cy", "bob")), ("t:0", follow(3, "fay", "gus"))]
    assert applier.apply(batch) == 3
    assert log[:3] == ["staged 1", "staged 3", "staged 2"]  # each partition in order
    assert sorted(log[3:6]) == ["applied 1", "applied 2", "applied 3"]
    assert log[6:] == ["sent", "batch end"]
    assert checkpoints.saves == [{"t:0": 3, "t:1": 2}]


def test_a_failed_staged_flush_fails_the_batch_before_its_checkpoints() -> None:
    checkpoints = Remembering()
    discarded: list[str] = []

    def send() -> None:
        raise ConnectionError("search is down")

    applier = ClusterApplier(
        checkpoints, [Binding(Staging([]), lambda _c, _o: None)], Delivery(),
        staged={"staging": send}, discards=[lambda: discarded.append("staged writes")])
    with pytest.raises(ConnectionError):
        applier.apply([("t:0", follow(1, "cy", "bob"))])
    assert checkpoints.saves == [] and discarded == ["staged writes"]
