"""Segmentation: rembg parity on its own fixture, interface and factory behaviour."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from pipeline_helpers import PEER

from gpu_service.pipeline import segmentation
from gpu_service.pipeline.segmentation import MODEL_SPECS, U2NetSession, get_model, new_session, pick_providers


@pytest.mark.peer
@pytest.mark.skipif(not (PEER / "rembg" / "tests").is_dir(), reason=f"rembg reference data absent at {PEER}")
def test_matches_rembg_u2netp_fixture(model):
    photo = np.asarray(Image.open(PEER / "rembg" / "tests" / "anime-girl-1.jpg").convert("RGB"))
    expected = np.asarray(Image.open(PEER / "rembg" / "tests" / "anime-girl-1.u2netp.png"))[..., 3]
    got = model.predict(photo)
    assert got.shape == expected.shape and got.dtype == np.uint8
    ours, theirs = got > 127, expected > 127
    iou = (ours & theirs).sum() / (ours | theirs).sum()
    assert iou >= 0.98, f"alpha IoU {iou:.4f} < 0.98"


def test_predict_shape_dtype_and_range(model):
    rgb = (np.random.default_rng(0).random((37, 91, 3)) * 255).astype(np.uint8)
    matte = model.predict(rgb)
    assert matte.shape == (37, 91) and matte.dtype == np.uint8
    assert int(matte.max()) - int(matte.min()) > 128  # min-max normalised before resizing


def test_predict_rejects_wrong_input(model):
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        model.predict(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        model.predict(np.zeros((10, 10, 3), np.float32))


def test_default_model_is_cached_packaged_u2netp(model):
    assert get_model() is model
    assert model.name == "u2netp" and isinstance(model, segmentation.SegmentationModel)
    assert model.input_size == (320, 320)
    assert model.path.name == "u2netp.onnx"
    assert model.providers == (["OpenVINO:CPU"] if model.runtime == "openvino" else pick_providers())


def test_factory_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown segmentation model"):
        new_session("nope")
    with pytest.raises(ValueError, match="STICKERS_MODEL_PATH"):
        new_session("isnet-general-use")
    with pytest.raises(FileNotFoundError):
        U2NetSession(tmp_path / "missing.onnx")


def test_model_path_and_name_from_environment(monkeypatch, model):
    monkeypatch.setenv("STICKERS_MODEL_PATH", str(model.path))
    monkeypatch.setenv("STICKERS_ORT_THREADS", "1")
    session = new_session()
    assert session.name == "u2netp" and session.path == model.path
    monkeypatch.setenv("STICKERS_MODEL_NAME", "isnet-general-use")
    isnet_like = new_session()  # u2netp weights under the isnet recipe: only the config differs
    assert type(isnet_like) is segmentation.ISNetSession and isnet_like.spec == MODEL_SPECS["isnet-general-use"]


def test_pick_providers_filters_and_keeps_cpu(monkeypatch):
    assert pick_providers(["NoSuchExecutionProvider"]) == ["CPUExecutionProvider"]
    monkeypatch.setenv("STICKERS_ORT_PROVIDERS", "CPUExecutionProvider")
    assert pick_providers() == ["CPUExecutionProvider"]


def test_postprocess_handles_constant_output():
    flat = np.ones((1, 1, 8, 8), np.float32)
    assert U2NetSession.postprocess(flat, (5, 4)).shape == (4, 5)
