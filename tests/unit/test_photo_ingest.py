"""Image ingest (infra.photo_ingest): processing off the event loop, then storing the blobs."""

from __future__ import annotations

import asyncio
import struct
import threading
import time
import zlib
from io import BytesIO

import pytest
from PIL import Image

from photoshare.infra.media import photo_ingest
from photoshare.infra.media.blobs import FilesystemBlobStore, is_valid_key
from photoshare.infra.media.images import (
    AVATAR_VARIANTS,
    PHOTO_VARIANTS,
    CorruptImageError,
    ImageDimensionsTooLargeError,
    UnsupportedImageFormatError,
    process_image,
)
from photoshare.infra.media.photo_ingest import ImageIngest, StoredImage

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def jpeg(size: tuple[int, int], quality: int = 85) -> bytes:
    image = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize(size),
            Image.radial_gradient("L").resize(size),
            Image.effect_noise(size, 30),
        ),
    )
    out = BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload)
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def files_under(root) -> list:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.fixture
def stores(tmp_path):
    return FilesystemBlobStore(tmp_path / "media"), FilesystemBlobStore(tmp_path / "originals")


def make_ingest(stores, *, workers: int = 2, max_pixels: int = 50_000_000) -> ImageIngest:
    media, originals = stores
    return ImageIngest(media=media, originals=originals, max_pixels=max_pixels, workers=workers)


async def test_ingest_stores_the_original_and_every_variant(stores):
    media, originals = stores
    data = jpeg((1600, 1200))

    stored = await make_ingest(stores).ingest(data, PHOTO_VARIANTS)

    assert isinstance(stored, StoredImage)
    assert (stored.format, stored.width, stored.height) == ("jpeg", 1600, 1200)
    assert is_valid_key(stored.original_key) and stored.original_key.endswith(".jpg")
    assert originals.get(stored.original_key) == data  # byte for byte, metadata and all
    assert not media.exists(stored.original_key)  # the original is never served
    assert set(stored.variants) == {"large", "medium", "square", "feed", "feed_small"}
    expected_sizes = {"large": (1080, 810), "medium": (640, 480), "square": (320, 320),
                      "feed": (1080, 810), "feed_small": (640, 480)}
    for name, key in stored.variants.items():
        assert is_valid_key(key) and key.endswith(".jpg")
        variant = Image.open(BytesIO(media.get(key)))
        assert variant.format == "JPEG"
        assert variant.size == expected_sizes[name]
    assert stored.variant_sizes == {name: {"width": width, "height": height}
                                    for name, (width, height) in expected_sizes.items()}
    assert stored.placeholder is not None and len(stored.placeholder) == 28
    # 4:3 needs no crop: the feed variants are the large and medium images, stored once.
    assert (stored.variants["feed"], stored.variants["feed_small"]) == \
        (stored.variants["large"], stored.variants["medium"])
    assert len(files_under(media.root)) == 3
    assert len(files_under(originals.root)) == 1


async def test_the_original_keeps_its_own_format_extension(stores):
    _, originals = stores
    out = BytesIO()
    Image.new("RGBA", (50, 40), (10, 20, 30, 128)).save(out, format="PNG")

    stored = await make_ingest(stores).ingest(out.getvalue(), AVATAR_VARIANTS)

    assert stored.format == "png"
    assert stored.original_key.endswith(".png")
    assert originals.exists(stored.original_key)
    assert set(stored.variants) == {"avatar", "avatar_small"}


async def test_two_uploads_of_the_same_image_get_blobs_of_their_own(stores):
    # Keys are salted per upload: deleting one photo's blobs can never take another's.
    media, originals = stores
    ingest = make_ingest(stores)
    data = jpeg((800, 600))

    first = await ingest.ingest(data, PHOTO_VARIANTS)
    second = await ingest.ingest(data, PHOTO_VARIANTS)

    assert first.original_key != second.original_key
    assert set(first.variants.values()).isdisjoint(second.variants.values())
    assert originals.get(first.original_key) == originals.get(second.original_key) == data
    assert len(files_under(media.root)) == 6
    assert len(files_under(originals.root)) == 2


