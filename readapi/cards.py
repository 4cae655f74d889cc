"""Photo cards served as ready JSON: what never changes in a card is encoded once and
kept, and a page is spliced from those bytes and the few parts that do change.

A card (API.md's photo shape, `shapes.photos`) is mostly what its `PhotoPosted` said:
the id, caption, location, hashtags, tagged people's ids, the time, the media URLs and
sizes, the placeholder. No event changes those, so their JSON is the same for as long as
the photo lives: `CardCache` keeps it per photo id, bounded, in this process (no
invalidation is needed, and a deleted photo is never served from it: its live state is
read on every page, below). What changes is read on every page, in two reads:

- the photo's like and comment counts, its alt text and whether the viewer likes it
  (`PhotoQueries.card_states`: on SQLite one narrow query that decodes no JSON column;
  a photo that is gone answers no state and leaves the page);
- the owner's and tagged people's names and avatars (the profiles view), less the
  tagged people hidden from the viewer (their blocks, read before by the route).

When every card of a page is cached, both reads are begun before either is answered
(`start_card_states`, `start_summaries`): the cluster's stores then wait once for both
round trips; SQLite's run one after the other as before.

So the views stay as they are (nothing to rebuild, nothing for the projections to keep
in step) and the same code serves the embedded and the cluster read API. The JSON is
the one `shapes.photos` makes, key for key and in the same order (a test compares them).
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from photoshare.projections.controls import Controls
from photoshare.projections.photos import CardState, PhotoRecord
from photoshare.readapi import shapes
from photoshare.readapi.services import ReadServices, ViewQueries

_dumps = orjson.dumps
# How many photos' fixed parts one process keeps (each a few hundred bytes): the recent
# photos that timelines show, many times over.
DEFAULT_CAPACITY = 50_000


@dataclass(frozen=True, slots=True)
class CardParts:
    """The fixed JSON of one card, cut where the changing parts go in:
    head + owner + middle + tagged + tail + alt_text + size + likes
    + `,"comments":` + comments [+ `,"liked_by_me":...`] + `}`."""

    owner_id: str
    tagged_user_ids: tuple[str, ...]
    head: bytes
    middle: bytes
    tail: bytes
    size: bytes


def parts_of(services: ReadServices, record: PhotoRecord) -> CardParts:
    sized = shapes.variants(services, record)
    urls = {name: variant["url"] for name, variant in sized.items()}
    return CardParts(
        owner_id=record.owner_id,
        tagged_user_ids=tuple(record.tagged_user_ids),
        head=b'{"photo_id":' + _dumps(record.photo_id) + b',"owner":',
        middle=(b',"caption":' + _dumps(record.caption) + b',"location":'
                + _dumps(record.location) + b',"hashtags":' + _dumps(record.hashtags)
                + b',"tagged":'),
        tail=(b',"created_at":' + _dumps(record.posted_at) + b',"urls":' + _dumps(urls)
              + b',"variants":' + _dumps(sized) + b',"placeholder":'
              + _dumps(record.placeholder) + b',"alt_text":'),
        size=(b',"width":' + _dumps(record.width) + b',"height":' + _dumps(record.height)
              + b',"likes":'))


class CardCache:
    """The fixed parts of recently served cards, by photo id, at most `capacity` of them
    (the oldest made is dropped first). Safe to share between threads."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._parts: dict[str, CardParts] = {}
        self._lock = threading.Lock()

    def get(self, photo_id: str) -> CardParts | None:
        return self._parts.get(photo_id)

    def put(self, photo_id: str, parts: CardParts) -> None:
        with self._lock:
            if photo_id not in self._parts and len(self._parts) >= self.capacity:
                del self._parts[next(iter(self._parts))]
            self._parts[photo_id] = parts

    def __len__(self) -> int:
        return len(self._parts)


_LIKED = (b',"liked_by_me":false}', b',"liked_by_me":true}')


def page_cards(services: ReadServices, cache: CardCache, q: ViewQueries,
               photo_ids: list[str], viewer: str | None,
               controls: Controls) -> list[orjson.Fragment]:
    """The cards of `photo_ids` (in that order, those still there) as JSON fragments
    for orjson: what `blocking.without_hidden_tags(controls, shapes.photos(...))` gives,
    encoded."""
    found: dict[str, CardParts] = {}
    missing = []
    for photo_id in photo_ids:
        parts = cache.get(photo_id)
        if parts is None:
            missing.append(photo_id)
        else:
            found[photo_id] = parts
    # One narrow read for the cached ones: what changes, and the viewer's like. A photo
    # gone since answers no state and is left out. When every card is cached (the usual
    # page), its people are known already, and their read goes out with it: on the
    # cluster, one wait for both round trips instead of two.
    answer_states = q.photos.start_card_states(list(found), viewer) if found else dict
    answer_people = None
    if not missing:
        wanted = _people(found.values(), controls)
        answer_people = q.profiles.start_summaries(sorted(wanted))
    states = answer_states()
    if missing:  # read whole once (their state with them), their fixed parts then kept
        records = q.photos.many(missing)
        liked = q.photos.liked_by(viewer, list(records)) if viewer and records else set()
        for photo_id, record in records.items():
            parts = found[photo_id] = parts_of(services, record)
            cache.put(photo_id, parts)
            states[photo_id] = CardState(record.likes, record.comments, record.alt_text,
                                         photo_id in liked)
    shown = [pid for pid in photo_ids if pid in states and pid in found]
    if answer_people is None:
        wanted = _people([found[pid] for pid in shown], controls)
        answer_people = q.profiles.start_summaries(sorted(wanted))
    people = _summaries(services, answer_people(), wanted)
    cards = []
    for photo_id in shown:
        parts = found[photo_id]
        likes, comments, alt_text, liked = states[photo_id]
        tagged = b"[" + b",".join(people[u] for u in parts.tagged_user_ids
                                  if not controls.hides(u)) + b"]"
        end = _LIKED[liked] if viewer else b"}"
        cards.append(orjson.Fragment(b"".join((
            parts.head, people[parts.owner_id], parts.middle, tagged, parts.tail,
            _dumps(alt_text), parts.size, b"%d" % likes, b',"comments":',
            b"%d" % comments, end))))
    return cards


def _people(cards: Collection[CardParts], controls: Controls) -> set[str]:
    """Each person the cards show: their owners and the tagged people not hidden from
    the viewer."""
    wanted = {parts.owner_id for parts in cards}
    tagged = {u for parts in cards for u in parts.tagged_user_ids}
    if controls.hides_anyone:
        controls.learn(tagged)
        tagged = {u for u in tagged if not controls.hides(u)}
    return wanted | tagged


def _summaries(services: ReadServices, found: dict[str, tuple[str, str, str | None]],
               wanted: Iterable[str]) -> dict[str, bytes]:
    """Each of `wanted` as their summary's JSON, from the profiles read (`found`)."""
    return {uid: _dumps(shapes.summary_of(services, uid, found.get(uid))) for uid in wanted}


def encoded(cards: list[orjson.Fragment]) -> list[Any]:
    """The cards as plain JSON values (for code that wants dicts, e.g. tests)."""
    return [orjson.loads(card.contents) for card in cards]
