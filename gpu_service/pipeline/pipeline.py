"""The facade the worker calls: photo or text in, encoded stickers out."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image
from stickers_core.styles import IMAGE_STYLE_NAMES, TEXT_STYLE_NAMES

from .diecut import Subject, prepare
from .encode import encode_png
from .segmentation import SegmentationModel, get_model
from .styles import render_cutout, render_subject
from .text import render_text as _render_text

__all__ = ["RenderedSticker", "StickerPipeline", "variants"]

Progress = Callable[[int], None]


def _no_progress(_: int) -> None:
    return None


@dataclass(frozen=True)
class RenderedSticker:
    """One finished sticker.

    Attributes:
        index: 1-based position in the job's style list.
        style: style name.
        png: the RGBA PNG file, bytes.
        width, height: its size, px.
    """

    index: int
    style: str
    png: bytes
    width: int
    height: int


def variants(styles: Sequence[str]) -> list[int]:
    """Variant of each entry: the n-th occurrence (0-based) of a style name gets variant n.

    >>> variants(["classic", "pop", "classic"])
    [0, 0, 1]
    """
    seen: dict[str, int] = {}
    out = []
    for style in styles:
        out.append(seen.get(style, 0))
        seen[style] = out[-1] + 1
    return out


def _check(styles: Sequence[str], known: Sequence[str], kind: str) -> None:
    if not styles:
        raise ValueError(f"no {kind} styles requested")
    for style in styles:
        if style not in known:
            raise ValueError(f"unknown {kind} style {style!r}; known: {', '.join(known)}")


class StickerPipeline:
    """Segmentation + rendering + PNG encoding for one job at a time (safe to share across threads:
    it holds no per-job state).

    Args:
        model: the segmentation model; default :func:`segmentation.get_model` (loaded lazily on
            the first image job, once per process).
        encode_workers: threads encoding PNGs in parallel (zlib releases the GIL); default
            ``min(4, os.cpu_count())``; 1 encodes inline.
    """

    def __init__(self, model: SegmentationModel | None = None, encode_workers: int | None = None) -> None:
        self._model = model
        workers = encode_workers if encode_workers is not None else min(4, os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="png") if workers > 1 else None

    @property
    def model(self) -> SegmentationModel:
        """The segmentation model (loaded on first use)."""
        if self._model is None:
            self._model = get_model()
        return self._model

    def _encode(self, entries: list[tuple[str, Image.Image]]) -> list[RenderedSticker]:
        images = [img for _, img in entries]
        blobs = list(self._pool.map(encode_png, images)) if self._pool and len(images) > 1 else [encode_png(i) for i in images]
        return [
            RenderedSticker(index=i + 1, style=style, png=blob, width=img.width, height=img.height)
            for i, ((style, img), blob) in enumerate(zip(entries, blobs))
        ]

    def render_image(
        self, image: Image.Image, styles: Sequence[str], on_progress: Progress = _no_progress
    ) -> list[RenderedSticker]:
        """Stickers of a photo's subject, one per entry of ``styles``.

        Args:
            image: decoded, EXIF-transposed photo, any mode (converted to RGB; alpha is ignored).
            styles: image style names, repeats allowed (the n-th repeat gets palette variant n).
            on_progress: called with 30 (photo normalised), 40 (model about to run), 70 (mask
                ready, rendering starts).

        Returns:
            Sticker i (1-based) in style ``styles[i-1]``: RGBA PNG, ≤512 px (``cutout``: the
            photo's size).

        Raises:
            ValueError: an unknown style, or no styles.
        """
        _check(styles, IMAGE_STYLE_NAMES, "image")
        rgb = np.asarray(image.convert("RGB") if image.mode != "RGB" else image, dtype=np.uint8)
        on_progress(30)
        on_progress(40)
        alpha = self.model.predict(rgb)
        on_progress(70)
        subject: Subject | None = None
        rendered: list[tuple[str, Image.Image]] = []
        for style, variant in zip(styles, variants(styles)):
            if style == "cutout":
                rendered.append((style, render_cutout(rgb, alpha)))
                continue
            if subject is None:
                subject = prepare(rgb, alpha)
            rendered.append((style, render_subject(style, subject, variant)))
        return self._encode(rendered)

    def render_text(
        self,
        text: str | None,
        keywords: Sequence[str],
        styles: Sequence[str],
        on_progress: Progress = _no_progress,
    ) -> list[RenderedSticker]:
        """Typographic stickers, one per entry of ``styles``.

        Args:
            text: the words (may be None or empty when there are keywords).
            keywords: words describing the sticker.
            styles: text style names, repeats allowed (the n-th repeat gets palette variant n).
            on_progress: called with 50 once all stickers are drawn.

        Returns:
            Sticker i (1-based) in style ``styles[i-1]``: RGBA PNG, ≤512 px.

        Raises:
            ValueError: an unknown style, no styles, or neither text nor keywords.
        """
        _check(styles, TEXT_STYLE_NAMES, "text")
        rendered = [
            (style, _render_text(style, text, list(keywords), variant))
            for style, variant in zip(styles, variants(styles))
        ]
        on_progress(50)
        return self._encode(rendered)
