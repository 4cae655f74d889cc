"""The data export's memory stays bounded whatever the account's size, checked by
counting, not by timing or RSS: the zip writer never holds more than one piece plus one
write, every list is read from the views a page at a time, and every original a piece at
a time, while the archive and its files are many times larger than those bounds."""

from __future__ import annotations

import io
import random
import string
import zipfile
from dataclasses import replace
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image

from photoshare.projections.profiles import Profile
from photoshare.readapi.export.archive import ExportSources, export_archive
from photoshare.readapi.export.zipstream import ZipStream
from photoshare.readapi.services import ViewQueries
from support.embedded import head, post_photo, register

PIECE = 16 * 1024  # what the writer hands out at a time, and what a blob is read in
PAGE = 7  # rows per view query
# One piece, one blob piece (or one JSON item) written on top, and zip headers.
BOUND = 2 * PIECE + 4096


def noise_jpeg(seed: int) -> bytes:
    """About 150 KB that do not compress: JPEG of random pixels."""
    chance = random.Random(seed)
    image = Image.frombytes("RGB", (400, 400), chance.randbytes(400 * 400 * 3))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


class Counting:
    """A query port that records how many rows each call asked for (a page's `limit`,
    the last int argument) or named (a list of ids)."""

    def __init__(self, port: Any, asked: list[int]) -> None:
        self._port, self._asked = port, asked

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._port, name)

        def call(*args: Any) -> Any:
            sizes = [len(a) for a in args if isinstance(a, list)]
            sizes += [a for a in args[-1:] if isinstance(a, int)]
            self._asked.extend(sizes)
            return method(*args)

        return call


def counted(sources: ExportSources, asked: list[int]) -> ExportSources:
    def queries() -> ViewQueries:
        q = sources.queries()
        return replace(q, **{name: Counting(getattr(q, name), asked)
                             for name in ("profiles", "graph", "photos")})

    return replace(sources, queries=queries, page_size=PAGE, blob_piece_bytes=PIECE)


def test_the_writer_holds_one_piece_whatever_the_account_size(client: TestClient) -> None:
    ann, bob = register(client), register(client)
    originals = [noise_jpeg(seed) for seed in range(10)]
    photos = [post_photo(client, ann, data)["photo_id"] for data in originals]
    chance = random.Random(3)
    for n in range(150):  # comments.json alone is larger than the bound
        text = "".join(chance.choices(string.ascii_letters + " ", k=900))
        response = client.post(f"/v1/photos/{photos[n % 10]}/comments", headers=ann.auth,
                               json={"text": text})
        assert response.status_code == 201, response.text
    for photo_id in photos:
        client.put(f"/v1/photos/{photo_id}/likes/me", headers=ann.auth)
    client.put(f"/v1/users/me/following/{bob.user_id}", headers=ann.auth)
    client.get("/v1/users/me", headers={**ann.auth, "X-Min-Position": str(head(client))})

    asked: list[int] = []
    sources = counted(client.app.state.export.sources, asked)
    profile: Profile = sources.queries().profiles.by_id(ann.user_id)
    zipped = ZipStream(piece_bytes=PIECE)
    pieces = list(export_archive(sources, profile, zipped))

    archive_bytes = b"".join(pieces)
    archive = zipfile.ZipFile(io.BytesIO(archive_bytes))
    assert [archive.read(f"photos/{p}.jpg") for p in photos] == originals
    comments_info = archive.getinfo("comments.json")
    assert len(archive.read("comments.json")) == comments_info.file_size

    # The archive and its largest files are many times the bound ...
    assert len(archive_bytes) > 10 * BOUND
    assert min(len(data) for data in originals) > 3 * BOUND
    assert comments_info.compress_size > 2 * BOUND
    # ... yet the writer never held more than the bound, nor handed out a larger piece,
    assert zipped.most_held <= BOUND
    assert max(len(piece) for piece in pieces) <= BOUND
    assert zipped.bytes_out == len(archive_bytes)
    # and no query asked for more than a page of rows.
    assert asked and max(asked) <= PAGE
