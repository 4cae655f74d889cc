"""Benchmark the photo pipeline against a naive pipeline and against Pillow's raw decode.

Run: ``.venv/bin/python bench/images.py [--repeat N] [--width W --height H] [--threads T]
[--memory]``

It builds a photo-like 12-megapixel JPEG in memory (gradients plus noise, quality 90), then
times, per image (median of ``--repeat`` runs after a warm-up):

  naive   open, full-resolution decode, each variant resized from the full image, encoded
  draft   ``infra.images.process_image`` (reduced-scale JPEG decode, chained resizes)
  decode  Pillow's full-resolution decode alone: the limit a full-decode pipeline can reach

and prints ms per image, images/s, variants/s and the ratios draft/naive and draft/decode.
With ``--threads`` > 1 it also measures ``process_image`` throughput from that many threads
(Pillow releases the GIL while decoding, resizing and encoding).

With ``--memory`` it also measures the decode budget: for small files that decode big (a 2 KB
lossless WebP of 7000x7000, 16-bit grey and RGBA PNGs of 7000x7000, a progressive 4:4:4 JPEG
of 7000x7000) and the input JPEG, how much processing one raises the peak RSS, each in a
child process (its VmHWM: a child's ru_maxrss starts at its parent's peak), next to what
``estimate_decode_bytes`` said and whether it was processed or refused.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path

from PIL import Image, features

from photoshare.infra.media.images import PHOTO_VARIANTS, VariantSpec, process_image

MAX_PIXELS = 50_000_000
# The naive pipeline uses the same filter and encoder settings as process_image, so the
# difference measured is the draft decode and the chained resizes, nothing else.
NAIVE_RESAMPLE = Image.Resampling.BICUBIC


def photo_like_jpeg(width: int, height: int, quality: int = 90) -> bytes:
    """A JPEG with smooth gradients and sensor-like noise, so it compresses like a photo."""
    size = (width, height)
    base = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize(size),
            Image.linear_gradient("L").rotate(90).resize(size),
            Image.radial_gradient("L").resize(size),
        ),
    )
    noise = Image.effect_noise(size, 24).convert("RGB")
    out = BytesIO()
    Image.blend(base, noise, 0.25).save(out, format="JPEG", quality=quality)
    return out.getvalue()


def naive_pipeline(data: bytes, specs: tuple[VariantSpec, ...]) -> list[bytes]:
    """What one writes first: decode everything, resize each variant from the full image."""
    image = Image.open(BytesIO(data))
    image.load()
    image = image.convert("RGB")
    outputs = []
    for spec in specs:
        if spec.square:
            side = min(image.size)
            left, top = (image.width - side) // 2, (image.height - side) // 2
            box = (left, top, left + side, top + side)
            target = (min(side, spec.size),) * 2
        elif spec.aspect_range is not None:  # the feed: centre-cropped into its range
            narrowest, widest = spec.aspect_range
            width = min(image.width, image.height * widest)
            height = min(image.height, image.width / narrowest)
            left, top = (image.width - width) / 2, (image.height - height) / 2
            box = (left, top, left + width, top + height)
            scale = min(1.0, spec.size / width)
            target = (round(width * scale), round(height * scale))
        else:
            box = (0, 0, *image.size)
            scale = min(1.0, spec.size / max(image.size))
            target = (round(image.width * scale), round(image.height * scale))
        variant = image.resize(target, NAIVE_RESAMPLE, box=box)
        out = BytesIO()
        variant.save(out, format="JPEG", quality=85, optimize=True)
        outputs.append(out.getvalue())
    return outputs


def raw_decode(data: bytes) -> None:
    """Pillow's full-resolution decode, nothing else."""
    image = Image.open(BytesIO(data))
    image.load()


def draft_pipeline(data: bytes) -> None:
    process_image(data, PHOTO_VARIANTS, max_pixels=MAX_PIXELS)


def median_ms(job: Callable[[], object], repeat: int, warmup: int = 2) -> float:
    """Median wall time of ``job`` in milliseconds."""
    for _ in range(warmup):
        job()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        job()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def threaded_images_per_second(data: bytes, threads: int, images: int) -> float:
    """process_image throughput with ``threads`` workers, as ImageIngest runs it."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda _: draft_pipeline(data), range(threads)))  # warm-up
        started = time.perf_counter()
        list(pool.map(lambda _: draft_pipeline(data), range(images)))
        return images / (time.perf_counter() - started)


# Run in a child: read the upload, note the peak RSS, process it, print the growth.
MEMORY_CHILD = """
import json, sys
from photoshare.infra.media.images import (
    DEFAULT_MAX_DECODE_BYTES, PHOTO_VARIANTS, ImageDecodeTooLargeError, ImageRejectedError,
    estimate_decode_bytes, process_image)

def peak_rss():
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM:")).split()[1]) * 1024

