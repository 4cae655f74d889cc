"""The photo pipeline (infra.images), on images generated with Pillow in each test."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from io import BytesIO

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, ImageChops, ImageCms, ImageStat, WebPImagePlugin

from photoshare.infra.media import images
from photoshare.infra.media.images import (
    AVATAR_VARIANTS,
    DEFAULT_MAX_DECODE_BYTES,
    PHOTO_VARIANTS,
    CorruptImageError,
    ImageDecodeTooLargeError,
    ImageDimensionsTooLargeError,
    ImageRejectedError,
    ProcessedImage,
    UnsupportedImageFormatError,
    VariantSpec,
    accepted_formats,
    estimate_decode_bytes,
    extension_for_format,
    process_image,
    sniff_format,
)

MAX_PIXELS = 50_000_000
RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)
PILLOW_SAVE_FORMAT = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "avif": "AVIF"}
SECRETS = (b"SecretCamMake", b"SecretModel42", b"SECRETDATUM", b"secret-xmp", b"secret comment")


# --------------------------------------------------------------------------------------------
# Image factories


def encode(image: Image.Image, pillow_format: str, **params: object) -> bytes:
    out = BytesIO()
    image.save(out, format=pillow_format, **params)
    return out.getvalue()


def photo(size: tuple[int, int]) -> Image.Image:
    """A smooth, photo-like RGB image (gradients, so every codec round-trips it well)."""
    horizontal = Image.linear_gradient("L").rotate(90).resize(size)
    vertical = Image.linear_gradient("L").resize(size)
    radial = Image.radial_gradient("L").resize(size)
    return Image.merge("RGB", (horizontal, vertical, radial))


def marked(size: tuple[int, int]) -> Image.Image:
    """Blue, with a red block in the stored top-left corner (a quarter of each side)."""
    image = Image.new("RGB", size, BLUE)
    image.paste(RED, (0, 0, size[0] // 4, size[1] // 4))
    return image


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_declaring(width: int, height: int, idat: bytes = b"") -> bytes:
    """A structurally valid PNG whose IHDR claims ``width`` x ``height`` RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = idat or zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG with its SOF0 frame header patched to claim ``width`` x ``height``."""
    data = bytearray(encode(photo((64, 48)), "JPEG", quality=80))
    sof = data.index(b"\xff\xc0")
    # SOF0: marker(2) length(2) precision(1) height(2) width(2)
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def exif_full_of_secrets(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = SECRETS[0].decode()
    exif[ExifTags.Base.Model] = SECRETS[1].decode()
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (51.0, 30.0, 12.5)
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (0.0, 7.0, 39.0)
    gps[ExifTags.GPS.GPSMapDatum] = SECRETS[2].decode()
    return exif


XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:source="secret-xmp"/>'
    b"</rdf:RDF></x:xmpmeta>"
)


def variants_by_name(result: ProcessedImage) -> dict[str, Image.Image]:
    return {v.name: Image.open(BytesIO(v.data)) for v in result.variants}


def sizes(result: ProcessedImage) -> dict[str, tuple[int, int]]:
    return {v.name: (v.width, v.height) for v in result.variants}


def assert_close(pixel: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> None:
    assert all(abs(a - b) <= tolerance for a, b in zip(pixel, expected)), (pixel, expected)


def run(data: bytes, specs=PHOTO_VARIANTS, max_pixels: int = MAX_PIXELS) -> ProcessedImage:
    return process_image(data, specs, max_pixels=max_pixels)


# --------------------------------------------------------------------------------------------
# Formats and sizes


def test_jpeg_png_webp_are_always_accepted():
    assert {"jpeg", "png", "webp"} <= accepted_formats()
    assert accepted_formats() <= {"jpeg", "png", "webp", "avif", "heic"}


def test_heic_is_accepted_only_when_a_heif_opener_is_registered():
    Image.init()
    assert ("heic" in accepted_formats()) == ("HEIF" in Image.OPEN)


@pytest.mark.parametrize(
    "format_name",
    [
        "jpeg",
        "png",
        "webp",
        pytest.param(
            "avif",
            marks=pytest.mark.skipif(
                "avif" not in accepted_formats(), reason="this Pillow cannot decode AVIF"
            ),
        ),
    ],
)
@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1600, 1200), {"large": (1080, 810), "medium": (640, 480), "square": (320, 320),
                        "feed": (1080, 810), "feed_small": (640, 480)}),
        # 3:4 is taller than the feed's 4:5: its feed variants are cropped to 4:5.
        ((1200, 1600), {"large": (810, 1080), "medium": (480, 640), "square": (320, 320),
                        "feed": (1080, 1350), "feed_small": (640, 800)}),
    ],
    ids=["landscape", "portrait"],
)
def test_each_accepted_format_makes_the_five_variants(format_name, size, expected):
    data = encode(photo(size), PILLOW_SAVE_FORMAT[format_name])
    assert sniff_format(data) == format_name

    result = run(data)

    assert (result.format, result.width, result.height) == (format_name, *size)
    assert [v.name for v in result.variants] == ["large", "medium", "square", "feed",
                                                 "feed_small"]
    assert sizes(result) == expected
    for variant in result.variants:
        decoded = Image.open(BytesIO(variant.data))
        assert decoded.format == "JPEG"
        assert decoded.mode == "RGB"
        assert decoded.size == (variant.width, variant.height)
        assert (variant.extension, variant.media_type) == ("jpg", "image/jpeg")
        assert "progressive" not in decoded.info  # baseline
        decoded.load()


def test_a_12_megapixel_jpeg_decoded_at_reduced_scale_keeps_exact_sizes():
    data = encode(photo((4000, 3000)), "JPEG", quality=90)
    result = run(data)
    assert (result.width, result.height) == (4000, 3000)
    assert sizes(result) == {"large": (1080, 810), "medium": (640, 480), "square": (320, 320),
                             "feed": (1080, 810), "feed_small": (640, 480)}


def test_small_images_are_never_upscaled():
    result = run(encode(photo((200, 120)), "PNG"))
    assert sizes(result) == {"large": (200, 120), "medium": (200, 120), "square": (120, 120),
                             "feed": (200, 120), "feed_small": (200, 120)}


def test_an_image_between_variant_sizes_is_only_shrunk_where_needed():
    result = run(encode(photo((800, 600)), "JPEG"))
    assert sizes(result) == {"large": (800, 600), "medium": (640, 480), "square": (320, 320),
                             "feed": (800, 600), "feed_small": (640, 480)}


def test_avatar_variants_are_squares():
    result = run(encode(photo((500, 300)), "JPEG"), AVATAR_VARIANTS)
    assert sizes(result) == {"avatar": (300, 300), "avatar_small": (96, 96)}


def test_square_variant_is_the_centre_crop():
    image = Image.new("RGB", (900, 300), RED)
    image.paste(GREEN, (300, 0, 600, 300))
    image.paste(BLUE, (600, 0, 900, 300))
    result = run(encode(image, "PNG"))
    square = variants_by_name(result)["square"]
    assert square.size == (300, 300)
    for point in [(5, 5), (150, 150), (294, 294)]:
        assert_close(square.getpixel(point), GREEN)


def test_extreme_aspect_ratio_keeps_at_least_one_pixel():
    result = run(encode(photo((4000, 2)), "PNG"))
    assert sizes(result) == {"large": (1080, 1), "medium": (640, 1), "square": (2, 2),
                             "feed": (3, 2), "feed_small": (3, 2)}


def test_variant_specs_are_validated():
    data = encode(photo((64, 64)), "PNG")
    with pytest.raises(ValueError):
        run(data, ())
    with pytest.raises(ValueError):
        run(data, (VariantSpec("a", 0, False),))
    with pytest.raises(ValueError):
        run(data, (VariantSpec("a", 10, False), VariantSpec("a", 20, True)))


def test_extension_for_format():
    assert [extension_for_format(f) for f in ("jpeg", "png", "webp", "avif", "heic")] == [
        "jpg",
        "png",
        "webp",
        "avif",
        "heic",
    ]


# --------------------------------------------------------------------------------------------
# EXIF orientation


def two_marks(size: tuple[int, int]) -> Image.Image:
    """Landscape, blue: red in the stored top-left corner of the whole image, green in the
    stored top-left corner of its centred square (what the square variant shows)."""
    width, height = size
    image = Image.new("RGB", size, BLUE)
    image.paste(RED, (0, 0, width // 4, height // 4))
    left = (width - height) // 2
    image.paste(GREEN, (left, 0, left + height // 4, height // 4))
    return image


def corner_colours(image: Image.Image) -> dict[str, tuple[int, ...]]:
    w, h = image.size
    points = {
        "top-left": (10, 10),
        "top-right": (w - 11, 10),
        "bottom-left": (10, h - 11),
        "bottom-right": (w - 11, h - 11),
    }
    return {name: image.getpixel(point) for name, point in points.items()}


# Where the stored top-left corner is seen once each EXIF orientation is applied.
ORIENTATIONS = [
    (1, "top-left"),
    (2, "top-right"),  # mirrored
    (3, "bottom-right"),  # upside down
    (4, "bottom-left"),  # flipped
    (5, "top-left"),  # transposed
    (6, "top-right"),  # stored rotated 90° counter-clockwise (a phone held upright)
    (7, "bottom-right"),  # transversed
    (8, "bottom-left"),  # stored rotated 90° clockwise
]


@pytest.mark.parametrize(("orientation", "marked_corner"), ORIENTATIONS)
def test_exif_orientation_is_applied(orientation, marked_corner):
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    # Big enough that the JPEG is draft-decoded at half scale before rotation.
    data = encode(two_marks((2400, 1200)), "JPEG", quality=90, exif=exif)
    portrait = orientation >= 5

    result = run(data)

    assert (result.width, result.height) == ((1200, 2400) if portrait else (2400, 1200))
    variants = variants_by_name(result)
    assert variants["large"].size == ((540, 1080) if portrait else (1080, 540))
    assert sizes(result)["large"] == variants["large"].size
    assert variants["square"].size == (320, 320)
    for name, colour in corner_colours(variants["large"]).items():
        assert_close(colour, RED if name == marked_corner else BLUE)
    for name, colour in corner_colours(variants["square"]).items():
        assert_close(colour, GREEN if name == marked_corner else BLUE)
    # The orientation tag is gone too, so nothing downstream rotates the variant again.
    assert not variants["large"].getexif()


def test_orientation_also_applies_to_a_png_exif_chunk():
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    result = run(encode(marked((400, 200)), "PNG", exif=exif))
    assert (result.width, result.height) == (200, 400)
    large = variants_by_name(result)["large"]
    assert_close(large.getpixel((190, 10)), RED)
    assert_close(large.getpixel((10, 10)), BLUE)


def test_a_garbage_orientation_value_is_ignored():
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 99
    result = run(encode(marked((400, 200)), "JPEG", exif=exif))
    assert (result.width, result.height) == (400, 200)


# --------------------------------------------------------------------------------------------
# Metadata stripping


def assert_no_metadata(result: ProcessedImage) -> None:
    for variant in result.variants:
        decoded = Image.open(BytesIO(variant.data))
        assert not decoded.getexif(), variant.name
        assert not {"exif", "xmp", "comment", "XML:com.adobe.xmp"} & decoded.info.keys()
        assert b"Exif" not in variant.data
        assert b"http://ns.adobe.com/xap" not in variant.data
        for secret in SECRETS:
            assert secret not in variant.data, (variant.name, secret)


@pytest.mark.parametrize(
    ("pillow_format", "params"),
    [
        ("JPEG", {"comment": SECRETS[4], "xmp": XMP}),
        ("PNG", {}),
        ("WEBP", {"xmp": XMP}),
    ],
)
def test_gps_camera_xmp_and_comments_are_stripped(pillow_format, params):
    data = encode(photo((1300, 900)), pillow_format, exif=exif_full_of_secrets(), **params)
    assert SECRETS[0] in data and SECRETS[2] in data  # the input really carries them

    assert_no_metadata(run(data))


def test_metadata_is_stripped_from_a_rotated_jpeg():
    data = encode(photo((1300, 900)), "JPEG", exif=exif_full_of_secrets(orientation=6))
    result = run(data)
    assert (result.width, result.height) == (900, 1300)
    assert_no_metadata(result)


def test_an_rgb_icc_profile_is_kept():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    result = run(encode(photo((300, 200)), "JPEG", icc_profile=srgb))
    for image in variants_by_name(result).values():
        assert image.info.get("icc_profile") == srgb


def fake_icc_profile(color_space: bytes) -> bytes:
    """Not a usable profile: just a header declaring ``color_space`` (bytes 16-19)."""
    return b"\x00" * 16 + color_space + b"\x00" * 108


def test_a_profile_for_another_colour_space_is_not_attached_to_rgb_output():
    image = photo((120, 80)).convert("L")
    result = run(encode(image, "PNG", icc_profile=fake_icc_profile(b"GRAY")))
    for decoded in variants_by_name(result).values():
        assert "icc_profile" not in decoded.info


def test_cmyk_with_an_unusable_profile_falls_back_to_plain_conversion():
    image = Image.new("CMYK", (300, 200), (0, 255, 255, 0))
    data = encode(image, "JPEG", icc_profile=fake_icc_profile(b"CMYK"))
    large = variants_by_name(run(data))["large"]
    assert "icc_profile" not in large.info
    assert_close(large.getpixel((150, 100)), RED, tolerance=60)


# --------------------------------------------------------------------------------------------
# Modes


def test_rgba_transparency_is_flattened_onto_white():
    image = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (100, 0, 200, 100))
    large = variants_by_name(run(encode(image, "PNG")))["large"]
    assert large.mode == "RGB"
    assert_close(large.getpixel((20, 50)), WHITE)
    assert_close(large.getpixel((180, 50)), RED)


def test_palette_with_transparency_is_flattened_onto_white():
    image = Image.new("P", (100, 100), 0)
    image.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    image.paste(1, (50, 0, 100, 100))
    large = variants_by_name(run(encode(image, "PNG", transparency=0)))["large"]
    assert_close(large.getpixel((10, 50)), WHITE)
    assert_close(large.getpixel((90, 50)), GREEN)


def test_la_is_flattened_onto_white():
    image = Image.new("LA", (100, 100), (0, 0))
    image.paste((0, 255), (50, 0, 100, 100))
    large = variants_by_name(run(encode(image, "PNG")))["large"]
    assert_close(large.getpixel((10, 50)), WHITE)
    assert_close(large.getpixel((90, 50)), (0, 0, 0))


def test_cmyk_jpeg_is_converted_to_rgb():
    image = Image.new("CMYK", (300, 200), (0, 255, 255, 0))  # red in CMYK
    data = encode(image, "JPEG")
    assert Image.open(BytesIO(data)).mode == "CMYK"
    large = variants_by_name(run(data))["large"]
    assert large.mode == "RGB"
    assert_close(large.getpixel((150, 100)), RED, tolerance=60)


def test_16_bit_grey_is_scaled_not_clipped():
    image = Image.new("I;16", (64, 64), 32768)
    data = encode(image, "PNG")
    assert Image.open(BytesIO(data)).mode == "I;16"
    large = variants_by_name(run(data))["large"]
    assert_close(large.getpixel((32, 32)), (128, 128, 128), tolerance=3)


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB"])
def test_other_modes_work(mode):
    image = photo((120, 80)).convert(mode)
    result = run(encode(image, "PNG"))
    assert variants_by_name(result)["large"].mode == "RGB"


def test_animated_png_gives_its_first_frame():
    frames = [Image.new("RGB", (100, 100), RED), Image.new("RGB", (100, 100), BLUE)]
    data = encode(frames[0], "PNG", save_all=True, append_images=frames[1:])
    assert Image.open(BytesIO(data)).n_frames == 2
    assert_close(variants_by_name(run(data))["large"].getpixel((50, 50)), RED)


def test_animated_webp_gives_its_first_frame():
    frames = [Image.new("RGB", (100, 100), RED), Image.new("RGB", (100, 100), BLUE)]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    assert_close(variants_by_name(run(data))["large"].getpixel((50, 50)), RED)


# --------------------------------------------------------------------------------------------
# Sniffing


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = b"ftyp" + major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return struct.pack(">I", len(body) + 4) + body + b"\x00" * 16


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xff\xd8\xff\xe0rest", "jpeg"),
        (b"\x89PNG\r\n\x1a\nrest", "png"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp"),
        (ftyp(b"avif", b"mif1", b"miaf"), "avif"),
        (ftyp(b"mif1", b"miaf", b"avif"), "avif"),
        (ftyp(b"heic", b"mif1"), "heic"),
        (ftyp(b"mif1", b"heic"), "heic"),
        (ftyp(b"isom", b"mp41"), None),  # an MP4 video
        (ftyp(b"mif1"), None),
        (b"GIF89a", None),
        (b"%PDF-1.7", None),
        (b"BM", None),
        (b"II*\x00", None),  # TIFF
        (b"", None),
        (b"RIFF\x00\x00\x00\x00WAVE", None),
        (b"\x00\x00\x00\x08ftyp", None),  # a box too short to hold a brand
        (b"\xff\xff\xff\xffftypavif" + b"\x00" * 8, None),  # a box longer than the file
    ],
)
def test_sniff_format(data, expected):
    assert sniff_format(data) == expected


# --------------------------------------------------------------------------------------------
# Rejections


def gif() -> bytes:
    return encode(photo((50, 50)), "GIF")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, I am definitely a photo",
        "naïve text".encode(),
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"\x00" * 1000,
    ],
    ids=["empty", "text", "utf8", "pdf", "svg", "zeros"],
)
def test_non_images_are_unsupported(data):
    with pytest.raises(UnsupportedImageFormatError) as info:
        run(data)
    assert info.value.code == "unsupported_media_type"


@pytest.mark.parametrize("pillow_format", ["GIF", "BMP", "TIFF", "ICO", "PPM"])
def test_images_in_formats_we_do_not_accept_are_unsupported(pillow_format):
    with pytest.raises(UnsupportedImageFormatError):
        run(encode(photo((50, 50)), pillow_format))


@pytest.mark.parametrize("pillow_format", ["JPEG", "PNG", "WEBP"])
def test_images_truncated_at_half_are_corrupt(pillow_format):
    data = encode(photo((400, 300)), pillow_format)
    with pytest.raises(CorruptImageError) as info:
        run(data[: len(data) // 2])
    assert info.value.code == "invalid_image"


def test_a_truncated_large_jpeg_is_corrupt_even_when_draft_decoded():
    data = encode(photo((2400, 1800)), "JPEG")
    with pytest.raises(CorruptImageError):
        run(data[: len(data) // 2])


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8\xff" + encode(photo((40, 40)), "PNG"),  # JPEG magic, PNG body
        b"\xff\xd8\xff" + bytes(range(256)) * 8,  # JPEG magic, garbage
        b"\x89PNG\r\n\x1a\n" + encode(photo((40, 40)), "JPEG"),  # PNG magic, JPEG body
        b"RIFF\x00\x00\x00\x00WEBP" + b"\x00" * 100,
        ftyp(b"avif", b"mif1") + b"\x00" * 100,
    ],
    ids=["jpeg-magic-png-body", "jpeg-magic-garbage", "png-magic-jpeg-body", "webp", "avif"],
)
def test_a_format_claim_with_another_body_is_rejected(data):
    with pytest.raises(ImageRejectedError):
        run(data)


def test_a_png_declaring_30000_squared_pixels_is_too_large():
    data = png_declaring(30000, 30000)
    assert len(data) < 200
    with pytest.raises(ImageDimensionsTooLargeError) as info:
        run(data)
    assert info.value.code == "image_too_large"


def test_the_pixel_count_is_checked_before_any_pixel_is_decoded():
    # 5000x5000 is under Pillow's own bomb threshold; its IDAT is garbage, so decoding it
    # first would end in CorruptImageError instead.
    data = png_declaring(5000, 5000, idat=b"not zlib at all")
    with pytest.raises(ImageDimensionsTooLargeError):
        run(data, max_pixels=10_000_000)
    with pytest.raises(CorruptImageError):
        run(data, max_pixels=30_000_000)


def test_a_jpeg_declaring_a_huge_frame_is_too_large():
    with pytest.raises(ImageDimensionsTooLargeError):
        run(jpeg_declaring(30000, 30000))


def test_max_pixels_applies_to_real_images():
    data = encode(photo((200, 100)), "PNG")
    with pytest.raises(ImageDimensionsTooLargeError):
        run(data, max_pixels=19_999)
    assert run(data, max_pixels=20_000).width == 200


def test_errors_carry_a_code_and_a_message():
    for error in (
        UnsupportedImageFormatError,
        CorruptImageError,
        ImageDimensionsTooLargeError,
        ImageDecodeTooLargeError,
    ):
        assert issubclass(error, ImageRejectedError)
        assert error.code and error.message
        assert str(error()) == error().message == error.message


def test_client_facing_text_never_carries_pillow_internals():
    with pytest.raises(CorruptImageError) as info:
        run(b"\xff\xd8\xff" + b"garbage" * 20)
    assert str(info.value) == info.value.message == CorruptImageError.message
    assert info.value.detail  # what Pillow said is kept, for the logs


def test_the_too_large_message_names_the_size_and_the_limit():
    with pytest.raises(ImageDimensionsTooLargeError) as info:
        run(encode(photo((200, 100)), "PNG"), max_pixels=10_000)
    assert "200x100" in str(info.value) and "10,000" in str(info.value)


def test_importing_the_module_changes_no_pillow_global_state():
    script = (
        "from PIL import Image, ImageFile\n"
        "before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, sorted(Image.OPEN))\n"
        "import photoshare.infra.media.images\n"
        "after = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, sorted(Image.OPEN))\n"
        "assert before == after, (before, after)\n"
        "assert after[1] is False\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


# --------------------------------------------------------------------------------------------
# Decode budget: what an image costs to process, from its header, before any pixel


def png_header(width: int, height: int, bit_depth: int = 8, colour_type: int = 2) -> bytes:
    """A PNG declaring ``width`` x ``height`` pixels of the given kind, with garbage data."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def estimate(data: bytes, specs=PHOTO_VARIANTS, **limits: int) -> int:
    return estimate_decode_bytes(data, specs, max_pixels=MAX_PIXELS, **limits)


