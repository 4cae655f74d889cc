"""BlurHash: a photo's placeholder as a ~30-character string (https://blurha.sh).

The encoder of Wolt's reference implementation (its C version), in pure Python: the image's
first ``x_components`` x ``y_components`` cosine (DCT) components in linear light, the
first (the average colour) kept as 8-bit sRGB and the others quantised to 19 levels per
channel, all written in base 83. Clients decode it into a blurred picture of the right
colours to show while the real image loads.

Meant for a thumbnail of a few dozen pixels a side (``infra.images`` gives it one): the
work is width x height x (x_components + x_components x y_components) multiply-adds, a few
milliseconds at 32 x 32. The basis is separable, so each row is reduced once per
horizontal component and the vertical components work on those sums.
"""

from __future__ import annotations

import math

_BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"
# sRGB byte -> linear light, once for all 256 values.
_TO_LINEAR = tuple(
    value / 255 / 12.92 if value / 255 <= 0.04045 else ((value / 255 + 0.055) / 1.055) ** 2.4
    for value in range(256)
)


def blurhash_length(x_components: int, y_components: int) -> int:
    """The length of a hash: size flag, maximum, DC (4 characters), 2 per AC component."""
    return 6 + 2 * (x_components * y_components - 1)


def encode_blurhash(
    width: int, height: int, rgb: bytes, x_components: int = 4, y_components: int = 3
) -> str:
    """The BlurHash of ``width`` x ``height`` pixels given as packed 8-bit RGB rows.

    Raises ValueError for components outside 1..9 or pixel data of the wrong length.
    """
    if not (1 <= x_components <= 9 and 1 <= y_components <= 9):
        raise ValueError("components must be between 1 and 9")
    if width < 1 or height < 1 or len(rgb) != width * height * 3:
        raise ValueError("rgb must hold width x height packed RGB pixels")
    factors = _factors(width, height, rgb, x_components, y_components)
    dc, ac = factors[0], factors[1:]
    hash_ = _base83((x_components - 1) + (y_components - 1) * 9, 1)
    if ac:
        actual_maximum = max(abs(value) for factor in ac for value in factor)
        quantised_maximum = int(max(0, min(82, math.floor(actual_maximum * 166 - 0.5))))
        maximum = (quantised_maximum + 1) / 166
        hash_ += _base83(quantised_maximum, 1)
    else:
        maximum = 1.0
        hash_ += _base83(0, 1)
    hash_ += _base83(_encode_dc(dc), 4)
    for factor in ac:
        hash_ += _base83(_encode_ac(factor, maximum), 2)
    return hash_


def _factors(
    width: int, height: int, rgb: bytes, x_components: int, y_components: int
) -> list[tuple[float, float, float]]:
    """Each component's (r, g, b) weight, row-major by (y component, x component)."""
    cos_x = [[math.cos(math.pi * i * x / width) for x in range(width)]
             for i in range(x_components)]
    cos_y = [[math.cos(math.pi * j * y / height) for y in range(height)]
             for j in range(y_components)]
    linear = [_TO_LINEAR[byte] for byte in rgb]
    # rows[i][y] = (r, g, b) of row y weighted by the horizontal basis i.
    rows: list[list[tuple[float, float, float]]] = [[] for _ in range(x_components)]
    stride = width * 3
    for y in range(height):
        row = linear[y * stride : (y + 1) * stride]
        reds, greens, blues = row[0::3], row[1::3], row[2::3]
        for i in range(x_components):
            basis = cos_x[i]
            rows[i].append((
                math.fsum(b * v for b, v in zip(basis, reds)),
                math.fsum(b * v for b, v in zip(basis, greens)),
                math.fsum(b * v for b, v in zip(basis, blues)),
            ))
    factors = []
    for j in range(y_components):
        for i in range(x_components):
            scale = (1 if i == j == 0 else 2) / (width * height)
            weights = cos_y[j]
            factors.append(tuple(
                scale * math.fsum(w * sums[channel] for w, sums in zip(weights, rows[i]))
                for channel in range(3)
            ))
    return factors  # type: ignore[return-value]


def _to_srgb(value: float) -> int:
    v = max(0.0, min(1.0, value))
    if v <= 0.0031308:
        return int(v * 12.92 * 255 + 0.5)
    return int((1.055 * v ** (1 / 2.4) - 0.055) * 255 + 0.5)


def _encode_dc(value: tuple[float, float, float]) -> int:
    red, green, blue = (_to_srgb(channel) for channel in value)
    return (red << 16) + (green << 8) + blue


def _encode_ac(value: tuple[float, float, float], maximum: float) -> int:
    red, green, blue = (
        int(max(0, min(18, math.floor(_sign_pow(channel / maximum, 0.5) * 9 + 9.5))))
        for channel in value
    )
    return red * 19 * 19 + green * 19 + blue


def _sign_pow(value: float, exponent: float) -> float:
    return math.copysign(abs(value) ** exponent, value)


def _base83(value: int, length: int) -> str:
    return "".join(_BASE83[(value // 83 ** (length - 1 - i)) % 83] for i in range(length))
