"""The GPU worker process: what the container runs (``python -m gpu_service``) and ``stickers worker``.

Configured by environment variables only (no CLI library in the image), read once by :func:`main`:

    STICKERS_* settings (:meth:`stickers_core.settings.Settings.from_env`): queue, table, buckets,
        timeouts, model, ``STICKERS_EXECUTION_PROVIDER`` (``auto`` | ``cuda`` | ``tensorrt`` | ``cpu``),
        and the process's own: ``STICKERS_WORKER_THREADS`` (consumer threads sharing one model session,
        default 1), ``STICKERS_RECEIVE_WAIT_S`` (SQS long-poll wait in seconds, 0–20, default
        ``limits.RECEIVE_WAIT_S``; an idle worker notices SIGTERM within it), ``STICKERS_LOG_LEVEL``
        (level of the JSON logs, default ``INFO``).
    The pipeline's (:meth:`gpu_service.pipeline.settings.PipelineSettings.for_service`): model
        quantisation, onnxruntime session options, despeckling; passed down to the pipeline.

At start, before any message is received, the segmentation model of ordinary jobs is loaded and the
execution provider its onnxruntime session really took (``InferenceSession.get_providers()``; onnxruntime
falls back to CPU silently when CUDA cannot load) is logged (``"execution provider"``, key
``executionProvider``) and emitted as the CloudWatch metric ``WorkerStarted`` (namespace ``Stickers``,
dimension ``ExecutionProvider``). When ``STICKERS_EXECUTION_PROVIDER`` asks for a GPU provider the session
did not take, the process refuses to start (exit status :data:`EXIT_GPU_UNAVAILABLE`): on ECS the task
stops with that reason instead of serving jobs on the CPU of a GPU instance.

Then the artistic media's procedural textures are built (:func:`gpu_service.pipeline.media.warm_up`,
logged as ``"media textures built"`` with ``seconds``; ~0.5–1 s once per process, which the first
sticker of each medium would otherwise pay), and the consumer threads run until SIGTERM or SIGINT
(graceful stop: :mod:`gpu_service.worker`).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from stickers_core.settings import Settings

if TYPE_CHECKING:
    from gpu_service.generation import BedrockGenerator
    from gpu_service.pipeline.segmentation import SegmentationModel
    from gpu_service.pipeline.settings import PipelineSettings

#: Exit statuses of :func:`main` / :func:`run_worker`.
EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_GPU_UNAVAILABLE = 3


class StartupRefused(Exception):
    """The worker must not start; ``exit_status`` is the process's exit status."""

    def __init__(self, message: str, exit_status: int) -> None:
        super().__init__(message)
        self.exit_status = exit_status


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def session_providers(model: SegmentationModel) -> list[str]:
    """Where the model really runs, in priority order: the execution providers its onnxruntime session
    took, or ``["OpenVINO:CPU"]`` (``model.runner.active_providers``, :class:`gpu_service.pipeline.runtime.ModelRunner`).

    Raises:
        TypeError: the model has no runner (``model.runner``).
    """
    active = getattr(getattr(model, "runner", None), "active_providers", None)
    if active is None:
        raise TypeError(f"{type(model).__name__} has no model runner")
    return list(active)


def check_execution_provider(model: SegmentationModel, settings: Settings) -> str:
    """Log and emit the execution provider the model runs on; refuse when a GPU was required.

    Args:
        model: the loaded segmentation model (a :class:`gpu_service.pipeline.segmentation.U2NetSession`).
        settings: ``execution_provider`` is the mode (``auto`` | ``cuda`` | ``tensorrt`` | ``cpu``).

    Returns:
        The provider the session runs on, e.g. ``CUDAExecutionProvider`` or ``CPUExecutionProvider``.

    Raises:
        StartupRefused: the mode requires CUDA (or TensorRT) and the session is not on it
            (``exit_status`` :data:`EXIT_GPU_UNAVAILABLE`).
    """
    import onnxruntime as ort
    from aws_lambda_powertools.metrics import MetricUnit

    from gpu_service.pipeline.ort_runtime import ExecutionProviderUnavailable, require_active_provider
    from gpu_service.worker import emit_metric, logger

    active = session_providers(model)
    facts = {
        "executionProvider": active[0] if active else None,
        "sessionProviders": active,
        "mode": settings.execution_provider,
        "onnxruntime": ort.__version__,
        "onnxruntimeDevice": ort.get_device(),  # "GPU" for the onnxruntime-gpu build, whatever it runs on
        "model": getattr(model, "name", None),
    }
    try:
        runs_on = require_active_provider(active, settings.execution_provider)
    except ExecutionProviderUnavailable as exc:
        logger.error("execution provider refused", extra={**facts, "error": str(exc)})
        raise StartupRefused(str(exc), EXIT_GPU_UNAVAILABLE) from None
    logger.info("execution provider", extra=facts)
    emit_metric("WorkerStarted", 1, MetricUnit.Count, ExecutionProvider=runs_on)
    return runs_on


