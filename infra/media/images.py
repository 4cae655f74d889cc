"""The photo pipeline: sniff, guard, decode, orient, strip metadata, resize, encode.

Pure Pillow, no web framework: the write API calls ``process_image`` (through
``infra.photo_ingest``) and maps an ``ImageRejectedError`` to a 4xx answer using its ``code``.

Decode budget: a tiny file can need a huge bitmap (a 2 KB lossless WebP of 7000x7000 costs
~790 MB to decode through Pillow). ``estimate_decode_bytes`` reads only the header and
estimates the peak memory the whole pipeline will allocate: pixels x the bytes per pixel of
the mode Pillow decodes to (bit depth, alpha), plus what the decoder itself holds (libwebp's
canvases, libavif's planes, libjpeg's coefficient buffer for progressive JPEGs), plus the
working copies. ``process_image`` refuses an image whose estimate is over its
``max_decode_bytes`` before decoding a pixel; ``infra.photo_ingest`` uses the same estimate
to bound how much memory the decodes in flight hold together. JPEGs are decoded at reduced
scale (``draft``); other formats cannot be, so right after decoding they are reduced by a
whole factor and flattened to RGB band by band, and the full-size bitmap is dropped before
any variant is rendered.

Pillow global state: this module changes none. It reads ``Image.MAX_IMAGE_PIXELS`` (Pillow's own
decompression-bomb threshold, treated here as a hard upper bound on top of ``max_pixels``) and
relies on ``ImageFile.LOAD_TRUNCATED_IMAGES`` keeping its default ``False`` so truncated uploads
fail to decode. HEIC is accepted only once something else (the wiring) has registered
``pillow_heif``'s opener; this module never registers plugins itself.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO

from PIL import ExifTags, Image, features

from photoshare.infra.media.blurhash import encode_blurhash

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


class ImageDecodeTooLargeError(ImageDimensionsTooLargeError):
    """Would need more memory to decode than one image may use (see ``estimate_decode_bytes``).

    A subclass of ImageDimensionsTooLargeError, with the same code: to a client both say the
    image is too large.
    """

    code = "image_too_large"
    message = "Decoding this image would need more memory than allowed."


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
    """One output size: fit within ``size`` x ``size``, or a centred ``size`` square; or,
    with ``aspect_range`` (narrowest, widest width/height), the photo centre-cropped into
    that range (not cropped when already inside it) and at most ``size`` wide."""

    name: str
    size: int
    square: bool
    aspect_range: tuple[float, float] | None = None


# What a feed shows: between 4:5 (portrait) and 1.91:1 (landscape), as Instagram does.
FEED_ASPECT_RANGE = (4 / 5, 1.91)
PHOTO_VARIANTS = (
    VariantSpec("large", 1080, False),
    VariantSpec("medium", 640, False),
    VariantSpec("square", 320, True),
    VariantSpec("feed", 1080, False, FEED_ASPECT_RANGE),
    VariantSpec("feed_small", 640, False, FEED_ASPECT_RANGE),
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
    """The result of processing: the sniffed format, the upright size, the variants and
    the placeholder (a BlurHash of the whole photo, 4x3 components)."""

    format: str
    width: int
    height: int
    variants: tuple[Variant, ...]
    placeholder: str | None = None


# ---------------------------------------------------------------------------------------------
# The decode budget: what processing one image will cost in memory, from its header

_MB = 1_000_000
MiB = 1024 * 1024
# process_image's default cap on one image's estimated peak: with what the estimate leaves
# out (interpreter, allocator slack), no single upload raises the peak by more than ~300 MB.
DEFAULT_MAX_DECODE_BYTES = 256 * MiB

_FORMAT_LABELS = {"jpeg": "JPEG", "png": "PNG", "webp": "WebP", "avif": "AVIF", "heic": "HEIC"}
# What Pillow stores per pixel: "RGB" is padded to 4 bytes, as are "LA", "PA" and "CMYK".
_ONE_BYTE_MODES = frozenset({"1", "L", "P"})
# What a decoder holds besides Pillow's bitmap, per decoded pixel (measured with Pillow 13).
# libwebp's animation decoder (Pillow's only WebP decoder, even for a still image) keeps two
# RGBA canvases while the file is open, and Pillow copies the frame into a bytes object
# before unpacking it into its own bitmap: 3 x 4 bytes. PNG decodes row by row straight into
# the bitmap (interlaced too); so does a single-scan JPEG, a multi-scan one is counted by
# _jpeg_decoder_bytes, AVIF and HEIC by _isobmff_decoder_bytes_per_pixel.
_WEBP_DECODER_BYTES_PER_PIXEL = 12
# AVIF and HEIC: the codec's YUV planes, plus the 8-bit RGB(A) copies made on the way to
# Pillow's bitmap: Pillow's AVIF binding converts into a buffer, copies it into a bytes
# object, frees the buffer, then unpacks (measured: one 4-byte copy at a time). HEIC goes
# through pillow_heif, not measured here: two copies are counted. The planes' size comes
# from the codec configuration boxes (av1C, hvcC): every one in the file counts and the
# largest wins, so a planted box can only raise the estimate; with none readable, 16-bit
# 4:4:4.
_RGB_COPIES_BYTES_PER_PIXEL = {"avif": 4, "heic": 8}
_AV1C, _HVCC = b"av1C", b"hvcC"
# Allocations that do not grow with the image: codec state, tables, the encoders' buffers.
_FIXED_BYTES = 4 * MiB

# After decoding, a PNG, WebP, AVIF or HEIC (a JPEG's draft is already near the variants'
# size) is reduced by a whole factor, as Pillow's resize(reducing_gap=...) would do, leaving
# each variant at least `gap` source pixels per output pixel for the real filter: 3 is
# indistinguishable from a fair resampling; 2, used only when 3 would not fit the budget, is
# very close (libvips' default).
_REDUCING_GAPS = (3.0, 2.0)
# The conversion to RGB and the reduction run on bands of about this many pixels, so the
# working set is one band's, never a second full-size bitmap; a band's conversion chain holds
# at most ~16 bytes per pixel (16-bit grey through 32-bit to 8-bit, or RGBA onto white).
_BAND_PIXELS = 512 * 1024
_BAND_BYTES_PER_PIXEL = 16

# JPEG start-of-frame markers (SOF0-SOF15 but DHT, JPG and DAC), and which are progressive.
_JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_PROGRESSIVE_SOF = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
_JPEG_LOSSLESS_SOF = frozenset({0xC3, 0xC7, 0xCB, 0xCF})
_JPEG_SOS = 0xDA
_JPEG_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xDA)})


def _plan(
    format_name: str,
    image: Image.Image,
    stored_size: tuple[int, int],
    data: bytes,
    specs: tuple[VariantSpec, ...],
    max_decode_bytes: int | None,
) -> tuple[int, int]:
    """(reduction factor, estimated peak bytes); ImageDecodeTooLargeError over the limit."""
    for gap in _REDUCING_GAPS:
        factor = _reduction_factor(image.size, specs, gap, _orientation_before_decoding(image))
        cost = _estimated_bytes(format_name, image, stored_size, data, specs, factor)
        if max_decode_bytes is None or cost <= max_decode_bytes:
            return factor, cost
    assert max_decode_bytes is not None
    raise _too_costly(format_name, stored_size, cost, max_decode_bytes, f"mode {image.mode}")


def _too_costly(
    format_name: str, size: tuple[int, int], cost: int, limit: int, detail: str
) -> ImageDecodeTooLargeError:
    return ImageDecodeTooLargeError(
        f"Decoding this {size[0]}x{size[1]} {_FORMAT_LABELS[format_name]} image would need "
        f"about {-(-cost // _MB):,} MB of memory; the limit is {limit // _MB:,} MB.",
        detail=f"{detail}, estimated {cost:,} bytes, limit {limit:,}",
    )


def _estimated_bytes(
    format_name: str,
    image: Image.Image,
    stored_size: tuple[int, int],
    data: bytes,
    specs: tuple[VariantSpec, ...],
    factor: int,
) -> int:
    """An upper bound of the peak: every buffer counted as if all lived at once."""
    width, height = image.size  # as decoded: a JPEG's draft is already applied
    decoded = width * height * _pixel_bytes(image.mode)
    decoder = _decoder_bytes(format_name, image, stored_size, data)
    if factor == 1 and not _needs_flattening(image):
        source, working = (width, height), 0  # the decoded bitmap is resized as it is
    else:
        source = (-(-width // factor), -(-height // factor))
        band = _band_rows(width, factor) * width * _BAND_BYTES_PER_PIXEL
        working = source[0] * source[1] * 4 + band
    # Resizing: the horizontal pass (at most the target's width by the source's height),
    # then each variant (never upscaled), its upright copy and the JPEG encoder's buffers.
    longest = max(source)
    largest = min(max(spec.size for spec in specs), longest)
    outputs = sum(min(spec.size, longest) ** 2 for spec in specs if spec.aspect_range is None)
    outputs += _cropped_output_pixels(stored_size, specs, _orientation_before_decoding(image))
    resizing = largest * longest * 4 + 2 * 4 * outputs
    return decoded + decoder + working + resizing + _FIXED_BYTES


def _cropped_output_pixels(
    stored_size: tuple[int, int], specs: tuple[VariantSpec, ...], orientation: int | None
) -> int:
    """The pixels of the cropped variants, as rendered (up to 1/narrowest taller than wide:
    1080x1350 at 4:5), for the least favourable orientation when it is not known yet. One
    that needs no crop and comes out as a fitted variant is that very image: not counted."""
    uprights = ([_upright_size(stored_size, orientation)] if orientation is not None
                else [stored_size, (stored_size[1], stored_size[0])])
    fitted = [spec for spec in specs if spec.aspect_range is None]

    def pixels(upright: tuple[int, int]) -> int:
        total = 0
        for spec in specs:
            if spec.aspect_range is None:
                continue
            geometry = _geometry(upright, spec)
            if all(_geometry(upright, other) != geometry for other in fitted):
                total += geometry[0][0] * geometry[0][1]
        return total

    return max(pixels(upright) for upright in uprights)


def _orientation_before_decoding(image: Image.Image) -> int | None:
    """The EXIF orientation where it is read with the header (JPEG), else None: Pillow
    reads a PNG's EXIF only by decoding the whole image."""
    return _orientation(image) if image.format in ("JPEG", "MPO") else None


