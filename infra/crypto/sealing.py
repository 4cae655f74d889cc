"""Sealing: the personal fields of an event encrypted with its person's own key.

A sealed event keeps every field in `data`, the personal ones replaced by their redacted
form (`events.personal`), and carries the real values in a separate *seal*:

    {"v": 1, "subject": "<user id>", "ciphertext": "<base64 of nonce + AES-256-GCM>"}

The ciphertext is the JSON object of the personal fields, encrypted with AES-GCM under
the subject's 256-bit key, a fresh 96-bit nonce, and the event type and subject as
associated data (a seal moved onto another event type or person does not open). A
reader holding the key (`open`) gets the original data back; one without it, or after
the key was destroyed, gets the redacted form: nothing else is in clear.

Events written before sealing existed hold their personal fields in plaintext: `open`
passes them through while their person's key lives, and redacts them once it was
destroyed, so every reader of the log forgets a deleted person either way (the stored
bytes of such legacy events keep the plaintext until `photoshare events seal-legacy`
rewrites them).
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from photoshare.events.personal import data_subject, personal_fields, redact

SEAL_VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12


class SealError(ValueError):
    """A seal that cannot be opened with its person's live key: corrupt or forged."""


class PersonalKeys(Protocol):
    """The key store beside the event store: one key per person, destroyed for good when
    their account is deleted (a tombstone remains so that no key is ever made again)."""

    def lookup(self, subject: str, *, create: bool) -> tuple[bytes | None, bool]:
        """(the person's key or None, whether it was destroyed). With `create`, a person
        who has neither a key nor a tombstone gets a new key first."""

    def destroy(self, subject: str) -> None:
        """Destroy the person's key, forever (idempotent)."""

    def close(self) -> None: ...


class CachedKeys:
    """Keys remembered in memory for `ttl_seconds` (each event would otherwise cost a
    query), evicted at once by `forget` and by `destroy` through this cache. Another
    process destroying a key is seen here within `ttl_seconds`."""

    def __init__(self, store: PersonalKeys, *, ttl_seconds: float = 30.0,
                 max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.ttl, self.max_keys, self.clock = store, ttl_seconds, max_keys, clock
        self._cache: dict[str, tuple[float, bytes | None, bool]] = {}
        self._lock = threading.Lock()

    def lookup(self, subject: str, *, create: bool) -> tuple[bytes | None, bool]:
        now = self.clock()
        with self._lock:
            cached = self._cache.get(subject)
        if cached is not None and now - cached[0] < self.ttl and (
                cached[1] is not None or cached[2] or not create):
            return cached[1], cached[2]
        key, destroyed = self.store.lookup(subject, create=create)
        with self._lock:
            if len(self._cache) >= self.max_keys:
                self._cache.clear()
            self._cache[subject] = (now, key, destroyed)
        return key, destroyed

    def destroy(self, subject: str) -> None:
        self.forget(subject)
        self.store.destroy(subject)
        self.forget(subject)

    def forget(self, subject: str) -> None:
        with self._lock:
            self._cache.pop(subject, None)

    def close(self) -> None:
        self.store.close()


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def _associated(event_type: str, subject: str) -> bytes:
    return f"photoshare-seal:{event_type}:{subject}".encode()


def seal_fields(key: bytes, event_type: str, subject: str, fields: dict[str, Any]) -> str:
    nonce = os.urandom(NONCE_BYTES)
    plaintext = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, _associated(event_type, subject))
    return base64.b64encode(nonce + ciphertext).decode("ascii")


def open_fields(key: bytes, event_type: str, subject: str, ciphertext: str) -> dict[str, Any]:
    try:
        raw = base64.b64decode(ciphertext, validate=True)
        plaintext = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:],
                                        _associated(event_type, subject))
    except (InvalidTag, ValueError) as error:
        raise SealError(f"the seal of a {event_type} of {subject} does not open with "
                        f"that person's key") from error
    return json.loads(plaintext)


class Sealer:
    """Seals and opens the personal fields of event data with the key store's keys."""

    def __init__(self, keys: PersonalKeys) -> None:
        self.keys = keys

    def close(self) -> None:
        self.keys.close()

    def forget(self, subject: str) -> None:
        """Destroy the person's key (crypto-shredding: their data is unreadable now)."""
        self.keys.destroy(subject)

    def seal(self, event_type: str, data: dict[str, Any]) -> tuple[dict[str, Any], dict | None]:
        """(`data` with its personal fields redacted, the seal holding them), or
        (`data`, None) for an event without personal data. For a person whose key was
        destroyed the fields are redacted and no seal is made: nothing to keep."""
        subject = data_subject(event_type, data)
        if subject is None:
            return data, None
        fields = {name: data[name] for name in personal_fields(event_type) if name in data}
        if not fields:
            return data, None
        key, _ = self.keys.lookup(subject, create=True)
        if key is None:
            return redact(event_type, data), None
        seal = {"v": SEAL_VERSION, "subject": subject,
                "ciphertext": seal_fields(key, event_type, subject, fields)}
        return redact(event_type, data), seal

    def open(self, event_type: str, data: dict[str, Any],
             seal: dict | None) -> dict[str, Any]:
        """The data with its personal fields, or redacted once the person's key is gone.
        Unsealed (legacy plaintext) data passes through while the key lives."""
        if seal is None:
            subject = data_subject(event_type, data)
            if subject is not None and self.keys.lookup(subject, create=False)[1]:
                return redact(event_type, data)
            return data
        if seal.get("v") != SEAL_VERSION:
            raise SealError(f"unknown seal version {seal.get('v')!r}")
        subject = str(seal["subject"])
        key, _ = self.keys.lookup(subject, create=False)
        if key is None:
            return redact(event_type, data)
        return {**data, **open_fields(key, event_type, subject, seal["ciphertext"])}


def opener(keys: PersonalKeys | None) -> Callable[[str, dict[str, Any], dict | None], dict[str, Any]] | None:
    """What `events.decode_envelope` takes to open sealed envelopes (None: no keys)."""
    return Sealer(keys).open if keys is not None else None
