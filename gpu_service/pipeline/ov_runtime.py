"""OpenVINO plumbing for the segmentation models on CPU: one compiled model per file and a pool of
infer requests, behind the same small runner interface as :class:`.ort_runtime.OrtRunner`
(:class:`.runtime.ModelRunner`).

Why OpenVINO on CPU: on the same ONNX files it runs u2netp's int8 static-QDQ graph (:mod:`.quantize`)
about 2× faster than onnxruntime's CPU provider, with the same masks (alpha IoU 0.984–0.999 between
the two runtimes' int8 mattes on rembg's 13 example photos, despeckled), and the fp32 graph to within
1/255 of onnxruntime's 8-bit matte
(``docs/performance.md``, "OpenVINO"). It is chosen once per process by :func:`.runtime.choose_runtime`.

Compile settings (the OpenVINO CPU plugin's documented properties):
    ``INFERENCE_PRECISION_HINT=f32``: never bf16/fp16 (OpenVINO's default on CPUs with AVX512-BF16 or
        AMX: measured IoU 0.7833 against rembg's published cutouts instead of 0.7969);
    ``PERFORMANCE_HINT=LATENCY``, ``NUM_STREAMS=1``: one photo at a time on all threads;
    ``INFERENCE_NUM_THREADS``: ``settings.ort_threads``, else ``os.cpu_count()`` (OpenVINO's own default
        counts physical cores only, half of a Lambda function's vCPUs);
    ``ENABLE_CPU_PINNING=False``: OpenVINO pins its inference threads (the calling thread included) to
        cores by default; the style renderers then share those cores, and on a shared host a pinned
        thread cannot move off a busy core (median forward pass 177 vs 218 ms pinned, alternated on the
        loaded 2-core box);
    ``CACHE_DIR``: ``settings.ov_cache`` (default ``<cache_dir>/openvino``; ``off``: none): the compiled
        blob is reused by later processes on the same machine (the int8 graph compiles in ~1.5–4 s on
        two cores, ~3× less from the cache); an unwritable folder only costs the cache.

OpenVINO's Python package posts a usage event to Google Analytics when it is imported (its
``openvino-telemetry`` dependency, unless the user opted out). The service imports it with
``openvino_telemetry`` blocked (:func:`import_openvino`), so that OpenVINO's own fallback, a no-op
stub, is used: no network call and no child process at start.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from pathlib import Path
from types import ModuleType

import numpy as np

from .settings import OV_CACHE_OFF, PipelineSettings

__all__ = ["OPENVINO_DEVICE", "OpenVinoRunner", "compile_config", "import_openvino", "openvino_installed", "ov_cache_dir"]

#: What :attr:`OpenVinoRunner.active_providers` reports (logs, metrics): OpenVINO's CPU plugin.
OPENVINO_DEVICE = "OpenVINO:CPU"

_core_lock = threading.Lock()
_core: object | None = None


def openvino_installed() -> bool:
    """True when the ``openvino`` package can be imported (checked without importing it)."""
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def import_openvino() -> ModuleType:
    """The ``openvino`` module, imported without its usage telemetry (module docstring).

    Raises:
        ImportError: ``openvino`` is not installed.
    """
    if "openvino" not in sys.modules:
        blocked = "openvino_telemetry" not in sys.modules
        if blocked:
            sys.modules["openvino_telemetry"] = None  # type: ignore[assignment] - makes `import openvino_telemetry` raise ImportError
        try:
            import openvino  # noqa: F401
        finally:
            if blocked and sys.modules.get("openvino_telemetry", 0) is None:
                del sys.modules["openvino_telemetry"]
    return sys.modules["openvino"]


def _ov_core() -> object:
    """The process-wide ``openvino.Core`` (created on first use)."""
    global _core
    with _core_lock:
        if _core is None:
            _core = import_openvino().Core()
        return _core


def ov_cache_dir(settings: PipelineSettings) -> Path | None:
    """OpenVINO's compiled-model cache folder: ``settings.ov_cache``, else ``<settings.cache_dir>/openvino``;
    None when ``settings.ov_cache`` is ``off``."""
    if settings.ov_cache is None:
        return settings.cache_dir / "openvino"
    if settings.ov_cache.lower() == OV_CACHE_OFF:
        return None
    return Path(settings.ov_cache)


def compile_config(threads: int | None, settings: PipelineSettings) -> dict[str, object]:
    """The CPU plugin properties a model is compiled with (module docstring).

    Args:
        threads: inference threads (default ``settings.ort_threads``, else ``os.cpu_count()``; at least 1).
        settings: the pipeline settings (threads, cache folder).

    Returns:
        Property name → value, as ``openvino.Core.compile_model`` takes them.
    """
    if threads is None:
        threads = settings.ort_threads if settings.ort_threads is not None else (os.cpu_count() or 1)
    config: dict[str, object] = {
        "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": 1,
        "INFERENCE_NUM_THREADS": max(1, threads),
        "ENABLE_CPU_PINNING": False,
    }
    cache = ov_cache_dir(settings)
    if cache is not None:
        config["CACHE_DIR"] = str(cache)
    return config


class OpenVinoRunner:
    """One OpenVINO compiled model (CPU plugin) and a pool of infer requests.

    ``run`` may be called from several threads at once: each call takes an idle infer request from
    the pool (or creates one), so concurrent calls never share one. The batch axis stays the file's
    (1 for U²-Net exports): :attr:`batchable` is False, callers run a batch item by item (on a
    compute-bound CPU a batch costs as much as its items one by one).

    Args:
        path: the ONNX file (fp32, or the int8 QDQ file of :mod:`.quantize`).
        threads: inference threads (see :func:`compile_config`).
        settings: the pipeline settings (threads, cache folder).

    Attributes:
        input_shape: the model input's shape (``[1, 3, 320, 320]`` for u2netp).
        batchable: always False.
        on_gpu: always False (the CPU plugin).
        active_providers: ``[OPENVINO_DEVICE]``.

    Raises:
        ImportError: ``openvino`` is not installed.
        RuntimeError: OpenVINO cannot read or compile the file.
    """

    batchable = False
    on_gpu = False

    def __init__(self, path: Path, threads: int | None = None, settings: PipelineSettings | None = None) -> None:
        settings = settings if settings is not None else PipelineSettings.from_env()
        core = _ov_core()
        self.compiled = core.compile_model(str(path), "CPU", compile_config(threads, settings))  # type: ignore[attr-defined]
        self.input_shape: list[object] = [d.get_length() if d.is_static else None for d in self.compiled.input(0).get_partial_shape()]
        self.active_providers: list[str] = [OPENVINO_DEVICE]
        self._idle: queue.SimpleQueue = queue.SimpleQueue()

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Forward pass.

        Args:
            batch: 1x3xHxW float32 (the model's input shape).

        Returns:
            1x1xHxW float32, the model's first output (a copy, owned by the caller).
        """
        try:
            request = self._idle.get_nowait()
        except queue.Empty:
            request = self.compiled.create_infer_request()
        try:
            request.infer({0: np.ascontiguousarray(batch, np.float32)})
            return request.get_output_tensor(0).data.copy()
        finally:
            self._idle.put(request)
