"""Execution provider choice and the worker's start-up check (main venv: the CPU onnxruntime build).

The mode comes from ``STICKERS_EXECUTION_PROVIDER``; what counts is the provider a real session took.
Here no CUDA exists, so a real session is always on CPU: ``auto`` accepts it, ``cuda`` refuses it.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from gpu_service import entry
from gpu_service.image_check import cuda_major, required_cuda_major
from gpu_service.pipeline import ort_runtime
from gpu_service.pipeline.ort_runtime import (
    EXECUTION_MODES,
    ExecutionProviderUnavailable,
    execution_mode,
    pick_providers,
    require_active_provider,
)
from gpu_service.pipeline.segmentation import matte_quant, new_session
from gpu_service.pipeline.settings import PipelineSettings
from stickers_core.settings import ENV_EXECUTION_PROVIDER, Settings

CPU, CUDA, TRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"


@pytest.fixture(autouse=True)
def _no_provider_env(monkeypatch):
    for var in (ENV_EXECUTION_PROVIDER, "STICKERS_ORT_PROVIDERS", "STICKERS_MODEL_QUANT"):
        monkeypatch.delenv(var, raising=False)


# --- the modes ------------------------------------------------------------------------------------------
def test_tensorrt_is_tried_only_when_asked_for():
    assert EXECUTION_MODES["auto"] == (CUDA, CPU) == ort_runtime.PREFERRED_PROVIDERS
    assert EXECUTION_MODES["cuda"][0] == CUDA and TRT not in EXECUTION_MODES["cuda"]
    assert EXECUTION_MODES["tensorrt"] == (TRT, CUDA, CPU)
    assert EXECUTION_MODES["cpu"] == (CPU,)


def test_execution_mode_reads_the_environment_and_rejects_unknown_names(monkeypatch):
    assert execution_mode() == "auto"
    monkeypatch.setenv(ENV_EXECUTION_PROVIDER, " CUDA ")
    assert execution_mode() == "cuda"
    assert execution_mode("cpu") == "cpu"
    monkeypatch.setenv(ENV_EXECUTION_PROVIDER, "gpu")
    with pytest.raises(ValueError, match="unknown execution provider 'gpu'.*auto, cuda, tensorrt, cpu"):
        execution_mode()


def test_pick_providers_keeps_only_what_onnxruntime_has_and_ends_with_cpu(monkeypatch):
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    for mode, wanted in EXECUTION_MODES.items():
        assert pick_providers(mode=mode) == [p for p in wanted if p in available], mode  # CPU is always available
    assert pick_providers(["NoSuchExecutionProvider"]) == [CPU]
    monkeypatch.setenv("STICKERS_ORT_PROVIDERS", "CPUExecutionProvider")
    assert pick_providers(mode="cuda") == [CPU], "an explicit list wins over the mode's"


# --- the check of the session's active providers ----------------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "active", "runs_on"),
    [
        ("auto", [CPU], CPU),
        ("auto", [CUDA, CPU], CUDA),
        ("cpu", [CPU], CPU),
        ("cuda", [CUDA, CPU], CUDA),
        ("tensorrt", [TRT, CUDA, CPU], TRT),
    ],
)
def test_active_provider_accepted(mode, active, runs_on):
    assert require_active_provider(active, mode) == runs_on


@pytest.mark.parametrize(("mode", "active", "names"), [("cuda", [CPU], "CUDA"), ("tensorrt", [CUDA, CPU], "TensorRT")])
def test_required_gpu_provider_not_active_is_refused(mode, active, names):
    with pytest.raises(ExecutionProviderUnavailable, match=f"STICKERS_EXECUTION_PROVIDER={mode} but {names} is not active: the model session runs on {active[0]}"):
        require_active_provider(active, mode)


def test_a_real_session_on_this_gpu_less_machine_runs_on_cpu_and_cuda_mode_refuses_it():
    model = new_session(quant="fp32", settings=PipelineSettings(execution_provider="cuda"))  # a GPU mode: onnxruntime, never OpenVINO
    assert model.runtime == "onnxruntime" and model.providers == [CPU]
    active = entry.session_providers(model)
    assert active == [CPU]
    assert require_active_provider(active, "auto") == CPU
    with pytest.raises(ExecutionProviderUnavailable, match="CUDA is not active"):
        require_active_provider(active, "cuda")


def test_a_required_gpu_keeps_the_fp32_matte(monkeypatch):
    """int8 is a CPU optimisation: with a GPU required it is never picked, even where CUDA is absent."""
    monkeypatch.setenv(ENV_EXECUTION_PROVIDER, "cuda")
    assert matte_quant(exact=False) == "fp32"


# --- settings --------------------------------------------------------------------------------------------
def test_settings_field():
    assert Settings.from_env({}).execution_provider == "auto"
    assert ENV_EXECUTION_PROVIDER not in Settings().to_env(), "auto is the absence: never overrides a worker host's choice"
    cuda = Settings.from_env({ENV_EXECUTION_PROVIDER: "cuda"})
    assert cuda.execution_provider == "cuda" and cuda.to_env()[ENV_EXECUTION_PROVIDER] == "cuda"
    with pytest.raises(ValidationError):
        Settings.from_env({ENV_EXECUTION_PROVIDER: "gpu"})


# --- the worker's start ----------------------------------------------------------------------------------
def test_run_worker_refuses_to_start_without_cuda_when_cuda_is_required(monkeypatch):
    monkeypatch.setenv(ENV_EXECUTION_PROVIDER, "cuda")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    lines: list[str] = []
    settings = Settings(queue_url="http://127.0.0.1:9/000000000000/jobs", execution_provider="cuda")
    code = entry.run_worker(settings, announce=lines.append)
    assert code == entry.EXIT_GPU_UNAVAILABLE == 3
    assert len(lines) == 1 and lines[0].startswith("worker refused to start: STICKERS_EXECUTION_PROVIDER=cuda but CUDA is not active")


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({}, "STICKERS_QUEUE_URL is not set"),
        ({"STICKERS_QUEUE_URL": "http://q", "STICKERS_WORKER_THREADS": "two"}, "STICKERS_WORKER_THREADS='two' is not an integer"),
        ({"STICKERS_QUEUE_URL": "http://q", "STICKERS_RECEIVE_WAIT_S": "30"}, "STICKERS_RECEIVE_WAIT_S=30 is out of range 0–20"),
        ({"STICKERS_QUEUE_URL": "http://q", ENV_EXECUTION_PROVIDER: "gpu"}, "invalid STICKERS_* settings"),
    ],
)
def test_python_m_gpu_service_refuses_a_bad_configuration(env, says):
    done = subprocess.run([sys.executable, "-m", "gpu_service"], env={"PATH": "/usr/bin:/bin", **env},
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == entry.EXIT_CONFIG, done.stderr
    assert says in done.stderr


# --- the image check's parsing -----------------------------------------------------------------------------
def test_cuda_major_from_versions_and_wheel_metadata():
    assert cuda_major("12.8.1") == 12 and cuda_major("13.0") == 13
    with pytest.raises(ValueError):
        cuda_major("")
    # onnxruntime-gpu 1.26.0's METADATA, and the CUDA 13 spelling of 1.27+
    cu12 = ['flatbuffers', 'nvidia-cuda-nvrtc-cu12~=12.0; extra == "cuda"', 'nvidia-cuda-runtime-cu12~=12.0; extra == "cuda"']
    cu13 = ['numpy>=1.21.6', 'nvidia-cuda-runtime~=13.0; extra == "cuda"', 'nvidia-cudnn-cu13~=9.0; extra == "cudnn"']
    assert required_cuda_major(cu12) == 12 and required_cuda_major(cu13) == 13
    assert required_cuda_major(["numpy", "protobuf"]) is None
