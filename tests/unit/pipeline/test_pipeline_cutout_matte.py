"""`cutout` keeps the model's matte exactly (rembg's u2netp cutout); die-cut styles drop stray blobs."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from gpu_service.pipeline import StickerPipeline


class BlobModel:
    """A segmentation model whose matte is a large disc plus a small separate square (a stray blob)."""

    name = "blobs"

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        yy, xx = np.mgrid[:h, :w]
        matte = (((yy - h / 2) ** 2 + (xx - w / 3) ** 2) < (h / 3) ** 2).astype(np.uint8) * 255
        matte[10:30, w - 40 : w - 20] = 255  # 400 px: far under 10 % of the disc
        return matte


def test_cutout_alpha_is_the_raw_matte_and_die_cut_styles_drop_stray_blobs() -> None:
    photo = Image.fromarray(np.full((300, 400, 3), 120, np.uint8))
    cutout, classic = StickerPipeline(BlobModel()).render_image(photo, ["cutout", "classic"])
    cut = np.asarray(Image.open(io.BytesIO(cutout.png)))
    assert cut.shape == (300, 400, 4)
    assert np.array_equal(cut[..., 3], BlobModel().predict(np.zeros((300, 400, 3), np.uint8))), "cutout alpha = model matte"
    sticker = np.asarray(Image.open(io.BytesIO(classic.png)))[..., 3]
    # the stray square sat at the top right; the die-cut sticker is cropped to the disc alone,
    # so it is about as wide as tall (a sticker that kept the square would be much wider).
    assert 0.8 < sticker.shape[1] / sticker.shape[0] < 1.25


def test_cutout_of_a_real_photo_is_rembgs_matte_even_where_despeckling_would_change_it() -> None:
    from gpu_service.pipeline.refine import despeckle
    from gpu_service.pipeline.segmentation import get_model
    from stickers_core.images import decode_image
    from tests.conftest import peer_path

    photo, _ = decode_image(peer_path("examples", "anime-girl-3.jpg").read_bytes())
    model = get_model()
    raw = model.predict(np.asarray(photo))
    assert not np.array_equal(despeckle(raw), raw), "this photo has stray pieces a despeckle would drop"
    (cutout,) = StickerPipeline(model).render_image(photo, ["cutout"])
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(cutout.png)))[..., 3], raw)
