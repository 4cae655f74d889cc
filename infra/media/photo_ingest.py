"""Accept an uploaded image: process it off the event loop and store original and variants.

The write API awaits ``ImageIngest.ingest`` before it appends the photo's event, so the original
is durable before the event exists (no accepted photo is ever lost) and a rejected image leaves
neither blobs nor an event.
"""

from __future__ import annotations

from collections.abc import Iterable

import anyio
import anyio.to_thread

from photoshare.commands.messages import StoredImage
from photoshare.infra.media.blobs import BlobStore
from photoshare.infra.media.images import ProcessedImage, VariantSpec, extension_for_format, process_image


class ImageIngest:
    """Runs the image pipeline in worker threads and stores its results."""

    def __init__(
        self, *, media: BlobStore, originals: BlobStore, max_pixels: int, workers: int
    ) -> None:
        """Store served variants in ``media`` and untouched uploads in ``originals``.

        ``workers`` bounds how many images decode at once (each holds a decoded bitmap of up
        to ``max_pixels`` pixels in memory), independently of anyio's default thread pool.
        """
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if max_pixels < 1:
            raise ValueError("max_pixels must be at least 1")
        self._media = media
        self._originals = originals
        self._max_pixels = max_pixels
        self._limiter = anyio.CapacityLimiter(workers)

    async def ingest(self, data: bytes, specs: Iterable[VariantSpec]) -> StoredImage:
        """Process ``data`` into ``specs`` and store it; the event loop never blocks.

        Raises the ImageRejectedError subclasses of ``infra.images`` unchanged, having stored
        nothing.
        """
        return await anyio.to_thread.run_sync(
            self._ingest_blocking, data, tuple(specs), limiter=self._limiter
        )

    def _ingest_blocking(self, data: bytes, specs: tuple[VariantSpec, ...]) -> StoredImage:
        # Decoding, encoding and fsync all block, so the whole job runs in the worker thread.
        processed = process_image(data, specs, max_pixels=self._max_pixels)
        return self._store(data, processed)

    def _store(self, data: bytes, processed: ProcessedImage) -> StoredImage:
        # The original first: if a variant write then fails, the upload fails with the
        # original kept as a harmless (content-addressed, unreferenced) blob.
        original_key = self._originals.put(
            data, extension=extension_for_format(processed.format)
        )
        variant_keys = {
            variant.name: self._media.put(variant.data, extension=variant.extension)
            for variant in processed.variants
        }
        return StoredImage(
            original_key=original_key,
            format=processed.format,
            width=processed.width,
            height=processed.height,
            variants=variant_keys,
        )
