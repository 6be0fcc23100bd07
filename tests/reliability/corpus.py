"""The hostile-input corpus, generated here (no files checked in): each case is one HTTP request and
what the contract says must come back.

`expect` is either an error code of :data:`stickers_core.errors.ERROR_CODES` (the 4xx in the
contract's shape), ``"GATEWAY_413"`` (API Gateway's refusal of a payload over its limits, which the stack's
``REQUEST_TOO_LARGE`` gateway response words like the contract), or ``"COMPLETED"``: odd-but-valid input that is accepted (202) and whose job completes.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from stickers_core import limits


@dataclass(frozen=True)
class Case:
    """One request of the corpus.

    Attributes:
        id: a readable name (the pytest id).
        method, path: the request line (`path` is sent as is, no normalisation).
        expect: an error code, ``"GATEWAY_413"`` or ``"COMPLETED"``.
        files, data: a multipart body (httpx's `files` / `data`), or
        json_body: a JSON value, or
        raw: raw bytes with `content_type`.
    """

    id: str
    method: str
    path: str
    expect: str
    files: dict[str, Any] | None = None
    data: dict[str, str] | None = None
    json_body: Any = None
    raw: bytes | None = None
    content_type: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def encode(img: Image.Image, fmt: str, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def photo(width: int = 320, height: int = 240, mode: str = "RGB") -> Image.Image:
    """A subject (a disc) on a gradient, in `mode`."""
    yy, xx = np.mgrid[0:height, 0:width]
    r = ((xx - width / 2) ** 2 + (yy - height / 2) ** 2) < (min(width, height) / 3) ** 2
    rgb = np.stack([xx * 255 // max(1, width - 1), yy * 255 // max(1, height - 1), np.full_like(xx, 128)], -1).astype(np.uint8)
    rgb[r] = (230, 80, 40)
    return Image.fromarray(rgb, "RGB").convert(mode) if mode != "RGB" else Image.fromarray(rgb, "RGB")


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares `width`×`height` (a decompression bomb's calling card)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024, 9)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def deflate_bomb() -> bytes:
    """A real one: 8000×6000 (48 MP) of zeros compresses to a few tens of KB."""
    return encode(Image.new("L", (8000, 6000)), "PNG", optimize=False, compress_level=9)


def gif_bomb() -> bytes:
    """A GIF whose logical screen claims 65535×65535 px."""
    return b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x00\x00\x00" + b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"


def exif_rotated() -> bytes:
    """A 320×240 JPEG whose EXIF says "rotate 90° CW" (orientation 6): a 240×320 photo."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(photo(320, 240), "JPEG", exif=exif.tobytes())


def animated(fmt: str) -> bytes:
    frames = [photo(200, 160).rotate(a) for a in (0, 20, 40)]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def sixteen_bit_png() -> bytes:
    arr = (np.linspace(0, 65535, 256 * 200, dtype=np.uint32).reshape(200, 256)).astype(np.uint16)
    return encode(Image.fromarray(arr), "PNG")


def palette_png() -> bytes:
    img = photo(240, 180).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return encode(img, "PNG", transparency=0)


def noise_png(n_bytes: int) -> bytes:
    """An incompressible PNG of about `n_bytes` bytes (random pixels)."""
    side = int((n_bytes / 3) ** 0.5) + 1
    return encode(Image.fromarray(np.random.default_rng(7).integers(0, 256, (side, side, 3), dtype=np.uint8)), "PNG", compress_level=0)


def _image(cid: str, data: bytes, expect: str, content_type: str = "image/jpeg", filename: str = "photo.jpg", **form: str) -> Case:
    return Case(cid, "POST", "/v1/stickers/image", expect, files={"image": (filename, data, content_type)}, data=form or None)


def _text(cid: str, body: Any, expect: str) -> Case:
    return Case(cid, "POST", "/v1/stickers/text", expect, json_body=body)


def _raw(cid: str, path: str, raw: bytes, content_type: str, expect: str) -> Case:
    return Case(cid, "POST", path, expect, raw=raw, content_type=content_type)


def image_cases() -> list[Case]:
    """Photos: broken, lying, hostile, and odd-but-valid ones."""
    jpeg = encode(photo(640, 480), "JPEG")
    png = encode(photo(640, 480), "PNG")
    one = {"styles": "classic", "count": "1"}
    return [
        _image("zero-byte", b"", "NO_IMAGE"),
        _image("truncated-jpeg", jpeg[: len(jpeg) // 2], "CORRUPT_IMAGE"),
        _image("truncated-png", png[: len(png) // 2], "CORRUPT_IMAGE", "image/png", "a.png"),
        _image("magic-only-jpeg", b"\xff\xd8\xff", "CORRUPT_IMAGE"),
        _image("jpeg-header-then-garbage", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4, "CORRUPT_IMAGE"),
        _image("text-as-image-jpeg", b"hello, I am a photo", "UNSUPPORTED_TYPE"),
        _image("png-bytes-named-gif", png, "COMPLETED", "image/gif", "cat.gif", **one),
        _image("svg-as-png", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "UNSUPPORTED_TYPE", "image/png", "x.png"),
        _image("html-as-jpeg", b"<!doctype html><html><body onload=alert(1)>", "UNSUPPORTED_TYPE"),
        _image("pdf-as-jpeg", b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "UNSUPPORTED_TYPE"),
        _image("bmp", encode(photo(), "BMP"), "UNSUPPORTED_TYPE", "image/bmp", "a.bmp"),
        _image("tiff", encode(photo(), "TIFF"), "UNSUPPORTED_TYPE", "image/tiff", "a.tiff"),
        _image("riff-not-webp", b"RIFF\x10\x00\x00\x00WAVEfmt " + b"\x00" * 32, "UNSUPPORTED_TYPE", "image/webp", "a.webp"),
        _image("bomb-header-100k-square", png_bomb(100_000, 100_000), "BAD_DIMENSIONS", "image/png", "bomb.png"),
        _image("bomb-header-40001x1000", png_bomb(40_001, 1_000), "BAD_DIMENSIONS", "image/png", "bomb.png"),
        _image("bomb-deflate-48mp", deflate_bomb(), "BAD_DIMENSIONS", "image/png", "bomb.png"),
        _image("bomb-gif-screen", gif_bomb(), "BAD_DIMENSIONS", "image/gif", "bomb.gif"),
        _image("too-small-63px", encode(photo(63, 200), "PNG"), "BAD_DIMENSIONS", "image/png", "a.png"),
        _image("aspect-10x4000", encode(photo(10, 4000), "PNG"), "BAD_DIMENSIONS", "image/png", "a.png"),
        _image("aspect-8001x64", encode(photo(8001, 64), "PNG"), "BAD_DIMENSIONS", "image/png", "a.png"),
        _image("unknown-style", jpeg, "UNKNOWN_STYLE", styles="classic,../../etc"),
        _image("count-zero", jpeg, "BAD_COUNT", count="0"),
        _image("count-huge", jpeg, "BAD_COUNT", count="99999999999999999999"),
        _image("count-negative", jpeg, "BAD_COUNT", count="-1"),
        _image("direct-over-4mb", noise_png(limits.DIRECT_UPLOAD_MAX_BYTES + 200_000), "TOO_LARGE", "image/png", "big.png"),
        # odd but valid: accepted and completed
        _image("tiny-64x64", encode(photo(64, 64), "PNG"), "COMPLETED", "image/png", "a.png", **one),
        _image("aspect-64x4000", encode(photo(64, 4000), "PNG"), "COMPLETED", "image/png", "a.png", **one),
        _image("cmyk-jpeg", encode(photo(320, 240, "CMYK"), "JPEG"), "COMPLETED", **one),
        _image("grey-jpeg", encode(photo(320, 240, "L"), "JPEG"), "COMPLETED", **one),
        _image("16-bit-png", sixteen_bit_png(), "COMPLETED", "image/png", "a.png", **one),
        _image("palette-png-transparent", palette_png(), "COMPLETED", "image/png", "a.png", **one),
        _image("la-png", encode(photo(240, 180, "LA"), "PNG"), "COMPLETED", "image/png", "a.png", **one),
        _image("rgba-png", encode(photo(240, 180, "RGBA"), "PNG"), "COMPLETED", "image/png", "a.png", **one),
        _image("animated-gif", animated("GIF"), "COMPLETED", "image/gif", "a.gif", **one),
        _image("animated-webp", animated("WEBP"), "COMPLETED", "image/webp", "a.webp", **one),
        _image("exif-rotated-jpeg", exif_rotated(), "COMPLETED", styles="classic,cutout"),
        _image("path-trick-filename", jpeg, "COMPLETED", filename="../../../etc/passwd\x00.jpg", **one),
    ]


def request_shape_cases() -> list[Case]:
    """Bodies that are not what the route takes."""
    boundary_less = b"--x\r\nContent-Disposition: form-data; name=image; filename=a.jpg\r\n\r\nxx\r\n--x--\r\n"
    return [
        _raw("image-no-content-type-body", "/v1/stickers/image", b"\xff\xd8\xff" * 10, "application/octet-stream", "UNSUPPORTED_MEDIA_TYPE"),
        _raw("image-text-plain", "/v1/stickers/image", b"hello", "text/plain", "UNSUPPORTED_MEDIA_TYPE"),
        _raw("multipart-without-boundary", "/v1/stickers/image", boundary_less, "multipart/form-data", "INVALID_REQUEST"),
        _raw("multipart-garbage", "/v1/stickers/image", b"\x00\x01garbage" * 50, "multipart/form-data; boundary=zz", "INVALID_REQUEST"),
        _raw("image-json-not-json", "/v1/stickers/image", b"{uploadId:", "application/json", "INVALID_JSON"),
        _raw("image-json-bad-upload-id", "/v1/stickers/image", json.dumps({"uploadId": "../../uploads/x"}).encode(), "application/json", "UPLOAD_NOT_FOUND"),
        _raw("image-json-upload-id-number", "/v1/stickers/image", json.dumps({"uploadId": 7}).encode(), "application/json", "UPLOAD_NOT_FOUND"),
        _raw("image-json-unknown-upload", "/v1/stickers/image", json.dumps({"uploadId": "3f0c0000-0000-4000-8000-000000000000"}).encode(), "application/json", "UPLOAD_NOT_FOUND"),
        _raw("over-10mb-body", "/v1/stickers/image", b"\x00" * (10 * 1024 * 1024 + 1), "application/octet-stream", "GATEWAY_413"),
    ]


def text_cases() -> list[Case]:
    """Text jobs: control characters, scripts, sizes, types, nesting."""
    deep = b'{"text": "hi", "x": ' + b'{"a": [' * 5000 + b"1" + b"]}" * 5000 + b"}"
    return [
        _text("no-input", {}, "NO_INPUT"),
        _text("blank-text", {"text": "   \n  "}, "NO_INPUT"),
        _text("control-char-bell", {"text": "ring\x07"}, "BAD_TEXT"),
        _text("control-char-nul", {"text": "nul\x00byte"}, "BAD_TEXT"),
        _text("control-char-escape", {"text": "\x1b[31mred"}, "BAD_TEXT"),
        _text("control-char-in-keyword", {"keywords": ["ok", "bad\x0b"]}, "BAD_TEXT"),
        _text("text-201-chars", {"text": "a" * 201}, "TEXT_TOO_LONG"),
        _text("text-10k-chars", {"text": "ü" * 10_000}, "TEXT_TOO_LONG"),
        _text("keywords-11", {"keywords": [f"k{i}" for i in range(11)]}, "TOO_MANY_KEYWORDS"),
        _text("keywords-1000", {"keywords": ["k"] * 1000}, "TOO_MANY_KEYWORDS"),
        _text("keyword-31-chars", {"keywords": ["k" * 31]}, "BAD_KEYWORD"),
        _text("keyword-empty", {"keywords": [" "]}, "BAD_KEYWORD"),
        _text("text-number", {"text": 123}, "INVALID_REQUEST"),
        _text("text-object", {"text": {"$ne": ""}}, "INVALID_REQUEST"),
        _text("keywords-string", {"keywords": "party"}, "INVALID_REQUEST"),
        _text("keywords-numbers", {"keywords": [1, 2]}, "INVALID_REQUEST"),
        _text("styles-object", {"text": "hi", "styles": {"a": 1}}, "INVALID_REQUEST"),
        _text("styles-unknown", {"text": "hi", "styles": ["comic-sans"]}, "UNKNOWN_STYLE"),
        _text("count-string", {"text": "hi", "count": "three"}, "BAD_COUNT"),
        _text("count-float", {"text": "hi", "count": 2.5}, "BAD_COUNT"),
        _text("count-bool", {"text": "hi", "count": True}, "BAD_COUNT"),
        _text("count-9", {"text": "hi", "count": 9}, "BAD_COUNT"),
        _text("callback-javascript", {"text": "hi", "callbackUrl": "javascript:alert(1)"}, "INVALID_REQUEST"),
        _text("callback-file", {"text": "hi", "callbackUrl": "file:///etc/passwd"}, "INVALID_REQUEST"),
        _text("body-array", [{"text": "hi"}], "INVALID_JSON"),
        _text("body-string", "hi", "INVALID_JSON"),
        _text("body-null", None, "INVALID_JSON"),
        _raw("not-json", "/v1/stickers/text", b"text=hello", "application/json", "INVALID_JSON"),
        _raw("truncated-json", "/v1/stickers/text", b'{"text": "hi', "application/json", "INVALID_JSON"),
        _raw("json-nan", "/v1/stickers/text", b'{"text": "hi", "count": NaN}', "application/json", "BAD_COUNT"),
        _raw("json-lone-surrogate", "/v1/stickers/text", b'{"text": "\\ud800"}', "application/json", "BAD_TEXT"),
        # API Gateway hands a text payload to Lambda as a string: invalid UTF-8 arrives as U+FFFD
        _raw("json-invalid-utf8", "/v1/stickers/text", b'{"text": "\xff\xfe", "count": 1}', "application/json", "COMPLETED"),
        _raw("json-deep-nesting", "/v1/stickers/text", deep, "application/json", "INVALID_JSON"),
        _raw("json-over-64k", "/v1/stickers/text", json.dumps({"text": "hi", "pad": "x" * 70_000}).encode(), "application/json", "TOO_LARGE"),
        # 400 where the image route says 415 UNSUPPORTED_MEDIA_TYPE (reported to the API's owner)
        _raw("text-as-form", "/v1/stickers/text", b"text=hello", "application/x-www-form-urlencoded", "UNSUPPORTED_MEDIA_TYPE"),
        # odd but valid
        _text("right-to-left", {"text": "مرحبا بالعالم", "keywords": ["שלום"]}, "COMPLETED"),
        _text("combining-marks", {"text": "Z̷̢͉a̵̡̛l̶̨g̸o̵ e\u0301\u0301\u0301"}, "COMPLETED"),
        _text("emoji-only", {"text": "🎉🐱‍👤👩🏽‍🚀🏳️‍🌈"}, "COMPLETED"),
        _text("bidi-override", {"text": "abc\u202edcba"}, "COMPLETED"),
        _text("exactly-200", {"text": "é" * 200, "count": 1}, "COMPLETED"),
        _text("newlines", {"text": "line one\nline two"}, "COMPLETED"),
    ]


def path_cases() -> list[Case]:
    """Tricks in job ids and query strings: all "no such job" or a 400."""
    long_id = "a" * 5000
    cases = []
    for name, jid in [
        ("dotdot-literal", "../../etc/passwd"),
        ("dotdot-alone", ".."),
        ("nested", "a/b"),
        ("dotdot", "..%2F..%2Fstickers"),
        ("dotdot-encoded", "%2e%2e%2f%2e%2e%2fetc%2fpasswd"),
        ("nul", "3f0c%00"),
        ("long-id", long_id),
        ("unicode", "%E2%80%AEjob%F0%9F%90%B1"),
        ("uuid-uppercase", "3F0C0000-0000-4000-8000-000000000000"),
        ("uuid-unknown", "3f0c0000-0000-4000-8000-000000000000"),
        ("sql-ish", "1%27%20OR%20%271%27%3D%271"),
        ("backslashes", "..%5C..%5Cwindows"),
        ("spaces", "%20%20"),
    ]:
        cases.append(Case(f"get-{name}", "GET", f"/v1/jobs/{jid}", "JOB_NOT_FOUND"))
        cases.append(Case(f"delete-{name}", "DELETE", f"/v1/jobs/{jid}", "JOB_NOT_FOUND"))
    cases += [
        Case("list-limit-0", "GET", "/v1/jobs?limit=0", "INVALID_REQUEST"),
        Case("list-limit-text", "GET", "/v1/jobs?limit=ten", "INVALID_REQUEST"),
        Case("list-limit-huge", "GET", "/v1/jobs?limit=99999999999999999999999", "INVALID_REQUEST"),
        Case("list-token-garbage", "GET", "/v1/jobs?nextToken=%00%ff", "INVALID_REQUEST"),
        Case("list-token-forged", "GET", "/v1/jobs?nextToken=eyJqb2JJZCI6IngiLCJvd25lcklkIjoib3RoZXIiLCJjcmVhdGVkQXQiOiJ4In0", "INVALID_REQUEST"),
        _raw("upload-svg", "/v1/uploads", json.dumps({"contentType": "image/svg+xml"}).encode(), "application/json", "UNSUPPORTED_TYPE"),
        _raw("upload-11mb", "/v1/uploads", json.dumps({"contentType": "image/png", "contentLength": 11 * 1024 * 1024}).encode(), "application/json", "TOO_LARGE"),
        _raw("upload-length-text", "/v1/uploads", json.dumps({"contentType": "image/png", "contentLength": "big"}).encode(), "application/json", "INVALID_REQUEST"),
        _raw("upload-length-negative", "/v1/uploads", json.dumps({"contentType": "image/png", "contentLength": -5}).encode(), "application/json", "INVALID_REQUEST"),
        _raw("upload-no-type", "/v1/uploads", b"{}", "application/json", "INVALID_REQUEST"),
    ]
    return cases


def corpus() -> list[Case]:
    """Every case, in a stable order."""
    return image_cases() + request_shape_cases() + text_cases() + path_cases()
