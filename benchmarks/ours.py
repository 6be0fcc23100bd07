"""Our side of the comparison: the forward pass (floor), one ``cutout``, the default 5-style job,
per-stage timings, and the text job — each timed as bytes in → PNG bytes out, like rembg's."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from gpu_service.pipeline import StickerPipeline
from gpu_service.pipeline.pipeline import decode_for_styles
from stickers_core.images import decode_image
from stickers_core.styles import DEFAULT_IMAGE_STYLES, DEFAULT_TEXT_STYLES

__all__ = ["Ours"]


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


class Ours:
    """Timers around one process-wide :class:`StickerPipeline` (one session per model variant).

    Attributes:
        model: the model of the default (die-cut) job: int8 u2netp on a CPU-only machine under
            ``STICKERS_MODEL_QUANT=auto``, else fp32.
        exact_model: the fp32 model of ``cutout`` jobs (rembg's u2netp, same file).
    """

    def __init__(self) -> None:
        self.pipeline = StickerPipeline()
        self.styles = list(DEFAULT_IMAGE_STYLES)
        self.model = self.pipeline.model_for(self.styles)
        self.exact_model = self.pipeline.model_for(["cutout"])

    def forward_ms(self, data: bytes, model=None) -> float:  # noqa: ANN001
        """A forward pass alone on the photo's network input; default the fp32 model: the floor,
        the same pass rembg makes."""
        model = model or self.exact_model
        image, _ = decode_image(data)
        batch = model.preprocess(np.asarray(image.convert("RGB")))
        t0 = time.perf_counter()
        model.runner.run(batch)
        return _ms(t0)

    def cutout_ms(self, data: bytes) -> float:
        """Bytes → one full-resolution ``cutout`` PNG (rembg's job)."""
        t0 = time.perf_counter()
        image, _ = decode_for_styles(data, ["cutout"])
        self.pipeline.render_image(image, ["cutout"])
        return _ms(t0)

    def job_ms(self, data: bytes, timings: dict[str, float] | None = None) -> float:
        """Bytes → the default 5 styled stickers as PNGs (the worker's path)."""
        t0 = time.perf_counter()
        image, _ = decode_for_styles(data, self.styles)
        if timings is not None:
            timings["decode"] = timings.get("decode", 0.0) + _ms(t0)
        self.pipeline.render_image(image, self.styles, timings=timings)
        return _ms(t0)

    def job_pngs(self, data: bytes) -> list[bytes]:
        """The default job's PNG files (for the S3 put timing)."""
        image, _ = decode_for_styles(data, self.styles)
        return [s.png for s in self.pipeline.render_image(image, self.styles)]

    def text_ms(self) -> float:
        """The default text job (3 stickers) → PNGs."""
        t0 = time.perf_counter()
        self.pipeline.render_text("Good vibes", ["sun"], list(DEFAULT_TEXT_STYLES))
        return _ms(t0)

    def matte(self, path: Path) -> np.ndarray:
        """Our matte of a photo at full resolution (HxW uint8), as the die-cut styles use it
        (despeckled; the ``cutout`` style uses the raw matte, ``quality`` reports it as ``ours_raw``)."""
        from gpu_service.pipeline.refine import despeckle, despeckle_fraction

        image, _ = decode_image(path.read_bytes())
        return despeckle(self.model.predict(np.asarray(image.convert("RGB"))), despeckle_fraction())
