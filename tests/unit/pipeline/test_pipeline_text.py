"""Text stickers: invariants across scripts, emoji in colour, font fallback, bidi order."""

from __future__ import annotations

import numpy as np
import pytest
from pipeline_helpers import corners_transparent

from gpu_service.pipeline import fonts
from gpu_service.pipeline.text import _visual_order, keyword_emoji, render_text
from stickers_core.styles import STICKER_MAX_SIDE_PX, TEXT_STYLE_NAMES

CASES = {
    "latin": ("Happy birthday, Anna!", []),
    "emoji": ("🎉🎂", []),
    "arabic": ("عيد ميلاد سعيد", []),
    "hindi": ("जन्मदिन मुबारक हो", []),
    "thai": ("สุขสันต์วันเกิด", []),
    "bengali": ("শুভ জন্মদিন", []),
    "tamil": ("பிறந்தநாள் வாழ்த்துக்கள்", []),
    "telugu": ("పుట్టినరోజు శుభాకాంక్షలు", []),
    "khmer": ("រីករាយថ្ងៃកំណើត", []),
    "hebrew": ("יום הולדת שמח", []),
    "greek_cyrillic": ("Χρόνια πολλά · С днём рождения", []),
    "mixed": ("Happy عيد मुबारक 🎉 ok", ["party"]),
    "long": ("Lorem ipsum dolor sit amet, consectetur adipiscing elit " * 4)[:200],
    "keywords_only": (None, ["party", "cake", "friends"]),
    "long_word": ("Pneumonoultramicroscopicsilicovolcanoconiosis" * 2, ["love"]),
}
CASES["long"] = (CASES["long"], [])


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("style", TEXT_STYLE_NAMES)
def test_text_sticker_invariants(style, case):
    text, keywords = CASES[case]
    img = render_text(style, text, keywords)
    assert img.mode == "RGBA" and max(img.size) <= STICKER_MAX_SIDE_PX
    out = np.asarray(img)
    assert corners_transparent(out[..., 3])
    opaque = out[..., 3] == 255
    assert opaque.mean() > 0.15, "the sticker body must be opaque"
    # ink: dark outline pixels or coloured fill inside the opaque body, not just a white blob
    ink = opaque & (out[..., :3].min(-1) < 200)
    assert ink.sum() > 300


@pytest.mark.parametrize("text", [c[0] for c in CASES.values() if c[0]])
def test_packaged_fonts_cover_every_character(text):
    for style_face in ("fredoka", "lilita-one", "luckiest-guy", "bungee"):
        assert fonts.uncovered(text, fonts.display_face(style_face)) == ""


def test_uncovered_reports_what_no_font_has():
    assert fonts.uncovered("ok 日本", fonts.display_face("fredoka")) == "日本"


def _openmoji_pixels(img, colour: tuple[int, int, int]) -> int:
    """Opaque pixels within ±20 per channel of one of OpenMoji's palette colours."""
    out = np.asarray(img).reshape(-1, 4).astype(int)
    near = np.abs(out[:, :3] - np.array(colour)).max(1) <= 20
    return int((near & (out[:, 3] == 255)).sum())


OPENMOJI_YELLOW, OPENMOJI_ORANGE = (252, 234, 43), (241, 179, 28)  # #FCEA2B, #F1B31C


@pytest.mark.parametrize("style", TEXT_STYLE_NAMES)
def test_emoji_are_drawn_in_colour_not_tofu(style):
    # The party popper and the cake are painted with OpenMoji's yellow and orange; a tofu box, a
    # monochrome glyph or the style's own letters have neither (checked on "OK").
    emoji_img, plain_img = render_text(style, "🎉🎂", []), render_text(style, "OK", [])
    assert _openmoji_pixels(emoji_img, OPENMOJI_YELLOW) > 2000
    assert _openmoji_pixels(emoji_img, OPENMOJI_ORANGE) > 300
    assert _openmoji_pixels(plain_img, OPENMOJI_YELLOW) == 0
    assert _openmoji_pixels(plain_img, OPENMOJI_ORANGE) == 0


def test_emoji_runs_use_openmoji():
    runs = fonts.split_runs("Hi 🎉👨‍👩‍👧!", fonts.display_face("fredoka"))
    assert [(t, f.name) for t, f in runs] == [("Hi ", "fredoka"), ("🎉👨‍👩‍👧", "openmoji"), ("!", "fredoka")]


def test_scripts_get_their_noto_faces():
    primary = fonts.display_face("fredoka")
    assert fonts.split_runs("عيد", primary)[0][1].name == "noto-sans-arabic"
    assert fonts.split_runs("हो", primary)[0][1].name == "noto-sans-devanagari"
    assert fonts.split_runs("สุข", primary)[0][1].name == "noto-sans-thai"


def test_bidi_visual_order():
    face = fonts.display_face("fredoka")
    runs = [("abc", face), (" ", face), ("عيد", face), (" ", face), ("ميلاد", face)]
    # LTR paragraph: the Arabic words (and the space between them) are reversed as one block
    assert [r for r, _ in _visual_order(runs, "L")] == ["abc", " ", "ميلاد", " ", "عيد"]
    # RTL paragraph: the whole line is right-to-left, the Latin run keeps its own order
    assert [r for r, _ in _visual_order(runs, "R")] == ["ميلاد", " ", "عيد", " ", "abc"]


def test_keyword_emoji():
    assert keyword_emoji("party") == "🎉"
    assert keyword_emoji("Birthday") == "🎂"
    assert keyword_emoji("thumbs_up") == "👍"  # from the emoji package's names
    assert keyword_emoji("zzqxj") is None


def test_variants_differ_and_errors():
    a, b = (np.asarray(render_text("bubble", "Hi", [], v)) for v in (0, 1))
    assert not (a.shape == b.shape and np.array_equal(a, b))
    with pytest.raises(ValueError, match="text or keywords"):
        render_text("bubble", "  ", [])
    with pytest.raises(ValueError, match="'neon'"):
        render_text("neon", "Hi", [])
