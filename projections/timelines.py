"""The home timeline: the newest `cap` posts of the people a user follows and of the user
(ARCHITECTURE §5; your own posts are in your home feed, as on Instagram or Pixelfed).

Fan-out on write with a celebrity exception. The view keeps its own copy of everything
it needs (follows, follower counts, the live posts of every owner), so it never reads
another view and converges on its own.

What is materialized, per user u (the invariant every handler keeps):

* N(u), the live posts of u's followees that are *not* celebrities (an account is a
  celebrity while it has more than `celebrity_threshold` followers);
* the materialized timeline M(u) is a newest-first prefix of N(u), at most `cap` rows
  long, and at least min(cap, |N(u)|) rows long: it holds the newest `cap` posts of N(u);
* the posts of u's celebrity followees are never materialized: reads merge them in from
  the owners' post index.

* u's own live posts are never materialized either: reads merge them in from u's own
  post index, as if u were a celebrity followee.

So a read is top-`cap`(M(u) ∪ celebrity posts ∪ own posts) = top-`cap`(all followees'
posts and u's own), with no duplicates (the three sets have disjoint owners: nobody
follows themselves). A timeline shorter than `cap` holds all of N(u); a removal from a
full one may leave it short of posts it should show, and is followed by a refill from the
older posts of N(u).

Own posts are merged at read time rather than fanned out to their owner because the post
index already holds them: no state is added, so a view built before own posts were shown
shows them at once (no rebuild), a deletion (which leaves the post index) takes a post
off its owner's timeline, no unfollow or celebrity crossing can touch them (they act on
other owners' rows), and a celebrity's own posts need no case of their own. The price is
one more index range (SQLite) or partition read (Cassandra) per page.

The celebrity mark. Whether an account is a celebrity is recorded once per account (its
*mark*) and on each edge pointing at it (the edge's flag, which decides what is
materialized for that follower). A follow or unfollow reads the follower count, decides
whether it crosses the threshold, and moves the mark and every edge's flag when it does
(`mark_celebrity`); a post reads the *mark* to decide whether it is fanned out.

Applied one event at a time (SQLite: one transaction), the count read is exact and the
mark always equals "more than the threshold". The cluster applier is not one
transaction: its counters are staged until the batch's end, and two workers holding
different partitions may apply two follows of one account at once; both then read the
count before either counted, and neither sees the crossing. So the cluster applier,
after a batch's counters are saved, hands the batch to `settle`, which decides again
from the committed count, idempotently: for every account the batch followed or
unfollowed, "mark it if its count says so, unmark it if not" (the same transition a
crossing makes), then, for each of the batch's follows whose flag differs from the mark
and each unfollow, "flag the edge as its followee's mark says" (an edge written from a
stale count while another worker moved the mark). The last worker to save a change of
an account's count settles it after that save, so it reads the final count: the outcome
does not depend on how the workers interleaved. A settle that finds everything in order
(nearly always) reads the batch's followees' marks and counts, and nothing else. A
worker that dies between saving and settling is delivered the batch again (it was not
acknowledged) and settles it then. What this leaves: a transition whose edge writes
reach the store only after a concurrent follow's whole batch, save and settle are
done (writes delayed that long) can leave that one edge flagged as before; the account's
next follow or unfollow settles it again. A view built before marks existed has none:
each account is marked at its next follow or unfollow (`projections rebuild timelines`
marks them all).

Posts made between the crossing and the marking. A post reads the mark after indexing
itself; a transition writes the mark before it reads the posts index or the heads
(Dekker: one of them sees the other). A post that still saw "not a celebrity" is fanned
out, and a later marking removes the owner's posts from the heads; if the fan-out lands
after that removal, the heads keep a post that reads also merge in from the post index,
which changes no page (the top `cap` of a union is the top `cap` of the union of its
parts' tops, and the post is in the merged part) and is gone at the next rebuild of that
head. A post that saw "celebrity" is not fanned out; if the account is unmarked, the
unmarking's back-fill reads the post index after the post indexed itself, and merges it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from photoshare.events import Envelope, PhotoDeleted, PhotoPosted, UserFollowed, UserUnfollowed
from photoshare.projections.base import Projection, on


@dataclass(frozen=True)
class TimelineEntry:
    """One post on a timeline; `position` is the PhotoPosted event's log position."""

    photo_id: str
    owner_id: str
    position: int


