"""Accept an uploaded image: process it off the event loop and store original and variants.

The write API awaits ``ImageIngest.ingest`` before it appends the photo's event, so the original
is durable before the event exists (no accepted photo is ever lost) and a rejected image leaves
neither blobs nor an event.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import anyio.to_thread

from photoshare.commands.messages import StoredImage
from photoshare.infra.media.blobs import BlobStore, is_unsalted, new_salt
from photoshare.infra.media.images import (
    DEFAULT_MAX_DECODE_BYTES,
    ProcessedImage,
    VariantSpec,
    estimate_decode_bytes,
    extension_for_format,
    process_image,
)

log = logging.getLogger("photoshare.images")

# The memory images being processed may hold together, estimated from their headers
# (``infra.images.estimate_decode_bytes``): the default of the image_decode_budget_bytes
# setting.
DEFAULT_DECODE_BUDGET_BYTES = 768 * 1024 * 1024


@dataclass(eq=False)
class _Waiter:
    amount: int
    event: anyio.Event
    granted: bool = False


class MemoryBudget:
    """An async semaphore counted in bytes, fair to small requests.

    Holders together hold at most ``capacity`` bytes. A request of at most ``small`` bytes
    is small; the others are large, and large ones together never hold more than
    ``capacity - reserve``: the reserve is always there for small ones, so no number of
    large requests in flight or waiting keeps a small one waiting. Each kind queues first
    come, first served, and a small request never waits behind a large one. Small ones may
    borrow beyond the reserve while no large one waits; once one waits, they are back to
    the reserve, so the large one is not starved either.

    Used from one event loop (not thread-safe); ``hold`` gives the bytes back on exit,
    cancellation included.
    """

    def __init__(self, capacity: int, *, reserve: int, small: int) -> None:
        if not 0 <= reserve < capacity:
            raise ValueError("the reserve must be at least 0 and less than the capacity")
        if not 0 < small <= max(reserve, 1):
            raise ValueError("small requests must fit the reserve")
        self.capacity = capacity
        self.reserve = reserve
        self.small = small
        self.large_capacity = capacity - reserve
        self._held = {True: 0, False: 0}  # keyed by "is small"
        self._queues: dict[bool, deque[_Waiter]] = {True: deque(), False: deque()}

    @property
    def held(self) -> int:
        """Bytes held now, small and large requests together."""
        return self._held[True] + self._held[False]

    @property
    def waiting(self) -> int:
        """Requests waiting for their bytes."""
        return len(self._queues[True]) + len(self._queues[False])

    @asynccontextmanager
    async def hold(self, amount: int) -> AsyncIterator[None]:
        """Hold ``amount`` bytes for the block, waiting until they are free."""
        small = self._is_small(amount)
        await self._acquire(amount, small)
        try:
            yield
        finally:
            self._held[small] -= amount
            self._grant_waiters()

    def _is_small(self, amount: int) -> bool:
        if amount < 0:
            raise ValueError("cannot hold a negative amount")
        if amount > self.large_capacity and amount > self.small:
            raise ValueError(f"{amount} bytes can never fit a budget of {self.capacity}")
        return amount <= self.small

    async def _acquire(self, amount: int, small: bool) -> None:
        queue = self._queues[small]
        if not queue and self._fits(amount, small):
            self._held[small] += amount
            return
        waiter = _Waiter(amount, anyio.Event())
        queue.append(waiter)
        try:
            await waiter.event.wait()
        except BaseException:
            if waiter.granted:  # granted, then cancelled before it could run
                self._held[small] -= amount
            else:
                queue.remove(waiter)
            self._grant_waiters()
            raise

    def _fits(self, amount: int, small: bool) -> bool:
        if self.held + amount > self.capacity:
            return False
        if small:
            within_reserve = self._held[True] + amount <= self.reserve
            return within_reserve or not self._queues[False]
        return self._held[False] + amount <= self.large_capacity

    def _grant_waiters(self) -> None:
        # Small ones first: they are the ones the reserve is for.
        for small in (True, False):
            queue = self._queues[small]
            while queue and self._fits(queue[0].amount, small):
                waiter = queue.popleft()
                self._held[small] += waiter.amount
                waiter.granted = True
                waiter.event.set()


class ImageIngest:
    """Runs the image pipeline in worker threads and stores its results."""

    def __init__(
        self,
        *,
        media: BlobStore,
        originals: BlobStore,
        max_pixels: int,
        workers: int,
        decode_budget_bytes: int = DEFAULT_DECODE_BUDGET_BYTES,
    ) -> None:
        """Store served variants in ``media`` and untouched uploads in ``originals``.

        Memory: before an image is decoded, what processing it will need is estimated from
        its header, and the images in process together hold at most ``decode_budget_bytes``
        of such estimates (a MemoryBudget). A third of it is reserved for small images
        (estimated at up to a sixth, at most 128 MiB: phone photos, screenshots), so large
        ones in flight or queued never keep a normal upload waiting; one image may need at
        most the rest, and never more than ``infra.images.DEFAULT_MAX_DECODE_BYTES``
        (256 MiB): beyond that it is refused (ImageDecodeTooLargeError) without waiting.

        CPU: small and large images each have their own ``workers`` threads, independently
        of anyio's default thread pool, so a normal upload never waits for a thread held by
        a large one either.
        """
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if max_pixels < 1:
            raise ValueError("max_pixels must be at least 1")
        if decode_budget_bytes < 3:
            raise ValueError("decode_budget_bytes must be at least 3")
        self._media = media
        self._originals = originals
        self._max_pixels = max_pixels
        reserve = decode_budget_bytes // 3
        self.budget = MemoryBudget(
            decode_budget_bytes,
            reserve=reserve,
            small=min(reserve // 2, DEFAULT_MAX_DECODE_BYTES // 2) or 1,
        )
        self.max_image_bytes = min(DEFAULT_MAX_DECODE_BYTES, self.budget.large_capacity)
        self._small_lane = anyio.CapacityLimiter(workers)
        self._large_lane = anyio.CapacityLimiter(workers)
        self._threads = anyio.CapacityLimiter(2 * workers)

    async def ingest(self, data: bytes, specs: Iterable[VariantSpec]) -> StoredImage:
        """Process ``data`` into ``specs`` and store it; the event loop never blocks.

        Waits for its share of the decode budget and of the threads, as a small or a large
        image. Raises the ImageRejectedError subclasses of ``infra.images`` unchanged,
        having stored nothing; an image over the per-image limit is refused before it
        waits for anything.
        """
        specs = tuple(specs)
        # Header only, but parsing a hostile header is still work for a thread.
        cost = await anyio.to_thread.run_sync(self._estimate, data, specs)
        lane = self._small_lane if cost <= self.budget.small else self._large_lane
        async with lane, self.budget.hold(cost):
            return await anyio.to_thread.run_sync(
                self._ingest_blocking, data, specs, limiter=self._threads
            )

    def _estimate(self, data: bytes, specs: tuple[VariantSpec, ...]) -> int:
        return estimate_decode_bytes(
            data, specs, max_pixels=self._max_pixels, max_decode_bytes=self.max_image_bytes
        )

    def _ingest_blocking(self, data: bytes, specs: tuple[VariantSpec, ...]) -> StoredImage:
        # Decoding, encoding and fsync all block, so the whole job runs in the worker thread.
        processed = process_image(
            data, specs, max_pixels=self._max_pixels, max_decode_bytes=self.max_image_bytes
        )
        return self._store(data, processed)

    def _store(self, data: bytes, processed: ProcessedImage) -> StoredImage:
        # One salt per upload: its blobs are its own (no other photo shares them), so they
        # can be deleted with the photo. The original first: if a variant write then fails,
        # the upload fails with the original kept as a harmless, unreferenced blob.
        salt = new_salt()
        original_key = self._originals.put(
            data, extension=extension_for_format(processed.format), salt=salt
        )
        variant_keys = {
            variant.name: self._media.put(variant.data, extension=variant.extension, salt=salt)
            for variant in processed.variants
        }
        return StoredImage(
            original_key=original_key,
            format=processed.format,
            width=processed.width,
            height=processed.height,
            variants=variant_keys,
            variant_sizes={variant.name: {"width": variant.width, "height": variant.height}
                           for variant in processed.variants},
            placeholder=processed.placeholder,
        )

    def discard(self, image: StoredImage) -> None:
        """Delete an image's variants (served) and original, once no event refers to it as
        live any more (its photo is deleted). Blocking: call it off the event loop.

        Every blob is tried; one that cannot be deleted is logged and left behind (an
        orphan, never a lost photo), since the deletion is already in the log. An image
        stored before keys were salted per upload is kept whole: its blobs are keyed by
        their bytes alone, so another photo of the same bytes may share them.
        """
        blobs = [(self._media, key) for key in image.variants.values()]
        blobs.append((self._originals, image.original_key))
        try:
            # One blob tells the image's era: the smallest variant (the last), if stored.
            era = next(((key, data) for store, key in [*reversed(blobs[:-1]), blobs[-1]]
                        if (data := store.get(key)) is not None), None)
        except Exception:  # noqa: BLE001 - unsure whether they are shared: keep them all
            log.exception("kept the blobs of original %s: could not read one",
                          image.original_key)
            return
        if era is not None and is_unsalted(*era):
            log.info("kept the blobs of original %s: stored before per-upload keys, they "
                     "may be shared", image.original_key)
            return
        for store, key in blobs:
            try:
                store.delete(key)
            except Exception:  # noqa: BLE001 - logged; the others are still deleted
                log.exception("could not delete blob %s; it stays as an orphan", key)
