"""The worker's side of the style catalogue: one declaration per image style.

:mod:`stickers_core.styles` (the Lambda layer: no numpy, no OpenCV) says which styles exist, what
they look like in words, and which are the defaults. This module binds each image style's name to
its renderer and to what the pipeline needs to know to feed and schedule it::

    ImageStyle("cartoon", styles.cartoon, cost=5),
    ImageStyle("cutout", styles.render_cutout, cost=4, full_resolution=True, matte=Matte.EXACT),

:class:`~.pipeline.StickerPipeline` reads only these declarations (it names no style): the decode
resolution, the segmentation model, the matte and the scheduling order of a job all follow from
its styles' entries. Adding an image style is a catalogue entry plus a renderer here
(docs/styles.md, "Adding a style"); the names on both sides are checked to agree when this module
is imported. Text styles have their table in :mod:`.text` (:data:`~.text.TEXT_STYLE_TABLE`).

Renderer signatures:
    * sticker-size styles (``full_resolution`` False): ``fn(subject, variant=0) -> Image`` where
      ``subject`` is the :class:`~.diecut.Subject` (photo and matte cropped and scaled to ≤512 px);
    * full-resolution styles: ``fn(rgb, alpha, variant=0) -> Image`` with the decoded photo
      (HxWx3 uint8) and its matte (HxW uint8);
    * either may take a keyword ``method`` (``"basic"`` | ``"advanced"`` | ``"artistic"``, default
      ``"advanced"``): :meth:`ImageStyle.render` passes a job's ``method`` on to renderers that
      take one and ignores it for the others.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from stickers_core import styles as catalogue

from . import media, styles
from .diecut import Subject, prepare

__all__ = ["IMAGE_STYLE_REGISTRY", "ImageStyle", "Matte", "image_style", "needs_exact_matte", "needs_full_resolution", "render_style"]


class Matte(enum.Enum):
    """Which subject matte a style is cut from.

    Attributes:
        DIECUT: the job's matte with stray blobs removed (:func:`.refine.despeckle`: they would
            become die-cut islands); on a CPU it may come from u2netp's int8 variant
            (:func:`.segmentation.matte_quant`).
        EXACT: rembg's u2netp matte exactly, as the model gives it: a job asking for such a style
            runs the fp32 model (one forward pass for the whole job) and the style gets the matte
            untouched.
    """

    DIECUT = "diecut"
    EXACT = "exact"


@dataclass(frozen=True, slots=True)
class ImageStyle:
    """One image style's renderer and how the pipeline feeds it.

    Attributes:
        name: the catalogue name (:data:`stickers_core.styles.IMAGE_STYLE_NAMES`).
        renderer: the function drawing the sticker (signatures in the module docstring).
        cost: relative render + encode time; a job's tasks are queued costliest first so the
            pool's threads finish together (longest-processing-time-first scheduling).
        full_resolution: the renderer takes the photo at its decoded resolution and its matte
            instead of a prepared :class:`~.diecut.Subject`, and the job's photo is decoded in full
            (:func:`.pipeline.decode_for_styles`).
        matte: :attr:`Matte.DIECUT` or :attr:`Matte.EXACT`.
        scalable: the renderer draws at any sticker size: its widths are given at 512 px and scaled
            by :attr:`.diecut.Subject.unit`, so a job's ``size`` prepares the subject at that size
            (cheaper below 512 px, crisp above). A sticker-size style that is not (the artistic
            media, whose textures and strokes are tuned at 512 px) is drawn at 512 px and
            resampled to the size.
        takes_method: whether ``renderer`` has a ``method`` parameter (read from its signature).
    """

    name: str
    renderer: Callable[..., Image.Image]
    cost: int = 1
    full_resolution: bool = False
    matte: Matte = Matte.DIECUT
    scalable: bool = False
    takes_method: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "takes_method", "method" in inspect.signature(self.renderer).parameters)

    @property
    def default(self) -> bool:
        """Whether the style is in the default set (the catalogue's flag)."""
        return catalogue.style(self.name).default

    @property
    def description(self) -> str:
        """The catalogue's description."""
        return catalogue.style(self.name).description

    def render(
        self,
        source: Subject | tuple[np.ndarray, np.ndarray],
        variant: int = 0,
        method: str | None = None,
    ) -> Image.Image:
        """Draw one sticker.

        Args:
            source: a prepared :class:`~.diecut.Subject`, or ``(rgb, alpha)`` for a
                full-resolution style.
            variant: palette index, 0-based; wraps around.
            method: processing method for renderers that take one (None: the renderer's default).

        Returns:
            RGBA image.
        """
        args = source if self.full_resolution else (source,)
        if method is not None and self.takes_method:
            return self.renderer(*args, variant, method=method)
        return self.renderer(*args, variant)


#: Every image style, in catalogue order. Costs: render + encode times relative to each other, as
#: measured on 512 px subjects.
IMAGE_STYLE_REGISTRY: dict[str, ImageStyle] = {
    entry.name: entry
    for entry in (
        ImageStyle("classic", styles.classic, cost=2, scalable=True),
        ImageStyle("outline", styles.outline, cost=2, scalable=True),
        ImageStyle("cartoon", styles.cartoon, cost=5, scalable=True),
        ImageStyle("sketch", styles.sketch, cost=3, scalable=True),
        ImageStyle("pop", styles.pop, cost=4, scalable=True),
        ImageStyle("pixel", styles.pixel, cost=1, scalable=True),
        ImageStyle("cutout", styles.render_cutout, cost=4, full_resolution=True, matte=Matte.EXACT),
        ImageStyle("charcoal", media.charcoal, cost=2),
        ImageStyle("ink", media.ink, cost=3),
        ImageStyle("watercolor", media.watercolor, cost=4),
        ImageStyle("pastel", media.pastel, cost=4),
        ImageStyle("oil", media.oil, cost=4),
        ImageStyle("acrylic", media.acrylic, cost=4),
    )
}

if tuple(IMAGE_STYLE_REGISTRY) != catalogue.IMAGE_STYLE_NAMES:
    raise RuntimeError(
        "image styles of the catalogue and of the renderer registry differ: "
        f"catalogue {catalogue.IMAGE_STYLE_NAMES}, registry {tuple(IMAGE_STYLE_REGISTRY)}"
    )


def image_style(name: str) -> ImageStyle:
    """The registry entry of an image style.

    Raises:
        ValueError: unknown style (the message names it and the known ones).
    """
    entry = IMAGE_STYLE_REGISTRY.get(name)
    if entry is None:
        raise ValueError(f"unknown image style {name!r}; known: {', '.join(IMAGE_STYLE_REGISTRY)}")
    return entry


def needs_full_resolution(names: Sequence[str]) -> bool:
    """Whether any of these image styles renders from the full-resolution photo (unknown names: no)."""
    return any(entry.full_resolution for entry in map(IMAGE_STYLE_REGISTRY.get, names) if entry)


def needs_exact_matte(names: Sequence[str]) -> bool:
    """Whether any of these image styles is cut from rembg's exact matte (unknown names: no)."""
    return any(entry.matte is Matte.EXACT for entry in map(IMAGE_STYLE_REGISTRY.get, names) if entry)


def render_style(name: str, rgb: np.ndarray, alpha: np.ndarray, variant: int = 0, method: str | None = None) -> Image.Image:
    """Render one image sticker from a photo and its matte (the matte is used as given).

    Args:
        name: an image style name.
        rgb: HxWx3 uint8 RGB photo.
        alpha: HxW uint8 subject matte (0..255).
        variant: palette index, 0-based; wraps around.
        method: processing method for renderers that take one.

    Returns:
        RGBA image: a full-resolution style's is W x H, the others are cropped to the subject,
        longest side ≤ 512 px.

    Raises:
        ValueError: unknown style, or arrays of the wrong shape or dtype.
    """
    entry = image_style(name)
    return entry.render((rgb, alpha) if entry.full_resolution else prepare(rgb, alpha), variant, method)
