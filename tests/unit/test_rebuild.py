"""Blue-green rebuild: a view rebuilt from event zero beside the live one and switched in
ends identical to what it was, reads never fail or see an empty view, and an
interrupted rebuild resumes."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from photoshare.infra.roots.embedded import create_embedded_app, open_event_store
from photoshare.infra.sqlite.catalog import open_views
from photoshare.streams import rebuild as blue_green
from support.embedded import cheap_settings, post_photo, register


@pytest.fixture
def populated(tmp_path: Path):
    settings = cheap_settings(tmp_path / "data", celebrity_threshold=2, timeline_cap=3)
    with TestClient(create_embedded_app(settings)) as client:
        people = [register(client, f"person{n}") for n in range(5)]
        for fan in people[1:]:
            client.put(f"/v1/users/me/following/{people[0].user_id}", headers=fan.auth)
        for n in range(4):
            owner = people[n % 2]
            photo = post_photo(client, owner, caption=f"#tag{n} Café crème",
                               **({"alt_text": f"photo {n}"} if n % 2 else {}))
            client.put(f"/v1/photos/{photo['photo_id']}/likes/me", headers=people[2].auth)
            if n < 2:  # an edited alt text, and one removed
                edited = client.patch(f"/v1/photos/{photo['photo_id']}", headers=owner.auth,
                                      json={"alt_text": f"edited {n}" if n == 0 else None})
                assert edited.status_code == 200, edited.text
        # A private account: one request approved, one declined, one pending.
        private = people[3]
        client.patch("/v1/users/me", headers=private.auth, json={"private": True})
        for fan in (people[0], people[1], people[4]):
            client.put(f"/v1/users/me/following/{private.user_id}", headers=fan.auth)
        client.put(f"/v1/users/me/follow-requests/{people[0].user_id}", headers=private.auth)
        client.delete(f"/v1/users/me/follow-requests/{people[1].user_id}", headers=private.auth)
        client.get(f"/v1/users/{people[0].user_id}",
                   headers={"X-Min-Position": str(client.app.state.write.commands.head_position())})
    return settings, people


def live_dump(settings):
    views = open_views(settings.views_path)
    try:
        return views.dump(), views.positions()
    finally:
        views.close()


@pytest.mark.parametrize("name", blue_green.view_names())
def test_a_rebuilt_view_is_identical_to_the_live_one(populated, name) -> None:
    settings, _ = populated
    before, positions = live_dump(settings)
    store = open_event_store(settings)
    seen = []
    end = blue_green.rebuild(settings, store, name, batch_size=7, on_progress=seen.append)
    store.close()
    after, new_positions = live_dump(settings)
    assert after == before
    assert end == positions[name]
    assert new_positions == positions
    assert seen and seen[-1].position == end and seen[-1].head >= end
    assert not list(settings.data_dir.glob("views.rebuild-*"))


def test_reads_keep_working_during_a_rebuild(populated) -> None:
    settings, people = populated
    before, _ = live_dump(settings)
    failures: list[str] = []
    stop = threading.Event()
    with TestClient(create_embedded_app(settings)) as client:
        def read() -> None:
            while not stop.is_set():
                for path in (f"/v1/users/{people[0].user_id}/followers",
                             "/v1/search/photos?q=cafe"):
                    response = client.get(path)
                    if response.status_code != 200 or not response.json()["items"]:
                        failures.append(f"{path}: {response.status_code} {response.text}")
        reader = threading.Thread(target=read)
        reader.start()
        store = open_event_store(settings)
        try:
            blue_green.rebuild_all(settings, store, blue_green.view_names())
        finally:
            stop.set()
            reader.join(timeout=30)
            store.close()
    assert failures == []
    assert live_dump(settings)[0] == before


def test_an_interrupted_rebuild_resumes(populated) -> None:
    settings, _ = populated
    before, _ = live_dump(settings)
    store = open_event_store(settings)

    def interrupt(progress: blue_green.Progress) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        blue_green.rebuild(settings, store, "photos", batch_size=5, on_progress=interrupt)
    assert list(settings.data_dir.glob("views.rebuild-photos.sqlite3"))
    assert live_dump(settings)[0] == before  # nothing switched yet
    blue_green.rebuild(settings, store, "photos", batch_size=5)
    store.close()
    assert live_dump(settings)[0] == before


def test_the_rebuild_command(populated, capsys, monkeypatch) -> None:
    from photoshare.infra.cli.main import main

    settings, _ = populated
    # The command reads the server's settings from the environment, as `serve` does.
    monkeypatch.setenv("PHOTOSHARE_CELEBRITY_THRESHOLD", str(settings.celebrity_threshold))
    monkeypatch.setenv("PHOTOSHARE_TIMELINE_CAP", str(settings.timeline_cap))
    before, _ = live_dump(settings)
    data_dir = str(settings.data_dir)
    assert main(["projections", "rebuild", "--all", "--data-dir", data_dir]) == 0
    out, err = capsys.readouterr()
    assert out.count("switched in") == len(blue_green.view_names())
    assert "ev/s" in err  # the progress bar's rate
    assert live_dump(settings)[0] == before
    assert main(["projections", "rebuild", "nonsense", "--data-dir", data_dir]) == 2


# Columns of `photos` newer than the table, in the order they were added (a table made
# before the first of them lacks the rest too).
ADDED_PHOTO_COLUMNS = {"variant sizes": ("variant_sizes", "placeholder", "alt_text",
                                         "alt_text_position", "original_key"),
                       "alt text": ("alt_text", "alt_text_position", "original_key"),
                       "original key": ("original_key",)}


def test_a_profiles_table_made_before_private_accounts_gains_the_column(populated) -> None:
    # A live file whose profiles table predates `private` (as older code made it): opening
    # the views adds it (every profile public, which a rebuild of an old log gives too),
    # and a rebuild then switches in the same rows as before.
    settings, people = populated
    before, _ = live_dump(settings)
    from photoshare.infra.sqlite.viewdb import connect

    old = connect(settings.views_path)
    old.execute("ALTER TABLE profiles DROP COLUMN private")
    old.close()
    migrated, _ = live_dump(settings)
    private = [row for row in migrated["profiles"] if row[0] == people[3].user_id]
    assert private and private[0][-1] == 0
    store = open_event_store(settings)
    blue_green.rebuild(settings, store, "profiles")
    store.close()
    after, _ = live_dump(settings)
    assert after == before


@pytest.mark.parametrize("before_what", ADDED_PHOTO_COLUMNS)
def test_a_rebuild_switches_into_a_photos_table_made_before_new_columns(populated,
                                                                        before_what) -> None:
    # A live file whose photos table predates some columns (as older code made it, had
    # this server not started since): the switch adds them.
    settings, _ = populated
    before, _ = live_dump(settings)
    from photoshare.infra.sqlite.viewdb import connect

    old = connect(settings.views_path)
    for column in ADDED_PHOTO_COLUMNS[before_what]:
        old.execute(f"ALTER TABLE photos DROP COLUMN {column}")
    old.close()
    store = open_event_store(settings)
    blue_green.rebuild(settings, store, "photos")
    store.close()
    after, _ = live_dump(settings)
    assert after == before
