"""`Idempotency-Key` on POST (API.md, "Additions"), with Stripe's semantics: a client that
sends a key may retry the request safely. The same key with the same body within the TTL
(24 h) gets the first answer again (status, body, `X-Event-Position`, plus
`Idempotent-Replayed: true`) and appends nothing; the same key with another body is 422
`idempotency_key_reused`; a retry while the first request is still running is 409
`idempotency_key_in_use` (Retry-After: 1).

* Keys belong to a caller: the user of a valid bearer token, or, without one, the client's
  address. Two users never see each other's answers, and one user's key works across
  tokens (a retry after logging in again still finds its answer).
* The body is fingerprinted while it is read (uploads included, within the body limit
  of the middleware outside this one), then handed to the app unchanged. Multipart
  parts are hashed without their random boundary and JSON without its formatting, so a
  client that encodes the same request again is recognised.
* Only final answers are kept: 2xx and 4xx other than 401, 408, 409, 425 and 429. A
  5xx or an exception frees the key at once, so the client can try again.
* The answers live behind `IdempotencyStore`: a SQLite file (`infra/sqlite/idempotency.py`:
  one machine, survives restarts) or Redis (`infra/redis/idempotency.py`: every write API
  process).

What this cannot do: if the process dies after the app appended its events but before
the answer is kept, the key frees itself after `lock_seconds` and a retry runs again.
"""

from __future__ import annotations

import abc
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import anyio
from photoshare.infra.http.web import (
    ApiError,
    bearer_token,
    error_response,
    verified_user_id,
)
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("photoshare.http.idempotency")

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
_KEY = re.compile(rf"^[\x20-\x7e]{{1,{MAX_KEY_LENGTH}}}$")  # printable ASCII, no controls
# The headers an answer is replayed with; X-Request-ID and the like belong to each request.
KEPT_HEADERS = frozenset({b"content-type", b"cache-control", b"location",
                          b"x-event-position", b"www-authenticate"})
# 4xx answers that may change on a retry: they are never kept.
TRANSIENT_STATUSES = frozenset({401, 408, 409, 425, 429})
# Write answers are a few hundred bytes; anything much larger is not worth keeping.
MAX_KEPT_BODY = 256 * 1024


# --- the store port ---------------------------------------------------------------------


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True)
class Reserved:
    """The key is this request's until it completes or releases it."""
    token: str
    fingerprint: str


@dataclass(frozen=True)
class InFlight:
    """Another request with this key is running."""
    fingerprint: str


@dataclass(frozen=True)
class Completed:
    fingerprint: str
    answer: StoredAnswer


Reservation = Reserved | InFlight | Completed


class IdempotencyStore(abc.ABC):
    """Keys to answers. `reserve` is atomic across every process sharing the store: of
    concurrent reservations of a free key, exactly one gets `Reserved`. A reservation
    lasts `lock_seconds` (so a crashed request frees its key); an answer `ttl_seconds`."""

    def __init__(self, *, ttl_seconds: float, lock_seconds: float) -> None:
        self.ttl_seconds, self.lock_seconds = ttl_seconds, lock_seconds

    @abc.abstractmethod
    def reserve(self, key: str, fingerprint: str) -> Reservation:
        """Take a free (or expired) key, or say what holds it."""

    @abc.abstractmethod
    def complete(self, key: str, reservation: Reserved, answer: StoredAnswer) -> bool:
        """Keep the answer of a reservation still held; False if it was lost (expired)."""

    @abc.abstractmethod
    def release(self, key: str, reservation: Reserved) -> None:
        """Free a key held by this reservation (no answer to keep)."""

    def close(self) -> None:
        pass


def encode_entry(fingerprint: str, *, token: str | None = None,
                 answer: StoredAnswer | None = None) -> bytes:
    """One entry as bytes: a JSON line of metadata, then the answer's body."""
    meta: dict[str, Any] = {"fingerprint": fingerprint}
    if answer is None:
        meta["token"] = token
    else:
        meta.update(status=answer.status, headers=[list(h) for h in answer.headers])
    head = json.dumps(meta, separators=(",", ":"), sort_keys=True).encode()
    return head + b"\n" + (answer.body if answer else b"")


def decode_entry(value: bytes) -> InFlight | Completed:
    head, _, body = value.partition(b"\n")
    meta = json.loads(head)
    if "status" not in meta:
        return InFlight(meta["fingerprint"])
    headers = tuple((str(name), str(text)) for name, text in meta["headers"])
    return Completed(meta["fingerprint"], StoredAnswer(int(meta["status"]), headers, body))


def new_reservation(fingerprint: str) -> Reserved:
    return Reserved(uuid.uuid4().hex, fingerprint)


def reservation_entry(reservation: Reserved) -> bytes:
    return encode_entry(reservation.fingerprint, token=reservation.token)


# --- fingerprints ------------------------------------------------------------------------


