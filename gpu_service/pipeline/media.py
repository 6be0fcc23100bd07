"""Artistic-media image stickers: charcoal, ink, watercolor, pastel, oil, acrylic.

The media of the Image-to-Sketch API this service grew from (its "pencil" is :func:`.styles.sketch`),
each with three processing methods, ``basic`` | ``advanced`` (default) | ``artistic``: the detail
level, documented per renderer. Every renderer has the signature of :mod:`.styles`' renderers plus
``method`` — ``fn(subject, variant=0, method="advanced") -> PIL.Image.Image`` — and returns an RGBA
sticker of the subject's canvas size (≤512 px) with a die-cut border on fully transparent
surroundings. ``variant`` picks the paper / pigment / seed so a repeated style differs.

Shared building blocks (all at sticker size, most texture work at half resolution):

* Paper, canvas and pigment textures are procedural and seeded (value noise: random lattices
  upsampled bicubically and summed over octaves; canvas weave from sines), generated once per
  process and size and kept read-only — never downloaded, identical from run to run.
* Stroke directions come from the smoothed structure tensor of the photo (Förstner & Gülch 1987;
  as used for painterly flow fields by Kyprianidis & Döllner 2008 / Hertzmann 1998): strokes run
  along the minor eigenvector, i.e. along edges and around forms.
* Stroke textures are a line-integral convolution of white noise along that field (Cabral &
  Leedom 1993), sampled with ``cv2.remap`` along straight segments.
* Lines are a difference of Gaussians (Marr & Hildreth 1980; the soft-thresholded XDoG of
  Winnemöller, Kyprianidis & Olsen 2012).

Why one module of this size: the six media share their texture cache, stroke-direction field, paper and border helpers; split per medium they would import each other's private pieces.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image

from stickers_core.styles import STICKER_MAX_SIDE_PX

from .diecut import Subject, border_shape, memo, prepare, subject_shadow

__all__ = [
    "MEDIA_RENDERERS",
    "METHODS",
    "acrylic",
    "charcoal",
    "ink",
    "oil",
    "pastel",
    "render_medium",
    "warm_up",
    "watercolor",
]

RGB = tuple[int, int, int]

#: Processing methods, from the plainest to the most expressive; ``advanced`` is the default.
METHODS: tuple[str, ...] = ("basic", "advanced", "artistic")

_BORDER_PX = 12  # die-cut border width at 512 px, as the other styles
_SHADOW: RGB = (30, 30, 38)


def _params(method: str, table: dict[str, dict]) -> dict:
    """The parameter set of ``method``; ValueError naming the methods for anything else."""
    if not isinstance(method, str) or method not in table:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    return table[method]


# ---------------------------------------------------------------------------------------------
# procedural textures (seeded, cached per process, read-only)

_TEXTURES: dict[tuple, np.ndarray] = {}
_TEXTURE_LOCK = threading.RLock()  # re-entrant: a derived texture is made from cached ones


def _cached(
    key: tuple, height: int, width: int, make: Callable[[int, int], np.ndarray], side: int = STICKER_MAX_SIDE_PX
) -> np.ndarray:
    """``make(H, W)`` for some H ≥ height, W ≥ width (at least ``side``), computed once per process
    per ``key`` and sliced to (height, width): a read-only view, shared by all jobs (like the
    halftone screen of :func:`.styles.pop`). A larger canvas grows it. The keys are a fixed set
    (a few kinds, at most three seeds, 15 solid colours): 27 MiB in all once every medium has run."""
    grid = _TEXTURES.get(key)
    if grid is None or grid.shape[0] < height or grid.shape[1] < width:
        with _TEXTURE_LOCK:
            grid = _TEXTURES.get(key)
            if grid is None or grid.shape[0] < height or grid.shape[1] < width:
                side_h = max(height, side, 0 if grid is None else grid.shape[0])
                side_w = max(width, side, 0 if grid is None else grid.shape[1])
                grid = np.ascontiguousarray(make(side_h, side_w))
                grid.flags.writeable = False
                _TEXTURES[key] = grid
    return grid[:height, :width]


def _texture(kind: str, height: int, width: int, seed: int = 0, side: int = STICKER_MAX_SIDE_PX) -> np.ndarray:
    """A seeded texture plane (:func:`_make_texture`), hxw float32, zero mean, unit std (cached,
    read-only; ``side``: the least size it is made at)."""
    return _cached(("texture", kind, seed), height, width, lambda h, w: _make_texture(kind, h, w, seed), side)


def _value_noise(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    """Value noise: a random lattice of pitch ``cell`` px upsampled bicubically, hxw float32."""
    if cell <= 1:
        return rng.random((height, width), dtype=np.float32)
    gh, gw = height // cell + 3, width // cell + 3
    lattice = rng.random((gh, gw), dtype=np.float32)
    big = cv2.resize(lattice, (gw * cell, gh * cell), interpolation=cv2.INTER_CUBIC)
    return big[cell : cell + height, cell : cell + width]


def _standardise(plane: np.ndarray) -> np.ndarray:
    """``plane`` shifted and scaled to zero mean and unit standard deviation, float32."""
    plane = plane.astype(np.float32) - np.float32(plane.mean())
    return plane * np.float32(1 / max(float(plane.std()), 1e-6))


def _fractal(rng: np.random.Generator, height: int, width: int, octaves: dict[int, float]) -> np.ndarray:
    """Sum of value-noise octaves {cell px: weight}, standardised."""
    return _standardise(sum(weight * _value_noise(rng, height, width, cell) for cell, weight in octaves.items()))


def _make_texture(kind: str, height: int, width: int, seed: int) -> np.ndarray:
    """The texture ``kind`` (see the branches) at (height, width), from a generator seeded by
    (``seed``, kind): the same planes in every process."""
    rng = np.random.default_rng([seed, sum(ord(ch) * 31**i for i, ch in enumerate(kind)) % 2**32])
    if kind == "tooth":  # cold-press paper: fine grain and a little mottling
        return _fractal(rng, height, width, {1: 0.45, 2: 0.35, 4: 0.15, 16: 0.1})
    if kind == "laid":  # Ingres / Mi-Teintes drawing paper: tooth plus fine horizontal laid lines
        ys = np.arange(height, dtype=np.float32)[:, None]
        tooth = _fractal(rng, height, width, {1: 0.4, 2: 0.4, 4: 0.2})
        lines = np.sin(ys * np.float32(2 * np.pi / 4.5)) * (0.6 + 0.4 * _value_noise(rng, height, width, 24))
        return _standardise(tooth + 0.8 * lines)
    if kind == "pastel":  # pastel paper's coarser tooth (2–6 px pits), faint laid lines
        ys = np.arange(height, dtype=np.float32)[:, None]
        tooth = _fractal(rng, height, width, {2: 0.5, 3: 0.3, 6: 0.2})
        return _standardise(tooth + 0.35 * np.sin(ys * np.float32(2 * np.pi / 5)))
    if kind == "turbulence":  # watercolor: low-frequency variation of pigment density
        return _fractal(rng, height, width, {64: 0.5, 32: 0.3, 16: 0.2})
    if kind == "granulation":  # watercolor: pigment particles settling in the paper's valleys
        return _fractal(rng, height, width, {1: 0.3, 2: 0.4, 4: 0.3})
    if kind == "canvas":  # plain-weave canvas: alternating warp and weft threads, 4 px pitch
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        pitch = np.float32(4.0)
        warp, weft = np.abs(np.sin(xs * np.pi / pitch)), np.abs(np.sin(ys * np.pi / pitch))
        over = (np.floor(xs / pitch) + np.floor(ys / pitch)) % 2
        return _standardise(np.where(over > 0, warp, weft) + 0.35 * _value_noise(rng, height, width, 1))
    if kind.startswith("hatch"):  # "hatch<angle>": strokes of a stick dragged at one angle, 2 px wide
        angle = np.radians(float(kind[5:]))
        noise = _standardise(_value_noise(rng, height, width, 2))
        cos = np.full((height, width), np.cos(angle), np.float32)
        sin = np.full((height, width), np.sin(angle), np.float32)
        return _lic(noise, cos, sin, 9, 1.5)
    if kind.startswith("noise"):  # "noise<cell>": white noise of a cell size, for stroke textures
        return _standardise(_value_noise(rng, height, width, int(kind[5:] or 1)))
    raise ValueError(f"unknown texture {kind!r}")


# ---------------------------------------------------------------------------------------------
# shared planes (memoised per job on the subject: styles of one job share them)


def _filled(subject: Subject) -> np.ndarray:
    """The photo with non-subject pixels set to the subject's median colour (filters then see no
    background): hxwx3 uint8."""

    def compute() -> np.ndarray:
        rgb, mask = subject.rgb, subject.mask
        samples = rgb[::4, ::4][mask[::4, ::4]]
        if not len(samples):
            samples = rgb[mask] if mask.any() else rgb.reshape(-1, 3)
        out = np.empty_like(rgb)
        out[:] = np.median(samples, axis=0).astype(np.uint8)
        cv2.copyTo(rgb, mask.view(np.uint8), out)
        return out

    return memo(subject, "media:filled", compute)


def _half(subject: Subject) -> np.ndarray:
    """The filled photo at half resolution (``cv2.pyrDown``): hxwx3 uint8."""
    return memo(subject, "media:half", lambda: cv2.pyrDown(_filled(subject)))


def _half_mask(subject: Subject) -> np.ndarray:
    """The subject mask at half resolution: hxw bool."""
    half = _half(subject)
    return memo(
        subject,
        "media:half_mask",
        lambda: cv2.resize(subject.mask.view(np.uint8), (half.shape[1], half.shape[0]), interpolation=cv2.INTER_AREA)
        > 0,
    )


def _grey(subject: Subject) -> np.ndarray:
    """Luma of the filled photo, stretched so the subject's 2nd–98th percentiles span 0..255:
    hxw uint8."""

    def compute() -> np.ndarray:
        grey = cv2.cvtColor(_filled(subject), cv2.COLOR_RGB2GRAY)
        values = grey[::3, ::3][subject.mask[::3, ::3]]
        values = values if len(values) else grey.ravel()
        lo, hi = np.percentile(values, (2, 98))
        span = max(float(hi - lo), 24.0)
        table = np.clip((np.arange(256, dtype=np.float32) - np.float32(lo)) * np.float32(255 / span) + 0.5, 0, 255)
        return cv2.LUT(grey, table.astype(np.uint8))

    return memo(subject, "media:grey", compute)


def _grey_half(subject: Subject) -> np.ndarray:
    """:func:`_grey` at half resolution: hxw uint8."""
    return memo(subject, "media:grey_half", lambda: cv2.pyrDown(_grey(subject)))


def _flow(subject: Subject) -> tuple[np.ndarray, np.ndarray]:
    """Stroke direction field at half resolution: (cos, sin) planes, float32, of the minor
    eigenvector of the structure tensor (Förstner & Gülch 1987: Sobel gradients, tensor smoothed
    by a Gaussian of 3 half px) — along edges and around forms. A weak constant tensor is added so
    that flat areas, where the structure tensor vanishes, get strokes at 60° (the usual hand's
    diagonal) instead of an arbitrary direction."""

    def compute() -> np.ndarray:
        grey = _grey_half(subject).astype(np.float32) * np.float32(1 / 255)
        gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
        exx, exy, eyy = cv2.split(cv2.GaussianBlur(cv2.merge([gx * gx, gx * gy, gy * gy]), (0, 0), 3.0))
        nx, ny = np.cos(np.radians(150)), np.sin(np.radians(150))  # normal of 60° strokes
        bias = 2e-3
        exx += np.float32(bias * nx * nx)
        exy += np.float32(bias * nx * ny)
        eyy += np.float32(bias * ny * ny)
        phi = 0.5 * cv2.phase(exx - eyy, 2 * exy)  # gradient direction (atan2 in 0..2π)
        cos, sin = cv2.polarToCart(None, phi)
        return np.stack([-sin, cos])  # the tangent: the gradient turned by 90°

    field = memo(subject, "media:flow", compute)
    return field[0], field[1]


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel x and y coordinates, hxw float32 each (one ≥512 px grid per process, sliced)."""
    xs = _cached(("grid-x",), height, width, lambda h, w: np.mgrid[0:h, 0:w][1].astype(np.float32))
    ys = _cached(("grid-y",), height, width, lambda h, w: np.mgrid[0:h, 0:w][0].astype(np.float32))
    return xs, ys


