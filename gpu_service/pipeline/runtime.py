"""Which inference runtime runs the segmentation models, chosen once per process from the settings,
and the small interface both runtimes' runners share.

Two runtimes, one code path each:

- ``onnxruntime`` (:class:`.ort_runtime.OrtRunner`): CUDA/TensorRT on a GPU (the GPU worker image),
  or its CPU provider;
- ``openvino`` (:class:`.ov_runtime.OpenVinoRunner`): CPU only; about 2× onnxruntime's CPU speed on
  the int8 u2netp with the same masks (``docs/performance.md``, "OpenVINO").

``STICKERS_RUNTIME`` (:attr:`.settings.PipelineSettings.runtime`) picks one: ``onnxruntime``,
``openvino``, or ``auto`` (the default): OpenVINO where the process will run on CPU anyway (no
GPU execution provider required by ``STICKERS_EXECUTION_PROVIDER`` nor available to onnxruntime, no
explicit ``STICKERS_ORT_PROVIDERS`` list) and the ``openvino`` package is installed; onnxruntime
otherwise. The choice is made the first time a model is loaded with the given settings (the worker and
the CPU inference function load theirs at start) and kept for the process (:func:`choose_runtime`).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from stickers_core.settings import ENV_EXECUTION_PROVIDER

from .settings import ENV_RUNTIME, RUNTIME_MODES, PipelineSettings

__all__ = ["RUNTIMES", "ModelRunner", "choose_runtime", "open_runner"]

#: The runtimes :func:`choose_runtime` can answer, in the order ``auto`` prefers them on CPU.
RUNTIMES: tuple[str, ...] = tuple(m for m in RUNTIME_MODES if m != "auto")


@runtime_checkable
class ModelRunner(Protocol):
    """One loaded model file on one runtime: what :class:`.segmentation.U2NetSession` needs of it.

    Attributes:
        input_shape: the model input's NCHW shape (ints, or names/None for dynamic axes).
        batchable: one :meth:`run` accepts a batch larger than 1.
        on_gpu: the model runs on a GPU.
        active_providers: where it really runs, first the main one (onnxruntime's session providers,
            e.g. ``CUDAExecutionProvider``; ``OpenVINO:CPU``).
    """

    input_shape: list[object]
    batchable: bool
    on_gpu: bool
    active_providers: list[str]

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Forward pass: Nx3xHxW float32 → Nx1xHxW float32 (the model's first output). Thread-safe."""
        ...


def choose_runtime(settings: PipelineSettings | None = None) -> str:
    """The runtime of every model loaded with these settings (module docstring); decided once per
    distinct (``runtime``, ``execution_provider``, ``ort_providers``) and kept for the process.

    Args:
        settings: the pipeline settings (default: read from the environment).

    Returns:
        ``onnxruntime`` or ``openvino``.

    Raises:
        ValueError: ``openvino`` asked for together with a GPU execution mode (``cuda``/``tensorrt``),
            or with an onnxruntime provider list.
        ImportError: ``openvino`` asked for and not installed.
    """
    settings = settings if settings is not None else PipelineSettings.from_env()
    return _choose(settings.runtime, settings.execution_provider, settings.ort_providers)


@functools.lru_cache(maxsize=16)
def _choose(requested: str, mode: str, ort_providers: tuple[str, ...] | None) -> str:
    from .ort_runtime import GPU_PROVIDERS, REQUIRED_PROVIDER, pick_providers
    from .ov_runtime import openvino_installed

    if requested == "onnxruntime":
        return requested
    if requested == "openvino":
        if mode in REQUIRED_PROVIDER:
            raise ValueError(f"{ENV_RUNTIME}=openvino runs on CPU, but {ENV_EXECUTION_PROVIDER}={mode} requires a GPU")
        if ort_providers is not None:
            raise ValueError(f"{ENV_RUNTIME}=openvino does not take onnxruntime execution providers (STICKERS_ORT_PROVIDERS)")
        if not openvino_installed():
            raise ImportError(f"{ENV_RUNTIME}=openvino but the openvino package is not installed")
        return requested
    if mode in REQUIRED_PROVIDER or ort_providers is not None:
        return "onnxruntime"
    settings = PipelineSettings(execution_provider=mode)  # type: ignore[arg-type]
    if any(p in GPU_PROVIDERS for p in pick_providers(settings=settings)) or not openvino_installed():
        return "onnxruntime"
    return "openvino"


def open_runner(path: Path, runtime: str, providers: list[str], threads: int | None, settings: PipelineSettings) -> ModelRunner:
    """Load one model file on a runtime.

    Args:
        path: the ONNX file.
        runtime: ``onnxruntime`` or ``openvino`` (:func:`choose_runtime`).
        providers: onnxruntime execution providers (ignored by OpenVINO, which runs on CPU).
        threads: intra-op / inference threads (default: the settings', else the machine's cores).
        settings: the pipeline settings.

    Raises:
        ValueError: an unknown runtime.
        As :class:`.ort_runtime.OrtRunner` / :class:`.ov_runtime.OpenVinoRunner`.
    """
    if runtime == "openvino":
        from .ov_runtime import OpenVinoRunner

        return OpenVinoRunner(path, threads, settings)
    if runtime == "onnxruntime":
        from .ort_runtime import OrtRunner

        return OrtRunner(path, providers, threads, settings=settings)
    raise ValueError(f"unknown runtime {runtime!r}; known: {', '.join(RUNTIMES)}")
