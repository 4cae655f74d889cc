"""A zip archive written as a stream of byte pieces, for answers sent as they are made.

Python's `zipfile` writes to a stream it cannot seek: each entry's sizes and CRC then
follow its data (a data descriptor) instead of being patched into its header, so nothing
has to be held back. `ZipStream` gives it a sink that only collects what it writes and
hands that out as pieces of about `piece_bytes`: the bytes held at any moment are one
piece plus the largest single write (a blob piece, a JSON item), whatever the archive's
size. What stays in memory until the end is the central directory's record of each entry
(its name, sizes and offset: about a hundred bytes per entry), which the zip format puts
last.

Every entry is written in Zip64 form (its size is not known before it is written), so an
entry or the archive may pass 4 GiB; images are stored as they are (they are compressed
already), text is deflated.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterable, Iterator
from typing import Any

PIECE_BYTES = 64 * 1024


class _Sink(io.RawIOBase):
    """A write-only, unseekable stream that keeps what is written until taken."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.held = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self.held += len(chunk)
        return len(chunk)

    def take(self) -> bytes:
        taken = b"".join(self._parts)
        self._parts, self.held = [], 0
        return taken


class ZipStream:
    """Writes one zip archive entry by entry; each `add_*` and `finish` is a generator of
    the archive's bytes, to be sent in order. `most_held` is the most bytes the writer has
    held at once (the high-water mark the memory bound is checked against)."""

    def __init__(self, piece_bytes: int = PIECE_BYTES) -> None:
        self._sink = _Sink()
        self._zip = zipfile.ZipFile(self._sink, "w", allowZip64=True)
        self._piece = piece_bytes
        self.most_held = 0
        self.bytes_out = 0

    def add_bytes(self, name: str, data: bytes, *, compress: bool = True) -> Iterator[bytes]:
        """A small entry whose bytes are at hand (a README, one JSON object)."""
        yield from self.add_pieces(name, (data,), compress=compress)

    def add_pieces(self, name: str, pieces: Iterable[bytes], *,
                   compress: bool = False) -> Iterator[bytes]:
        """An entry made of `pieces` (a blob read in chunks), each written as it comes."""
        with self._zip.open(self._info(name, compress), "w", force_zip64=True) as entry:
            for piece in pieces:
                entry.write(piece)
                yield from self._ready()
        yield from self._ready(everything=True)

    def add_json_array(self, name: str, items: Iterable[Any]) -> Iterator[bytes]:
        """A JSON array written one item at a time: `items` may be a generator over
        pages of a view, and no more than one item is ever encoded at once."""
        with self._zip.open(self._info(name, compress=True), "w", force_zip64=True) as entry:
            entry.write(b"[")
            separator = b"\n"
            for item in items:
                entry.write(separator + _indented(item))
                separator = b",\n"
                yield from self._ready()
            entry.write(b"\n]\n" if separator == b",\n" else b"]\n")
        yield from self._ready(everything=True)

    def finish(self) -> Iterator[bytes]:
        """The central directory: the archive's last bytes."""
        self._zip.close()
        yield from self._ready(everything=True)

    def _ready(self, everything: bool = False) -> Iterator[bytes]:
        self.most_held = max(self.most_held, self._sink.held)
        if self._sink.held >= self._piece or (everything and self._sink.held):
            piece = self._sink.take()
            self.bytes_out += len(piece)
            yield piece

    def _info(self, name: str, compress: bool) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=time.gmtime()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o600 << 16  # the person's own files: owner-only on unzip
        return info


def _indented(item: Any) -> bytes:
    text = json.dumps(item, ensure_ascii=False, indent=2)
    return ("  " + text.replace("\n", "\n  ")).encode()
