"""Sticker geometry: crop the subject, scale it to sticker size, and draw die-cut shapes.

Every image style but ``cutout`` starts from a :class:`Subject`: the photo cropped to the subject's
bounding box, scaled so the sticker's longest side is :data:`STICKER_MAX_SIDE_PX` (512 px; another
size when a job asks for one) and padded with a transparent margin of :data:`PAD_PX` (scaled alike).
All later work happens at that size, never the photo's. Styles give their widths in px *at 512 px*:
:attr:`Subject.unit` (the canvas side / 512) scales them — :func:`border_shape` and
:func:`subject_shadow` do it themselves, :func:`px` for the others — so a 1024 px sticker has a
border twice as wide as a 512 px one, and at 512 px (unit 1) nothing is multiplied at all.

Die-cut borders are an offset curve of the subject mask: the Euclidean distance transform of the
background (``cv2.distanceTransform``, Borgefors/Felzenszwalb exact L2) is thresholded at the border
radius, holes are filled (one outer contour per piece), and the result is Gaussian-smoothed (at half
resolution for sigma ≥ 2.5 px, :func:`gaussian_blur`) and re-thresholded with a one-pixel linear
ramp (:func:`ramp_edge`), which rounds inner corners and anti-aliases the edge.

Why one module of this size: the subject, its scaling and every die-cut shape share the same geometry helpers and unit scaling.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from stickers_core.styles import STICKER_MAX_SIDE_PX

__all__ = [
    "PAD_PX",
    "Subject",
    "border_shape",
    "compose",
    "compose_rgba",
    "fallback_matte",
    "gaussian_blur",
    "memo",
    "prepare",
    "px",
    "pyramid_blur",
    "ramp_edge",
    "rounded_rect_matte",
    "shift",
    "soft_shadow",
    "subject_shadow",
    "to_rgba_image",
]

#: One layer for :func:`compose`: (colour, coverage).
Layer = tuple[np.ndarray | list[np.ndarray] | tuple[int, int, int], np.ndarray]

#: Transparent margin, px, around the subject at sticker scale (room for border and shadow).
PAD_PX = 30

#: A "subject" smaller than this fraction of the photo (after removing specks) counts as none.
MIN_SUBJECT_FRACTION = 0.0005

#: Connected pieces of the mask smaller than this fraction of the largest piece are dropped.
MIN_PIECE_FRACTION = 0.04

#: Side, px, of the thumbnail the subject's bounding box is found on.
_ANALYSIS_SIDE = 512


@dataclass(frozen=True, slots=True)
class Subject:
    """The subject at sticker scale, on a transparent padded canvas.

    Attributes:
        rgb: hxwx3 uint8 photo pixels (the crop, scaled; arbitrary where ``alpha`` is 0).
        alpha: hxw float32 matte 0..1, tightened (edge ramp narrowed to limit background halo).
        mask: hxw bool, the binary subject (specks removed).
        outside: hxw float32 distance, px, from each pixel to the nearest subject pixel (0 inside).
        fallback: True when no subject was found and the whole photo (as a rounded rectangle) is
            the subject.
        box: (x0, y0, x1, y1) of the crop in the photo, px, exclusive ends.
        scale: sticker px per photo px; photo point (x, y) is canvas point
            ((x - x0) * scale + pad, (y - y0) * scale + pad).
        pad: transparent margin, px.
        unit: canvas px per px of the 512 px reference sticker (``max_side / 512`` of
            :func:`prepare`; 1.0 by default): the factor by which styles scale their widths.
        shapes: memo of planes shared by the styles of one job, filled lazily through
            :func:`memo` (computed once even when styles render in parallel threads), never
            compared: :func:`border_shape` results by (radius, smooth) (several styles cut at the
            same radius), and the styles' filled/smoothed photo planes by name.
        locks: one lock per memo key, for :func:`memo`.
    """

    rgb: np.ndarray
    alpha: np.ndarray
    mask: np.ndarray
    outside: np.ndarray
    fallback: bool
    box: tuple[int, int, int, int] = (0, 0, 0, 0)
    scale: float = 1.0
    pad: int = PAD_PX
    unit: float = 1.0
    shapes: dict[object, np.ndarray] = field(default_factory=dict, compare=False, repr=False)
    locks: dict[object, threading.Lock] = field(default_factory=dict, compare=False, repr=False)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the canvas, px."""
        return (self.rgb.shape[1], self.rgb.shape[0])


