"""The encryption layer of crypto-shredding: personal fields sealed with a key per
person (infra.crypto.sealing), the key stores beside the event store, and the event
store's mapper (commands.sealed_mapper)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import pytest

from photoshare.commands import PhotoShareCommands
from photoshare.commands import messages as m
from photoshare.commands.messages import CommandContext
from photoshare.events import Envelope, decode_envelope, encode_envelope
from photoshare.events.catalog import CommentAdded
from photoshare.events.personal import deleted_username, redact
from photoshare.infra.crypto.sealing import CachedKeys, SealError, Sealer, new_key, seal_fields
from photoshare.events.schema import envelope_schema
from photoshare.infra.sqlite.personal_keys import SqlitePersonalKeys
from photoshare.streams.worker import _decode_batch

ALICE = "0b7e0bd2-5d0a-4c1e-9a55-0e0f6f4b1a11"
REGISTERED = {"user_id": ALICE, "username": "alice", "display_name": "Alice Liddell",
              "bio": "down the rabbit hole", "location": "Oxford", "age": 33}
COMMENT = {"comment_id": "c1", "photo_id": "p1", "photo_owner_id": "o1",
           "author_id": ALICE, "text": "curiouser and curiouser"}


@pytest.fixture
def keys(tmp_path: Path):
    store = SqlitePersonalKeys(tmp_path / "events.sqlite3")
    yield store
    store.close()


def test_a_sealed_event_holds_no_personal_field_in_clear_and_opens_again(keys) -> None:
    sealer = Sealer(keys)
    data, seal = sealer.seal("UserRegistered", REGISTERED)
    assert seal is not None and seal["subject"] == ALICE
    assert data == {"user_id": ALICE, "username": deleted_username(ALICE), "display_name": "",
                    "bio": "", "location": "", "age": None}
    assert "Alice" not in str(seal) and "Oxford" not in str(seal)
    assert sealer.open("UserRegistered", data, seal) == REGISTERED


def test_events_without_personal_data_are_left_alone(keys) -> None:
    follow = {"follower_id": ALICE, "followee_id": "b"}
    assert Sealer(keys).seal("UserFollowed", follow) == (follow, None)


def test_a_destroyed_key_leaves_the_redacted_form_and_is_never_made_again(keys) -> None:
    sealer = Sealer(keys)
    data, seal = sealer.seal("CommentAdded", COMMENT)
    sealer.forget(ALICE)
    assert keys.lookup(ALICE, create=True) == (None, True)
    assert sealer.open("CommentAdded", data, seal) == {**COMMENT, "text": ""}
    # New events of the person (none should come) are stored redacted, with no seal.
    assert sealer.seal("CommentAdded", COMMENT) == ({**COMMENT, "text": ""}, None)


def test_a_seal_under_another_key_or_moved_to_another_event_does_not_open(keys) -> None:
    sealer = Sealer(keys)
    data, seal = sealer.seal("CommentAdded", COMMENT)
    forged = {**seal, "ciphertext": seal_fields(new_key(), "CommentAdded", ALICE,
                                                 {"text": "not hers"})}
    with pytest.raises(SealError):
        sealer.open("CommentAdded", data, forged)
    with pytest.raises(SealError):  # the event type is bound in as associated data
        sealer.open("PhotoAltTextChanged", {"photo_id": "p", "owner_id": ALICE,
                                            "alt_text": None}, seal)


def test_legacy_plaintext_is_read_while_the_key_lives_and_redacted_after(keys) -> None:
    sealer = Sealer(keys)
    assert sealer.open("CommentAdded", COMMENT, None) == COMMENT
    assert keys.lookup(ALICE, create=False) == (None, False)  # reading made no key
    sealer.forget(ALICE)
    assert sealer.open("CommentAdded", COMMENT, None) == redact("CommentAdded", COMMENT)


def test_the_destroyed_key_is_gone_from_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    store = SqlitePersonalKeys(path)
    key, _ = store.lookup(ALICE, create=True)
    store.destroy(ALICE)
    store.close()
    assert key not in path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    assert not wal.exists() or key not in wal.read_bytes()


def test_cached_keys_see_a_destruction_through_the_cache_at_once(keys) -> None:
    cached = CachedKeys(keys, ttl_seconds=3600)
    key, _ = cached.lookup(ALICE, create=True)
    assert cached.lookup(ALICE, create=False) == (key, False)
    cached.destroy(ALICE)
    assert cached.lookup(ALICE, create=False) == (None, True)


def test_the_event_store_keeps_personal_fields_sealed_and_reads_them_back(tmp_path) -> None:
    path = tmp_path / "events.sqlite3"
    keys = SqlitePersonalKeys(path)
    app = PhotoShareCommands(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                                  "SQLITE_DBNAME": str(path)}, sealer=Sealer(keys))
    context = CommandContext(None, "test")
    user_id = app.execute(m.RegisterUser("hatter", "hatter@tea.party", "argon-hash",
                                         display_name="Mad Hatter", bio="tea time"),
                          context).value
    raw = path.read_bytes()
    for secret in (b"hatter@tea.party", b"Mad Hatter", b"tea time", b"argon-hash"):
        assert secret not in raw
    registered = next(e for e in app.read_log() if e.event_type == "UserRegistered")
    assert registered.data["display_name"] == "Mad Hatter"
    assert app.user(user_id).bio == "tea time"
    sealed = next(e for e in app.read_batch(0, 100, sealed=True)[0]
                  if e.event_type == "UserRegistered")
    assert sealed.data["display_name"] == "" and sealed.sealed["subject"] == user_id
    app.close()
    assert sqlite3.connect(path).execute("SELECT count(*) FROM personal_keys").fetchone() == (1,)


def _published(sealer: Sealer, event_type: str, data: dict) -> bytes:
    sealed_data, seal = sealer.seal(event_type, data)
    return encode_envelope(Envelope(
        event_id="e1", event_type=event_type, schema_version=1, aggregate_id="a1",
        aggregate_version=1, position=7, occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        actor_id=ALICE, correlation_id="c", data=sealed_data, sealed=seal)).encode()


def test_a_published_envelope_opens_only_with_the_key_store(keys) -> None:
    sealer = Sealer(keys)
    raw = _published(sealer, "CommentAdded", COMMENT)
    assert b"curiouser" not in raw
    jsonschema.validate(json.loads(raw), envelope_schema(CommentAdded))
    assert decode_envelope(raw).data["text"] == ""
    assert decode_envelope(raw, sealer.open).data == COMMENT
    assert decode_envelope(raw, sealer.open).sealed is None
    sealer.forget(ALICE)
    assert decode_envelope(raw, sealer.open).data["text"] == ""


def test_a_worker_forgets_a_cached_key_as_soon_as_it_decodes_the_deletion(keys) -> None:
    writer = Sealer(keys)
    comment = _published(writer, "CommentAdded", COMMENT)
    deletion = _published(writer, "AccountDeleted", {"user_id": ALICE})
    worker_keys = CachedKeys(keys, ttl_seconds=3600)

    def message(value: bytes) -> SimpleNamespace:
        return SimpleNamespace(value=value, message=SimpleNamespace(topic="t", partition=0))

    [(_, opened)] = _decode_batch([message(comment)], worker_keys)
    assert opened.data["text"] == COMMENT["text"]
    keys.destroy(ALICE)  # by the write side, in another process: this cache still has it
    [(_, _), (_, after)] = _decode_batch([message(deletion), message(comment)], worker_keys)
    assert after.data["text"] == ""
