"""The style catalogue: which sticker styles exist, in which order, and which are the defaults.

This module is the single source of truth for style names. The API validates requests against it,
`GET /v1/styles` serves it, and the GPU service's renderers register one function per name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Style:
    """One sticker style.

    Attributes:
        name: the stable name callers use (`classic`, `bubble`…).
        description: one human sentence for `GET /v1/styles`.
        default: whether the style is in the default set of its job type.
    """

    name: str
    description: str
    default: bool


IMAGE_STYLES: tuple[Style, ...] = (
    Style("classic", "Subject cut out with a white die-cut border and a soft drop shadow.", True),
    Style("outline", "Subject with a thick coloured die-cut border.", True),
    Style("cartoon", "Cel-shaded subject: flat colours and ink edges, white border.", True),
    Style("sketch", "Pencil drawing of the subject on a white die-cut sticker.", True),
    Style("pop", "Pop-art colours with a halftone dot screen.", True),
    Style("pixel", "Pixel-art subject with a stepped border.", False),
    Style("cutout", "The bare cutout at the photo's full resolution: no border, no crop, alpha = subject mask.", False),
)

TEXT_STYLES: tuple[Style, ...] = (
    Style("bubble", "Rounded, bold letters with a thick white outline and a soft shadow.", True),
    Style("badge", "Text on a round-cornered coloured badge with a die-cut border.", True),
    Style("retro", "Chunky display letters with a stacked 3D shadow and gradient fill.", True),
)

IMAGE_STYLE_NAMES: tuple[str, ...] = tuple(s.name for s in IMAGE_STYLES)
TEXT_STYLE_NAMES: tuple[str, ...] = tuple(s.name for s in TEXT_STYLES)
DEFAULT_IMAGE_STYLES: tuple[str, ...] = tuple(s.name for s in IMAGE_STYLES if s.default)
DEFAULT_TEXT_STYLES: tuple[str, ...] = tuple(s.name for s in TEXT_STYLES if s.default)

#: Longest side, in px, of every image sticker but `cutout` (API.md: "fit in 512 × 512 px").
STICKER_MAX_SIDE_PX = 512


def catalogue() -> dict[str, list[dict[str, object]]]:
    """The body of `GET /v1/styles` without the envelope.

    Returns:
        ``{"image": [{"name", "description", "default"}, …], "text": […]}`` in catalogue order.
    """
    as_dicts = lambda styles: [{"name": s.name, "description": s.description, "default": s.default} for s in styles]  # noqa: E731
    return {"image": as_dicts(IMAGE_STYLES), "text": as_dicts(TEXT_STYLES)}
