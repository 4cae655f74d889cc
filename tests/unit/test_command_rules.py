"""Each business rule of the command side, with the domain error it raises."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest

from photoshare.commands import CommandContext, PhotoShareCommands
from photoshare.commands import errors as e
from photoshare.commands import messages as m

IMAGE = m.StoredImage("0" * 64 + ".jpg", "jpeg", 10, 10, {"large": "1" * 64 + ".jpg"})


@pytest.fixture
def app(tmp_path: Path) -> PhotoShareCommands:
    app = PhotoShareCommands(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                                  "SQLITE_DBNAME": str(tmp_path / "events.sqlite3")})
    yield app
    app.close()


def run(app: PhotoShareCommands, command: object, actor: str | None = None):
    return app.execute(command, CommandContext(actor, "test")).value


def register(app: PhotoShareCommands, name: str) -> str:
    return run(app, m.RegisterUser(name, f"{name}@example.com", "hash", display_name=name))


@pytest.mark.parametrize("username", ["ab", "a" * 31, "has space", "dash-ed", "at@sign",
                                      ".dot", "dot.", "two..dots", "zoë", "ｆｕｌｌ"])
def test_usernames_have_a_charset_and_length(app, username) -> None:
    with pytest.raises(e.InvalidUsernameError):
        register(app, username)
    assert app.head_position() == 0


def test_username_and_email_are_unique_case_insensitively(app) -> None:
    register(app, "Alice")
    with pytest.raises(e.UsernameTakenError):
        run(app, m.RegisterUser("aLICE", "other@example.com", "h", display_name="A"))
    with pytest.raises(e.EmailTakenError):
        run(app, m.RegisterUser("alice2", "ALICE@Example.COM", "h", display_name="A"))


def test_profile_update_records_only_real_changes(app) -> None:
    alice = register(app, "alice")
    before = app.head_position()
    run(app, m.UpdateProfile(alice, {"bio": ""}), alice)
    assert app.head_position() == before
    user = run(app, m.UpdateProfile(alice, {"bio": "hello", "age": 30}), alice)
    assert (user.bio, user.age, user.display_name) == ("hello", 30, "alice")
    for bad in ({"age": 12}, {"display_name": " "}, {"username": "x"}, {"bio": "x" * 501}):
        with pytest.raises(e.InvalidValueError):
            run(app, m.UpdateProfile(alice, bad), alice)


def test_follow_rules(app) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    with pytest.raises(e.SelfFollowError):
        run(app, m.FollowUser(alice, alice), alice)
    with pytest.raises(e.UnknownUserError):
        run(app, m.FollowUser(alice, "not-a-uuid"), alice)
    run(app, m.FollowUser(alice, bob), alice)
    position = app.head_position()
    assert app.execute(m.FollowUser(alice, bob), CommandContext(alice, "t")).position == position
    assert app.head_position() == position


def test_only_the_owner_deletes_a_photo_and_a_deleted_photo_is_gone(app) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    photo = run(app, m.PostPhoto(alice, IMAGE, caption="#Sun"), alice)
    with pytest.raises(e.NotPhotoOwnerError):
        run(app, m.DeletePhoto(photo, bob), bob)
    run(app, m.DeletePhoto(photo, alice), alice)
    for command in (m.LikePhoto(photo, bob), m.UnlikePhoto(photo, bob),
                    m.AddComment(photo, bob, "hi"), m.DeletePhoto(photo, alice)):
        with pytest.raises(e.PhotoNotFoundError):
            run(app, command, command.__dict__.get("user_id") or bob)


def test_alt_text_is_cleaned_bounded_and_changed_by_the_owner_only(app) -> None:
    alice, bob = register(app, "alice"), register(app, "bob")
    photo = run(app, m.PostPhoto(alice, IMAGE, alt_text=" A dog\u200b on\nthe beach "), alice)
    posted = app.read_log()[-1]
    assert posted.data["alt_text"] == "A dog on\nthe beach"
    with pytest.raises(e.AltTextTooLongError) as error:
        run(app, m.PostPhoto(alice, IMAGE, alt_text="x" * 1501), alice)
    assert error.value.code == "alt_text_too_long" and error.value.field == "alt_text"
    # Invisible characters do not count: 1,500 visible ones fit.
    run(app, m.PostPhoto(alice, IMAGE, alt_text="x" * 1500 + "\u200b" * 10), alice)

    head = app.head_position()
    with pytest.raises(e.NotPhotoOwnerError):
        run(app, m.ChangePhotoAltText(photo, bob, "mine now"), bob)
    with pytest.raises(e.AltTextTooLongError):
        run(app, m.ChangePhotoAltText(photo, alice, "y" * 1501), alice)
    with pytest.raises(e.InvalidValueError):
        run(app, m.ChangePhotoAltText(photo, alice, "bell\x07"), alice)
    assert app.head_position() == head  # nothing recorded

    changed = run(app, m.ChangePhotoAltText(photo, alice, "Two dogs"), alice)
    assert changed.alt_text == "Two dogs"
    assert app.read_log()[-1].event_type == "PhotoAltTextChanged"
    head = app.head_position()
    run(app, m.ChangePhotoAltText(photo, alice, " Two dogs "), alice)  # the same text
    assert app.head_position() == head
    assert run(app, m.ChangePhotoAltText(photo, alice, "  "), alice).alt_text is None

    run(app, m.DeletePhoto(photo, alice), alice)
    with pytest.raises(e.PhotoNotFoundError):
        run(app, m.ChangePhotoAltText(photo, alice, "gone"), alice)


def test_comment_deletion_by_author_or_photo_owner_only(app) -> None:
    alice, bob, cy = register(app, "alice"), register(app, "bob"), register(app, "cyril")
    photo = run(app, m.PostPhoto(alice, IMAGE), alice)
    first = run(app, m.AddComment(photo, bob, "one"), bob)
    second = run(app, m.AddComment(photo, bob, "two"), bob)
    with pytest.raises(e.NotAllowedToDeleteCommentError):
        run(app, m.DeleteComment(photo, first, cy), cy)
    run(app, m.DeleteComment(photo, first, bob), bob)      # the author
    run(app, m.DeleteComment(photo, second, alice), alice)  # the photo's owner
    with pytest.raises(e.CommentNotFoundError):
        run(app, m.DeleteComment(photo, first, bob), bob)


def test_tags_must_name_existing_users(app) -> None:
    alice = register(app, "alice")
    register(app, "bob")
    with pytest.raises(e.UnknownTaggedUserError):
        run(app, m.PostPhoto(alice, IMAGE, tagged_usernames=("nobody",)), alice)
    photo = run(app, m.PostPhoto(alice, IMAGE, caption="#A #a #b",
                                 tagged_usernames=("BOB", "bob")), alice)
    posted = [env for env in app.read_log() if env.event_type == "PhotoPosted"][0]
    assert posted.data["photo_id"] == photo
    assert posted.data["hashtags"] == ["a", "b"]
    assert len(posted.data["tagged_user_ids"]) == 1


def test_an_unknown_actor_can_do_nothing(app) -> None:
    ghost = "6f0e1665-4072-476e-b017-06092d6d720b"
    with pytest.raises(e.UnknownActorError):
        run(app, m.PostPhoto(ghost, IMAGE), ghost)
    assert app.head_position() == 0


def test_concurrent_commands_keep_the_rules(app) -> None:
    """Threads racing on the same aggregates: the event store's optimistic concurrency
    lets exactly one registration of a name in, and each like and follow happens once."""
    users = [register(app, f"user{i}") for i in range(12)]
    photo = run(app, m.PostPhoto(users[0], IMAGE), users[0])
    unexpected: list[Exception] = []

    def race(user: str, index: int) -> None:
        for _ in range(3):
            try:
                run(app, m.LikePhoto(photo, user), user)
                run(app, m.FollowUser(user, users[0]), user)
                run(app, m.RegisterUser("samename", f"s{index}@x.io", "h", display_name="S"))
            except e.UsernameTakenError:
                pass
            except Exception as error:  # noqa: BLE001 - collected and asserted below
                unexpected.append(error)

    threads = [threading.Thread(target=race, args=(user, i)) for i, user in enumerate(users[1:])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert unexpected == []
    counts = Counter(env.event_type for env in app.iter_log())
    assert counts == {"UserRegistered": 13, "PhotoPosted": 1, "PhotoLiked": 11, "UserFollowed": 11}
