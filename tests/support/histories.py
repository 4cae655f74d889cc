"""Valid event histories for property tests of projections, and an in-memory log.

`histories()` draws a sequence of public events that the command side could have
produced (no self-follows, no double likes, nothing on deleted photos but what the
"late" kind draws: a like or comment saved just after the deletion, ...), already
wrapped in envelopes with consecutive positions. `ListLog` serves them to a
ProjectionRunner the way the event store would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid5

from hypothesis import strategies as st
from photoshare.events import (
    AccountDeleted,
    AccountPrivacyChanged,
    AvatarChanged,
    CommentAdded,
    CommentDeleted,
    Envelope,
    Event,
    FollowRequestApproved,
    FollowRequestCancelled,
    FollowRequestDeclined,
    FollowRequested,
    PhotoAltTextChanged,
    PhotoDeleted,
    PhotoLiked,
    PhotoPosted,
    PhotoUnliked,
    ProfileUpdated,
    UserBlocked,
    UserFollowed,
    UserMuted,
    UserRegistered,
    UserUnblocked,
    UserUnfollowed,
    UserUnmuted,
    event_to_data,
)

NS = UUID("00000000-0000-0000-0000-00000000f00d")
START = datetime(2026, 1, 1, tzinfo=UTC)
NAMES = ["ann", "bob", "cy", "dee", "eli", "fay", "gus", "hal"]
WORDS = ["sun", "beach", "Café", "crème", "night", "#Sun", "#beach", "#nuit", "dog"]
ALT_TEXTS = [None, "A dog on a beach at sunset", "Crème brûlée, top view", "Night sky"]


def uid(kind: str, n: object) -> str:
    return str(uuid5(NS, f"{kind}:{n}"))


@dataclass
class _State:
    users: list[str] = field(default_factory=list)
    follows: set[tuple[str, str]] = field(default_factory=set)
    photos: dict[str, str] = field(default_factory=dict)       # live photo -> owner
    likes: set[tuple[str, str]] = field(default_factory=set)
    comments: dict[str, tuple[str, str]] = field(default_factory=dict)  # -> (photo, author)
    blocks: set[tuple[str, str]] = field(default_factory=set)  # (blocker, blocked)
    mutes: set[tuple[str, str]] = field(default_factory=set)   # (muter, muted)
    private: set[str] = field(default_factory=set)
    pending: set[tuple[str, str]] = field(default_factory=set)  # (follower, followee)
    # deleted photo -> (owner, who liked it by then or late): for "late" steps
    deleted: dict[str, tuple[str, set[str]]] = field(default_factory=dict)
    deleted_users: list[str] = field(default_factory=list)  # for "late_account" steps
    made: int = 0

    def blocked_between(self, one: str, other: str) -> bool:
        return (one, other) in self.blocks or (other, one) in self.blocks

    def next_id(self, kind: str) -> str:
        self.made += 1
        return uid(kind, self.made)


KINDS = ("follow", "follow", "unfollow", "post", "post", "delete", "like", "unlike", "comment",
         "uncomment", "profile", "avatar", "alt_text", "block", "unblock", "mute", "unmute",
         "private", "public", "approve", "decline", "late")
# With account deletions: the events DeleteAccount records (commands.erasure), then
# AccountDeleted; the person does nothing afterwards. "late_account" draws the write
# side's race with a deletion: a follow of the deleted account, or a photo tagging it,
# decided a moment before the deletion and saved just after it.
ERASURE_KINDS = (*KINDS, "delete_account", "late_account")


@st.composite
def histories(draw: st.DrawFn, max_users: int = 6, max_steps: int = 60,
              kinds: Sequence[str] = KINDS) -> list[tuple[Event, str]]:
    """A valid history as (event, actor id) pairs. `kinds` weights the steps drawn (a
    kind listed twice is drawn twice as often; see KINDS for the names)."""
    state = _State()
    out: list[tuple[Event, str]] = []
    for i in range(draw(st.integers(2, max_users))):
        user_id = uid("user", i)
        state.users.append(user_id)
        out.append((UserRegistered(user_id=user_id, username=NAMES[i],
                                   display_name=f"{NAMES[i].title()} Ünïcode {i}"), user_id))
    for _ in range(draw(st.integers(0, max_steps))):
        actor = draw(st.sampled_from(state.users))
        other = draw(st.sampled_from(state.users))
        live = sorted(state.photos)
        photo = draw(st.sampled_from(live)) if live else None
        kind = draw(st.sampled_from(list(kinds)))
        mine = sorted(f for f, followee in state.pending if followee == actor)
        if (kind == "follow" and actor != other and (actor, other) not in state.follows
                and not state.blocked_between(actor, other)):
            if other not in state.private:
                state.follows.add((actor, other))
                out.append((UserFollowed(follower_id=actor, followee_id=other), actor))
            elif (actor, other) not in state.pending:  # a private account: a request
                state.pending.add((actor, other))
                out.append((FollowRequested(follower_id=actor, followee_id=other), actor))
        elif kind == "unfollow" and (actor, other) in state.follows:
            state.follows.discard((actor, other))
            out.append((UserUnfollowed(follower_id=actor, followee_id=other), actor))
        elif kind == "unfollow" and (actor, other) in state.pending:
            state.pending.discard((actor, other))
            out.append((FollowRequestCancelled(follower_id=actor, followee_id=other), actor))
        elif kind == "private" and actor not in state.private:
            state.private.add(actor)
            out.append((AccountPrivacyChanged(user_id=actor, private=True), actor))
        elif kind == "public" and actor in state.private:
            # Going public approves every pending request, in one command.
            state.private.discard(actor)
            out.append((AccountPrivacyChanged(user_id=actor, private=False), actor))
            out += [(FollowRequestApproved(follower_id=f, followee_id=actor), actor)
                    for f in mine]
            out += [(UserFollowed(follower_id=f, followee_id=actor), actor) for f in mine]
            state.pending -= {(f, actor) for f in mine}
            state.follows |= {(f, actor) for f in mine}
        elif kind in ("approve", "decline") and mine:
            follower = draw(st.sampled_from(mine))
            state.pending.discard((follower, actor))
            if kind == "decline":
                out.append((FollowRequestDeclined(follower_id=follower, followee_id=actor),
                            actor))
            else:
                state.follows.add((follower, actor))
                out.append((FollowRequestApproved(follower_id=follower, followee_id=actor),
                            actor))
                out.append((UserFollowed(follower_id=follower, followee_id=actor), actor))
        elif kind == "post":
            photo_id = state.next_id("photo")
            words = draw(st.lists(st.sampled_from(WORDS), max_size=3))
            tagged = [user for user in draw(st.lists(st.sampled_from(state.users), max_size=2,
                                                     unique=True))
                      if not state.blocked_between(actor, user)]
            caption = " ".join(words)
            hashtags = list(dict.fromkeys(w[1:].casefold() for w in words if w.startswith("#")))
            state.photos[photo_id] = actor
            # With sizes and a placeholder, or without (as a photo posted before them).
            sized = draw(st.booleans())
            out.append((PhotoPosted(photo_id=photo_id, owner_id=actor, caption=caption,
                                    hashtags=hashtags, tagged_user_ids=tagged,
                                    original_key="o.jpg", format="jpeg", width=10, height=10,
                                    variants={"large": f"{photo_id}.jpg"},
                                    variant_sizes=({"large": {"width": 10, "height": 10}}
                                                   if sized else {}),
                                    placeholder="LEHV6nWB2yk8pyo0adR*.7kCMdnj" if sized
                                    else None,
                                    alt_text=draw(st.sampled_from(ALT_TEXTS))), actor))
        elif kind == "alt_text" and photo and state.photos[photo] == actor:
            out.append((PhotoAltTextChanged(photo_id=photo, owner_id=actor,
                                            alt_text=draw(st.sampled_from(ALT_TEXTS))), actor))
        elif kind == "delete" and photo and state.photos[photo] == actor:
            del state.photos[photo]
            state.deleted[photo] = (actor, {u for p, u in state.likes if p == photo})
            state.likes = {(p, u) for p, u in state.likes if p != photo}
            state.comments = {c: v for c, v in state.comments.items() if v[0] != photo}
            out.append((PhotoDeleted(photo_id=photo, owner_id=actor), actor))
        elif kind == "like" and photo and (photo, actor) not in state.likes \
                and not state.blocked_between(actor, state.photos[photo]):
            state.likes.add((photo, actor))
            out.append((PhotoLiked(photo_id=photo, owner_id=state.photos[photo],
                                   user_id=actor), actor))
        elif kind == "late" and state.deleted:
            # The write side's race: a like or comment decided on the photo as it was a
            # moment before its deletion was saved, and saved just after it (each is its
            # own aggregate, so the two appends do not conflict).
            late = draw(st.sampled_from(sorted(state.deleted)))
            owner, likers = state.deleted[late]
            if not state.blocked_between(actor, owner):
                if actor not in likers:
                    likers.add(actor)
                    out.append((PhotoLiked(photo_id=late, owner_id=owner, user_id=actor),
                                actor))
                else:
                    out.append((CommentAdded(comment_id=state.next_id("comment"),
                                             photo_id=late, photo_owner_id=owner,
                                             author_id=actor,
                                             text=draw(st.sampled_from(WORDS))), actor))
        elif kind == "unlike" and photo and (photo, actor) in state.likes:
            state.likes.discard((photo, actor))
            out.append((PhotoUnliked(photo_id=photo, owner_id=state.photos[photo],
                                     user_id=actor), actor))
        elif kind == "comment" and photo and not state.blocked_between(actor,
                                                                        state.photos[photo]):
            comment_id = state.next_id("comment")
            state.comments[comment_id] = (photo, actor)
            out.append((CommentAdded(comment_id=comment_id, photo_id=photo,
                                     photo_owner_id=state.photos[photo], author_id=actor,
                                     text=draw(st.sampled_from(WORDS))), actor))
        elif kind == "uncomment" and state.comments:
            comment_id = draw(st.sampled_from(sorted(state.comments)))
            photo_id, author = state.comments.pop(comment_id)
            out.append((CommentDeleted(comment_id=comment_id, photo_id=photo_id,
                                       author_id=author, deleted_by=author), author))
        elif kind == "block" and actor != other and (actor, other) not in state.blocks:
            # As the command does: the block, then the follows both ways end.
            state.blocks.add((actor, other))
            out.append((UserBlocked(blocker_id=actor, blocked_id=other), actor))
            for pair in ((actor, other), (other, actor)):
                if pair in state.follows:
                    state.follows.discard(pair)
                    out.append((UserUnfollowed(follower_id=pair[0], followee_id=pair[1]),
                                actor))
            # and pending requests end: the blocked person's declined, the blocker's
            # withdrawn.
            if (other, actor) in state.pending:
                state.pending.discard((other, actor))
                out.append((FollowRequestDeclined(follower_id=other, followee_id=actor), actor))
            if (actor, other) in state.pending:
                state.pending.discard((actor, other))
                out.append((FollowRequestCancelled(follower_id=actor, followee_id=other),
                            actor))
        elif kind == "unblock" and (actor, other) in state.blocks:
            state.blocks.discard((actor, other))
            out.append((UserUnblocked(blocker_id=actor, blocked_id=other), actor))
        elif kind == "mute" and actor != other and (actor, other) not in state.mutes:
            state.mutes.add((actor, other))
            out.append((UserMuted(muter_id=actor, muted_id=other), actor))
        elif kind == "unmute" and (actor, other) in state.mutes:
            state.mutes.discard((actor, other))
            out.append((UserUnmuted(muter_id=actor, muted_id=other), actor))
        elif kind == "profile":
            out.append((ProfileUpdated(user_id=actor, display_name=draw(st.sampled_from(
                ["Zoë Renamed", "Plain Name", "Ann Other"])), bio="b", location="l", age=None),
                actor))
        elif kind == "delete_account" and len(state.users) > 2:
            out.extend(_delete_account(state, actor))
        elif kind == "late_account" and state.deleted_users:
            # Each is its own aggregate (a follow, a photo), so its append does not
            # conflict with the deletion's. Nothing later undoes it: the follow is not
            # kept in `state` (no unfollow is drawn for it).
            gone = draw(st.sampled_from(state.deleted_users))
            if draw(st.booleans()):
                out.append((UserFollowed(follower_id=actor, followee_id=gone), actor))
            else:
                photo_id = state.next_id("photo")
                state.photos[photo_id] = actor
                out.append((PhotoPosted(photo_id=photo_id, owner_id=actor, caption="",
                                        hashtags=[], tagged_user_ids=[gone],
                                        original_key="o.jpg", format="jpeg", width=10,
                                        height=10, variants={"large": f"{photo_id}.jpg"},
                                        variant_sizes={}, placeholder=None,
                                        alt_text=None), actor))
        elif kind == "avatar":
            out.append((AvatarChanged(user_id=actor, original_key="o.jpg",
                                      variants={"avatar": f"{state.made}.jpg"}), actor))
    return out


def _delete_account(state: _State, user: str) -> list[tuple[Event, str]]:
    out: list[tuple[Event, str]] = []
    for photo, owner in sorted(state.photos.items()):
        if owner == user:
            del state.photos[photo]
            state.likes = {(p, u) for p, u in state.likes if p != photo}
            state.comments = {c: v for c, v in state.comments.items() if v[0] != photo}
            out.append((PhotoDeleted(photo_id=photo, owner_id=user), user))
    for comment_id, (photo, author) in sorted(state.comments.items()):
        if author == user:
            del state.comments[comment_id]
            out.append((CommentDeleted(comment_id=comment_id, photo_id=photo, author_id=user,
                                       deleted_by=user), user))
    for photo, liker in sorted(state.likes):
        if liker == user:
            state.likes.discard((photo, liker))
            out.append((PhotoUnliked(photo_id=photo, owner_id=state.photos[photo],
                                     user_id=user), user))
    for follower, followee in sorted(state.follows):
        if user in (follower, followee):
            state.follows.discard((follower, followee))
            out.append((UserUnfollowed(follower_id=follower, followee_id=followee), user))
    for follower, followee in sorted(state.pending):
        if followee == user:
            out.append((FollowRequestDeclined(follower_id=follower, followee_id=user), user))
        elif follower == user:
            out.append((FollowRequestCancelled(follower_id=user, followee_id=followee), user))
    state.pending = {pair for pair in state.pending if user not in pair}
    for blocker, blocked in sorted(state.blocks):
        if user in (blocker, blocked):
            out.append((UserUnblocked(blocker_id=blocker, blocked_id=blocked), user))
    for muter, muted in sorted(state.mutes):
        if user in (muter, muted):
            out.append((UserUnmuted(muter_id=muter, muted_id=muted), user))
    state.blocks = {pair for pair in state.blocks if user not in pair}
    state.mutes = {pair for pair in state.mutes if user not in pair}
    state.users.remove(user)
    state.deleted_users.append(user)
    out.append((AccountDeleted(user_id=user), user))
    return out


def envelopes(history: list[tuple[Event, str]]) -> list[Envelope]:
    """Wrap events with positions 1..n (aggregate versions are not needed by views)."""
    return [Envelope(event_id=uid("event", i), event_type=event.event_type(),
                     schema_version=event.schema_version, aggregate_id=uid("agg", i),
                     aggregate_version=1, position=i,
                     occurred_at=START + timedelta(seconds=i), actor_id=actor,
                     correlation_id=f"c{i}", data=event_to_data(event))
            for i, (event, actor) in enumerate(history, start=1)]


class ListLog:
    """An event source over a list of envelopes (what the event store serves)."""

    def __init__(self, items: list[Envelope]) -> None:
        self.items = items

    def read_batch(self, after: int, limit: int) -> tuple[list[Envelope], int]:
        batch = [e for e in self.items if e.position > after][:limit]
        return batch, (batch[-1].position if batch else after)

    def head_position(self) -> int:
        return self.items[-1].position if self.items else 0
