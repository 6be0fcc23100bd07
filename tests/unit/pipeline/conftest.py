"""Shared fixtures for the pipeline tests: synthetic photos, skimage sample photos, the model."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def model():
    from gpu_service.pipeline.segmentation import get_model

    return get_model()


@pytest.fixture(scope="session")
def sample_photos(model):
    """skimage's chelsea, astronaut and coffee with the model's mattes: {name: (rgb, alpha)}."""
    import skimage.data

    photos = {}
    for name in ("chelsea", "astronaut", "coffee"):
        rgb = np.ascontiguousarray(getattr(skimage.data, name)()[..., :3])
        photos[name] = (rgb, model.predict(rgb))
    return photos


