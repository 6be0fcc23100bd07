"""The performance paths: reduced-scale decoding, cv2 PNG encoding, TTA and batched prediction,
and a smoke run of the benchmark harness (no timing assertions here)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from pipeline_helpers import PEER, disc_photo

from gpu_service.pipeline import StickerPipeline, encode_png
from gpu_service.pipeline.pipeline import STYLE_DECODE_SIDE, decode_for_styles
from gpu_service.pipeline.segmentation import new_session
from stickers_core.styles import DEFAULT_IMAGE_STYLES


def _jpeg(width: int, height: int) -> bytes:
    rgb, _ = disc_photo(height, width)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_decode_for_styles_reduces_only_without_cutout():
    data = _jpeg(2000, 1500)
    small, info = decode_for_styles(data, ["classic", "pop"])
    factor = 2000 // small.size[0]
    assert factor in (2, 4, 8) and small.size == (2000 // factor, 1500 // factor)
    assert (info.width, info.height) == small.size
    assert STYLE_DECODE_SIDE <= max(small.size) < 2 * STYLE_DECODE_SIDE
    full, _ = decode_for_styles(data, ["classic", "cutout"])
    assert full.size == (2000, 1500)


def test_reduced_decode_stickers_stay_correct(model):
    data = _jpeg(1600, 1200)
    styles = list(DEFAULT_IMAGE_STYLES)  # the default job
    image, _ = decode_for_styles(data, styles)
    timings: dict[str, float] = {}
    out = StickerPipeline(model=model).render_image(image, styles, timings=timings)
    assert [s.style for s in out] == styles
    for sticker in out:
        img = Image.open(io.BytesIO(sticker.png))
        assert img.mode == "RGBA" and max(img.size) <= 512 and img.size == (sticker.width, sticker.height)
        alpha = np.asarray(img)[..., 3]
        assert alpha[0, 0] == 0 and alpha.max() == 255
    assert {"preprocess", "inference", "postprocess", "prepare", "styles_wall", "render:pop", "encode:pop"} <= set(timings)


def test_encode_png_accepts_rgba_arrays_and_round_trips():
    rgba = (np.random.default_rng(1).random((20, 30, 4)) * 255).astype(np.uint8)
    decoded = np.asarray(Image.open(io.BytesIO(encode_png(rgba))))
    assert decoded.shape == (20, 30, 4) and (decoded == rgba).all()
    with pytest.raises(ValueError, match="RGBA"):
        encode_png(rgba[..., :3])


def test_tta_and_batch_predictions(model):
    rgb, _ = disc_photo(120, 160)
    tta = new_session(tta=True)
    plain, flipped = model.predict(rgb), tta.predict(rgb)
    assert flipped.shape == plain.shape == (120, 160) and flipped.dtype == np.uint8
    assert ((plain > 127) == (flipped > 127)).mean() > 0.95
    other = np.ascontiguousarray(rgb[:100, :90])
    batch = model.predict_batch([rgb, other])
    assert [m.shape for m in batch] == [(120, 160), (100, 90)]
    assert np.abs(batch[0].astype(int) - plain).max() <= 1


@pytest.mark.peer
@pytest.mark.skipif(not (PEER / "rembg" / "tests").is_dir(), reason=f"rembg reference data absent at {PEER}")
def test_reduced_decode_keeps_rembg_fixture_iou(model):
    """A half-scale (libjpeg DCT) decode still matches rembg's u2netp fixture at IoU ≥ 0.98."""
    data = (PEER / "rembg" / "tests" / "anime-girl-1.jpg").read_bytes()
    expected = np.asarray(Image.open(PEER / "rembg" / "tests" / "anime-girl-1.u2netp.png"))[..., 3]
    from stickers_core.images import decode_image

    small, _ = decode_image(data, max_side=400)
    assert max(small.size) < max(expected.shape)
    matte = model.predict(np.asarray(small))
    up = np.asarray(Image.fromarray(matte).resize(expected.shape[::-1], Image.BILINEAR))
    ours, theirs = up > 127, expected > 127
    assert (ours & theirs).sum() / (ours | theirs).sum() >= 0.98


def test_benchmark_harness_quick_mode(tmp_path, capsys):
    from benchmarks.photos import find_photos
    from benchmarks.run import main

    if not find_photos(1, log=lambda _: None):
        pytest.skip("no benchmark photos (neither ../shared/peer nor scikit-image)")
    out = tmp_path / "quick.json"
    results = main(["--quick", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["repeat"] == 1 and len(saved["speed"]) == 1
    assert results["speed"][0]["job_ms"] > 0 and "inference" in saved["stages_ms"]
    assert "| photo |" in capsys.readouterr().out


def test_despeckle_drops_small_pieces_with_their_fringe():
    from gpu_service.pipeline.refine import despeckle

    matte = np.zeros((100, 100), np.uint8)
    matte[10:60, 10:60] = 255  # the subject, 2500 px
    matte[80:90, 80:90] = 255  # a speck, 100 px (4 %)
    matte[79, 80:90] = 90  # its soft fringe
    out = despeckle(matte, 0.10)
    assert out[10:60, 10:60].min() == 255 and out[75:95, 75:95].max() == 0
    assert despeckle(matte, 0.03) is matte and despeckle(matte, 0) is matte
