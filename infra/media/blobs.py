"""Blob storage for photo bytes: immutable blobs under keys made of a salt and the bytes.

A blob's key is ``"<sha256 hex of salt + bytes>.<extension>"``, the salt being random and
made once per upload (``new_salt``). The key still names one content forever, so URLs built
from keys are immutable (cacheable for a year); but two uploads of the same bytes get blobs
of their own. That is what makes deleting a photo's blobs safe: no other photo can share them,
so a deletion never races an upload that found "its" blob already stored (a lost photo).
``BlobStore`` is the port; ``FilesystemBlobStore`` is the embedded profile's adapter (the
cluster profile adds an S3-compatible one against the same contract).

Keys arrive from URLs, so they are validated strictly before they are ever joined to a path
or sent to a backend: nothing but 64 lowercase hex digits, a dot and a known extension.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger("photoshare.blobs")

ALLOWED_EXTENSIONS: frozenset[str] = frozenset({"jpg", "png", "webp", "avif", "heic"})

# fullmatch, not match + "$": "$" would also accept a trailing newline.
_KEY_PATTERN = re.compile(r"[0-9a-f]{64}\.(?:" + "|".join(sorted(ALLOWED_EXTENSIONS)) + r")")

# Originals keep their metadata (GPS positions): blobs are the owner's alone, and so are the
# store's directories. The server itself serves the variants, so nothing else needs to read them.
_BLOB_FILE_MODE = 0o600
_BLOB_DIR_MODE = 0o700

# Pieces a blob is read in when streamed (`BlobStore.chunks`): the data export copies
# originals into its zip this many bytes at a time.
READ_CHUNK_BYTES = 64 * 1024

# Bytes of the per-upload salt mixed into every key; a fixed length, so salt + data can only
# be split one way (a key never names two different contents).
SALT_BYTES = 16


class InvalidBlobKeyError(ValueError):
    """A blob key or extension that does not have the ``<64 hex>.<extension>`` shape."""


def is_valid_key(key: str) -> bool:
    """Tell whether ``key`` is exactly ``<64 lowercase hex>.<allowed extension>``."""
    return isinstance(key, str) and _KEY_PATTERN.fullmatch(key) is not None


def new_salt() -> bytes:
    """A fresh random salt for one upload's blobs (its original and all its variants)."""
    return secrets.token_bytes(SALT_BYTES)


def blob_key(data: bytes, *, extension: str, salt: bytes) -> str:
    """Return the key of ``data`` stored with ``extension`` under the upload's ``salt``.

    Raises InvalidBlobKeyError if the extension is not one we store, ValueError if the salt
    is not SALT_BYTES long.
    """
    _check_extension(extension)
    if not isinstance(salt, bytes) or len(salt) != SALT_BYTES:
        raise ValueError(f"a blob salt is {SALT_BYTES} bytes")
    return f"{hashlib.sha256(salt + data).hexdigest()}.{extension}"


def is_unsalted(key: str, data: bytes) -> bool:
    """Whether ``key`` is the SHA-256 of ``data`` alone: a blob stored before keys were salted
    per upload, which other photos (or avatars) of the same bytes may share."""
    return key.split(".", 1)[0] == hashlib.sha256(data).hexdigest()


# How blobs are served: a key names one content forever, so every copy may be cached forever.
IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"
CONTENT_TYPES: dict[str, str] = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp",
                                 "avif": "image/avif", "heic": "image/heic"}


def _check_extension(extension: str) -> None:
    if not isinstance(extension, str) or extension not in ALLOWED_EXTENSIONS:
        raise InvalidBlobKeyError(f"unsupported blob extension: {extension!r}")


def check_key(key: str) -> None:
    """Raise InvalidBlobKeyError unless `key` has the ``<64 hex>.<extension>`` shape."""
    if not is_valid_key(key):
        raise InvalidBlobKeyError(f"invalid blob key: {key!r}")


