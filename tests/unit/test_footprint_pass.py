"""The pass over the log that finds a deleted account's footprint
(`PhotoShareCommands.log_naming`): it decodes only the events whose stored bytes hold the
person's id, and finds exactly what decoding every event finds, on the real SQLite event
store with sealed personal fields, and with events stored compressed (then nothing can
be skipped unread)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from photoshare.commands import PhotoShareCommands
from photoshare.commands import messages as m
from photoshare.commands.erasure import Footprint
from photoshare.commands.messages import CommandContext, StoredImage
from photoshare.events import catalog
from photoshare.events.catalog import Event
from photoshare.infra.crypto.sealing import Sealer
from photoshare.infra.sqlite.personal_keys import SqlitePersonalKeys

CONTEXT = CommandContext(None, "test")
IMAGE = StoredImage(original_key="o.jpg", format="jpeg", width=4, height=3,
                    variants={"large": "l.jpg"})


def test_no_personal_field_holds_an_id() -> None:
    """The pass relies on ids being in clear in every stored event: sealed fields
    (`Event.personal`) are text a person wrote or chose, never ids."""
    events = [cls for cls in vars(catalog).values()
              if isinstance(cls, type) and issubclass(cls, Event) and cls is not Event]
    assert len(events) > 20
    for cls in events:
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for name in cls.personal:
            assert name in fields, (cls.__name__, name)
            assert not name.endswith(("_id", "_ids")), (cls.__name__, name)
            assert "id" not in str(fields[name].type).lower(), (cls.__name__, name)


def _history(app: PhotoShareCommands) -> list[str]:
    """Three people who post, tag, comment, like, follow, block and change avatars."""
    ids = [app.execute(m.RegisterUser(name, f"{name}@example.com", "hash", name.title()),
                       CONTEXT).value for name in ("ann", "bob", "cyd")]
    ann, bob, cy = ids
    photo = app.execute(m.PostPhoto(ann, IMAGE, caption=f"with @bob {cy}",
                                    tagged_usernames=("bob",)), CONTEXT).value
    other = app.execute(m.PostPhoto(bob, IMAGE, caption="bob's"), CONTEXT).value
    for command in (m.FollowUser(bob, ann), m.FollowUser(ann, cy), m.LikePhoto(photo, cy),
                    m.LikePhoto(other, ann), m.AddComment(photo, bob, "nice"),
                    m.BlockUser(cy, bob), m.UnlikePhoto(photo, cy), m.LikePhoto(photo, cy)):
        app.execute(command, CONTEXT)
    return ids


def _footprint(user_id: str, log: Any) -> tuple[Any, Any]:
    found = Footprint.of(user_id, log)
    return dict(found.by_event_type), found.images


@pytest.mark.parametrize("compressed", [False, True], ids=["plain-json", "compressed"])
def test_the_pass_finds_what_decoding_every_event_finds(tmp_path: Path,
                                                        compressed: bool) -> None:
    path = tmp_path / "events.sqlite3"
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    if compressed:
        env["COMPRESSOR_TOPIC"] = "eventsourcing.compressor:ZlibCompressor"
    app = PhotoShareCommands(env=env, sealer=Sealer(SqlitePersonalKeys(path)))
    try:
        people = _history(app)
        decoded: list[str] = []
        real = app._envelope

        def counting(notification: Any, **kwargs: Any) -> Any:
            decoded.append(notification.id)
            return real(notification, **kwargs)

        app._envelope = counting  # type: ignore[method-assign]
        everything = len(list(app.iter_log(include_internal=True)))
        for person in people:
            decoded.clear()
            named = list(app.log_naming(person, batch=3))
            opened = len(decoded)
            found = _footprint(person, named)
            assert found == _footprint(person, app.iter_log(include_internal=True))
            assert found[0]  # each of them is named somewhere
            if compressed:  # the stored bytes say nothing: every event is read
                assert opened == everything
            else:
                assert 0 < opened < everything
    finally:
        app.close()
