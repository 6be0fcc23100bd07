"""onnxruntime plumbing for the segmentation models: providers, session options, a dynamic batch
axis, and a runner that uses IO binding on CUDA (the ``onnxruntime`` runtime of :mod:`.runtime`).

Measured on the 2-core CPU box (``benchmarks/``, alternated runs): ``ORT_ENABLE_ALL`` beats the
basic and extended levels; intra-op threads = cores beats 1; the CPU memory arena pays; a batch of
two costs as much as two batches of one (the CPU is compute-bound), so batching only pays on a GPU.
Spin-waiting of idle intra-op threads is turned off by default: after the forward pass the spinning
threads would compete with the style renderers for the same two cores.

Execution providers: ``STICKERS_EXECUTION_PROVIDER`` picks them (:data:`EXECUTION_MODES`): ``auto``
(the default: CUDA, then CPU), ``cuda`` (CUDA, required), ``tensorrt`` (TensorRT, then CUDA;
TensorRT required, and the TensorRT libraries are not in the worker image), ``cpu``. onnxruntime
falls back to CPU *silently* when a GPU provider cannot be loaded (no GPU, a CUDA library missing or of
another major version), so what counts is the provider the session really took
(``InferenceSession.get_providers()``): :func:`require_active_provider` refuses a session on CPU when
the mode asks for a GPU, and the worker checks that before it starts (``gpu_service/entry.py``).

Settings (:class:`.settings.PipelineSettings`, passed as ``settings``; without one, read from the
environment):
    execution_provider (``STICKERS_EXECUTION_PROVIDER``): ``auto`` | ``cuda`` | ``tensorrt`` | ``cpu``
        (default ``auto``).
    ort_providers (``STICKERS_ORT_PROVIDERS``): comma-separated execution providers in order of
        preference, overriding the mode's list (benchmarks; those onnxruntime lacks are dropped).
    ort_threads (``STICKERS_ORT_THREADS``): intra-op threads (default: ``os.cpu_count()``).
    ort_spin (``STICKERS_ORT_SPIN``): ``1`` lets idle intra-op threads spin-wait (default ``0``).
    ort_fp16 (``STICKERS_ORT_FP16``): ``1`` runs on CUDA/TensorRT in fp16 (TensorRT's
        ``trt_fp16_enable``; for CUDA point ``STICKERS_MODEL_PATH`` at an fp16 file converted at image
        build time, see ``docs/performance.md``).
    trt_cache (``STICKERS_TRT_CACHE``): TensorRT's engine cache (default ``/tmp/stickers-trt-cache``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

from stickers_core.settings import ENV_EXECUTION_PROVIDER

from .settings import PipelineSettings, normalise_execution_mode

__all__ = [
    "EXECUTION_MODES",
    "GPU_PROVIDERS",
    "PREFERRED_PROVIDERS",
    "REQUIRED_PROVIDER",
    "ExecutionProviderUnavailable",
    "OrtRunner",
    "execution_mode",
    "model_bytes_with_dynamic_batch",
    "pick_providers",
    "provider_options",
    "require_active_provider",
    "requested_providers",
    "session_options",
]

#: Execution modes → the execution providers tried, in order. TensorRT only when asked for: the worker
#: image has no TensorRT libraries, and trying it first costs a failed load and a retry per session.
EXECUTION_MODES: dict[str, tuple[str, ...]] = {
    "auto": ("CUDAExecutionProvider", "CPUExecutionProvider"),
    "cuda": ("CUDAExecutionProvider", "CPUExecutionProvider"),
    "tensorrt": ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"),
    "cpu": ("CPUExecutionProvider",),
}

#: Modes that require a GPU provider → the provider that must be active in the session.
REQUIRED_PROVIDER: dict[str, str] = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}

#: Execution providers tried in this order when neither the caller nor the environment chooses.
PREFERRED_PROVIDERS: tuple[str, ...] = EXECUTION_MODES["auto"]

#: Execution providers that run on a GPU.
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


class ExecutionProviderUnavailable(RuntimeError):
    """The execution mode asks for a GPU provider that the model session did not take."""


def _settings(settings: PipelineSettings | None) -> PipelineSettings:
    return settings if settings is not None else PipelineSettings.from_env()


def execution_mode(value: str | None = None, settings: PipelineSettings | None = None) -> str:
    """The execution mode, validated.

    Args:
        value: a mode name (any case, surrounding blanks ignored); default ``settings.execution_provider``
            (``STICKERS_EXECUTION_PROVIDER``, else ``auto``).
        settings: the pipeline settings (default: read from the environment).

    Returns:
        One key of :data:`EXECUTION_MODES`.

    Raises:
        ValueError: an unknown mode.
    """
    if value is None:
        return _settings(settings).execution_provider
    return normalise_execution_mode(value)


def requested_providers(mode: str | None = None, settings: PipelineSettings | None = None) -> list[str]:
    """The execution providers asked for, in order of preference: ``settings.ort_providers`` when
    set (``STICKERS_ORT_PROVIDERS``), else those of the execution mode (:func:`execution_mode`).

    Raises:
        ValueError: an unknown execution mode.
    """
    settings = _settings(settings)
    if settings.ort_providers is not None:
        return list(settings.ort_providers)
    return list(EXECUTION_MODES[execution_mode(mode, settings)])


def pick_providers(requested: list[str] | None = None, mode: str | None = None, settings: PipelineSettings | None = None) -> list[str]:
    """Execution providers to use, in order of preference, among those onnxruntime has.

    Args:
        requested: providers in order of preference; default :func:`requested_providers`
            (``settings.ort_providers``, else the providers of the execution mode).
        mode: execution mode (:func:`execution_mode`; default ``settings.execution_provider``).
        settings: the pipeline settings (default: read from the environment).

    Returns:
        The requested providers that ``onnxruntime.get_available_providers()`` lists, always ending
        with ``CPUExecutionProvider``. Listed is not loaded: a GPU provider can still fail to load
        when the session is created (see :func:`require_active_provider`).

    Raises:
        ValueError: an unknown execution mode.
    """
    if requested is None:
        requested = requested_providers(mode, settings)
    available = set(ort.get_available_providers())
    chosen = [p for p in requested if p in available]
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


def require_active_provider(active: list[str], mode: str | None = None, settings: PipelineSettings | None = None) -> str:
    """The execution provider a session really runs on, refused when the mode needs another.

    Args:
        active: the session's providers, as ``InferenceSession.get_providers()`` returns them (those
            that actually loaded, in priority order; not ``get_available_providers()``).
        mode: execution mode (default ``settings.execution_provider``).
        settings: the pipeline settings (default: read from the environment; only when ``mode`` is None).

    Returns:
        The first of ``active`` (e.g. ``CUDAExecutionProvider``, ``CPUExecutionProvider``).

    Raises:
        ExecutionProviderUnavailable: the mode is ``cuda`` or ``tensorrt`` and that provider is not in
            ``active`` (onnxruntime fell back to CPU: no GPU visible, or CUDA/cuDNN libraries missing
            or of another major version than the onnxruntime build's).
        ValueError: an unknown execution mode.
    """
    mode = execution_mode(mode, settings)
    runs_on = active[0] if active else "CPUExecutionProvider"
    required = REQUIRED_PROVIDER.get(mode)
    if required is not None and required not in active:
        name = "CUDA" if required == "CUDAExecutionProvider" else "TensorRT"
        raise ExecutionProviderUnavailable(
            f"{ENV_EXECUTION_PROVIDER}={mode} but {name} is not active: the model session runs on {runs_on} "
            f"(session providers {active}; onnxruntime {ort.__version__} offers {ort.get_available_providers()}). "
            f"Check that a GPU is visible to the process (nvidia-smi), that the onnxruntime-gpu build's CUDA major "
            f"matches the CUDA libraries (python -m gpu_service.image_check), and onnxruntime's error log above; "
            f"set {ENV_EXECUTION_PROVIDER}=auto to accept CPU."
        )
    return runs_on


def provider_options(providers: list[str], settings: PipelineSettings | None = None) -> list[dict[str, str]]:
    """Options per provider: TensorRT gets an engine cache (``settings.trt_cache``) and fp16 with
    ``settings.ort_fp16`` (``STICKERS_ORT_FP16=1``)."""
    out: list[dict[str, str]] = []
    for provider in providers:
        if provider == "TensorrtExecutionProvider":
            settings = _settings(settings)
            out.append({"trt_fp16_enable": "1" if settings.ort_fp16 else "0", "trt_engine_cache_enable": "1",
                        "trt_engine_cache_path": settings.trt_cache})  # fmt: skip
        elif provider == "CUDAExecutionProvider":
            out.append({"cudnn_conv_algo_search": "HEURISTIC", "do_copy_in_default_stream": "1"})
        else:
            out.append({})
    return out


def session_options(threads: int | None = None, spin: bool | None = None, settings: PipelineSettings | None = None) -> ort.SessionOptions:
    """onnxruntime session options for the segmentation models.

    Args:
        threads: intra-op threads (default ``settings.ort_threads``, else ``os.cpu_count()``).
        spin: allow idle intra-op threads to spin-wait (default ``settings.ort_spin``).
        settings: the pipeline settings (default: read from the environment when needed).

    Returns:
        Options with full graph optimisation, one inter-op thread, the CPU memory arena on.
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads is None or spin is None:
        settings = _settings(settings)
    if threads is None:
        threads = settings.ort_threads if settings.ort_threads is not None else (os.cpu_count() or 1)
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    if spin is None:
        spin = settings.ort_spin
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    return options


def model_bytes_with_dynamic_batch(path: Path) -> bytes | None:
    """The model with its first input/output dimension made symbolic (``N``), in memory.

    U²-Net exports have a fixed batch of 1 although nothing in the graph depends on it; renaming
    the dimension lets one ``run`` take a batch (test-time augmentation, micro-batching on a GPU).
    The file on disk is never modified.

    Args:
        path: the ONNX file.

    Returns:
        The serialised model, or None when the ``onnx`` package is not installed or the graph
        cannot be read.
    """
    try:
        import onnx
    except ImportError:
        return None
    try:
        model = onnx.load(str(path))
    except Exception:  # noqa: BLE001 - fall back to the static graph
        return None
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 4:
            dims[0].dim_param = "N"
    return model.SerializeToString()


class OrtRunner:
    """One ``InferenceSession`` and how to feed it: plain ``run`` on CPU, IO binding on CUDA.

    With the CUDA (or TensorRT) provider active, the input batch is copied to the device once and
    only the first output (the fused matte) is copied back, through ``io_binding``; the six side
    outputs stay on the device. On CPU a plain ``run`` asking only for output 0 is used.

    Args:
        path: the ONNX file.
        providers: execution providers (see :func:`pick_providers`).
        threads: intra-op threads; spin: spin-waiting (see :func:`session_options`).
        dynamic_batch: try to make the batch axis symbolic (:func:`model_bytes_with_dynamic_batch`).
        settings: the pipeline settings of the defaults (:func:`session_options`, :func:`provider_options`).

    Attributes:
        batchable: True when one ``run`` accepts a batch larger than 1.
        on_gpu: True when a GPU provider was actually taken by the session.
        active_providers: the providers the session took (``get_providers()``), in priority order.
    """

    def __init__(
        self,
        path: Path,
        providers: list[str],
        threads: int | None = None,
        spin: bool | None = None,
        dynamic_batch: bool = True,
        settings: PipelineSettings | None = None,
    ) -> None:
        source: str | bytes = str(path)
        data = model_bytes_with_dynamic_batch(path) if dynamic_batch else None
        if data is not None:
            source = data
        self.session = ort.InferenceSession(
            source,
            sess_options=session_options(threads, spin, settings),
            providers=providers,
            provider_options=provider_options(providers, settings),
        )
        model_input = self.session.get_inputs()[0]
        self.input_name: str = model_input.name
        self.input_shape: list[object] = list(model_input.shape)
        self.output_name: str = self.session.get_outputs()[0].name
        self.batchable = not isinstance(self.input_shape[0], int) or self.input_shape[0] != 1
        self.active_providers: list[str] = list(self.session.get_providers())
        self.on_gpu = any(p in GPU_PROVIDERS for p in self.active_providers)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Forward pass.

        Args:
            batch: Nx3xHxW float32 (N must be 1 unless :attr:`batchable`).

        Returns:
            Nx1xHxW float32, the model's first output.
        """
        if self.on_gpu:
            binding = self.session.io_binding()
            binding.bind_cpu_input(self.input_name, batch)
            binding.bind_output(self.output_name, "cuda")
            self.session.run_with_iobinding(binding)
            return binding.copy_outputs_to_cpu()[0]
        return self.session.run([self.output_name], {self.input_name: batch})[0]
