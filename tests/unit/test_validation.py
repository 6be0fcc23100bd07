"""Text, keyword, style and count rules of docs/api.md."""

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
    assert resolve_styles([], None, IMAGE_STYLE_NAMES, DEFAULT_IMAGE_STYLES) == list(DEFAULT_IMAGE_STYLES)
    # a count beyond the default set goes on through the rest of the catalogue, then cycles
    rest = [name for name in IMAGE_STYLE_NAMES if name not in DEFAULT_IMAGE_STYLES]
    everything = [*DEFAULT_IMAGE_STYLES, *rest]
    assert resolve_styles([], 7, IMAGE_STYLE_NAMES, DEFAULT_IMAGE_STYLES) == (everything * 2)[:7]
    assert resolve_styles(["pop"], None, IMAGE_STYLE_NAMES, DEFAULT_IMAGE_STYLES) == ["pop"]
    assert resolve_styles(["pop", "pixel"], 5, IMAGE_STYLE_NAMES, DEFAULT_IMAGE_STYLES) == ["pop", "pixel", "pop", "pixel", "pop"]
    # the defaults are the flagged styles wherever they stand in the catalogue
    assert resolve_styles([], None, ["a", "b", "c"], ["c", "a"]) == ["c", "a"]
    assert resolve_styles([], 5, ["a", "b", "c"], ["c", "a"]) == ["c", "a", "b", "c", "a"]


def _dns(answers: dict[str, list[str]]):  # noqa: ANN202
    """A resolver shaped like socket.getaddrinfo that knows only `answers` (no network)."""
    import socket

    def resolve(host: str, port: int) -> list[tuple]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in answers[host]]

    return resolve


def test_callback_urls_are_https_only_outside_the_local_stack() -> None:
    dns = _dns({"example.com": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]})
    assert check_callback_url("https://example.com/hook", allow_loopback_http=False, resolver=dns) == "https://example.com/hook"
    assert check_callback_url("https://example.com:443/hook", allow_loopback_http=False, resolver=dns)
    assert _code(check_callback_url, "http://127.0.0.1:9/hook", allow_loopback_http=False) == "INVALID_REQUEST"
    assert check_callback_url("http://127.0.0.1:9/hook", allow_loopback_http=True)
    assert _code(check_callback_url, "http://example.com/hook", allow_loopback_http=True, resolver=dns) == "INVALID_REQUEST"
    assert _code(check_callback_url, "file:///etc/passwd", allow_loopback_http=True) == "INVALID_REQUEST"


@pytest.mark.parametrize(
    "url,why",
    [
        ("https://example.com:8443/hook", "port"),
        ("https://example.com:80/hook", "port"),
        ("https://example.com:99999/hook", "port"),
        ("https://93.184.215.14/hook", "IP address"),
        ("https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/hook", "IP address"),
        ("https://user:pw@example.com/hook", "user info"),
        ("https://user@example.com/hook", "user info"),
        ("https://intranet.example/hook", "private"),
        ("https://metadata.example/hook", "private"),
        ("https://mixed.example/hook", "private"),
        ("https://mapped.example/hook", "private"),
        ("https://nat64.example/hook", "private"),
        ("https://cgnat.example/hook", "private"),
        ("https://gone.example/hook", "does not resolve"),
        ("https://127.0.0.1/hook", "IP address"),
    ],
)
def test_bad_callback_urls_are_refused_with_the_reason(url: str, why: str) -> None:
    dns = _dns({
        "example.com": ["93.184.215.14"],
        "intranet.example": ["10.1.2.3"],
        "metadata.example": ["169.254.169.254"],
        "mixed.example": ["93.184.215.14", "192.168.1.1"],  # one private answer is enough
        "mapped.example": ["::ffff:10.0.0.1"],
        "nat64.example": ["64:ff9b::a9fe:a9fe"],  # 169.254.169.254 through a NAT64 gateway
        "cgnat.example": ["100.64.0.1"],
    })
    for local in (False, True):  # the local stack's exception is for plain http to loopback only
        with pytest.raises(ValidationFailed) as info:
            check_callback_url(url, allow_loopback_http=local, resolver=dns)
        assert info.value.code == "INVALID_REQUEST" and info.value.details["field"] == "callbackUrl"
        assert why in info.value.message, info.value.message


def test_a_temporary_dns_failure_does_not_refuse_a_callback_url() -> None:
    import socket

    def flaky(host: str, port: int) -> list[tuple]:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    assert check_callback_url("https://example.com/hook", allow_loopback_http=False, resolver=flaky)
