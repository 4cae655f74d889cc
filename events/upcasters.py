"""The upcasters of the published event types (see `events.upcasting`).

Each turns the data of one schema version into the next; they are registered when the
`events` package is imported.
"""

from __future__ import annotations

from collections.abc import Iterable

from photoshare.events.upcasting import Data, register_upcaster

# What the image pipeline made for PhotoPosted v1 (it never changed while v1 was
# written): "large" and "medium" the whole photo fitted within 1080 and 640 pixels, never
# upscaled, "square" the centred square of up to 320 pixels.
_V1_FITTED = {"large": 1080, "medium": 640}
_V1_SQUARE = {"square": 320}


@register_upcaster("PhotoPosted", 1)
def photo_posted_v1_sizes(data: Data) -> Data:
    """v2 adds each variant's pixel size, a placeholder and alt text. A v1 event's sizes
    follow from the photo's own (upright) width and height; it has no placeholder and no
    alt text (uploads could not carry one)."""
    sizes = v1_variant_sizes(data["width"], data["height"], data["variants"])
    return {**data, "variant_sizes": sizes, "placeholder": None, "alt_text": None}


def v1_variant_sizes(width: int, height: int,
                     variants: Iterable[str]) -> dict[str, dict[str, int]]:
    """The {width, height} of each of a v1 photo's ``variants``, from the photo's size."""
    sizes = {}
    for name in variants:
        if name in _V1_FITTED:
            sizes[name] = _fitted(width, height, _V1_FITTED[name])
        elif name in _V1_SQUARE:
            side = min(width, height, _V1_SQUARE[name])
            sizes[name] = {"width": side, "height": side}
    return sizes


@register_upcaster("AvatarChanged", 1)
def avatar_changed_v1_sizes(data: Data) -> Data:
    """v2 adds the variants' sizes and a placeholder: a v1 event holds nothing they could
    be told from (not even the original's size), so none."""
    return {**data, "variant_sizes": {}, "placeholder": None}


def _fitted(width: int, height: int, bound: int) -> dict[str, int]:
    # As infra.media.images._fit did: the long side to the bound, the other rounded.
    if max(width, height) > bound:
        if width >= height:
            width, height = bound, max(1, round(height * bound / width))
        else:
            width, height = max(1, round(width * bound / height)), bound
    return {"width": width, "height": height}
