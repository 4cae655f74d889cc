"""The data dir is the server user's alone: files with secrets or personal data 0600,
directories 0700 (password hashes and emails in the SQLite files, the token key, originals
with their GPS positions), whatever the umask, and older, looser data dirs are tightened."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from photoshare.infra.cli.main import main
from photoshare.infra.roots.embedded import create_embedded_app
from photoshare.infra.settings import Settings
from support.embedded import cheap_settings, head, post_photo, register

SQLITE_SIDE_FILES = ("-wal", "-shm")


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The usual 022, so the modes below come from the code, not from the test runner."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # No secret in the settings: the server makes its own key file in the data dir.
    return cheap_settings(tmp_path / "data", secret_key=None)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def post_a_photo(settings: Settings) -> list[Path]:
    """Post a photo and check the modes while the app is open; the SQLite side files seen."""
    with TestClient(create_embedded_app(settings)) as client:
        account = register(client)
        photo = post_photo(client, account)
        # Read back: the projections have written the views (and their WAL) by then.
        seen = client.get(f"/v1/photos/{photo['photo_id']}",
                          headers={"X-Min-Position": str(head(client))})
        assert seen.status_code == 200, seen.text
        return check_modes(settings)  # while open: the -wal and -shm files exist


def check_modes(settings: Settings) -> list[Path]:
    data = settings.data_dir
    assert mode(data) == 0o700
    assert mode(settings.secret_key_path) == 0o600
    side_files = []
    for database in (settings.event_store_path, settings.views_path):
        assert mode(database) == 0o600, database
        for suffix in SQLITE_SIDE_FILES:
            side = database.with_name(database.name + suffix)
            if side.exists():
                assert mode(side) == 0o600, side
                side_files.append(side)
    for store in (settings.media_dir, settings.originals_dir):
        files = [path for path in store.rglob("*") if path.is_file()]
        assert files, store  # the photo's original and variants are in there
        for path in [store, *store.rglob("*")]:
            assert mode(path) == (0o600 if path.is_file() else 0o700), path
    return side_files


def test_a_new_data_dir_is_private(settings: Settings) -> None:
    side_files = post_a_photo(settings)
    views = settings.views_path
    assert views.with_name(views.name + "-wal") in side_files  # SQLite's own files checked
    check_modes(settings)  # and after the shut-down


def test_an_older_looser_data_dir_is_tightened_at_start(settings: Settings) -> None:
    post_a_photo(settings)
    loose = [settings.data_dir, settings.media_dir, settings.originals_dir,
             settings.secret_key_path, settings.event_store_path, settings.views_path]
    for database in (settings.event_store_path, settings.views_path):
        for suffix in SQLITE_SIDE_FILES:
            side = database.with_name(database.name + suffix)
            side.touch()
            loose.append(side)
    for path in loose:
        path.chmod(0o755 if path.is_dir() else 0o644)

    with TestClient(create_embedded_app(settings)):
        for path in loose:
            if path.exists():
                assert mode(path) == (0o700 if path.is_dir() else 0o600), path


def test_the_cli_data_dir_commands_run_with_a_private_umask(settings: Settings,
                                                          tmp_path: Path) -> None:
    # Whatever they make (here an export of the log: personal data) is the owner's alone.
    post_a_photo(settings)
    out = tmp_path / "export.jsonl"
    assert main(["events", "export", "--data-dir", str(settings.data_dir), "-o", str(out)]) == 0
    assert out.read_text().count("\n") >= 2
    assert mode(out) == 0o600
    assert os.umask(0o022) == 0o022  # restored for the rest of the process
