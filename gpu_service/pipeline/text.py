"""Typographic text stickers: the styles of :data:`TEXT_STYLE_TABLE` (``bubble``, ``badge``,
``retro``), one :class:`TextStyle` declaration each.

Text is laid out in runs, one font per run (:func:`fonts.split_runs`): the style's display face,
then Noto faces for Arabic, Devanagari, Thai and everything else, and OpenMoji for emoji, drawn in
colour. Pillow's RAQM layout engine shapes each run (Arabic joining, Devanagari conjuncts, Thai
marks); runs on a line are put in visual order with the reordering rule L2 of the Unicode
Bidirectional Algorithm (UAX #9) applied to run levels, so right-to-left text reads correctly.

The font size is the largest (binary search, 14..220 px) at which the greedy word-wrapped text fits
the sticker; words longer than a line are broken between grapheme clusters only when no size fits
them whole. The ink is given a dark outline (FreeType stroker via Pillow's ``stroke_width``), then
the die-cut border of :mod:`diecut` (distance transform of the ink, smoothed) and a soft shadow.

Why one module of this size: layout, shaping fallbacks, emoji and the style table draw one text sticker together; the table is small, the layout code is what is long.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import emoji
import numpy as np
from PIL import Image, ImageDraw

from stickers_core.styles import STICKER_MAX_SIDE_PX, TEXT_STYLE_NAMES

from . import fonts
from .diecut import compose_rgba, gaussian_blur, ramp_edge, rounded_rect_matte, soft_shadow
from .fonts import FontFace

__all__ = ["KEYWORD_EMOJI", "TEXT_STYLE_TABLE", "TextStyle", "keyword_emoji", "label", "render_text"]

RGB = tuple[int, int, int]

#: Common keywords and the emoji shown for them (checked before ``emoji.emojize``'s aliases).
KEYWORD_EMOJI: dict[str, str] = {
    "party": "🎉", "cake": "🎂", "birthday": "🎂", "bday": "🎂", "love": "❤️", "heart": "❤️",
    "cat": "🐱", "dog": "🐶", "sun": "☀️", "sunny": "☀️", "star": "⭐", "stars": "✨", "congrats": "🎊",
    "congratulations": "🎊", "thanks": "🙏", "thank": "🙏", "happy": "😄", "smile": "😊", "cool": "😎",
    "fire": "🔥", "hot": "🔥", "coffee": "☕", "tea": "🍵", "beer": "🍺", "wine": "🍷", "pizza": "🍕",
    "music": "🎵", "gift": "🎁", "present": "🎁", "balloon": "🎈", "christmas": "🎄", "xmas": "🎄",
    "wedding": "💍", "baby": "👶", "flower": "🌸", "flowers": "💐", "rainbow": "🌈", "ok": "👌",
    "lol": "😂", "funny": "😂", "sad": "😢", "kiss": "😘", "hello": "👋", "hi": "👋", "bye": "👋",
    "yes": "👍", "no": "👎", "win": "🏆", "winner": "🏆", "money": "💰", "rocket": "🚀", "moon": "🌙",
    "snow": "❄️", "rain": "🌧️", "beach": "🏖️", "travel": "✈️", "food": "🍔", "sleep": "😴",
    "tired": "😴", "angry": "😠", "wow": "😮", "cheers": "🥂", "football": "⚽", "soccer": "⚽",
    "graduation": "🎓", "work": "💼", "home": "🏠", "car": "🚗", "game": "🎮", "book": "📚",
}

PAD_PX = 30  # transparent margin, px (room for the die-cut border and the shadow)
MIN_SIZE_PX, MAX_SIZE_PX = 14, 220
_WHOLE_WORD_MIN_PX = 30  # below this size, long words may be broken to grow the text instead


def keyword_emoji(keyword: str) -> str | None:
    """The emoji for a keyword: :data:`KEYWORD_EMOJI`, else ``emoji.emojize(":keyword:")`` (with
    the package's aliases); None when neither knows it.

    >>> keyword_emoji("party")
    '🎉'
    """
    key = keyword.strip().lower()
    if key in KEYWORD_EMOJI:
        return KEYWORD_EMOJI[key]
    slug = re.sub(r"[\s-]+", "_", key)
    for language in ("en", "alias"):
        found = emoji.emojize(f":{slug}:", language=language)
        if found != f":{slug}:" and emoji.is_emoji(found):
            return found
    return None


# --- layout -------------------------------------------------------------------------------------


def _clusters(word: str) -> list[str]:
    """Grapheme-like clusters: emoji sequences whole, marks/joiners kept with their base."""
    spans = {e["match_start"]: e["match_end"] for e in emoji.emoji_list(word)}
    out: list[str] = []
    i = 0
    while i < len(word):
        end = spans.get(i, i + 1)
        piece = word[i:end]
        joins = out and (unicodedata.category(piece[0]).startswith("M") or ord(piece[0]) in (0x200D, 0x200C, 0xFE0F))
        if joins or (out and out[-1].endswith("\u200d")):
            out[-1] += piece
        else:
            out.append(piece)
        i = end
    return out


@functools.lru_cache(maxsize=4096)
def _width(text: str, face_name: str, size: int) -> float:
    """Advance width, px, of ``text`` at ``size`` with per-run fonts."""
    primary = fonts.display_face(face_name)
    return sum(fonts.font(face, size).getlength(run) for run, face in fonts.split_runs(text, primary))


def _wrap(text: str, face: str, size: int, width: float, break_words: bool) -> list[str] | None:
    """Greedy word wrap; None when a word is wider than ``width`` and ``break_words`` is False."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            pieces = [word]
            if _width(word, face, size) > width:
                if not break_words:
                    return None
                pieces, chunk = [], ""
                for cluster in _clusters(word):
                    if chunk and _width(chunk + cluster, face, size) > width:
                        pieces.append(chunk)
                        chunk = ""
                    chunk += cluster
                pieces.append(chunk)
            for piece in pieces:
                candidate = f"{line} {piece}" if line else piece
                if line and _width(candidate, face, size) > width:
                    lines.append(line)
                    line = piece
                else:
                    line = candidate
        if line:
            lines.append(line)
    return lines


def _line_height(size: int) -> float:
    return size * 1.18


def _fit(text: str, face: str, box: tuple[int, int], max_size: int) -> tuple[int, list[str]]:
    """Largest size (px) and its lines such that the wrapped text fits ``box`` (width, height)."""
    for break_words, lowest in ((False, _WHOLE_WORD_MIN_PX), (True, MIN_SIZE_PX)):
        lo, hi, best = lowest, max_size, None
        while lo <= hi:
            mid = (lo + hi) // 2
            lines = _wrap(text, face, mid, box[0], break_words)
            if lines is not None and len(lines) * _line_height(mid) <= box[1]:
                best, lo = (mid, lines), mid + 1
            else:
                hi = mid - 1
        if best is not None:
            return best
    return MIN_SIZE_PX, _wrap(text, face, MIN_SIZE_PX, box[0], True) or [text]


# --- bidi ---------------------------------------------------------------------------------------


def _strong(text: str) -> str | None:
    """'L' or 'R' for the first strong character of ``text`` (UAX #9 classes L / R, AL), else None."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind == "L":
            return "L"
        if kind in ("R", "AL"):
            return "R"
    return None


def _separate_spaces(runs: list[tuple[str, FontFace]]) -> list[tuple[str, FontFace]]:
    """Runs with leading and trailing spaces split off as runs of their own, so bidi reordering
    treats spaces as neutral (a space after an RTL word must not end up on that word's left)."""
    out: list[tuple[str, FontFace]] = []
    for run, face in runs:
        core = run.strip(" ")
        if not core:
            out.append((run, face))
            continue
        lead, trail = run[: len(run) - len(run.lstrip(" "))], run[len(run.rstrip(" ")) :]
        out.extend((part, face) for part in (lead, core, trail) if part)
    return out


def _visual_order(runs: list[tuple[str, FontFace]], base: str) -> list[tuple[str, FontFace]]:
    """Runs in left-to-right drawing order: levels from each run's direction (neutral runs take
    their neighbours' direction when both agree, else the paragraph's), then UAX #9 rule L2."""
    kinds = [_strong(r) for r, _ in runs]
    resolved: list[str] = []
    for i, kind in enumerate(kinds):
        if kind is None:
            before = next((k for k in reversed(kinds[:i]) if k), base)
            after = next((k for k in kinds[i + 1 :] if k), base)
            kind = before if before == after else base
        resolved.append(kind)
    if base == "L":
        levels = [0 if k == "L" else 1 for k in resolved]
    else:
        levels = [2 if k == "L" else 1 for k in resolved]
    order = list(range(len(runs)))
    for level in range(max(levels, default=0), 0, -1):
        i = 0
        while i < len(order):
            if levels[order[i]] >= level:
                j = i
                while j < len(order) and levels[order[j]] >= level:
                    j += 1
                order[i:j] = order[i:j][::-1]
                i = j
            else:
                i += 1
    return [runs[k] for k in order]


# --- drawing ------------------------------------------------------------------------------------


@dataclass
class _Ink:
    fill: np.ndarray  # hxw uint8 coverage of letters, 0..255
    stroke: np.ndarray  # hxw uint8 coverage of letters + outline, 0..255
    emoji: np.ndarray  # hxwx4 uint8 colour emoji (RGBA, straight alpha)


def _draw_lines(
    blocks: list[tuple[list[str], int]], face_name: str, canvas: tuple[int, int], stroke_ratio: float, base: str
) -> _Ink:
    """Draw blocks of lines (lines, size px), centred one under the other on the canvas."""
    width, height = canvas
    fill = Image.new("L", canvas, 0)
    stroke = Image.new("L", canvas, 0)
    colour = Image.new("RGBA", canvas, (0, 0, 0, 0))
    d_fill, d_stroke, d_colour = ImageDraw.Draw(fill), ImageDraw.Draw(stroke), ImageDraw.Draw(colour)
    primary = fonts.display_face(face_name)
    total = sum(len(lines) * _line_height(size) for lines, size in blocks)
    y = (height - total) / 2
    for lines, size in blocks:
        stroke_px = max(1, round(size * stroke_ratio))
        for line in lines:
            runs = _visual_order(_separate_spaces(fonts.split_runs(line, primary)), base)
            line_w = sum(fonts.font(f, size).getlength(r) for r, f in runs)
            x = (width - line_w) / 2
            baseline = y + size * 0.95
            for run, face in runs:
                f = fonts.font(face, size)
                if face.colour:
                    d_colour.text((x, baseline), run, font=f, anchor="ls", embedded_color=True)
                    # emoji get the outline too, drawn as a disc-ish silhouette via the die-cut later
                else:
                    d_fill.text((x, baseline), run, font=f, fill=255, anchor="ls")
                    d_stroke.text((x, baseline), run, font=f, fill=255, anchor="ls", stroke_width=stroke_px, stroke_fill=255)
                x += f.getlength(run)
            y += _line_height(size)
    return _Ink(np.asarray(fill), np.asarray(stroke), np.asarray(colour))


#: Face of :func:`label` (watermarks): Noto Sans, then the usual fallbacks and OpenMoji.
LABEL_FACE = "noto-sans"


def label(
    text: str, size: int, fill: RGB = (255, 255, 255), outline: RGB = (16, 16, 20), outline_px: int | None = None
) -> Image.Image:
    """One line of small text as a tight RGBA image: the letters in ``fill`` with an ``outline``
    (legible on light and dark alike), emoji in colour; any script, runs in visual order (the same
    font fallback and bidi reordering as the stickers). Used for watermarks.

    Args:
        text: one line (whitespace collapsed).
        size: font size, px.
        fill, outline: colours.
        outline_px: outline width, px (default size / 9, ≥ 1).

    Returns:
        RGBA image cropped to the ink (a 1 x 1 transparent image when nothing is visible).
    """
    line = " ".join(text.split())
    stroke = max(1, round(size / 9)) if outline_px is None else outline_px
    primary = fonts.display_face(LABEL_FACE)
    # a lone symbol with a text presentation (©, ®, ™ without U+FE0F) stays text, not a colour emoji
    runs = [
        (run, primary) if face.colour and len(run.strip()) == 1 and ord(run.strip()) in fonts.coverage(primary) else (run, face)
        for run, face in fonts.split_runs(line, primary)
    ]
    runs = _visual_order(_separate_spaces(runs), _strong(line) or "L")
    width = sum(fonts.font(face, size).getlength(run) for run, face in runs)
    canvas = Image.new("RGBA", (int(width) + 2 * stroke + 4, int(size * 1.5) + 2 * stroke + 4), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    x, baseline = stroke + 2.0, stroke + 2 + size * 1.1
    for run, face in runs:
        f = fonts.font(face, size)
        if face.colour:
            draw.text((x, baseline), run, font=f, anchor="ls", embedded_color=True)
        else:
            draw.text((x, baseline), run, font=f, fill=fill, anchor="ls", stroke_width=stroke, stroke_fill=outline)
        x += f.getlength(run)
    bbox = canvas.getchannel("A").getbbox()
    return canvas.crop(bbox) if bbox else Image.new("RGBA", (1, 1), (0, 0, 0, 0))


#: Room, px, kept around the letters: badge padding (34) + die-cut radius and smoothing (~18) + shadow
#: offset and blur (~20).
_ROI_MARGIN_PX = 76


def _crop_to_content(img: Image.Image, margin: int) -> Image.Image:
    """Crop to the non-transparent bounding box plus ``margin`` px (kept inside the canvas)."""
    bbox = img.getchannel("A").getbbox()
    if bbox is None:
        return img
    x0, y0, x1, y1 = bbox
    return img.crop((max(0, x0 - margin), max(0, y0 - margin), min(img.width, x1 + margin), min(img.height, y1 + margin)))


def _gradient(height: int, width: int, top: RGB, bottom: RGB, y0: float, y1: float) -> np.ndarray:
    t = np.clip((np.arange(height, dtype=np.float32) - y0) / max(y1 - y0, 1.0), 0, 1)[:, None, None]
    ramp = np.float32(top) * (1 - t) + np.float32(bottom) * t
    return np.broadcast_to(ramp, (height, width, 3))


_BADGE_RADIUS_PX = 44.0
_RING_INSETS_PX = (7.0, 11.0)  # the light inner line, like a stitched patch, lies between these insets


def _badge_mattes(height: int, width: int, box: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """The badge's rounded rectangle and its inner ring, hxw float32 coverage 0..1 each.

    The rectangle inset by ``p`` px with corner radius ``44 - p`` has the signed distance of the
    outer one plus ``p`` (its ``half side - radius`` is unchanged), so one signed-distance field
    (:func:`.diecut.rounded_rect_matte`'s ``sdRoundBox``) gives all three mattes; when a corner
    radius would be clamped (a badge under ~88 px tall) each is computed on its own.

    Args:
        height, width: canvas size, px.
        box: (x0, y0, x1, y1) of the badge, px.

    Returns:
        (badge, ring): the rectangle, and ``clip(inset 7 px - inset 11 px, 0, 1)``.
    """
    x0, y0, x1, y1 = box
    half_w, half_h = max((x1 - x0) / 2, 0.0), max((y1 - y0) / 2, 0.0)
    if _BADGE_RADIUS_PX > min(half_w, half_h):
        def inset(px: float) -> np.ndarray:
            return rounded_rect_matte(height, width, (x0 + px, y0 + px, x1 - px, y1 - px), _BADGE_RADIUS_PX - px)

        return inset(0), np.clip(inset(_RING_INSETS_PX[0]) - inset(_RING_INSETS_PX[1]), 0, 1)
    ys = np.arange(height, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(width, dtype=np.float32)[None, :] + 0.5
    qx = np.abs(xs - np.float32((x0 + x1) / 2)) - np.float32(half_w - _BADGE_RADIUS_PX)
    qy = np.abs(ys - np.float32((y0 + y1) / 2)) - np.float32(half_h - _BADGE_RADIUS_PX)
    outside = cv2.magnitude(*np.broadcast_arrays(np.maximum(qx, 0), np.maximum(qy, 0)))
    inside = np.minimum(np.maximum(qx, qy), 0)
    level = np.float32(0.5 + _BADGE_RADIUS_PX) - (outside + inside)  # coverage before clipping
    badge = np.clip(level, 0.0, 1.0)
    ring = np.clip(np.clip(level - _RING_INSETS_PX[0], 0, 1) - np.clip(level - _RING_INSETS_PX[1], 0, 1), 0, 1)
    return badge, ring


def _diecut(cover: np.ndarray, radius: float) -> np.ndarray:
    """Die-cut shape around ink coverage (hxw 0..1): distance-transform offset, holes filled, smoothed."""
    outside = cv2.distanceTransform((cover < 0.5).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    binary = np.where(outside <= radius, 255, 0).astype(np.uint8)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(binary)
    cv2.drawContours(filled, contours, -1, 255, thickness=cv2.FILLED)
    return ramp_edge(gaussian_blur(filled, radius / 2), radius / 2)


@dataclass(frozen=True, slots=True)
class _Letters:
    """The drawn letters, cropped to the region that is composed (see :func:`render_text`).

    Attributes:
        cover: hxw float32 coverage 0..1 of letters, outline and emoji.
        box: (x_min, y_min, x_max, y_max), px, of the visible letters in ``cover``.
        size: the main text's font size, px.
    """

    cover: np.ndarray
    box: tuple[int, int, int, int]
    size: int


Layer = tuple["np.ndarray | RGB | list[np.ndarray]", np.ndarray]


def _shadow_and_cut(cut: np.ndarray) -> list[Layer]:
    return [((30, 30, 38), soft_shadow(cut, 0, 5, 5.0, 0.35)), ((255, 255, 255), cut)]


def _bubble_shape(letters: _Letters, accent: RGB) -> list[Layer]:  # noqa: ARG001 - the shape functions' signature
    """A white die-cut border (14 px) and soft shadow around the letters."""
    return _shadow_and_cut(_diecut(letters.cover, 14))


def _badge_shape(letters: _Letters, accent: RGB) -> list[Layer]:
    """A rounded badge in ``accent`` (34 px / 30 px around the letters) with a light inner line,
    a white die-cut border (12 px) and a soft shadow."""
    x_min, y_min, x_max, y_max = letters.box
    height, width = letters.cover.shape
    badge, ring = _badge_mattes(height, width, (x_min - 34.0, y_min - 30.0, x_max + 34.0, y_max + 30.0))
    cut = _diecut(badge, 12)
    light = tuple(int(c + (255 - c) * 0.45) for c in accent)
    return [*_shadow_and_cut(cut), (accent, badge), (light, ring)]


def _retro_shape(letters: _Letters, accent: RGB) -> list[Layer]:
    """A stacked 3D extrusion in ``accent`` (9 % of the font size, down-right), a white die-cut
    border (13 px) and a soft shadow."""
    depth = max(4, round(letters.size * 0.09))
    kernel = np.eye(depth + 1, dtype=np.uint8)  # dilation along the diagonal = stacked offsets
    solid = (letters.cover * 255).astype(np.uint8)
    extruded = cv2.dilate(solid, kernel, anchor=(0, 0)).astype(np.float32) * (1 / 255)
    cut = _diecut(np.maximum(letters.cover, extruded), 13)
    return [*_shadow_and_cut(cut), (accent, extruded)]


@dataclass(frozen=True, slots=True)
class TextStyle:
    """One text style: faces, colours and the shape drawn under the letters.

    Palettes are cycled by the sticker's variant (variant ``v`` uses entry ``v % len``) each on its
    own, so a repeated style differs.

    Attributes:
        name: the catalogue name (:data:`stickers_core.styles.TEXT_STYLE_NAMES`).
        faces: display face names (:func:`.fonts.display_face`) by variant.
        fills: (top, bottom) colours of the letters' vertical gradient, by variant.
        stroke: the letters' outline colour.
        stroke_ratio: outline width / font size.
        accents: colour handed to ``shape`` (badge background, extrusion), by variant.
        margin: (width, height), px, taken off the padded 512 px canvas to give the box the text
            must fit in.
        shape: draws the layers under the letters' outline: ``shape(letters, accent)`` → the
            ``(colour, coverage)`` layers of :func:`.diecut.compose_rgba`, bottom first.
    """

    name: str
    faces: tuple[str, ...]
    fills: tuple[tuple[RGB, RGB], ...]
    stroke: RGB
    stroke_ratio: float
    accents: tuple[RGB, ...]
    margin: tuple[int, int]
    shape: Callable[[_Letters, RGB], list[Layer]]

    def text_box(self) -> tuple[int, int]:
        """(width, height), px, the text must fit."""
        inner = STICKER_MAX_SIDE_PX - 2 * PAD_PX
        return inner - self.margin[0], inner - self.margin[1]


def _flat(*colours: RGB) -> tuple[tuple[RGB, RGB], ...]:
    return tuple((c, c) for c in colours)


_BUBBLE_FILLS = ((255, 92, 141), (64, 156, 255), (255, 176, 0), (120, 200, 80))

#: Every text style, in catalogue order.
TEXT_STYLE_TABLE: dict[str, TextStyle] = {
    entry.name: entry
    for entry in (
        TextStyle(
            "bubble", faces=("fredoka",), fills=_flat(*_BUBBLE_FILLS), stroke=(48, 22, 64), stroke_ratio=0.09,
            accents=_BUBBLE_FILLS, margin=(40, 40), shape=_bubble_shape,
        ),
        TextStyle(
            "badge", faces=("lilita-one",), fills=_flat((255, 255, 255)), stroke=(40, 24, 30), stroke_ratio=0.09,
            accents=((229, 57, 53), (30, 136, 229), (46, 160, 67), (123, 31, 162)), margin=(96, 150), shape=_badge_shape,
        ),
        TextStyle(
            "retro", faces=("luckiest-guy", "bungee"),
            fills=(((255, 236, 90), (255, 96, 40)), ((130, 240, 255), (60, 80, 255)), ((255, 170, 225), (190, 50, 250))),
            stroke=(30, 16, 40), stroke_ratio=0.07, accents=((86, 24, 70), (20, 30, 90), (60, 10, 90)),
            margin=(50, 60), shape=_retro_shape,
        ),
    )
}

if tuple(TEXT_STYLE_TABLE) != TEXT_STYLE_NAMES:
    raise RuntimeError(f"text styles of the catalogue {TEXT_STYLE_NAMES} and of TEXT_STYLE_TABLE {tuple(TEXT_STYLE_TABLE)} differ")


def _pick(palette: tuple, variant: int):  # noqa: ANN001, ANN202 - tiny helper
    return palette[variant % len(palette)]


def render_text(style: str, text: str | None, keywords: list[str] | tuple[str, ...] = (), variant: int = 0) -> Image.Image:
    """Render one text sticker.

    With ``text``, keywords are shown under it on a smaller line (as emoji where
    :func:`keyword_emoji` knows them, else as ``#keyword``); with keywords only, they become the
    text and their emoji (if any) the smaller line.

    Args:
        style: a text style name (:data:`TEXT_STYLE_TABLE`).
        text: the words to show (any script, emoji welcome); whitespace is collapsed, newlines kept.
        keywords: words describing the sticker.
        variant: palette index, 0-based; wraps around.

    Returns:
        RGBA image, longest side ≤ 512 px, transparent around an opaque die-cut sticker.

    Raises:
        ValueError: unknown style, or neither text nor keywords.
    """
    look = TEXT_STYLE_TABLE.get(style)
    if look is None:
        raise ValueError(f"unknown text style {style!r}; known: {', '.join(TEXT_STYLE_NAMES)}")
    face = _pick(look.faces, variant)
    fill_top, fill_bottom = _pick(look.fills, variant)
    words = [k.strip() for k in keywords if k and k.strip()]
    body = "\n".join(" ".join(line.split()) for line in (text or "").strip().splitlines() if line.strip())
    if body:
        marks = [keyword_emoji(k) or f"#{k}" for k in words]
        extra = " ".join(marks)
    elif words:
        body = " ".join(words)
        extra = " ".join(e for e in (keyword_emoji(k) for k in words) if e)
    else:
        raise ValueError("a text sticker needs text or keywords")

    side = STICKER_MAX_SIDE_PX
    box_w, box_h = look.text_box()
    extra_h = box_h * 0.2 if extra else 0.0
    size, lines = _fit(body, face, (box_w, int(box_h - extra_h)), MAX_SIZE_PX)
    blocks = [(lines, size)]
    if extra:
        extra_size, extra_lines = _fit(extra, face, (box_w, int(extra_h)), max(MIN_SIZE_PX, int(size * 0.7)))
        blocks.append((extra_lines, extra_size))
    base = _strong(body) or "L"
    ink = _draw_lines(blocks, face, (side, side), look.stroke_ratio, base)
    # letters = max(stroke, emoji alpha), found and cropped in uint8 (coverage > 0.02 ⇔ value ≥ 6):
    # only the letters' box plus room for badge, border, shadow and blur is converted to float and
    # composed (the sticker is cropped to its content at the end anyway)
    letters8 = cv2.max(ink.stroke, np.ascontiguousarray(ink.emoji[..., 3]))
    bx, by, bw, bh = cv2.boundingRect(cv2.threshold(letters8, 5, 255, cv2.THRESH_BINARY)[1])
    if bw == 0:  # nothing visible (e.g. only control characters): a small square stands in
        letters8[side // 2 - 20 : side // 2 + 20, side // 2 - 20 : side // 2 + 20] = 255
        bx, by, bw, bh = side // 2 - 20, side // 2 - 20, 40, 40
    ox, oy = max(0, bx - _ROI_MARGIN_PX), max(0, by - _ROI_MARGIN_PX)
    roi = (slice(oy, min(side, by + bh + _ROI_MARGIN_PX)), slice(ox, min(side, bx + bw + _ROI_MARGIN_PX)))
    def as_float(plane: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(plane[roi]).astype(np.float32) * np.float32(1 / 255)

    letters, stroke, fill = as_float(letters8), as_float(ink.stroke), as_float(ink.fill)
    emoji_a = as_float(ink.emoji[..., 3])
    emoji_rgb = list(cv2.split(ink.emoji[roi]))[:3]  # contiguous R, G, B planes of the ROI
    height, width = letters.shape
    # extent of letters > 0.02 in the ROI: the uint8 box found above (value ≥ 6), shifted
    x_min, x_max, y_min, y_max = bx - ox, bx + bw - 1 - ox, by - oy, by + bh - 1 - oy
    top, bottom = float(y_min), float(y_max)
    fill_colour = _gradient(height, width, fill_top, fill_bottom, top, bottom)
    layers = look.shape(_Letters(letters, (x_min, y_min, x_max, y_max), size), _pick(look.accents, variant))
    layers += [(look.stroke, stroke), (fill_colour, fill), (emoji_rgb, emoji_a)]
    sticker = compose_rgba(layers)
    return _crop_to_content(sticker, 4)
