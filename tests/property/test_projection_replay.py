"""Every view converges: duplicate delivery, a crash mid-batch, a restart mid-stream and
a rebuild from event zero all give exactly the views of one clean pass.

Runs the real ProjectionRunner and every real SQLite view of the embedded profile over
random valid histories.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from photoshare.events import Envelope, Event
from photoshare.infra.sqlite.catalog import bindings
from photoshare.projections.base import Projection
from photoshare.streams.runner import Binding, ProjectionRunner
from support.histories import ERASURE_KINDS, ListLog, envelopes, histories
from support.views import PROFILE, VIEW_SETTINGS, clean_pass, fresh_views

class ReplayingLog(ListLog):
    """Redelivers: each batch starts up to `overlap` events before where it was asked."""

    def __init__(self, items: list[Envelope], overlaps: list[int]) -> None:
        super().__init__(items)
        self.overlaps = overlaps
        self.calls = 0

    def read_batch(self, after: int, limit: int) -> tuple[list[Envelope], int]:
        overlap = self.overlaps[self.calls % len(self.overlaps)] if self.overlaps else 0
        self.calls += 1
        batch = [e for e in self.items if e.position > max(0, after - overlap)][:limit + overlap]
        return batch, (batch[-1].position if batch else after)


class Crash(Exception):
    pass


class CrashOnce(Projection[Any]):
    """Wraps a projection and fails once, mid-transaction, at one position."""

    def __init__(self, inner: Projection[Any], at: int) -> None:
        self.inner, self.at, self.crashed = inner, at, False
        self.name = inner.name  # type: ignore[misc]

    def apply(self, event: Event, envelope: Envelope, store: Any) -> None:
        self.inner.apply(event, envelope, store)
        if envelope.position == self.at and not self.crashed:
            self.crashed = True
            raise Crash(f"simulated crash in {self.name} at {self.at}")


@PROFILE
@given(history=histories(kinds=ERASURE_KINDS), batch=st.integers(1, 7),
       overlaps=st.lists(st.integers(0, 5), max_size=5), data=st.data())
def test_duplicates_crashes_and_restarts_give_the_clean_views(history, batch, overlaps,
                                                              data) -> None:
    items = envelopes(history)
    expected = clean_pass(items)
    views = fresh_views()
    crash_at = data.draw(st.integers(1, max(1, len(items))))
    crashing = [Binding(CrashOnce(b.projection, crash_at), b.store)
                for b in bindings(VIEW_SETTINGS)]
    runner = ProjectionRunner(ReplayingLog(items, overlaps), views, crashing, batch_size=batch)
    restart_after = data.draw(st.integers(0, len(items) + 1))  # len + 1: no restart
    for _ in range(len(items) * 4 + 8):
        try:
            if runner.run_batch() == 0:
                break
        except Crash:
            continue  # the transaction rolled back; the next pass redoes the batch
        if runner.position >= restart_after:
            # A restart: a new runner reads the positions the old one committed.
            runner = ProjectionRunner(ReplayingLog(items, overlaps), views, crashing,
                                      batch_size=batch)
            restart_after = len(items) + 1
    assert runner.position == (items[-1].position if items else 0)
    try:
        assert views.dump() == expected
    finally:
        views.close()


@PROFILE
@given(history=histories(kinds=ERASURE_KINDS), cut=st.data())
def test_rebuilding_from_event_zero_gives_the_same_views(history, cut) -> None:
    items = envelopes(history)
    views = fresh_views()
    # Views built live, in small batches as events arrived...
    split = cut.draw(st.integers(0, len(items)))
    ProjectionRunner(ListLog(items[:split]), views, bindings(VIEW_SETTINGS), batch_size=2).catch_up()
    ProjectionRunner(ListLog(items), views, bindings(VIEW_SETTINGS), batch_size=3).catch_up()
    try:
        # ...equal views rebuilt from event zero in one go.
        assert views.dump() == clean_pass(items)
    finally:
        views.close()