def test_a_2_kb_webp_of_7000_squared_pixels_is_refused_before_any_pixel_is_decoded(
    monkeypatch,
):
    # Under the 50 MP pixel limit, yet ~790 MB to decode through Pillow.
    data = encode(Image.new("RGB", (7000, 7000), GREEN), "WEBP", lossless=True)
    assert len(data) < 4096

    def no_decoder(*args, **kwargs):
        raise AssertionError("libwebp's decoder was made before the budget was checked")

    with monkeypatch.context() as patch:
        # Opening the file would make the decoder, canvases and all.
        patch.setattr(WebPImagePlugin.WebPImageFile, "_open", no_decoder)
        with pytest.raises(ImageDecodeTooLargeError) as info:
            run(data)
        with pytest.raises(ImageDimensionsTooLargeError):
            run(data, max_pixels=48_000_000)

    assert info.value.code == "image_too_large"
    assert isinstance(info.value, ImageDimensionsTooLargeError)
    message = str(info.value)
    assert "7000x7000 WebP" in message and "MB" in message
    assert f"{DEFAULT_MAX_DECODE_BYTES // 1_000_000} MB" in message
    assert estimate(data) > DEFAULT_MAX_DECODE_BYTES


@pytest.mark.parametrize(
    ("cheaper", "dearer", "extra_bytes_per_pixel"),
    [
        ((8, 0), (16, 0), 1),  # 16-bit grey: 2 bytes a pixel, 8-bit: 1
        ((8, 3), (8, 6), 3),  # palette: 1 byte; RGBA: 4
        ((8, 0), (8, 4), 3),  # grey with alpha is stored in 4 bytes
    ],
    ids=["16-bit-grey", "rgba", "grey-alpha"],
)
def test_the_estimate_counts_the_bytes_per_pixel_of_the_decoded_mode(
    cheaper, dearer, extra_bytes_per_pixel
):
    pixels = 3000 * 3000
    difference = estimate(png_header(3000, 3000, *dearer)) - estimate(
        png_header(3000, 3000, *cheaper)
    )
    assert difference >= extra_bytes_per_pixel * pixels


