"""The photo pipeline: sniff, guard, decode, orient, strip metadata, resize, encode.

Pure Pillow, no web framework: the write API calls ``process_image`` (through
``infra.photo_ingest``) and maps an ``ImageRejectedError`` to a 4xx answer using its ``code``.

Pillow global state: this module changes none. It reads ``Image.MAX_IMAGE_PIXELS`` (Pillow's own
decompression-bomb threshold, treated here as a hard upper bound on top of ``max_pixels``) and
relies on ``ImageFile.LOAD_TRUNCATED_IMAGES`` keeping its default ``False`` so truncated uploads
fail to decode. HEIC is accepted only once something else (the wiring) has registered
``pillow_heif``'s opener; this module never registers plugins itself.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO

from PIL import ExifTags, Image, features

# ---------------------------------------------------------------------------------------------
# Errors


class ImageRejectedError(Exception):
    """An upload that is not an image we can accept.

    ``code``, ``message`` and ``str(error)`` are safe to show a client; ``detail`` holds the
    diagnostic (Pillow's own error text, which can name internals) for logs only.
    """

    code: str = "invalid_image"
    message: str = "The file is not an acceptable image."

    def __init__(self, message: str | None = None, *, detail: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)
        self.detail = detail


class UnsupportedImageFormatError(ImageRejectedError):
    """Not an image at all, or an image format we do not accept."""

    code = "unsupported_media_type"
    message = "The file is not an image in a supported format (JPEG, PNG, WebP, ...)."


class CorruptImageError(ImageRejectedError):
    """Claims to be a supported format but is truncated, corrupt or otherwise undecodable."""

    code = "invalid_image"
    message = "The image is truncated or corrupt and cannot be decoded."


class ImageDimensionsTooLargeError(ImageRejectedError):
    """Declares more pixels than allowed (decompression-bomb guard)."""

    code = "image_too_large"
    message = "The image has too many pixels."


# What Pillow and its plugins raise on hostile or broken input. Kept to the decode step only,
# so a bug in our own geometry code is never disguised as a client error.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # includes UnidentifiedImageError and "image file is truncated"
    ValueError,
    SyntaxError,  # Pillow's "not a valid file of this format" signal
    EOFError,
    struct.error,
    RuntimeError,  # Pillow's libavif binding: "Failed to decode image: ..."
)

# ---------------------------------------------------------------------------------------------
# Formats

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
# Bounds a hostile ftyp box: real ones list a handful of brands.
_MAX_FTYP_SIZE = 4096

# Our format names -> the Pillow plugin allowed to decode them (HEIF comes from pillow_heif).
_PILLOW_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "avif": "AVIF", "heic": "HEIF"}
_EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp", "avif": "avif", "heic": "heic"}
_ALWAYS_ACCEPTED = frozenset({"jpeg", "png", "webp"})


def sniff_format(data: bytes) -> str | None:
    """Name the image format from its magic bytes, whatever the upload claims.

    Returns "jpeg", "png", "webp", "avif" or "heic" (from the ISO-BMFF ``ftyp`` brands), or
    None for anything else (including GIF, PDF, text).
    """
    if data.startswith(_JPEG_MAGIC):
        return "jpeg"
    if data.startswith(_PNG_MAGIC):
        return "png"
    if len(data) >= 12 and data[0:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return _sniff_isobmff(data)


def _sniff_isobmff(data: bytes) -> str | None:
    """Classify an ISO-BMFF file by its ``ftyp`` box: the major brand first, then compatible."""
    if len(data) < 16 or data[4:8] != b"ftyp":
        return None
    box_size = int.from_bytes(data[0:4], "big")
    if not 16 <= box_size <= min(len(data), _MAX_FTYP_SIZE) or box_size % 4:
        return None
    major = data[8:12]
    compatible = [data[i : i + 4] for i in range(16, box_size, 4)]
    for brands in ([major], compatible):
        if any(brand in _AVIF_BRANDS for brand in brands):
            return "avif"
        if any(brand in _HEIC_BRANDS for brand in brands):
            return "heic"
    return None


def accepted_formats() -> frozenset[str]:
    """Formats this process accepts: jpeg, png, webp, plus avif/heic when Pillow can decode them."""
    formats = set(_ALWAYS_ACCEPTED)
    if _can_decode_avif():
        formats.add("avif")
    if _can_decode_heic():
        formats.add("heic")
    return frozenset(formats)


def extension_for_format(format_name: str) -> str:
    """The blob extension for one of our format names (``"jpeg"`` -> ``"jpg"``)."""
    return _EXTENSIONS[format_name]


def _can_decode_avif() -> bool:
    # Pillow >= 11.2 registers its AVIF plugin even when built without libavif, so the
    # registration alone proves nothing; a third-party opener (pillow_heif, pillow-avif-plugin)
    # that replaced it is trusted as registered.
    Image.init()  # Pillow's own lazy plugin loading; Image.open does the same
    opener = Image.OPEN.get("AVIF")
    if opener is None:
        return False
    if getattr(opener[0], "__module__", "") == "PIL.AvifImagePlugin":
        return _pillow_has_feature("avif")
    return True


def _can_decode_heic() -> bool:
    # Only pillow_heif (or its twin pi_heif) registers "HEIF", and only when the application
    # calls register_heif_opener(): an importable but unregistered plugin decodes nothing.
    Image.init()
    return "HEIF" in Image.OPEN


def _pillow_has_feature(name: str) -> bool:
    try:
        return bool(features.check_module(name))
    except ValueError:  # a Pillow too old to know the feature
        return False


# ---------------------------------------------------------------------------------------------
# Variants and results


@dataclass(frozen=True)
class VariantSpec:
    """One output size: fit within ``size`` x ``size``, or a centred ``size`` square."""

    name: str
    size: int
    square: bool


PHOTO_VARIANTS = (
    VariantSpec("large", 1080, False),
    VariantSpec("medium", 640, False),
    VariantSpec("square", 320, True),
)
AVATAR_VARIANTS = (
    VariantSpec("avatar", 320, True),
    VariantSpec("avatar_small", 96, True),
)


@dataclass(frozen=True)
class Variant:
    """One encoded output image, free of EXIF/XMP/GPS/comment metadata."""

    name: str
    width: int
    height: int
    data: bytes
    extension: str = "jpg"
    media_type: str = "image/jpeg"


@dataclass(frozen=True)
class ProcessedImage:
    """The result of processing: the sniffed format, the upright size, and the variants."""

    format: str
    width: int
    height: int
    variants: tuple[Variant, ...]


# ---------------------------------------------------------------------------------------------
# The pipeline

_JPEG_QUALITY = 85
# Bicubic, as Pillow's own thumbnail(): after a draft decode the remaining factor is under 2-4,
# where Lanczos is barely sharper yet ~40% slower (measured: 41 vs 29 ms for 2000->1080 px).
_RESAMPLE = Image.Resampling.BICUBIC
_WHITE = (255, 255, 255)
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_HIGH_BIT_GRAY_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})
# Source modes whose pixels are in the embedded ICC profile's RGB space after conversion.
_RGB_FAMILY_MODES = frozenset({"RGB", "RGBA", "RGBX", "RGBa", "P", "PA"})
# EXIF orientation -> the transpose that makes the image upright (as ImageOps.exif_transpose).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_AXES = frozenset({5, 6, 7, 8})

Box = tuple[float, float, float, float]


def process_image(
    data: bytes, specs: Iterable[VariantSpec], *, max_pixels: int
) -> ProcessedImage:
    """Validate an uploaded image and render ``specs`` as metadata-free baseline JPEGs.

    The format is sniffed from the bytes and the matching Pillow plugin alone may decode it.
    The pixel count is read from the header and checked against ``max_pixels`` (and Pillow's
    ``Image.MAX_IMAGE_PIXELS``) before any pixel is decoded. JPEGs are decoded at a reduced
    DCT scale that still covers the largest variant. EXIF orientation is applied; every mode is
    converted to RGB with transparency flattened onto white; animated images give their first
    frame. Blocking and CPU-bound: call it from a worker thread.

    Raises UnsupportedImageFormatError, CorruptImageError or ImageDimensionsTooLargeError
    (all ImageRejectedError); ValueError if ``specs`` itself is invalid.
    """
    specs = _checked_specs(specs)
    format_name = _accepted_format(data)
    with _decode_errors_rejected():
        image = Image.open(BytesIO(data), formats=[_PILLOW_FORMATS[format_name]])
        stored_size = image.size
        _check_pixel_count(stored_size, max_pixels)
        _request_reduced_decode(image, specs)
        image.load()
        orientation = _orientation(image)
        rgb, icc_profile = _to_rgb(image)
    width, height = _upright_size(stored_size, orientation)
    variants = _render_all(rgb, stored_size, orientation, specs, icc_profile)
    return ProcessedImage(format=format_name, width=width, height=height, variants=variants)


def _checked_specs(specs: Iterable[VariantSpec]) -> tuple[VariantSpec, ...]:
    specs = tuple(specs)
    if not specs:
        raise ValueError("at least one VariantSpec is required")
    if any(spec.size < 1 for spec in specs):
        raise ValueError("variant sizes must be positive")
    if len({spec.name for spec in specs}) != len(specs):
        raise ValueError("variant names must be unique")
    return specs


def _accepted_format(data: bytes) -> str:
    format_name = sniff_format(data)
    if format_name is None or format_name not in accepted_formats():
        raise UnsupportedImageFormatError(detail=f"sniffed format: {format_name}")
    return format_name


@contextmanager
def _decode_errors_rejected() -> Iterator[None]:
    """Turn whatever Pillow raises on hostile input into an ImageRejectedError."""
    try:
        yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # The warning arrives as an exception only under a "-W error"-style filter.
        raise ImageDimensionsTooLargeError(detail=str(exc)) from exc
    except _DECODE_ERRORS as exc:
        raise CorruptImageError(detail=f"{type(exc).__name__}: {exc}") from exc


def _check_pixel_count(size: tuple[int, int], max_pixels: int) -> None:
    """Reject before decoding: a tiny file can declare gigapixels (decompression bomb)."""
    width, height = size
    if width < 1 or height < 1:
        raise CorruptImageError(detail=f"declared size {width}x{height}")
    limit = max_pixels
    if Image.MAX_IMAGE_PIXELS is not None:
        # Pillow only *warns* between MAX_IMAGE_PIXELS and twice that; we refuse instead.
        limit = min(limit, Image.MAX_IMAGE_PIXELS)
    if width * height > limit:
        raise ImageDimensionsTooLargeError(
            f"The image has too many pixels: {width}x{height}, the limit is {limit:,}."
        )


def _request_reduced_decode(image: Image.Image, specs: tuple[VariantSpec, ...]) -> None:
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale when that still covers every variant."""
    if image.format in ("JPEG", "MPO"):
        image.draft("RGB", _draft_box(image.size, specs))


def _draft_box(stored_size: tuple[int, int], specs: tuple[VariantSpec, ...]) -> tuple[int, int]:
    """The smallest decode size, in stored orientation, that keeps every variant sharp.

    Fitted variants need the long side to reach their size; square variants need the short
    side to. EXIF rotation swaps width and height but never which side is the long one, so a
    box expressed as (long, short) is right for every orientation.
    """
    long_needed = max((spec.size for spec in specs if not spec.square), default=1)
    short_needed = max((spec.size for spec in specs if spec.square), default=1)
    width, height = stored_size
    if width >= height:
        return (long_needed, short_needed)
    return (short_needed, long_needed)


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1-8); 1 when absent or unreadable, as a broken tag is no reason
    to refuse a photo."""
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except _DECODE_ERRORS:
        return 1
    return value if isinstance(value, int) and value in _UPRIGHT else 1


def _to_rgb(image: Image.Image) -> tuple[Image.Image, bytes | None]:
    """Convert any mode to RGB; return it with the ICC profile that still describes it."""
    icc_profile = image.info.get("icc_profile")
    if image.mode == "CMYK":
        rgb, icc_profile = _cmyk_to_rgb(image, icc_profile), None
    else:
        source_mode = image.mode
        rgb = _flatten_to_rgb(image)
        if source_mode not in _RGB_FAMILY_MODES or not _is_profile_for(icc_profile, b"RGB "):
            icc_profile = None
    # From here on nothing from the upload's metadata may reach an encoder: Pillow's JPEG
    # writer falls back to ``info["comment"]``, so the info dict is emptied.
    rgb.info = {}
    return rgb, icc_profile


def _flatten_to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in _HIGH_BIT_GRAY_MODES:
        image = _gray_to_8_bit(image)
    elif image.mode in _ALPHA_MODES or "transparency" in image.info:
        return _composite_on_white(image.convert("RGBA"))
    return image if image.mode == "RGB" else image.convert("RGB")


def _gray_to_8_bit(image: Image.Image) -> Image.Image:
    # Pillow's direct conversion clips 16-bit values at 255 (nearly all white); scale instead.
    return image.convert("I").point(lambda value: value / 256).convert("L")


def _composite_on_white(rgba: Image.Image) -> Image.Image:
    background = Image.new("RGB", rgba.size, _WHITE)
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _cmyk_to_rgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Use the embedded CMYK profile when there is one: a naive conversion oversaturates."""
    if _is_profile_for(icc_profile, b"CMYK"):
        try:
            from PIL import ImageCms

            return ImageCms.profileToProfile(
                image, BytesIO(icc_profile), ImageCms.createProfile("sRGB"), outputMode="RGB"
            )
        except Exception:  # noqa: BLE001 - a broken profile falls back to the plain conversion
            pass
    return image.convert("RGB")


