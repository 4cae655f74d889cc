"""Alt text on the real embedded app: given at upload, changed by the owner with
PATCH /v1/photos/{photo_id}, served by every photo shape; bad input is a 4xx that
changes nothing."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from support.embedded import Account, head, image_bytes, post_photo, register

DOG = "A brown dog runs along the beach,\nwaves behind it."


def after_writes(client: TestClient, auth: dict[str, str] | None = None) -> dict[str, str]:
    return {**(auth or {}), "X-Min-Position": str(head(client))}


def every_shape(client: TestClient, owner: Account, photo_id: str,
                query: str) -> list[dict]:
    """The photo as each read answers it: its page, the owner's photos, the owner's own
    timeline and a photo search."""
    headers = after_writes(client, owner.auth)
    answers = [client.get(f"/v1/photos/{photo_id}", headers=headers).json()]
    for path in (f"/v1/users/{owner.user_id}/photos", "/v1/timeline",
                 f"/v1/search/photos?q={query}"):
        response = client.get(path, headers=headers)
        assert response.status_code == 200, response.text
        answers += [item for item in response.json()["items"] if item["photo_id"] == photo_id]
    assert len(answers) == 4
    return answers


def media_files(settings) -> set[Path]:
    return {path for path in Path(settings.data_dir).rglob("*") if path.is_file()
            and path.suffix in {".jpg", ".jpeg", ".png", ".webp"}}


def test_alt_text_at_upload_is_served_in_every_photo_shape(client: TestClient) -> None:
    ann = register(client)
    created = post_photo(client, ann, caption="#altdog walk",
                         alt_text=f"\u202e {DOG}\u200b ")  # cleaned as a caption is
    assert created["alt_text"] == DOG
    for shape in every_shape(client, ann, created["photo_id"], "%23altdog"):
        assert shape["alt_text"] == DOG

    plain = post_photo(client, ann, caption="#altnone")
    assert plain["alt_text"] is None
    for shape in every_shape(client, ann, plain["photo_id"], "%23altnone"):
        assert shape["alt_text"] is None


def test_the_owner_changes_and_removes_the_alt_text(client: TestClient) -> None:
    ann = register(client)
    photo_id = post_photo(client, ann, caption="#altedit")["photo_id"]

    response = client.patch(f"/v1/photos/{photo_id}", headers=ann.auth,
                            json={"alt_text": "Two dogs"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["photo_id"] == photo_id and body["alt_text"] == "Two dogs"
    assert set(body) == {"photo_id", "urls", "variants", "placeholder", "alt_text"}
    assert int(response.headers["X-Event-Position"]) == head(client)
    for shape in every_shape(client, ann, photo_id, "%23altedit"):
        assert shape["alt_text"] == "Two dogs"

    before = head(client)  # the same text again records nothing
    again = client.patch(f"/v1/photos/{photo_id}", headers=ann.auth,
                         json={"alt_text": " Two dogs "})
    assert again.status_code == 200 and head(client) == before

    removed = client.patch(f"/v1/photos/{photo_id}", headers=ann.auth, json={"alt_text": None})
    assert removed.status_code == 200 and removed.json()["alt_text"] is None
    for shape in every_shape(client, ann, photo_id, "%23altedit"):
        assert shape["alt_text"] is None


def test_bad_alt_text_changes_are_refused_and_change_nothing(client: TestClient) -> None:
    ann, bob = register(client), register(client)
    photo_id = post_photo(client, ann, alt_text="kept")["photo_id"]
    path = f"/v1/photos/{photo_id}"
    before = head(client)
    cases = [
        (bob.auth, {"alt_text": "mine"}, 403, "not_photo_owner"),
        (ann.auth, {"alt_text": "x" * 1501}, 422, "alt_text_too_long"),
        (ann.auth, {"alt_text": "bell\u0007"}, 422, "invalid_value"),
        (ann.auth, {"alt_text": 5}, 422, None),
        (ann.auth, {}, 422, None),
        (ann.auth, {"alt_text": "ok", "caption": "no"}, 422, None),
    ]
    for auth, body, status, code in cases:
        response = client.patch(path, headers=auth, json=body)
        assert response.status_code == status, (body, response.text)
        if code:
            assert response.json()["error"]["code"] == code
    assert client.patch(path, json={"alt_text": "anon"}).status_code == 401
    unknown = client.patch("/v1/photos/00000000-0000-0000-0000-000000000000",
                           headers=ann.auth, json={"alt_text": "x"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "photo_not_found"
    assert client.patch("/v1/photos/not-an-id", headers=ann.auth,
                        json={"alt_text": "x"}).status_code == 404
    assert head(client) == before
    page = client.get(path, headers=after_writes(client)).json()
    assert page["alt_text"] == "kept"

    assert client.delete(path, headers=ann.auth).status_code == 204
    gone = client.patch(path, headers=ann.auth, json={"alt_text": "late"})
    assert gone.status_code == 404


def test_an_upload_with_too_long_alt_text_is_refused_before_storing(client: TestClient,
                                                                     settings) -> None:
    ann = register(client)
    post_photo(client, ann)
    before, files = head(client), media_files(settings)
    assert files  # where the blobs are, so "none left behind" means something
    response = client.post("/v1/photos", headers=ann.auth,
                           data={"alt_text": "é" * 1501},
                           files={"file": ("p.jpg", image_bytes(), "image/jpeg")})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "alt_text_too_long"
    assert "1500" in response.json()["error"]["message"]
    assert head(client) == before
    assert media_files(settings) == files  # no blob left behind
    # Exactly 1,500 characters (after cleaning) fit.
    assert post_photo(client, ann, alt_text="é" * 1500 + "\u200b")["alt_text"] == "é" * 1500


def test_the_published_api_documents_alt_text(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert "alt_text" in schemas["PhotoDoc"]["properties"]
    assert "alt_text" in schemas["PhotoCreated"]["properties"]
    assert "patch" in document["paths"]["/v1/photos/{photo_id}"]
