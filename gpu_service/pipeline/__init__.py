"""Sticker image processing: segmentation, style renderers, text stickers, PNG encoding.

The worker uses :class:`StickerPipeline`; the modules below it can be used on their own:

- :mod:`.segmentation`: U²-Net-family salient-object models on onnxruntime (:func:`get_model`).
- :mod:`.diecut`: crop/scale to sticker size, die-cut border shapes, compositing.
- :mod:`.styles`: one renderer per image style (:func:`render`).
- :mod:`.text`: text stickers (:func:`render_text`); :mod:`.fonts`: packaged fonts and fallback.
- :mod:`.encode`: :func:`encode_png`.
"""

from .encode import encode_png
from .pipeline import RenderedSticker, StickerPipeline, variants
from .segmentation import SegmentationModel, get_model
from .styles import render
from .text import render_text

__all__ = [
    "RenderedSticker",
    "SegmentationModel",
    "StickerPipeline",
    "encode_png",
    "get_model",
    "render",
    "render_text",
    "variants",
]