def test_16_bit_rgb_counts_as_8_bit_rgb_which_pillow_decodes_it_to():
    assert estimate(png_header(3000, 3000, 16, 2)) == estimate(png_header(3000, 3000, 8, 2))
    assert estimate(png_header(3000, 3000, 16, 6)) == estimate(png_header(3000, 3000, 8, 6))


def test_the_budget_is_checked_from_the_header_before_decoding():
    # 7000x7000 16-bit grey, garbage data: over a low limit it is refused as too costly
    # (so nothing was decoded); within the default, decoding is reached and fails.
    data = png_header(7000, 7000, 16, 0)
    with pytest.raises(ImageDecodeTooLargeError) as info:
        process_image(data, PHOTO_VARIANTS, max_pixels=MAX_PIXELS, max_decode_bytes=50_000_000)
    assert "7000x7000 PNG" in str(info.value) and "the limit is 50 MB" in str(info.value)
    assert estimate(data) <= DEFAULT_MAX_DECODE_BYTES
    with pytest.raises(CorruptImageError):
        run(data)


def test_a_jpeg_counts_at_the_scale_it_is_decoded_at():
    data = jpeg_declaring(4000, 3000)  # decoded at 1/2: 2000x1500
    assert estimate(data) < 4000 * 3000 * 4  # less than the full-size bitmap alone
    assert estimate(jpeg_declaring(8000, 6000)) - estimate(data) < 4000 * 3000


