"""Reading an uploaded image within the size limit and making it durable."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import UploadFile

from photoshare.commands.messages import StoredImage
from photoshare.infra.media.images import (
    CorruptImageError,
    ImageDecodeTooLargeError,
    ImageDimensionsTooLargeError,
    ImageRejectedError,
    UnsupportedImageFormatError,
    VariantSpec,
)
from photoshare.infra.http.web import ApiError, size_text
from photoshare.writeapi.services import WriteServices

log = logging.getLogger("photoshare.uploads")

_CHUNK = 1024 * 1024

_IMAGE_ERROR_STATUS: dict[type[ImageRejectedError], int] = {
    UnsupportedImageFormatError: 415,
    CorruptImageError: 422,
    ImageDimensionsTooLargeError: 422,
    ImageDecodeTooLargeError: 422,  # over the decode budget: the same "image_too_large"
}


async def read_upload(file: UploadFile, limit: int) -> bytes:
    """The file's bytes; 413 as soon as more than `limit` have been read."""
    chunks, size = [], 0
    while chunk := await file.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "payload_too_large",
                           f"the file is larger than the limit of {size_text(limit)}")
        chunks.append(chunk)
    if not size:
        raise ApiError(422, "empty_file", "the uploaded file is empty")
    return b"".join(chunks)


async def store_image(services: WriteServices, file: UploadFile,
                      specs: Sequence[VariantSpec]) -> StoredImage:
    """Check, resize and durably store an upload: done before any event is appended,
    so an accepted photo is never lost."""
    data = await read_upload(file, services.max_upload_bytes)
    try:
        return await services.images.ingest(data, specs)
    except ImageRejectedError as error:
        # The client gets the safe message; Pillow's own words go to the log only.
        log.info("image rejected: %s (%s)", error.code, error.detail)
        status = next(s for cls, s in _IMAGE_ERROR_STATUS.items() if isinstance(error, cls))
        raise ApiError(status, error.code, error.message) from None


def image_urls(services: WriteServices, image: StoredImage) -> dict[str, str]:
    """Each variant's URL, by variant name."""
    return {name: services.media_url(key) for name, key in image.variants.items()}


def image_variants(services: WriteServices, image: StoredImage) -> dict[str, dict[str, Any]]:
    """Each variant's URL and pixel size, by variant name (the shape of the read API)."""
    return {name: {"url": services.media_url(key),
                   "width": image.variant_sizes.get(name, {}).get("width"),
                   "height": image.variant_sizes.get(name, {}).get("height")}
            for name, key in image.variants.items()}
