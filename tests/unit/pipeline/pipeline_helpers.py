"""Helpers for the pipeline tests (a uniquely named module: the tests dirs have no __init__.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: Reference data shared by peers: the repo root's parent holds ``shared/``.
PEER = Path(__file__).resolve().parents[3].parent / "shared" / "peer"


def disc_photo(height: int = 360, width: int = 480, radius_frac: float = 0.3, centre=None):
    """A coloured disc on a textured background, and its exact matte (HxWx3 uint8, HxW uint8)."""
    rng = np.random.default_rng(7)
    ys, xs = np.mgrid[0:height, 0:width]
    background = np.stack(
        [120 + 60 * np.sin(xs / 9.0), 140 + 50 * np.cos(ys / 7.0), 100 + 40 * np.sin((xs + ys) / 13.0)], -1
    )
    background += rng.normal(0, 12, background.shape)
    cy, cx = centre if centre is not None else (height / 2, width / 2)
    radius = radius_frac * min(height, width)
    dist = np.hypot(ys + 0.5 - cy, xs + 0.5 - cx)
    cover = np.clip(radius - dist + 0.5, 0, 1)[..., None]
    shade = np.stack([230 - 80 * (ys / height), 60 + 100 * (xs / width), 40 + 0 * xs], -1)
    rgb = np.clip(background * (1 - cover) + shade * cover, 0, 255).astype(np.uint8)
    alpha = (cover[..., 0] * 255 + 0.5).astype(np.uint8)
    return rgb, alpha


def corners_transparent(alpha: np.ndarray) -> bool:
    return all(alpha[y, x] == 0 for y in (0, -1) for x in (0, -1))
