"""Photo sizes and placeholders: each variant's pixel size and the BlurHash, from the upload's
answer to every photo shape the read API serves, and the feed variants' crop to 4:5..1.91:1."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from PIL import ExifTags, Image

from photoshare.readapi.models import PhotoDoc, PhotoPageDoc
from support.embedded import Account, head, image_bytes, register

RED, GREEN, BLUE = (220, 20, 20), (20, 200, 40), (20, 40, 220)

# Expected sizes of each variant: (upload's upright size) -> {variant: (width, height)}.
PORTRAIT_9_16 = {"large": (608, 1080), "medium": (360, 640), "square": (320, 320),
                 "feed": (1080, 1350), "feed_small": (640, 800)}  # feed cropped to 4:5
PANORAMA = {"large": (1080, 288), "medium": (640, 171), "square": (320, 320),
            "feed": (1080, 566), "feed_small": (640, 336)}  # feed cropped to 1.91:1


def upload(client: TestClient, account: Account, data: bytes) -> dict:
    response = client.post("/v1/photos", headers=account.auth, data={"caption": "#sizes"},
                           files={"file": ("p.jpg", data, "image/jpeg")})
    assert response.status_code == 201, response.text
    return response.json()


def after_writes(client: TestClient, auth: dict[str, str] | None = None) -> dict[str, str]:
    """Headers for a read that waits for the views to pass every write so far."""
    return {**(auth or {}), "X-Min-Position": str(head(client))}


def served(client: TestClient, url: str) -> Image.Image:
    response = client.get(url)
    assert response.status_code == 200
    return Image.open(io.BytesIO(response.content))


def sizes(variants: dict) -> dict[str, tuple[int, int]]:
    return {name: (v["width"], v["height"]) for name, v in variants.items()}


def jpeg(image: Image.Image, **save_args: object) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, **save_args)
    return out.getvalue()


def bands(size: tuple[int, int], edge: int, vertical: bool) -> Image.Image:
    """Green, with red and blue bands `edge` pixels deep at the two ends of the long axis."""
    image = Image.new("RGB", size, GREEN)
    width, height = size
    if vertical:
        image.paste(RED, (0, 0, width, edge))
        image.paste(BLUE, (0, height - edge, width, height))
    else:
        image.paste(RED, (0, 0, edge, height))
        image.paste(BLUE, (width - edge, 0, width, height))
    return image


def assert_close(pixel: tuple[int, ...], expected: tuple[int, int, int]) -> None:
    assert all(abs(a - b) <= 40 for a, b in zip(pixel, expected)), (pixel, expected)


def test_a_1080x1920_upload_answers_its_variants_sizes_and_placeholder(
        client: TestClient) -> None:
    answer = upload(client, register(client), image_bytes(size=(1080, 1920)))

    assert set(answer) == {"photo_id", "urls", "variants", "placeholder", "alt_text"}
    assert sizes(answer["variants"]) == PORTRAIT_9_16
    assert {name: v["url"] for name, v in answer["variants"].items()} == answer["urls"]
    assert isinstance(answer["placeholder"], str) and len(answer["placeholder"]) == 28
    for variant in answer["variants"].values():  # the sizes are the images' own
        assert served(client, variant["url"]).size == (variant["width"], variant["height"])
    feed = answer["variants"]["feed"]
    assert feed["width"] / feed["height"] == 4 / 5


def test_every_photo_shape_carries_the_same_variants_and_placeholder(
        client: TestClient) -> None:
    owner, follower = register(client), register(client)
    assert client.put(f"/v1/users/me/following/{owner.user_id}",
                      headers=follower.auth).status_code == 204
    answer = upload(client, owner, image_bytes(size=(1080, 1920)))
    photo_id = answer["photo_id"]
    expected = (answer["urls"], answer["variants"], answer["placeholder"])

    wait = after_writes(client)
    shapes = [client.get(f"/v1/photos/{photo_id}", headers=wait).json(),
              *client.get(f"/v1/users/{owner.user_id}/photos", headers=wait).json()["items"],
              *client.get("/v1/timeline", headers=after_writes(client, follower.auth)
                          ).json()["items"],
              *client.get("/v1/search/photos", params={"q": "#sizes"},
                          headers=wait).json()["items"]]

    mine = [shape for shape in shapes if shape["photo_id"] == photo_id]
    assert len(mine) == 4
    for shape in mine:
        assert (shape["urls"], shape["variants"], shape["placeholder"]) == expected


def test_a_3000x800_panorama_gets_a_centred_1_91_to_1_feed_variant(client: TestClient) -> None:
    # The crop keeps the middle 1528x800: the red and blue ends (600 px each) fall outside.
    data = jpeg(bands((3000, 800), 600, vertical=False))
    answer = upload(client, register(client), data)

    assert sizes(answer["variants"]) == PANORAMA
    for name in ("feed", "feed_small"):
        variant = answer["variants"][name]
        assert 1.9 <= variant["width"] / variant["height"] <= 1.91
        image = served(client, variant["url"]).convert("RGB")
        for x in (2, image.width // 2, image.width - 3):
            assert_close(image.getpixel((x, image.height // 2)), GREEN)
    large = served(client, answer["variants"]["large"]["url"]).convert("RGB")
    assert_close(large.getpixel((2, 144)), RED)  # the large variant keeps the whole photo
    assert_close(large.getpixel((1077, 144)), BLUE)


def test_a_phone_portrait_stored_sideways_is_cropped_upright(client: TestClient) -> None:
    # Stored 1920x1080 with EXIF orientation 6 (turn 90 degrees clockwise): upright it is
    # 1080x1920, red at the top, blue at the bottom; the 4:5 crop keeps the green middle.
    upright = bands((1080, 1920), 250, vertical=True)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    answer = upload(client, register(client), jpeg(stored, exif=exif.tobytes()))

    assert sizes(answer["variants"]) == PORTRAIT_9_16
    feed = served(client, answer["variants"]["feed"]["url"]).convert("RGB")
    assert feed.size == (1080, 1350)
    for y in (2, 675, 1347):
        assert_close(feed.getpixel((540, y)), GREEN)
    large = served(client, answer["variants"]["large"]["url"]).convert("RGB")
    assert_close(large.getpixel((304, 2)), RED)
    assert_close(large.getpixel((304, 1077)), BLUE)


@pytest.mark.parametrize(("size", "expected"), [
    ((800, 1000), (800, 1000)),  # exactly 4:5: kept whole, never upscaled
    ((1000, 1000), (1000, 1000)),
    # Exactly 1.91:1; 1080 wide its height rounds to 565 (1.9115:1), so 566: the
    # feed variant's own ratio never leaves the range.
    ((1910, 1000), (1080, 566)),
    ((400, 1200), (400, 500)),  # small and tall: cropped to 4:5, not upscaled
])
def test_the_feed_variant_keeps_a_photo_inside_the_range_whole(client: TestClient, size,
                                                               expected) -> None:
    answer = upload(client, register(client), image_bytes(size=size))
    assert sizes(answer["variants"])["feed"] == expected
    width, height = expected
    assert 0.8 <= width / height <= 1.91


def test_an_avatar_answers_its_variants_sizes(client: TestClient) -> None:
    account = register(client)
    response = client.put("/v1/users/me/avatar", headers=account.auth,
                          files={"file": ("me.png", image_bytes("PNG", (500, 400)),
                                          "image/png")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert sizes(body["avatar_variants"]) == {"avatar": (320, 320), "avatar_small": (96, 96)}
    assert body["avatar_variants"]["avatar"]["url"] == body["avatar_url"]


def test_the_openapi_documents_the_upload_answer(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    created = schemas["PhotoCreated"]["properties"]
    assert {"urls", "variants", "placeholder"} <= set(created)
    assert set(schemas["VariantPublic"]["properties"]) == {"url", "width", "height"}


def test_the_openapi_documents_the_photo_shapes_as_served(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert {"urls", "variants", "placeholder"} <= set(schemas["PhotoDoc"]["properties"])
    for path in ("/v1/photos/{photo_id}", "/v1/users/{user_id}/photos", "/v1/timeline",
                 "/v1/search/photos"):
        answer = document["paths"][path]["get"]["responses"]["200"]
        assert answer["content"]["application/json"]["schema"]["$ref"].endswith(
            ("/PhotoDoc", "/PhotoPageDoc"))

    owner = register(client)
    photo_id = upload(client, owner, image_bytes(size=(1080, 1920)))["photo_id"]
    # What is served fits what is documented.
    PhotoDoc.model_validate(client.get(f"/v1/photos/{photo_id}",
                                       headers=after_writes(client, owner.auth)).json(),
                            strict=True)
    PhotoPageDoc.model_validate(client.get(f"/v1/users/{owner.user_id}/photos",
                                           headers=after_writes(client)).json(), strict=True)
