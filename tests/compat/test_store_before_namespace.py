"""An event store written before the `photoshare.*` namespace (its events name their
classes `commands.aggregates...`) still loads: the embedded profile rebuilds exactly the
views the old code built from it, and its aggregates take new commands.

The fixture (tests/fixtures/store-before-namespace/) was made by the code of 2026-12-02
before the rename: three users, follows and an unfollow, a profile edit, three photos (one
deleted), likes and an unlike, comments (one deleted), a read marker."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from photoshare.infra.roots.embedded import create_embedded_app
from photoshare.infra.media.blobs import is_valid_key
from photoshare.infra.sqlite.viewdb import ViewDatabase
from support.embedded import cheap_settings

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "store-before-namespace"


def test_an_old_store_rebuilds_the_same_views_and_takes_new_commands(tmp_path: Path) -> None:
    settings = cheap_settings(tmp_path / "data")
    settings.data_dir.mkdir(parents=True)
    shutil.copy(FIXTURE / "events.sqlite3", settings.event_store_path)
    expected = json.loads((FIXTURE / "views.json").read_text())
    with TestClient(create_embedded_app(settings)) as client:
        commands = client.app.state.write.commands
        assert commands.head_position() == expected["head"]
        views = ViewDatabase(settings.views_path, [])  # caught up from zero at start
        dump = views.dump()
        views.close()
        tables = {table: [list(row) for row in rows] for table, rows in dump.items()}
        # Columns added since the fixture was made: the old photos' variant sizes (known
        # from their events' width and height), no placeholder and no alt text (as of
        # their post's position), and the original's key (from their events).
        photos = [(row[:-5], row[-5:]) for row in tables.pop("photos")]
        # Views added since: empty, as the old log holds no block or mute.
        assert tables.pop("people_controls") == []
        old_photos = expected["tables"].pop("photos")
        # Private accounts came later: every old profile is public, no request exists.
        profiles = tables.pop("profiles")
        assert [row[:-1] for row in profiles] == expected["tables"].pop("profiles")
        assert {row[-1] for row in profiles} == {0}
        assert tables.pop("follow_requests") == []
        assert tables.pop("search_owners") == []
        # Notification read markers since resolve against every making of a notification
        # (its id and position) and remember the reads that name one; the old table of
        # deferred reads is gone (it was empty).
        assert expected["tables"].pop("notification_deferred_reads") == []
        makes = {(user, nid) for user, nid, _ in tables.pop("notification_makes")}
        assert makes >= {(row[1], row[0]) for row in tables["notifications"]}
        assert all((user, nid) in makes
                   for user, nid, _ in tables.pop("notification_reads_named"))
        # Nor any account deletion.
        for deleted in ("profile_deleted_users", "search_deleted_users",
                        "notification_deleted_users"):
            assert tables.pop(deleted, []) == []
        assert tables == expected["tables"]
        assert [row for row, _ in photos] == old_photos
        for row, (variant_sizes, placeholder, alt_text, alt_text_position,
                  original_key) in photos:
            assert set(json.loads(variant_sizes)) == {"large", "medium", "square"}
            assert (placeholder, alt_text) == (None, None)
            assert alt_text_position == row[10]  # the post's position
            assert is_valid_key(original_key)

        # Old aggregates load and record new events: a login (Credentials), a follow
        # (User), a like of an old photo (Photo, Like).
        session = client.post("/v1/sessions", json={"login": "zoe",
                                                    "password": "correct horse battery"})
        assert session.status_code == 200, session.text
        auth = {"Authorization": f"Bearer {session.json()['access_token']}"}
        ann = client.get("/v1/users/by-username/ann").json()
        assert client.put(f"/v1/users/me/following/{ann['user_id']}",
                          headers=auth).status_code == 204
        [photo] = [p for p in client.get(f"/v1/users/{ann['user_id']}/photos").json()["items"]]
        # Posted before feed variants and placeholders: none, and sizes from its events.
        assert set(photo["variants"]) == set(photo["urls"]) == {"large", "medium", "square"}
        assert {name: (v["width"], v["height"]) for name, v in photo["variants"].items()} == \
            {"large": (64, 48), "medium": (64, 48), "square": (48, 48)}  # a 64x48 upload
        assert (photo["placeholder"], photo["alt_text"]) == (None, None)
        assert client.put(f"/v1/photos/{photo['photo_id']}/likes/me",
                          headers=auth).status_code == 204
        assert commands.head_position() > expected["head"]
