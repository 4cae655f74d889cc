"""Live notices for connected clients across processes, over Redis pub/sub.

The cluster profile's stand-in for `streams.live.LiveBroadcaster`: a worker process
publishes after each commit, and whichever read-API process holds a user's
Server-Sent Events stream hears it. One channel per user, so a process only receives
the notices of the users connected to it.

Delivery is at most once, like the in-process broadcaster's: Redis pub/sub keeps
nothing, so a client that is not connected at the moment of publishing (between
reconnects, during a Redis failover, or a slow client whose oldest notices were
dropped) misses those notices and re-reads the page. That is the API's contract: the
views are the truth, the live stream is only a hint to refresh.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from photoshare.streams.live import QUEUE_SIZE
from photoshare.streams.runner import Notice

log = logging.getLogger("photoshare.live")

# One message to many channels, in the order given. ARGV: the message, then the channels.
_PUBLISH_TO_MANY = """
for i = 2, #ARGV do redis.call('PUBLISH', ARGV[i], ARGV[1]) end
return 0
"""
# Channels per call of that script: Redis runs a script alone, so one call should not
# hold it long (a thousand PUBLISHes to channels nobody listens on: ~1 ms).
CHANNELS_PER_CALL = 1000


@dataclass(frozen=True)
class _End:
    """Put on a subscriber's queue to end its iteration: `error` is raised, if any."""

    error: BaseException | None = None