class Fingerprint:
    """A digest of what a request asks for, fed the body as it arrives: method, path,
    query, media type and body; a multipart body by its parts in order (not by its
    random boundary), a JSON body by its value (not its formatting). Two requests the
    app could tell apart never share a fingerprint."""

    def __init__(self, method: str, path: str, query: bytes, content_type: str) -> None:
        media_type, options = parse_options_header(content_type)
        self._media_type = media_type.decode("latin-1").lower()
        self._prefix = b"\0".join([method.encode(), path.encode(), query,
                                   self._media_type.encode()])
        self._raw = hashlib.sha256()
        self._json: list[bytes] | None = [] if self._media_type == "application/json" else None
        self._parts: list[bytes] = []
        self._multipart_ended = False
        self._multipart = self._multipart_parser(options.get(b"boundary"))

    def update(self, chunk: bytes) -> None:
        self._raw.update(chunk)
        if self._json is not None:
            self._json.append(chunk)
        if self._multipart is not None:
            try:
                self._multipart.write(chunk)
            except Exception:  # noqa: BLE001 - not valid multipart: the raw bytes decide
                self._multipart = None

    def hexdigest(self) -> str:
        digest = hashlib.sha256(self._prefix + b"\0")
        if self._json is not None and (canonical := _canonical_json(b"".join(self._json))):
            digest.update(b"json\0" + canonical)
        elif self._multipart is not None and self._multipart_ended:
            digest.update(b"multipart\0" + b"".join(self._parts))
        else:
            digest.update(b"raw\0" + self._raw.digest())
        return digest.hexdigest()

    def _multipart_parser(self, boundary: bytes | None) -> MultipartParser | None:
        """Hashes each part (its headers, names lower-cased, then its data) on its own."""
        if self._media_type != "multipart/form-data" or not boundary:
            return None
        part, field, value = hashlib.sha256(), bytearray(), bytearray()

        def begin() -> None:
            nonlocal part
            part = hashlib.sha256()

        def header_end() -> None:
            part.update(bytes(field).lower() + b":" + bytes(value) + b"\0")
            field.clear()
            value.clear()

        callbacks = {
            "on_part_begin": begin,
            "on_header_field": lambda data, start, end: field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: value.extend(data[start:end]),
            "on_header_end": header_end,
            "on_headers_finished": lambda: part.update(b"\0"),
            "on_part_data": lambda data, start, end: part.update(data[start:end]),
            "on_part_end": lambda: self._parts.append(part.digest()),
            "on_end": self._end_multipart,
        }
        return MultipartParser(boundary, callbacks)  # type: ignore[arg-type]

    def _end_multipart(self) -> None:
        self._multipart_ended = True  # else (cut short) the raw bytes decide


def _canonical_json(body: bytes) -> bytes | None:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to walk
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


# --- the middleware ----------------------------------------------------------------------


