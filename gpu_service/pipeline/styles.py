"""Image-sticker renderers of the die-cut styles and of ``cutout`` (:mod:`.registry` binds them to
the names of :mod:`stickers_core.styles` and says how each is fed).

The sticker-size renderers take a :class:`~gpu_service.pipeline.diecut.Subject` (the photo already
cropped and scaled to ≤512 px) and return an RGBA :class:`PIL.Image.Image` whose surroundings are
fully transparent and whose subject and die-cut border are opaque. ``variant`` (0, 1, 2…) picks an
alternate palette so the same style asked for twice in one job gives two different stickers.

They draw at any sticker size (a job's ``size``, :attr:`.registry.ImageStyle.scalable`): every
width below is given at 512 px and scaled by the subject's :attr:`~.diecut.Subject.unit`
(:func:`.diecut.border_shape`, :func:`.diecut.subject_shadow`, :func:`.diecut.px`); at 512 px the
numbers are used as written. ``cartoon`` also takes a processing ``method`` (``basic`` |
``advanced`` | ``artistic``, :data:`CARTOON_METHODS`).

Algorithms:
    classic: white die-cut border (:func:`diecut.border_shape`) and a Gaussian drop shadow.
    outline: a thin white inner ring and a thick coloured ring.
    cartoon: bilateral filter (Tomasi & Manduchi 1998), median-cut colour quantisation (Heckbert
        1982, via Pillow's ``quantize``) for flat cel colours, adaptive-threshold ink lines.
    sketch: the colour-dodge pencil sketch: grey / (1 − blur(inverted grey)) (the classic
        "photo to pencil sketch" blend, e.g. OpenCV's ``cv2.divide(grey, 255 − blur, scale=256)``).
    pop: luminance posterised to three flat palette colours (Warhol-style), a 45° amplitude-modulated
        halftone screen (Ben-Day dots) and black ink edges (Canny).
    pixel: area downscale to a 64-cell grid, median-cut palette of 16 colours, binary alpha, a
        stepped border grown with a 4-connected kernel, nearest-neighbour upscale.
    cutout (:func:`render_cutout`, a full-resolution renderer): the photo at full resolution with the
        matte as alpha.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from stickers_core.styles import STICKER_MAX_SIDE_PX

from .diecut import (
    Subject,
    border_shape,
    compose_rgba,
    fallback_matte,
    memo,
    px,
    pyramid_blur,
    subject_shadow,
)

__all__ = ["CARTOON_METHODS", "cartoon", "classic", "outline", "palette_map", "pixel", "pop", "render", "render_cutout", "sketch"]

RGB = tuple[int, int, int]

WHITE: RGB = (255, 255, 255)
INK: RGB = (28, 24, 30)

_BORDER_PX = 12  # white die-cut border width at 512 px


def _pick(palette: list, variant: int):  # noqa: ANN001, ANN202 - tiny helper
    return palette[variant % len(palette)]


def _photo(subject: Subject) -> np.ndarray:
    return subject.rgb  # uint8: compose_rgba() splits it into planes without a float copy


def classic(subject: Subject, variant: int = 0) -> Image.Image:
    """Subject on a white (variant 1: cream, 2: ice-blue) die-cut border with a soft drop shadow.

    Border 12 px, shadow offset 5 px down, Gaussian sigma 5 px, 35 % opacity.
    """
    border = _pick([WHITE, (255, 247, 222), (232, 244, 255)], variant)
    shape = border_shape(subject, _BORDER_PX)
    shadow = subject_shadow(subject, shape, 5, 5.0, 0.35)
    return compose_rgba([((30, 30, 38), shadow), (border, shape), (_photo(subject), subject.alpha)])


OUTLINE_COLOURS: list[RGB] = [(255, 61, 127), (45, 127, 249), (52, 199, 89), (255, 149, 0), (155, 81, 224)]


def outline(subject: Subject, variant: int = 0) -> Image.Image:
    """Subject inside a 5 px white ring and a thick (to 18 px) coloured ring with a darker rim.

    Colours by variant: pink, blue, green, orange, purple.
    """
    colour = _pick(OUTLINE_COLOURS, variant)
    rim = tuple(int(c * 0.72) for c in colour)
    outer = border_shape(subject, 19.5, smooth=7)
    ring = border_shape(subject, 18, smooth=7)
    inner = border_shape(subject, 5, smooth=2.5)
    return compose_rgba([(rim, outer), (colour, ring), (WHITE, inner), (_photo(subject), subject.alpha)])


def _fill_background(subject: Subject, rgb: np.ndarray) -> np.ndarray:
    """Copy of ``rgb`` (hxwx3 uint8) with non-subject pixels set to the subject's median colour
    (keeps filters and palettes from seeing the black padding); the median is taken on a 1-in-4
    grid of pixels."""
    grid = subject.mask[::4, ::4]
    if not grid.any():
        return rgb.copy() if not subject.mask.any() else _fill_with(subject, rgb, rgb[subject.mask])
    return _fill_with(subject, rgb, rgb[::4, ::4][grid])


def _fill_with(subject: Subject, rgb: np.ndarray, samples: np.ndarray) -> np.ndarray:
    out = np.empty_like(rgb)
    out[:] = np.median(samples, axis=0).astype(np.uint8)
    cv2.copyTo(rgb, subject.mask.view(np.uint8), out)
    return out


def _odd(subject: Subject, size: int) -> int:
    """A kernel size given at 512 px on the subject's canvas: odd, ≥ 3 (``size`` itself at 512 px)."""
    if subject.unit == 1.0:
        return size
    return max(3, 2 * round((size * subject.unit - 1) / 2) + 1)