def _is_profile_for(icc_profile: object, color_space: bytes) -> bool:
    """Tell whether an ICC profile's header declares ``color_space`` (bytes 16-19)."""
    return isinstance(icc_profile, bytes) and icc_profile[16:20] == color_space


def _make_upright(image: Image.Image, orientation: int) -> Image.Image:
    method = _UPRIGHT.get(orientation)
    return image if method is None else image.transpose(method)


def _upright_size(stored_size: tuple[int, int], orientation: int) -> tuple[int, int]:
    width, height = stored_size
    return (height, width) if orientation in _SWAPS_AXES else (width, height)


def _render_all(
    decoded: Image.Image,
    stored_size: tuple[int, int],
    orientation: int,
    specs: tuple[VariantSpec, ...],
    icc_profile: bytes | None,
) -> tuple[Variant, ...]:
    """Render every variant, largest first, each from the smallest image that still covers it.

    Resizing dominates the cost after a draft decode, so "medium" is made from "large" rather
    than from the decoded image again; a source is only reused when it has at least the
    target's resolution over the needed box, so nothing is ever upscaled. Resizing happens in
    the stored orientation and only the small results are turned upright: rotating the whole
    decoded bitmap of a phone photo (orientation 6) first costs ~5 ms more per image.
    """
    upright_size = _upright_size(stored_size, orientation)
    sources = [decoded]  # whole-frame renditions, each mapping stored_size onto its own size
    rendered: dict[str, Variant] = {}
    for spec in sorted(specs, key=lambda spec: spec.size, reverse=True):
        target, box = _to_stored_orientation(*_geometry(upright_size, spec), orientation)
        source = _smallest_covering_source(sources, stored_size, box, target)
        resized = _resize(source, target, _scale_box(box, stored_size, source.size))
        if not spec.square:
            sources.append(resized)
        upright = _make_upright(resized, orientation)
        rendered[spec.name] = Variant(
            spec.name, upright.width, upright.height, _encode_jpeg(upright, icc_profile)
        )
    return tuple(rendered[spec.name] for spec in specs)