@pytest.mark.parametrize(("subsampling", "bytes_per_pixel"), [(2, 3), (0, 6)])
def test_a_progressive_jpeg_counts_its_full_size_coefficients(subsampling, bytes_per_pixel):
    # libjpeg keeps every DCT coefficient (2 bytes) of a multi-scan file, whatever the scale:
    # 3 bytes a pixel at 4:2:0, 6 at 4:4:4.
    image = photo((2000, 1500))
    baseline = encode(image, "JPEG", subsampling=subsampling)
    progressive = encode(image, "JPEG", subsampling=subsampling, progressive=True)
    difference = estimate(progressive) - estimate(baseline)
    assert 1.0 <= difference / (2000 * 1500 * bytes_per_pixel) <= 1.1


def test_a_jpeg_whose_first_scan_has_one_component_counts_its_coefficients():
    data = bytearray(encode(photo((2000, 1500)), "JPEG"))
    sos = data.index(b"\xff\xda")
    assert data[sos + 4] == 3
    data[sos + 4] = 1  # components in separate scans: libjpeg buffers the whole image
    assert estimate(bytes(data)) - estimate(encode(photo((2000, 1500)), "JPEG")) > 2000 * 1500


def test_a_lossless_jpeg_counts_at_full_size():
    # libjpeg cannot decode a lossless JPEG at reduced scale.
    data = bytearray(jpeg_declaring(4000, 3000))
    sof = data.index(b"\xff\xc0")
    data[sof + 1] = 0xC3
    difference = estimate(bytes(data)) - estimate(jpeg_declaring(4000, 3000))
    assert difference == (4000 * 3000 - 2000 * 1500) * 4


