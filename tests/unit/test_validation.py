"""Text, keyword, style and count rules of API.md."""

from __future__ import annotations

import pytest

from stickers_core import limits
from stickers_core.errors import ValidationFailed
from stickers_core.styles import DEFAULT_IMAGE_STYLES, IMAGE_STYLE_NAMES, TEXT_STYLE_NAMES
from stickers_core.validation import check_callback_url, normalise_text_input, parse_count, parse_styles, resolve_styles


def _code(fn, *args, **kwargs) -> str:  # noqa: ANN001
    with pytest.raises(ValidationFailed) as info:
        fn(*args, **kwargs)
    return info.value.code


def test_text_is_trimmed_and_nfc_normalised() -> None:
    text, kws = normalise_text_input("  Cafe\u0301 ☕  ", None)
    assert text == "Café ☕" and kws == []


def test_keywords_are_trimmed_and_deduplicated_case_insensitively() -> None:
    assert normalise_text_input(None, [" party", "Cake", "PARTY", "cake "]) == (None, ["party", "Cake"])


@pytest.mark.parametrize(
    "text,keywords,code",
    [
        (None, None, "NO_INPUT"),
        ("   ", [], "NO_INPUT"),
        ("x" * (limits.TEXT_MAX_CHARS + 1), None, "TEXT_TOO_LONG"),
        (None, [f"k{i}" for i in range(limits.KEYWORDS_MAX + 1)], "TOO_MANY_KEYWORDS"),
        (None, ["x" * (limits.KEYWORD_MAX_CHARS + 1)], "BAD_KEYWORD"),
        (None, ["  "], "BAD_KEYWORD"),
        ("bell\x07", None, "BAD_TEXT"),
        ("nul\x00", None, "BAD_TEXT"),
        ("lone \ud800 surrogate", None, "BAD_TEXT"),
        (5, None, "INVALID_REQUEST"),
        (None, "party", "INVALID_REQUEST"),
        (None, [1, 2], "INVALID_REQUEST"),
    ],
)
def test_text_errors(text, keywords, code) -> None:  # noqa: ANN001
    assert _code(normalise_text_input, text, keywords) == code


def test_exactly_200_characters_and_emoji_rtl_are_fine() -> None:
    assert len(normalise_text_input("x" * 200, None)[0]) == 200
    assert normalise_text_input("🎉🎂", None)[0] == "🎉🎂"
    assert normalise_text_input("عيد ميلاد سعيد", None)[0] == "عيد ميلاد سعيد"
    assert normalise_text_input("line one\nline two", None)[0] == "line one\nline two"


def test_styles_from_list_or_comma_string() -> None:
    assert parse_styles("classic, pop", IMAGE_STYLE_NAMES) == ["classic", "pop"]
    assert parse_styles(["bubble"], TEXT_STYLE_NAMES) == ["bubble"]
    assert parse_styles(None, IMAGE_STYLE_NAMES) == []
    assert _code(parse_styles, "classic,glitter", IMAGE_STYLE_NAMES) == "UNKNOWN_STYLE"
    assert _code(parse_styles, ["bubble"], IMAGE_STYLE_NAMES) == "UNKNOWN_STYLE"
    assert _code(parse_styles, {"a": 1}, IMAGE_STYLE_NAMES) == "INVALID_REQUEST"


@pytest.mark.parametrize("value,expected", [(None, None), ("", None), (1, 1), ("8", 8), (3.0, 3)])
def test_count_accepts_1_to_8(value, expected) -> None:  # noqa: ANN001
    assert parse_count(value) == expected


@pytest.mark.parametrize("value", [0, 9, -1, "nine", True, 2.5, [3]])
def test_count_refuses_the_rest(value) -> None:  # noqa: ANN001
    assert _code(parse_count, value) == "BAD_COUNT"


def test_resolve_styles_defaults_and_cycles() -> None:
    assert resolve_styles([], None, IMAGE_STYLE_NAMES, 5) == list(DEFAULT_IMAGE_STYLES)
    assert resolve_styles([], 7, IMAGE_STYLE_NAMES, 5) == list(IMAGE_STYLE_NAMES)
    assert resolve_styles(["pop"], None, IMAGE_STYLE_NAMES, 5) == ["pop"]
    assert resolve_styles(["pop", "pixel"], 5, IMAGE_STYLE_NAMES, 5) == ["pop", "pixel", "pop", "pixel", "pop"]


def test_callback_urls_are_https_only_outside_the_local_stack() -> None:
    assert check_callback_url("https://example.com/hook", allow_loopback_http=False) == "https://example.com/hook"
    assert _code(check_callback_url, "http://127.0.0.1:9/hook", allow_loopback_http=False) == "INVALID_REQUEST"
    assert check_callback_url("http://127.0.0.1:9/hook", allow_loopback_http=True)
    assert _code(check_callback_url, "http://example.com/hook", allow_loopback_http=True) == "INVALID_REQUEST"
    assert _code(check_callback_url, "file:///etc/passwd", allow_loopback_http=True) == "INVALID_REQUEST"
