"""Which u2netp variant a job's matte comes from: int8 for die-cut jobs on a CPU-only machine under
``STICKERS_MODEL_QUANT=auto`` (the default), fp32 for ``cutout`` jobs, on a GPU, for other models,
and whenever the int8 file cannot be had."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image
from pipeline_helpers import disc_photo

from gpu_service.pipeline import StickerPipeline, segmentation
from gpu_service.pipeline.segmentation import get_job_model, matte_quant


@pytest.fixture
def cpu_only(monkeypatch):
    monkeypatch.delenv("STICKERS_MODEL_QUANT", raising=False)
    monkeypatch.delenv("STICKERS_MODEL_NAME", raising=False)
    monkeypatch.delenv("STICKERS_MODEL_PATH", raising=False)
    monkeypatch.setattr(segmentation, "pick_providers", lambda requested=None: ["CPUExecutionProvider"])
    monkeypatch.setattr(segmentation, "int8_tooling_installed", lambda: True)


def test_auto_takes_int8_only_for_die_cut_jobs_on_cpu(cpu_only):
    assert matte_quant(exact=False) == "int8"
    assert matte_quant(exact=True) == "fp32"  # `cutout` promises rembg's u2netp matte


def test_auto_keeps_fp32_on_gpu_other_models_and_without_tooling(cpu_only, monkeypatch, tmp_path):
    assert matte_quant(False, name="u2net") == "fp32"  # recipe measured for u2netp only
    assert matte_quant(False, path=tmp_path / "u2netp.onnx") == "fp32"  # a file of unknown md5
    monkeypatch.setattr(segmentation, "int8_tooling_installed", lambda: False)
    monkeypatch.setattr(segmentation, "_int8_built", lambda settings: False)
    assert matte_quant(False) == "fp32"
    monkeypatch.setattr(segmentation, "_int8_built", lambda settings: True)  # built at image build time: no tooling needed
    assert matte_quant(False) == "int8"
    monkeypatch.setattr(segmentation, "int8_tooling_installed", lambda: True)
    monkeypatch.setattr(segmentation, "pick_providers", lambda requested=None: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert matte_quant(False) == "fp32"


def test_explicit_mode_applies_to_every_job(cpu_only, monkeypatch):
    monkeypatch.setenv("STICKERS_MODEL_QUANT", "fp32")
    assert (matte_quant(False), matte_quant(True)) == ("fp32", "fp32")
    monkeypatch.setenv("STICKERS_MODEL_QUANT", "int8")
    assert (matte_quant(False), matte_quant(True)) == ("int8", "int8")
    monkeypatch.setenv("STICKERS_MODEL_QUANT", "int4")
    with pytest.raises(ValueError, match="STICKERS_MODEL_QUANT"):
        matte_quant(False)


class _Recorder:
    """A stand-in model: the disc's matte, and a count of calls."""

    def __init__(self, name: str) -> None:
        self.name, self.calls = name, 0

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        self.calls += 1
        return disc_photo(*rgb.shape[:2])[1]


def test_pipeline_routes_cutout_jobs_to_the_exact_model():
    fast, exact = _Recorder("fast"), _Recorder("exact")
    pipeline = StickerPipeline(fast, encode_workers=1, cutout_model=exact)
    photo = Image.fromarray(disc_photo(96, 128)[0])
    pipeline.render_image(photo, ["classic", "pop"])
    assert (fast.calls, exact.calls) == (1, 0)
    pipeline.render_image(photo, ["cutout", "classic"])  # one pass, on the exact model, for both
    assert (fast.calls, exact.calls) == (1, 1)
    assert StickerPipeline(fast).model_for(["cutout"]) is fast  # one model given: used for all jobs


def test_int8_failure_falls_back_to_fp32_once(cpu_only, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise OSError("read-only cache")

    monkeypatch.setattr(segmentation, "quantized_model_path", broken)
    monkeypatch.setattr(segmentation, "_cache", {})
    with caplog.at_level(logging.WARNING, logger=segmentation.__name__):
        model = get_job_model(exact=False)
    assert model.quant == "fp32" and "int8 u2netp unavailable" in caplog.text
    assert get_job_model(exact=False) is model  # not rebuilt on every job
    monkeypatch.setenv("STICKERS_MODEL_QUANT", "int8")  # asked for explicitly: the error is not hidden
    monkeypatch.setattr(segmentation, "_cache", {})
    with pytest.raises(OSError, match="read-only cache"):
        get_job_model(exact=False)


def test_slow_int8_load_does_not_hold_up_the_fp32_model(cpu_only, monkeypatch):
    """Building the int8 file (~15 s on first use) must not block a `cutout` job's fp32 model."""
    import threading

    started, release = threading.Event(), threading.Event()
    real_new_session = segmentation.new_session

    def slow_for_int8(name=None, path=None, *args, quant=None, **kwargs):  # noqa: ANN001, ANN202
        if quant == "int8":
            started.set()
            release.wait(10)
        return real_new_session(name, path, *args, quant="fp32", **kwargs)

    monkeypatch.setattr(segmentation, "new_session", slow_for_int8)
    monkeypatch.setattr(segmentation, "_cache", {})
    monkeypatch.setattr(segmentation, "_load_locks", {})
    loader = threading.Thread(target=get_job_model, args=(False,))
    loader.start()
    try:
        assert started.wait(10)
        assert get_job_model(exact=True).quant == "fp32"  # returns while the int8 load is still running
        assert loader.is_alive()
    finally:
        release.set()
        loader.join(10)
