"""The style catalogue: which sticker styles exist, in which order, and which are the defaults.

This module is the single source of truth for style names. The API validates requests against it,
`GET /v1/styles` serves it, and the GPU service binds one renderer to each name
(`gpu_service.pipeline.registry` for image styles, `gpu_service.pipeline.text.TEXT_STYLE_TABLE` for
text styles; a test checks that both sides list the same names). Adding a style is one `Style(…)`
entry here plus its renderer there (docs/styles.md, "Adding a style"). This module is part of the
Lambda layer: it imports nothing beyond the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["image", "text"]


@dataclass(frozen=True, slots=True)
class Style:
    """One sticker style.

    Attributes:
        name: the stable name callers use (`classic`, `bubble`…).
        kind: ``"image"`` (made from a photo) or ``"text"`` (typographic).
        description: one human sentence for `GET /v1/styles`.
        default: whether the style is in the default set of its kind (the styles a job without
            `styles` gets).
    """

    name: str
    kind: Kind
    description: str
    default: bool = False


#: Every style, in catalogue order (the order of `GET /v1/styles`).
STYLES: tuple[Style, ...] = (
    Style("classic", "image", "Subject cut out with a white die-cut border and a soft drop shadow.", default=True),
    Style("outline", "image", "Subject with a thick coloured die-cut border.", default=True),
    Style("cartoon", "image", "Cel-shaded subject: flat colours and ink edges, white border.", default=True),
    Style("sketch", "image", "Pencil drawing of the subject on a white die-cut sticker.", default=True),
    Style("pop", "image", "Pop-art colours with a halftone dot screen.", default=True),
    Style("pixel", "image", "Pixel-art subject with a stepped border."),
    Style("cutout", "image", "The bare cutout at the photo's full resolution: no border, no crop, alpha = subject mask."),
    Style("charcoal", "image", "Charcoal drawing: smudged dark tones, stick strokes and soft contours, the paper's grain breaking every mid-tone."),
    Style("ink", "image", "Brush and ink: bold brush lines and outline over flat washes of diluted ink, solid blacks broken by dry-brush streaks."),
    Style("watercolor", "image", "Watercolour: transparent washes with darkened wet edges, blooms and granulation over a faint pencil drawing, white paper at the rim and in the highlights."),
    Style("pastel", "image", "Soft pastel on toned paper: chalky light strokes following the forms, the paper's tone and texture showing between them."),
    Style("oil", "image", "Oil painting: blended patches of rich colour, brush strokes following the forms, impasto ridges and canvas weave."),
    Style("acrylic", "image", "Acrylic painting: vivid, flat, opaque colours in overlapping flat-brush strokes on white gesso, matte."),
    Style("bubble", "text", "Rounded, bold letters with a thick white outline and a soft shadow.", default=True),
    Style("badge", "text", "Text on a round-cornered coloured badge with a die-cut border.", default=True),
    Style("retro", "text", "Chunky display letters with a stacked 3D shadow and gradient fill.", default=True),
)

_names = [s.name for s in STYLES]
if len(set(_names)) != len(_names):  # a name is the key of a job's styles and of its sticker files
    raise RuntimeError(f"duplicate style names in the catalogue: {sorted({n for n in _names if _names.count(n) > 1})}")
del _names

IMAGE_STYLES: tuple[Style, ...] = tuple(s for s in STYLES if s.kind == "image")
TEXT_STYLES: tuple[Style, ...] = tuple(s for s in STYLES if s.kind == "text")
IMAGE_STYLE_NAMES: tuple[str, ...] = tuple(s.name for s in IMAGE_STYLES)
TEXT_STYLE_NAMES: tuple[str, ...] = tuple(s.name for s in TEXT_STYLES)
#: The default sets, from the `default` flags (in catalogue order).
DEFAULT_IMAGE_STYLES: tuple[str, ...] = tuple(s.name for s in IMAGE_STYLES if s.default)
DEFAULT_TEXT_STYLES: tuple[str, ...] = tuple(s.name for s in TEXT_STYLES if s.default)
#: The default styles of a prompt job (docs/api.md, POST /v1/stickers/prompt): image styles.
DEFAULT_PROMPT_STYLES: tuple[str, ...] = ("classic", "outline", "cartoon")

#: Longest side, in px, of every image sticker but the full-resolution `cutout`, and of every text
#: sticker (docs/api.md, "Styles": "fit in 512 × 512 px").
STICKER_MAX_SIDE_PX = 512


def style(name: str) -> Style:
    """The catalogue entry called `name`.

    Raises:
        KeyError: no style has that name.
    """
    for entry in STYLES:
        if entry.name == name:
            return entry
    raise KeyError(name)


def catalogue() -> dict[str, list[dict[str, object]]]:
    """The body of `GET /v1/styles` without the envelope.

    Returns:
        ``{"image": [{"name", "description", "default"}, …], "text": […]}`` in catalogue order.
    """
    as_dicts = lambda styles: [{"name": s.name, "description": s.description, "default": s.default} for s in styles]  # noqa: E731
    return {"image": as_dicts(IMAGE_STYLES), "text": as_dicts(TEXT_STYLES)}
