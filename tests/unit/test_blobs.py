"""The blob store (infra.media.blobs), on the real filesystem: keys of salt and bytes."""

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
    SALT_BYTES,
    FilesystemBlobStore,
    InvalidBlobKeyError,
    blob_key,
    is_valid_key,
    new_salt,
)

DATA = b"\xff\xd8\xff not really a jpeg, but blobs do not care"
SALT = bytes(range(SALT_BYTES))
DIGEST = hashlib.sha256(SALT + DATA).hexdigest()


def all_files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def store(tmp_path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "blobs")


def test_filesystem_store_is_a_blob_store(store):
    assert isinstance(store, BlobStore)


def test_key_is_sha256_of_salt_and_bytes_and_extension(store):
    key = store.put(DATA, extension="jpg", salt=SALT)
    assert key == f"{DIGEST}.jpg" == blob_key(DATA, extension="jpg", salt=SALT)
    assert is_valid_key(key)


def test_the_same_bytes_under_another_salt_are_another_blob(store):
    first = store.put(DATA, extension="jpg", salt=new_salt())
    second = store.put(DATA, extension="jpg", salt=new_salt())
    assert first != second
    assert store.get(first) == store.get(second) == DATA
    assert len(all_files(store.root)) == 2


def test_salts_are_random_and_of_one_length():
    salts = {new_salt() for _ in range(100)}
    assert len(salts) == 100
    assert {len(salt) for salt in salts} == {SALT_BYTES}


@pytest.mark.parametrize("salt", [b"", b"short", bytes(SALT_BYTES + 1), "0" * SALT_BYTES])
def test_a_salt_of_another_length_is_refused_and_stores_nothing(store, salt):
    # A fixed length: salt + bytes splits one way only, so a key never names other bytes.
    with pytest.raises(ValueError):
        store.put(DATA, extension="jpg", salt=salt)
    assert not store.root.exists() or all_files(store.root) == []


def test_put_then_get_and_exists(store):
    key = store.put(DATA, extension="png", salt=SALT)
    assert store.get(key) == DATA
    assert store.exists(key)


def test_missing_blob(store):
    key = f"{'0' * 64}.jpg"
    assert store.get(key) is None
    assert not store.exists(key)


def test_files_are_sharded_by_the_first_two_byte_pairs(store):
    key = store.put(DATA, extension="webp", salt=SALT)
    assert all_files(store.root) == [f"{DIGEST[0:2]}/{DIGEST[2:4]}/{key}"]


def test_put_is_idempotent_and_stores_once(store, monkeypatch):
    first = store.put(DATA, extension="jpg", salt=SALT)
    writes = []
    monkeypatch.setattr(blobs, "_write_atomically", lambda *args: writes.append(args))

    assert store.put(DATA, extension="jpg", salt=SALT) == first
    assert writes == []  # already there: not written again
    assert len(all_files(store.root)) == 1


def test_same_bytes_with_another_extension_is_another_blob(store):
    assert store.put(DATA, extension="jpg", salt=SALT) != store.put(DATA, extension="png", salt=SALT)
    assert len(all_files(store.root)) == 2


def test_empty_blob(store):
    key = store.put(b"", extension="jpg", salt=SALT)
    assert store.get(key) == b""


def test_content_survives_a_new_store_on_the_same_root(tmp_path):
    key = FilesystemBlobStore(tmp_path).put(DATA, extension="avif", salt=SALT)
    reopened = FilesystemBlobStore(tmp_path)
    assert reopened.exists(key)
    assert reopened.get(key) == DATA


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_and_directories_are_the_owners_alone(tmp_path):
    # Originals keep their GPS positions: nobody but the server's user may read a blob.
    store = FilesystemBlobStore(tmp_path / "data" / "blobs")  # the data dir made too
    key = store.put(DATA, extension="jpg", salt=SALT)
    path = store.root / key[0:2] / key[2:4] / key
    assert mode(path) == 0o600
    for directory in (path.parent, path.parent.parent, store.root, store.root.parent):
        assert mode(directory) == 0o700, directory


