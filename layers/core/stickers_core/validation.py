"""Validation of the non-image parts of a request: text, keywords, prompts, styles, count, callback URL, preset,
method and the output options.

Each function either returns the normalised value or raises :class:`ValidationFailed` with the
stable error code of docs/api.md. :class:`JobOptions` is what every job request asks besides its input
(styles, count, preset, callbackUrl, method, format, size, rotate, watermark, watermarkOpacity),
validated once by :meth:`JobOptions.parse`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, get_args

from stickers_core import limits, webhooks
from stickers_core.errors import ValidationFailed
from stickers_core.models import DEFAULT_METHOD, OutputFormat, OutputOptions, StyleMethod

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


class PromptInput(NamedTuple):
    """A prompt job's validated input (:func:`normalise_prompt_input`)."""

    prompt: str
    negative_prompt: str | None
    reference_ids: list[str]
    seed: int | None


def _prompt_text(value: Any, field: str, required: bool) -> str | None:
    """One prompt field: a string of 1–:data:`limits.PROMPT_MAX_CHARS` characters after trimming, no
    control characters but line feeds; every failure is `BAD_PROMPT` with `field`."""
    if value is None and not required:
        return None
    limit = limits.PROMPT_MAX_CHARS
    sentence = f'"{field}" must be a string of 1–{limit} characters'
    if not isinstance(value, str):
        raise ValidationFailed("BAD_PROMPT", sentence, field=field, maxLength=limit)
    try:
        clean = _clean(value, field)
    except ValidationFailed as exc:
        raise ValidationFailed("BAD_PROMPT", exc.message, field=field, maxLength=limit) from None
    if not 1 <= len(clean) <= limit:
        if not clean and not required:
            return None
        raise ValidationFailed("BAD_PROMPT", sentence, field=field, maxLength=limit)
    return clean


def normalise_prompt_input(prompt: Any, negative_prompt: Any = None, reference_images: Any = None, seed: Any = None) -> PromptInput:
    """Validate and normalise the input of a prompt job (docs/api.md, POST /v1/stickers/prompt).

    Rules: `prompt` 1–500 characters after trimming (NFC, Unicode and emoji allowed, control
    characters but line feeds refused); `negativePrompt` the same, optional (empty: none);
    `referenceImages` an array of at most 3 upload ids (strings; duplicates removed, order kept) —
    whether each is the caller's upload is the service's check; `seed` an integer 0–858,993,459.

    Returns:
        :class:`PromptInput`.

    Raises:
        ValidationFailed: `BAD_PROMPT` (prompt, negativePrompt), `INVALID_REQUEST` (referenceImages
            with `field`, `maxItems`), `INVALID_OPTION` (seed).
    """
    clean_prompt = _prompt_text(prompt, "prompt", required=True)
    assert clean_prompt is not None
    negative = _prompt_text(negative_prompt, "negativePrompt", required=False)
    refs = [] if reference_images is None else reference_images
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
        raise _bad_type("referenceImages", "an array of upload ids")
    refs = list(dict.fromkeys(refs))
    if len(refs) > limits.REFERENCE_IMAGES_MAX:
        raise ValidationFailed(
            "INVALID_REQUEST", f"At most {limits.REFERENCE_IMAGES_MAX} reference images", field="referenceImages", maxItems=limits.REFERENCE_IMAGES_MAX
        )
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= limits.SEED_MAX):
        raise _invalid_option("seed", f'"seed" must be an integer from 0 to {limits.SEED_MAX}', minimum=0, maximum=limits.SEED_MAX)
    return PromptInput(clean_prompt, negative, refs, seed)


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


def check_callback_url(value: Any, *, allow_loopback_http: bool, resolver: webhooks.Resolver | None = None) -> str | None:
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


#: Values of `method` (docs/api.md "method"): the detail level of the drawn and painted styles and of
#: ``cartoon``; the other styles ignore it.
METHODS: tuple[str, ...] = get_args(StyleMethod)
#: Values of `format` (docs/api.md "Output options").
FORMATS: tuple[str, ...] = get_args(OutputFormat)
#: Bounds of `rotate` (degrees) and `watermarkOpacity`, inclusive.
ROTATE_RANGE = (-180.0, 180.0)
WATERMARK_OPACITY_RANGE = (0.1, 1.0)
#: A decimal number as a form field carries it: optional sign, digits, optional fraction (no exponent,
#: no ``nan``/``inf``, no thousands separators).
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


