"""Image styles: sticker invariants on synthetic and real photos, variants, edge cases.

Style lists come from the catalogue, and what is checked of each style from its registry entry:
a full-resolution style (``cutout``) is the uncropped photo with the matte as alpha, every other
style a cropped sticker of ≤512 px with palette variants."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from pipeline_helpers import corners_transparent, disc_photo

from gpu_service.pipeline.diecut import prepare
from gpu_service.pipeline.registry import IMAGE_STYLE_REGISTRY
from gpu_service.pipeline.styles import render
from stickers_core.styles import IMAGE_STYLE_NAMES, STICKER_MAX_SIDE_PX

#: The styles rendered from a prepared subject: cropped, ≤512 px, a palette per variant.
CROPPED = [s for s in IMAGE_STYLE_NAMES if not IMAGE_STYLE_REGISTRY[s].full_resolution]


def _full_resolution(style: str) -> bool:
    return IMAGE_STYLE_REGISTRY[style].full_resolution


def _deepest_point(alpha: np.ndarray) -> tuple[int, int]:
    """(x, y) of the subject pixel farthest from the background: the subject's centre."""
    import cv2

    framed = np.pad((alpha > 127).astype(np.uint8), 1)  # the photo's frame counts as background
    dist = cv2.distanceTransform(framed, cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(np.argmax(dist), dist.shape)
    return int(x), int(y)


def _check_sticker(img: Image.Image, style: str, rgb: np.ndarray, alpha: np.ndarray) -> None:
    assert img.mode == "RGBA"
    out = np.asarray(img)
    x, y = _deepest_point(alpha)
    if _full_resolution(style):  # uncropped: a subject touching a photo corner keeps that corner opaque
        assert img.size == (rgb.shape[1], rgb.shape[0])
        assert np.array_equal(out[..., 3], alpha)
        assert out[y, x, 3] >= 250, "the model's matte is opaque inside the subject"
        return
    else:
        assert corners_transparent(out[..., 3]), "corners must be fully transparent"
        assert max(img.size) <= STICKER_MAX_SIDE_PX
        subject = prepare(rgb, alpha)
        x0, y0, _, _ = subject.box
        cw, ch = subject.size
        # photo point → subject canvas → sticker (pixel art re-grids the canvas, hence the ratio)
        sx = round(((x - x0) * subject.scale + subject.pad) / cw * img.width)
        sy = round(((y - y0) * subject.scale + subject.pad) / ch * img.height)
    assert out[sy, sx, 3] == 255, f"subject centre ({sx}, {sy}) not opaque"
    assert (out[..., 3] == 0).mean() > 0.02, "a sticker needs transparent surroundings"


@pytest.mark.parametrize("style", IMAGE_STYLE_NAMES)
def test_style_on_synthetic_disc(style):
    rgb, alpha = disc_photo()
    _check_sticker(render(style, rgb, alpha), style, rgb, alpha)


@pytest.mark.parametrize("photo", ["chelsea", "astronaut", "coffee"])
@pytest.mark.parametrize("style", IMAGE_STYLE_NAMES)
def test_style_on_real_photo(style, photo, sample_photos):
    rgb, alpha = sample_photos[photo]
    _check_sticker(render(style, rgb, alpha), style, rgb, alpha)


def test_subject_is_cropped_and_fills_the_sticker():
    rgb, alpha = disc_photo(400, 1200, radius_frac=0.2, centre=(200, 300))
    img = render("classic", rgb, alpha)
    assert max(img.size) == STICKER_MAX_SIDE_PX
    assert abs(img.width - img.height) <= 12  # the disc's box is square, the photo is not


@pytest.mark.parametrize("style", CROPPED)
def test_variants_differ(style):
    rgb, alpha = disc_photo(200, 260)
    first, second = (np.asarray(render(style, rgb, alpha, v)) for v in (0, 1))
    assert first.shape == second.shape and not np.array_equal(first, second)


def test_border_is_opaque_white_ring_for_classic():
    rgb, alpha = disc_photo()
    out = np.asarray(render("classic", rgb, alpha))
    row = out[out.shape[0] // 2]
    edge = np.flatnonzero(row[:, 3] == 255)[0]  # first opaque pixel from the left
    assert (row[edge + 3 : edge + 8, :3] >= 250).all(), "white die-cut border expected inside the cut line"


@pytest.mark.parametrize("style", IMAGE_STYLE_NAMES)
def test_empty_mask_falls_back_to_rounded_rectangle(style):
    rgb, _ = disc_photo(120, 160)
    alpha = np.zeros(rgb.shape[:2], np.uint8)
    img = render(style, rgb, alpha)
    out = np.asarray(img)
    assert corners_transparent(out[..., 3])
    assert out[out.shape[0] // 2, out.shape[1] // 2, 3] == 255
    assert prepare(rgb, alpha).fallback


@pytest.mark.parametrize("style", IMAGE_STYLE_NAMES)
def test_mask_touching_the_border(style):
    rgb, alpha = disc_photo(200, 300, radius_frac=0.5, centre=(100, 0))
    assert alpha[:, 0].max() == 255
    out = np.asarray(render(style, rgb, alpha))
    if not _full_resolution(style):  # the cutout keeps the photo's frame, cut subject included
        assert corners_transparent(out[..., 3])
    assert (out[..., 3] == 255).any()


@pytest.mark.parametrize("size", [(64, 64), (8000, 64), (64, 8000), (3, 5)])
@pytest.mark.parametrize("style", IMAGE_STYLE_NAMES)
def test_tiny_and_extreme_aspect(style, size):
    h, w = size
    rgb = np.full((h, w, 3), 90, np.uint8)
    alpha = np.zeros((h, w), np.uint8)
    alpha[h // 8 : h - h // 8, w // 8 : w - w // 8] = 255
    img = render(style, rgb, alpha)
    assert img.mode == "RGBA"
    out = np.asarray(img)
    if _full_resolution(style):
        assert img.size == (w, h) and np.array_equal(out[..., 3], alpha)
    else:
        assert corners_transparent(out[..., 3])
        assert max(img.size) <= STICKER_MAX_SIDE_PX and min(img.size) >= 1
        assert (out[..., 3] == 255).any()


def test_unknown_style_is_named():
    rgb, alpha = disc_photo(64, 64)
    with pytest.raises(ValueError, match="'glitter'"):
        render("glitter", rgb, alpha)


def test_cutout_alpha_is_the_matte():
    rgb, alpha = disc_photo(90, 120)
    out = np.asarray(render("cutout", rgb, alpha))
    assert np.array_equal(out[..., 3], alpha)
    assert np.array_equal(out[alpha > 0, :3], rgb[alpha > 0])
