"""The facade the worker calls: photo or text in, encoded stickers out.

Per job: one model pass on the photo, one :func:`~.diecut.prepare` at sticker size, then each style
is rendered *and* PNG-encoded as one task on a small thread pool. OpenCV, most numpy kernels and
the deflate (ISA-L, or libpng/zlib) release the GIL, so on a 2-core machine the five default styles
take roughly half the time of doing them one after another.

What a job needs follows from its styles' declarations in :mod:`.registry` (this module names no
style): photos for jobs without a full-resolution style (``cutout``) can be decoded at reduced
scale (:func:`decode_for_styles`), every other style being ≤512 px. The matte of a job without an
exact-matte style comes, on a CPU-only machine, from u2netp's int8 variant (1.7× faster forward
pass, alpha IoU against rembg's published cutouts 0.810 vs 0.7995 for fp32); a job with one gets
the fp32 model, whose matte is rembg's u2netp matte (one forward pass per job either way;
:func:`.segmentation.matte_quant`, ``STICKERS_MODEL_QUANT``). Tasks are queued by each style's
declared cost.

A job's output options (:mod:`.output`: rotation, size, watermark, format) are applied inside the
same tasks; a job without them (``output`` None or all defaults) takes the plain path, byte for
byte the stickers it always got.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from stickers_core.images import ImageInfo, decode_image
from stickers_core.styles import IMAGE_STYLE_NAMES, STICKER_MAX_SIDE_PX, TEXT_STYLE_NAMES

from .diecut import Subject, prepare
from .encode import encode_png
from .output import FORMATS, Output, encode, fit, rotate_image, rotate_subject, watermark
from .refine import despeckle, despeckle_fraction
from .registry import ImageStyle, Matte, image_style, needs_exact_matte, needs_full_resolution
from .segmentation import SegmentationModel, U2NetSession, get_job_model
from .settings import PipelineSettings
from .text import render_text as _render_text

__all__ = ["STYLE_DECODE_SIDE", "RenderedSticker", "StickerPipeline", "decode_for_styles", "variants"]

Progress = Callable[[int], None]

#: Longest side, px, a photo needs when no full-resolution style is asked for: the model sees 320 px (its mask
#: keeps IoU ≥ 0.98 against rembg's fixture from a 400 px decode, see the tests) and the subject is
#: scaled to ≤452 px (512 minus the margins), so a JPEG is decoded at 1/2, 1/4 or 1/8 scale as long
#: as its longest side stays ≥ this. Only photos ≥800 px are reduced; a subject smaller than ~90 %
#: of the reduced photo is then enlarged (bicubic) a little more than from a full decode.
#: Measured: ~19 ms less per job on a 1000 px photo (docs/performance.md).
STYLE_DECODE_SIDE = 400


def decode_side(styles: Sequence[str], size: int | None = None) -> int | None:
    """The ``max_side`` :func:`decode_for_styles` decodes at (None: full resolution).

    :data:`STYLE_DECODE_SIDE`, grown in proportion for stickers over 512 px; None for a job with a
    full-resolution style and no size; with a size, at least that size.
    """
    side = STYLE_DECODE_SIDE
    if size is not None and size > STICKER_MAX_SIDE_PX:
        side = math.ceil(STYLE_DECODE_SIDE * size / STICKER_MAX_SIDE_PX)
    if needs_full_resolution(styles):
        return None if size is None else max(side, size)
    return side


def decode_for_styles(data: bytes, styles: Sequence[str], size: int | None = None) -> tuple[Image.Image, ImageInfo]:
    """Decode a photo at the smallest resolution the requested styles need.

    A job with a full-resolution style (:attr:`.registry.ImageStyle.full_resolution`: ``cutout``)
    is decoded in full; any other job gets :func:`stickers_core.images.decode_image` with ``max_side`` =
    :data:`STYLE_DECODE_SIDE` (a 4032 px phone JPEG decodes at 1/4 scale, ~1008 px, several times
    faster). A job's output ``size`` over 512 px grows that side in proportion, and lets a
    ``cutout`` job be reduced to no less than the size (:func:`decode_side`).

    Args:
        data: the photo file's bytes.
        styles: the job's image style names.
        size: the job's output size, px (None: the default).

    Returns:
        As :func:`~stickers_core.images.decode_image` (``info`` describes the decoded image).

    Raises:
        stickers_core.errors.ValidationFailed: as ``decode_image``.
    """
    return decode_image(data, max_side=decode_side(styles, size))


class _Clock:
    """Adds stage durations, ms, to a dict; a no-op when the dict is None."""

    __slots__ = ("timings", "t")

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.t = time.perf_counter()

    def lap(self, stage: str) -> None:
        if self.timings is not None:
            now = time.perf_counter()
            self.timings[stage] = self.timings.get(stage, 0.0) + (now - self.t) * 1000
            self.t = now


def _no_progress(_: int) -> None:
    return None


@dataclass(frozen=True, init=False)
class RenderedSticker:
    """One finished sticker.

    Attributes:
        index: 1-based position in the job's style list.
        style: style name.
        data: the file, bytes: an RGBA PNG, or a lossless WebP when ``format`` is ``webp``
            (``png=`` is accepted for it when constructing, and :attr:`png` reads it).
        width, height: its size, px.
        format: ``png`` | ``webp``.
        image: the RGBA image that was encoded (for the job's contact sheet; not compared), or None.
    """

    index: int
    style: str
    data: bytes
    width: int
    height: int
    format: str = "png"
    image: Image.Image | None = field(default=None, compare=False, repr=False)

    def __init__(
        self,
        index: int,
        style: str,
        data: bytes | None = None,
        width: int = 0,
        height: int = 0,
        format: str = "png",  # noqa: A002 - the output option's name
        image: Image.Image | None = None,
        *,
        png: bytes | None = None,
    ) -> None:
        if (data is None) == (png is None):
            raise TypeError("RenderedSticker needs exactly one of data= and png=")
        for name, value in (
            ("index", index), ("style", style), ("data", data if data is not None else png),
            ("width", width), ("height", height), ("format", format), ("image", image),
        ):  # fmt: skip
            object.__setattr__(self, name, value)

    @property
    def png(self) -> bytes:
        """The file's bytes (:attr:`data`; a PNG unless the job asked for ``webp``)."""
        return self.data

    @property
    def extension(self) -> str:
        """File extension, no dot: ``png`` | ``webp``."""
        return FORMATS[self.format][0]

    @property
    def content_type(self) -> str:
        """``image/png`` | ``image/webp``."""
        return FORMATS[self.format][1]


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
        model: the segmentation model of every job (and of ``cutout`` jobs too unless
            ``cutout_model`` is given); default: :func:`.segmentation.get_job_model` of the
            settings' model, in the variant :func:`.segmentation.matte_quant` picks per job, each
            loaded once per process on first use.
        encode_workers: threads rendering and encoding stickers in parallel (OpenCV and the deflate release
            the GIL); default ``min(4, os.cpu_count())``; 1 renders and encodes inline.
        cutout_model: the model of jobs that ask for ``cutout`` (default: as described above).
        settings: the model, its sessions and the despeckling of the die-cut matte (default:
            :meth:`.settings.PipelineSettings.from_env`, read once, here).
    """

    def __init__(
        self,
        model: SegmentationModel | None = None,
        encode_workers: int | None = None,
        *,
        cutout_model: SegmentationModel | None = None,
        settings: PipelineSettings | None = None,
    ) -> None:
        self._model = model
        self._cutout_model = cutout_model or model
        self.settings = settings if settings is not None else PipelineSettings.from_env()
        workers = encode_workers if encode_workers is not None else min(4, os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="png") if workers > 1 else None

    def model_for(self, styles: Sequence[str]) -> SegmentationModel:
        """The model whose matte a job with these image styles is cut from (loaded on first use).

        Raises:
            ValueError, FileNotFoundError: as :func:`.segmentation.new_session`.
        """
        exact = needs_exact_matte(styles)
        chosen = self._cutout_model if exact else self._model
        if chosen is not None:
            return chosen
        return get_job_model(exact, settings=self.settings)

    @property
    def model(self) -> SegmentationModel:
        """The model of jobs without an exact-matte style (:meth:`model_for`)."""
        return self.model_for(())

    def _map(self, fn: Callable, items: list) -> list:
        if self._pool is not None and len(items) > 1:
            return list(self._pool.map(fn, items))
        return [fn(item) for item in items]

    def _encode(self, entries: list[tuple[str, Image.Image]]) -> list[RenderedSticker]:
        blobs = self._map(lambda entry: encode_png(entry[1]), entries)
        return [
            RenderedSticker(index=i + 1, style=style, data=blob, width=img.width, height=img.height, image=img)
            for i, ((style, img), blob) in enumerate(zip(entries, blobs))
        ]

    @staticmethod
    def _predict(model: SegmentationModel, rgb: np.ndarray, timings: dict[str, float] | None) -> np.ndarray:
        if timings is not None and isinstance(model, U2NetSession):
            return model.predict(rgb, timings=timings)
        return model.predict(rgb)

    def render_image(  # noqa: PLR0915 - one job's stages in order, read top to bottom
        self,
        image: Image.Image,
        styles: Sequence[str],
        on_progress: Progress = _no_progress,
        timings: dict[str, float] | None = None,
        method: str | None = None,
        output: object | None = None,
    ) -> list[RenderedSticker]:
        """Stickers of a photo's subject, one per entry of ``styles``.

        Args:
            image: decoded, EXIF-transposed photo, any mode (converted to RGB; alpha is ignored);
                may be reduced-scale (:func:`decode_for_styles`) when ``styles`` has no
                full-resolution style.
            styles: image style names, repeats allowed (the n-th repeat gets palette variant n).
            on_progress: called with 30 (photo normalised), 40 (model about to run), 70 (mask
                ready, rendering starts).
            timings: when a dict, stage durations in ms are added to it: ``to_rgb``,
                ``preprocess``, ``inference``, ``postprocess`` (``segment`` for models other than
                :class:`~.segmentation.U2NetSession`), ``rotate`` (with a rotation), ``prepare``,
                ``render:<style>`` (the style, plus resizing and watermark with output options)
                and ``encode:<style>`` (per task, summed over repeats of a style; tasks overlap on
                the pool), and ``styles_wall`` (rendering + encoding, wall time).
            method: processing method (``basic`` | ``advanced`` | ``artistic``) passed to the
                renderers that take one (:attr:`.registry.ImageStyle.takes_method`); None: each
                renderer's default (``advanced``).
            output: the job's output options (``stickers_core.models.OutputOptions`` or
                :class:`.output.Output`; None or all defaults: none): rotation of the subject
                before styling, the stickers' size, a watermark, PNG or WebP (:mod:`.output`).

        Returns:
            Sticker i (1-based) in style ``styles[i-1]``: RGBA PNG (or WebP), 512 px on its longest
            side at most (exactly the output size when one is given; a full-resolution style
            without a size: the photo's size), with the encoded image (:attr:`RenderedSticker.image`).

        Raises:
            ValueError: an unknown style, or no styles; an unknown ``method`` (from a renderer
                that takes one); an unknown output format.
        """
        _check(styles, IMAGE_STYLE_NAMES, "image")
        out = Output.of(output)
        clock = _Clock(timings)
        rgb = np.asarray(image.convert("RGB") if image.mode != "RGB" else image, dtype=np.uint8)
        clock.lap("to_rgb")
        on_progress(30)
        on_progress(40)
        model = self.model_for(styles)
        alpha = self._predict(model, rgb, timings)
        clock.t = time.perf_counter()
        if timings is not None and not isinstance(model, U2NetSession):
            clock.lap("segment")
        on_progress(70)
        entries = {style: image_style(style) for style in styles}
        # each matte kind the job's styles use, and a prepared subject per matte kind (and working
        # size) of the sticker-size styles: stray blobs would become die-cut islands, so the
        # die-cut matte is despeckled; the exact matte is the model's as it is
        mattes: dict[Matte, np.ndarray] = {}
        for entry in entries.values():
            if entry.matte not in mattes:
                mattes[entry.matte] = alpha if entry.matte is Matte.EXACT else despeckle(alpha, despeckle_fraction(self.settings))
        rotate = out.rotate if out is not None else 0.0
        turned: dict[tuple[Matte, bool], tuple[np.ndarray, np.ndarray]] = {}  # by (matte kind, full resolution)
        if rotate:  # the subject turned first: border, shadow and lines follow the rotated subject
            side = max(_working_side(entry, out) for entry in entries.values())
            for entry in entries.values():
                key = (entry.matte, entry.full_resolution)
                if key not in turned:
                    crop = not entry.full_resolution
                    turned[key] = rotate_subject(rgb, mattes[entry.matte], rotate, crop=crop, side=side if crop else None)
            clock.lap("rotate")
        subjects: dict[tuple[Matte, int], Subject] = {}
        for entry in entries.values():
            if entry.full_resolution:
                continue
            key = (entry.matte, _working_side(entry, out))
            if key not in subjects:
                photo, matte = turned[(entry.matte, False)] if rotate else (rgb, mattes[entry.matte])
                if key[1] == STICKER_MAX_SIDE_PX:
                    subjects[key] = prepare(photo, matte)
                else:
                    subjects[key] = prepare(photo, matte, max_side=key[1])
        if subjects:
            clock.lap("prepare")

        def make(task: tuple[str, int]) -> tuple[bytes, Image.Image]:
            style, variant = task
            entry = entries[style]
            t0 = time.perf_counter()
            if entry.full_resolution:
                source = turned[(entry.matte, True)] if rotate else (rgb, mattes[entry.matte])
            else:
                source = subjects[(entry.matte, _working_side(entry, out))]
            img = entry.render(source, variant, method)
            if out is not None:
                img = _finish(img, entry, out)
            t1 = time.perf_counter()
            data = encode_png(img) if out is None else encode(img, out.format)
            if timings is not None:
                t2 = time.perf_counter()
                timings[f"render:{style}"] = timings.get(f"render:{style}", 0.0) + (t1 - t0) * 1000
                timings[f"encode:{style}"] = timings.get(f"encode:{style}", 0.0) + (t2 - t1) * 1000
            return data, img

        tasks = list(zip(styles, variants(styles)))
        order = sorted(range(len(tasks)), key=lambda i: -entries[tasks[i][0]].cost)
        made_sorted = self._map(make, [tasks[i] for i in order])
        made: list[tuple[bytes, Image.Image]] = [None] * len(tasks)  # type: ignore[list-item]
        for i, result in zip(order, made_sorted):
            made[i] = result
        clock.lap("styles_wall")
        fmt = "png" if out is None else out.format
        return [
            RenderedSticker(index=i + 1, style=style, data=data, width=img.width, height=img.height, format=fmt, image=img)
            for i, (style, (data, img)) in enumerate(zip(styles, made))
        ]

    def render_text(
        self,
        text: str | None,
        keywords: Sequence[str],
        styles: Sequence[str],
        on_progress: Progress = _no_progress,
        output: object | None = None,
    ) -> list[RenderedSticker]:
        """Typographic stickers, one per entry of ``styles``.

        Args:
            text: the words (may be None or empty when there are keywords).
            keywords: words describing the sticker.
            styles: text style names, repeats allowed (the n-th repeat gets palette variant n).
            on_progress: called with 50 once all stickers are drawn.
            output: the job's output options (as :meth:`render_image`); a rotation turns the
                finished sticker, die-cut border included (text has no photo subject to turn
                first); the size resamples it.

        Returns:
            Sticker i (1-based) in style ``styles[i-1]``: RGBA PNG (or WebP), ≤512 px (exactly the
            output size when one is given), with the encoded image.

        Raises:
            ValueError: an unknown style, no styles, or neither text nor keywords; an unknown
                output format.
        """
        _check(styles, TEXT_STYLE_NAMES, "text")
        out = Output.of(output)
        words = list(keywords)

        def make(task: tuple[str, int]) -> tuple[bytes, Image.Image]:
            img = _render_text(task[0], text, words, task[1])
            if out is None:
                return encode_png(img), img
            if out.rotate:
                img = rotate_image(img, out.rotate)
            if out.size is not None:
                img = fit(img, out.size)
            elif out.rotate:  # turned, a sticker may outgrow 512 px
                img = fit(img, STICKER_MAX_SIDE_PX, shrink_only=True)
            if out.watermark:
                img = watermark(img, out.watermark, out.watermark_opacity)
            return encode(img, out.format), img

        made = self._map(make, list(zip(styles, variants(styles))))
        on_progress(50)
        fmt = "png" if out is None else out.format
        return [
            RenderedSticker(index=i + 1, style=style, data=data, width=img.width, height=img.height, format=fmt, image=img)
            for i, (style, (data, img)) in enumerate(zip(styles, made))
        ]


def _working_side(entry: ImageStyle, out: Output | None) -> int:
    """The canvas side a sticker-size style is drawn at: the output size for a scalable style, 512
    px otherwise (then resampled by :func:`_finish`)."""
    if out is not None and out.size is not None and entry.scalable:
        return out.size
    return STICKER_MAX_SIDE_PX


def _finish(img: Image.Image, entry: ImageStyle, out: Output) -> Image.Image:
    """A rendered image sticker with the job's size and watermark: resampled to the size (a
    full-resolution style only when a size is given; a style drawn at 512 px to the size; a
    scalable style is drawn at it already, to the pixel), then the watermark on top."""
    if entry.full_resolution:
        if out.size is not None:
            img = fit(img, out.size)
    else:
        side = out.size if out.size is not None else STICKER_MAX_SIDE_PX
        if out.size is not None or max(img.size) > side:
            img = fit(img, side)
    if out.watermark:
        img = watermark(img, out.watermark, out.watermark_opacity)
    return img