def _invalid_option(field: str, message: str, **details: Any) -> ValidationFailed:
    return ValidationFailed("INVALID_OPTION", message, field=field, **details)


def _absent(value: Any) -> bool:
    """None, or an empty form field."""
    return value is None or value == ""


def _choice(value: Any, field: str, allowed: tuple[str, ...]) -> str | None:
    """One of `allowed` (case-insensitive, trimmed), or None when absent."""
    if _absent(value):
        return None
    name = value.strip().lower() if isinstance(value, str) else None
    if name not in allowed:
        raise _invalid_option(field, f'"{field}" must be one of {", ".join(allowed)}', allowed=list(allowed))
    return name


def _number(value: Any) -> float | None:
    """A finite number from a JSON number or a form field's decimal text; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        number = float(value.strip())
    else:
        return None
    return number if math.isfinite(number) else None


def parse_method(value: Any) -> StyleMethod:
    """Validate an optional `method`: ``basic`` | ``advanced`` | ``artistic`` (case-insensitive); absent
    means ``advanced``.

    Raises:
        ValidationFailed: `INVALID_OPTION` with field `method` (and `allowed`).
    """
    return _choice(value, "method", METHODS) or DEFAULT_METHOD  # type: ignore[return-value]


def parse_format(value: Any) -> OutputFormat | None:
    """Validate an optional output `format`: ``png`` | ``webp`` (case-insensitive), or None when absent.

    Raises:
        ValidationFailed: `INVALID_OPTION` with field `format` (and `allowed`).
    """
    return _choice(value, "format", FORMATS)  # type: ignore[return-value]


def parse_size(value: Any) -> int | None:
    """Validate an optional output `size`: the longest side in px, an integer 128–1024 (a JSON number,
    or a form field's digits), or None when absent.

    Raises:
        ValidationFailed: `INVALID_OPTION` with field `size`, `min`, `max`.
    """
    if _absent(value):
        return None
    number = _number(value)
    low, high = limits.OUTPUT_SIZE_MIN_PX, limits.OUTPUT_SIZE_MAX_PX
    if number is None or not number.is_integer() or not low <= number <= high:
        raise _invalid_option("size", f'"size" must be an integer from {low} to {high} (pixels, the longest side)', min=low, max=high)
    return int(number)


def parse_rotate(value: Any) -> float | None:
    """Validate an optional `rotate`: degrees from −180 to 180 (a JSON number, or a form field's decimal
    text), or None when absent.

    Raises:
        ValidationFailed: `INVALID_OPTION` with field `rotate`, `min`, `max`.
    """
    if _absent(value):
        return None
    number = _number(value)
    low, high = ROTATE_RANGE
    if number is None or not low <= number <= high:
        raise _invalid_option("rotate", f'"rotate" must be a number of degrees from {low:g} to {high:g}', min=low, max=high)
    return number + 0.0  # -0.0 → 0.0


def parse_watermark(value: Any) -> str | None:
    """Validate an optional `watermark`: 1–40 characters after NFC normalisation and trimming, one line
    (no control characters, no unpaired surrogates); None when absent (or an empty form field).

    Raises:
        ValidationFailed: `INVALID_OPTION` with field `watermark` (and `maxLength`).
    """
    if _absent(value):
        return None
    limit = limits.WATERMARK_MAX_CHARS
    if not isinstance(value, str):
        raise _invalid_option("watermark", f'"watermark" must be a text of 1–{limit} characters', maxLength=limit)
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cs"):
            raise _invalid_option("watermark", f'"watermark" contains a control character or an unpaired surrogate (U+{ord(ch):04X})', maxLength=limit)
    text = unicodedata.normalize("NFC", value).strip()
    if not 1 <= len(text) <= limit:
        raise _invalid_option("watermark", f'"watermark" must be 1–{limit} characters', maxLength=limit)
    return text


def parse_watermark_opacity(value: Any) -> float | None:
    """Validate an optional `watermarkOpacity`: a number from 0.1 to 1.0, or None when absent.

    Raises:
        ValidationFailed: `INVALID_OPTION` with field `watermarkOpacity`, `min`, `max`.
    """
    if _absent(value):
        return None
    number = _number(value)
    low, high = WATERMARK_OPACITY_RANGE
    if number is None or not low <= number <= high:
        raise _invalid_option("watermarkOpacity", f'"watermarkOpacity" must be a number from {low:g} to {high:g}', min=low, max=high)
    return number


@dataclass(frozen=True)
class JobOptions:
    """What a job request asks for besides its input (photo or text), validated: docs/api.md's `styles`,
    `count`, `preset`, `callbackUrl`, `method` and output options, the same for image and text jobs.

    Build it with :meth:`parse` from a request's raw values; the default value asks for nothing (the
    job type's default styles, no preset, no webhook, method ``advanced``, PNG at the default size,
    upright, no watermark). :class:`stickers_core.service.StickerService` takes it as it is (it does
    not validate it again).

    Attributes:
        styles: the requested style names in order, each in the catalogue of the job type they were
            parsed for (empty: the job type's default set).
        count: stickers wanted, 1–8 (None: one per requested style, or the job type's default).
        preset: ``"whatsapp"`` | ``"telegram"`` | None.
        callback_url: where the job's final status document is POSTed (None: no webhook).
        method: ``basic`` | ``advanced`` | ``artistic``.
        output: format, size, rotation and watermark of every sticker.
    """

    styles: tuple[str, ...] = ()
    count: int | None = None
    preset: str | None = None
    callback_url: str | None = None
    method: StyleMethod = DEFAULT_METHOD
    output: OutputOptions = field(default_factory=OutputOptions)

    @classmethod
    def parse(
        cls,
        *,
        styles: Any = None,
        count: Any = None,
        preset: Any = None,
        callback_url: Any = None,
        method: Any = None,
        format: Any = None,  # noqa: A002 - the contract's name
        size: Any = None,
        rotate: Any = None,
        watermark: Any = None,
        watermark_opacity: Any = None,
        allowed_styles: Sequence[str],
        allow_loopback_http: bool,
        resolver: webhooks.Resolver | None = None,
    ) -> JobOptions:
        """Validate a request's raw values (a JSON body's, or a multipart form's strings).

        Checked in this order, the first failure raising: `styles` (:func:`parse_styles`),
        `callbackUrl` (:func:`check_callback_url`), `preset` (:func:`parse_preset`), `count`
        (:func:`parse_count`), `method`, `format`, `size`, `rotate`, `watermark`, `watermarkOpacity`
        (each :func:`parse_<name>`), then the rules between them: `watermarkOpacity` needs a
        `watermark`, and with a `preset` the preset decides the size and the format, so `size` or
        `format` beside it is a conflict. An empty form field counts as absent.

        Args:
            styles, count, preset, callback_url, method, format, size, rotate, watermark,
                watermark_opacity: the raw values (None when absent).
            allowed_styles: the catalogue of the job type (``styles.IMAGE_STYLE_NAMES`` / ``TEXT_STYLE_NAMES``).
            allow_loopback_http: the local stack's exception for plain-http loopback callback URLs.
            resolver: DNS resolver for the callback URL check (default: :func:`socket.getaddrinfo`).

        Raises:
            ValidationFailed: `UNKNOWN_STYLE`, `INVALID_REQUEST` (field `styles` or `callbackUrl`),
                `UNKNOWN_PRESET`, `BAD_COUNT`, `INVALID_OPTION` (with `field`: `method`, `format`,
                `size`, `rotate`, `watermark`, `watermarkOpacity`), `CONFLICTING_OPTIONS` (`field`
                `size` or `format`, `conflictsWith: "preset"`).
        """
        names = tuple(parse_styles(styles, allowed_styles))
        url = check_callback_url(callback_url, allow_loopback_http=allow_loopback_http, resolver=resolver)
        preset_name = parse_preset(preset)
        n = parse_count(count)
        style_method = parse_method(method)
        output_format = parse_format(format)
        output_size = parse_size(size)
        degrees = parse_rotate(rotate)
        mark = parse_watermark(watermark)
        opacity = parse_watermark_opacity(watermark_opacity)
        if opacity is not None and mark is None:
            raise _invalid_option("watermarkOpacity", '"watermarkOpacity" needs a "watermark"', min=WATERMARK_OPACITY_RANGE[0], max=WATERMARK_OPACITY_RANGE[1])
        if preset_name is not None:
            for name, given in (("size", output_size), ("format", output_format)):
                if given is not None:
                    raise ValidationFailed(
                        "CONFLICTING_OPTIONS",
                        f'"{name}" cannot be combined with "preset": the preset decides the size and the format',
                        field=name,
                        conflictsWith="preset",
                    )
        output = OutputOptions(format=output_format or "png", size=output_size, rotate=degrees or 0.0, watermark=mark, watermark_opacity=0.5 if opacity is None else opacity)
        return cls(styles=names, callback_url=url, preset=preset_name, count=n, method=style_method, output=output)