data = open(sys.argv[1], "rb").read()
try:  # what the pipeline plans within its limit, or beyond it when it refuses
    estimate = estimate_decode_bytes(data, PHOTO_VARIANTS, max_pixels=int(sys.argv[2]),
                                     max_decode_bytes=DEFAULT_MAX_DECODE_BYTES)
except ImageDecodeTooLargeError:
    estimate = estimate_decode_bytes(data, PHOTO_VARIANTS, max_pixels=int(sys.argv[2]))
before = peak_rss()
try:
    process_image(data, PHOTO_VARIANTS, max_pixels=int(sys.argv[2]))
    outcome = "processed"
except ImageRejectedError as error:
    outcome = error.code
print(json.dumps({"growth": peak_rss() - before, "estimate": estimate, "outcome": outcome}))
"""


def encoded(image: Image.Image, pillow_format: str, **params: object) -> bytes:
    out = BytesIO()
    image.save(out, format=pillow_format, **params)
    return out.getvalue()


def memory_cases(jpeg: bytes) -> dict[str, bytes]:
    big = (7000, 7000)
    return {
        "WebP 7000x7000 lossless": encoded(Image.new("RGB", big, (10, 200, 30)), "WEBP",
                                           lossless=True),
        "PNG 7000x7000 16-bit grey": encoded(Image.new("I;16", big, 40000), "PNG"),
        "PNG 7000x7000 RGBA": encoded(Image.new("RGBA", big, (10, 200, 30, 128)), "PNG"),
        "JPEG 7000x7000 progressive 4:4:4": encoded(
            Image.new("RGB", big, (10, 200, 30)), "JPEG", progressive=True, subsampling=0),
        "input JPEG": jpeg,
    }


def report_memory(jpeg: bytes) -> None:
    if not Path("/proc/self/status").exists():
        print("  (--memory needs /proc: Linux only)")
        return
    print("decode budget: peak RSS growth of one upload, each in a child process")
    with tempfile.TemporaryDirectory() as directory:
        for label, data in memory_cases(jpeg).items():
            path = Path(directory) / "upload"
            path.write_bytes(data)
            result = subprocess.run(
                [sys.executable, "-c", MEMORY_CHILD, str(path), str(MAX_PIXELS)],
                capture_output=True, text=True, cwd=directory, check=True)
            measured = json.loads(result.stdout)
            print(f"  {label:<34} {len(data) / 1000:8.1f} KB  "
                  f"+{measured['growth'] / 1e6:6.0f} MB  "
                  f"(estimated {measured['estimate'] / 1e6:4.0f} MB)  {measured['outcome']}")


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    jpeg = features.version("libjpeg_turbo") or features.version("jpg") or "?"
    return (
        f"{platform.node()}: {cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"Pillow {Image.__version__}, libjpeg-turbo {jpeg}"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per pipeline")
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="threads for the throughput run"
    )
    parser.add_argument(
        "--memory", action="store_true", help="also measure the decode budget's peak memory"
    )
    return parser.parse_args()


def report(label: str, ms: float, variants: int | None) -> None:
    per_variant = f"{variants * 1000 / ms:7.1f} variants/s" if variants else ""
    print(f"  {label:<34} {ms:8.1f} ms/image  {1000 / ms:7.2f} images/s  {per_variant}")


def main() -> None:
    args = parse_args()
    data = photo_like_jpeg(args.width, args.height)
    megapixels = args.width * args.height / 1e6
    variant_count = len(PHOTO_VARIANTS)
    print(machine_description())
    print(
        f"input: {args.width}x{args.height} ({megapixels:.1f} MP) JPEG q90, "
        f"{len(data) / 1e6:.2f} MB; variants {[spec.name for spec in PHOTO_VARIANTS]}; "
        f"median of {args.repeat} runs, single thread"
    )

    naive = median_ms(lambda: naive_pipeline(data, PHOTO_VARIANTS), args.repeat)
    draft = median_ms(lambda: draft_pipeline(data), args.repeat)
    decode = median_ms(lambda: raw_decode(data), args.repeat)

    report("(a) naive: full decode + resize", naive, variant_count)
    report("(b) process_image (draft)", draft, variant_count)
    report("(c) limit: raw full decode only", decode, None)
    print(f"  draft vs naive:       {draft / naive:5.2f}x the time ({naive / draft:.2f}x faster)")
    print(
        f"  draft vs raw decode:  {draft / decode:5.2f}x the time "
        f"(process_image reaches {decode / draft:.0%} of Pillow's raw decode rate)"
    )
    if args.threads > 1:
        images = max(4 * args.threads, 12)
        rate = threaded_images_per_second(data, args.threads, images)
        print(
            f"  process_image on {args.threads} threads: {rate:.2f} images/s, "
            f"{rate * variant_count:.1f} variants/s ({rate * draft / 1000:.2f}x one thread)"
        )
    if args.memory:
        report_memory(data)


if __name__ == "__main__":
    main()
