"""The command application: load aggregates, call one verb, save; and read the log back.

Every handler is thin. It resolves ids (an unknown or malformed id is a domain error),
asks the aggregate to decide, and returns what to save. `execute` saves atomically and
answers with the position of the last event in the global log, so a client can read its
own write once the projections have passed that position.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial, singledispatchmethod
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Mapper, Notification

from photoshare.commands import messages as m
from photoshare.commands.messages import StoredImage
from photoshare.commands.aggregates import (
    Comment,
    Credentials,
    EmailClaim,
    Follow,
    Like,
    Photo,
    User,
    UsernameClaim,
)
from photoshare.commands.aggregates.control import Block, Mute
from photoshare.commands.aggregates.base import EventSourcedAggregate
from photoshare.commands.aggregates.inbox import Inbox, inbox_id
from photoshare.commands.aggregates.requests import FollowRequests, follow_requests_id
from photoshare.commands.errors import (
    BlockingUserError,
    CommentNotFoundError,
    ConcurrentUpdateError,
    EmailTakenError,
    FollowRequestNotFoundError,
    InvalidValueError,
    PhotoNotFoundError,
    PrivateAccountError,
    UnknownActorError,
    UnknownTaggedUserError,
    UnknownUserError,
    UsernameTakenError,
)
from photoshare.commands.erasure import CLOSERS, Footprint, account_closer
from photoshare.commands.ids import (
    block_id,
    credentials_id,
    email_claim_id,
    follow_id,
    like_id,
    mute_id,
    normalise_username,
    parse_id,
    user_id_for,
    username_claim_id,
)
from photoshare.commands.rules import check_username
from photoshare.commands.sealed_mapper import PersonalDataSealer, SealingMapper
from photoshare.events import Envelope, event_class, event_to_data

A = TypeVar("A", bound=EventSourcedAggregate)

# A command that loses an optimistic-concurrency race is decided again on fresh state.
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class CommandResult:
    """`position`: the global log position the client must wait for to see the change
    (the new last event's, or the log head when the command changed nothing).
    `value`: what the command created or returns (an id, a profile)."""

    position: int
    value: Any = None


@dataclass(frozen=True)
class _Decision:
    to_save: Sequence[EventSourcedAggregate]
    value: Any = None
    # Run once the events are saved (and only then): destroying a deleted account's key.
    after_save: Callable[[], None] | None = None
    # Decided again once the events are saved, on fresh state: what else to save now.
    # For rules between aggregates that no one aggregate guards (a follow and a block of
    # the same pair are decided on different aggregates, so neither command's append
    # conflicts with the other's): each side looks again after its own save, and at
    # least one of two racing commands sees the other's events (the log orders the
    # appends, and each look comes after its own append), so the pair is settled.
    settle: Callable[[], Sequence[EventSourcedAggregate]] | None = None


@dataclass(frozen=True)
class AccountDeletion:
    """What DeleteAccount answers: the images (photos and avatars) whose blobs the
    caller deletes now that the deletion is saved."""

    user_id: str
    images: list[StoredImage]


class PhotoShareCommands(Application):
    """The write side's application service over the `eventsourcing` event store."""

    name = "photoshare"

    def __init__(self, env: Any = None, *, sealer: PersonalDataSealer | None = None) -> None:
        # Without a sealer (tests of the domain alone) personal data is stored in clear.
        self.sealer = sealer
        super().__init__(env)

    def close(self) -> None:
        super().close()
        close = getattr(self.sealer, "close", None)
        if close is not None:
            close()

    def construct_mapper(self) -> Mapper:
        mapper = super().construct_mapper()
        return SealingMapper(mapper, self.sealer) if self.sealer is not None else mapper

    # --- running commands ------------------------------------------------------------

    def execute(self, command: Any, context: m.CommandContext) -> CommandResult:
        """Decide `command` against current state and append the events atomically."""
        for _ in range(MAX_ATTEMPTS):
            decision = self._decide(command, context)
            try:
                recordings = self.save(*decision.to_save)
            except IntegrityError:
                continue  # someone else appended first: decide again on the new state
            if decision.after_save is not None:
                decision.after_save()
            if decision.settle is not None:
                recordings = [*recordings, *self._save_settled(decision.settle)]
            if recordings:
                return CommandResult(max(r.notification.id for r in recordings), decision.value)
            return CommandResult(self.head_position(), decision.value)
        raise ConcurrentUpdateError("the resource changed concurrently; try again")

    def _save_settled(self, settle: Callable[[], Sequence[EventSourcedAggregate]]) -> list[Any]:
        """Save what `settle` decides, deciding again when another command got there
        first (then it usually finds nothing left to do)."""
        for _ in range(MAX_ATTEMPTS):
            try:
                return list(self.save(*settle()))
            except IntegrityError:
                continue
        raise ConcurrentUpdateError("the resource changed concurrently; try again")

    def check(self, command: Any, context: m.CommandContext) -> None:
        """Raise the domain error `command` would raise now, without saving anything:
        lets the caller refuse bad input before costly work (hashing a password)."""
        self._decide(command, context)

    def head_position(self) -> int:
        """Position of the newest event in the log (0 for an empty log)."""
        return self.recorder.max_notification_id() or 0

    @singledispatchmethod
    def _decide(self, command: Any, context: m.CommandContext) -> _Decision:
        raise TypeError(f"no handler for {type(command).__name__}")

    @_decide.register
    def _register(self, command: m.RegisterUser, context: m.CommandContext) -> _Decision:
        check_username(command.username)
        # One read of each claim, decided on and saved: a claim read twice could change
        # in between (a racing registration), and reclaiming a held one would steal it.
        name_claim = self._get(UsernameClaim, username_claim_id(command.username))
        if self._user_id_by_username(command.username, name_claim) is not None:
            raise UsernameTakenError("that username is taken")
        email_claim = self._get(EmailClaim, email_claim_id(command.email))
        if email_claim is not None and email_claim.held:
            raise EmailTakenError("that email address is already registered")
        profile = {"display_name": command.display_name, "bio": command.bio,
                   "location": command.location, "age": command.age}
        user = User.register(username=command.username, profile=profile, context=context)
        # A released claim (its account was deleted) is claimed again: the next version
        # of the same aggregate, so two registrations of the name still race safely.
        if name_claim is None:
            name_claim = UsernameClaim.claim(username=command.username, user_id=user.id,
                                             context=context)
        else:
            name_claim.reclaim(command.username, user.id, context)
        if email_claim is None:
            email_claim = EmailClaim.claim(email=command.email, user_id=user.id,
                                           context=context)
        else:
            email_claim.reclaim(command.email, user.id, context)
        credentials = Credentials.create(user_id=user.id, password_hash=command.password_hash,
                                         context=context)
        return _Decision([user, name_claim, email_claim, credentials], str(user.id))

    @_decide.register
    def _update_profile(self, command: m.UpdateProfile, context: m.CommandContext) -> _Decision:
        user = self._actor(command.user_id)
        was_private = user.private
        user.update_profile(command.changes, context)
        if not (was_private and not user.private):
            return _Decision([user], user)
        # Made public: every pending request becomes a follow, in this same command.
        requests = self._get(FollowRequests, follow_requests_id(user.id))
        if requests is None:
            return _Decision([user], user)
        follows = [self._follow_from(follower, user.id, context)
                   for follower in requests.approve_all(context)]
        return _Decision([user, requests, *follows], user)

    def _follow_from(self, follower_id: UUID, followee_id: UUID,
                     context: m.CommandContext) -> Follow:
        """The pair's Follow, following now (a UserFollowed recorded unless it already
        was)."""
        follow = self._get(Follow, follow_id(follower_id, followee_id))
        if follow is None:
            return Follow.start(follower_id, followee_id, context)
        follow.follow(context)
        return follow

    @_decide.register
    def _change_avatar(self, command: m.ChangeAvatar, context: m.CommandContext) -> _Decision:
        user = self._actor(command.user_id)
        user.change_avatar(command.image, context)
        return _Decision([user], user)

    @_decide.register
    def _post_photo(self, command: m.PostPhoto, context: m.CommandContext) -> _Decision:
        owner = self._actor(command.owner_id)
        # dict.fromkeys: one tag per person, however the name was spelled.
        tagged = list(dict.fromkeys(self._tagged_user_id(n, owner.id)
                                    for n in command.tagged_usernames))
        photo = Photo.post(owner_id=owner.id, image=command.image, caption=command.caption,
                           location=command.location, tagged_user_ids=tagged, context=context,
                           alt_text=command.alt_text)
        return _Decision([photo], str(photo.id))

    @_decide.register
    def _change_photo_alt_text(self, command: m.ChangePhotoAltText,
                               context: m.CommandContext) -> _Decision:
        """Value: the photo (its image and alt text, for the answer)."""
        user = self._actor(command.user_id)
        photo = self._live_photo(command.photo_id)
        photo.change_alt_text(user.id, command.alt_text, context)
        return _Decision([photo], photo)

    @_decide.register
    def _delete_photo(self, command: m.DeletePhoto, context: m.CommandContext) -> _Decision:
        """Value: the deleted photo's StoredImage, so the caller can delete its blobs once
        the deletion is saved."""
        user = self._actor(command.user_id)
        photo = self._live_photo(command.photo_id)
        photo.delete(user.id, context)
        return _Decision([photo], photo.image)

    @_decide.register
    def _follow(self, command: m.FollowUser, context: m.CommandContext) -> _Decision:
        """Value: "requested" when the followee is private and the follow now waits for
        their approval (asking again while pending records nothing), else None."""
        follower = self._actor(command.follower_id)
        followee = self._user(command.followee_id)
        Follow.check_not_self(follower.id, followee.id)
        if self._blocks(followee.id, follower.id):
            raise UnknownUserError("no such user")  # as if the blocker did not exist
        if self._blocks(follower.id, followee.id):
            raise BlockingUserError("you blocked this person: unblock them to follow them")
        follow = self._get(Follow, follow_id(follower.id, followee.id))
        if follow is not None and follow.active:
            return _Decision([])
        settle = partial(self._end_pair_if_blocked, follower.id, followee.id, context)
        if followee.private:
            requests = self._get(FollowRequests, follow_requests_id(followee.id))
            if requests is None:
                requests = FollowRequests.start(follower.id, followee.id, context)
            else:
                requests.request(follower.id, context)
            return _Decision([requests], "requested", settle=settle)
        return _Decision([self._follow_from(follower.id, followee.id, context)], settle=settle)

    @_decide.register
    def _unfollow(self, command: m.UnfollowUser, context: m.CommandContext) -> _Decision:
        """Stops following, and withdraws a pending request."""
        follower = self._actor(command.follower_id)
        followee = self._user(command.followee_id)
        changed: list[EventSourcedAggregate] = []
        follow = self._get(Follow, follow_id(follower.id, followee.id))
        if follow is not None:
            follow.unfollow(context)
            changed.append(follow)
        requests = self._get(FollowRequests, follow_requests_id(followee.id))
        if requests is not None:
            requests.withdraw(follower.id, context)
            changed.append(requests)
        return _Decision(changed)

    @_decide.register
    def _approve_request(self, command: m.ApproveFollowRequest,
                         context: m.CommandContext) -> _Decision:
        owner = self._actor(command.user_id)
        requests = self._requests_to(owner)
        follower_id = self._requester_id(command.follower_id)
        requests.approve(follower_id, context)
        return _Decision([requests, self._follow_from(follower_id, owner.id, context)])

    @_decide.register
    def _decline_request(self, command: m.DeclineFollowRequest,
                         context: m.CommandContext) -> _Decision:
        owner = self._actor(command.user_id)
        requests = self._requests_to(owner)
        requests.decline(self._requester_id(command.follower_id), context)
        return _Decision([requests])

    def _check_may_see(self, user_id: UUID, owner_id: str | UUID) -> None:
        """Only the owner and approved followers of a private account may like or comment
        on its photos (the read side's rule, readapi/visibility.py, for writes)."""
        owner = self._get(User, parse_id(owner_id))
        if owner is None or not owner.private or owner.id == user_id:
            return
        follow = self._get(Follow, follow_id(user_id, owner.id))
        if follow is None or not follow.active:
            raise PrivateAccountError("this account is private: only its approved followers "
                                      "can like or comment on its photos")

    def _requests_to(self, owner: User) -> FollowRequests:
        requests = self._get(FollowRequests, follow_requests_id(owner.id))
        if requests is None:
            raise FollowRequestNotFoundError("no pending follow request from that user")
        return requests

    @staticmethod
    def _requester_id(follower_id: str) -> UUID:
        parsed = parse_id(follower_id)
        if parsed is None:
            raise FollowRequestNotFoundError("no pending follow request from that user")
        return parsed

    @_decide.register
    def _like(self, command: m.LikePhoto, context: m.CommandContext) -> _Decision:
        user = self._actor(command.user_id)
        photo = self._reachable_photo(command.photo_id, user.id)
        self._check_may_see(user.id, photo.owner_id)
        like = self._get(Like, like_id(photo.id, user.id))
        if like is None:
            return _Decision([Like.start(photo.id, photo.owner_id, user.id, context)])
        like.like(context)
        return _Decision([like])

    @_decide.register
    def _unlike(self, command: m.UnlikePhoto, context: m.CommandContext) -> _Decision:
        user = self._actor(command.user_id)
        photo = self._live_photo(command.photo_id)
        like = self._get(Like, like_id(photo.id, user.id))
        if like is None:
            return _Decision([])
        like.unlike(context)
        return _Decision([like])

    @_decide.register
    def _add_comment(self, command: m.AddComment, context: m.CommandContext) -> _Decision:
        author = self._actor(command.author_id)
        photo = self._reachable_photo(command.photo_id, author.id)
        self._check_may_see(author.id, photo.owner_id)
        comment = Comment.add(photo_id=photo.id, photo_owner_id=photo.owner_id,
                              author_id=author.id, text=command.text, context=context)
        return _Decision([comment], str(comment.id))

    @_decide.register
    def _delete_comment(self, command: m.DeleteComment, context: m.CommandContext) -> _Decision:
        user = self._actor(command.user_id)
        photo = self._live_photo(command.photo_id)
        comment = self._get(Comment, parse_id(command.comment_id))
        if comment is None or comment.deleted or comment.photo_id != str(photo.id):
            raise CommentNotFoundError("no such comment on this photo")
        comment.delete(user.id, photo.owner_id, context)
        return _Decision([comment])

    @_decide.register
    def _block(self, command: m.BlockUser, context: m.CommandContext) -> _Decision:
        """Block, and end the pair's follows both ways in the same append (as
        `UserUnfollowed` events, so every view that follows the graph needs nothing new)."""
        blocker = self._actor(command.blocker_id)
        blocked = self._user(command.blocked_id)
        Block.check_not_self(blocker.id, blocked.id)
        block = self._get(Block, block_id(blocker.id, blocked.id))
        if block is None:
            block = Block.start(blocker.id, blocked.id, context)
        else:
            block.block(context)  # already blocked: records nothing
        return _Decision([block, *self._end_pair(blocker.id, blocked.id, context)],
                         settle=partial(self._end_pair_if_blocked, blocker.id, blocked.id,
                                        context))

    def _end_pair(self, blocker_id: UUID, blocked_id: UUID,
                  context: m.CommandContext) -> list[EventSourcedAggregate]:
        """What a block ends between two people: their follows both ways, and pending
        follow requests (the blocked person's request to the blocker is declined, the
        blocker's to the blocked person withdrawn). Only what changed is returned."""
        changed: list[EventSourcedAggregate] = []
        for follower_id, followee_id in ((blocker_id, blocked_id), (blocked_id, blocker_id)):
            follow = self._get(Follow, follow_id(follower_id, followee_id))
            if follow is not None and follow.active:
                follow.unfollow(context)
                changed.append(follow)
        for requester_id, owner_id in ((blocked_id, blocker_id), (blocker_id, blocked_id)):
            requests = self._get(FollowRequests, follow_requests_id(owner_id))
            if requests is not None and requests.is_pending(requester_id):
                if owner_id == blocker_id:
                    requests.decline(requester_id, context)
                else:
                    requests.withdraw(requester_id, context)
                changed.append(requests)
        return changed

    def _end_pair_if_blocked(self, one: UUID, other: UUID,
                             context: m.CommandContext) -> list[EventSourcedAggregate]:
        """After a follow, a follow request or a block of the pair is saved: if either
        blocks the other now, what a block ends is ended (a follow that raced a block
        does not outlive it)."""
        for blocker_id, blocked_id in ((one, other), (other, one)):
            if self._blocks(blocker_id, blocked_id):
                return self._end_pair(blocker_id, blocked_id, context)
        return []

    @_decide.register
    def _unblock(self, command: m.UnblockUser, context: m.CommandContext) -> _Decision:
        blocker = self._actor(command.blocker_id)
        blocked = self._user(command.blocked_id)
        block = self._get(Block, block_id(blocker.id, blocked.id))
        if block is None:
            return _Decision([])
        block.unblock(context)
        return _Decision([block])

    @_decide.register
    def _mute(self, command: m.MuteUser, context: m.CommandContext) -> _Decision:
        muter = self._actor(command.muter_id)
        muted = self._user(command.muted_id)
        Mute.check_not_self(muter.id, muted.id)
        mute = self._get(Mute, mute_id(muter.id, muted.id))
        if mute is None:
            return _Decision([Mute.start(muter.id, muted.id, context)])
        mute.mute(context)
        return _Decision([mute])

    @_decide.register
    def _unmute(self, command: m.UnmuteUser, context: m.CommandContext) -> _Decision:
        muter = self._actor(command.muter_id)
        muted = self._user(command.muted_id)
        mute = self._get(Mute, mute_id(muter.id, muted.id))
        if mute is None:
            return _Decision([])
        mute.unmute(context)
        return _Decision([mute])

    @_decide.register
    def _delete_account(self, command: m.DeleteAccount, context: m.CommandContext) -> _Decision:
        """Undo what the person did (commands.erasure), then AccountDeleted; once saved,
        destroy their key. Value: AccountDeletion (the images to delete)."""
        user = self._actor(command.user_id)
        footprint = Footprint.of(str(user.id), self.log_naming(str(user.id)))
        to_save: list[EventSourcedAggregate] = []
        for closer in CLOSERS:
            to_save.extend(closer(self, user, footprint, context))
        images = [*footprint.images, *(a.image for a in to_save if isinstance(a, Photo))]
        user.delete(context)
        to_save.append(user)
        user_id = str(user.id)

        return _Decision(to_save, AccountDeletion(user_id, images),
                         after_save=lambda: self.forget_personal_key(user_id))

    @_decide.register
    def _mark_notifications_read(self, command: m.MarkNotificationsRead,
                                 context: m.CommandContext) -> _Decision:
        user = self._actor(command.user_id)
        up_to = parse_id(command.up_to)
        if up_to is None:
            raise InvalidValueError("up_to", "must be a notification id")
        inbox = self._get(Inbox, inbox_id(user.id))
        if inbox is None:
            return _Decision([Inbox.start(user.id, up_to, context)])
        inbox.mark_read(up_to, context)
        return _Decision([inbox])

    # --- loading -----------------------------------------------------------------------

    def _get(self, cls: type[A], aggregate_id: UUID | None) -> A | None:
        if aggregate_id is None:
            return None
        try:
            aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        # A well-formed id of another kind of aggregate is as unknown as a missing one.
        return aggregate if isinstance(aggregate, cls) else None

    def _exists(self, aggregate_id: UUID) -> bool:
        return aggregate_id in self.repository

    def _user(self, user_id: str) -> User:
        user = self._live_user(parse_id(user_id))
        if user is None:
            raise UnknownUserError("no such user")
        return user

    def _actor(self, user_id: str | None) -> User:
        user = self._live_user(parse_id(user_id)) if user_id else None
        if user is None:
            raise UnknownActorError("the acting user does not exist")
        return user

    def _live_user(self, user_id: UUID | None) -> User | None:
        user = self._get(User, user_id)
        return user if user is not None and not user.deleted else None

    def _user_id_by_username(self, username: str,
                             claim: UsernameClaim | None | bool = False) -> UUID | None:
        """The live account holding `username`: by its claim (accounts registered since
        usernames can be released), else by the id older accounts derive from it.
        `claim`: the claim already loaded (False: load it)."""
        if claim is False:
            claim = self._get(UsernameClaim, username_claim_id(username))
        if claim is not None and claim.held:
            return parse_id(claim.user_id)
        legacy = self._live_user(user_id_for(username))
        return legacy.id if legacy is not None and \
            normalise_username(legacy.username) == normalise_username(username) else None

    def _tagged_user_id(self, username: str, owner_id: UUID) -> UUID:
        user_id = self._user_id_by_username(username)
        # A person blocked either way is answered as an unknown one: nothing tells the
        # blocked person that the block exists.
        if user_id is None or self._blocked_between(owner_id, user_id):
            raise UnknownTaggedUserError(username)
        return user_id

    def _blocks(self, blocker_id: UUID, blocked_id: UUID) -> bool:
        block = self._get(Block, block_id(blocker_id, blocked_id))
        return block is not None and block.active

    def _blocked_between(self, one: UUID, other: UUID) -> bool:
        """Whether either of the two blocks the other."""
        return one != other and (self._blocks(one, other) or self._blocks(other, one))

    def _reachable_photo(self, photo_id: str, user_id: UUID) -> Photo:
        """A live photo `user_id` may like or comment on: while the owner and the user
        block each other (either way) it is answered as missing, as the read side does
        (a block is decided on separate aggregates, so a like racing a block may get
        in; the read side hides it anyway)."""
        photo = self._live_photo(photo_id)
        if self._blocked_between(UUID(photo.owner_id), user_id):
            raise PhotoNotFoundError("no such photo")
        return photo

    def _live_photo(self, photo_id: str) -> Photo:
        photo = self._get(Photo, parse_id(photo_id))
        if photo is None or photo.deleted:
            raise PhotoNotFoundError("no such photo")
        return photo

    # --- queries the write side needs --------------------------------------------------

    def user(self, user_id: str) -> User:
        """The current User aggregate; UnknownUserError if there is none."""
        return self._user(user_id)

    def credentials_for_login(self, login: str) -> Credentials | None:
        """The credentials of the live user whose username or email is `login`, if any."""
        if "@" in login:
            claim = self._get(EmailClaim, email_claim_id(login))
            user_id = parse_id(claim.user_id) if claim and claim.held else None
        else:
            user_id = self._user_id_by_username(login)
        return self.credentials_of(str(user_id)) if user_id else None

    def credentials_of(self, user_id: str) -> Credentials | None:
        """The credentials of a live user (None once the account is deleted)."""
        user = self._live_user(parse_id(user_id))
        return self._get(Credentials, credentials_id(user.id)) if user else None

    def forget_personal_key(self, user_id: str) -> None:
        """Destroy a deleted person's key (idempotent): what DeleteAccount does once the
        deletion is saved, and what the relay and `events seal-legacy` make sure of."""
        if self.sealer is not None:
            self.sealer.forget(user_id)

    # --- the log, as envelopes ---------------------------------------------------------

    def read_batch(self, after: int = 0, limit: int = 1000, *,
                   include_internal: bool = False,
                   sealed: bool = False) -> tuple[list[Envelope], int]:
        """Envelopes of up to `limit` events after position `after`, and the position of
        the last event read (internal ones included), so a reader can move past them.
        `sealed`: personal fields redacted in `data` and encrypted in `sealed` (what the
        relay publishes), rather than in clear."""
        notifications = self.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )
        envelopes = [self._envelope(n, sealed=sealed) for n in notifications]
        last = notifications[-1].id if notifications else after
        if not include_internal:
            envelopes = [e for e in envelopes if not _is_internal(e.event_type)]
        return envelopes, last

    def read_log(self, after: int = 0, limit: int = 1000, *,
                 include_internal: bool = False) -> list[Envelope]:
        """Envelopes of the events after position `after`, in log order."""
        return self.read_batch(after, limit, include_internal=include_internal)[0]

    def iter_log(self, after: int = 0, *, batch: int = 1000,
                 include_internal: bool = False) -> Iterator[Envelope]:
        """Every envelope after `after`, read in batches."""
        while True:
            envelopes, last = self.read_batch(after, batch, include_internal=include_internal)
            if last == after:
                return
            yield from envelopes
            after = last

    def log_naming(self, user_id: str, *, batch: int = 5000) -> Iterator[Envelope]:
        """The envelopes (internal ones included) that may name `user_id` in their data,
        in log order: what `Footprint.of` keeps of the whole log, found in one pass.

        Ids are never personal fields (a test holds every event type to it), so they are
        in clear in the stored JSON of every event that names them: an event whose
        stored bytes do not hold the id is passed over without being decoded or opened
        (~27 µs an event, most of the pass). When events are stored compressed or
        encrypted whole (an eventsourcing COMPRESSOR_TOPIC or CIPHER_TOPIC), every event
        is decoded, as `iter_log` does."""
        plain = self.mapper.compressor is None and self.mapper.cipher is None
        needle = user_id.encode()
        after = 0
        while True:
            notifications = self.recorder.select_notifications(
                start=after, limit=batch, inclusive_of_start=False)
            if not notifications:
                return
            for notification in notifications:
                if not plain or needle in bytes(notification.state):
                    yield self._envelope(notification)
            after = notifications[-1].id

    def _envelope(self, notification: Notification, *, sealed: bool = False) -> Envelope:
        stored = self.mapper.to_domain_event(notification)
        event = stored.public_event()
        data, seal = event_to_data(event), None
        if sealed:
            if self.sealer is None:
                raise RuntimeError("sealed envelopes need the key store (a sealer)")
            data, seal = self.sealer.seal(stored.event_type, data)
        return Envelope(
            event_id=stored.event_id,
            event_type=stored.event_type,
            schema_version=event.schema_version,
            aggregate_id=str(stored.originator_id),
            aggregate_version=stored.originator_version,
            position=notification.id,
            occurred_at=stored.timestamp,
            actor_id=stored.actor_id,
            correlation_id=stored.correlation_id,
            data=data,
            sealed=seal,
        )


