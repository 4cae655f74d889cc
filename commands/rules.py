"""Field rules shared by the aggregates: lengths, charsets, and text hygiene."""

from __future__ import annotations

import re
import unicodedata

from photoshare.commands.errors import InvalidUsernameError, InvalidValueError

USERNAME_MIN, USERNAME_MAX = 3, 30
# Letters, digits, underscore and period, no leading/trailing or doubled period.
_USERNAME = re.compile(r"(?!\.)(?!.*\.\.)[A-Za-z0-9_.]+(?<!\.)")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_HASHTAG = re.compile(r"#(\w+)")

MAX_DISPLAY_NAME = 64
MAX_BIO = 500
MAX_LOCATION = 100
MAX_CAPTION = 2200
MAX_COMMENT = 1000
MAX_EMAIL = 254
MAX_HASHTAGS = 30
MAX_HASHTAG_LENGTH = 100
MAX_TAGGED = 20
MIN_AGE, MAX_AGE = 13, 120


def check_username(username: str) -> str:
    if not isinstance(username, str):
        raise InvalidUsernameError("must be a string")
    if not USERNAME_MIN <= len(username) <= USERNAME_MAX:
        raise InvalidUsernameError(f"must be {USERNAME_MIN}-{USERNAME_MAX} characters long")
    if not _USERNAME.fullmatch(username):
        raise InvalidUsernameError(
            "may contain only letters, digits, '_' and '.', and not start or end with "
            "'.' or have two in a row"
        )
    return username


def check_email(email: str) -> str:
    if not isinstance(email, str):
        raise InvalidValueError("email", "must be a string")
    email = email.strip()
    valid = _EMAIL.fullmatch(email) and email.isascii() and email.isprintable()
    if len(email) > MAX_EMAIL or not valid:
        raise InvalidValueError("email", "is not a valid email address")
    return email


def clean_text(field: str, value: str, *, max_length: int, multiline: bool = False,
               required: bool = False) -> str:
    """NFC-normalised, stripped text without control or unpaired surrogate characters."""
    if not isinstance(value, str):
        raise InvalidValueError(field, "must be a string")
    text = unicodedata.normalize("NFC", value).strip()
    allowed = {"\n", "\t"} if multiline else set()
    for char in text:
        if char not in allowed and unicodedata.category(char) in {"Cc", "Cs"}:
            raise InvalidValueError(field, f"contains a disallowed character U+{ord(char):04X}")
    if required and not text:
        raise InvalidValueError(field, "must not be empty")
    if len(text) > max_length:
        raise InvalidValueError(field, f"must be at most {max_length} characters")
    return text


def check_age(age: int | None) -> int | None:
    if age is not None and (not isinstance(age, int) or isinstance(age, bool)
                            or not MIN_AGE <= age <= MAX_AGE):
        raise InvalidValueError("age", f"must be between {MIN_AGE} and {MAX_AGE}")
    return age


def parse_hashtags(caption: str) -> list[str]:
    """Distinct #hashtags of a caption, lower-cased, in order of first appearance."""
    tags: list[str] = []
    for match in _HASHTAG.finditer(caption):
        tag = match.group(1).casefold()[:MAX_HASHTAG_LENGTH]
        if tag not in tags:
            tags.append(tag)
    return tags[:MAX_HASHTAGS]