def _smoothed(subject: Subject) -> np.ndarray:
    """The filled photo after a bilateral filter (d 5 px, sigma colour 60, space 5; Tomasi &
    Manduchi 1998): hxwx3 uint8, computed once per job and shared by ``cartoon`` and ``pop``."""
    return memo(
        subject,
        "smoothed",
        lambda: cv2.bilateralFilter(_fill_background(subject, subject.rgb), _odd(subject, 5), 60, px(subject, 5)),
    )


def _quantise(rgb: np.ndarray, mask: np.ndarray, colours: int) -> np.ndarray:
    """Map ``rgb`` (hxwx3 uint8) to a median-cut palette of ``colours`` built from the subject's pixels.

    The palette comes from Pillow's median cut (Heckbert 1982) on a ≤4096-pixel sample of the
    subject; pixels are then mapped with :func:`palette_map`.
    """
    flat = rgb.reshape(-1, 3)
    where = np.flatnonzero(mask)  # every ``step``-th subject pixel, without gathering them all first
    where = where if len(where) else np.arange(len(flat))
    sample = flat[where[:: max(1, len(where) // 4096)]]
    strip = Image.fromarray(np.ascontiguousarray(sample[None, :, :]), "RGB")
    quant = strip.quantize(colors=colours, method=Image.Quantize.MEDIANCUT)
    used = max(1, min(colours, len(quant.getcolors(colours) or [])))
    palette = np.asarray(quant.getpalette()[: 3 * used], np.float32).reshape(-1, 3)
    return palette_map(rgb, palette)


# centres of the 16×16×16 colour bins, (4096, 3) float32
_CUBE = (np.stack(np.meshgrid(*[np.arange(16)] * 3, indexing="ij"), -1).reshape(-1, 3) * 16 + 8).astype(np.float32)


def palette_map(rgb: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Nearest ``palette`` colour for every pixel, through a 4096-entry lookup table (4 bits per
    channel: exact up to the 16-level bins, ~10× faster than a per-pixel search).

    Args:
        rgb: hxwx3 uint8.
        palette: Kx3 colours, 0..255 (integers; any numeric dtype).

    Returns:
        hxwx3 uint8.
    """
    # squared distance minus the bin centre's own |c|² (the same for every palette entry): exact in
    # float32, since all terms are integers far below 2**24, so ties resolve as with the full sum
    palette = np.asarray(palette, np.float32)
    dist = (palette * palette).sum(-1)[None, :] - 2 * (_CUBE @ palette.T)
    lut = np.zeros((4096, 4), np.uint8)  # RGB + a pad byte: one 32-bit word per entry
    lut[:, :3] = palette[np.argmin(dist, axis=1)].astype(np.uint8)
    bins = rgb >> 4
    index = (bins[..., 0].astype(np.uint16) << 8) | (bins[..., 1].astype(np.uint16) << 4) | bins[..., 2]
    # a flat gather of 32-bit words is ~2× faster than gathering rows of 3 bytes
    words = np.take(lut.view(np.uint32).ravel(), index)
    return cv2.cvtColor(words.view(np.uint8).reshape(*index.shape, 4), cv2.COLOR_RGBA2RGB)


def _saturate(rgb: np.ndarray, gain: float, value_gain: float = 1.0) -> np.ndarray:
    """``rgb`` (hxwx3 uint8) with HSV saturation × ``gain`` and value × ``value_gain``, clipped and
    truncated to uint8: one 256-entry table per HSV channel (hue unchanged)."""
    levels = np.arange(256, dtype=np.float32)
    table = np.stack(
        [levels, np.clip(levels * gain, 0, 255), np.clip(levels * value_gain, 0, 255)], axis=-1
    ).astype(np.uint8)
    hsv = cv2.LUT(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV), table[None])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


#: ``cartoon``'s parameters per processing method: palette sizes by variant, saturation gain,
#: the median filter before line detection and the adaptive threshold's block and offset (a larger
#: offset: fewer, only the strongest lines), ink lines thickened by a 2 px dilation or not, the ink
#: contour's width (px at 512 px).
CARTOON_METHODS: dict[str, dict] = {
    "basic": dict(colours=(5, 4, 6), saturation=1.2, median=7, block=11, offset=11, thick=False, contour=2.5),
    "advanced": dict(colours=(8, 6, 12), saturation=1.35, median=5, block=9, offset=7, thick=False, contour=3),
    "artistic": dict(colours=(14, 10, 18), saturation=1.5, median=3, block=7, offset=5, thick=True, contour=4),
}


def cartoon(subject: Subject, variant: int = 0, method: str = "advanced") -> Image.Image:
    """Cel-shaded subject: bilateral smoothing, 8-colour median-cut palette (variant 1: 6, 2: 12),
    saturation boost, adaptive-threshold ink lines, a 3 px ink outline and a white border.

    Methods (:data:`CARTOON_METHODS`): ``basic`` flat poster look — 5 colours (4, 6), a softer
    saturation boost (×1.2), only the strongest ink lines (median 7 px, offset 11), a 2.5 px
    contour; ``advanced`` (default) as above; ``artistic`` more detail and stronger edges — 14
    colours (10, 18), ×1.5 saturation, fine lines (median 3 px, block 7, offset 5) thickened by a
    2 px dilation, a 4 px contour.

    Raises:
        ValueError: an unknown method.
    """
    p = CARTOON_METHODS.get(method) if isinstance(method, str) else None
    if p is None:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(CARTOON_METHODS)}")
    colours = _pick(list(p["colours"]), variant)
    smooth = _smoothed(subject)
    flat = _quantise(_saturate(smooth, p["saturation"], 1.05), subject.mask, colours)
    grey = cv2.medianBlur(cv2.cvtColor(smooth, cv2.COLOR_RGB2GRAY), _odd(subject, p["median"]))
    lines = cv2.adaptiveThreshold(
        grey, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, _odd(subject, p["block"]), p["offset"]
    )
    if p["thick"]:  # dark lines grow: erode the white
        k = max(2, round(px(subject, 2)))
        lines = cv2.erode(lines, np.ones((k, k), np.uint8))
    paint = flat.copy() if not flat.flags.writeable else flat
    paint[lines == 0] = INK  # ink lines are binary: a plain uint8 overwrite
    contour = border_shape(subject, p["contour"], smooth=1.0)
    shape = border_shape(subject, _BORDER_PX + 2)
    shadow = subject_shadow(subject, shape, 4, 4.0, 0.30)
    return compose_rgba([((30, 30, 38), shadow), (WHITE, shape), (INK, contour), (paint, subject.alpha)])


SKETCH_TINTS: list[tuple[RGB, RGB]] = [
    ((40, 40, 44), (255, 255, 255)),  # graphite on white
    ((92, 52, 24), (255, 246, 228)),  # sepia on cream
    ((24, 52, 120), (246, 250, 255)),  # blue pencil
]


def _tint_lut(tone: np.ndarray, dark: int, light: int) -> np.ndarray:
    """uint8 table mixing ``dark`` → ``light`` by ``tone`` (256 values 0..1), rounded."""
    return np.clip(light * tone + dark * (1 - tone) + 0.5, 0, 255).astype(np.uint8)


def sketch(subject: Subject, variant: int = 0) -> Image.Image:
    """Pencil drawing: colour-dodge of grey by its blurred negative, darkened (squared), tinted by
    variant (graphite, sepia, blue), a pencil contour, a white border with a thin grey edge."""
    lead, paper = _pick(SKETCH_TINTS, variant)
    # grey of the subject composited on white (grey conversion is linear, so blend after it)
    grey = cv2.cvtColor(subject.rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grey = (grey * subject.alpha + 255 * (1 - subject.alpha)).astype(np.uint8)
    blurred = pyramid_blur(255 - grey, px(subject, 5.0))  # half resolution: within 1 grey level of a full blur
    dodge = cv2.divide(grey, 255 - blurred, scale=256)
    # tone = (dodge / 255) ** 2.2 (1 = paper, 0 = lead), tinted: one 256-entry table per channel
    tone = (np.arange(256, dtype=np.float32) / 255) ** 2.2
    paint = [cv2.LUT(dodge, _tint_lut(tone, lead[c], paper[c])) for c in range(3)]  # R, G, B planes
    contour = border_shape(subject, 1.5, smooth=0.8)
    shape = border_shape(subject, _BORDER_PX)
    outer = border_shape(subject, _BORDER_PX + 1.5)
    shadow = subject_shadow(subject, shape, 4, 4.0, 0.25)
    pencil = tuple(int(c * 0.6 + 255 * 0.4) for c in lead)
    return compose_rgba(
        [
            ((30, 30, 38), shadow),
            ((190, 190, 196), outer),
            (paper, shape),
            (pencil, contour),
            (paint, subject.alpha),
        ]
    )


POP_PALETTES: list[tuple[RGB, RGB, RGB, RGB]] = [
    # shadow, mid, light, halftone dot
    ((36, 20, 110), (236, 30, 121), (255, 222, 0), (0, 174, 239)),
    ((0, 70, 140), (0, 200, 200), (255, 240, 120), (255, 60, 90)),
    ((120, 10, 40), (255, 120, 0), (180, 255, 90), (120, 40, 200)),
]


_SCREENS: dict[float, np.ndarray] = {}


def _screen_distance(height: int, width: int, spacing: float) -> np.ndarray:
    """Distance, px, from each pixel to the nearest dot centre of a 45° screen of pitch ``spacing``:
    hxw float32. It depends only on the pixel's position, so one grid of at least the sticker's size
    is computed per process and sliced (a read-only view; a larger canvas grows it)."""
    grid = _SCREENS.get(spacing)
    if grid is None or grid.shape[0] < height or grid.shape[1] < width:
        side_h = max(height, STICKER_MAX_SIDE_PX, 0 if grid is None else grid.shape[0])
        side_w = max(width, STICKER_MAX_SIDE_PX, 0 if grid is None else grid.shape[1])
        ys, xs = np.mgrid[0:side_h, 0:side_w].astype(np.float32)
        u = (xs + ys) * np.float32(0.70710678 / spacing)
        v = (xs - ys) * np.float32(0.70710678 / spacing)
        du = (u - np.floor(u) - 0.5) * spacing
        dv = (v - np.floor(v) - 0.5) * spacing
        grid = np.sqrt(du * du + dv * dv)
        grid.flags.writeable = False
        _SCREENS[spacing] = grid  # a race between threads only computes the same grid twice
    return grid[:height, :width]


def _halftone(shade: np.ndarray, spacing: float) -> np.ndarray:
    """Amplitude-modulated dot screen at 45°: hxw float32 coverage 0..1, dot area ∝ darkness.

    Args:
        shade: hxw uint8 tone (255 white: no dot; 0 black: the largest dot, radius 0.62 pitch).
        spacing: screen pitch, px.
    """
    darkness = 1.0 - np.arange(256, dtype=np.float32) * np.float32(1 / 255)
    radius = np.sqrt(np.clip(darkness, 0, 1)) * np.float32(spacing * 0.62)  # per tone level
    dist = _screen_distance(shade.shape[0], shade.shape[1], spacing)
    return np.clip(np.take(radius, shade) - dist + np.float32(0.5), 0.0, 1.0)


def pop(subject: Subject, variant: int = 0) -> Image.Image:
    """Pop art: three flat palette colours from subject-relative luminance terciles, a 45° halftone
    dot screen (8 px pitch) over mid and light tones, black Canny ink edges, black contour, white
    border. Palettes by variant: magenta/yellow, teal/lemon, orange/lime."""
    dark, mid, light, dot = (np.float32(c) for c in _pick(POP_PALETTES, variant))
    # die-cut planes first: meanwhile the cartoon task (queued first) fills the shared bilateral plane
    contour = border_shape(subject, 4, smooth=1.5)
    shape = border_shape(subject, _BORDER_PX + 3)
    shadow = subject_shadow(subject, shape, 4, 4.0, 0.30)
    smooth = _smoothed(subject)
    grey = cv2.cvtColor(smooth, cv2.COLOR_RGB2GRAY)
    values = grey[subject.mask] if subject.mask.any() else grey.ravel()
    lo, hi = np.percentile(values, (30, 68))
    band = (grey >= lo).astype(np.uint8) + (grey >= hi)  # 0 dark, 1 mid, 2 light
    dots = _halftone(cv2.GaussianBlur(grey, (0, 0), px(subject, 2.0)), px(subject, 8.0)) * (band > 0) * np.float32(0.9)
    keep = 1 - dots
    tones = np.zeros((256, 3), np.float32)  # band level -> tone colour, one table column per channel
    tones[:3] = np.stack([dark, mid, light])
    k = 2 if subject.unit == 1.0 else max(1, round(2 * subject.unit))
    edges = cv2.dilate(cv2.Canny(grey, 60, 140), np.ones((k, k), np.uint8)) > 0
    # planar blend (contiguous hxw float32 per channel): tone colour, then the halftone dot colour;
    # ink edges are binary and overwrite it
    paint = []
    for c in range(3):
        plane = cv2.LUT(band, tones[:, c]) * keep + dot[c] * dots
        plane[edges] = INK[c]
        paint.append(plane)
    return compose_rgba([((30, 30, 38), shadow), (WHITE, shape), (INK, contour), (paint, subject.alpha)])


PIXEL_OUTLINES: list[RGB] = [(34, 32, 52), (90, 30, 90), (20, 70, 60)]
_PIXEL_GRID = 64  # cells on the sticker's longest side


def pixel(subject: Subject, variant: int = 0) -> Image.Image:
    """Pixel art on a 64-cell grid (8 px cells): area downscale, 16-colour median-cut palette, hard
    alpha, a 2-cell white stepped border and a 1-cell dark outline (colour by variant), upscaled
    nearest-neighbour. The result is at most 512 px (the subject's canvas side at another size:
    cells of side/64 px, the last few px made up by a nearest-neighbour resize)."""
    side = STICKER_MAX_SIDE_PX if subject.unit == 1.0 else round(STICKER_MAX_SIDE_PX * subject.unit)
    cell = max(1, side // _PIXEL_GRID)
    w, h = subject.size
    inner = _PIXEL_GRID - 2  # one cell of margin each side
    k = inner / max(w, h)
    lw, lh = max(1, round(w * k)), max(1, round(h * k))
    base = _fill_background(subject, subject.rgb)
    small = cv2.resize(_saturate(base, 1.25), (lw, lh), interpolation=cv2.INTER_AREA)
    small_a = cv2.resize(subject.alpha, (lw, lh), interpolation=cv2.INTER_AREA)
    mask = small_a > 0.5
    if not mask.any():
        mask[np.unravel_index(np.argmax(small_a), small_a.shape)] = True
    colours = _quantise(small, mask, 16)
    pad = dict(top=1, bottom=1, left=1, right=1, borderType=cv2.BORDER_CONSTANT, value=0)
    colours = cv2.copyMakeBorder(colours, **pad)
    m8 = cv2.copyMakeBorder(mask.astype(np.uint8), **pad)
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    # the subject pad (30 px ≈ 4 cells) leaves room for 3 rings inside the extra cell of margin
    white = cv2.dilate(m8, cross, iterations=2)
    white = _fill_holes_small(white)
    rim = cv2.dilate(white, np.ones((3, 3), np.uint8))
    outline_colour = np.uint8(_pick(PIXEL_OUTLINES, variant))
    out = np.zeros(colours.shape[:2] + (4,), np.uint8)
    out[rim.astype(bool), :3] = outline_colour
    out[white.astype(bool), :3] = 255
    out[m8.astype(bool), :3] = colours[m8.astype(bool)]
    out[..., 3] = rim * 255
    big = cv2.resize(out, (out.shape[1] * cell, out.shape[0] * cell), interpolation=cv2.INTER_NEAREST)
    if side != STICKER_MAX_SIDE_PX and max(big.shape[:2]) != max(subject.size):
        k = max(subject.size) / max(big.shape[:2])  # another size: exactly the canvas's longest side
        dims = (max(1, round(big.shape[1] * k)), max(1, round(big.shape[0] * k)))
        return Image.fromarray(cv2.resize(big, dims, interpolation=cv2.INTER_NEAREST), "RGBA")
    scale_down = side / max(big.shape[:2])
    if scale_down < 1:  # only for pathological aspect ratios where padding cells exceed the grid
        big = cv2.resize(
            big,
            (max(1, int(big.shape[1] * scale_down)), max(1, int(big.shape[0] * scale_down))),
            interpolation=cv2.INTER_NEAREST,
        )
    return Image.fromarray(big, "RGBA")


def _fill_holes_small(binary: np.ndarray) -> np.ndarray:
    """0/1 uint8 mask with enclosed holes filled (flood fill from the frame)."""
    h, w = binary.shape
    framed = cv2.copyMakeBorder(binary, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    flood = framed.copy()
    cv2.floodFill(flood, np.zeros((h + 4, w + 4), np.uint8), (0, 0), 1)
    holes = (flood == 0)[1:-1, 1:-1]
    return (binary.astype(bool) | holes).astype(np.uint8)


def render_cutout(rgb: np.ndarray, alpha: np.ndarray, variant: int = 0) -> Image.Image:  # noqa: ARG001 - the renderers' signature
    """The bare cutout: the photo at full resolution, alpha = the subject matte.

    When the matte holds no subject (nothing above 127) the matte becomes
    :func:`~gpu_service.pipeline.diecut.fallback_matte` (the whole photo as a rounded rectangle),
    as for the other styles. Colour is zeroed where alpha is 0.

    Args:
        rgb: HxWx3 uint8 RGB photo.
        alpha: HxW uint8 matte.
        variant: ignored (the cutout has no palette).

    Returns:
        W x H RGBA image.
    """
    if not (alpha > 127).any():
        alpha = fallback_matte(*alpha.shape)
    out = np.dstack([rgb, alpha])
    out[alpha == 0, :3] = 0
    return Image.fromarray(out, "RGBA")


def render(style: str, rgb: np.ndarray, alpha: np.ndarray, variant: int = 0) -> Image.Image:
    """Render one image sticker from a photo and its matte: :func:`.registry.render_style`.

    Args:
        style: one of ``stickers_core.styles.IMAGE_STYLE_NAMES``.
        rgb: HxWx3 uint8 RGB photo.
        alpha: HxW uint8 subject matte (0..255).
        variant: palette index, 0-based; wraps around.

    Returns:
        RGBA image: for a full-resolution style (``cutout``) W x H, else cropped to the subject,
        longest side ≤ 512 px.

    Raises:
        ValueError: unknown style, or arrays of the wrong shape or dtype.
    """
    from .registry import render_style  # the registry imports this module's renderers

    return render_style(style, rgb, alpha, variant)