class RedisLiveFeed:
    """Live notices per user over Redis pub/sub: `publish` from any thread or process,
    `subscribe` on an event loop of any process connected to the same Redis.

    Channels are `{prefix}live:{user_id}`. Pub/sub channels are global to a Redis server
    (database numbers do not separate them), so the prefix is the only namespace.

    Each subscription holds its own Redis connection while it lasts, and a task that
    drains it into a bounded queue: a slow client loses its oldest notices here rather
    than growing Redis's output buffer until Redis drops the connection.
    """

    def __init__(self, redis_url: str, *, prefix: str, timeout_seconds: float = 2.0) -> None:
        self._url = redis_url
        self._prefix = prefix
        self._timeout = timeout_seconds
        self._publisher = redis.Redis.from_url(redis_url, socket_timeout=timeout_seconds,
                                               socket_connect_timeout=timeout_seconds)
        self._publish_to_many = self._publisher.register_script(_PUBLISH_TO_MANY)
        self._subscribers: dict[str, set[asyncio.Queue[Notice | _End]]] = defaultdict(set)
        # Subscriber connections are named so that operators can tell them apart in
        # CLIENT LIST (a name may not hold spaces).
        self._client_name = f"{prefix}live".replace(" ", "_")

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Nothing to do: kept so the composition root can treat both feeds alike."""

    def publish(self, notices: Sequence[Notice]) -> None:
        """Send notices to their users' channels in one round trip, in their order;
        callable from any thread. A run of notices that say the same thing (a post's
        fan-out tells each follower the same, sharing one `data`) is encoded once and
        sent by one script call per thousand channels instead of a PUBLISH each (a
        post to 20,000 followers: ~150 ms of Python less). A Redis failure is logged,
        not raised: the views the notices describe are already committed, and failing
        the caller would only stall the projection for notices nobody is promised."""
        if not notices:
            return
        pipe = self._publisher.pipeline(transaction=False)
        for run in _runs(notices):
            message = _encode(run[0])
            if len(run) == 1:
                pipe.publish(self.channel(run[0].user_id), message)
                continue
            channels = [self.channel(notice.user_id) for notice in run]
            for start in range(0, len(channels), CHANNELS_PER_CALL):
                self._publish_to_many(
                    args=[message, *channels[start:start + CHANNELS_PER_CALL]], client=pipe)
        try:
            pipe.execute()
        except redis.RedisError:
            log.warning("live notices lost: Redis publish failed (%d notices)",
                        len(notices), exc_info=True)

    def subscriber_count(self, user_id: str) -> int:
        """Subscriptions of this process to `user_id`'s channel that Redis has confirmed."""
        return len(self._subscribers.get(user_id, ()))

    async def subscribe(self, user_id: str) -> AsyncIterator[Notice]:
        """Notices for `user_id` from the moment `subscriber_count` counts this
        subscription, until the consumer stops iterating or the feed is closed.

        A lost Redis connection ends the iteration with the Redis error, rather than
        reconnecting behind the consumer's back: notices published in the gap are gone,
        and a client whose stream ends reconnects and re-reads the page."""
        queue: asyncio.Queue[Notice | _End] = asyncio.Queue(QUEUE_SIZE)
        async with AsyncExitStack() as cleanup:
            client = aioredis.Redis.from_url(self._url, client_name=self._client_name,
                                             retry=Retry(NoBackoff(), 0),
                                             socket_keepalive=True,
                                             socket_timeout=self._timeout,
                                             socket_connect_timeout=self._timeout)
            cleanup.push_async_callback(client.aclose)
            pubsub = client.pubsub()
            # Closing the connection is the unsubscribe: Redis drops a closed client's
            # channels, and it works even when the connection is already broken.
            cleanup.push_async_callback(pubsub.aclose)
            await self._join(pubsub, self.channel(user_id))
            reader = asyncio.create_task(self._drain(pubsub, user_id, queue),
                                         name=f"live-feed:{user_id}")
            # Stopped before the connection closes, so that it never sees the close as
            # a failure to report.
            cleanup.push_async_callback(_stop, reader)
            self._subscribers[user_id].add(queue)
            cleanup.callback(self._leave, user_id, queue)
            while not isinstance(item := await queue.get(), _End):
                yield item
            if item.error is not None:
                raise item.error

    def close(self) -> None:
        """Release the publishing connections (a worker process shutting down)."""
        self._publisher.close()

    async def aclose(self) -> None:
        """End this process's subscriptions (their streams end, and clients reconnect,
        perhaps to another process) and release the publishing connections."""
        for queues in list(self._subscribers.values()):
            for queue in list(queues):
                _offer(queue, _End())
        self.close()

    def channel(self, user_id: str) -> str:
        return f"{self._prefix}live:{user_id}"

    async def _join(self, pubsub: aioredis.client.PubSub, channel: str) -> None:
        # Counted only once Redis confirms: from then on the channel's every notice
        # reaches this subscription, which is what callers (and tests) can rely on.
        await pubsub.subscribe(channel)
        reply = await pubsub.get_message(timeout=self._timeout)
        if reply is None or reply["type"] != "subscribe":
            raise redis.ConnectionError(
                f"Redis did not confirm SUBSCRIBE {channel}: {reply!r}")

    async def _drain(self, pubsub: aioredis.client.PubSub, user_id: str,
                     queue: asyncio.Queue[Notice | _End]) -> None:
        try:
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                   timeout=None)
                if message is not None and message["type"] == "message":
                    notice = _decode(user_id, message["data"])
                    if notice is not None:
                        _offer(queue, notice)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - handed to the consumer, not dropped
            _offer(queue, _End(error))

    def _leave(self, user_id: str, queue: asyncio.Queue[Notice | _End]) -> None:
        queues = self._subscribers.get(user_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._subscribers[user_id]


def _runs(notices: Sequence[Notice]) -> list[list[Notice]]:
    """`notices` cut into runs of consecutive ones of the same kind and the very same
    `data` object (so the same message), in order."""
    runs: list[list[Notice]] = []
    for notice in notices:
        if runs and notice.data is runs[-1][0].data and notice.kind == runs[-1][0].kind:
            runs[-1].append(notice)
        else:
            runs.append([notice])
    return runs


def _encode(notice: Notice) -> str:
    # The channel names the user, so the message carries only what it says.
    return json.dumps({"kind": notice.kind, "data": notice.data}, separators=(",", ":"))


def _decode(user_id: str, payload: bytes) -> Notice | None:
    try:
        body: Any = json.loads(payload)
        kind, data = body["kind"], body["data"]
        if not isinstance(kind, str) or not isinstance(data, dict):
            raise TypeError(f"kind {type(kind).__name__}, data {type(data).__name__}")
    except (ValueError, KeyError, TypeError):
        # Not from `publish` (a stray PUBLISH to our channel): one bad message must not
        # end the user's stream.
        log.warning("ignored a malformed live notice for %s: %r", user_id, payload[:200])
        return None
    return Notice(user_id=user_id, kind=kind, data=data)


def _offer(queue: asyncio.Queue[Notice | _End], item: Notice | _End) -> None:
    if queue.full():
        queue.get_nowait()  # drop the oldest: the client can re-read the page
    queue.put_nowait(item)


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.wait([task])
