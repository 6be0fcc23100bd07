"""Photo validation and decoding: type from bytes, limits, EXIF orientation, first frame, modes."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from stickers_core.errors import ValidationFailed
from stickers_core.images import decode_image, inspect_image, sniff_format
from tests.helpers import encode


def _code(data: bytes) -> tuple[int, str]:
    with pytest.raises(ValidationFailed) as info:
        inspect_image(data)
    return info.value.status, info.value.code


@pytest.mark.parametrize("fmt,expected", [("JPEG", "jpeg"), ("PNG", "png"), ("WEBP", "webp"), ("GIF", "gif")])
def test_accepts_the_four_types_decided_from_bytes(fmt: str, expected: str) -> None:
    info = inspect_image(encode(Image.new("RGB", (120, 80), (10, 200, 30)), fmt))
    assert (info.format, info.width, info.height) == (expected, 120, 80)
    assert info.content_type == f"image/{expected}"


@pytest.mark.parametrize(
    "data",
    [b"", b"hello world, not an image", b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"%PDF-1.7\n", b"<html></html>"],
)
def test_non_images_are_415(data: bytes) -> None:
    assert _code(data) == (415, "UNSUPPORTED_TYPE")


def test_other_image_formats_are_415() -> None:
    assert _code(encode(Image.new("RGB", (100, 100)), "BMP")) == (415, "UNSUPPORTED_TYPE")
    assert _code(encode(Image.new("RGB", (100, 100)), "TIFF")) == (415, "UNSUPPORTED_TYPE")


def test_truncated_jpeg_is_corrupt() -> None:
    data = encode(Image.effect_noise((300, 300), 50).convert("RGB"), "JPEG")
    assert _code(data[: len(data) // 2]) == (400, "CORRUPT_IMAGE")


def test_magic_bytes_alone_are_corrupt() -> None:
    assert _code(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40) == (400, "CORRUPT_IMAGE")


@pytest.mark.parametrize("size", [(63, 100), (100, 63), (8001, 100), (64, 8001)])
def test_dimensions_outside_64_to_8000_are_refused(size: tuple[int, int]) -> None:
    assert _code(encode(Image.new("L", size), "PNG")) == (400, "BAD_DIMENSIONS")


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that declares a huge size (a decompression bomb's header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda kind, body: struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))  # noqa: E731
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_from_the_header() -> None:
    data = _png_header_only(8000, 7000)  # 56 MP, inside the per-side limit, over 40 MP
    assert len(data) < 200
    status, code = _code(data)
    assert (status, code) == (400, "BAD_DIMENSIONS")


def test_exif_orientation_is_applied() -> None:
    img = Image.new("RGB", (200, 100), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 100, 100))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    data = encode(img, "JPEG", exif=exif.tobytes(), quality=95)
    info = inspect_image(data)
    assert (info.width, info.height) == (100, 200)
    decoded, _ = decode_image(data)
    assert decoded.size == (100, 200)
    top = np.asarray(decoded)[10, 50]
    assert top[2] > 200 and top[0] < 60, "after rotating 90° clockwise the blue half is on top"


def test_first_frame_of_an_animated_gif() -> None:
    frames = [Image.new("RGB", (80, 80), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    buf = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    img, info = decode_image(buf)
    assert info.frames == 3
    r, g, b = img.convert("RGB").getpixel((40, 40))
    assert r > 200 and g < 50 and b < 50


def test_first_frame_of_an_animated_webp() -> None:
    frames = [Image.new("RGB", (80, 80), c) for c in ((0, 255, 0), (255, 0, 0))]
    img, info = decode_image(encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=50, lossless=True))
    assert info.frames == 2
    assert img.convert("RGB").getpixel((40, 40))[1] > 200


@pytest.mark.parametrize(
    "mode,fmt,expected",
    [("CMYK", "JPEG", "RGB"), ("L", "PNG", "RGB"), ("LA", "PNG", "RGBA"), ("P", "GIF", "RGB"), ("I;16", "PNG", "RGB"), ("RGBA", "WEBP", "RGBA")],
)
def test_modes_become_8bit_rgb_or_rgba(mode: str, fmt: str, expected: str) -> None:
    img = Image.new(mode, (90, 70))
    if mode == "I;16":
        img = Image.fromarray(np.full((70, 90), 40000, np.uint16))
    decoded, _ = decode_image(encode(img, fmt))
    assert decoded.mode == expected
    if mode == "I;16":
        assert decoded.getpixel((5, 5))[0] == 40000 // 257, "16-bit samples are scaled, not clipped"


def test_sniff_ignores_names_and_declared_types() -> None:
    assert sniff_format(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "WEBP"
    assert sniff_format(b"GIF89a") == "GIF"
    assert sniff_format(b"\xff\xd8\xff\xe0") == "JPEG"
    assert sniff_format(b"RIFF\x00\x00\x00\x00WAVE") is None