class IdempotencyMiddleware:
    """Replays kept answers to POST requests that carry an `Idempotency-Key` (module
    docstring). Put it inside the body limit (bodies are read whole before the app
    runs) and inside the request ids (replays get their own). `unkept_paths` are
    answered as if no key were sent (log-ins: they append nothing, and their answers
    are bearer tokens, which must not sit in the store)."""

    def __init__(self, app: ASGIApp, *, store: IdempotencyStore,
                 unkept_paths: Collection[str] = ()) -> None:
        self.app, self.store, self.unkept_paths = app, store, frozenset(unkept_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._closing_on_shutdown(send))
            return
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        keys = [value for name, value in scope["headers"] if name == b"idempotency-key"]
        if not keys:
            await self.app(scope, receive, send)
            return
        key = keys[0].decode("latin-1")
        if len(keys) > 1 or not _KEY.match(key):
            await error_response(400, "invalid_idempotency_key", (
                f"{IDEMPOTENCY_KEY_HEADER} must be one value of 1 to {MAX_KEY_LENGTH} "
                "printable ASCII characters"))(scope, receive, send)
            return
        if scope["path"] in self.unkept_paths:
            await self.app(scope, receive, send)
            return
        caller = await run_in_threadpool(_caller, scope)  # revocations may be remote
        if caller is None:
            await self.app(scope, receive, send)  # an invalid token: the app answers 401
            return
        await self._handle(scope, receive, send, storage_key(caller, key))

    async def _handle(self, scope: Scope, receive: Receive, send: Send, key: str) -> None:
        messages, fingerprint = await _read_body(scope, receive)
        replay = _replaying(messages, receive)
        if fingerprint is None:  # the client went away mid-body: let the app see that
            await self.app(scope, replay, send)
            return
        try:
            found = await run_in_threadpool(self.store.reserve, key, fingerprint)
        except Exception:  # noqa: BLE001 - without the store, running could write twice
            log.exception("the idempotency store cannot be reached")
            await error_response(503, "idempotency_unavailable",
                                 "idempotency keys cannot be checked right now; retry",
                                 {"Retry-After": "1"})(scope, replay, send)
            return
        if not isinstance(found, Reserved):
            await _answer_for(found, fingerprint)(scope, replay, send)
            return
        await self._run_and_keep(scope, replay, send, key, found)

    async def _run_and_keep(self, scope: Scope, receive: Receive, send: Send, key: str,
                            reservation: Reserved) -> None:
        sent: list[Message] = []

        async def capture(message: Message) -> None:
            sent.append(message)

        try:
            await self.app(scope, receive, capture)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._release(key, reservation)
            raise
        answer = _kept_answer(sent)
        if answer is None:
            await self._release(key, reservation)
        else:
            try:
                if not await run_in_threadpool(self.store.complete, key, reservation, answer):
                    log.warning("an idempotency key expired while its request ran")
            except Exception:  # noqa: BLE001 - the write is done: answer it all the same
                log.exception("cannot keep the answer of an idempotent request")
        for message in sent:
            await send(message)

    async def _release(self, key: str, reservation: Reserved) -> None:
        try:
            await run_in_threadpool(self.store.release, key, reservation)
        except Exception:  # noqa: BLE001 - the key then frees itself after lock_seconds
            log.exception("cannot release an idempotency key")

    def _closing_on_shutdown(self, send: Send) -> Send:
        async def closing(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await run_in_threadpool(self.store.close)
            await send(message)
        return closing


def _caller(scope: Scope) -> str | None:
    """Whose key it is: the user of a valid bearer token (by the app's own rule, so a
    revoked token is no one's); without an Authorization header, the client's address;
    None for an invalid token (no key applies then: the app answers 401)."""
    request = Request(scope)
    if "authorization" not in request.headers:
        return "anonymous:" + (request.client.host if request.client else "-")
    try:
        return "user:" + verified_user_id(request, bearer_token(request))
    except ApiError:
        return None


def storage_key(caller: str, key: str) -> str:
    """Where the store keeps `caller`'s `key` (callers: "user:<id>", "anonymous:<ip>")."""
    return hashlib.sha256(f"{caller}\n{key}".encode()).hexdigest()


async def _read_body(scope: Scope, receive: Receive) -> tuple[list[Message], str | None]:
    """Every message of the request body, and its fingerprint (None on a disconnect)."""
    headers = dict(scope["headers"])
    fingerprint = Fingerprint(scope["method"], scope["path"], scope.get("query_string", b""),
                              headers.get(b"content-type", b"").decode("latin-1"))
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        fingerprint.update(message.get("body", b""))
        if not message.get("more_body", False):
            return messages, fingerprint.hexdigest()


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """A receive that gives the buffered messages again, then the client's own."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()
    return replay


def _answer_for(found: InFlight | Completed, fingerprint: str) -> ASGIApp:
    if found.fingerprint != fingerprint:
        return error_response(422, "idempotency_key_reused", (
            f"this {IDEMPOTENCY_KEY_HEADER} was used with another request (method, path or "
            "body); use a new key for a new request"))
    if isinstance(found, InFlight):
        return error_response(409, "idempotency_key_in_use", (
            f"a request with this {IDEMPOTENCY_KEY_HEADER} is still being processed; "
            "retry shortly"), {"Retry-After": "1"})
    return _replay_app(found.answer)


def _replay_app(answer: StoredAnswer) -> ASGIApp:
    async def replay(_scope: Scope, _receive: Receive, send: Send) -> None:
        headers = [(name.encode("latin-1"), value.encode("latin-1"))
                   for name, value in answer.headers]
        headers += [(b"content-length", str(len(answer.body)).encode()),
                    (REPLAYED_HEADER.lower().encode(), b"true")]
        await send({"type": "http.response.start", "status": answer.status,
                    "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})
    return replay


def _kept_answer(sent: Iterable[Message]) -> StoredAnswer | None:
    """The answer worth keeping from what the app sent, or None (not final, too big)."""
    start, body = None, b""
    for message in sent:
        if message["type"] == "http.response.start":
            start = message
        elif message["type"] == "http.response.body":
            body += message.get("body", b"")
    if start is None or not _final(start["status"]) or len(body) > MAX_KEPT_BODY:
        return None
    headers = tuple((name.decode("latin-1").lower(), value.decode("latin-1"))
                    for name, value in start.get("headers", ()) if name.lower() in KEPT_HEADERS)
    return StoredAnswer(start["status"], headers, body)


def _final(status: int) -> bool:
    return 200 <= status < 300 or (400 <= status < 500 and status not in TRANSIENT_STATUSES)


def document_idempotency_key(app: Any, unkept_paths: Collection[str] = ()) -> None:
    """Add the optional `Idempotency-Key` header to the POST operations of the app's
    OpenAPI document (but those of `unkept_paths`)."""
    build = app.openapi
    parameter = {
        "name": IDEMPOTENCY_KEY_HEADER, "in": "header", "required": False,
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
        "description": ("Retry safely: the same key and body within 24 hours get the first "
                        "answer again (with `Idempotent-Replayed: true`) and write nothing; "
                        "another body with the same key is 422 `idempotency_key_reused`."),
    }

    def openapi() -> dict[str, Any]:
        schema = build()
        for path, item in schema.get("paths", {}).items():
            operation = item.get("post")
            if operation is None or path in unkept_paths:
                continue
            parameters = operation.setdefault("parameters", [])
            if all(p.get("name") != IDEMPOTENCY_KEY_HEADER for p in parameters):
                parameters.append(parameter)
        return schema

    app.openapi = openapi
