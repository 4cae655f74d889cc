"""Kafka's delivery, simulated for property tests: events partitioned by aggregate as
the relay keys them, consumed interleaved across partitions with rewinds."""

from __future__ import annotations

import zlib

from hypothesis import strategies as st
from photoshare.events import Envelope

# Which aggregate each event type belongs to, as the relay keys it (commands.aggregates).
AGGREGATE_FIELDS = {
    "UserRegistered": ("user_id",), "ProfileUpdated": ("user_id",),
    "AccountDeleted": ("user_id",),
    "AvatarChanged": ("user_id",), "NotificationsRead": ("user_id", "inbox"),
    "AccountPrivacyChanged": ("user_id",),
    # One FollowRequests aggregate per followee (commands/aggregates/requests.py).
    "FollowRequested": ("followee_id", "requests"),
    "FollowRequestApproved": ("followee_id", "requests"),
    "FollowRequestDeclined": ("followee_id", "requests"),
    "FollowRequestCancelled": ("followee_id", "requests"),
    "PhotoPosted": ("photo_id",), "PhotoDeleted": ("photo_id",),
    "PhotoAltTextChanged": ("photo_id",),
    "UserFollowed": ("follower_id", "followee_id"),
    "UserUnfollowed": ("follower_id", "followee_id"),
    "PhotoLiked": ("photo_id", "user_id"), "PhotoUnliked": ("photo_id", "user_id"),
    "CommentAdded": ("comment_id",), "CommentDeleted": ("comment_id",),
    "UserBlocked": ("blocker_id", "blocked_id"), "UserUnblocked": ("blocker_id", "blocked_id"),
    "UserMuted": ("muter_id", "muted_id"), "UserUnmuted": ("muter_id", "muted_id"),
}


def aggregate_key(envelope: Envelope) -> str:
    fields = AGGREGATE_FIELDS[envelope.event_type]
    return ":".join(envelope.data.get(name, name) for name in fields)


def partitioned(items: list[Envelope], partitions: int) -> dict[str, list[Envelope]]:
    """What the relay produces: each aggregate's events on one partition, in log order."""
    out: dict[str, list[Envelope]] = {f"topic:{p}": [] for p in range(partitions)}
    for envelope in items:
        partition = zlib.crc32(aggregate_key(envelope).encode()) % partitions
        out[f"topic:{partition}"].append(envelope)
    return out


@st.composite
def deliveries(draw: st.DrawFn, items: list[Envelope]) -> list[tuple[str, Envelope]]:
    """One consumer's view of the partitions: interleaved at random, with rewinds (a
    crash or a rebalance redelivers from the last committed offset)."""
    queues = partitioned(items, draw(st.integers(1, 4)))
    offsets = {key: 0 for key in queues}
    out: list[tuple[str, Envelope]] = []
    while any(offsets[key] < len(queue) for key, queue in queues.items()):
        key = draw(st.sampled_from([k for k in queues if offsets[k] < len(queues[k])]))
        if draw(st.integers(0, 9)) == 0 and offsets[key]:
            offsets[key] = draw(st.integers(0, offsets[key]))  # rewind: redelivery
        take = draw(st.integers(1, 5))
        for envelope in queues[key][offsets[key]:offsets[key] + take]:
            out.append((key, envelope))
        offsets[key] = min(offsets[key] + take, len(queues[key]))
    return out
