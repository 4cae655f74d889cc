"""Arbitrary sequences of commands never break a rule, and their events replay to the
same state.

A small reference model predicts, for each command, the domain error it must raise or
how many events it must append; the real application runs on a real SQLite event store.
At the end, the log is folded from scratch and compared with the model, and every
aggregate is rehydrated by a fresh application and compared with the live one.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from uuid import UUID, uuid4

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from photoshare.commands import CommandContext, PhotoShareCommands
from photoshare.commands import errors as e
from photoshare.commands import messages as m

USERNAMES = st.sampled_from(["ann", "Ann", "cat", "bob", "BOB", "cy_d", "d.e", "x", ".bad", "a b",
                             "zoë", "eve", "ok_name_that_is_exactly_thirty"])
EMAILS = st.sampled_from(["a@x.io", "A@X.IO", "b@x.io", "c@y.org", "not-an-email", "d@x.io"])
TEXTS = st.sampled_from(["nice", "  ", "#sun and #Sun", "ok\u0000no", "x" * 1001, "👍🏽"])
# Mostly an existing id; 9 stands for one that does not exist.
PICK = st.integers(min_value=0, max_value=9)
IMAGE = m.StoredImage("0" * 64 + ".jpg", "jpeg", 10, 10, {"large": "1" * 64 + ".jpg"})


def open_app(path: Path) -> PhotoShareCommands:
    return PhotoShareCommands(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                                   "SQLITE_DBNAME": str(path)})


def username_is_valid(name: str) -> bool:
    return (3 <= len(name) <= 30 and name.isascii() and not name.startswith(".")
            and not name.endswith(".") and ".." not in name
            and all(c.isalnum() or c in "_." for c in name))


class CommandSequences(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="photoshare-prop-"))
        self.app = open_app(self.dir / "events.sqlite3")
        self.users: dict[str, str] = {}            # lower-case username -> user id
        self.emails: set[str] = set()
        self.follows: set[tuple[str, str]] = set()
        self.photos: dict[str, tuple[str, bool]] = {}   # id -> (owner, deleted)
        self.likes: set[tuple[str, str]] = set()
        self.comments: dict[str, tuple[str, str, bool]] = {}  # id -> (photo, author, deleted)

    # --- picking ids: known ones, or one that does not exist ------------------------

    @staticmethod
    def pick(ids: list[str], index: int) -> str:
        return ids[index % len(ids)] if ids and index < 9 else str(uuid4())

    def user(self, index: int) -> str:
        return self.pick(sorted(self.users.values()), index)

    def photo(self, index: int) -> str:
        return self.pick(sorted(self.photos), index)

    def run(self, command: object, actor: str | None, expected_error: type | None,
            expected_events: int = 0) -> object:
        before = self.app.head_position()
        try:
            result = self.app.execute(command, CommandContext(actor, "prop"))
        except e.DomainError as error:
            assert expected_error is not None, f"unexpected {error!r}"
            assert type(error) is expected_error, f"{error!r}, expected {expected_error}"
            assert self.app.head_position() == before, "a rejected command appended events"
            return None
        assert expected_error is None, f"expected {expected_error.__name__}"
        assert self.app.head_position() - before == expected_events
        assert result.position == self.app.head_position()
        return result.value

    # --- rules ----------------------------------------------------------------------

    @initialize()
    def two_people(self) -> None:
        self.register("ann", "ann@x.io")
        self.register("bob", "bob@x.io")

    @rule(username=USERNAMES, email=EMAILS)
    def register(self, username: str, email: str) -> None:
        expected = None
        if not username_is_valid(username):
            expected = e.InvalidUsernameError
        elif username.lower() in self.users:
            expected = e.UsernameTakenError
        elif email.lower() in self.emails:
            expected = e.EmailTakenError
        elif "@" not in email:
            expected = e.InvalidValueError
        command = m.RegisterUser(username, email, "hash", display_name="Someone")
        # UserRegistered, UsernameClaimed, EmailClaimed, PasswordSet
        user_id = self.run(command, None, expected, 4)
        if expected is None:
            self.users[username.lower()] = user_id
            self.emails.add(email.lower())

    def _graph(self, cls: type, actor_i: int, target_i: int) -> None:
        actor, target = self.user(actor_i), self.user(target_i)
        known = set(self.users.values())
        expected, events = None, 0
        if actor not in known:
            expected = e.UnknownActorError
        elif target not in known:
            expected = e.UnknownUserError
        elif cls is m.FollowUser and actor == target:
            expected = e.SelfFollowError
        else:
            following = (actor, target) in self.follows
            events = int(following != (cls is m.FollowUser))
        self.run(cls(actor, target), actor, expected, events)
        if expected is None:
            (self.follows.add if cls is m.FollowUser else self.follows.discard)((actor, target))

    @rule(actor=PICK, followee=PICK)
    def follow(self, actor: int, followee: int) -> None:
        self._graph(m.FollowUser, actor, followee)

    @rule(actor=PICK, followee=PICK)
    def unfollow(self, actor: int, followee: int) -> None:
        self._graph(m.UnfollowUser, actor, followee)

    @rule(actor=PICK, tag=PICK)
    def post(self, actor: int, tag: int) -> None:
        owner = self.user(actor)
        names = sorted(self.users)
        tagged = (names[tag % len(names)],) if names and tag % 2 else ()
        expected = None if owner in self.users.values() else e.UnknownActorError
        photo_id = self.run(m.PostPhoto(owner, IMAGE, caption="#a #b", tagged_usernames=tagged),
                            owner, expected, 1)
        if expected is None:
            self.photos[photo_id] = (owner, False)

    def _photo_error(self, actor: str, photo: str) -> type | None:
        if actor not in self.users.values():
            return e.UnknownActorError
        if photo not in self.photos or self.photos[photo][1]:
            return e.PhotoNotFoundError
        return None

    @rule(actor=PICK, photo=PICK)
    def delete_photo(self, actor: int, photo: int) -> None:
        user, photo_id = self.user(actor), self.photo(photo)
        expected = self._photo_error(user, photo_id)
        if expected is None and self.photos[photo_id][0] != user:
            expected = e.NotPhotoOwnerError
        self.run(m.DeletePhoto(photo_id, user), user, expected, 1)
        if expected is None:
            self.photos[photo_id] = (user, True)

    def _like(self, cls: type, actor: int, photo: int) -> None:
        user, photo_id = self.user(actor), self.photo(photo)
        expected = self._photo_error(user, photo_id)
        liked = (photo_id, user) in self.likes
        events = int(liked != (cls is m.LikePhoto))
        self.run(cls(photo_id, user), user, expected, events)
        if expected is None:
            (self.likes.add if cls is m.LikePhoto else self.likes.discard)((photo_id, user))

    @rule(actor=PICK, photo=PICK)
    def like(self, actor: int, photo: int) -> None:
        self._like(m.LikePhoto, actor, photo)

    @rule(actor=PICK, photo=PICK)
    def unlike(self, actor: int, photo: int) -> None:
        self._like(m.UnlikePhoto, actor, photo)

    @rule(actor=PICK, photo=PICK, text=TEXTS)
    def comment(self, actor: int, photo: int, text: str) -> None:
        user, photo_id = self.user(actor), self.photo(photo)
        expected = self._photo_error(user, photo_id)
        if expected is None and (not text.strip() or len(text) > 1000 or "\u0000" in text):
            expected = e.InvalidValueError
        comment_id = self.run(m.AddComment(photo_id, user, text), user, expected, 1)
        if expected is None:
            self.comments[comment_id] = (photo_id, user, False)

    @rule(actor=PICK, photo=PICK, comment=PICK)
    def delete_comment(self, actor: int, photo: int, comment: int) -> None:
        user, photo_id = self.user(actor), self.photo(photo)
        comment_id = self.pick(sorted(self.comments), comment)
        expected = self._photo_error(user, photo_id)
        if expected is None:
            on_photo, author, deleted = self.comments.get(comment_id, ("", "", True))
            if deleted or on_photo != photo_id:
                expected = e.CommentNotFoundError
            elif user not in (author, self.photos[photo_id][0]):
                expected = e.NotAllowedToDeleteCommentError
        self.run(m.DeleteComment(photo_id, comment_id, user), user, expected, 1)
        if expected is None:
            self.comments[comment_id] = (photo_id, self.comments[comment_id][1], True)

    # --- the log never breaks a rule, and replays to the model ------------------------

    @invariant()
    def log_replays_to_the_model(self) -> None:
        users, follows, likes, photos, comments = {}, set(), set(), {}, {}
        for env in self.app.iter_log():
            d = env.data
            match env.event_type:
                case "UserRegistered":
                    assert d["username"].lower() not in users, "duplicate username"
                    users[d["username"].lower()] = d["user_id"]
                case "UserFollowed":
                    pair = (d["follower_id"], d["followee_id"])
                    assert pair[0] != pair[1] and pair not in follows
                    assert set(pair) <= set(users.values())
                    follows.add(pair)
                case "UserUnfollowed":
                    follows.remove((d["follower_id"], d["followee_id"]))
                case "PhotoPosted":
                    assert env.actor_id == d["owner_id"] in users.values()
                    assert set(d["tagged_user_ids"]) <= set(users.values())
                    photos[d["photo_id"]] = (d["owner_id"], False)
                case "PhotoDeleted":
                    assert photos[d["photo_id"]] == (env.actor_id, False)
                    photos[d["photo_id"]] = (env.actor_id, True)
                case "PhotoLiked" | "PhotoUnliked":
                    assert photos[d["photo_id"]][1] is False, "acted on a deleted photo"
                    pair = (d["photo_id"], d["user_id"])
                    assert (pair in likes) == (env.event_type == "PhotoUnliked")
                    (likes.add if env.event_type == "PhotoLiked" else likes.remove)(pair)
                case "CommentAdded":
                    assert photos[d["photo_id"]][1] is False, "acted on a deleted photo"
                    comments[d["comment_id"]] = (d["photo_id"], d["author_id"], False)
                case "CommentDeleted":
                    photo_id, author, deleted = comments[d["comment_id"]]
                    assert not deleted and env.actor_id in (author, photos[photo_id][0])
                    comments[d["comment_id"]] = (photo_id, author, True)
        assert (users, follows, likes, photos, comments) == (
            self.users, self.follows, self.likes, self.photos, self.comments)

    def teardown(self) -> None:
        try:
            fresh = open_app(self.dir / "events.sqlite3")
            ids = {UUID(env.aggregate_id) for env in self.app.iter_log(include_internal=True)}
            for aggregate_id in ids:
                live = self.app.repository.get(aggregate_id)
                assert fresh.repository.get(aggregate_id) == live
            fresh.close()
            self.app.close()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


CommandSequences.TestCase.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
test_command_sequences = CommandSequences.TestCase
