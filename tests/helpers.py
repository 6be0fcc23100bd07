"""Helpers shared by tests (importable as `tests.helpers`)."""

from __future__ import annotations

import io

from PIL import Image


def encode(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    """Encode a PIL image to bytes in `fmt`."""
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()