def test_the_modes_do_not_depend_on_the_umask(tmp_path):
    previous = os.umask(0o002)
    try:
        store = FilesystemBlobStore(tmp_path / "blobs")
        key = store.put(DATA, extension="jpg", salt=SALT)
    finally:
        os.umask(previous)
    assert mode(store.root / key[0:2] / key[2:4] / key) == 0o600
    assert mode(store.root) == 0o700


def test_a_root_made_before_is_made_private_when_the_store_opens(tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    root.chmod(0o755)
    FilesystemBlobStore(root)
    assert mode(root) == 0o700


def test_delete_removes_the_file_and_leaves_the_others(store):
    key = store.put(DATA, extension="jpg", salt=SALT)
    other = store.put(DATA, extension="jpg", salt=new_salt())
    store.delete(key)
    assert not store.exists(key)
    assert store.get(key) is None
    assert store.get(other) == DATA
    assert all_files(store.root) == [f"{other[0:2]}/{other[2:4]}/{other}"]


def test_delete_of_a_missing_blob_is_no_error(store):
    store.delete(f"{DIGEST}.jpg")  # no root yet
    key = store.put(DATA, extension="jpg", salt=SALT)
    store.delete(key)
    store.delete(key)
    assert all_files(store.root) == []


def test_delete_is_made_durable(store, monkeypatch):
    key = store.put(DATA, extension="jpg", salt=SALT)
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(blobs.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    store.delete(key)
    assert len(synced) == 1  # the shard directory, after the unlink


def test_no_temp_files_are_left_after_puts(store):
    for i in range(20):
        store.put(DATA + bytes([i]), extension="jpg", salt=SALT)
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
        store.put(DATA, extension="jpg", salt=SALT)
    monkeypatch.undo()

    assert all_files(store.root) == []  # the shard directories exist, the temp file does not
    assert not store.exists(f"{DIGEST}.jpg")


def test_no_temp_file_is_left_when_the_rename_fails(store, monkeypatch):
    def failing_replace(src, dst):
        raise OSError("rename refused")

    monkeypatch.setattr(blobs.os, "replace", failing_replace)
    with pytest.raises(OSError, match="rename refused"):
        store.put(DATA, extension="jpg", salt=SALT)
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
    store.put(DATA, extension="jpg", salt=SALT)
    # new shard directories fsynced, the file fsynced, renamed, and its directory fsynced
    assert "replace" in calls
    position = calls.index("replace")
    assert calls[position - 1] == "fsync" and calls[position + 1] == "fsync"


def test_concurrent_puts_of_the_same_bytes(store):
    errors: list[BaseException] = []

    def put():
        try:
            store.put(DATA, extension="jpg", salt=SALT)
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
    with pytest.raises(InvalidBlobKeyError):
        store.delete(key)


def test_non_string_keys_are_invalid():
    assert not is_valid_key(None)  # type: ignore[arg-type]
    assert not is_valid_key(DIGEST.encode())  # type: ignore[arg-type]


@pytest.mark.parametrize("extension", ["gif", "JPG", ".jpg", "jpeg", "", "jpg/..", "../jpg"])
def test_invalid_extensions_are_refused(store, extension):
    with pytest.raises(InvalidBlobKeyError):
        store.put(DATA, extension=extension, salt=SALT)
    assert not store.root.exists() or all_files(store.root) == []


@pytest.mark.parametrize("extension", sorted(ALLOWED_EXTENSIONS))
def test_every_allowed_extension(store, extension):
    key = store.put(DATA, extension=extension, salt=SALT)
    assert key.endswith(f".{extension}")
    assert store.get(key) == DATA


def test_invalid_key_error_is_a_value_error():
    assert issubclass(InvalidBlobKeyError, ValueError)
