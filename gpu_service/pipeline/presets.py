"""Messenger presets: re-encode a finished sticker the way a messenger's sticker packs want it.

- ``whatsapp``: a 512 × 512 px WebP, the subject fitted inside a 16 px transparent margin (a
  480 × 480 box, centred), at most 100 KB — the quality is lowered step by step until it fits.
- ``telegram``: a PNG whose longest side is exactly 512 px (aspect ratio kept, small stickers are
  scaled up), the other side ≤ 512 px; Telegram's static stickers also cap the file at 512 KB, so an
  oversized PNG (rare: photo-like styles) falls back to a WebP of the same size.

Example::

    data, extension, content_type = apply_preset(Image.open("1-classic.png"), "whatsapp")
    # extension "webp", content_type "image/webp", len(data) <= 100 * 1024
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Final

from PIL import Image

__all__ = ["PRESETS", "TELEGRAM_MAX_BYTES", "TELEGRAM_SIDE", "WHATSAPP_MARGIN", "WHATSAPP_MAX_BYTES", "WHATSAPP_SIDE", "apply_preset"]

#: WhatsApp sticker canvas, px (square).
WHATSAPP_SIDE: Final = 512
#: Transparent margin around the subject on the WhatsApp canvas, px.
WHATSAPP_MARGIN: Final = 16
#: Largest WhatsApp static sticker, bytes.
WHATSAPP_MAX_BYTES: Final = 100 * 1024
#: WebP qualities tried in order until the file fits.
WEBP_QUALITIES: Final = (90, 80, 70, 60, 50, 40, 30, 20, 10, 5)
#: Longest side of a Telegram sticker, px.
TELEGRAM_SIDE: Final = 512
#: Largest Telegram static sticker, bytes.
TELEGRAM_MAX_BYTES: Final = 512 * 1024


def _fit(img: Image.Image, box: int) -> Image.Image:
    """Scale `img` so that its longest side is exactly `box` px (Lanczos), aspect ratio kept."""
    scale = box / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img if size == img.size else img.resize(size, Image.Resampling.LANCZOS)


def _webp(img: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="WEBP", quality=quality, method=4)
    return buffer.getvalue()


def _whatsapp(img: Image.Image) -> tuple[bytes, str, str]:
    bbox = img.getchannel("A").getbbox()
    subject = img.crop(bbox) if bbox else img
    subject = _fit(subject, WHATSAPP_SIDE - 2 * WHATSAPP_MARGIN)
    canvas = Image.new("RGBA", (WHATSAPP_SIDE, WHATSAPP_SIDE), (0, 0, 0, 0))
    canvas.alpha_composite(subject, ((WHATSAPP_SIDE - subject.width) // 2, (WHATSAPP_SIDE - subject.height) // 2))
    data = b""
    for quality in WEBP_QUALITIES:
        data = _webp(canvas, quality)
        if len(data) <= WHATSAPP_MAX_BYTES:
            return data, "webp", "image/webp"
    raise ValueError(f"WhatsApp sticker is {len(data)} bytes even at quality {WEBP_QUALITIES[-1]}")


def _telegram(img: Image.Image) -> tuple[bytes, str, str]:
    sized = _fit(img, TELEGRAM_SIDE)
    buffer = io.BytesIO()
    sized.save(buffer, format="PNG", optimize=False, compress_level=6)
    if buffer.tell() <= TELEGRAM_MAX_BYTES:
        return buffer.getvalue(), "png", "image/png"
    for quality in WEBP_QUALITIES:
        data = _webp(sized, quality)
        if len(data) <= TELEGRAM_MAX_BYTES:
            return data, "webp", "image/webp"
    raise ValueError("Telegram sticker does not fit in 512 KB")


#: The encoder of each preset: ``encoder(rgba image) -> (bytes, extension, content type)``.
_ENCODERS: Final[dict[str, Callable[[Image.Image], tuple[bytes, str, str]]]] = {"whatsapp": _whatsapp, "telegram": _telegram}
#: Names accepted by :func:`apply_preset` (and by the API's ``preset`` field).
PRESETS: Final = tuple(_ENCODERS)


def apply_preset(sticker: Image.Image, preset: str) -> tuple[bytes, str, str]:
    """Re-encode one sticker for a messenger.

    Args:
        sticker: the rendered sticker (any mode; converted to RGBA, transparency kept).
        preset: ``"whatsapp"`` or ``"telegram"``.

    Returns:
        ``(file bytes, file extension without the dot, content type)``.

    Raises:
        ValueError: an unknown preset, or an image that cannot be made small enough.
    """
    encoder = _ENCODERS.get(preset)
    if encoder is None:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    return encoder(sticker if sticker.mode == "RGBA" else sticker.convert("RGBA"))