def _to_stored_orientation(
    target: tuple[int, int], box: Box, orientation: int
) -> tuple[tuple[int, int], Box]:
    """Express an upright output size and centred box in the stored (pre-EXIF) orientation.

    Every box ``_geometry`` makes is centred, and each of the eight EXIF transforms maps a
    centred box onto the centred box of the same extent, axes swapped for the rotations: so
    swapping is the whole conversion.
    """
    if orientation not in _SWAPS_AXES:
        return target, box
    left, top, right, bottom = box
    return (target[1], target[0]), (top, left, bottom, right)


def _smallest_covering_source(
    sources: list[Image.Image], full_size: tuple[int, int], box: Box, target: tuple[int, int]
) -> Image.Image:
    """The smallest source whose pixels over ``box`` are at least ``target`` in each axis."""

    def covers(source: Image.Image) -> bool:
        scaled = _scale_box(box, full_size, source.size)
        # A rounding tolerance, so a 1080-wide rendition counts as covering 1080 columns.
        return (
            scaled[2] - scaled[0] >= target[0] - 0.5 and scaled[3] - scaled[1] >= target[1] - 0.5
        )

    candidates = [source for source in sources if covers(source)] or sources[:1]
    return min(candidates, key=lambda source: source.width * source.height)


def _geometry(full_size: tuple[int, int], spec: VariantSpec) -> tuple[tuple[int, int], Box]:
    """The output size and the centred source box, in full-resolution upright coordinates."""
    width, height = full_size
    if spec.square:
        side = min(width, height)
        # Exactly centred (a half-pixel offset is fine for resize), so flips map it to itself.
        left, top = (width - side) / 2, (height - side) / 2
        output = min(side, spec.size)  # the largest centred square, never upscaled
        return (output, output), (left, top, left + side, top + side)
    return _fit(full_size, spec.size), (0, 0, width, height)


