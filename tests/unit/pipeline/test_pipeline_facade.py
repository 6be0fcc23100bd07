"""StickerPipeline: ordering, variants, progress, errors; PNG encoding."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from pipeline_helpers import disc_photo

from gpu_service.pipeline import RenderedSticker, StickerPipeline, encode_png, variants


class DiscModel:
    """A stand-in model returning the synthetic disc's exact matte."""

    name = "disc"

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        self.calls += 1
        return disc_photo(*rgb.shape[:2])[1]


def _decode(sticker: RenderedSticker) -> Image.Image:
    img = Image.open(io.BytesIO(sticker.png))
    img.load()
    assert img.mode == "RGBA" and img.size == (sticker.width, sticker.height)
    return img


def test_render_image_order_variants_and_progress():
    model = DiscModel()
    pipeline = StickerPipeline(model=model)
    rgb, _ = disc_photo()
    progress: list[int] = []
    styles = ["classic", "outline", "outline", "cutout", "pixel"]
    out = pipeline.render_image(Image.fromarray(rgb).convert("RGBA"), styles, progress.append)
    assert progress == [30, 40, 70] and model.calls == 1
    assert [s.index for s in out] == [1, 2, 3, 4, 5] and [s.style for s in out] == styles
    images = [_decode(s) for s in out]
    assert images[3].size == (rgb.shape[1], rgb.shape[0])  # cutout: full resolution
    assert all(max(i.size) <= 512 for k, i in enumerate(images) if k != 3)
    assert images[1].tobytes() != images[2].tobytes()  # second outline uses variant 1


def test_render_text_progress_and_order():
    pipeline = StickerPipeline(model=DiscModel(), encode_workers=1)
    progress: list[int] = []
    out = pipeline.render_text("Hi", ["cake"], ["bubble", "badge", "retro", "bubble"], progress.append)
    assert progress == [50]
    assert [(s.index, s.style) for s in out] == [(1, "bubble"), (2, "badge"), (3, "retro"), (4, "bubble")]
    assert out[0].png != out[3].png
    for sticker in out:
        _decode(sticker)


def test_unknown_styles_are_named():
    pipeline = StickerPipeline(model=DiscModel())
    rgb, _ = disc_photo(64, 64)
    with pytest.raises(ValueError, match="'bubble'"):
        pipeline.render_image(Image.fromarray(rgb), ["classic", "bubble"])
    with pytest.raises(ValueError, match="'classic'"):
        pipeline.render_text("Hi", [], ["classic"])


def test_variants():
    assert variants(["a", "b", "a", "a", "b"]) == [0, 0, 1, 2, 1]


def test_encode_png_roundtrip_and_errors():
    img = Image.new("RGBA", (20, 10), (255, 0, 0, 128))
    data = encode_png(img)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    back = Image.open(io.BytesIO(data))
    assert back.mode == "RGBA" and back.getpixel((3, 3)) == (255, 0, 0, 128)
    assert Image.open(io.BytesIO(encode_png(img.convert("RGB")))).mode == "RGBA"
    with pytest.raises(ValueError):
        encode_png(img, compress_level=11)
