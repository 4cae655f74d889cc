"""Field rules shared by the aggregates: lengths, charsets, and text hygiene."""

from __future__ import annotations

import re
import unicodedata

from photoshare.commands.errors import AltTextTooLongError, InvalidUsernameError, InvalidValueError

USERNAME_MIN, USERNAME_MAX = 3, 30
# Letters, digits, underscore and period, no leading/trailing or doubled period.
_USERNAME = re.compile(r"(?!\.)(?!.*\.\.)[A-Za-z0-9_.]+(?<!\.)")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_HASHTAG = re.compile(r"#(\w+)")

MAX_DISPLAY_NAME = 64
MAX_BIO = 500
MAX_LOCATION = 100
MAX_CAPTION = 2200
MAX_ALT_TEXT = 1500
MAX_COMMENT = 1000
MAX_EMAIL = 254
MAX_HASHTAGS = 30
MAX_HASHTAG_LENGTH = 100
MAX_TAGGED = 20
MIN_AGE, MAX_AGE = 13, 120

# Invisible characters that only serve to spoof: text-direction controls (U+202E before
# "gpj.exe" shows "exe.jpg"), zero-width and other invisible characters (two names that
# look the same, a name that looks blank). Kept on purpose: U+200D ZERO WIDTH JOINER
# (emoji sequences: woman, ZWJ, laptop is one picture), U+200C ZERO WIDTH NON-JOINER
# (Persian and Indic scripts) and the variation selectors (U+FE0E/U+FE0F: text or emoji
# style).
_INVISIBLE_RANGES = (
    (0x202A, 0x202E),  # bidi embeddings and overrides (LRE, RLE, PDF, LRO, RLO)
    (0x2066, 0x2069),  # bidi isolates (LRI, RLI, FSI, PDI)
    (0x200E, 0x200F),  # LEFT-TO-RIGHT and RIGHT-TO-LEFT MARK
    (0x061C, 0x061C),  # ARABIC LETTER MARK
    (0x200B, 0x200B),  # ZERO WIDTH SPACE
    (0x2060, 0x2065),  # WORD JOINER, invisible operators (and the reserved U+2065)
    (0x206A, 0x206F),  # deprecated format characters (symmetric swapping, digit shapes)
    (0xFEFF, 0xFEFF),  # ZERO WIDTH NO-BREAK SPACE (byte order mark)
    (0x180E, 0x180E),  # MONGOLIAN VOWEL SEPARATOR
    (0x00AD, 0x00AD),  # SOFT HYPHEN
    (0x034F, 0x034F),  # COMBINING GRAPHEME JOINER
    (0x115F, 0x1160),  # HANGUL CHOSEONG and JUNGSEONG FILLER
    (0x3164, 0x3164),  # HANGUL FILLER (the classic "blank" name)
    (0xFFA0, 0xFFA0),  # HALFWIDTH HANGUL FILLER
    (0x17B4, 0x17B5),  # KHMER VOWEL INHERENT AQ and AA (invisible, not to be used)
    (0xFFF9, 0xFFFB),  # interlinear annotation controls
    (0x1D173, 0x1D17A),  # musical symbol format controls (begin/end beam, tie, ...)
)
INVISIBLE_CHARACTERS = frozenset(chr(code) for first, last in _INVISIBLE_RANGES
                                 for code in range(first, last + 1))
_WITHOUT_INVISIBLE = dict.fromkeys(map(ord, INVISIBLE_CHARACTERS))


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


def strip_invisible(text: str) -> str:
    """`text` without the bidi controls and invisible characters of
    `INVISIBLE_CHARACTERS`; text without any is returned unchanged."""
    return text.translate(_WITHOUT_INVISIBLE)


def clean_text(field: str, value: str, *, max_length: int, multiline: bool = False,
               required: bool = False) -> str:
    """NFC-normalised, stripped text without control or unpaired surrogate characters,
    and with bidi controls and invisible characters removed (`strip_invisible`) before
    the emptiness and length checks: a text of only those is an empty one."""
    if not isinstance(value, str):
        raise InvalidValueError(field, "must be a string")
    # Removed first: taking one out (e.g. U+034F between a letter and its accent) may
    # let NFC compose what it separated.
    text = unicodedata.normalize("NFC", strip_invisible(value)).strip()
    allowed = {"\n", "\t"} if multiline else set()
    for char in text:
        if char not in allowed and unicodedata.category(char) in {"Cc", "Cs"}:
            raise InvalidValueError(field, f"contains a disallowed character U+{ord(char):04X}")
    if required and not text:
        raise InvalidValueError(field, "must not be empty")
    if len(text) > max_length:
        raise InvalidValueError(field, f"must be at most {max_length} characters")
    return text


def clean_alt_text(value: str | None) -> str | None:
    """A photo's alt text cleaned as a caption is (`clean_text`, several lines allowed),
    or None for none: a text that is empty once cleaned is no description either."""
    if value is None:
        return None
    # No real bound in clean_text (NFC lengthens a text at most threefold): too long is an
    # error of its own here, `alt_text_too_long`, which the web app shows by the field.
    text = clean_text("alt_text", value, max_length=3 * len(value), multiline=True)
    if len(text) > MAX_ALT_TEXT:
        raise AltTextTooLongError(f"must be at most {MAX_ALT_TEXT} characters")
    return text or None


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
