"""Decoding and validating photos: type from bytes, dimension limits, EXIF orientation, first frame.

Used twice with the same rules: by the API function, to refuse a bad upload with a 4xx before a job
exists, and by the GPU service, to load the photo it renders from.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from stickers_core import limits
from stickers_core.errors import ValidationFailed

#: Pillow format name → MIME type, for the four types docs/api.md accepts.
FORMATS: dict[str, str] = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}

# Pillow refuses (DecompressionBombError) anything twice this size before decoding a pixel; our own
# megapixel check answers first with a clear 400, so this only backs it up.
Image.MAX_IMAGE_PIXELS = limits.MAX_MEGAPIXELS * 1_000_000


def sniff_format(data: bytes) -> str | None:
    """The image format from the file's magic bytes, whatever its name or declared type says.

    Args:
        data: the file's first bytes (12 are enough).

    Returns:
        ``"JPEG"``, ``"PNG"``, ``"WEBP"``, ``"GIF"``, or None for anything else.
    """
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def unsupported_type() -> ValidationFailed:
    """The 415 `UNSUPPORTED_TYPE` error of docs/api.md."""
    return ValidationFailed(
        "UNSUPPORTED_TYPE",
        "Invalid file type. Allowed types: " + ", ".join(limits.ALLOWED_IMAGE_TYPES),
        status=415,
        allowed=list(limits.ALLOWED_IMAGE_TYPES),
    )


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What validation learnt about a photo.

    Attributes:
        format: lower-case format name (``jpeg``, ``png``, ``webp``, ``gif``).
        content_type: its MIME type.
        width, height: size in px after EXIF orientation.
        frames: number of frames (1 for still images).
    """

    format: str
    content_type: str
    width: int
    height: int
    frames: int


def _check_dimensions(width: int, height: int) -> None:
    lo, hi = limits.MIN_SIDE_PX, limits.MAX_SIDE_PX
    if not (lo <= width <= hi and lo <= height <= hi):
        raise ValidationFailed(
            "BAD_DIMENSIONS",
            f"Image is {width}×{height} px; width and height must each be {lo}–{hi} px",
            width=width,
            height=height,
        )
    if width * height > limits.MAX_MEGAPIXELS * 1_000_000:
        raise ValidationFailed(
            "BAD_DIMENSIONS",
            f"Image is {width * height / 1e6:.1f} megapixels; at most {limits.MAX_MEGAPIXELS} are allowed",
            width=width,
            height=height,
        )


def _open(data: bytes) -> tuple[Image.Image, str]:
    fmt = sniff_format(data)
    if fmt is None:
        raise unsupported_type()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValidationFailed("BAD_DIMENSIONS", f"Image exceeds {limits.MAX_MEGAPIXELS} megapixels") from None
    except Exception:  # noqa: BLE001 - any parser failure of a file with valid magic bytes is corruption
        raise ValidationFailed("CORRUPT_IMAGE", "The image file is corrupt or truncated") from None
    return img, fmt


