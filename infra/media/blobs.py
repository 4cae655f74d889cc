"""Content-addressed blob storage for photo bytes.

A blob's key is ``"<sha256 hex of its bytes>.<extension>"``: the key names the content, so
URLs built from keys are immutable (cacheable for a year) and the same bytes are stored once.
``BlobStore`` is the port; ``FilesystemBlobStore`` is the embedded profile's adapter (the
cluster profile adds an S3-compatible one against the same contract).

Keys arrive from URLs, so they are validated strictly before they are ever joined to a path
or sent to a backend: nothing but 64 lowercase hex digits, a dot and a known extension.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path

ALLOWED_EXTENSIONS: frozenset[str] = frozenset({"jpg", "png", "webp", "avif", "heic"})

# fullmatch, not match + "$": "$" would also accept a trailing newline.
_KEY_PATTERN = re.compile(r"[0-9a-f]{64}\.(?:" + "|".join(sorted(ALLOWED_EXTENSIONS)) + r")")

# Blobs are world-readable like any file a static server hands out; mkstemp's 0600 would
# hide them from a front-end server running as another user.
_BLOB_FILE_MODE = 0o644


class InvalidBlobKeyError(ValueError):
    """A blob key or extension that does not have the content-addressed shape."""


def is_valid_key(key: str) -> bool:
    """Tell whether ``key`` is exactly ``<64 lowercase hex>.<allowed extension>``."""
    return isinstance(key, str) and _KEY_PATTERN.fullmatch(key) is not None


def blob_key(data: bytes, *, extension: str) -> str:
    """Return the content-addressed key for ``data`` stored with ``extension``.

    Raises InvalidBlobKeyError if the extension is not one we store.
    """
    _check_extension(extension)
    return f"{hashlib.sha256(data).hexdigest()}.{extension}"


# How blobs are served: the key names the content, so every copy may be cached forever.
IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"
CONTENT_TYPES: dict[str, str] = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp",
                                 "avif": "image/avif", "heic": "image/heic"}


def _check_extension(extension: str) -> None:
    if not isinstance(extension, str) or extension not in ALLOWED_EXTENSIONS:
        raise InvalidBlobKeyError(f"unsupported blob extension: {extension!r}")


def check_key(key: str) -> None:
    """Raise InvalidBlobKeyError unless `key` has the content-addressed shape."""
    if not is_valid_key(key):
        raise InvalidBlobKeyError(f"invalid blob key: {key!r}")


class BlobStore(ABC):
    """Port: an immutable, content-addressed store of byte blobs."""

    @abstractmethod
    def put(self, data: bytes, *, extension: str) -> str:
        """Store ``data`` and return its key ``"<sha256 hex>.<extension>"``.

        Durable before it returns; idempotent (the same bytes give the same key and are
        stored once). Raises InvalidBlobKeyError for an extension not in ALLOWED_EXTENSIONS.
        """

    @abstractmethod
    def get(self, key: str) -> bytes | None:
        """Return the bytes stored under ``key``, or None if there are none.

        Raises InvalidBlobKeyError if ``key`` is not a valid key.
        """

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Tell whether a blob is stored under ``key``.

        Raises InvalidBlobKeyError if ``key`` is not a valid key.
        """


class FilesystemBlobStore(BlobStore):
    """Blobs as files under ``root``, sharded as ``root/ab/cd/<key>``.

    Two levels of 256 directories keep each directory small at millions of blobs. Writes go
    through a temporary file in the final directory, fsync, atomic rename, and a directory
    fsync, so a crash leaves either no file or the complete file, never a partial one.
    """

    def __init__(self, root: Path) -> None:
        """Use ``root`` as the store's directory (created on first write)."""
        self._root = Path(root)

    @property
    def root(self) -> Path:
        """The directory this store keeps its files under."""
        return self._root

    def put(self, data: bytes, *, extension: str) -> str:
        """Store ``data`` durably and return its key; a no-op if it is already stored."""
        key = blob_key(data, extension=extension)
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

    def exists(self, key: str) -> bool:
        """Tell whether the blob is stored."""
        check_key(key)
        return self._path(key).is_file()

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
            new_dir.mkdir(exist_ok=True)
            _fsync_directory(new_dir.parent)


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
        # Same bytes under the same name: a concurrent writer of the same blob is harmless.
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


def _unlink_quietly(name: str) -> None:
    try:
        os.unlink(name)
    except FileNotFoundError:
        pass