def _decoder_bytes(
    format_name: str, image: Image.Image, stored_size: tuple[int, int], data: bytes
) -> int:
    pixels = image.size[0] * image.size[1]
    if format_name == "jpeg":
        return _jpeg_decoder_bytes(data, image, stored_size)
    if format_name == "webp":
        return pixels * _WEBP_DECODER_BYTES_PER_PIXEL
    if format_name in ("avif", "heic"):
        alpha = "A" in image.getbands()
        return math.ceil(pixels * _isobmff_decoder_bytes_per_pixel(format_name, data, alpha))
    return 0


def _isobmff_decoder_bytes_per_pixel(format_name: str, data: bytes, alpha: bool) -> float:
    """The codec's planes (luma, chroma, alpha) per pixel, plus the RGB copies."""
    box_type = _AV1C if format_name == "avif" else _HVCC
    worst_sample_bytes, worst_samples = 0, 0.0
    position = data.find(box_type)
    while position != -1:
        config = data[position + 4 : position + 24]
        if box_type == _AV1C and len(config) >= 3:
            # high_bitdepth, twelve_bit, monochrome, chroma_subsampling_x, _y (bits 6-2)
            flags = config[2]
            sample_bytes = 2 if flags & 0x40 else 1
            monochrome, sub_x, sub_y = flags & 0x10, flags & 0x08, flags & 0x04
            samples = 1.0 if monochrome else 1 + 2 / ((2 if sub_x else 1) * (2 if sub_y else 1))
        elif box_type == _HVCC and len(config) >= 18:
            # chromaFormat (0 grey, 1 4:2:0, 2 4:2:2, 3 4:4:4), bitDepthLumaMinus8
            sample_bytes = 2 if config[17] & 0x07 else 1
            samples = (1.0, 1.5, 2.0, 3.0)[config[16] & 0x03]
        else:
            sample_bytes, samples = 2, 3.0
        worst_sample_bytes = max(worst_sample_bytes, sample_bytes)
        worst_samples = max(worst_samples, samples)
        position = data.find(box_type, position + 1)
    if not worst_sample_bytes:
        worst_sample_bytes, worst_samples = 2, 3.0
    planes = worst_sample_bytes * (worst_samples + (1 if alpha else 0))
    return planes + _RGB_COPIES_BYTES_PER_PIXEL[format_name]


