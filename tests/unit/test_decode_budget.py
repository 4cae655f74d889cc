"""The decode budget (infra.photo_ingest): images admitted by estimated memory, not by count,
with a reserve so large images in flight or queued never keep a normal upload waiting."""

from __future__ import annotations

import asyncio
import threading
import time
from io import BytesIO
from types import SimpleNamespace

import anyio
import anyio.to_thread
import pytest
from fastapi import UploadFile
from PIL import Image

from photoshare.infra.http.web import ApiError
from photoshare.infra.media import photo_ingest
from photoshare.infra.media.blobs import FilesystemBlobStore
from photoshare.infra.media.images import (
    DEFAULT_MAX_DECODE_BYTES,
    PHOTO_VARIANTS,
    CorruptImageError,
    ImageDecodeTooLargeError,
    estimate_decode_bytes,
    process_image,
)
from photoshare.infra.media.photo_ingest import ImageIngest, MemoryBudget
from photoshare.writeapi.uploads import store_image

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
MAX_PIXELS = 50_000_000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def settle() -> None:
    """Let every task that can run, run (nothing here waits on a thread)."""
    for _ in range(10):
        await asyncio.sleep(0)


# --------------------------------------------------------------------------------------------
# MemoryBudget: capacity 90, of which 30 reserved for small requests (at most 10 each), so
# large ones together hold at most 60.


@pytest.fixture
def budget() -> MemoryBudget:
    return MemoryBudget(90, reserve=30, small=10)


class Holder:
    """A task holding ``amount`` of the budget until released."""

    def __init__(self, budget: MemoryBudget, amount: int, log: list[str], name: str) -> None:
        self.release = asyncio.Event()
        self.holding = False

        async def hold() -> None:
            async with budget.hold(amount):
                self.holding = True
                log.append(name)
                await self.release.wait()
            self.holding = False

        self.task = asyncio.ensure_future(hold())

    async def done(self) -> None:
        self.release.set()
        await self.task


async def test_large_requests_never_hold_more_than_the_capacity_less_the_reserve(budget):
    log: list[str] = []
    first, second = Holder(budget, 30, log, "a"), Holder(budget, 30, log, "b")
    third = Holder(budget, 30, log, "c")
    await settle()

    assert (first.holding, second.holding, third.holding) == (True, True, False)
    assert budget.held == 60 and budget.waiting == 1

    await first.done()
    await settle()
    assert third.holding and budget.held == 60
    for holder in (second, third):
        await holder.done()
    assert budget.held == 0


async def test_a_small_request_goes_ahead_of_large_ones_holding_and_waiting(budget):
    log: list[str] = []
    large = [Holder(budget, 30, log, f"large{i}") for i in range(4)]  # two hold, two wait
    await settle()
    small = Holder(budget, 10, log, "small")
    await settle()

    assert small.holding
    assert [holder.holding for holder in large] == [True, True, False, False]
    for holder in [small, *large]:
        await holder.done()
    assert log == ["large0", "large1", "small", "large2", "large3"]


async def test_small_requests_borrow_beyond_the_reserve_only_while_no_large_one_waits(budget):
    log: list[str] = []
    small = [Holder(budget, 10, log, f"small{i}") for i in range(6)]
    await settle()
    assert all(holder.holding for holder in small) and budget.held == 60  # borrowed 30

    large = Holder(budget, 40, log, "large")  # 60 + 40 > 90: waits
    await settle()
    late_small = Holder(budget, 10, log, "late")  # a large one waits: back to the reserve
    await settle()
    assert not large.holding and not late_small.holding

    await small[0].done()  # 50 + 40 fits: the large one, not the later small one
    await settle()
    assert large.holding and not late_small.holding
    for holder in [*small[1:], large, late_small]:
        await holder.done()
    assert log[-2:] == ["large", "late"]
    assert budget.held == 0


async def test_large_requests_are_served_first_come_first_served(budget):
    log: list[str] = []
    holding = Holder(budget, 45, log, "holding")
    await settle()
    big = Holder(budget, 40, log, "big")  # 45 + 40 > 60: waits
    await settle()
    little = Holder(budget, 11, log, "little")  # 45 + 11 would fit: waits behind big
    await settle()
    assert log == ["holding"] and budget.waiting == 2

    await holding.done()
    await settle()
    assert log == ["holding", "big", "little"]
    for holder in (big, little):
        await holder.done()
    assert budget.held == 0