def test_a_webp_counts_the_decoders_canvases_and_copies():
    size = (1000, 1000)
    webp, png = encode(photo(size), "WEBP"), encode(photo(size), "PNG")
    assert estimate(webp) - estimate(png) >= 12 * size[0] * size[1]


@pytest.mark.skipif("avif" not in accepted_formats(), reason="no AVIF decoder")
def test_an_avif_config_box_planted_in_the_file_can_only_raise_the_estimate():
    data = encode(photo((1000, 1000)), "AVIF")
    # A 'free' box holding an av1C claiming 12-bit 4:4:4.
    planted = b"av1C" + bytes([0x81, 0x00, 0x60, 0x00])
    box = struct.pack(">I", 8 + len(planted)) + b"free" + planted
    assert estimate(data + box) > estimate(data)
    assert run(data + box).width == 1000


@pytest.mark.parametrize(
    ("config", "alpha", "expected"),
    [
        (bytes(16) + bytes([0x01, 0x00]), False, 1.5 + 8),  # 8-bit 4:2:0
        (bytes(16) + bytes([0x03, 0x02]), True, 2 * (3 + 1) + 8),  # 10-bit 4:4:4, alpha
        (b"", False, 2 * 3 + 8),  # no readable box: the worst case
    ],
)
def test_heic_planes_are_read_from_the_hevc_configuration(config, alpha, expected):
    data = b"....ftypheic" + (b"hvcC" + config + b"\x00" * 4 if config else b"")
    assert images._isobmff_decoder_bytes_per_pixel("heic", data, alpha) == expected