def _pixel_bytes(mode: str) -> int:
    if mode in _ONE_BYTE_MODES:
        return 1
    if mode.startswith("I;16"):
        return 2
    return 4


def _jpeg_decoder_bytes(data: bytes, image: Image.Image, stored_size: tuple[int, int]) -> int:
    """What libjpeg holds besides the output rows: nothing for a single-scan JPEG, but every
    DCT coefficient of the full-size image (2 bytes each) for a multi-scan one (progressive,
    or components in separate scans), whatever scale it decodes at. Read from the markers up
    to the first scan; a layout it cannot read counts as multi-scan and 4:4:4. A lossless
    JPEG cannot be decoded at reduced scale: its full-size bitmap is added.
    """
    marker, sampling, scan_components = _jpeg_layout(data)
    width, height = stored_size
    full_size_bitmap = 0
    if marker in _JPEG_LOSSLESS_SOF:
        decoded_pixels = image.size[0] * image.size[1]
        full_size_bitmap = (width * height - decoded_pixels) * _pixel_bytes(image.mode)
    if (
        marker is not None
        and marker not in _JPEG_PROGRESSIVE_SOF
        and scan_components == len(sampling)
    ):
        return full_size_bitmap
    sampling = [(h, v) for h, v in sampling if h and v] or [(1, 1)] * len(image.getbands())
    h_max = max(h for h, _ in sampling)
    v_max = max(v for _, v in sampling)
    blocks = sum(
        (-(-width * h // (8 * h_max)) + h) * (-(-height * v // (8 * v_max)) + v)
        for h, v in sampling
    )
    return full_size_bitmap + blocks * 64 * 2


def _jpeg_layout(data: bytes) -> tuple[int | None, list[tuple[int, int]], int | None]:
    """(start-of-frame marker, each component's sampling factors, components in the first
    scan), None for what the markers before the first scan do not say."""
    frame: tuple[int, bytes] | None = None
    scan_components = None
    position = 2  # after SOI
    while position + 4 <= len(data):
        if data[position] != 0xFF:  # junk between segments: libjpeg skips it too
            position += 1
            continue
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in _JPEG_STANDALONE_MARKERS:
            position += 2
            continue
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        segment = data[position + 4 : position + 2 + length]
        if marker in _JPEG_SOF_MARKERS and frame is None:
            frame = (marker, segment)
        elif marker == _JPEG_SOS:
            scan_components = segment[0] if segment else None
            break
        position += 2 + length
    if frame is None or len(frame[1]) < 6 or len(frame[1]) < 6 + 3 * frame[1][5]:
        return None, [], scan_components
    marker, segment = frame
    sampling = [(byte >> 4, byte & 15) for byte in segment[7 : 6 + 3 * segment[5] : 3]]
    return marker, sampling, scan_components


def _reduction_factor(
    size: tuple[int, int], specs: tuple[VariantSpec, ...], gap: float, orientation: int | None
) -> int:
    """The whole factor that still leaves every variant ``gap`` source pixels per output
    pixel, for the least favourable EXIF orientation when it is not known yet."""
    ratio = min(_source_pixels_per_output_pixel(size, spec, orientation) for spec in specs)
    return max(1, int(ratio / gap))


def _source_pixels_per_output_pixel(
    size: tuple[int, int], spec: VariantSpec, orientation: int | None
) -> float:
    """Pixels of an image of ``size`` per pixel of the variant: a fitted variant is resized
    from the long side, a square one from the short side (rotation changes neither); a
    cropped one from its crop's width, which for a photo upright as a portrait is the short
    side."""
    long_side, short_side = max(size), min(size)
    if spec.aspect_range is None:
        return (short_side if spec.square else long_side) / spec.size
    uprights = ([_upright_size(size, orientation)] if orientation is not None
                else [size, (size[1], size[0])])
    return min(_crop_extent(upright, spec.aspect_range)[0] for upright in uprights) / spec.size


def _band_rows(width: int, factor: int) -> int:
    """Rows per band: about _BAND_PIXELS, a multiple of ``factor`` so reductions align."""
    rows = max(1, _BAND_PIXELS // max(width, 1))
    return -(-rows // factor) * factor


def _needs_flattening(image: Image.Image) -> bool:
    return image.mode != "RGB" or "transparency" in image.info


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
_PLACEHOLDER_SIDE = 32
_PLACEHOLDER_COMPONENTS = (4, 3)

Box = tuple[float, float, float, float]


def process_image(
    data: bytes,
    specs: Iterable[VariantSpec],
    *,
    max_pixels: int,
    max_decode_bytes: int = DEFAULT_MAX_DECODE_BYTES,
) -> ProcessedImage:
    """Validate an uploaded image and render ``specs`` as metadata-free baseline JPEGs.

    The format is sniffed from the bytes and the matching Pillow plugin alone may decode it.
    Before any pixel is decoded, the pixel count read from the header is checked against
    ``max_pixels`` (and Pillow's ``Image.MAX_IMAGE_PIXELS``), and the memory the processing
    is estimated to need (``estimate_decode_bytes``) against ``max_decode_bytes``. JPEGs are
    decoded at a reduced DCT scale that still covers the largest variant; other formats are
    reduced by a whole factor and flattened to RGB band by band right after decoding. EXIF
    orientation is applied; every mode is converted to RGB with transparency flattened onto
    white; animated images give their first frame. Blocking and CPU-bound: call it from a
    worker thread.

    Raises UnsupportedImageFormatError, CorruptImageError, ImageDimensionsTooLargeError or
    its subclass ImageDecodeTooLargeError (all ImageRejectedError); ValueError if ``specs``
    itself is invalid.
    """
    specs = _checked_specs(specs)
    format_name = _accepted_format(data)
    # The opened file, its full-size bitmap and whatever its decoder holds are released when
    # _decode returns, before any variant is rendered.
    rgb, icc_profile, stored_size, orientation = _decode(
        data, format_name, specs, max_pixels, max_decode_bytes
    )
    width, height = _upright_size(stored_size, orientation)
    variants, placeholder = _render_all(rgb, stored_size, orientation, specs, icc_profile)
    return ProcessedImage(format=format_name, width=width, height=height, variants=variants,
                          placeholder=placeholder)


def estimate_decode_bytes(
    data: bytes,
    specs: Iterable[VariantSpec],
    *,
    max_pixels: int,
    max_decode_bytes: int | None = None,
) -> int:
    """The peak memory ``process_image(data, specs)`` is estimated to allocate, in bytes.

    Read from the header alone, no pixel decoded, and meant as an upper bound: the decoded
    bitmap (pixels x the bytes per pixel Pillow stores for the decoded mode: 1 for grey or
    palette, 2 for 16-bit grey, 4 for RGB, RGBA, CMYK or grey with alpha), what the decoder
    holds besides it (libwebp's canvases, libavif's planes, libjpeg's full-size coefficient
    buffer for a progressive JPEG), the reduced RGB working copy, one band of the conversion
    and the resizing buffers. A JPEG counts at the reduced scale it will be decoded at.

    Raises what ``process_image`` raises before decoding: UnsupportedImageFormatError,
    CorruptImageError (a header Pillow cannot read), ImageDimensionsTooLargeError, and
    ImageDecodeTooLargeError when ``max_decode_bytes`` is given and the estimate exceeds it.
    """
    specs = _checked_specs(specs)
    format_name = _accepted_format(data)
    _check_before_opening(data, format_name, max_pixels, max_decode_bytes)
    with _decode_errors_rejected():
        image, stored_size = _open_checked(data, format_name, specs, max_pixels)
    with image:
        _, cost = _plan(format_name, image, stored_size, data, specs, max_decode_bytes)
    return cost


def _checked_specs(specs: Iterable[VariantSpec]) -> tuple[VariantSpec, ...]:
    specs = tuple(specs)
    if not specs:
        raise ValueError("at least one VariantSpec is required")
    if any(spec.size < 1 for spec in specs):
        raise ValueError("variant sizes must be positive")
    if any(spec.aspect_range is not None
           and not 0 < spec.aspect_range[0] <= spec.aspect_range[1] for spec in specs):
        raise ValueError("an aspect range is (narrowest, widest), both positive")
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


def _decode(
    data: bytes,
    format_name: str,
    specs: tuple[VariantSpec, ...],
    max_pixels: int,
    max_decode_bytes: int,
) -> tuple[Image.Image, bytes | None, tuple[int, int], int]:
    """Check, decode and flatten: (RGB image, its ICC profile, stored size, orientation)."""
    _check_before_opening(data, format_name, max_pixels, max_decode_bytes)
    with _decode_errors_rejected():
        image, stored_size = _open_checked(data, format_name, specs, max_pixels)
    factor, _ = _plan(format_name, image, stored_size, data, specs, max_decode_bytes)
    with _decode_errors_rejected():
        image.load()
        orientation = _orientation(image)
        rgb, icc_profile = _to_rgb(image, factor)
    return rgb, icc_profile, stored_size, orientation


def _check_before_opening(
    data: bytes, format_name: str, max_pixels: int, max_decode_bytes: int | None
) -> None:
    """Pillow's WebP plugin creates libwebp's decoder, canvases and all, as it opens the
    file: so a WebP's declared size is checked before that, against the pixel limit and
    against the decoder's own share of the estimate (a lower bound of the whole)."""
    if format_name != "webp" or (size := _webp_canvas_size(data)) is None:
        return
    _check_pixel_count(size, max_pixels)
    pixels = size[0] * size[1]
    at_least = pixels * (4 + _WEBP_DECODER_BYTES_PER_PIXEL) + _FIXED_BYTES
    if max_decode_bytes is not None and at_least > max_decode_bytes:
        raise _too_costly(format_name, size, at_least, max_decode_bytes, "header")


def _webp_canvas_size(data: bytes) -> tuple[int, int] | None:
    """The canvas size a WebP declares in its first chunk (VP8X, VP8L or VP8), or None."""
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        return width, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width = int.from_bytes(data[26:28], "little") & 0x3FFF
        return width, int.from_bytes(data[28:30], "little") & 0x3FFF
    return None


def _open_checked(
    data: bytes, format_name: str, specs: tuple[VariantSpec, ...], max_pixels: int
) -> tuple[Image.Image, tuple[int, int]]:
    """Open with the one plugin the format allows, check the pixel count, request a draft.

    Returns the image (not yet decoded) and its stored size: after a draft, ``image.size``
    is the reduced size it will decode at.
    """
    image = Image.open(BytesIO(data), formats=[_PILLOW_FORMATS[format_name]])
    stored_size = image.size
    _check_pixel_count(stored_size, max_pixels)
    _request_reduced_decode(image, specs)
    return image, stored_size


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
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale when that still covers every variant.

    A JPEG's EXIF block is read as it is opened (no pixel decoded), so its orientation
    is known here: a cropped variant needs the upright photo's width.
    """
    if image.format in ("JPEG", "MPO"):
        image.draft("RGB", _draft_box(image.size, specs, _orientation(image)))


def _draft_box(
    stored_size: tuple[int, int], specs: tuple[VariantSpec, ...], orientation: int = 1
) -> tuple[int, int]:
    """The smallest decode size, in stored orientation, that keeps every variant sharp:
    for each variant, the whole image at the scale its source box needs to give its output
    size (never above 1). Fitted variants come to their size on the long side, square ones
    on the short side, cropped ones across the crop's width."""
    upright = _upright_size(stored_size, orientation)
    needed_width, needed_height = 1, 1
    for spec in specs:
        target, (left, top, right, bottom) = _geometry(upright, spec)
        scale = min(1.0, max(target[0] / (right - left), target[1] / (bottom - top)))
        # The tolerance keeps float noise (1080.0000001) from asking for one pixel more,
        # which would halve the draft scale for nothing.
        needed_width = max(needed_width, math.ceil(upright[0] * scale - 1e-6))
        needed_height = max(needed_height, math.ceil(upright[1] * scale - 1e-6))
    return _upright_size((needed_width, needed_height), orientation)  # swapping is its inverse


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1-8); 1 when absent or unreadable, as a broken tag is no reason
    to refuse a photo."""
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except _DECODE_ERRORS:
        return 1
    return value if isinstance(value, int) and value in _UPRIGHT else 1


def _to_rgb(image: Image.Image, factor: int) -> tuple[Image.Image, bytes | None]:
    """Reduce by ``factor`` and convert any mode to RGB; return it with the ICC profile that
    still describes it."""
    icc_profile = image.info.get("icc_profile")
    source_mode = image.mode
    if image.mode == "CMYK":
        convert = _cmyk_converter(icc_profile)
    else:
        convert = _flatten_to_rgb
    rgb = _reduced_rgb(image, factor, convert)
    if source_mode not in _RGB_FAMILY_MODES or not _is_profile_for(icc_profile, b"RGB "):
        icc_profile = None  # CMYK included: its profile no longer describes the pixels
    # From here on nothing from the upload's metadata may reach an encoder: Pillow's JPEG
    # writer falls back to ``info["comment"]``, so the info dict is emptied.
    rgb.info = {}
    return rgb, icc_profile


def _reduced_rgb(
    image: Image.Image, factor: int, convert: Callable[[Image.Image], Image.Image]
) -> Image.Image:
    """``image`` reduced by ``factor`` (a box filter) and converted by ``convert``, band by
    band into one RGB image: the working memory is a band's, not another full-size bitmap.

    Reducing after flattening onto white equals Pillow's premultiplied reduction then
    flattening, so transparency comes out as it would from a whole-image conversion.
    """
    if factor == 1 and not _needs_flattening(image):
        return image
    width, height = image.size
    reduced = Image.new("RGB", (-(-width // factor), -(-height // factor)))
    rows = _band_rows(width, factor)
    for top in range(0, height, rows):
        band = convert(image.crop((0, top, width, min(top + rows, height))))
        if factor > 1:
            band = band.reduce(factor)
        reduced.paste(band, (0, top // factor))
    return reduced


def _flatten_to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in _HIGH_BIT_GRAY_MODES:
        image = _gray_to_8_bit(image)
    elif image.mode in _ALPHA_MODES or "transparency" in image.info:
        return _composite_on_white(image if image.mode == "RGBA" else image.convert("RGBA"))
    return image if image.mode == "RGB" else image.convert("RGB")


def _gray_to_8_bit(image: Image.Image) -> Image.Image:
    # Pillow's direct conversion clips 16-bit values at 255 (nearly all white); scale instead.
    return image.convert("I").point(lambda value: value / 256).convert("L")


def _composite_on_white(rgba: Image.Image) -> Image.Image:
    background = Image.new("RGB", rgba.size, _WHITE)
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _cmyk_converter(icc_profile: bytes | None) -> Callable[[Image.Image], Image.Image]:
    """CMYK to RGB through the embedded CMYK profile when there is one (a naive conversion
    oversaturates); the transform is built once for all the bands."""

    def plain(image: Image.Image) -> Image.Image:
        return image.convert("RGB")

    if not _is_profile_for(icc_profile, b"CMYK"):
        return plain
    try:
        from PIL import ImageCms

        transform = ImageCms.buildTransform(
            BytesIO(icc_profile), ImageCms.createProfile("sRGB"), "CMYK", "RGB"
        )
    except Exception:  # noqa: BLE001 - a broken profile falls back to the plain conversion
        return plain

    def through_profile(image: Image.Image) -> Image.Image:
        try:
            return ImageCms.applyTransform(image, transform)
        except Exception:  # noqa: BLE001 - as a broken profile: the plain conversion
            return plain(image)

    return through_profile


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
) -> tuple[tuple[Variant, ...], str]:
    """Render every variant, largest first, each from the smallest image that still covers
    it, and the placeholder from the smallest whole-frame rendition.

    Resizing dominates the cost after a draft decode, so "medium" is made from "large" rather
    than from the decoded image again; a source is only reused when it has at least the
    target's resolution over the needed box, so nothing is ever upscaled. Resizing happens in
    the stored orientation and only the small results are turned upright: rotating the whole
    decoded bitmap of a phone photo (orientation 6) first costs ~5 ms more per image.
    """
    upright_size = _upright_size(stored_size, orientation)
    sources = [decoded]  # whole-frame renditions, each mapping stored_size onto its own size
    rendered: dict[str, tuple[Image.Image, Variant]] = {}
    for spec in sorted(specs, key=lambda spec: spec.size, reverse=True):
        target, box = _to_stored_orientation(*_geometry(upright_size, spec), orientation)
        source = _smallest_covering_source(sources, stored_size, box, target)
        resized = _resize(source, target, _scale_box(box, stored_size, source.size))
        # A feed variant that needed no crop is the very image of a fitted one: encoded once.
        same = next((done for done in rendered.values() if done[0] is resized), None)
        if same is None:
            data = _encode_jpeg(_make_upright(resized, orientation), icc_profile)
            if box == (0, 0, *stored_size) and resized is not decoded:
                sources.append(resized)
        else:
            data = same[1].data
        width, height = _upright_size(resized.size, orientation)
        rendered[spec.name] = (resized, Variant(spec.name, width, height, data))
    placeholder = _placeholder(min(sources, key=lambda image: image.width * image.height),
                               orientation)
    return tuple(rendered[spec.name][1] for spec in specs), placeholder


def _placeholder(source: Image.Image, orientation: int) -> str:
    """The BlurHash of the whole photo, from a thumbnail of at most 32 pixels a side (the
    encoder's cost grows with the pixels; more would not change the hash much)."""
    thumbnail = source.resize(_fit(source.size, _PLACEHOLDER_SIDE), Image.Resampling.BOX)
    upright = _make_upright(thumbnail, orientation)
    return encode_blurhash(upright.width, upright.height, upright.tobytes(),
                           *_PLACEHOLDER_COMPONENTS)


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
    if spec.aspect_range is not None:
        crop_width, crop_height = _crop_extent(full_size, spec.aspect_range)
        left, top = (width - crop_width) / 2, (height - crop_height) / 2
        output = _fit_width((crop_width, crop_height), spec.size, spec.aspect_range)
        return output, (left, top, left + crop_width, top + crop_height)
    return _fit(full_size, spec.size), (0, 0, width, height)


def _crop_extent(size: tuple[int, int], aspect_range: tuple[float, float]) -> tuple[float, float]:
    """The largest centred box of ``size`` whose width/height is within ``aspect_range``:
    the whole image when it already is."""
    width, height = size
    narrowest, widest = aspect_range
    if width / height > widest:
        return height * widest, float(height)
    if width / height < narrowest:
        return float(width), width / narrowest
    return float(width), float(height)


def _fit_width(
    box: tuple[float, float], bound: int, aspect_range: tuple[float, float]
) -> tuple[int, int]:
    """At most ``bound`` wide, never upscaled; the height rounded towards the inside of
    ``aspect_range``, so the output's own ratio never leaves it (1080x566, not 1080x565,
    for 1.91:1)."""
    width = max(1, min(bound, math.floor(box[0] + 1e-6)))
    height = max(1, round(box[1] * width / box[0]))
    narrowest, widest = aspect_range
    if width / height > widest:
        height = math.ceil(width / widest)
    elif width / height < narrowest:
        height = max(1, math.floor(width / narrowest))
    return width, height


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