async def test_discard_deletes_the_original_and_the_variants_only(stores):
    media, originals = stores
    ingest = make_ingest(stores)
    data = jpeg((800, 600))
    kept = await ingest.ingest(data, PHOTO_VARIANTS)
    discarded = await ingest.ingest(data, PHOTO_VARIANTS)

    ingest.discard(discarded)

    assert not originals.exists(discarded.original_key)
    assert not any(media.exists(key) for key in discarded.variants.values())
    assert originals.exists(kept.original_key)
    assert all(media.exists(key) for key in kept.variants.values())
    ingest.discard(discarded)  # again: nothing left to delete, no error


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"%PDF-1.7 not an image", UnsupportedImageFormatError),
        (jpeg((400, 300))[:3000], CorruptImageError),
        (png_declaring(30000, 30000), ImageDimensionsTooLargeError),
    ],
    ids=["not-an-image", "truncated", "bomb"],
)
async def test_a_rejected_image_stores_nothing(stores, data, error):
    media, originals = stores

    with pytest.raises(error):
        await make_ingest(stores).ingest(data, PHOTO_VARIANTS)

    assert files_under(media.root) == []
    assert files_under(originals.root) == []


async def test_processing_runs_in_a_worker_thread(stores, monkeypatch):
    loop_thread = threading.get_ident()
    ran_in: list[int] = []

    def spying_process_image(*args, **kwargs):
        ran_in.append(threading.get_ident())
        return process_image(*args, **kwargs)

    monkeypatch.setattr(photo_ingest, "process_image", spying_process_image)
    await make_ingest(stores).ingest(jpeg((300, 200)), PHOTO_VARIANTS)

    assert ran_in and ran_in[0] != loop_thread


async def test_the_event_loop_keeps_running_while_an_image_is_processed(stores, monkeypatch):
    # Deterministic: processing cannot finish until the loop has run a concurrent task. Were
    # it run on the loop's thread, the ticker could never tick and the wait would time out.
    loop_ticked = threading.Event()

    def process_needing_the_loop(*args, **kwargs):
        assert loop_ticked.wait(timeout=10), "the event loop was blocked during processing"
        return process_image(*args, **kwargs)

    async def ticker():
        for _ in range(3):
            await asyncio.sleep(0)
        loop_ticked.set()

    monkeypatch.setattr(photo_ingest, "process_image", process_needing_the_loop)
    ingest = make_ingest(stores)
    tick_task = asyncio.ensure_future(ticker())
    await ingest.ingest(jpeg((300, 200)), PHOTO_VARIANTS)
    await tick_task


async def test_a_concurrent_task_ticks_during_a_real_12_megapixel_ingest(stores):
    data = jpeg((4000, 3000), quality=90)
    ticks = 0
    done = False

    async def ticker():
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0.001)

    tick_task = asyncio.ensure_future(ticker())
    started = time.perf_counter()
    stored = await make_ingest(stores).ingest(data, PHOTO_VARIANTS)
    elapsed = time.perf_counter() - started
    done = True
    await tick_task

    assert stored.width == 4000
    # ~1 tick per ms if the loop is free; a blocked loop would tick once or twice at most.
    assert ticks >= min(5, int(elapsed * 1000) // 4), (ticks, elapsed)


async def test_at_most_workers_images_are_processed_at_once(stores, monkeypatch):
    lock = threading.Lock()
    running = 0
    peak = 0

    def counting_process_image(*args, **kwargs):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            time.sleep(0.05)
            return process_image(*args, **kwargs)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(photo_ingest, "process_image", counting_process_image)
    ingest = make_ingest(stores, workers=2)
    images = [jpeg((200 + i, 150)) for i in range(6)]

    results = await asyncio.gather(*(ingest.ingest(data, PHOTO_VARIANTS) for data in images))

    assert len({result.original_key for result in results}) == 6
    assert peak == 2


@pytest.mark.parametrize(("workers", "max_pixels"), [(0, 1000), (1, 0)])
def test_nonsense_limits_are_refused(tmp_path, workers, max_pixels):
    with pytest.raises(ValueError):
        ImageIngest(
            media=FilesystemBlobStore(tmp_path / "m"),
            originals=FilesystemBlobStore(tmp_path / "o"),
            max_pixels=max_pixels,
            workers=workers,
        )
