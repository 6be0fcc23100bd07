"""Mask quality: alpha IoU (alpha > 127) of a matte against rembg's published cutouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["alpha_iou", "reference_alpha"]


def reference_alpha(path: Path) -> np.ndarray:
    """HxW uint8 alpha of a published RGBA cutout."""
    return np.asarray(Image.open(path).convert("RGBA"))[..., 3]


def alpha_iou(matte: np.ndarray, reference: np.ndarray, threshold: int = 127) -> float:
    """Intersection over union of ``matte > threshold`` and ``reference > threshold``.

    Args:
        matte, reference: HxW uint8 mattes of the same size.

    Returns:
        IoU in 0..1 (1.0 when both are empty).
    """
    if matte.shape != reference.shape:
        raise ValueError(f"shapes differ: {matte.shape} vs {reference.shape}")
    a, b = matte > threshold, reference > threshold
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
