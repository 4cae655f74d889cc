"""The content-addressed blob store (infra.blobs), on the real filesystem."""

from __future__ import annotations

import hashlib
import os
import stat
import threading

import pytest

from photoshare.infra.media import blobs
from photoshare.infra.media.blobs import (
    ALLOWED_EXTENSIONS,
    BlobStore,
    FilesystemBlobStore,
    InvalidBlobKeyError,
    blob_key,
    is_valid_key,
)

DATA = b"\xff\xd8\xff not really a jpeg, but blobs do not care"
DIGEST = hashlib.sha256(DATA).hexdigest()


def all_files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def store(tmp_path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "blobs")


def test_filesystem_store_is_a_blob_store(store):
    assert isinstance(store, BlobStore)


def test_key_is_sha256_and_extension(store):
    key = store.put(DATA, extension="jpg")
    assert key == f"{DIGEST}.jpg" == blob_key(DATA, extension="jpg")
    assert is_valid_key(key)


def test_put_then_get_and_exists(store):
    key = store.put(DATA, extension="png")
    assert store.get(key) == DATA
    assert store.exists(key)


def test_missing_blob(store):
    key = f"{'0' * 64}.jpg"
    assert store.get(key) is None
    assert not store.exists(key)


def test_files_are_sharded_by_the_first_two_byte_pairs(store):
    key = store.put(DATA, extension="webp")
    assert all_files(store.root) == [f"{DIGEST[0:2]}/{DIGEST[2:4]}/{key}"]


def test_put_is_idempotent_and_stores_once(store, monkeypatch):
    first = store.put(DATA, extension="jpg")
    writes = []
    monkeypatch.setattr(blobs, "_write_atomically", lambda *args: writes.append(args))

    assert store.put(DATA, extension="jpg") == first
    assert writes == []  # already there: not written again
    assert len(all_files(store.root)) == 1


def test_same_bytes_with_another_extension_is_another_blob(store):
    assert store.put(DATA, extension="jpg") != store.put(DATA, extension="png")
    assert len(all_files(store.root)) == 2


def test_empty_blob(store):
    key = store.put(b"", extension="jpg")
    assert store.get(key) == b""


def test_content_survives_a_new_store_on_the_same_root(tmp_path):
    key = FilesystemBlobStore(tmp_path).put(DATA, extension="avif")
    reopened = FilesystemBlobStore(tmp_path)
    assert reopened.exists(key)
    assert reopened.get(key) == DATA


def test_files_are_readable_by_others(store):
    key = store.put(DATA, extension="jpg")
    path = store.root / key[0:2] / key[2:4] / key
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_no_temp_files_are_left_after_puts(store):
    for i in range(20):
        store.put(DATA + bytes([i]), extension="jpg")
    names = all_files(store.root)
    assert len(names) == 20
    assert all(is_valid_key(name.rsplit("/", 1)[1]) for name in names)


def test_no_temp_file_is_left_when_a_write_fails(store, monkeypatch):
    real_fsync = os.fsync

    def failing_fsync(fd):
        if stat.S_ISREG(os.fstat(fd).st_mode):  # the temp file, after its bytes are written
            raise OSError("disk on fire")
        real_fsync(fd)

    monkeypatch.setattr(blobs.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk on fire"):
        store.put(DATA, extension="jpg")
    monkeypatch.undo()

    assert all_files(store.root) == []  # the shard directories exist, the temp file does not
    assert not store.exists(f"{DIGEST}.jpg")


def test_no_temp_file_is_left_when_the_rename_fails(store, monkeypatch):
    def failing_replace(src, dst):
        raise OSError("rename refused")

    monkeypatch.setattr(blobs.os, "replace", failing_replace)
    with pytest.raises(OSError, match="rename refused"):
        store.put(DATA, extension="jpg")
    monkeypatch.undo()
    assert all_files(store.root) == []


def test_data_is_fsynced_before_it_is_renamed_into_place(store, monkeypatch):
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        calls.append("fsync")
        real_fsync(fd)

    def replace(src, dst):
        calls.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(blobs.os, "fsync", fsync)
    monkeypatch.setattr(blobs.os, "replace", replace)
    store.put(DATA, extension="jpg")
    # new shard directories fsynced, the file fsynced, renamed, and its directory fsynced
    assert "replace" in calls
    position = calls.index("replace")
    assert calls[position - 1] == "fsync" and calls[position + 1] == "fsync"


def test_concurrent_puts_of_the_same_bytes(store):
    errors: list[BaseException] = []

    def put():
        try:
            store.put(DATA, extension="jpg")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all_files(store.root) == [f"{DIGEST[0:2]}/{DIGEST[2:4]}/{DIGEST}.jpg"]
    assert store.get(f"{DIGEST}.jpg") == DATA


INVALID_KEYS = [
    "../x",
    "abc/..",
    "..",
    "",
    f"{DIGEST.upper()}.jpg",
    f"{DIGEST[:63]}.jpg",
    f"{DIGEST}0.jpg",
    f"{DIGEST}.gif",
    f"{DIGEST}.JPG",
    f"{DIGEST}.jpeg",
    f"{DIGEST}",
    f"{DIGEST}.",
    f"{DIGEST}.jpg\n",
    f" {DIGEST}.jpg",
    f"{DIGEST}.jpg.png",
    f"../{DIGEST}.jpg",
    f"{DIGEST[:2]}/{DIGEST[2:]}.jpg",
    f"{'g' * 64}.jpg",
    f"{DIGEST}.jpg\x00",
]


@pytest.mark.parametrize("key", INVALID_KEYS)
def test_invalid_keys_are_refused(store, key):
    assert not is_valid_key(key)
    with pytest.raises(InvalidBlobKeyError):
        store.get(key)
    with pytest.raises(InvalidBlobKeyError):
        store.exists(key)


def test_non_string_keys_are_invalid():
    assert not is_valid_key(None)  # type: ignore[arg-type]
    assert not is_valid_key(DIGEST.encode())  # type: ignore[arg-type]


@pytest.mark.parametrize("extension", ["gif", "JPG", ".jpg", "jpeg", "", "jpg/..", "../jpg"])
def test_invalid_extensions_are_refused(store, extension):
    with pytest.raises(InvalidBlobKeyError):
        store.put(DATA, extension=extension)
    assert not store.root.exists() or all_files(store.root) == []


@pytest.mark.parametrize("extension", sorted(ALLOWED_EXTENSIONS))
def test_every_allowed_extension(store, extension):
    key = store.put(DATA, extension=extension)
    assert key.endswith(f".{extension}")
    assert store.get(key) == DATA


def test_invalid_key_error_is_a_value_error():
    assert issubclass(InvalidBlobKeyError, ValueError)