def test_a_finer_reduction_over_the_limit_falls_back_to_a_coarser_one():
    # 500 px for a 100 px variant: a reduction by 1 leaves 5 source pixels per output pixel
    # (under the gap of 3), by 2 leaves 2.5: chosen only when the first would not fit.
    specs = (VariantSpec("large", 100, False),)
    image = photo((500, 500)).convert("RGBA")
    image.putalpha(128)
    data = encode(image, "PNG")
    finest = estimate(data, specs)

    fine = process_image(data, specs, max_pixels=MAX_PIXELS)
    coarser = process_image(data, specs, max_pixels=MAX_PIXELS, max_decode_bytes=finest - 1)

    assert estimate(data, specs, max_decode_bytes=finest - 1) < finest
    assert sizes(fine) == sizes(coarser) == {"large": (100, 100)}
    difference = ImageChops.difference(
        variants_by_name(fine)["large"], variants_by_name(coarser)["large"]
    )
    assert max(ImageStat.Stat(difference).mean) < 2
    with pytest.raises(ImageDecodeTooLargeError):
        process_image(data, specs, max_pixels=MAX_PIXELS, max_decode_bytes=finest // 2)


def gradient_alpha(mode: str, size: tuple[int, int]) -> bytes:
    image = photo(size).convert("RGBA")
    image.putalpha(Image.linear_gradient("L").rotate(90).resize(size))
    if mode == "P":
        return encode(image.convert("RGB").convert("P"), "PNG", transparency=3)
    if mode == "I;16":
        grey = image.convert("L").convert("I").point(lambda v: v * 257).convert("I;16")
        return encode(grey, "PNG")
    return encode(image.convert(mode), "PNG")


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "I;16", "RGB"])
def test_band_by_band_conversion_gives_the_pixels_of_a_whole_image_one(mode, monkeypatch):
    # 1300 px for a 200 px variant: reduced by 2 (6.5 / 3) right after decoding.
    specs = (VariantSpec("large", 200, False), VariantSpec("square", 60, True))
    data = gradient_alpha(mode, (1300, 900))
    unlimited = {"max_pixels": MAX_PIXELS, "max_decode_bytes": 2**62}
    monkeypatch.setattr(images, "_BAND_PIXELS", 10**9)  # the whole image in one band
    whole = process_image(data, specs, **unlimited)
    monkeypatch.setattr(images, "_BAND_PIXELS", 997)  # bands of two rows
    banded = process_image(data, specs, **unlimited)
    assert [v.data for v in banded.variants] == [v.data for v in whole.variants]