class BlobStore(ABC):
    """Port: a store of immutable byte blobs, each under the key of its salt and bytes."""

    @abstractmethod
    def put(self, data: bytes, *, extension: str, salt: bytes) -> str:
        """Store ``data`` and return its key ``blob_key(data, extension=..., salt=...)``.

        Durable before it returns; idempotent (the same salt and bytes give the same key and
        are stored once, so a retry is harmless). Raises InvalidBlobKeyError for an extension
        not in ALLOWED_EXTENSIONS, ValueError for a salt that is not SALT_BYTES long.
        """

    @abstractmethod
    def get(self, key: str) -> bytes | None:
        """Return the bytes stored under ``key``, or None if there are none.

        Raises InvalidBlobKeyError if ``key`` is not a valid key.
        """

    def chunks(self, key: str, chunk_size: int = READ_CHUNK_BYTES) -> Iterator[bytes] | None:
        """The blob's bytes in pieces of at most ``chunk_size``, or None if it is not stored.

        Close the iterator if it is not read to the end (it may hold a file or a
        connection). This default reads the whole blob first; adapters stream it, so that
        copying a large blob holds one piece at a time. Raises InvalidBlobKeyError if
        ``key`` is not a valid key.
        """
        data = self.get(key)
        if data is None:
            return None
        return (data[at:at + chunk_size] for at in range(0, len(data), chunk_size))

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Tell whether a blob is stored under ``key``.

        Raises InvalidBlobKeyError if ``key`` is not a valid key.
        """

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the blob stored under ``key``, durably; a missing blob is no error.

        Only for a blob nothing refers to any more: keys are salted per upload, so a photo's
        blobs are its own and may go with it. Raises InvalidBlobKeyError if ``key`` is not a
        valid key.
        """


class FilesystemBlobStore(BlobStore):
    """Blobs as files under ``root``, sharded as ``root/ab/cd/<key>``.

    Two levels of 256 directories keep each directory small at millions of blobs. Writes go
    through a temporary file in the final directory, fsync, atomic rename, and a directory
    fsync, so a crash leaves either no file or the complete file, never a partial one. Files
    are 0600 and directories 0700 (the owner's alone); a root made before that is tightened
    to 0700 when the store is opened, which keeps everything under it from other users.
    """

    def __init__(self, root: Path) -> None:
        """Use ``root`` as the store's directory (created on first write)."""
        self._root = Path(root)
        _tighten_directory(self._root)

    @property
    def root(self) -> Path:
        """The directory this store keeps its files under."""
        return self._root

    def put(self, data: bytes, *, extension: str, salt: bytes) -> str:
        """Store ``data`` durably and return its key; a no-op if it is already stored."""
        key = blob_key(data, extension=extension, salt=salt)
        path = self._path(key)
        if path.is_file():
            return key
        self._make_dirs_durably(path.parent)
        _write_atomically(path, data)
        return key

    def get(self, key: str) -> bytes | None:
        """Return the blob's bytes, or None if it is not stored."""
        check_key(key)
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def chunks(self, key: str, chunk_size: int = READ_CHUNK_BYTES) -> Iterator[bytes] | None:
        """The blob's file, read ``chunk_size`` bytes at a time; None if it is not stored."""
        check_key(key)
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError:
            return None
        return _read_in_chunks(handle, chunk_size)

    def exists(self, key: str) -> bool:
        """Tell whether the blob is stored."""
        check_key(key)
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        """Unlink the blob's file and make that durable; a missing file is no error.

        The empty shard directories stay: the next blob there reuses them.
        """
        check_key(key)
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        _fsync_directory(path.parent)

    def _path(self, key: str) -> Path:
        # Only ever called with a validated key, so the key cannot escape the root.
        return self._root / key[0:2] / key[2:4] / key

    def _make_dirs_durably(self, directory: Path) -> None:
        """Create ``directory`` and its missing parents, fsyncing each new entry's parent."""
        missing: list[Path] = []
        current = directory
        while not current.is_dir():
            missing.append(current)
            current = current.parent
        for new_dir in reversed(missing):
            # exist_ok: a concurrent writer may have made it; fsync anyway, since that writer
            # may not have made the entry durable yet.
            new_dir.mkdir(mode=_BLOB_DIR_MODE, exist_ok=True)
            _fsync_directory(new_dir.parent)


def _read_in_chunks(handle: BinaryIO, chunk_size: int) -> Iterator[bytes]:
    with handle:  # closed when read to the end or when the iterator is closed
        while piece := handle.read(chunk_size):
            yield piece


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a same-directory temp file and an atomic rename.

    The temp file is removed on any error, so no debris is left behind.
    """
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), _BLOB_FILE_MODE)
            os.fsync(handle.fileno())
        # Same bytes under the same name: a concurrent writer of the same blob (a retry of the
        # same upload) is harmless.
        os.replace(temp_name, path)
    except BaseException:
        _unlink_quietly(temp_name)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make a directory's entries (a rename, a new child) durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _tighten_directory(directory: Path) -> None:
    """Make an existing store directory the owner's alone (stores made before 0700)."""
    try:
        if directory.stat().st_mode & 0o077:
            directory.chmod(_BLOB_DIR_MODE)
    except FileNotFoundError:
        pass  # made, 0700, on the first write
    except PermissionError:  # not ours to change (a mounted volume): say so, go on
        log.warning("cannot make %s private (mode 0700): permission denied", directory)


def _unlink_quietly(name: str) -> None:
    try:
        os.unlink(name)
    except FileNotFoundError:
        pass
