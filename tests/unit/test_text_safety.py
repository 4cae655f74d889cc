"""Bidi controls and invisible characters are taken out of every free text (names, bios,
locations, captions, comments) before its rules apply; emoji sequences and the joiners
scripts need are kept."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from photoshare.commands import CommandContext, PhotoShareCommands
from photoshare.commands import errors as e
from photoshare.commands import messages as m
from photoshare.commands.rules import INVISIBLE_CHARACTERS, clean_text, strip_invisible

RLO, PDF, LRI, PDI = "\u202e", "\u202c", "\u2066", "\u2069"
LRM, RLM, ALM = "\u200e", "\u200f", "\u061c"
ZWSP, WJ, BOM, MVS, SHY, CGJ = "\u200b", "\u2060", "\ufeff", "\u180e", "\u00ad", "\u034f"
HANGUL_FILLERS = "\u115f\u1160\u3164\uffa0"
ZWJ, ZWNJ, VS15, VS16 = "\u200d", "\u200c", "\ufe0e", "\ufe0f"

FAMILY = "\U0001f469\u200d\U0001f469\u200d\U0001f467"            # woman ZWJ woman ZWJ girl
RAINBOW_FLAG = "\U0001f3f3\ufe0f\u200d\U0001f308"                 # white flag VS16 ZWJ rainbow
WOMAN_TECHNOLOGIST = "\U0001f469\U0001f3fd\u200d\U0001f4bb"       # with a skin tone
SCOTLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"  # tags
HEART_TEXT_STYLE = "\u2764\ufe0e"
PERSIAN = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"     # "mi-khaham": needs a ZWNJ
HINDI = "\u0915\u094d\u200d\u0937"                                # a half form with ZWJ
KEPT_SEQUENCES = [FAMILY, RAINBOW_FLAG, WOMAN_TECHNOLOGIST, SCOTLAND, HEART_TEXT_STYLE,
                  PERSIAN, HINDI]

REQUIRED_TO_STRIP = (
    [chr(c) for c in range(0x202A, 0x202F)] + [chr(c) for c in range(0x2066, 0x206A)]
    + [LRM, RLM, ALM, ZWSP, BOM, MVS, SHY, CGJ, *HANGUL_FILLERS]
    + [chr(c) for c in range(0x2060, 0x2065)])


@pytest.mark.parametrize("char", REQUIRED_TO_STRIP, ids=lambda c: f"U+{ord(c):04X}")
def test_each_bidi_control_and_invisible_character_is_stripped(char: str) -> None:
    assert char in INVISIBLE_CHARACTERS
    assert strip_invisible(f"a{char}b{char}") == "ab"
    assert clean_text("bio", f"{char}hello{char} world{char}", max_length=100) == "hello world"


@pytest.mark.parametrize("char", [ZWJ, ZWNJ, VS15, VS16], ids=lambda c: f"U+{ord(c):04X}")
def test_joiners_and_variation_selectors_are_kept(char: str) -> None:
    assert char not in INVISIBLE_CHARACTERS
    assert strip_invisible(f"a{char}b") == f"a{char}b"


@pytest.mark.parametrize("text", KEPT_SEQUENCES)
def test_emoji_sequences_and_scripts_that_need_joiners_survive(text: str) -> None:
    assert clean_text("caption", f"{RLO}{text}{ZWSP}", max_length=100) == text


def test_an_override_no_longer_reverses_a_name() -> None:
    # U+202E shows "gpj.exe" as "exe.jpg"; stripped, it reads as what it is.
    assert clean_text("display_name", f"photo{RLO}gpj.exe", max_length=64) == "photogpj.exe"
    assert clean_text("text", f"{LRI}nice{PDI} {RLM}shot{PDF}", max_length=100,
                      multiline=True) == "nice shot"


def test_stripping_comes_before_the_length_check() -> None:
    padded = ZWSP.join("x" * 64)  # 64 visible characters, 127 code points
    assert clean_text("display_name", padded, max_length=64, required=True) == "x" * 64
    with pytest.raises(e.InvalidValueError, match="at most 64"):
        clean_text("display_name", padded + "y", max_length=64, required=True)


@pytest.mark.parametrize("blank", [ZWSP, ZWSP * 5, "\u3164", f" {RLO}{PDF} ", BOM + "\n" + WJ])
def test_a_required_text_of_only_invisible_characters_is_empty(blank: str) -> None:
    with pytest.raises(e.InvalidValueError, match="must not be empty"):
        clean_text("text", blank, max_length=100, multiline=True, required=True)
    assert clean_text("bio", blank, max_length=100, multiline=True) == ""


def test_nfc_applies_after_stripping() -> None:
    # U+034F kept "e" and its accent apart; without it they compose.
    assert clean_text("location", f"Cafe{CGJ}\u0301", max_length=100) == "Caf\u00e9"


# --- properties ------------------------------------------------------------------------

visible_text = st.text(st.characters(codec="utf-8").filter(
    lambda c: c not in INVISIBLE_CHARACTERS))
any_text = st.text(st.one_of(st.characters(codec="utf-8"),
                             st.sampled_from(sorted(INVISIBLE_CHARACTERS)),
                             st.sampled_from([ZWJ, ZWNJ, VS15, VS16])))


@given(visible_text)
def test_text_without_those_characters_is_unchanged(text: str) -> None:
    assert strip_invisible(text) == text


@given(any_text)
def test_the_result_never_holds_them_and_keeps_everything_else_in_order(text: str) -> None:
    stripped = strip_invisible(text)
    assert not set(stripped) & INVISIBLE_CHARACTERS
    assert stripped == "".join(c for c in text if c not in INVISIBLE_CHARACTERS)
    assert strip_invisible(stripped) == stripped


@given(any_text)
def test_clean_text_never_holds_them(text: str) -> None:
    try:
        cleaned = clean_text("caption", text, max_length=10_000, multiline=True)
    except e.InvalidValueError:
        return  # a control character: refused, not stored
    assert not set(cleaned) & INVISIBLE_CHARACTERS
    assert unicodedata.is_normalized("NFC", cleaned)


@given(st.lists(st.one_of(st.sampled_from(KEPT_SEQUENCES), st.sampled_from(REQUIRED_TO_STRIP),
                          st.text(st.characters(categories=["L", "N", "Zs"]), max_size=5)),
                max_size=12))
def test_emoji_zwj_sequences_survive_among_invisible_characters(parts: list[str]) -> None:
    cleaned = clean_text("caption", "".join(parts), max_length=10_000, multiline=True)
    for part in parts:
        if part in KEPT_SEQUENCES:
            assert part in cleaned


# --- every free text of the aggregates ------------------------------------------------


@pytest.fixture
def app(tmp_path: Path) -> PhotoShareCommands:
    app = PhotoShareCommands(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                                  "SQLITE_DBNAME": str(tmp_path / "events.sqlite3")})
    yield app
    app.close()


def run(app: PhotoShareCommands, command: object, actor: str | None = None):
    return app.execute(command, CommandContext(actor, "test")).value


IMAGE = m.StoredImage("0" * 64 + ".jpg", "jpeg", 10, 10, {"large": "1" * 64 + ".jpg"})


def logged(app: PhotoShareCommands, event_type: str) -> list[dict]:
    return [env.data for env in app.read_log() if env.event_type == event_type]


def test_names_bios_locations_captions_and_comments_are_stored_without_them(app) -> None:
    alice = run(app, m.RegisterUser("alice", "alice@example.com", "hash",
                                    display_name=f"Al{ZWSP}ice{RLO}", bio=f"{LRM}bio{FAMILY}",
                                    location=f"{BOM}Paris"))
    [registered] = logged(app, "UserRegistered")
    assert (registered["display_name"], registered["bio"], registered["location"]) == (
        "Alice", f"bio{FAMILY}", "Paris")
    user = run(app, m.UpdateProfile(alice, {"display_name": f"{RLO}A{PDF}",
                                            "bio": f"b{SHY}io", "location": f"R{WJ}ome"}), alice)
    assert (user.display_name, user.bio, user.location) == ("A", "bio", "Rome")
    [updated] = logged(app, "ProfileUpdated")
    assert (updated["display_name"], updated["bio"], updated["location"]) == ("A", "bio", "Rome")
    with pytest.raises(e.InvalidValueError):
        run(app, m.UpdateProfile(alice, {"display_name": "\u3164"}), alice)

    photo = run(app, m.PostPhoto(alice, IMAGE, caption=f"#sun{ZWSP}set {RLO}gpj.exe",
                                 location=f"{RLM}Nice"), alice)
    [posted] = logged(app, "PhotoPosted")
    assert (posted["caption"], posted["location"]) == ("#sunset gpj.exe", "Nice")
    assert posted["hashtags"] == ["sunset"]
    run(app, m.AddComment(photo, alice, f"{LRI}wow{PDI} {FAMILY}"), alice)
    [commented] = logged(app, "CommentAdded")
    assert commented["text"] == f"wow {FAMILY}"
    before = app.head_position()
    with pytest.raises(e.InvalidValueError, match="must not be empty"):
        run(app, m.AddComment(photo, alice, ZWSP), alice)
    assert app.head_position() == before


def test_usernames_take_no_invisible_characters(app) -> None:
    for name in (f"ali{ZWSP}ce", f"alice{RLO}", f"{ZWJ}alice", f"ali{SHY}ce"):
        with pytest.raises(e.InvalidUsernameError):
            run(app, m.RegisterUser(name, "x@example.com", "hash", display_name="x"))