# --- what deleting an account undoes (commands.erasure) --------------------------------


@account_closer
def _delete_photos(app: PhotoShareCommands, user: User, footprint: Footprint,
                   context: m.CommandContext) -> list[EventSourcedAggregate]:
    photos = [app._get(Photo, i) for i in footprint.aggregates(
        "PhotoPosted", lambda d: d["owner_id"] == str(user.id))]
    for photo in photos:
        if photo is not None and not photo.deleted:
            photo.delete(user.id, context)
    return [p for p in photos if p is not None and p.pending_events]


@account_closer
def _delete_comments(app: PhotoShareCommands, user: User, footprint: Footprint,
                     context: m.CommandContext) -> list[EventSourcedAggregate]:
    changed = []
    for comment_id in footprint.aggregates("CommentAdded",
                                           lambda d: d["author_id"] == str(user.id)):
        comment = app._get(Comment, comment_id)
        if comment is not None and not comment.deleted:
            comment.delete(user.id, "", context)  # as its author
            changed.append(comment)
    return changed


@account_closer
def _take_back_likes(app: PhotoShareCommands, user: User, footprint: Footprint,
                     context: m.CommandContext) -> list[EventSourcedAggregate]:
    changed = []
    for like_id_ in footprint.aggregates("PhotoLiked", lambda d: d["user_id"] == str(user.id)):
        like = app._get(Like, like_id_)
        if like is not None and like.active:
            like.unlike(context)
            changed.append(like)
    return changed