class TimelineStore(ABC):
    """Write port of the timelines view.

    Every method is idempotent where it can be (set semantics keyed by ids). `cap` is
    passed in by the projection, which owns the policy; the store owns the mechanics.
    """

    # --- the view's own copy of the follow graph --------------------------------------

    @abstractmethod
    def follower_count(self, user_id: str) -> int:
        """How many followers `user_id` has (0 for an unknown user)."""

    @abstractmethod
    def add_follow(self, follower_id: str, followee_id: str, celebrity: bool) -> bool:
        """Record the edge, flagged as pointing at a celebrity or not, and count it.
        False (and no change) if the edge already exists."""

    @abstractmethod
    def remove_follow(self, follower_id: str, followee_id: str) -> bool:
        """Drop the edge and uncount it. False (and no change) if there was none."""

    @abstractmethod
    def mark_celebrity(self, user_id: str, celebrity: bool) -> None:
        """Record the account's celebrity mark, then re-flag every edge pointing at
        `user_id` (mark first: see "Posts made between the crossing and the marking")."""

    @abstractmethod
    def celebrities(self, user_ids: list[str]) -> set[str]:
        """Which of `user_ids` are marked celebrities (the last `mark_celebrity`)."""

    def note_decision(self, follower_id: str, followee_id: str,
                      celebrity: bool | None) -> None:
        """Remember the flag a follow applied through this store (one batch's) gave its
        edge: `settle` checks again only the edges whose flag differs from the mark, and
        the pairs it has no decision for (None: an unfollow; a redelivery)."""
        self.__dict__.setdefault("decided_follows", {})[(follower_id, followee_id)] = celebrity

    def decisions(self) -> dict[tuple[str, str], bool | None]:
        return dict(self.__dict__.get("decided_follows", {}))

    @abstractmethod
    def follower_counts(self, user_ids: list[str]) -> dict[str, int]:
        """`follower_count` of each of `user_ids`, in one go."""

    @abstractmethod
    def settle_follows(self, pairs: list[tuple[str, str, bool]]) -> list[tuple[str, str]]:
        """For each (follower, followee, the followee's mark): make the pair's edge agree
        with the mark (if it is followed, flagged so; if not, counted as no celebrity
        follow). The pairs whose followed edge changed its flag (their materialized
        timelines must follow)."""

    @abstractmethod
    def followers(self, user_id: str) -> list[str]:
        """Everyone following `user_id`."""

    # --- the view's own index of live posts -------------------------------------------

    @abstractmethod
    def add_post(self, entry: TimelineEntry) -> bool:
        """Index a live post under its owner. False (and no change) if already known."""

    @abstractmethod
    def remove_post(self, photo_id: str) -> TimelineEntry | None:
        """Unindex a post; what it was, or None if unknown."""

    # --- materialized timelines -------------------------------------------------------

    @abstractmethod
    def fan_out(self, entry: TimelineEntry, cap: int) -> None:
        """Put the post at the head of every follower's timeline of its owner, trim each
        to `cap` rows, and announce it to each of them (a live "timeline" notice)."""

    @abstractmethod
    def backfill(self, user_id: str, owner_id: str, cap: int) -> None:
        """Merge the owner's newest `cap` posts into the user's timeline; trim to `cap`."""

    @abstractmethod
    def remove_photo(self, entry: TimelineEntry, cap: int) -> list[str]:
        """Remove the post from every timeline. Returns the users whose timelines held
        `cap` rows before (they may now lack a post they should show)."""

    @abstractmethod
    def remove_owner(self, owner_id: str, user_id: str | None, cap: int) -> list[str]:
        """Remove the owner's posts from `user_id`'s timeline (every timeline if None).
        Returns the users whose timelines held `cap` rows before."""

    @abstractmethod
    def refill(self, user_id: str, cap: int) -> None:
        """Top the user's timeline up to `cap` rows with the newest posts of their
        non-celebrity followees that are older than its oldest row."""


class TimelineQueries(ABC):
    """Read port of the timelines view."""

    @abstractmethod
    def home(self, user_id: str, before: int | None, limit: int) -> list[TimelineEntry]:
        """The user's home timeline, newest first, positions below `before`: the
        materialized rows merged with their celebrity followees' posts and their own
        posts, deduplicated by photo, never past the newest `cap` posts overall."""


