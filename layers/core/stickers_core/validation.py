"""Validation of the non-image parts of a request: text, keywords, styles, count, callback URL, preset.

Each function either returns the normalised value or raises :class:`ValidationFailed` with the
stable error code of docs/api.md. :class:`JobOptions` is what every job request asks besides its input
(styles, count, preset, callbackUrl), validated once by :meth:`JobOptions.parse`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stickers_core import limits, webhooks
from stickers_core.errors import ValidationFailed

_ALLOWED_CONTROLS = {"\n"}


def _bad_type(field: str, expected: str) -> ValidationFailed:
    return ValidationFailed("INVALID_REQUEST", f'"{field}" must be {expected}', field=field)


def _clean(value: str, field: str) -> str:
    """NFC-normalise and trim; refuse control characters (but line feeds) and lone surrogates."""
    for ch in value:
        cat = unicodedata.category(ch)
        if (cat == "Cc" and ch not in _ALLOWED_CONTROLS) or cat == "Cs":
            what = "an unpaired surrogate" if cat == "Cs" else "a control character"
            raise ValidationFailed("BAD_TEXT", f'"{field}" contains {what} (U+{ord(ch):04X})', field=field)
    return unicodedata.normalize("NFC", value).strip()


def normalise_text_input(text: Any, keywords: Any) -> tuple[str | None, list[str]]:
    """Validate and normalise the input of a text job.

    Rules (docs/api.md): at least one of text / keywords; text 1–200 characters after trimming (Unicode and
    emoji allowed, control characters refused); keywords 1–10 items of 1–30 characters each,
    duplicates (compared case-insensitively) removed, first spelling kept.

    Args:
        text: the request's `text` (str or None).
        keywords: the request's `keywords` (list of str or None).

    Returns:
        ``(text or None, keywords)``.

    Raises:
        ValidationFailed: `NO_INPUT`, `TEXT_TOO_LONG`, `TOO_MANY_KEYWORDS`, `BAD_KEYWORD`, `BAD_TEXT`,
            `INVALID_REQUEST` (wrong JSON types).
    """
    if text is not None and not isinstance(text, str):
        raise _bad_type("text", "a string")
    if keywords is not None and (not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords)):
        raise _bad_type("keywords", "an array of strings")
    clean_text = _clean(text, "text") if text else ""
    if len(clean_text) > limits.TEXT_MAX_CHARS:
        raise ValidationFailed(
            "TEXT_TOO_LONG", f"Text must be {limits.TEXT_MAX_CHARS} characters or less", maxLength=limits.TEXT_MAX_CHARS
        )
    raw_keywords = keywords or []
    if len(raw_keywords) > limits.KEYWORDS_MAX:
        raise ValidationFailed(
            "TOO_MANY_KEYWORDS", f"Maximum {limits.KEYWORDS_MAX} keywords allowed", maxKeywords=limits.KEYWORDS_MAX
        )
    seen: set[str] = set()
    clean_keywords: list[str] = []
    for raw in raw_keywords:
        kw = _clean(raw, "keywords").replace("\n", " ")
        if not 1 <= len(kw) <= limits.KEYWORD_MAX_CHARS:
            raise ValidationFailed(
                "BAD_KEYWORD",
                f"Each keyword must be 1–{limits.KEYWORD_MAX_CHARS} characters",
                maxLength=limits.KEYWORD_MAX_CHARS,
            )
        if kw.casefold() not in seen:
            seen.add(kw.casefold())
            clean_keywords.append(kw)
    if not clean_text and not clean_keywords:
        raise ValidationFailed("NO_INPUT", 'Either "text" or "keywords" field is required')
    return (clean_text or None), clean_keywords


def parse_styles(value: Any, allowed: Sequence[str]) -> list[str]:
    """Parse requested style names: a JSON array, or a comma-separated string (multipart forms).

    Args:
        value: None, a list of str, or a comma-separated str.
        allowed: the catalogue's names for the job type.

    Returns:
        The requested names in order (empty when none were asked for).

    Raises:
        ValidationFailed: `UNKNOWN_STYLE` (with `allowed`), `INVALID_REQUEST` for a wrong type.
    """
    if value is None:
        return []
    if isinstance(value, str):
        names = [part.strip() for part in value.split(",")]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        names = [v.strip() for v in value]
    else:
        raise _bad_type("styles", "an array of style names or a comma-separated string")
    names = [n for n in names if n]
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise ValidationFailed(
            "UNKNOWN_STYLE",
            f"Unknown style {unknown[0]!r}. Allowed styles: {', '.join(allowed)}",
            allowed=list(allowed),
        )
    return names


def parse_count(value: Any) -> int | None:
    """Parse `count`: an integer 1–8 (a decimal string in multipart forms), or None when absent.

    Raises:
        ValidationFailed: `BAD_COUNT`.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        value = None
    elif isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or not limits.COUNT_MIN <= value <= limits.COUNT_MAX:
        raise ValidationFailed(
            "BAD_COUNT",
            f"count must be an integer from {limits.COUNT_MIN} to {limits.COUNT_MAX}",
            min=limits.COUNT_MIN,
            max=limits.COUNT_MAX,
        )
    return value