def rounded_rect_matte(
    height: int, width: int, box: tuple[float, float, float, float], radius: float
) -> np.ndarray:
    """Anti-aliased rounded rectangle.

    Args:
        height, width: canvas size, px.
        box: (x0, y0, x1, y1) of the rectangle, px (floats allowed).
        radius: corner radius, px (clamped to half the shorter side).

    Returns:
        height x width float32 coverage 0..1, from the signed distance to a rounded box
        (Inigo Quilez's ``sdRoundBox``) with a 1 px linear ramp.
    """
    x0, y0, x1, y1 = box
    half_w, half_h = max((x1 - x0) / 2, 0.0), max((y1 - y0) / 2, 0.0)
    radius = max(0.5, min(radius, half_w, half_h))
    ys = np.arange(height, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(width, dtype=np.float32)[None, :] + 0.5
    qx = np.abs(xs - (x0 + x1) / 2) - (half_w - radius)
    qy = np.abs(ys - (y0 + y1) / 2) - (half_h - radius)
    outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
    inside = np.minimum(np.maximum(qx, qy), 0)
    return np.clip(0.5 - (outside + inside - radius), 0.0, 1.0).astype(np.float32)


def fallback_matte(height: int, width: int) -> np.ndarray:
    """Rounded-rectangle matte covering a whole photo, used when no subject is found.

    Args:
        height, width: size of the photo, px.

    Returns:
        height x width uint8 matte, 255 inside a rectangle inset by 2 % of the shorter side with
        corners rounded by 8 % of it, anti-aliased.
    """
    short = min(height, width)
    inset = short * 0.02
    box = (inset, inset, width - inset, height - inset)
    return (rounded_rect_matte(height, width, box, short * 0.08) * 255 + 0.5).astype(np.uint8)


def _pieces(binary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep mask of the significant connected pieces, and their stats row per label."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros(binary.shape, bool), stats[1:]
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep_labels = np.flatnonzero(areas >= areas.max() * MIN_PIECE_FRACTION) + 1
    lut = np.zeros(count, bool)
    lut[keep_labels] = True
    return lut[labels], stats[keep_labels]


def _subject_box(alpha: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box (x0, y0, x1, y1), exclusive ends, px, of the significant subject; None if none."""
    h, w = alpha.shape
    k = min(1.0, _ANALYSIS_SIDE / max(h, w))
    small = alpha if k == 1.0 else cv2.resize(
        alpha, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA
    )
    keep, stats = _pieces(small > 127)
    if len(stats) == 0 or keep.sum() < max(4, MIN_SUBJECT_FRACTION * small.size):
        return None
    x0 = stats[:, cv2.CC_STAT_LEFT].min()
    y0 = stats[:, cv2.CC_STAT_TOP].min()
    x1 = (stats[:, cv2.CC_STAT_LEFT] + stats[:, cv2.CC_STAT_WIDTH]).max()
    y1 = (stats[:, cv2.CC_STAT_TOP] + stats[:, cv2.CC_STAT_HEIGHT]).max()
    sx, sy = w / small.shape[1], h / small.shape[0]
    # one thumbnail pixel of slack each side, clamped to the photo
    return (
        max(0, int(np.floor((x0 - 1) * sx))),
        max(0, int(np.floor((y0 - 1) * sy))),
        min(w, int(np.ceil((x1 + 1) * sx))),
        min(h, int(np.ceil((y1 + 1) * sy))),
    )


def prepare(
    rgb: np.ndarray, alpha: np.ndarray, max_side: int = STICKER_MAX_SIDE_PX, pad: int | None = None
) -> Subject:
    """Crop the photo to its subject and scale it to sticker size.

    The subject's bounding box is found on a ≤512 px thumbnail of the matte (pieces under 4 % of
    the largest are ignored). The box is cut from the full-resolution photo, scaled (area filter
    when shrinking, bicubic when enlarging) so box + 2·pad has a longest side of ``max_side``, and
    padded with ``pad`` transparent pixels. When the matte holds no subject (nothing above 127 over
    at least 0.05 % of the photo) the whole photo becomes the subject with :func:`fallback_matte`.

    Args:
        rgb: HxWx3 uint8 RGB photo.
        alpha: HxW uint8 matte from the segmentation model.
        max_side: longest side of the result, px; the subject's :attr:`~Subject.unit` is
            ``max_side / 512``.
        pad: transparent margin, px (default :data:`PAD_PX` × unit, rounded).

    Returns:
        The :class:`Subject`; its canvas is at most ``max_side`` px on its longest side.

    Raises:
        ValueError: shapes or dtypes do not match the above, or ``max_side <= 2 * pad``.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected HxWx3 uint8 RGB, got shape {rgb.shape} dtype {rgb.dtype}")
    if alpha.shape != rgb.shape[:2] or alpha.dtype != np.uint8:
        raise ValueError(f"expected {rgb.shape[:2]} uint8 alpha, got shape {alpha.shape} dtype {alpha.dtype}")
    unit = max_side / STICKER_MAX_SIDE_PX
    if pad is None:
        pad = PAD_PX if max_side == STICKER_MAX_SIDE_PX else max(1, round(PAD_PX * unit))
    if max_side <= 2 * pad:
        raise ValueError(f"max_side {max_side} px leaves no room inside a {pad} px margin")
    box = _subject_box(alpha)
    fallback = box is None
    if box is None:
        alpha = fallback_matte(*alpha.shape)
        box = (0, 0, rgb.shape[1], rgb.shape[0])
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    scale = (max_side - 2 * pad) / max(bw, bh)
    ow, oh = max(1, round(bw * scale)), max(1, round(bh * scale))
    shrink = scale < 1
    crop_rgb = cv2.resize(
        rgb[y0:y1, x0:x1], (ow, oh), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    )
    crop_a = cv2.resize(
        alpha[y0:y1, x0:x1], (ow, oh), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    )
    border = dict(top=pad, bottom=pad, left=pad, right=pad, borderType=cv2.BORDER_CONSTANT, value=0)
    crop_rgb = cv2.copyMakeBorder(crop_rgb, **border)
    crop_a = cv2.copyMakeBorder(crop_a, **border)

    matte = crop_a.astype(np.float32) * (1 / 255)
    keep, _ = _pieces(matte > 0.5)
    if not keep.any():  # tiny canvas: the subject vanished in scaling; keep what rounding left
        keep = matte > 0.25
        if not keep.any():
            keep[pad + oh // 2, pad + ow // 2] = True
    # narrow the matte's soft edge (0.3..0.7 → 0..1): less background colour bleeds into the sticker
    tight = np.clip((matte - 0.3) * 2.5, 0.0, 1.0)
    tight = np.where(keep, np.maximum(tight, 0.0), 0.0).astype(np.float32)
    # re-admit the anti-aliasing ramp just outside kept pieces
    ramp = cv2.dilate(keep.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    tight = np.where(ramp & ~keep, np.clip((matte - 0.3) * 2.5, 0.0, 1.0), tight).astype(np.float32)
    outside = cv2.distanceTransform((~keep).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return Subject(
        rgb=crop_rgb, alpha=tight, mask=keep, outside=outside, fallback=fallback, box=box, scale=scale, pad=pad,
        unit=unit,
    )


def _fill_holes(binary: np.ndarray) -> np.ndarray:
    """uint8 0/255 mask with every hole inside each outer contour filled."""
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(binary)
    cv2.drawContours(filled, contours, -1, 255, thickness=cv2.FILLED)
    return filled


def border_shape(subject: Subject, radius: float, smooth: float | None = None) -> np.ndarray:
    """Die-cut shape: the subject grown by ``radius`` px, holes filled, smoothed, anti-aliased.

    Args:
        subject: the prepared subject.
        radius: offset of the cut line from the subject, px at 512 px (0 gives the subject's own
            outline); multiplied by ``subject.unit``, like ``smooth``.
        smooth: Gaussian sigma, px at 512 px, that rounds inner corners; default ``radius / 2``.

    Returns:
        hxw float32 coverage 0..1 (1 inside the shape, a ~1 px linear ramp at its edge). The array
        is memoised on ``subject.shapes`` and shared: treat it as read-only.
    """
    key = (float(radius), None if smooth is None else float(smooth))
    unit = subject.unit
    if unit != 1.0:
        radius, smooth = radius * unit, None if smooth is None else smooth * unit
    return memo(subject, key, lambda: _border_shape(subject, radius, smooth))


def px(subject: Subject, value: float) -> float:
    """A width given in px at 512 px, on the subject's canvas (``value × subject.unit``)."""
    return value if subject.unit == 1.0 else value * subject.unit


def subject_shadow(subject: Subject, shape: np.ndarray, dy: int, sigma: float, opacity: float) -> np.ndarray:
    """:func:`soft_shadow` of ``shape`` offset ``dy`` px down, blurred by ``sigma`` px (both at
    512 px, scaled by ``subject.unit``; the offset rounded to whole px)."""
    if subject.unit != 1.0:
        dy, sigma = round(dy * subject.unit), sigma * subject.unit
    return soft_shadow(shape, 0, dy, sigma, opacity)


def memo(subject: Subject, key: object, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """``subject.shapes[key]``, computed by ``compute()`` on first use.

    Styles of one job render in parallel threads and share planes (the bilateral-filtered photo,
    die-cut shapes at the same radius): a second thread asking for a plane being computed waits for
    it instead of computing it again (a per-key lock; the lookup of a finished plane takes none).

    Returns:
        The memoised array, shared between styles: treat it as read-only.
    """
    value = subject.shapes.get(key)
    if value is None:
        with subject.locks.setdefault(key, threading.Lock()):  # dict.setdefault is atomic
            value = subject.shapes.get(key)
            if value is None:
                value = subject.shapes[key] = compute()
    return value


def _border_shape(subject: Subject, radius: float, smooth: float | None) -> np.ndarray:
    binary = cv2.threshold(subject.outside, radius, 255, cv2.THRESH_BINARY_INV)[1].astype(np.uint8)
    filled = _fill_holes(binary)
    sigma = radius / 2 if smooth is None else smooth
    if sigma < 0.5:
        return filled.astype(np.float32) * (1 / 255)
    return ramp_edge(gaussian_blur(filled, sigma), sigma)


def ramp_edge(blurred: np.ndarray, sigma: float) -> np.ndarray:
    """Re-threshold a Gaussian-blurred (``sigma`` px) binary shape with a ~1 px linear ramp.

    The slope of a blurred step at 0.5 is 1/(sigma·√(2π)) per px; rescaling it to 1 per px keeps
    the rounded corners of the blur and an anti-aliased edge one pixel wide.

    Args:
        blurred: hxw float32 coverage 0..1.
        sigma: the blur's sigma, px.

    Returns:
        hxw float32 coverage 0..1.
    """
    return np.clip((blurred - 0.5) * np.float32(sigma * 2.5066) + 0.5, 0.0, 1.0)


#: Gaussian blurs at least this wide (sigma, px) run at half resolution (:func:`gaussian_blur`).
HALF_RES_SIGMA = 2.5


def gaussian_blur(plane: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a coverage plane, at half resolution when it is wide enough to allow it.

    For ``sigma`` ≥ :data:`HALF_RES_SIGMA` px (and planes of at least 8 x 8 px) the plane goes
    through ``cv2.pyrDown`` (5-tap binomial, variance 1 px²), a Gaussian of sigma
    √(sigma² − 2) / 2 at half resolution and ``cv2.pyrUp`` (variance 1 px² again), so the variances
    add up to sigma² at a quarter of the pixels and about a third of the taps: 4–5× faster at sigma
    5–7.5. On the die-cut shapes the result differs from a full-resolution blur by under 0.1/255 on
    average, ≤11/255 on a few edge pixels after :func:`ramp_edge` (measured on the test photos).
    Narrower blurs run at full resolution.

    Args:
        plane: hxw uint8 (0..255, read as coverage /255) or float32 (coverage 0..1).
        sigma: px.

    Returns:
        hxw float32 coverage 0..1.
    """
    h, w = plane.shape
    scale = np.float32(1 / 255) if plane.dtype == np.uint8 else np.float32(1)
    if sigma < HALF_RES_SIGMA or min(h, w) < 8:
        return cv2.GaussianBlur(plane.astype(np.float32) * scale, (0, 0), sigma)
    small = cv2.pyrDown(plane)
    small = small.astype(np.float32) * scale if plane.dtype == np.uint8 else small
    small = cv2.GaussianBlur(small, (0, 0), _half_sigma(sigma))
    return cv2.pyrUp(small, dstsize=(w, h))


def _half_sigma(sigma: float) -> float:
    """Sigma, half-resolution px, that ``pyrDown`` + it + ``pyrUp`` add up to ``sigma`` full px."""
    return float(np.sqrt(sigma * sigma - 2.0)) / 2


def pyramid_blur(plane: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur keeping the dtype: as :func:`gaussian_blur`, at half resolution from sigma
    :data:`HALF_RES_SIGMA` px, but a uint8 plane stays uint8 (each of the three steps rounds:
    within 1 level of a full-resolution ``cv2.GaussianBlur`` on the sketch planes of the test photos
    at sigma 5, a few levels more next to the plane's border, which the pyramid reflects at half
    resolution).

    Args:
        plane: hxw uint8 or float32.
        sigma: px.

    Returns:
        hxw, ``plane``'s dtype.
    """
    h, w = plane.shape
    if sigma < HALF_RES_SIGMA or min(h, w) < 8:
        return cv2.GaussianBlur(plane, (0, 0), sigma)
    return cv2.pyrUp(cv2.GaussianBlur(cv2.pyrDown(plane), (0, 0), _half_sigma(sigma)), dstsize=(w, h))


def shift(plane: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``plane`` moved by (dx, dy) px, zeros shifted in; same shape and dtype."""
    out = np.zeros_like(plane)
    h, w = plane.shape[:2]
    if abs(dx) >= w or abs(dy) >= h:
        return out
    src = plane[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
    out[max(0, dy) : max(0, dy) + src.shape[0], max(0, dx) : max(0, dx) + src.shape[1]] = src
    return out


def soft_shadow(shape: np.ndarray, dx: int, dy: int, sigma: float, opacity: float) -> np.ndarray:
    """Drop-shadow coverage: ``shape`` offset by (dx, dy) px, blurred by ``sigma`` px, × ``opacity``.

    Values under 1.5/255 are zeroed so the canvas stays fully transparent away from the sticker.
    The blur is :func:`gaussian_blur` (half resolution from sigma 2.5 px).

    Args:
        shape: hxw float32 coverage 0..1.
        dx, dy: offset, px.
        sigma: blur, px.
        opacity: 0..1.

    Returns:
        float32 coverage 0..1, the shape of ``shape``.
    """
    blurred = gaussian_blur(shift(shape, dx, dy), sigma) * np.float32(opacity)
    blurred[blurred < 1.5 / 255] = 0
    return blurred


def _compose_premultiplied(layers: list[Layer]) -> tuple[list[np.ndarray], np.ndarray]:
    """Porter-Duff "over", bottom first: three premultiplied colour planes and alpha, hxw float32.

    Computed top-down as a weighted sum: with T the transmittance of the layers above (1 at the
    top), layer i contributes colour_i × w_i where w_i = coverage_i × T and then T ← T − w_i; the
    alpha is 1 − T at the end. That is the bottom-up "over" recurrence rearranged (2 passes per
    layer for the weights plus 1 per channel for a solid colour, 2 for an image, against 3 + 2–3 per
    channel bottom-up), run with OpenCV's element-wise kernels (vectorised, GIL released).
    """
    if not layers:
        raise ValueError("compose needs at least one layer")
    h, w = layers[0][1].shape
    prem: list[np.ndarray] | None = None
    trans: np.ndarray | None = None  # transmittance of the layers above, 0..1
    for colour, cover in reversed(layers):
        if not cv2.countNonZero(cover):  # an empty layer (e.g. no emoji) changes nothing
            continue
        cover = np.asarray(cover, np.float32)
        if trans is None:
            weight, trans = cover, np.subtract(np.float32(1), cover)
        else:
            weight = cv2.multiply(cover, trans)
            trans = cv2.subtract(trans, weight)
        given = isinstance(colour, list) and len(colour) == 3 and np.ndim(colour[0]) == 2
        if not given and np.ndim(colour) == 1:  # a solid colour
            if prem is None:
                prem = [cv2.multiply(weight, float(colour[c])) for c in range(3)]  # type: ignore[index]
            else:
                prem = [cv2.scaleAdd(weight, float(colour[c]), prem[c]) for c in range(3)]  # type: ignore[index]
            continue
        planes = colour if given else _planes(np.asarray(colour))
        terms = [_times(weight, planes[c]) for c in range(3)]  # type: ignore[index]
        prem = terms if prem is None else [cv2.add(prem[c], terms[c]) for c in range(3)]
    if prem is None or trans is None:
        return [np.zeros((h, w), np.float32) for _ in range(3)], np.zeros((h, w), np.float32)
    return prem, np.subtract(np.float32(1), trans)


def _times(cover: np.ndarray, plane: np.ndarray) -> np.ndarray:
    """cover × plane, float32 (contiguous uint8/float32 planes through OpenCV; views and hx1
    columns through numpy, which broadcasts)."""
    if plane.dtype in (np.uint8, np.float32) and plane.flags.c_contiguous and plane.shape == cover.shape:
        return cv2.multiply(cover, plane, dtype=cv2.CV_32F)
    return np.multiply(cover, plane, dtype=np.float32)


def compose(layers: list[Layer]) -> tuple[np.ndarray, np.ndarray]:
    """Porter-Duff "over" of layers, bottom first, accumulated premultiplied in float32.

    Args:
        layers: (colour, coverage) pairs, bottom first; colour is an hxwx3 array 0..255 (uint8 or
            float32), a list of its three hxw planes (R, G, B), or a length-3 RGB tuple; coverage
            hxw float32 0..1.

    Returns:
        (hxwx3 float32 straight-alpha colour 0..255, hxw float32 alpha 0..1).

    Raises:
        ValueError: ``layers`` is empty.
    """
    prem, alpha = _compose_premultiplied(layers)
    denom = np.maximum(alpha, np.float32(1e-6))
    return cv2.merge([cv2.divide(p, denom) for p in prem]), alpha


def compose_rgba(layers: list[Layer]) -> Image.Image:
    """``to_rgba_image(*compose(layers))`` without the interleaved float intermediate (same pixels).

    Args:
        layers: as :func:`compose`.

    Returns:
        RGBA image, the layers' size; colour zeroed where alpha rounds to 0.

    Raises:
        ValueError: ``layers`` is empty.
    """
    prem, alpha = _compose_premultiplied(layers)
    denom = np.maximum(alpha, np.float32(1e-6))
    a8 = cv2.convertScaleAbs(alpha, alpha=255.0)
    # straight colour rounded and saturated to uint8 in the division itself (as convertScaleAbs would)
    out = cv2.merge([cv2.divide(p, denom, dtype=cv2.CV_8U) for p in prem] + [a8])
    return Image.fromarray(cv2.bitwise_and(out, out, mask=a8), "RGBA")


def _planes(colour: np.ndarray) -> list[np.ndarray]:
    """The three channel planes of an hxwx3 colour array: contiguous copies for uint8 (cheap, and
    numpy's mixed-type loops are slow on strided uint8), hx1 columns for a colour constant along
    rows (a vertical gradient broadcast to hxwx3: numpy then broadcasts it in a contiguous loop),
    strided views otherwise (a float image is not copied)."""
    if colour.dtype == np.uint8 and colour.strides[1:] in ((3, 1), (4, 1)):
        return list(cv2.split(colour))[:3]
    if colour.strides[1] == 0:
        return [colour[:, :1, c] for c in range(3)]
    return [colour[..., c] for c in range(3)]


def to_rgba_image(colour: np.ndarray, alpha: np.ndarray) -> Image.Image:
    """PIL RGBA image from straight-alpha float colour (hxwx3, 0..255) and alpha (hxw, 0..1).

    Both are rounded and saturated to uint8; colour is zeroed where alpha is 0 (smaller PNGs).
    """
    a8 = cv2.convertScaleAbs(alpha, alpha=255.0)
    out = cv2.merge([*cv2.split(cv2.convertScaleAbs(colour)), a8])
    return Image.fromarray(cv2.bitwise_and(out, out, mask=a8), "RGBA")
