"""The segmentation pipeline's settings: model, quantisation, inference runtime and its sessions, matte refinement.

Read from the environment once (:meth:`PipelineSettings.from_env`; the worker builds one at start and
passes it to :class:`~gpu_service.pipeline.pipeline.StickerPipeline`, which hands it down to the model
loaders). The module functions of :mod:`.runtime`, :mod:`.ort_runtime`, :mod:`.ov_runtime`, :mod:`.quantize`,
:mod:`.refine` and :mod:`.segmentation` take it as ``settings``; called without one (benchmarks, tests) they read a fresh
one from the environment. No other pipeline module reads ``os.environ``.

The service-wide settings (queue, tables, buckets, timeouts) are :class:`stickers_core.settings.Settings`;
the model (``STICKERS_MODEL_NAME`` / ``STICKERS_MODEL_PATH``) and the execution provider are read by
both, under the same names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from stickers_core.settings import (
    ENV_EXECUTION_PROVIDER,
    ENV_MODEL_NAME,
    ENV_MODEL_PATH,
    ExecutionProviderMode,
    Settings,
    read_env,
)

__all__ = [
    "DESPECKLE_FRACTION",
    "ENV_CACHE_DIR",
    "ENV_DESPECKLE",
    "ENV_MODEL_QUANT",
    "ENV_ORT_FP16",
    "ENV_OV_CACHE",
    "ENV_ORT_PROVIDERS",
    "ENV_ORT_SPIN",
    "ENV_ORT_THREADS",
    "ENV_RUNTIME",
    "ENV_TRT_CACHE",
    "ENV_TTA",
    "EXECUTION_MODE_NAMES",
    "OV_CACHE_OFF",
    "PipelineSettings",
    "QUANT_MODES",
    "QuantMode",
    "RUNTIME_MODES",
    "RuntimeMode",
    "default_cache_dir",
    "normalise_execution_mode",
    "normalise_quant_mode",
    "normalise_runtime_mode",
]

#: Which u2netp variant makes the matte: ``auto`` | ``fp32`` | ``int8`` (:func:`.segmentation.matte_quant`).
ENV_MODEL_QUANT = "STICKERS_MODEL_QUANT"
#: Which inference runtime runs the segmentation models: ``auto`` | ``onnxruntime`` | ``openvino`` (:func:`.runtime.choose_runtime`).
ENV_RUNTIME = "STICKERS_RUNTIME"
#: OpenVINO's compiled-model cache folder (``off``: no cache).
ENV_OV_CACHE = "STICKERS_OV_CACHE"
#: Comma-separated onnxruntime execution providers, overriding the execution mode's list (benchmarks).
ENV_ORT_PROVIDERS = "STICKERS_ORT_PROVIDERS"
#: Intra-op threads of a model session (default: the machine's cores).
ENV_ORT_THREADS = "STICKERS_ORT_THREADS"
#: ``1`` lets idle intra-op threads spin-wait.
ENV_ORT_SPIN = "STICKERS_ORT_SPIN"
#: ``1`` runs TensorRT in fp16.
ENV_ORT_FP16 = "STICKERS_ORT_FP16"
#: TensorRT's engine cache folder.
ENV_TRT_CACHE = "STICKERS_TRT_CACHE"
#: ``1``: horizontal-flip test-time augmentation.
ENV_TTA = "STICKERS_TTA"
#: Fraction of the largest matte piece under which the die-cut styles drop disconnected pieces.
ENV_DESPECKLE = "STICKERS_DESPECKLE"
#: Folder of built model variants (the int8 u2netp).
ENV_CACHE_DIR = "STICKERS_CACHE_DIR"
#: The XDG base-directory variable under which :data:`ENV_CACHE_DIR` defaults to ``stickers/``.
ENV_XDG_CACHE_HOME = "XDG_CACHE_HOME"

#: Execution modes, in the order :data:`.ort_runtime.EXECUTION_MODES` lists them.
EXECUTION_MODE_NAMES: tuple[str, ...] = get_args(ExecutionProviderMode)
#: Values of :attr:`PipelineSettings.quant`.
QuantMode = Literal["auto", "fp32", "int8"]
#: ``auto`` (default) takes int8 where it pays and is allowed (see
#: :func:`gpu_service.pipeline.segmentation.matte_quant`), ``fp32`` and ``int8`` force one variant.
QUANT_MODES: tuple[str, ...] = get_args(QuantMode)
#: Values of :attr:`PipelineSettings.runtime`: ``auto`` (default) takes OpenVINO on a CPU-only machine where it is
#: installed, onnxruntime otherwise (:func:`gpu_service.pipeline.runtime.choose_runtime`); the others force one.
RuntimeMode = Literal["auto", "onnxruntime", "openvino"]
RUNTIME_MODES: tuple[str, ...] = get_args(RuntimeMode)
#: :attr:`PipelineSettings.ov_cache` value that turns OpenVINO's model cache off.
OV_CACHE_OFF = "off"
#: Pieces smaller than this fraction of the largest are dropped (0 turns despeckling off).
DESPECKLE_FRACTION = 0.10
#: TensorRT engine cache when none is configured (the worker's /tmp is a tmpfs).
DEFAULT_TRT_CACHE = "/tmp/stickers-trt-cache"


def normalise_execution_mode(value: str) -> str:
    """An execution mode name, lower-cased and stripped (blank: ``auto``).

    Raises:
        ValueError: an unknown mode.
    """
    mode = value.strip().lower() or "auto"
    if mode not in EXECUTION_MODE_NAMES:
        raise ValueError(f"unknown execution provider {value!r} ({ENV_EXECUTION_PROVIDER}); known: {', '.join(EXECUTION_MODE_NAMES)}")
    return mode


def _named_mode(value: str, known: tuple[str, ...], variable: str) -> str:
    """`value` lower-cased and stripped (blank: ``auto``), one of `known`.

    Raises:
        ValueError: another value, named with its environment `variable`.
    """
    mode = value.strip().lower() or "auto"
    if mode not in known:
        raise ValueError(f"{variable}={mode!r}; known: {', '.join(known)}")
    return mode


def normalise_quant_mode(value: str) -> str:
    """A quant mode name, lower-cased and stripped (blank: ``auto``).

    Raises:
        ValueError: a value other than those in :data:`QUANT_MODES`.
    """
    return _named_mode(value, QUANT_MODES, ENV_MODEL_QUANT)


def normalise_runtime_mode(value: str) -> str:
    """A runtime name, lower-cased and stripped (blank: ``auto``).

    Raises:
        ValueError: a value other than those in :data:`RUNTIME_MODES`.
    """
    return _named_mode(value, RUNTIME_MODES, ENV_RUNTIME)


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/stickers`` when that variable is set, else ``~/.cache/stickers``."""
    env = os.environ if environ is None else environ
    xdg = env.get(ENV_XDG_CACHE_HOME, "").strip()
    return (Path(xdg) if xdg else Path.home() / ".cache") / "stickers"