@account_closer
def _end_follows(app: PhotoShareCommands, user: User, footprint: Footprint,
                 context: m.CommandContext) -> list[EventSourcedAggregate]:
    changed = []
    for follow_id_ in footprint.aggregates("UserFollowed"):  # both ways
        follow = app._get(Follow, follow_id_)
        if follow is not None and follow.active:
            follow.unfollow(context)
            changed.append(follow)
    return changed


@account_closer
def _end_follow_requests(app: PhotoShareCommands, user: User, footprint: Footprint,
                         context: m.CommandContext) -> list[EventSourcedAggregate]:
    """Requests to the person are declined, the person's own requests withdrawn."""
    changed: list[EventSourcedAggregate] = []
    me = str(user.id)
    for requests_id in footprint.aggregates("FollowRequested"):
        requests = app._get(FollowRequests, requests_id)
        if requests is None:
            continue
        if requests.followee_id == me:
            for follower in list(requests.pending):
                requests.decline(UUID(follower), context)
        else:
            requests.withdraw(user.id, context)
        if requests.pending_events:
            changed.append(requests)
    return changed


@account_closer
def _lift_blocks_and_mutes(app: PhotoShareCommands, user: User, footprint: Footprint,
                           context: m.CommandContext) -> list[EventSourcedAggregate]:
    """Blocks and mutes, by the person and of the person, end (the controls view keeps
    only ids of ended pairs, no personal data)."""
    changed: list[EventSourcedAggregate] = []
    for block_id_ in footprint.aggregates("UserBlocked"):
        block = app._get(Block, block_id_)
        if block is not None and block.active:
            block.unblock(context)
            changed.append(block)
    for mute_id_ in footprint.aggregates("UserMuted"):
        mute = app._get(Mute, mute_id_)
        if mute is not None and mute.active:
            mute.unmute(context)
            changed.append(mute)
    return changed


@account_closer
def _release_claims(app: PhotoShareCommands, user: User, footprint: Footprint,
                    context: m.CommandContext) -> list[EventSourcedAggregate]:
    changed: list[EventSourcedAggregate] = []
    for cls, event_type in ((UsernameClaim, "UsernameClaimed"), (EmailClaim, "EmailClaimed")):
        for claim_id in footprint.aggregates(event_type):
            claim = app._get(cls, claim_id)
            if claim is not None and claim.user_id == str(user.id):
                claim.release(context)
                changed.append(claim)
    return changed


def _is_internal(event_type: str) -> bool:
    cls = event_class(event_type)
    return cls is None or cls.internal