def warm_up_media(logger: object) -> float:
    """Build the artistic media's cached textures now (:func:`gpu_service.pipeline.media.warm_up`) and
    log how long it took; returns the seconds. A failure is logged, never raised: the textures are
    then built by the first job that needs them."""
    import time

    t0 = time.perf_counter()
    try:
        from gpu_service.pipeline import media

        media.warm_up()
    except Exception:  # noqa: BLE001 - an optimisation only
        logger.exception("media textures could not be built at start")  # type: ignore[attr-defined]
    seconds = time.perf_counter() - t0
    logger.info("media textures built", extra={"seconds": round(seconds, 3)})  # type: ignore[attr-defined]
    return seconds


def run_worker(
    settings: Settings,
    *,
    threads: int | None = None,
    receive_wait_s: int | None = None,
    log_level: str | None = None,
    stop: threading.Event | None = None,
    announce: Callable[[str], None] = _stderr,
    pipeline_settings: PipelineSettings | None = None,
    generator: BedrockGenerator | None = None,
) -> int:
    """Load the model, check its execution provider, consume the queue until stopped.

    SIGTERM and SIGINT set the stop event when called from the main thread (the job in hand has
    ``settings.drain_s`` seconds to finish, else it is handed back).

    Args:
        settings: where the queue, table and buckets are; the model; the execution mode.
        threads: consumer threads sharing one pipeline (≥ 1; default ``settings.worker_threads``).
        receive_wait_s: SQS long-poll wait, seconds (0–20; default ``settings.receive_wait_s``).
        log_level: level of the JSON logs (default ``settings.log_level``).
        stop: set it to stop the worker (default: a new event, set by the signals).
        announce: where the human-readable progress lines go (default: stderr).
        pipeline_settings: the pipeline's settings (default:
            :meth:`~gpu_service.pipeline.settings.PipelineSettings.for_service` of ``settings``).
        generator: the image generator of prompt jobs, shared by the threads (default: each worker makes
            one from ``settings`` and the environment's credentials at its first prompt job).

    Returns:
        :data:`EXIT_OK` after a graceful stop, :data:`EXIT_CONFIG` when the queue URL is missing or the
        model cannot be loaded, :data:`EXIT_GPU_UNAVAILABLE` when a GPU was required and is not active.
    """
    from gpu_service.worker import Worker, configure_logging, logger

    threads = settings.worker_threads if threads is None else threads
    receive_wait_s = settings.receive_wait_s if receive_wait_s is None else receive_wait_s
    configure_logging(settings.log_level if log_level is None else log_level)
    if not settings.queue_url:
        announce("STICKERS_QUEUE_URL is not set")
        return EXIT_CONFIG
    stop = stop or threading.Event()
    first = Worker(settings, name="worker-1", receive_wait_s=receive_wait_s, pipeline_settings=pipeline_settings, generator=generator)
    try:
        model = first.pipeline.model  # loaded now, not at the first job: the provider is checked before any claim
        runs_on = check_execution_provider(model, settings)
    except StartupRefused as exc:
        announce(f"worker refused to start: {exc}")
        return exc.exit_status
    except (ValueError, FileNotFoundError, ImportError) as exc:
        logger.exception("the segmentation model could not be loaded")
        announce(f"worker refused to start: the segmentation model could not be loaded: {exc}")
        return EXIT_CONFIG

    warm_up_media(logger)

    def on_signal(signum: int, _frame: object) -> None:
        if not stop.is_set():
            announce(f"{signal.Signals(signum).name}: stopping; the job in hand has {settings.drain_s:.0f} s to finish, else it is handed back")
        stop.set()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, on_signal)
    workers = [first] + [Worker(settings, first.pipeline, name=f"worker-{i + 2}", receive_wait_s=receive_wait_s, generator=generator) for i in range(threads - 1)]
    running = [threading.Thread(target=w.run, args=(stop,), name=w.name) for w in workers]
    for t in running:
        t.start()
    announce(f"worker running on {settings.queue_url} ({threads} thread(s), {runs_on}); SIGTERM/Ctrl-C stops it gracefully")
    while any(t.is_alive() for t in running):
        for t in running:
            t.join(timeout=0.5)
    announce("worker stopped")
    return EXIT_OK


def main(environ: Mapping[str, str] | None = None) -> int:
    """``python -m gpu_service``: :func:`run_worker` configured from the environment (module docstring),
    read once here.

    Returns:
        The process exit status (see :func:`run_worker`; :data:`EXIT_CONFIG` for invalid variables).
    """
    from pydantic import ValidationError

    try:
        settings = Settings.from_env(environ)
        from gpu_service.pipeline.settings import PipelineSettings  # imports onnxruntime & co.: after the cheap check

        pipeline_settings = PipelineSettings.for_service(settings, environ)
    except ValidationError as exc:
        _stderr(f"worker refused to start: invalid STICKERS_* settings: {exc}")
        return EXIT_CONFIG
    return run_worker(settings, pipeline_settings=pipeline_settings)