class PipelineSettings(BaseModel):
    """How the pipeline segments: which model, on which execution provider, with which session options.

    Attributes:
        model_name: model family (:data:`.segmentation.MODEL_SPECS`); None: inferred from the file's
            stem, else ``u2netp``.
        model_path: ONNX file (fp32); None: the packaged ``u2netp.onnx``.
        execution_provider: ``auto`` (CUDA, then CPU) | ``cuda`` | ``tensorrt`` | ``cpu``
            (:data:`.ort_runtime.EXECUTION_MODES`).
        quant: ``auto`` | ``fp32`` | ``int8`` (:func:`.segmentation.matte_quant`).
        runtime: ``auto`` | ``onnxruntime`` | ``openvino``: the inference runtime of every model of the
            process (:func:`.runtime.choose_runtime`; ``auto``: OpenVINO on a CPU-only machine where it is
            installed, else onnxruntime).
        ort_providers: execution providers in order of preference, overriding the mode's list
            (None: the mode's; those onnxruntime lacks are dropped).
        ort_threads: intra-op threads of either runtime (OpenVINO's ``INFERENCE_NUM_THREADS``; None:
            ``os.cpu_count()``; at least 1 is used).
        ort_spin: idle intra-op threads spin-wait.
        ort_fp16: TensorRT runs in fp16 (``trt_fp16_enable``).
        trt_cache: TensorRT's engine cache folder.
        tta: horizontal-flip test-time augmentation.
        despeckle: fraction of the largest matte piece under which the die-cut styles clear
            disconnected pieces (:func:`.refine.despeckle`; 0: off).
        cache_dir: folder of built model variants (:mod:`.quantize`).
        ov_cache: OpenVINO's compiled-model cache folder (``CACHE_DIR``): None: ``<cache_dir>/openvino``;
            ``off``: none (:func:`.ov_runtime.ov_cache_dir`).
    """

    model_config = ConfigDict(frozen=True)

    #: Field → environment variable.
    ENV: ClassVar[dict[str, str]] = {
        "model_name": ENV_MODEL_NAME,
        "model_path": ENV_MODEL_PATH,
        "execution_provider": ENV_EXECUTION_PROVIDER,
        "quant": ENV_MODEL_QUANT,
        "runtime": ENV_RUNTIME,
        "ort_providers": ENV_ORT_PROVIDERS,
        "ort_threads": ENV_ORT_THREADS,
        "ort_spin": ENV_ORT_SPIN,
        "ort_fp16": ENV_ORT_FP16,
        "trt_cache": ENV_TRT_CACHE,
        "tta": ENV_TTA,
        "despeckle": ENV_DESPECKLE,
        "cache_dir": ENV_CACHE_DIR,
        "ov_cache": ENV_OV_CACHE,
    }
    #: Fields that are on when their variable is exactly ``1``.
    FLAGS: ClassVar[frozenset[str]] = frozenset({"ort_spin", "ort_fp16", "tta"})

    model_name: str | None = None
    model_path: str | None = None
    execution_provider: ExecutionProviderMode = "auto"
    quant: QuantMode = "auto"
    runtime: RuntimeMode = "auto"
    ort_providers: tuple[str, ...] | None = None
    ort_threads: int | None = None
    ort_spin: bool = False
    ort_fp16: bool = False
    trt_cache: str = DEFAULT_TRT_CACHE
    tta: bool = False
    despeckle: float = DESPECKLE_FRACTION
    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "stickers")
    ov_cache: str | None = None

    @field_validator("execution_provider", mode="before")
    @classmethod
    def _execution_provider(cls, value: Any) -> Any:
        return normalise_execution_mode(value) if isinstance(value, str) else value

    @field_validator("quant", mode="before")
    @classmethod
    def _quant(cls, value: Any) -> Any:
        return normalise_quant_mode(value) if isinstance(value, str) else value

    @field_validator("runtime", mode="before")
    @classmethod
    def _runtime(cls, value: Any) -> Any:
        return normalise_runtime_mode(value) if isinstance(value, str) else value

    @field_validator("ov_cache", mode="before")
    @classmethod
    def _ov_cache(cls, value: Any) -> Any:
        return (value.strip() or None) if isinstance(value, str) else value

    @field_validator("ort_providers", mode="before")
    @classmethod
    def _providers(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        value = value.strip()
        return tuple(p.strip() for p in value.split(",") if p.strip()) if value else None

    @field_validator("ort_threads", "despeckle", mode="before")
    @classmethod
    def _blank_is_default(cls, value: Any, info: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return cls.model_fields[info.field_name].default
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PipelineSettings:
        """Read the pipeline's variables (module docstring), defaults for the absent ones.

        Raises:
            pydantic.ValidationError (a ValueError): a variable holds a value of the wrong type, or an
                unknown execution provider or quant mode (the message names the variable).
        """
        env = os.environ if environ is None else environ
        values = read_env(cls, env, cls.FLAGS)
        cache = str(values.pop("cache_dir", "")).strip()
        values["cache_dir"] = Path(cache) if cache else default_cache_dir(env)
        return cls.model_validate(values)

    @classmethod
    def for_service(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> PipelineSettings:
        """The worker's pipeline settings: :meth:`from_env`, with the model of the service settings.

        The model (``model_name`` / ``model_path``) is the service's (:class:`Settings` reads the same
        variables; its ``model_name`` defaults to ``u2netp``); everything else, the execution provider
        included, comes from the environment of the worker's host.
        """
        return cls.from_env(environ).model_copy(update={"model_name": settings.model_name, "model_path": settings.model_path})