def resolve_styles(requested: list[str], count: int | None, catalogue: Sequence[str], defaults: Sequence[str]) -> list[str]:
    """The style of each sticker of a job, in order.

    Without requested styles the job gets the default set (the catalogue's `default` flags,
    ``stickers_core.styles.DEFAULT_IMAGE_STYLES`` / ``DEFAULT_TEXT_STYLES``); with a `count` beyond
    it, the other catalogue styles follow in catalogue order. The list is cycled up to `count`
    stickers; a repeated style is rendered as a variant (another palette). Without `count`, one
    sticker per requested style, or one per default style.

    Returns:
        A list of `count` style names (1–8).
    """
    base = requested or [*defaults, *(name for name in catalogue if name not in defaults)]
    n = count if count is not None else len(requested or defaults)
    return [base[i % len(base)] for i in range(n)]


def check_callback_url(value: Any, *, allow_loopback_http: bool, resolver: "webhooks.Resolver | None" = None) -> str | None:
    """Validate an optional `callbackUrl` at submit time, with the rules the delivery applies.

    https only, on the default port (none or 443), without user info, to a host name (not an IP
    literal) whose every address is public (:func:`stickers_core.webhooks.check_target`: not private,
    loopback, link-local, shared, reserved or multicast) and that exists. When running locally
    (`allow_loopback_http`), plain ``http`` to ``127.0.0.1`` / ``[::1]`` / ``localhost`` is allowed too.
    A temporary DNS failure does not refuse the URL (the delivery checks it again before each POST).

    Args:
        value: the submitted value (None: no callback).
        allow_loopback_http: whether the local stack's loopback exception applies.
        resolver: ``resolver(host, port)`` shaped like :func:`socket.getaddrinfo` (default: it).

    Raises:
        ValidationFailed: `INVALID_REQUEST` with field `callbackUrl` (the message says which rule).
    """
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 2048:
        raise _bad_type("callbackUrl", "an https URL")
    try:
        webhooks.check_target(value, allow_loopback_http=allow_loopback_http, resolver=resolver)
    except webhooks.CallbackRefused as exc:
        raise ValidationFailed("INVALID_REQUEST", f'"callbackUrl" {exc}', field="callbackUrl") from exc
    except webhooks.CallbackUnresolved:
        pass
    return value


#: Messenger presets (docs/api.md "preset"): the worker re-encodes every sticker for the messenger.
PRESETS = ("whatsapp", "telegram")


def parse_preset(value: Any) -> str | None:
    """Validate an optional `preset`: ``"whatsapp"`` or ``"telegram"`` (case-insensitive), or None.

    Raises:
        ValidationFailed: `UNKNOWN_PRESET` (with `allowed`).
    """
    if value is None or value == "":
        return None
    name = value.strip().lower() if isinstance(value, str) else None
    if name not in PRESETS:
        raise ValidationFailed("UNKNOWN_PRESET", f"Unknown preset. Allowed presets: {', '.join(PRESETS)}", allowed=list(PRESETS))
    return name


@dataclass(frozen=True)
class JobOptions:
    """What a job request asks for besides its input (photo or text), validated: docs/api.md's `styles`,
    `count`, `preset` and `callbackUrl`, the same for image and text jobs.

    Build it with :meth:`parse` from a request's raw values; the default value asks for nothing (the
    job type's default styles, no preset, no webhook). :class:`stickers_core.service.StickerService`
    takes it as it is (it does not validate it again).

    Attributes:
        styles: the requested style names in order, each in the catalogue of the job type they were
            parsed for (empty: the job type's default set).
        count: stickers wanted, 1–8 (None: one per requested style, or the job type's default).
        preset: ``"whatsapp"`` | ``"telegram"`` | None.
        callback_url: where the job's final status document is POSTed (None: no webhook).
    """

    styles: tuple[str, ...] = ()
    count: int | None = None
    preset: str | None = None
    callback_url: str | None = None

    @classmethod
    def parse(
        cls,
        *,
        styles: Any = None,
        count: Any = None,
        preset: Any = None,
        callback_url: Any = None,
        allowed_styles: Sequence[str],
        allow_loopback_http: bool,
        resolver: "webhooks.Resolver | None" = None,
    ) -> "JobOptions":
        """Validate a request's raw values (a JSON body's, or a multipart form's strings).

        Checked in this order, the first failure raising: `styles` (:func:`parse_styles`),
        `callbackUrl` (:func:`check_callback_url`), `preset` (:func:`parse_preset`), `count`
        (:func:`parse_count`).

        Args:
            styles, count, preset, callback_url: the raw values (None when absent).
            allowed_styles: the catalogue of the job type (``styles.IMAGE_STYLE_NAMES`` / ``TEXT_STYLE_NAMES``).
            allow_loopback_http: the local stack's exception for plain-http loopback callback URLs.
            resolver: DNS resolver for the callback URL check (default: :func:`socket.getaddrinfo`).

        Raises:
            ValidationFailed: `UNKNOWN_STYLE`, `INVALID_REQUEST` (field `styles` or `callbackUrl`),
                `UNKNOWN_PRESET`, `BAD_COUNT`.
        """
        names = tuple(parse_styles(styles, allowed_styles))
        url = check_callback_url(callback_url, allow_loopback_http=allow_loopback_http, resolver=resolver)
        return cls(styles=names, callback_url=url, preset=parse_preset(preset), count=parse_count(count))
