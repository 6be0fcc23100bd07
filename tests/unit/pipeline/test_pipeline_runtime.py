"""The inference runtime (``STICKERS_RUNTIME``): chosen once per process from the settings; on OpenVINO
the die-cut matte is onnxruntime int8's, and ``cutout`` keeps rembg's fp32 u2netp matte.

This machine has no GPU and the project declares ``openvino``, so ``auto`` means OpenVINO here."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import skimage.data

from gpu_service import entry
from gpu_service.pipeline import StickerPipeline, ort_runtime, ov_runtime, runtime
from gpu_service.pipeline.ort_runtime import require_active_provider
from gpu_service.pipeline.refine import despeckle
from gpu_service.pipeline.runtime import choose_runtime
from gpu_service.pipeline.segmentation import get_job_model, new_session
from gpu_service.pipeline.settings import PipelineSettings

CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 127, b > 127
    return float((a & b).sum() / (a | b).sum())


@pytest.fixture
def fresh_choice():
    """Forget the process's choices, so that a test can make them on a machine it pretends to be."""
    runtime._choose.cache_clear()
    yield
    runtime._choose.cache_clear()


@pytest.fixture(autouse=True)
def _no_runtime_env(monkeypatch):
    for var in ("STICKERS_RUNTIME", "STICKERS_EXECUTION_PROVIDER", "STICKERS_ORT_PROVIDERS", "STICKERS_MODEL_QUANT"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.astronaut()[..., :3])


def test_an_explicit_runtime_is_taken_as_set():
    assert choose_runtime(PipelineSettings.from_env({"STICKERS_RUNTIME": " OpenVINO "})) == "openvino"
    assert choose_runtime(PipelineSettings.from_env({"STICKERS_RUNTIME": "onnxruntime"})) == "onnxruntime"
    with pytest.raises(ValueError, match="STICKERS_RUNTIME"):
        PipelineSettings.from_env({"STICKERS_RUNTIME": "tvm"})
    with pytest.raises(ValueError, match="requires a GPU"):
        choose_runtime(PipelineSettings(runtime="openvino", execution_provider="cuda"))


def test_auto_is_openvino_on_cpu_and_onnxruntime_where_a_gpu_is_required_or_available(fresh_choice, monkeypatch):
    assert CUDA not in ort.get_available_providers(), "this test describes a GPU-less machine"
    assert choose_runtime(PipelineSettings()) == "openvino"
    for gpu_mode in ("cuda", "tensorrt"):
        assert choose_runtime(PipelineSettings(execution_provider=gpu_mode)) == "onnxruntime"
    assert choose_runtime(PipelineSettings(ort_providers=(CPU,))) == "onnxruntime"  # an onnxruntime provider list is asked for
    runtime._choose.cache_clear()
    monkeypatch.setattr(ort_runtime, "pick_providers", lambda *a, **k: [CUDA, CPU])  # a GPU machine: CUDA stays onnxruntime's
    assert choose_runtime(PipelineSettings()) == "onnxruntime"
    runtime._choose.cache_clear()
    monkeypatch.setattr(ort_runtime, "pick_providers", lambda *a, **k: [CPU])
    monkeypatch.setattr(ov_runtime, "openvino_installed", lambda: False)  # e.g. the GPU worker image: no openvino
    assert choose_runtime(PipelineSettings()) == "onnxruntime"
    with pytest.raises(ImportError, match="openvino"):
        choose_runtime(PipelineSettings(runtime="openvino"))


def test_the_choice_is_made_once_and_every_model_of_the_process_runs_on_it(fresh_choice, monkeypatch):
    first = choose_runtime(PipelineSettings())
    monkeypatch.setattr(ov_runtime, "openvino_installed", lambda: False)  # the machine "changes" after start: no effect
    assert choose_runtime(PipelineSettings()) == first == "openvino"
    pipeline = StickerPipeline()
    die_cut, cutout = pipeline.model_for(["classic"]), pipeline.model_for(["cutout"])
    assert (die_cut.runtime, die_cut.quant, cutout.runtime, cutout.quant) == ("openvino", "int8", "openvino", "fp32")
    assert entry.session_providers(die_cut) == ["OpenVINO:CPU"] == die_cut.providers
    assert require_active_provider(die_cut.providers, "auto") == "OpenVINO:CPU"
    onnx = StickerPipeline(settings=PipelineSettings(runtime="onnxruntime")).model_for(["cutout"])
    assert onnx.runtime == "onnxruntime" and onnx is not cutout and isinstance(onnx.runner, ort_runtime.OrtRunner)


def test_openvino_die_cut_matte_is_onnxruntime_int8s(astronaut):
    """Same int8 QDQ file on both runtimes: measured IoU 0.973–0.999 over the 16 benchmark photos
    (astronaut 0.998), despeckled as the die-cut styles use it."""
    ov_int8 = get_job_model(exact=False)
    ort_int8 = new_session(quant="int8", settings=PipelineSettings(runtime="onnxruntime"))
    assert (ov_int8.runtime, ov_int8.quant, ort_int8.runtime, ort_int8.quant) == ("openvino", "int8", "onnxruntime", "int8")
    assert ov_int8.path == ort_int8.path
    iou = _iou(despeckle(ov_int8.predict(astronaut)), despeckle(ort_int8.predict(astronaut)))
    assert iou >= 0.95, f"OpenVINO vs onnxruntime int8 die-cut matte IoU {iou:.4f}"


def test_cutout_stays_rembgs_fp32_matte(astronaut):
    """``cutout`` runs the packaged fp32 u2netp; on OpenVINO (f32 precision) its 8-bit matte is
    onnxruntime's (rembg's runtime) to within one level (measured: max 1 on every benchmark photo)."""
    cutout = get_job_model(exact=True)
    assert cutout.quant == "fp32" and cutout.path.name == "u2netp.onnx" and cutout.runtime == "openvino"
    rembg_like = new_session(quant="fp32", settings=PipelineSettings(runtime="onnxruntime"))
    ours, theirs = cutout.predict(astronaut), rembg_like.predict(astronaut)
    assert ours.shape == theirs.shape and ours.dtype == np.uint8
    assert int(np.abs(ours.astype(np.int16) - theirs).max()) <= 1
    assert _iou(ours, theirs) >= 0.999
