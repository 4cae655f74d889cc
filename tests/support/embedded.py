"""Helpers for tests of the embedded system: cheap settings, accounts, images, photos."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

from fastapi.testclient import TestClient
from photoshare.commands import PhotoShareCommands
from photoshare.infra.settings import Settings
from PIL import Image


def cheap_settings(data_dir: Path, **overrides: object) -> Settings:
    """Real settings with a cheap password hash, so tests register users quickly, and
    limits no test run reaches unless it sets them."""
    values = {"data_dir": data_dir, "password_hash_memory_kib": 1024,
              "password_hash_time_cost": 1, "secret_key": "test-secret-" + "x" * 32,
              "image_workers": 2,
              # One test client registers and writes far more than a person would;
              # the limits have tests of their own.
              "registrations_per_hour_per_address": 100_000,
              "user_writes_per_minute": 100_000}
    values.update(overrides)
    return Settings(**values)


def event_store(client: TestClient) -> PhotoShareCommands:
    return client.app.state.write.commands


def head(client: TestClient) -> int:
    """The event log's head position: unchanged means nothing was appended."""
    return event_store(client).head_position()


@dataclass
class Account:
    user_id: str
    username: str
    email: str
    password: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def register(client: TestClient, username: str | None = None, **fields: object) -> Account:
    """Register a user with unique defaults and log in."""
    username = username or f"user_{uuid4().hex[:10]}"
    body = {"username": username, "email": f"{username}@example.com",
            "password": "correct horse battery", "display_name": username.title()}
    body.update(fields)
    created = client.post("/v1/users", json=body)
    assert created.status_code == 201, created.text
    session = client.post("/v1/sessions", json={"login": username, "password": body["password"]})
    assert session.status_code == 200, session.text
    return Account(created.json()["user_id"], username, str(body["email"]),
                   str(body["password"]), session.json()["access_token"])


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (800, 600),
                color: str = "steelblue", **save_args: object) -> bytes:
    buffer = io.BytesIO()
    mode = "RGBA" if fmt == "PNG" else "RGB"
    Image.new(mode, size, color).save(buffer, fmt, **save_args)
    return buffer.getvalue()


def post_photo(client: TestClient, account: Account, data: bytes | None = None,
               **form: str) -> dict:
    response = client.post("/v1/photos", headers=account.auth, data=form,
                           files={"file": ("photo.jpg", data or image_bytes(), "image/jpeg")})
    assert response.status_code == 201, response.text
    return response.json()


def distinct_jpeg(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    """A JPEG of random pixels and an EXIF description, its bytes its own: an original
    that can be told apart from every other, byte for byte (the data export's tests)."""
    chance = random.Random(seed)
    image = Image.frombytes("RGB", size, chance.randbytes(size[0] * size[1] * 3))
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x010E] = f"original n°{seed}"  # ImageDescription: kept in the original only
    image.save(buffer, "JPEG", quality=90, exif=exif)
    return buffer.getvalue()