# --------------------------------------------------------------------------------------------
# Fuzzing: anything is either a valid result or an ImageRejectedError


SMALL_VALID = [
    encode(photo((48, 32)), "JPEG", quality=75),
    encode(photo((48, 32)), "PNG"),
    encode(photo((48, 32)).convert("P"), "PNG"),
    encode(photo((48, 32)), "WEBP"),
    encode(photo((48, 32)).convert("RGBA"), "WEBP", lossless=True),
] + ([encode(photo((48, 32)), "AVIF")] if "avif" in accepted_formats() else [])
FUZZ_SPECS = (VariantSpec("large", 40, False), VariantSpec("square", 16, True))
FUZZ_MAX_PIXELS = 4_000_000


def assert_valid_or_rejected(data: bytes) -> None:
    try:
        result = process_image(data, FUZZ_SPECS, max_pixels=FUZZ_MAX_PIXELS)
    except ImageRejectedError:
        return
    assert result.format in accepted_formats()
    assert result.width * result.height <= FUZZ_MAX_PIXELS
    for variant in result.variants:
        decoded = Image.open(BytesIO(variant.data))
        assert decoded.size == (variant.width, variant.height)
        assert 1 <= max(variant.width, variant.height) <= 40


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SMALL_VALID)))
    for _ in range(draw(st.integers(0, 8))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


MAGICS = [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x01\x00\x00WEBP", ftyp(b"avif")]


fuzz_settings = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@fuzz_settings
@given(st.binary(max_size=2048))
def test_fuzz_arbitrary_bytes(data):
    assert_valid_or_rejected(data)


@fuzz_settings
@given(st.sampled_from(MAGICS), st.binary(max_size=2048))
def test_fuzz_magic_then_garbage(magic, rest):
    assert_valid_or_rejected(magic + rest)


@fuzz_settings
@given(mutated())
def test_fuzz_mutated_and_truncated_images(data):
    assert_valid_or_rejected(data)


# --------------------------------------------------------------------------------------------
# Feed variants: the crop and the decode scale it needs


@pytest.mark.parametrize(("stored", "orientation", "decoded"), [
    # Landscape upright: every variant is covered at 1/4 (1500x1000).
    ((6000, 4000), 1, (1500, 1000)),
    # The same pixels upright as a portrait (a phone's orientation 6): the 4:5 feed crop
    # is 4000 wide and needs 1080 of it, so 1/2 (3000x2000), not 1/4 (1000 wide).
    ((6000, 4000), 6, (3000, 2000)),
    # 12 MP: 1/2 either way, as before the feed variants.
    ((4000, 3000), 1, (2000, 1500)),
    ((4000, 3000), 6, (2000, 1500)),
])
def test_a_jpeg_is_drafted_to_the_scale_its_upright_feed_crop_needs(stored, orientation,
                                                                     decoded):
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    data = bytearray(encode(photo((64, 48)), "JPEG", quality=80, exif=exif.tobytes()))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", stored[1], stored[0])
    image = Image.open(BytesIO(bytes(data)))
    images._request_reduced_decode(image, PHOTO_VARIANTS)
    assert image.size == decoded


@pytest.mark.parametrize(("size", "feed", "feed_small"), [
    ((1080, 1920), (1080, 1350), (640, 800)),  # 9:16 -> 4:5
    ((3000, 800), (1080, 566), (640, 336)),  # 3.75:1 -> 1.91:1
    ((1200, 1500), (1080, 1350), (640, 800)),  # exactly 4:5: whole
    ((500, 2000), (500, 625), (500, 625)),  # small: cropped, never upscaled
])
def test_feed_variants_are_cropped_into_4_5_to_1_91(size, feed, feed_small):
    result = run(encode(photo(size), "PNG"))
    assert sizes(result)["feed"] == feed and sizes(result)["feed_small"] == feed_small
    assert result.placeholder is not None and len(result.placeholder) == 28


def test_an_estimate_with_unknown_orientation_covers_the_portrait_crop():
    # A PNG's EXIF is only read with its pixels: the estimate assumes the costlier way up.
    wide = encode(photo((2400, 1800)), "PNG")
    assert estimate(wide) >= estimate(wide, specs=PHOTO_VARIANTS[:3])
    result = run(wide)
    assert sizes(result)["feed"] == (1080, 810)  # upright landscape after all: no crop
