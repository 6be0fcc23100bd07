"""Cheap refinements of a segmentation matte.

:func:`despeckle` drops the small disconnected blobs salient-object models leave around the
subject (a lamp, a patch of sky): binary pieces (alpha > 127, 8-connected) under a fraction of the
largest piece's area are cleared together with their soft fringe. It is the same rule
:func:`~.diecut.prepare` applies (at 4 %), at 10 % on the matte the die-cut styles are cut from.
On rembg's 13 published examples it lifts the mean alpha IoU of that matte from 0.7969 to 0.7995
(``docs/performance.md``) for ~1–3 ms per photo (one ``connectedComponentsWithStats``). The
``cutout`` style keeps the model's matte untouched, so it stays rembg's u2netp cutout exactly (on
anime-girl-3 despeckling changes the mask by 7 %: IoU 0.929 against the raw matte).
"""

from __future__ import annotations

import cv2
import numpy as np

from .settings import DESPECKLE_FRACTION, PipelineSettings

__all__ = ["DESPECKLE_FRACTION", "despeckle", "despeckle_fraction"]


def despeckle_fraction(settings: PipelineSettings | None = None) -> float:
    """The configured fraction, ``settings.despeckle``: ``STICKERS_DESPECKLE`` if set, else
    :data:`DESPECKLE_FRACTION` (0 turns despeckling off; settings default: read from the environment)."""
    return (settings if settings is not None else PipelineSettings.from_env()).despeckle


def despeckle(matte: np.ndarray, min_fraction: float = DESPECKLE_FRACTION) -> np.ndarray:
    """Clear small disconnected pieces of a matte.

    Args:
        matte: HxW uint8 alpha (0 background, 255 subject).
        min_fraction: pieces whose area (pixels > 127) is under this fraction of the largest piece's
            are cleared, with their soft fringe (their 2 px neighbourhood not in a kept piece).

    Returns:
        HxW uint8: ``matte`` itself when nothing is dropped, else a cleaned copy.
    """
    if min_fraction <= 0:
        return matte
    binary = cv2.threshold(matte, 127, 1, cv2.THRESH_BINARY)[1]
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if count <= 2:
        return matte
    areas = stats[1:, cv2.CC_STAT_AREA]
    small = areas < areas.max() * min_fraction
    if not small.any():
        return matte
    drop = np.zeros(count, np.uint8)
    drop[1:][small] = 1
    keep = np.zeros(count, np.uint8)
    keep[1:][~small] = 1
    clear = cv2.dilate(drop[labels], np.ones((5, 5), np.uint8))
    clear[keep[labels].astype(bool)] = 0
    out = matte.copy()
    out[clear.astype(bool)] = 0
    return out