def _lic(noise: np.ndarray, cos: np.ndarray, sin: np.ndarray, length: int, step: float = 1.0) -> np.ndarray:
    """Line-integral convolution (Cabral & Leedom 1993) of ``noise`` along straight segments of
    direction (cos, sin) through each pixel: the mean of 2·``length`` + 1 bilinear samples ``step``
    px apart; standardised (zero mean, unit std), hxw float32."""
    xs, ys = _grid(*noise.shape)
    acc = noise.copy()
    dx, dy = cos * np.float32(step), sin * np.float32(step)
    for k in range(1, length + 1):
        for sign in (k, -k):
            acc += cv2.remap(noise, xs + sign * dx, ys + sign * dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return _standardise(acc)


def _strokes(subject: Subject, length: int, cell: int, seed: int) -> np.ndarray:
    """Strokes along the flow field (:func:`_flow`), ±``length`` half px long, ``cell`` half px
    wide: hxw float32 at half resolution, zero mean, unit std."""
    cos, sin = _flow(subject)
    noise = _texture(f"noise{cell}", *cos.shape, seed, side=STICKER_MAX_SIDE_PX // 2)
    return _lic(noise, cos, sin, length)


def _up(plane: np.ndarray, subject: Subject) -> np.ndarray:
    """A half-resolution plane (or hxwx3 image) bilinearly resized to the subject's canvas."""
    return cv2.resize(plane, subject.size, interpolation=cv2.INTER_LINEAR)


def _dog_lines(grey: np.ndarray, sigma: float, threshold: float, softness: float) -> np.ndarray:
    """Dark line coverage 0..1 of a uint8 plane: the dark side of a difference of Gaussians
    G_1.6σ − G_σ (Marr & Hildreth 1980), soft-thresholded at ``threshold`` grey levels over
    ``softness`` levels (the XDoG ramp of Winnemöller et al. 2012): hxw float32."""
    diff = cv2.subtract(cv2.GaussianBlur(grey, (0, 0), sigma * 1.6), cv2.GaussianBlur(grey, (0, 0), sigma))
    ramp = np.clip((np.arange(256, dtype=np.float32) - np.float32(threshold)) / np.float32(softness), 0, 1)
    return cv2.LUT(diff, ramp)


def _tint(density: np.ndarray, light: RGB, dark: RGB, contrast: float = 1.0) -> np.ndarray:
    """Monochrome medium: density 0..1 (hxw float32) → ``light`` (paper) … ``dark`` (pigment)
    through one 3-channel lookup table (with an optional contrast gain about half density):
    hxwx3 uint8."""
    d8 = cv2.convertScaleAbs(density, alpha=255.0)
    t = np.clip((np.arange(256, dtype=np.float32) / 255 - 0.5) * contrast + 0.5, 0, 1)[:, None]
    table = np.asarray(light, np.float32) + (np.asarray(dark, np.float32) - np.asarray(light, np.float32)) * t
    return cv2.LUT(cv2.merge([d8, d8, d8]), (table + 0.5).astype(np.uint8)[None])


def _saturate(rgb: np.ndarray, gain: float, value_gain: float = 1.0) -> np.ndarray:
    """HSV saturation × ``gain``, value × ``value_gain``, through 256-entry tables: uint8 in/out."""
    levels = np.arange(256, dtype=np.float32)
    table = np.stack([levels, np.clip(levels * gain, 0, 255), np.clip(levels * value_gain, 0, 255)], axis=-1)
    return cv2.cvtColor(cv2.LUT(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV), table.astype(np.uint8)[None]), cv2.COLOR_HSV2RGB)


def _median_cut(rgb: np.ndarray, mask: np.ndarray, colours: int) -> np.ndarray:
    """``rgb`` (hxwx3 uint8) mapped, without dithering, to a median-cut palette (Heckbert 1982,
    Pillow's) of ``colours`` built from ≤1024 of the masked pixels: hxwx3 uint8."""
    flat = rgb.reshape(-1, 3)
    where = np.flatnonzero(mask)
    where = where if len(where) else np.arange(len(flat))
    sample = flat[where[:: max(1, len(where) // 1024)]]
    palette = Image.fromarray(np.ascontiguousarray(sample[None]), "RGB").quantize(colours, Image.Quantize.MEDIANCUT)
    mapped = Image.fromarray(rgb, "RGB").quantize(palette=palette, dither=Image.Dither.NONE)
    return np.asarray(mapped.convert("RGB"))


def _palette(rgb: np.ndarray, mask: np.ndarray, colours: int, samples: int = 1024) -> np.ndarray:
    """A median-cut palette (Heckbert 1982, Pillow's) of ``colours`` from ≤``samples`` masked
    pixels of ``rgb`` (hxwx3 uint8): Kx3 float32."""
    flat = rgb.reshape(-1, 3)
    where = np.flatnonzero(mask)
    where = where if len(where) else np.arange(len(flat))
    sample = flat[where[:: max(1, len(where) // samples)]]
    quant = Image.fromarray(np.ascontiguousarray(sample[None]), "RGB").quantize(colours, Image.Quantize.MEDIANCUT)
    used = max(1, min(colours, len(quant.getcolors(colours) or [])))
    return np.asarray(quant.getpalette()[: 3 * used], np.float32).reshape(-1, 3)


def _nearest(colours: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """The nearest ``palette`` colour (Kx3) of each of N colours (Nx3): Nx3 float32."""
    colours = colours.astype(np.float32)
    dist = (palette * palette).sum(1)[None, :] - 2 * colours @ palette.T
    return palette[np.argmin(dist, axis=1)]


def _kuwahara(rgb: np.ndarray, radius: int, sharpness: float = 8.0) -> np.ndarray:
    """Generalised Kuwahara filter (Kuwahara et al. 1976, with the smooth sector weights of Papari,
    Petkov & Campisi 2007): the mean colour of the four (r+1)² quadrants that meet at each pixel,
    weighted by variance^(−q/2) (q = ``sharpness``), so the most uniform quadrant wins: flat,
    painterly patches with crisp edges.

    Args:
        rgb: hxwx3 uint8.
        radius: r, px (rounded up to even, ≥ 2).

    Returns:
        hxwx3 float32, 0..255.
    """
    r = max(2, radius + radius % 2)
    half = r // 2
    img = rgb.astype(np.float32)
    box = (r + 1, r + 1)
    mean = cv2.boxFilter(img, -1, box, borderType=cv2.BORDER_REFLECT)
    var = cv2.boxFilter(cv2.multiply(img, img), -1, box, borderType=cv2.BORDER_REFLECT) - cv2.multiply(mean, mean)
    var = cv2.transform(var, np.ones((1, 3), np.float32))  # summed over the channels
    pad = dict(top=half, bottom=half, left=half, right=half, borderType=cv2.BORDER_REFLECT)
    mean_p, var_p = cv2.copyMakeBorder(mean, **pad), cv2.copyMakeBorder(var, **pad)
    h, w = var.shape
    num = np.zeros_like(img)
    den = np.zeros((h, w), np.float32)
    for dy in (0, 2 * half):
        for dx in (0, 2 * half):
            # variance^(−q/2), scaled so the weights stay well inside float32's range
            weight = cv2.pow(var_p[dy : dy + h, dx : dx + w] * np.float32(1 / 64) + np.float32(1), -sharpness / 2)
            num += mean_p[dy : dy + h, dx : dx + w] * cv2.merge([weight, weight, weight])
            den += weight
    return num / cv2.merge([den, den, den])


def _solid(colour: RGB, height: int, width: int) -> np.ndarray:
    """A constant hxwx3 uint8 image of ``colour`` (for ``cv2.blendLinear``, which blends images):
    cached per colour (the media's papers and grounds, 15 colours, 0.75 MiB each), read-only."""
    return _cached(("solid", tuple(colour)), height, width, lambda h, w: np.full((h, w, 3), colour, np.uint8))


def _sticker(
    subject: Subject, paint: np.ndarray, ground: RGB | np.ndarray, cover: np.ndarray | None = None
) -> Image.Image:
    """The painted subject on its die-cut: ``paint`` (hxwx3, uint8 or float 0..255) where the
    subject's alpha (or ``cover``, hxw float32 0..1 inside the border shape) covers it, ``ground``
    (the paper or canvas: a colour, or an hxwx3 uint8 image) over the 12 px die-cut border
    (:func:`.diecut.border_shape`), a soft drop shadow (offset 4 px, σ 4 px, 28 %) around it.

    The same layers as :func:`.diecut.compose_rgba` of [shadow, ground on the border shape, paint
    on the alpha] — Porter-Duff "over" with straight-alpha output, colour zeroed where the alpha is
    0 — but as two ``cv2.blendLinear`` calls on uint8 images (the subject's alpha lies inside the
    border shape, which is opaque wherever the alpha is not 0): a few times cheaper than the general
    float compositing, which is most of a medium's budget otherwise.
    """
    shape = border_shape(subject, _BORDER_PX)
    shadow = subject_shadow(subject, shape, 4, 4.0, 0.28)
    h, w = shape.shape
    if paint.dtype != np.uint8:
        paint = cv2.convertScaleAbs(cv2.max(paint, 0.0))  # rounded and saturated
    if not isinstance(ground, np.ndarray):
        ground = _solid(ground, h, w)
    alpha = subject.alpha if cover is None else cover
    inside = cv2.blendLinear(paint, ground, alpha, 1 - alpha)
    under = cv2.multiply(shadow, 1 - shape)  # the shadow's share, outside the opaque shape
    colour = cv2.blendLinear(inside, _solid(_SHADOW, h, w), shape, under)
    a8 = cv2.convertScaleAbs(shape + under, alpha=255.0)
    rgba = cv2.merge([colour, a8])
    return Image.fromarray(cv2.bitwise_and(rgba, rgba, mask=a8), "RGBA")


# ---------------------------------------------------------------------------------------------
# charcoal

CHARCOAL_TINTS: list[tuple[RGB, RGB]] = [
    ((24, 22, 26), (242, 239, 232)),  # vine charcoal on off-white
    ((110, 42, 28), (246, 236, 214)),  # sanguine conté on cream
    ((20, 24, 34), (216, 216, 210)),  # compressed charcoal on grey
]

_CHARCOAL = {  # smudge and line_sigma in half px; light/dark: the tone curve's ends (0..1 luma)
    "basic": dict(
        smudge=0.8, light=0.92, dark=0.12, gamma=0.9, grain=0.22, hatch=0.0, cross=0.0, line=0.6, line_sigma=0.7,
        contrast=1.2,
    ),
    "advanced": dict(
        smudge=1.2, light=0.88, dark=0.15, gamma=1.0, grain=0.3, hatch=0.3, cross=0.0, line=0.85, line_sigma=0.8,
        contrast=1.5,
    ),
    "artistic": dict(
        smudge=2.0, light=0.85, dark=0.2, gamma=1.1, grain=0.35, hatch=0.4, cross=0.25, line=1.0, line_sigma=1.1,
        contrast=1.9,
    ),
}


def charcoal(subject: Subject, variant: int = 0, method: str = "advanced") -> Image.Image:
    """Charcoal drawing: smudged dark tone masses, strokes of a stick dragged across the paper,
    soft contour accents, and the grain of the paper's tooth breaking every mid-tone.

    Algorithm: the subject's contrast-stretched luma at half resolution is blurred (the smudge:
    Gaussian σ half px) and mapped to charcoal density through a tone curve (paper white above
    ``light``, solid black below ``dark``, γ between); contour accents are the dark side of a
    difference of Gaussians (Marr & Hildreth 1980); then, at full resolution, a seeded texture of
    laid paper tooth plus stick strokes (a line-integral convolution of noise along 60°, Cabral &
    Leedom 1993) is added in proportion to d·(1 − d) — full blacks and bare paper stay clean, partial
    density breaks into grain and strokes — and a contrast gain turns the deposit granular, as
    charcoal catches only the peaks of the paper's tooth. Tints by variant: vine charcoal on
    off-white, sanguine conté on cream, compressed charcoal on grey.

    Methods: ``basic`` light smudge (σ 0.8 half px), gentle tone curve, fine grain, no stick strokes,
    thin contours, contrast gain 1.2; ``advanced`` σ 1.2, 60° stick strokes, gain 1.5; ``artistic``
    heavy smudge (σ 2), crushed darks, cross-hatched strokes (60° and 150°), broad contours, gain 1.9
    — the most granular deposit.
    """
    p = _params(method, _CHARCOAL)
    tint = variant % len(CHARCOAL_TINTS)
    stick, paper = CHARCOAL_TINTS[tint]
    w, h = subject.size
    grey = _grey_half(subject)
    tone = cv2.GaussianBlur(grey, (0, 0), p["smudge"])
    levels = np.arange(256, dtype=np.float32) / 255
    curve = np.clip((p["light"] - levels) / (p["light"] - p["dark"]), 0, 1) ** p["gamma"]
    contours = _dog_lines(grey, p["line_sigma"], 3, 10) * np.float32(p["line"])
    density = _up(cv2.max(cv2.LUT(tone, curve.astype(np.float32)), contours), subject)
    texture = _texture("laid", h, w) * np.float32(p["grain"])  # paper tooth and stick strokes
    if p["hatch"]:
        texture += _texture("hatch60", h, w) * np.float32(p["hatch"])
    if p["cross"]:
        texture += _texture("hatch150", h, w) * np.float32(p["cross"])
    density += texture * (density * (1 - density))
    return _sticker(subject, _tint(density, paper, stick, p["contrast"]), paper)


# ---------------------------------------------------------------------------------------------
# ink

INK_TINTS: list[tuple[RGB, RGB]] = [
    ((16, 16, 20), (251, 249, 243)),  # sumi ink on rice paper
    ((66, 36, 16), (250, 243, 228)),  # sepia on cream
    ((20, 32, 84), (248, 248, 245)),  # indigo
]

_INK = {
    "basic": dict(line_sigma=1.3, threshold=4, washes=(0.0, 0.0, 0.35), blacks=4, dry=0.3, outline=1.5),
    "advanced": dict(line_sigma=1.5, threshold=3, washes=(0.0, 0.22, 0.5), blacks=8, dry=0.5, outline=2.5),
    "artistic": dict(line_sigma=2.0, threshold=3, washes=(0.0, 0.3, 0.6), blacks=14, dry=0.8, outline=3.5),
}


def ink(subject: Subject, variant: int = 0, method: str = "advanced") -> Image.Image:
    """Brush and ink: bold brush lines and a brushed outline, flat washes of diluted ink with
    pooled rims, solid spot blacks broken by dry-brush streaks.

    Algorithm: brush lines are the dark side of a difference of Gaussians of the luma (Marr &
    Hildreth 1980), soft-thresholded as in XDoG (Winnemöller, Kyprianidis & Olsen 2012) — σ sets
    their weight. Washes: the half-resolution luma thresholded at subject percentiles into flat
    levels of diluted ink, the darkest few percent solid black; a wash's rim, where pigment pools as
    it dries, is darkened by |wash − blur(wash)|. The silhouette gets a brush outline whose width
    wavers with low-frequency noise (the brush's pressure). Dry brush: in the heaviest ink only
    (density above 3/4), streaks of bare paper from a seeded line-integral convolution of noise
    along one direction (Cabral & Leedom 1993), as a brush running dry leaves when filling a black.
    Tints by variant: sumi black on rice paper, sepia, indigo.

    Methods: ``basic`` lines σ 1.3 px, one wash (35 %), 4 % blacks, a 1.5 px outline, light dry
    brush; ``advanced`` σ 1.5, two washes (22 %, 50 %), 8 % blacks, 2.5 px outline; ``artistic``
    heavy lines (σ 2), deep washes (30 %, 60 %), 14 % blacks, 3.5 px outline, strong dry brush.
    """
    p = _params(method, _INK)
    tint = variant % len(INK_TINTS)
    pigment, paper = INK_TINTS[tint]
    w, h = subject.size
    lines = _dog_lines(_grey(subject), p["line_sigma"], p["threshold"], 8)
    tone = cv2.GaussianBlur(_grey_half(subject), (0, 0), 1.0)
    values = tone[::2, ::2][_half_mask(subject)[::2, ::2]]
    values = values if len(values) else tone.ravel()
    black, dark, mid = np.percentile(values, (p["blacks"], 36, 66))
    levels = np.arange(256, dtype=np.float32)
    w0, w1, w2 = p["washes"]
    # flat levels: spot black, dark wash, light wash, bare paper
    table = np.where(levels <= black, 0.96, np.where(levels <= dark, w2, np.where(levels <= mid, w1, w0)))
    wash = cv2.LUT(tone, table.astype(np.float32))
    wash = wash + cv2.absdiff(wash, cv2.GaussianBlur(wash, (0, 0), 1.5)) * np.float32(0.8)  # pooled rims
    wash = _up(wash, subject)
    density = wash + lines - wash * lines
    # brush outline just outside the silhouette, its width wavering with the brush's pressure
    outside = subject.outside
    wobble = _texture("turbulence", h, w) * np.float32(0.6) + np.float32(p["outline"])
    ring = np.clip(wobble - outside + np.float32(0.5), 0, 1)
    ring[outside <= 0] = 0
    density = cv2.max(density, ring)
    # dry brush: in the heaviest strokes (density over 3/4), streaks of bare paper where the brush
    # ran dry, all along one direction as a hand fills a black
    dry = np.clip(_texture("hatch60", h, w) - np.float32(0.3), 0, 1) * np.float32(p["dry"])
    density = density * (1 - dry * np.clip((density - np.float32(0.75)) * np.float32(4), 0, 1))
    return _sticker(subject, _tint(density, paper, pigment), paper, cover=cv2.max(subject.alpha, ring))


# ---------------------------------------------------------------------------------------------
# watercolor

WATERCOLOR_PAPERS: list[RGB] = [(252, 251, 246), (250, 244, 230), (244, 248, 250)]

_WATERCOLOR = {  # median: filter size, half px; wobble: the pigment rim's depth, half px
    "basic": dict(
        colours=32, median=3, dilute=0.6, turbulence=0.15, granulation=0.045, edges=5.0, pencil=0.0, wobble=2.0
    ),
    "advanced": dict(
        colours=20, median=3, dilute=0.62, turbulence=0.25, granulation=0.075, edges=8.0, pencil=0.5, wobble=4.0
    ),
    "artistic": dict(
        colours=10, median=5, dilute=0.66, turbulence=0.38, granulation=0.1, edges=12.0, pencil=0.6, wobble=7.0
    ),
}

_GRAPHITE: RGB = (70, 66, 62)  # the pencil under-drawing


def _granulation(height: int, width: int) -> np.ndarray:
    """Granulation weight ≥ 0, mean about 1 (hxw float32, cached): pigment in the paper's pits."""
    make = lambda h, w: np.maximum(_make_texture("granulation", h, w, 0) + 1, 0)  # noqa: E731
    return _cached(("granulation",), height, width, make)


def _ones(height: int, width: int) -> np.ndarray:
    """A constant hxw float32 plane of 1 (cached per process, read-only)."""
    return _cached(("ones",), height, width, lambda h, w: np.ones((h, w), np.float32))


def watercolor(subject: Subject, variant: int = 0, method: str = "advanced") -> Image.Image:
    """Watercolor: transparent washes with darkened wet edges, blooms of uneven pigment and
    granulation, a faint pencil under-drawing, and white paper left at the rim and in highlights.

    Algorithm (the pigment-density model of Bousseau et al. 2006, after Curtis et al. 1997): at half
    resolution the photo is abstracted into washes — two bilateral filters (Tomasi & Manduchi 1998),
    a median-cut palette (Heckbert 1982), a median filter that rounds the patches — and diluted
    towards the paper; each colour C (0..1) is then modified by a pigment density d as
    C' = C·(1 − (1 − C)(d − 1)), where d adds low-frequency turbulence (uneven pigment) and edge
    darkening — the dark side of each wash boundary (blur(lum) − lum), where pigment migrates as a
    wash dries. Pigment stops at a wobbly line inside the subject (its signed distance displaced by
    noise) so white paper shows at the rim. At full resolution, one blend towards graphite,
    (C + G·t)/(1 + t), adds granulation (seeded noise, pigment settled in the paper's pits) and a
    faint pencil under-drawing (DoG lines, Marr & Hildreth 1980). Paper by variant: white, cream,
    cool white.

    Methods: ``basic`` 32 colours, light turbulence and granulation, thin wet edges, no pencil, a
    tight rim; ``advanced`` 20 colours, medium granulation and turbulence, pencil; ``artistic``
    10 colours and a wider median (blobbier washes), strong blooms and granulation, dark wet edges,
    stronger pencil, a loose rim.
    """
    p = _params(method, _WATERCOLOR)
    tint = variant % len(WATERCOLOR_PAPERS)
    paper = WATERCOLOR_PAPERS[tint]
    w, h = subject.size
    half = _half(subject)
    hh, hw = half.shape[:2]
    mask = _half_mask(subject)
    soft = cv2.bilateralFilter(cv2.bilateralFilter(half, 5, 40, 4), 5, 40, 4)
    washes = cv2.medianBlur(_median_cut(_saturate(soft, 1.2), mask, p["colours"]), p["median"])
    dilute = np.float32(p["dilute"])
    levels = np.arange(256, dtype=np.float32) / 255
    light = 1 - (1 - levels) * dilute  # transparent pigment: lighter than the photo
    washes = cv2.LUT(washes, light.astype(np.float32))  # float32 0..1
    lum = cv2.cvtColor(washes, cv2.COLOR_RGB2GRAY)
    edge = np.maximum(cv2.GaussianBlur(lum, (0, 0), 2.0) - lum, 0) * np.float32(p["edges"])
    density = _texture("turbulence", hh, hw) * np.float32(p["turbulence"]) + edge  # d − 1
    density = cv2.merge([density, density, density])
    paint = cv2.multiply(washes, 1 - cv2.multiply(1 - washes, density))
    # pigment stops at a wobbly line inside the die-cut: the signed distance displaced by noise
    m8 = mask.view(np.uint8)
    signed = cv2.distanceTransform(m8, cv2.DIST_L2, 3) - cv2.distanceTransform(1 - m8, cv2.DIST_L2, 3)
    wobble = _texture("turbulence", hh, hw, 1) * np.float32(p["wobble"] * 0.25)
    wobble += np.float32(p["wobble"] * 0.3)
    cover = np.clip(signed - wobble + np.float32(0.5), 0, 1)
    paint = cv2.convertScaleAbs(cv2.max(paint, 0.0), alpha=255.0)
    paint = _up(cv2.blendLinear(paint, _solid(paper, hh, hw), cover, 1 - cover), subject)
    # full resolution, one blend towards graphite: (paint + graphite·t) / (1 + t), t ≥ 0 the
    # granulation (pigment settled in the paper's pits) plus the pencil under-drawing's lines
    weight = _granulation(h, w) * np.float32(p["granulation"])
    if p["pencil"]:
        weight += _dog_lines(_grey(subject), 0.8, 3, 12) * np.float32(p["pencil"] / (1 - p["pencil"]))
    paint = cv2.blendLinear(paint, _solid(_GRAPHITE, h, w), _ones(h, w), weight)
    return _sticker(subject, paint, paper)


# ---------------------------------------------------------------------------------------------
# pastel

PASTEL_PAPERS: list[RGB] = [(146, 156, 170), (176, 164, 148), (92, 96, 108)]

_PASTEL = {
    "basic": dict(length=4, cell=1, coverage=0.6, grain=0.2, chalk=0.08, streak=0.06, blur=0.8),
    "advanced": dict(length=6, cell=1, coverage=0.45, grain=0.25, chalk=0.12, streak=0.09, blur=1.0),
    "artistic": dict(length=9, cell=2, coverage=0.3, grain=0.3, chalk=0.16, streak=0.12, blur=1.5),
}


def _pastel_paper(paper: RGB, height: int, width: int) -> np.ndarray:
    """Toned pastel paper with its tooth: hxwx3 uint8 (cached per process, read-only)."""

    def make(h: int, w: int) -> np.ndarray:
        tex = _texture("pastel", h, w) * np.float32(5.0)
        return cv2.convertScaleAbs(cv2.merge([tex + np.float32(c) for c in paper]))

    return _cached(("pastel-paper", paper), height, width, make)


def pastel(subject: Subject, variant: int = 0, method: str = "advanced") -> Image.Image:
    """Soft pastel on toned paper: chalky light colours laid in strokes that follow the forms, the
    paper's tone and laid texture showing between them.

    Algorithm: stroke directions from the structure tensor (Förstner & Gülch 1987; the flow used for
    painterly rendering by Kyprianidis & Döllner 2008), strokes a line-integral convolution of noise
    along them (Cabral & Leedom 1993), at half resolution; the colour is the blurred photo lifted
    towards white (pigment with chalk filler) and streaked lighter/darker by the strokes; chalk
    coverage is the stroke texture plus the paper's tooth (seeded noise with faint laid lines)
    thresholded, with more pressure in darker passages — soft pastel deposits on the tooth's peaks
    and skips its valleys, so the toned paper shows through. Paper (also the border) by variant:
    blue-grey, warm grey, charcoal grey.

    Methods: ``basic`` short fine strokes (±4 half px), dense coverage, light grain, 8 % chalk;
    ``advanced`` ±6, more paper showing, 12 % chalk; ``artistic`` long broad strokes (±9, 2 half px
    wide), open coverage, heavy grain, 16 % chalk and stronger streaks.
    """
    p = _params(method, _PASTEL)
    tint = variant % len(PASTEL_PAPERS)
    w, h = subject.size
    strokes = _strokes(subject, p["length"], p["cell"], tint)
    colour = cv2.GaussianBlur(_half(subject), (0, 0), p["blur"]).astype(np.float32)
    chalk = np.float32(p["chalk"])
    colour = colour * (1 - chalk) + np.float32(255) * chalk
    streak = 1 + strokes * np.float32(p["streak"])
    colour = cv2.multiply(colour, cv2.merge([streak, streak, streak]))
    dark = 1 - _grey_half(subject).astype(np.float32) * np.float32(1 / 255)
    pressure = strokes * np.float32(0.45) + dark * np.float32(0.6) + np.float32(p["coverage"])
    paper = _pastel_paper(PASTEL_PAPERS[tint], h, w)
    tooth = _texture("pastel", h, w)
    cover = (_up(pressure, subject) + tooth * np.float32(p["grain"])) * np.float32(2.0) + np.float32(0.5)
    cover = np.clip(cover, 0, 1)
    chalk_u8 = _up(cv2.convertScaleAbs(cv2.max(colour, 0.0)), subject)
    return _sticker(subject, cv2.blendLinear(chalk_u8, paper, cover, 1 - cover), paper)


# ---------------------------------------------------------------------------------------------
# oil

OIL_GROUNDS: list[RGB] = [(238, 229, 210), (228, 216, 198), (222, 226, 228)]

_OIL = {
    "basic": dict(radius=2, length=4, impasto=0.3, saturation=1.15),
    "advanced": dict(radius=3, length=6, impasto=0.5, saturation=1.25),
    "artistic": dict(radius=4, length=9, impasto=0.75, saturation=1.4),
}


def _weave(height: int, width: int) -> np.ndarray:
    """Canvas weave relief, ±3.5 grey levels per standard deviation: hxwx3 int16 (cached)."""

    def make(h: int, w: int) -> np.ndarray:
        tex = np.round(_make_texture("canvas", h, w, 0) * np.float32(3.5)).astype(np.int16)
        return cv2.merge([tex, tex, tex])

    return _cached(("weave",), height, width, make)


def oil(subject: Subject, variant: int = 0, method: str = "advanced") -> Image.Image:
    """Oil painting: blended patches of rich colour, brush strokes following the forms, impasto
    ridges catching the light, canvas weave in the thin passages.

    Algorithm, at half resolution: a generalised Kuwahara filter (Kuwahara et al. 1976, smooth
    quadrant weights after Papari, Petkov & Campisi 2007) flattens the saturated photo into
    painterly patches with crisp edges; brush strokes — a line-integral convolution of noise along
    the structure-tensor flow (Cabral & Leedom 1993; Kyprianidis & Döllner 2008) — are a height
    field lit from the upper left (its gradient · the light direction: Lambert shading, plus a
    specular glint on the steepest ridges) — thick paint. Upsampled, then a seeded plain-weave
    canvas texture shows faintly, on the paint and on the primed-canvas border. Ground by variant.

    Methods: ``basic`` small patches (Kuwahara radius 2 half px), short strokes (±4 half px), low
    relief, saturation ×1.15; ``advanced`` radius 3, ±6, medium impasto, ×1.25; ``artistic`` broad
    patches (radius 4), long strokes (±9), heavy impasto, ×1.4.
    """
    p = _params(method, _OIL)
    tint = variant % len(OIL_GROUNDS)
    w, h = subject.size
    patches = _kuwahara(_saturate(_half(subject), p["saturation"], 1.03), p["radius"])
    height = cv2.GaussianBlur(_strokes(subject, p["length"], 1, 3 + tint), (0, 0), 0.7)
    gx = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3)
    shade = (gx + gy) * np.float32(-0.7071 * 0.12 * p["impasto"])  # light from the upper left
    glint = np.clip(shade - np.float32(0.15), 0, 1) * np.float32(255 * 1.5)
    paint = cv2.multiply(patches, cv2.merge([1 + shade] * 3)) + cv2.merge([glint] * 3)
    paint = _up(cv2.convertScaleAbs(cv2.max(paint, 0.0)), subject)
    weave = _weave(h, w)
    ground = cv2.add(_solid(OIL_GROUNDS[tint], h, w), weave, dtype=cv2.CV_8U)
    return _sticker(subject, cv2.add(paint, weave, dtype=cv2.CV_8U), ground)


# ---------------------------------------------------------------------------------------------
# acrylic

_ACRYLIC = {
    "basic": dict(brushes=(9,), colours=20, saturation=1.25, jitter=4.0, refine=0),
    "advanced": dict(brushes=(12, 7), colours=24, saturation=1.35, jitter=6.0, refine=50),
    "artistic": dict(brushes=(16, 8), colours=14, saturation=1.5, jitter=10.0, refine=60),
}


def acrylic(subject: Subject, variant: int = 0, method: str = "advanced") -> Image.Image:
    """Acrylic painting: vivid, flat, opaque colours in visible overlapping strokes of a flat brush
    on white gesso; matte (no gloss, no blending).

    Algorithm: stroke-based painterly rendering after Hertzmann 1998 ("Painterly rendering with
    curved brush strokes of multiple sizes"), coarse to fine: for each brush size R a jittered grid
    of stroke centres (pitch R, seeded), each stroke a short thick line (length 2R, width 0.8 R)
    along the structure-tensor flow, its colour sampled from the reference — the saturated photo
    blurred to about the brush's scale by a Gaussian pyramid — snapped to a median-cut palette
    (Heckbert 1982; a limited set of flat acrylic mixes) plus a little colour jitter; strokes are
    drawn in seeded random order, and a finer brush paints only where the coarser layer is still far
    from the reference. Gesso canvas weave shows faintly. Stroke seeds by variant (three).

    Methods: ``basic`` one 9-px brush, 20 colours, saturation ×1.25; ``advanced`` 12 then 7 px,
    24 colours, ×1.35; ``artistic`` 16 then 8 px, 14 colours, ×1.5, stronger colour jitter.
    """
    p = _params(method, _ACRYLIC)
    tint = variant % 3
    rng = np.random.default_rng([81, tint])
    region = _half_mask(subject)
    ref = _saturate(_half(subject), p["saturation"], 1.04)
    palette = _palette(ref, region, p["colours"])
    cos, sin = _flow(subject)
    hh, hw = ref.shape[:2]
    w, h = subject.size
    canvas = np.full((h, w, 3), 248, np.uint8)  # white gesso
    for i, size in enumerate(p["brushes"]):
        level = ref  # the reference blurred to about the brush's scale by the Gaussian pyramid
        for _ in range(max(0, int(np.log2(size)) - 2)):
            level = cv2.pyrDown(level)
        blurred = cv2.resize(level, (hw, hh), interpolation=cv2.INTER_LINEAR)
        ys, xs = np.mgrid[size / 2 : h : size, size / 2 : w : size].astype(np.float32)
        xs = (xs + rng.uniform(-size / 2, size / 2, xs.shape).astype(np.float32)).ravel()
        ys = (ys + rng.uniform(-size / 2, size / 2, ys.shape).astype(np.float32)).ravel()
        hx = np.clip(xs * 0.5, 0, hw - 1).astype(np.int32)  # half-resolution sample points
        hy = np.clip(ys * 0.5, 0, hh - 1).astype(np.int32)
        keep = region[hy, hx]
        if i:  # a finer brush only where the painting is still far from the reference
            small = cv2.pyrDown(canvas, dstsize=(hw, hh))
            error = cv2.blur(cv2.absdiff(small, blurred), (size // 2, size // 2))
            keep &= error[hy, hx].astype(np.int32).sum(axis=1) > p["refine"]
        idx = np.flatnonzero(keep)
        idx = idx[rng.permutation(len(idx))]
        hx, hy, x, y = hx[idx], hy[idx], xs[idx], ys[idx]
        dx, dy = cos[hy, hx] * np.float32(size), sin[hy, hx] * np.float32(size)
        colours = _nearest(blurred[hy, hx], palette) + rng.normal(0, p["jitter"], (len(idx), 3)).astype(np.float32)
        colours = np.clip(colours, 0, 255).astype(np.int32)
        shift = 3  # fixed-point coordinates, 1/8 px
        ends = (np.stack([x - dx, y - dy, x + dx, y + dy], axis=1) * (1 << shift)).round().astype(np.int32)
        thick = max(2, round(size * 0.8))
        for (x0, y0, x1, y1), colour in zip(ends.tolist(), colours.tolist()):
            cv2.line(canvas, (x0, y0), (x1, y1), colour, thick, cv2.LINE_8, shift)
    return _sticker(subject, cv2.add(canvas, _weave(h, w), dtype=cv2.CV_8U), (255, 255, 255))


#: Renderer per medium name.
MEDIA_RENDERERS: dict[str, Callable[..., Image.Image]] = {
    "charcoal": charcoal,
    "ink": ink,
    "watercolor": watercolor,
    "pastel": pastel,
    "oil": oil,
    "acrylic": acrylic,
}


def render_medium(style: str, subject: Subject, variant: int = 0, method: str = "advanced") -> Image.Image:
    """Render a prepared subject in one medium.

    Raises:
        ValueError: unknown medium or method.
    """
    renderer = MEDIA_RENDERERS.get(style)
    if renderer is None:
        raise ValueError(f"unknown medium {style!r}; known: {', '.join(MEDIA_RENDERERS)}")
    return renderer(subject, variant, method)


def warm_up() -> None:
    """Make every cached texture now (each medium, method and variant once, on a small synthetic
    subject): about half a second once per process, which the first sticker of each medium would
    otherwise pay (40–70 ms each). Optional; a worker may call it at start-up."""
    side = 96
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    rgb = np.dstack([xs * 2, ys * 2, 255 - xs - ys]).clip(0, 255).astype(np.uint8)
    alpha = (((xs - side / 2) ** 2 + (ys - side / 2) ** 2) < (side / 3) ** 2).astype(np.uint8) * 255
    subject = prepare(rgb, alpha)
    for renderer in MEDIA_RENDERERS.values():
        for method in METHODS:
            for variant in range(3):
                renderer(subject, variant, method)
