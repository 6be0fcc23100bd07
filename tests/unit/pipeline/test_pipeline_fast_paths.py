"""The post-model fast paths: ISA-L PNG writer (and its OpenCV fallback), half-resolution blurs,
top-down compositing, per-key memo of shared planes, the palette lookup and the halftone screen.
Each is checked against the straightforward computation it replaces (no timing assertions)."""

from __future__ import annotations

import io
import threading
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image
from pipeline_helpers import disc_photo

from gpu_service.pipeline import encode
from gpu_service.pipeline.diecut import (
    _fill_holes,
    border_shape,
    compose,
    compose_rgba,
    gaussian_blur,
    memo,
    prepare,
    pyramid_blur,
    ramp_edge,
    to_rgba_image,
)
from gpu_service.pipeline.styles import _CUBE, _halftone, _quantise, _saturate, palette_map


def _random_rgba(h: int, w: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((h, w, 4)) * 255).astype(np.uint8)


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (64, 17), (200, 131)])
@pytest.mark.parametrize("level", [0, 1, 2, 3, 6])
def test_png_writer_round_trips_with_valid_chunks(shape, level):
    rgba = _random_rgba(*shape, seed=level)
    data = encode.encode_png(rgba, level)
    img = Image.open(io.BytesIO(data))
    img.load()  # Pillow checks every chunk's CRC
    assert img.mode == "RGBA" and (np.asarray(img) == rgba).all()
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert (cv2.cvtColor(decoded, cv2.COLOR_BGRA2RGBA) == rgba).all()


def test_png_writer_uses_isal_and_falls_back_to_opencv(monkeypatch):
    rgba = np.zeros((40, 50, 4), np.uint8)
    rgba[10:30, 5:45] = (200, 30, 90, 255)
    fast = encode.encode_png(rgba)
    assert encode._isal is not None, "isal is a declared dependency"
    # our container: signature, IHDR, a single IDAT holding the SUB-filtered rows, IEND
    length = int.from_bytes(fast[33:37], "big")
    assert fast[37:41] == b"IDAT" and fast[41 + length + 4 :][4:8] == b"IEND"
    rows = np.frombuffer(zlib.decompress(fast[41 : 41 + length]), np.uint8).reshape(40, 1 + 50 * 4)
    assert (rows[:, 0] == 1).all()
    monkeypatch.setattr(encode, "_isal", None)
    slow = encode.encode_png(rgba)
    assert slow != fast and (np.asarray(Image.open(io.BytesIO(slow))) == rgba).all()


def _subject():
    rgb, alpha = disc_photo(300, 260)
    return prepare(rgb, alpha)


@pytest.mark.parametrize("sigma", [2.5, 4.0, 6.0, 7.5])
def test_half_resolution_blur_matches_full_resolution(sigma):
    subject = _subject()
    filled = _fill_holes(cv2.threshold(subject.outside, 2 * sigma, 255, cv2.THRESH_BINARY_INV)[1].astype(np.uint8))
    full = ramp_edge(cv2.GaussianBlur(filled.astype(np.float32) / 255, (0, 0), sigma), sigma)
    half = ramp_edge(gaussian_blur(filled, sigma), sigma)
    assert half.dtype == np.float32 and half.shape == full.shape
    diff = np.abs(half - full) * 255
    assert diff.mean() < 0.1 and diff.max() < 16  # a fraction of a level; a few edge pixels a little more
    shadow = cv2.GaussianBlur(full, (0, 0), sigma)
    assert np.abs(gaussian_blur(full, sigma) - shadow).max() * 255 < 2.5  # before the shadow opacity


def test_pyramid_blur_keeps_uint8_within_a_level():
    grey = (np.random.default_rng(3).random((120, 90)) * 255).astype(np.uint8)
    grey = cv2.GaussianBlur(grey, (0, 0), 2)  # photo-like, not white noise
    out = pyramid_blur(grey, 5.0)
    assert out.dtype == np.uint8 and out.shape == grey.shape
    diff = np.abs(out.astype(int) - cv2.GaussianBlur(grey, (0, 0), 5.0))
    assert diff[10:-10, 10:-10].max() <= 2 and diff.max() <= 4  # the frame reflects at half resolution
    assert (pyramid_blur(grey, 1.0) == cv2.GaussianBlur(grey, (0, 0), 1.0)).all()  # narrow: full res


