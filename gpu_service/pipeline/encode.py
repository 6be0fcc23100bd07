"""PNG encoding of finished stickers.

Stickers are written as 8-bit RGBA PNGs with the single ``SUB`` row filter on every row. The
default deflate is Intel's ISA-L (``isal`` package, ``isal_zlib.compress`` at level 1): on the five
default 512 px stickers it is ~4× faster than zlib level 1 (the previous writer, OpenCV's libpng)
for files of about the same size (−1 % to +1 %), measured side by side on girl-2, car-1, animal-1 and
coffee (docs/performance.md). The container (signature, IHDR, one IDAT, IEND) is written here;
the filter is one numpy subtraction. Without ``isal`` (or with ``compress_level`` 0 or above 3,
which ISA-L does not have) OpenCV's libpng writes the file at that zlib level with the same filter.
Both deflates release the GIL, so the pipeline encodes several stickers in parallel threads.
``optimize=True`` falls back to Pillow's exhaustive search (smallest file, ~10× the time).
"""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
from PIL import Image

try:  # ISA-L deflate: optional at import time, a declared dependency of the project
    from isal import isal_zlib as _isal
except ImportError:  # pragma: no cover - exercised by the fallback test with the module hidden
    _isal = None

__all__ = ["PNG_COMPRESS_LEVEL", "encode_png"]

#: Compression level 0..9; 1 (ISA-L level 1, or zlib level 1 without ``isal``) with the SUB filter
#: is the measured sweet spot for 512 px stickers. Levels 1..3 use ISA-L when it is installed.
PNG_COMPRESS_LEVEL = 1

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def _sub_filtered(rgba: np.ndarray) -> np.ndarray:
    """PNG scanlines of an hxwx4 uint8 image with filter type 1 (SUB): h x (1 + 4w) uint8, each row
    its filter byte then every byte minus the byte 4 to its left (mod 256)."""
    h, w = rgba.shape[:2]
    flat = rgba.reshape(h, w * 4)
    raw = np.empty((h, 1 + w * 4), np.uint8)
    raw[:, 0] = 1
    raw[:, 1:5] = flat[:, :4]
    np.subtract(flat[:, 4:], flat[:, :-4], out=raw[:, 5:])
    return raw


def _png_isal(rgba: np.ndarray, level: int) -> bytes:
    h, w = rgba.shape[:2]
    header = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)  # 8-bit RGBA, deflate, adaptive filters, no interlace
    idat = _isal.compress(_sub_filtered(rgba), level)  # type: ignore[union-attr]
    return _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _IEND


def _png_cv2(rgba: np.ndarray, level: int) -> bytes:
    bgra = cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA)
    params = [
        cv2.IMWRITE_PNG_COMPRESSION, level,
        cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB,
    ]  # fmt: skip
    ok, buf = cv2.imencode(".png", bgra, params)
    if not ok:  # pragma: no cover - libpng fails only on out-of-memory
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def encode_png(
    img: Image.Image | np.ndarray, compress_level: int = PNG_COMPRESS_LEVEL, optimize: bool = False
) -> bytes:
    """Encode an image as an RGBA PNG.

    Args:
        img: a Pillow image (any mode; converted to RGBA) or an hxwx4 uint8 RGBA array.
        compress_level: 0..9; 1..3 are ISA-L's levels when ``isal`` is installed, otherwise (and
            for 0 and 4..9) zlib's, through OpenCV's libpng (ignored when ``optimize`` is True).
        optimize: let Pillow search for the smallest encoding (slow: ~10× the time).

    Returns:
        The PNG file (8-bit RGBA, non-interlaced), bytes.

    Raises:
        ValueError: ``compress_level`` outside 0..9, or an array that is not hxwx4 uint8.
    """
    if not 0 <= compress_level <= 9:
        raise ValueError(f"compress_level must be 0..9, got {compress_level}")
    if isinstance(img, Image.Image):
        rgba = np.asarray(img if img.mode == "RGBA" else img.convert("RGBA"))
    else:
        rgba = img
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
        raise ValueError(f"expected hxwx4 uint8 RGBA, got shape {rgba.shape} dtype {rgba.dtype}")
    if optimize:
        buffer = io.BytesIO()
        Image.fromarray(rgba, "RGBA").save(buffer, format="PNG", optimize=True)
        return buffer.getvalue()
    if _isal is not None and 1 <= compress_level <= 3 and rgba.size:
        return _png_isal(rgba, compress_level)
    return _png_cv2(rgba, compress_level)
