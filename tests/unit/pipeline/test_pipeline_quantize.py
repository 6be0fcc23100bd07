"""The int8 (static QDQ) u2netp variant: built into a temporary cache, it yields a valid matte close
to the fp32 one. Skipped when the quantisation tooling (onnx, onnxruntime.quantization) is missing."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime.quantization")
pytest.importorskip("skimage")

from gpu_service.pipeline import quantize
from gpu_service.pipeline.segmentation import new_session


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("STICKERS_CACHE_DIR", str(tmp_path_factory.mktemp("stickers-cache")))
    try:
        yield new_session(quant="int8")
    finally:
        mp.undo()


def test_int8_matte_valid_and_close_to_fp32(int8_model, sample_photos):
    rgb, fp32_matte = sample_photos["coffee"]
    matte = int8_model.predict(rgb)
    assert int8_model.quant == "int8"
    assert matte.shape == rgb.shape[:2] and matte.dtype == np.uint8
    a, b = matte > 127, fp32_matte > 127
    iou = (a & b).sum() / (a | b).sum()
    assert iou > 0.85, f"int8 vs fp32 alpha IoU {iou:.3f}"


def test_int8_file_cached_by_md5(int8_model):
    path = int8_model.path
    assert quantize.U2NETP_MD5 in path.name and "int8" in path.name and path.is_file()


def test_quant_mode_env(monkeypatch):
    monkeypatch.setenv("STICKERS_MODEL_QUANT", "INT8")
    assert quantize.quant_mode() == "int8"
    monkeypatch.setenv("STICKERS_MODEL_QUANT", "")
    assert quantize.quant_mode() == "fp32"
    monkeypatch.setenv("STICKERS_MODEL_QUANT", "int4")
    with pytest.raises(ValueError, match="STICKERS_MODEL_QUANT"):
        quantize.quant_mode()


def test_unmeasured_model_refused(tmp_path):
    other = tmp_path / "u2netp.onnx"
    other.write_bytes(b"not the packaged model")
    with pytest.raises(ValueError, match="only measured for u2netp"):
        quantize.build_int8(other, tmp_path / "out.onnx", lambda rgb: rgb)
