"""An event store written before crypto-shredding: its accounts (user id derived from the
username, no username claim, personal fields in plaintext) keep working, can be deleted
(readers then get the redacted form), and `photoshare events seal-legacy` rewrites the
plaintext left in the stored bytes."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from photoshare.commands import PhotoShareCommands
from photoshare.commands.aggregates import Credentials, EmailClaim, User
from photoshare.commands.ids import user_id_for
from photoshare.commands.messages import CommandContext
from photoshare.events import UserRegistered
from photoshare.infra.auth.passwords import PasswordHasher
from photoshare.infra.cli.main import main
from photoshare.infra.roots.embedded import create_embedded_app, make_data_dir_private
from support.embedded import cheap_settings, head

PASSWORD = "an old password"


def write_legacy_account(settings, username: str) -> str:
    """Events as the code before crypto-shredding stored them: no sealer, no claim."""
    make_data_dir_private(settings)
    app = PhotoShareCommands(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                                  "SQLITE_DBNAME": str(settings.event_store_path)})
    context = CommandContext(None, "legacy")
    user_id = user_id_for(username)
    user = User._start(user_id, UserRegistered(user_id=str(user_id), username=username,
                                               display_name="Old Timer", bio="legacy bio"),
                       context)
    hasher = PasswordHasher(time_cost=1, memory_kib=1024)
    app.save(user, EmailClaim.claim(email=f"{username}@old.example", user_id=user_id,
                                    context=context),
             Credentials.create(user_id=user_id, password_hash=hasher.hash(PASSWORD),
                                context=context))
    app.close()
    return str(user_id)


def stored(settings) -> bytes:
    return b"".join(p.read_bytes() for p in Path(settings.data_dir).glob("events*"))


def test_legacy_accounts_log_in_and_are_erased_by_the_operator_command(tmp_path) -> None:
    settings = cheap_settings(tmp_path / "data")
    old_id = write_legacy_account(settings, "old_timer")
    keeper_id = write_legacy_account(settings, "old_keeper")
    with TestClient(create_embedded_app(settings)) as client:
        for login in ("old_timer", "OLD_TIMER", "old_timer@old.example"):
            session = client.post("/v1/sessions", json={"login": login, "password": PASSWORD})
            assert session.status_code == 200 and session.json()["user_id"] == old_id
        token = {"Authorization": f"Bearer {session.json()['access_token']}"}
        taken = client.post("/v1/users", json={"username": "old_timer", "email": "x@y.example",
                                               "password": "x" * 12, "display_name": "X"})
        assert taken.status_code == 409
        photo = client.post("/v1/photos", headers=token, data={"caption": "new and sealed"},
                            files={"file": ("p.jpg", _jpeg(), "image/jpeg")})
        assert photo.status_code == 201
        assert client.request("DELETE", "/v1/users/me", headers=token,
                              json={"password": PASSWORD}).status_code == 204
        at = {"X-Min-Position": str(head(client))}
        assert client.get(f"/v1/users/{old_id}", headers=at).status_code == 404
        assert client.get(f"/v1/users/{keeper_id}", headers=at).json()["bio"] == "legacy bio"
        log = list(client.app.state.write.commands.iter_log(include_internal=True))
        assert "legacy bio" not in str([e.data for e in log if old_id in str(e.data)])
        # the name is free again, for a new (random-id) account
        again = client.post("/v1/users", json={"username": "old_timer",
                                               "email": "old_timer@old.example",
                                               "password": "y" * 12, "display_name": "Y"})
        assert again.status_code == 201 and again.json()["user_id"] != old_id
    # The new photo was sealed; the legacy plaintext of both old accounts is still stored.
    assert b"new and sealed" not in stored(settings)
    assert b"old_timer@old.example" in stored(settings)
    assert b"old_keeper@old.example" in stored(settings)

    assert main(["events", "seal-legacy", "--dry-run", "--data-dir",
                 str(settings.data_dir)]) == 0
    assert b"old_keeper@old.example" in stored(settings)
    assert main(["events", "seal-legacy", "--data-dir", str(settings.data_dir)]) == 0
    raw = stored(settings)
    for text in (b"old_timer@old.example", b"old_keeper@old.example", b"legacy bio",
                 b"Old Timer"):
        assert text not in raw, (text, str(settings.data_dir))
    with TestClient(create_embedded_app(settings)) as client:
        at = {"X-Min-Position": str(head(client))}
        assert client.get(f"/v1/users/{keeper_id}", headers=at).json()["bio"] == "legacy bio"
        assert client.post("/v1/sessions", json={"login": "old_keeper@old.example",
                                                 "password": PASSWORD}).status_code == 200


def _jpeg() -> bytes:
    from support.embedded import image_bytes
    return image_bytes()