def _fit(size: tuple[int, int], bound: int) -> tuple[int, int]:
    """Fit within ``bound`` x ``bound`` keeping the aspect ratio; never upscale."""
    width, height = size
    if max(width, height) <= bound:
        return size
    if width >= height:
        return bound, max(1, round(height * bound / width))
    return max(1, round(width * bound / height)), bound


def _scale_box(box: Box, full_size: tuple[int, int], actual_size: tuple[int, int]) -> Box:
    """Map a full-resolution box onto the decoded image, which draft() may have shrunk."""
    scale_x = actual_size[0] / full_size[0]
    scale_y = actual_size[1] / full_size[1]
    left, top, right, bottom = box
    return (left * scale_x, top * scale_y, right * scale_x, bottom * scale_y)


def _resize(image: Image.Image, target: tuple[int, int], box: Box) -> Image.Image:
    if target == image.size and box == (0, 0, *image.size):
        return image
    # reducing_gap: when the factor is large (a PNG/WebP source gets no draft), a cheap box
    # reduction first and the real filter over the last factor of ~3: visually the same,
    # several times faster.
    return image.resize(target, _RESAMPLE, box=box, reducing_gap=3.0)


def _encode_jpeg(image: Image.Image, icc_profile: bytes | None) -> bytes:
    """Baseline JPEG, quality 85, with no metadata but (optionally) the colour profile."""
    out = BytesIO()
    image.save(
        out,
        format="JPEG",
        quality=_JPEG_QUALITY,
        optimize=True,  # Huffman-optimised baseline: smaller files, still baseline
        progressive=False,
        icc_profile=icc_profile,
    )
    return out.getvalue()
