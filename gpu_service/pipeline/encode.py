"""PNG encoding of finished stickers."""

from __future__ import annotations

import io

from PIL import Image

__all__ = ["PNG_COMPRESS_LEVEL", "encode_png"]

#: zlib level: 3 is ~3× faster than Pillow's default 6 on 512 px stickers for files ~5 % larger.
PNG_COMPRESS_LEVEL = 3


def encode_png(img: Image.Image, compress_level: int = PNG_COMPRESS_LEVEL, optimize: bool = False) -> bytes:
    """Encode an image as an RGBA PNG.

    Args:
        img: any Pillow image; converted to RGBA when it is not.
        compress_level: zlib level 0..9 (ignored when ``optimize`` is True).
        optimize: let Pillow search for the smallest encoding (slow: ~5–10× the time).

    Returns:
        The PNG file, bytes.

    Raises:
        ValueError: ``compress_level`` outside 0..9.
    """
    if not 0 <= compress_level <= 9:
        raise ValueError(f"compress_level must be 0..9, got {compress_level}")
    if img.mode != "RGBA":
        img = img.convert("RGBA")
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", compress_level=compress_level, optimize=optimize)
    return buffer.getvalue()