def _over_reference(layers):
    """The textbook bottom-up premultiplied "over", float64, then rounded as to_rgba_image does."""
    h, w = layers[0][1].shape
    prem = np.zeros((h, w, 3))
    alpha = np.zeros((h, w))
    for colour, cover in layers:
        colour = np.stack(colour, -1) if isinstance(colour, list) else np.broadcast_to(np.asarray(colour, float), (h, w, 3))
        prem = prem * (1 - cover[..., None]) + colour * cover[..., None]
        alpha = alpha * (1 - cover) + cover
    colour = prem / np.maximum(alpha, 1e-6)[..., None]
    return colour, alpha


def test_compose_top_down_equals_bottom_up_over():
    subject = _subject()
    shape = border_shape(subject, 12)
    ring = border_shape(subject, 5, smooth=2.5)
    grad = np.broadcast_to(np.linspace(0, 255, shape.shape[0], dtype=np.float32)[:, None, None], shape.shape + (3,))
    planes = [np.ascontiguousarray(subject.rgb[..., c]).astype(np.float32) for c in range(3)]
    empty = np.zeros_like(shape)
    layers = [((30, 30, 38), shape * 0.4), ((255, 255, 255), shape), (grad, ring), ((0, 0, 0), empty), (planes, subject.alpha)]
    ref_colour, ref_alpha = _over_reference([(c if not isinstance(c, np.ndarray) else [c[..., i] for i in range(3)], a) for c, a in layers])
    colour, alpha = compose(layers)
    assert np.abs(alpha - ref_alpha).max() < 1e-5
    seen = ref_alpha > 0.01
    assert np.abs(colour - ref_colour)[seen].max() < 0.05
    # the RGBA fast path gives exactly to_rgba_image(*compose(...)); uint8 hxwx3 photos too
    assert (np.asarray(compose_rgba(layers)) == np.asarray(to_rgba_image(colour, alpha))).all()
    photo_layers = [((255, 255, 255), shape), (subject.rgb, subject.alpha)]
    assert (np.asarray(compose_rgba(photo_layers)) == np.asarray(to_rgba_image(*compose(photo_layers)))).all()
    with pytest.raises(ValueError):
        compose_rgba([])


def test_memo_computes_a_shared_plane_once_across_threads():
    subject = _subject()
    calls = []
    gate = threading.Event()

    def compute():
        calls.append(1)
        gate.wait(1)
        return np.ones((2, 2), np.float32)

    out: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: out.append(memo(subject, "k", compute))) for _ in range(4)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(out) == 4 and all(o is out[0] for o in out)


def test_palette_map_is_the_nearest_bin_colour():
    rng = np.random.default_rng(5)
    palette = rng.integers(0, 256, (9, 3)).astype(np.float32)
    rgb = rng.integers(0, 256, (37, 41, 3)).astype(np.uint8)
    centres = ((rgb >> 4).astype(np.float32) * 16 + 8).reshape(-1, 3)
    nearest = palette[np.argmin(((centres[:, None, :] - palette[None]) ** 2).sum(-1), axis=1)]
    assert (palette_map(rgb, palette) == nearest.reshape(rgb.shape).astype(np.uint8)).all()
    assert _CUBE.shape == (4096, 3)
    mask = np.zeros(rgb.shape[:2], bool)
    mask[5:30, 5:30] = True
    assert _quantise(rgb, mask, 6).shape == rgb.shape


def test_saturate_tables_match_float_hsv():
    rgb = np.random.default_rng(6).integers(0, 256, (30, 40, 3)).astype(np.uint8)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 1] = np.clip(hsv[..., 1] * 1.35, 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] * 1.05, 0, 255)
    assert (_saturate(rgb, 1.35, 1.05) == cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)).all()


def test_halftone_screen_is_cached_and_exact():
    shade = np.random.default_rng(7).integers(0, 256, (70, 90)).astype(np.uint8)
    spacing = 8.0
    ys, xs = np.mgrid[0:70, 0:90].astype(np.float32)
    u = (xs + ys) * np.float32(0.70710678 / spacing)
    v = (xs - ys) * np.float32(0.70710678 / spacing)
    du = (u - np.floor(u) - 0.5) * spacing
    dv = (v - np.floor(v) - 0.5) * spacing
    darkness = 1.0 - shade.astype(np.float32) * (1 / 255)
    radius = np.sqrt(np.clip(darkness, 0, 1)) * (spacing * 0.62)
    expected = np.clip(radius - np.sqrt(du * du + dv * dv) + 0.5, 0.0, 1.0)
    assert np.array_equal(_halftone(shade, spacing), expected)
    big = np.zeros((600, 20), np.uint8)  # taller than the cached grid: it grows
    assert _halftone(big, spacing).shape == (600, 20)