async def test_a_cancelled_waiter_gives_its_place_up(budget):
    log: list[str] = []
    holding = Holder(budget, 45, log, "holding")
    await settle()
    head = Holder(budget, 40, log, "head")
    await settle()
    behind = Holder(budget, 11, log, "behind")  # would fit, but waits behind the head
    await settle()
    assert not behind.holding

    head.task.cancel()
    await settle()

    assert behind.holding and budget.held == 56 and budget.waiting == 0
    for holder in (holding, behind):
        await holder.done()
    assert budget.held == 0


async def test_a_waiter_cancelled_once_granted_gives_its_bytes_back(budget):
    log: list[str] = []
    async with budget.hold(60):
        waiter = Holder(budget, 30, log, "waiter")
        await settle()
        assert not waiter.holding
    # Leaving the block granted the waiter its bytes; it is cancelled before it could run.
    waiter.task.cancel()
    await settle()

    assert log == [] and budget.held == 0


@pytest.mark.parametrize("amount", [-1, 61])
async def test_a_request_that_can_never_be_granted_is_an_error(budget, amount):
    with pytest.raises(ValueError):
        async with budget.hold(amount):
            pass


@pytest.mark.parametrize(
    ("capacity", "reserve", "small"), [(90, 90, 10), (90, -1, 10), (90, 30, 31), (90, 30, 0)]
)
def test_a_budget_that_makes_no_sense_is_refused(capacity, reserve, small):
    with pytest.raises(ValueError):
        MemoryBudget(capacity, reserve=reserve, small=small)


# --------------------------------------------------------------------------------------------
# ImageIngest


def encode(image: Image.Image, pillow_format: str, **params: object) -> bytes:
    out = BytesIO()
    image.save(out, format=pillow_format, **params)
    return out.getvalue()


def photo(size: tuple[int, int], shade: int = 0) -> Image.Image:
    return Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize(size),
            Image.radial_gradient("L").resize(size),
            Image.new("L", size, shade),
        ),
    )


SMALL = encode(photo((300, 200)), "JPEG", quality=85)
# Distinct bytes, so each upload is told apart by its data.
LARGE = [encode(photo((2000, 2000), shade), "PNG") for shade in range(4)]
WEBP_BOMB = encode(Image.new("RGB", (7000, 7000), (10, 200, 30)), "WEBP", lossless=True)


def cost(data: bytes) -> int:
    return estimate_decode_bytes(data, PHOTO_VARIANTS, max_pixels=MAX_PIXELS)


@pytest.fixture
def stores(tmp_path):
    return FilesystemBlobStore(tmp_path / "media"), FilesystemBlobStore(tmp_path / "originals")


def make_ingest(stores, *, workers: int, budget: int | None = None) -> ImageIngest:
    """With ``budget`` twice a large image's cost: one large image at a time, and the small
    one (a sixth of the budget at most) in the reserve."""
    media, originals = stores
    ingest = ImageIngest(
        media=media,
        originals=originals,
        max_pixels=MAX_PIXELS,
        workers=workers,
        decode_budget_bytes=budget or 2 * cost(LARGE[0]),
    )
    assert cost(SMALL) <= ingest.budget.small < cost(LARGE[0]) <= ingest.max_image_bytes
    assert 2 * cost(LARGE[0]) > ingest.budget.large_capacity
    return ingest