class TimelinesProjection(Projection[TimelineStore]):
    name = "timelines"

    def __init__(self, cap: int, celebrity_threshold: int) -> None:
        if cap < 1:
            raise ValueError("cap must be at least 1")
        if celebrity_threshold < 0:
            raise ValueError("celebrity_threshold must not be negative")
        self.cap = cap
        self.celebrity_threshold = celebrity_threshold

    def _celebrity(self, followers: int) -> bool:
        return followers > self.celebrity_threshold

    def _refill(self, store: TimelineStore, user_ids: list[str]) -> None:
        for user_id in user_ids:
            store.refill(user_id, self.cap)

    @on(PhotoPosted)
    def _posted(self, event: PhotoPosted, envelope: Envelope, store: TimelineStore) -> None:
        entry = TimelineEntry(event.photo_id, event.owner_id, envelope.position)
        if not store.add_post(entry):
            return
        # The mark, not the count: read after indexing the post (module docstring).
        if event.owner_id not in store.celebrities([event.owner_id]):
            store.fan_out(entry, self.cap)
        # A celebrity's post stays in the post index only: reads merge it in.

    @on(PhotoDeleted)
    def _deleted(self, event: PhotoDeleted, _: Envelope, store: TimelineStore) -> None:
        entry = store.remove_post(event.photo_id)
        if entry is None:
            return
        self._refill(store, store.remove_photo(entry, self.cap))

    @on(UserFollowed)
    def _followed(self, event: UserFollowed, _: Envelope, store: TimelineStore) -> None:
        follower, followee = event.follower_id, event.followee_id
        if follower == followee:
            return
        before = store.follower_count(followee)
        celebrity = self._celebrity(before + 1)
        if not store.add_follow(follower, followee, celebrity):
            return
        store.note_decision(follower, followee, celebrity)
        if not celebrity:
            store.backfill(follower, followee, self.cap)
        elif not self._celebrity(before):
            self._transition(store, followee, True)

    @on(UserUnfollowed)
    def _unfollowed(self, event: UserUnfollowed, _: Envelope, store: TimelineStore) -> None:
        follower, followee = event.follower_id, event.followee_id
        before = store.follower_count(followee)
        if not store.remove_follow(follower, followee):
            return
        store.note_decision(follower, followee, None)
        if not self._celebrity(before):
            self._refill(store, store.remove_owner(followee, follower, self.cap))
        elif not self._celebrity(before - 1):
            self._transition(store, followee, False)
        # A celebrity's posts were never in the follower's materialized timeline.

    def _transition(self, store: TimelineStore, user_id: str, celebrity: bool) -> None:
        store.mark_celebrity(user_id, celebrity)
        if celebrity:
            # Just became a celebrity: its posts leave every materialized timeline (the
            # read path merges them from now on), and those timelines are topped up.
            self._refill(store, store.remove_owner(user_id, None, self.cap))
        else:
            # No longer a celebrity: materialize its posts for everyone still following.
            for follower in store.followers(user_id):
                store.backfill(follower, user_id, self.cap)

    # --- after a batch's counters are saved (cluster applier) ---------------------------

    SETTLE_ROUNDS = 3

    def settle(self, envelopes: Sequence[Envelope], store: TimelineStore) -> int:
        """Decide the celebrity crossings of a batch again from the committed counts
        (module docstring, "The celebrity mark"): idempotent, and a no-op when the
        handlers decided right. Called once the batch's counters are saved, with the
        batch's events. Checks again after fixing anything (another worker may have
        moved the mark meanwhile), a few rounds at most. How many fixes it made."""
        pairs = sorted({(str(e.data["follower_id"]), str(e.data["followee_id"]))
                        for e in envelopes if e.event_type in _FOLLOW_TYPES})
        pairs = [(follower, followee) for follower, followee in pairs
                 if follower != followee]
        accounts = sorted({followee for _, followee in pairs})
        fixes = 0
        for _ in range(self.SETTLE_ROUNDS):
            fixed = 0
            marked = store.celebrities(accounts)
            counts = store.follower_counts(accounts)
            for account in accounts:
                celebrity = self._celebrity(counts[account])
                if celebrity != (account in marked):
                    self._transition(store, account, celebrity)
                    marked ^= {account}
                    fixed += 1
            # An edge this batch flagged as the mark says was right when written: only a
            # transition racing with it could have changed it, and a transition flags
            # every edge to the mark it wrote (`mark_celebrity`).
            decided = store.decisions()
            flipped = store.settle_follows([
                (follower, followee, followee in marked) for follower, followee in pairs
                if decided.get((follower, followee)) != (followee in marked)])
            for follower, followee in flipped:
                fixed += 1
                if followee in marked:
                    self._refill(store, store.remove_owner(followee, follower, self.cap))
                else:
                    store.backfill(follower, followee, self.cap)
            fixes += fixed
            if not fixed:
                break
        return fixes


_FOLLOW_TYPES = (UserFollowed.event_type(), UserUnfollowed.event_type())
