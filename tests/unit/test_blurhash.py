"""The BlurHash encoder against the reference implementation's own hashes, and the
properties a decoder relies on."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PIL import Image

from photoshare.infra.media.blurhash import blurhash_length, encode_blurhash

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "blurhash"
BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"

# From the reference C encoder (woltapp/blurhash, Reference/Hashes.csv): image, x and y
# components, hash. The reference loads the PNGs as RGB, dropping alpha, as we do here.
REFERENCE = [
    ("pic4.png", 4, 3, "L08ia?o|fQo|tkfQfQfQfQfQfQfQ"),
    ("pic4.png", 1, 1, "008ia?"),
    ("pic4.png", 3, 8, "*08ia?o|fQtkfQfQfQfQfQtkfQfQfQfQfQtkfQfQfQfQfQtkfQfQ"),
    ("pic5.png", 4, 3, "L%HV9wj[fQj[~qfQfQfQ%MfQfQfQ"),
    ("pic5.png", 2, 2, "A%HV9wj[~qfQ"),
    ("pic5.png", 1, 8, "$%HV9w~q%Mt7t7ofofof"),
    ("pic5.png", 9, 1, None),  # only the length is known: the CSV stops at 8
]


def rgb(name: str) -> Image.Image:
    return Image.open(FIXTURES / name).convert("RGB")


def decode83(text: str) -> int:
    value = 0
    for char in text:
        value = value * 83 + BASE83.index(char)
    return value


@pytest.mark.parametrize(("name", "x", "y", "expected"), REFERENCE)
def test_the_reference_images_give_the_reference_hashes(name, x, y, expected) -> None:
    image = rgb(name)
    hash_ = encode_blurhash(image.width, image.height, image.tobytes(), x, y)
    assert len(hash_) == blurhash_length(x, y)
    if expected is not None:
        assert hash_ == expected


@pytest.mark.parametrize(("x", "y"), [(1, 1), (4, 3), (3, 4), (9, 9)])
def test_the_length_and_the_size_flag_tell_the_components(x, y) -> None:
    hash_ = encode_blurhash(2, 2, bytes(range(12)), x, y)
    assert len(hash_) == 6 + 2 * (x * y - 1)
    assert decode83(hash_[0]) == (x - 1) + (y - 1) * 9
    assert all(char in BASE83 for char in hash_)


def test_four_by_three_components_make_28_characters() -> None:
    assert len(encode_blurhash(3, 2, bytes(18))) == blurhash_length(4, 3) == 28


@pytest.mark.parametrize("colour", [(70, 130, 180), (0, 0, 0), (255, 255, 255), (200, 30, 5)])
def test_a_flat_image_keeps_its_colour(colour) -> None:
    hash_ = encode_blurhash(8, 6, bytes(colour) * 48)
    dc = decode83(hash_[2:6])
    assert (dc >> 16, (dc >> 8) & 255, dc & 255) == colour  # the average colour, exactly


def test_black_has_no_detail() -> None:
    # (The reference's basis is sampled at pixel corners, so other flat colours keep a
    # little AC energy; black has none.) Every AC component at the middle level (9, 9, 9).
    hash_ = encode_blurhash(8, 6, bytes(3 * 48))
    assert decode83(hash_[1]) == 0 and hash_[6:] == "fQ" * 11


def test_a_left_to_right_change_shows_in_the_first_horizontal_component() -> None:
    # Black on the left, white on the right: cos(pi x / w) is positive on the left, so the
    # first horizontal component's weight is negative in every channel (quantised below 9).
    row = bytes([0, 0, 0] * 4 + [255, 255, 255] * 4)
    hash_ = encode_blurhash(8, 2, row * 2)
    first_ac = decode83(hash_[6:8])
    assert all(level < 9 for level in (first_ac // 361, first_ac // 19 % 19, first_ac % 19))


def test_a_32_pixel_thumbnail_costs_well_under_a_few_milliseconds() -> None:
    thumbnail = rgb("pic5.png").resize((32, 25))
    started = time.perf_counter()
    for _ in range(20):
        encode_blurhash(32, 25, thumbnail.tobytes())
    assert (time.perf_counter() - started) / 20 < 0.010  # ~1 ms here; generous for CI


@pytest.mark.parametrize(("width", "height", "data", "components"), [
    (2, 2, bytes(11), (4, 3)),
    (0, 2, b"", (4, 3)),
    (2, 2, bytes(12), (0, 3)),
    (2, 2, bytes(12), (4, 10)),
])
def test_bad_input_is_a_value_error(width, height, data, components) -> None:
    with pytest.raises(ValueError):
        encode_blurhash(width, height, data, *components)