def _oriented_size(img: Image.Image) -> tuple[int, int]:
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - an unreadable EXIF block means no orientation
        orientation = 1
    w, h = img.size
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def inspect_image(data: bytes) -> ImageInfo:
    """Validate a photo the way the API must before accepting a job.

    Checks the type from the magic bytes, the dimension and megapixel limits (from the header, before
    decoding any pixel, so decompression bombs are refused cheaply), then decodes the first frame
    (JPEGs in Pillow's reduced-size draft mode, which still reads the whole stream) to catch truncated
    or corrupt files.

    Args:
        data: the whole file.

    Returns:
        An :class:`ImageInfo`.

    Raises:
        ValidationFailed: 415 `UNSUPPORTED_TYPE`, 400 `BAD_DIMENSIONS` or 400 `CORRUPT_IMAGE`.
    """
    img, fmt = _open(data)
    with img:
        width, height = _oriented_size(img)
        _check_dimensions(*img.size)
        try:
            if fmt == "JPEG":
                img.draft("RGB", (max(1, img.width // 8), max(1, img.height // 8)))
            img.load()
        except Exception:  # noqa: BLE001
            raise ValidationFailed("CORRUPT_IMAGE", "The image file is corrupt or truncated") from None
        frames = getattr(img, "n_frames", 1)
    return ImageInfo(format=fmt.lower(), content_type=FORMATS[fmt], width=width, height=height, frames=frames)


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info)


def _to_8bit(img: Image.Image) -> Image.Image:
    """Convert 16/32-bit greyscale modes to 8-bit ``L`` by scaling, not clipping."""
    import numpy as np  # only rare 16/32-bit photos need it; keeps numpy off the API function's cold start

    arr = np.asarray(img)
    if img.mode.startswith("I;16"):
        arr8 = (arr.astype(np.uint32) // 257).astype(np.uint8)
    else:  # "I" (int32) or "F" (float32): stretch the used range
        arr = arr.astype(np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr8 = np.zeros(arr.shape, np.uint8) if hi <= lo else ((arr - lo) * (255.0 / (hi - lo))).astype(np.uint8)
    return Image.fromarray(arr8, mode="L")


def _reduce_while_loading(img: Image.Image, fmt: str, max_side: int) -> None:
    """Ask the decoder for a smaller image whose longest side stays ≥ ``max_side`` px.

    JPEG only: libjpeg's DCT scaling (Pillow's ``draft``) decodes at 1/2, 1/4 or 1/8 scale, several
    times faster than a full decode (it skips most of the IDCT and upsampling work). Other formats
    are decoded whole and shrunk afterwards by :func:`_reduce_after_loading`.
    """
    if fmt != "JPEG":
        return
    w, h = img.size
    k = max_side / max(w, h)
    if k < 0.5:  # draft picks the largest scale whose result is at least the requested size
        img.draft("RGB", (max(1, math.ceil(w * k)), max(1, math.ceil(h * k))))


def _reduce_after_loading(img: Image.Image, max_side: int) -> Image.Image:
    """Integer box reduction (``Image.reduce``) keeping the longest side ≥ ``max_side`` px."""
    factor = max(img.size) // max_side
    return img.reduce(factor) if factor >= 2 else img


def decode_image(data: bytes, max_side: int | None = None) -> tuple[Image.Image, ImageInfo]:
    """Decode a photo for rendering: first frame, EXIF orientation applied, 8-bit RGB or RGBA.

    Args:
        data: the whole file (JPEG, PNG, WebP or GIF; animated ones give their first frame).
        max_side: when given, the photo may come back smaller, by an integer factor, as long as its
            longest side stays ≥ ``max_side`` px (JPEGs are decoded at reduced scale by libjpeg,
            which is several times faster; others are box-reduced after decoding). None (the
            default) always decodes at full resolution. Limits are checked on the full size.

    Returns:
        ``(image, info)``: a loaded PIL image in mode ``RGB`` (or ``RGBA`` where the file has an
        alpha channel or a transparent palette entry), and its :class:`ImageInfo` (``width`` and
        ``height`` are those of the returned image).

    Raises:
        ValidationFailed: as :func:`inspect_image`; ValueError: ``max_side`` < 1.

    >>> import io; from PIL import Image
    >>> buf = io.BytesIO(); Image.new("RGB", (1600, 1200), "red").save(buf, "JPEG")
    >>> decode_image(buf.getvalue(), max_side=400)[0].size
    (400, 300)
    """
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be ≥ 1, got {max_side}")
    img, fmt = _open(data)
    with img:
        _check_dimensions(*img.size)
        frames = getattr(img, "n_frames", 1)
        try:
            img.seek(0)
            if max_side is not None:
                _reduce_while_loading(img, fmt, max_side)
            img.load()
            frame = ImageOps.exif_transpose(img)
        except Exception:  # noqa: BLE001
            raise ValidationFailed("CORRUPT_IMAGE", "The image file is corrupt or truncated") from None
        if frame.mode in ("I", "F") or frame.mode.startswith("I;16"):
            frame = _to_8bit(frame)
        out = frame.convert("RGBA" if _has_alpha(frame) else "RGB")
        if max_side is not None:
            out = _reduce_after_loading(out, max_side)
    info = ImageInfo(format=fmt.lower(), content_type=FORMATS[fmt], width=out.width, height=out.height, frames=frames)
    return out, info
