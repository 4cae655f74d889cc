"""The decode budget, measured: the peak memory of processing small files that decode big.

Each case runs in a child process, which reports how much its own peak RSS grew while
processing one upload: Pillow's bitmaps and the codecs' buffers are C allocations that
``tracemalloc`` does not see. The peak is the child's ``VmHWM`` (Linux), not ``ru_maxrss``:
a child's ``ru_maxrss`` starts at its parent's peak (Linux carries it over fork and exec),
so under a big pytest process it would hide most of the growth. The images are made here
with Pillow, in this process, so making them does not count.

The goal (hardening issue, point 3): no single upload raises the peak by more than 300 MB,
and the estimate the budget is kept in (``estimate_decode_bytes``) is an upper bound of
what processing really takes. Before the budget, the 2 KB WebP below took ~790 MB and the
16-bit PNG ~500 MB.
"""

from __future__ import annotations

import json
import subprocess
import sys
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="reads the peak RSS from /proc (Linux)"
)

MB = 1_000_000
GOAL = 300 * MB  # the most one upload may raise the server's peak memory by

# The child's own peak RSS so far, in bytes.
PEAK = """
def peak_rss():
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024
"""

# Reads the upload, notes its peak RSS, processes the upload as the server does, and
# prints how much the peak grew.
CHILD = PEAK + """
import json, sys
from photoshare.infra.media.images import (
    DEFAULT_MAX_DECODE_BYTES, PHOTO_VARIANTS, ImageDecodeTooLargeError, ImageRejectedError,
    estimate_decode_bytes, process_image)
data = open(sys.argv[1], "rb").read()
try:  # what the pipeline plans within its limit, or beyond it when it refuses
    estimate = estimate_decode_bytes(data, PHOTO_VARIANTS, max_pixels=50_000_000,
                                     max_decode_bytes=DEFAULT_MAX_DECODE_BYTES)
except ImageDecodeTooLargeError:
    estimate = estimate_decode_bytes(data, PHOTO_VARIANTS, max_pixels=50_000_000)
before = peak_rss()
try:
    process_image(data, PHOTO_VARIANTS, max_pixels=50_000_000)
    outcome = "processed"
except ImageRejectedError as error:
    outcome = error.code
print(json.dumps({"growth": peak_rss() - before, "estimate": estimate, "outcome": outcome}))
"""

# Eight bombs in flight at once, then a normal photo, through ImageIngest as the write API
# runs it: the normal one must be stored and the peak stay within the goal.
CHILD_IN_FLIGHT = PEAK + """
import asyncio, json, sys, tempfile
from pathlib import Path
from photoshare.infra.media.blobs import FilesystemBlobStore
from photoshare.infra.media.images import PHOTO_VARIANTS, ImageRejectedError
from photoshare.infra.media.photo_ingest import ImageIngest

bomb, normal = (open(path, "rb").read() for path in sys.argv[1:3])

async def main():
    root = Path(tempfile.mkdtemp())
    ingest = ImageIngest(media=FilesystemBlobStore(root / "media"),
                         originals=FilesystemBlobStore(root / "originals"),
                         max_pixels=50_000_000, workers=2)
    before = peak_rss()

    async def upload(data):
        try:
            await ingest.ingest(data, PHOTO_VARIANTS)
            return "stored"
        except ImageRejectedError as error:
            return error.code

    bombs = [asyncio.ensure_future(upload(bomb)) for _ in range(8)]
    normal_outcome = await upload(normal)
    outcomes = await asyncio.gather(*bombs)
    print(json.dumps({"growth": peak_rss() - before, "bombs": outcomes,
                      "normal": normal_outcome}))

asyncio.run(main())
"""


def encode(image: Image.Image, pillow_format: str, **params: object) -> bytes:
    out = BytesIO()
    image.save(out, format=pillow_format, **params)
    return out.getvalue()


def photo(size: tuple[int, int]) -> Image.Image:
    return Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize(size),
            Image.radial_gradient("L").resize(size),
            Image.effect_noise(size, 30),
        ),
    )


IMAGES = {
    # 49 MP, under the 50 MP pixel limit, in about 2 KB.
    "webp_7000_lossless": lambda: encode(
        Image.new("RGB", (7000, 7000), (10, 200, 30)), "WEBP", lossless=True
    ),
    "png_7000_16_bit_grey": lambda: encode(Image.new("I;16", (7000, 7000), 40000), "PNG"),
    "png_7000_rgba": lambda: encode(Image.new("RGBA", (7000, 7000), (10, 200, 30, 128)), "PNG"),
    # libjpeg keeps every coefficient of a progressive file: 6 bytes a pixel at 4:4:4.
    "jpeg_7000_progressive_444": lambda: encode(
        Image.new("RGB", (7000, 7000), (10, 200, 30)), "JPEG", progressive=True, subsampling=0
    ),
    "webp_2500": lambda: encode(photo((2500, 2500)), "WEBP", quality=80),
    "jpeg_12_mp": lambda: encode(photo((4000, 3000)), "JPEG", quality=90),
    # Portrait: its 4:5 feed variant (1080x1350) is larger than its large one.
    "jpeg_12_mp_portrait": lambda: encode(photo((3000, 4000)), "JPEG", quality=90),
}


@pytest.fixture(scope="module")
def image_files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("decode-memory")
    files = {}
    for name, make in IMAGES.items():
        files[name] = root / name
        files[name].write_bytes(make())
    return files


def run_child(script: str, *paths: Path) -> dict:
    # Outside the repository, so its events/ directory cannot shadow a dependency's module.
    result = subprocess.run(
        [sys.executable, "-c", script, *map(str, paths)],
        capture_output=True,
        text=True,
        cwd=paths[0].parent,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("name", "outcome"),
    [
        ("webp_7000_lossless", "image_too_large"),
        ("png_7000_16_bit_grey", "processed"),
        ("png_7000_rgba", "processed"),
        ("jpeg_7000_progressive_444", "image_too_large"),
        ("webp_2500", "processed"),
        ("jpeg_12_mp", "processed"),
        ("jpeg_12_mp_portrait", "processed"),
    ],
)
def test_one_upload_raises_the_peak_by_less_than_300_mb(image_files, name, outcome):
    measured = run_child(CHILD, image_files[name])

    assert measured["outcome"] == outcome
    assert measured["growth"] < GOAL, f"{name}: +{measured['growth'] / MB:.0f} MB"
    if outcome == "processed":
        # The budget is kept in estimates: they must not understate the real peak.
        assert measured["growth"] <= measured["estimate"], measured


def test_eight_bombs_in_flight_neither_blow_the_peak_nor_block_a_normal_upload(image_files):
    measured = run_child(
        CHILD_IN_FLIGHT, image_files["webp_7000_lossless"], image_files["jpeg_12_mp"]
    )

    assert measured["normal"] == "stored"
    assert measured["bombs"] == ["image_too_large"] * 8
    assert measured["growth"] < GOAL, f"+{measured['growth'] / MB:.0f} MB"