class Gate:
    """process_image, held for the large images until opened."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.large_running = threading.Event()
        self.processed: list[bytes] = []

    def __call__(self, data: bytes, *args, **kwargs):
        if data in LARGE:
            self.large_running.set()
            assert self.opened.wait(timeout=60), "the gate was never opened"
        self.processed.append(data)
        return process_image(data, *args, **kwargs)


async def test_a_small_upload_is_not_queued_behind_large_ones_in_flight(stores, monkeypatch):
    # One worker: with a count-based limit, the small upload would wait for the large one
    # holding the only worker (held until the gate opens) and time out.
    gate = Gate()
    monkeypatch.setattr(photo_ingest, "process_image", gate)
    ingest = make_ingest(stores, workers=1)
    large = [asyncio.ensure_future(ingest.ingest(data, PHOTO_VARIANTS)) for data in LARGE]
    try:
        assert await anyio.to_thread.run_sync(gate.large_running.wait, 60)
        await settle()
        assert ingest.budget.held == cost(LARGE[0])  # one large image; the others wait

        with anyio.fail_after(60):
            stored = await ingest.ingest(SMALL, PHOTO_VARIANTS)

        assert stored.width == 300
        assert not gate.opened.is_set() and not any(task.done() for task in large)
    finally:
        gate.opened.set()
        results = await asyncio.gather(*large)
    assert len({result.original_key for result in results}) == len(LARGE)
    assert ingest.budget.held == 0 and ingest.budget.waiting == 0


async def test_large_images_are_limited_by_memory_not_by_count(stores, monkeypatch):
    lock = threading.Lock()
    running = peak = 0

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
    ingest = make_ingest(stores, workers=4)  # four workers, memory for one large image

    results = await asyncio.gather(*(ingest.ingest(data, PHOTO_VARIANTS) for data in LARGE))

    assert len(results) == len(LARGE)
    assert peak == 1


async def test_an_image_over_the_limit_is_refused_without_waiting_or_decoding(
    stores, monkeypatch
):
    gate = Gate()
    monkeypatch.setattr(photo_ingest, "process_image", gate)
    ingest = make_ingest(stores, workers=1)
    large = asyncio.ensure_future(ingest.ingest(LARGE[0], PHOTO_VARIANTS))
    try:
        assert await anyio.to_thread.run_sync(gate.large_running.wait, 60)
        with anyio.fail_after(60), pytest.raises(ImageDecodeTooLargeError) as info:
            await ingest.ingest(WEBP_BOMB, PHOTO_VARIANTS)
    finally:
        gate.opened.set()
        await large
    assert info.value.code == "image_too_large"
    assert WEBP_BOMB not in gate.processed
    assert not any(stores[1].root.rglob("*.webp"))


async def test_the_budget_is_given_back_whatever_the_outcome(stores):
    ingest = make_ingest(stores, workers=2)
    await ingest.ingest(SMALL, PHOTO_VARIANTS)
    with pytest.raises(CorruptImageError):
        await ingest.ingest(LARGE[0][: len(LARGE[0]) // 2], PHOTO_VARIANTS)
    with pytest.raises(ImageDecodeTooLargeError):
        await ingest.ingest(WEBP_BOMB, PHOTO_VARIANTS)
    assert ingest.budget.held == 0 and ingest.budget.waiting == 0


@pytest.mark.parametrize(
    ("budget", "max_image", "small"),
    [
        (768 * MiB, 256 * MiB, 128 * MiB),  # the default: two large images at once
        (3 * 1024 * MiB, 256 * MiB, 128 * MiB),  # a bigger budget never raises the limit
        (96 * MiB, 64 * MiB, 16 * MiB),  # a smaller one lowers it
    ],
)
def test_the_budget_sets_the_per_image_limit_and_the_reserve(stores, budget, max_image, small):
    media, originals = stores
    ingest = ImageIngest(
        media=media, originals=originals, max_pixels=1, workers=1, decode_budget_bytes=budget
    )
    assert ingest.max_image_bytes == max_image <= DEFAULT_MAX_DECODE_BYTES
    assert ingest.budget.small == small
    assert ingest.budget.reserve == budget // 3


def test_the_default_budget_is_the_settings_default(stores):
    from photoshare.infra.settings import Settings

    media, originals = stores
    ingest = ImageIngest(media=media, originals=originals, max_pixels=1, workers=1)
    assert ingest.budget.capacity == Settings().image_decode_budget_bytes


def test_a_nonsense_budget_is_refused(stores):
    media, originals = stores
    with pytest.raises(ValueError):
        ImageIngest(
            media=media, originals=originals, max_pixels=1, workers=1, decode_budget_bytes=0
        )


async def test_an_upload_over_the_decode_budget_is_a_422_image_too_large(stores):
    media, originals = stores
    services = SimpleNamespace(
        max_upload_bytes=10 * MiB,
        images=ImageIngest(media=media, originals=originals, max_pixels=MAX_PIXELS, workers=1),
    )
    upload = UploadFile(BytesIO(WEBP_BOMB), filename="bomb.webp")

    with pytest.raises(ApiError) as info:
        await store_image(services, upload, PHOTO_VARIANTS)

    assert (info.value.status, info.value.code) == (422, "image_too_large")
    assert "7000x7000" in info.value.message and "MB" in info.value.message
