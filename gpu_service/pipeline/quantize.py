"""Int8 (static QDQ) variant of u2netp, built on this machine from the packaged fp32 file.

Nothing is downloaded and no weights live in the repository: :func:`quantized_model_path` builds
the quantised graph once from the source ONNX file and caches it under ``~/.cache/stickers/``
(``$XDG_CACHE_HOME/stickers`` when set; ``STICKERS_CACHE_DIR`` overrides:
:attr:`.settings.PipelineSettings.cache_dir`), keyed by the source file's md5 and the onnxruntime
version. Later processes reuse the file.

Recipe (each step measured on the 2-core CPU box, ``docs/performance.md`` "Quantised model"):

1. the fp32 graph (opset 11) is converted to opset 13, which per-channel ``DequantizeLinear`` needs,
   then ``onnxruntime.quantization.quant_pre_process`` (shape inference and graph optimisation);
2. ``quantize_static``, QDQ format, int8 weights per output channel, uint8 activations, **Conv
   nodes only** (quantising Concat/Resize/MaxPool/Add as well drops the IoU against the fp32 mask
   to ~0.01–0.69), activations calibrated with the **99.99th percentile** of their histograms
   (MinMax calibration: IoU vs published cutouts 0.794 instead of 0.808), on scikit-image's
   ``chelsea``, ``coffee`` and ``astronaut`` and their mirror images (six 1×3×320×320 inputs made
   by the session's own pre-processing; none of them is in the IoU evaluation set);
3. one Conv is kept in float: in u2netp (md5 :data:`U2NETP_MD5`) the one producing tensor
   ``2257`` (``Conv_787`` after pre-processing), the last convolution before a residual ``Add`` of
   the decoder, where ``qdq_loss_debug`` showed the quantised model's activations fall from 42 dB
   to −5.5 dB SQNR against the fp32 ones; with it in float the IoU against the fp32 mask goes from
   0.69 to 0.95–0.97.

Only u2netp's recipe was measured; other model files are refused (:class:`ValueError`) rather than
quantised blind. Building takes ~5–15 s on two cores (calibration runs the fp32 model six times).
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .settings import QUANT_MODES, PipelineSettings

__all__ = [
    "QUANT_MODES",
    "U2NETP_MD5",
    "build_int8",
    "cache_dir",
    "int8_model_path",
    "int8_tooling_installed",
    "quant_mode",
    "quantized_model_path",
]

#: md5 of the packaged ``u2netp.onnx`` (the file rembg downloads as ``u2netp.onnx``).
U2NETP_MD5 = "8e83ca70e441ab06c318d82300c84806"

#: Float Conv outputs per source-model md5: convolutions whose quantisation ruins the matte.
_KEEP_FLOAT_CONV_OUTPUTS: dict[str, tuple[str, ...]] = {U2NETP_MD5: ("2257",)}

_CALIBRATION_PHOTOS = ("chelsea", "coffee", "astronaut")
_PERCENTILE = 99.99


def quant_mode(settings: PipelineSettings | None = None) -> str:
    """``settings.quant``: ``STICKERS_MODEL_QUANT`` lower-cased (``auto`` when unset or empty), one of
    :data:`QUANT_MODES` (settings default: read from the environment).

    Raises:
        ValueError: a value other than those in :data:`QUANT_MODES` (a ``pydantic.ValidationError``
            naming ``STICKERS_MODEL_QUANT``).
    """
    return (settings if settings is not None else PipelineSettings.from_env()).quant


def int8_tooling_installed() -> bool:
    """True when what :func:`build_int8` imports is installed (``onnx``, ``onnxruntime.quantization``,
    scikit-image for the calibration photos); checked without importing them."""
    import importlib.util

    try:
        return all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime.quantization", "skimage"))
    except ModuleNotFoundError:  # a parent package is missing
        return False


def cache_dir(settings: PipelineSettings | None = None) -> Path:
    """Folder of built model variants, ``settings.cache_dir``: ``STICKERS_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/stickers``, else ``~/.cache/stickers`` (not created here; settings default: read
    from the environment)."""
    return (settings if settings is not None else PipelineSettings.from_env()).cache_dir


def _md5(path: Path) -> str:
    stat = path.stat()
    return _md5_of(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _md5_of(path: str, size: int, mtime_ns: int) -> str:  # noqa: ARG001 - size and mtime key the cache
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _onnxruntime_version() -> str:
    """The installed onnxruntime's version, from its metadata when it is the CPU distribution (no import:
    the OpenVINO runtime never imports onnxruntime for it), else from the module."""
    import importlib.metadata

    try:
        return importlib.metadata.version("onnxruntime")
    except importlib.metadata.PackageNotFoundError:  # onnxruntime-gpu provides the module
        import onnxruntime

        return onnxruntime.__version__


def int8_model_path(source: Path, folder: Path | None = None) -> Path:
    """Where the int8 variant of ``source`` is cached (whether or not it is built yet):
    ``<folder>/<stem>-<md5 of source>-int8-ort<onnxruntime version>.onnx`` (folder default :func:`cache_dir`)."""
    return (folder or cache_dir()) / f"{source.stem}-{_md5(source)}-int8-ort{_onnxruntime_version()}.onnx"


def _calibration_inputs(preprocess: Callable[[np.ndarray], np.ndarray]) -> list[np.ndarray]:
    """Six 1×3×S×S float32 network inputs: the scikit-image sample photos and their mirrors.

    Raises:
        ImportError: scikit-image is not installed.
    """
    import skimage.data

    inputs = []
    for name in _CALIBRATION_PHOTOS:
        rgb = np.ascontiguousarray(getattr(skimage.data, name)()[..., :3])
        batch = preprocess(rgb)
        inputs += [batch, np.ascontiguousarray(batch[..., ::-1])]
    return inputs


def build_int8(source: Path, target: Path, preprocess: Callable[[np.ndarray], np.ndarray]) -> None:
    """Write the int8 QDQ variant of ``source`` to ``target`` (recipe in the module docstring).

    Args:
        source: the fp32 u2netp ONNX file.
        target: where to write the quantised ONNX file (written to a temporary name, then renamed,
            so concurrent builders never see half a file).
        preprocess: RGB HxWx3 uint8 → 1×3×S×S float32 network input (the session's ``preprocess``).

    Raises:
        ValueError: ``source`` is not a model whose recipe was measured (md5 unknown).
        ImportError: ``onnx``, ``onnxruntime.quantization`` or scikit-image is missing.
    """
    import onnx
    import onnx.version_converter
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    md5 = _md5(source)
    if md5 not in _KEEP_FLOAT_CONV_OUTPUTS:
        raise ValueError(f"int8 quantisation is only measured for u2netp (md5 {U2NETP_MD5}); {source} has md5 {md5}")
    inputs = _calibration_inputs(preprocess)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        op13, pre = Path(tmp) / "op13.onnx", Path(tmp) / "pre.onnx"
        onnx.save(onnx.version_converter.convert_version(onnx.load(str(source)), 13), str(op13))
        quant_pre_process(str(op13), str(pre))
        graph = onnx.load(str(pre)).graph
        keep = set(_KEEP_FLOAT_CONV_OUTPUTS[md5])
        exclude = [n.name for n in graph.node if n.op_type == "Conv" and keep & set(n.output)]
        input_name = graph.input[0].name

        class _Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self._feeds = iter([{input_name: batch} for batch in inputs])

            def get_next(self) -> dict[str, np.ndarray] | None:
                return next(self._feeds, None)

        partial = Path(tmp) / "int8.onnx"
        quantize_static(
            str(pre), str(partial), _Reader(),
            quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            op_types_to_quantize=["Conv"], nodes_to_exclude=exclude,
            calibrate_method=CalibrationMethod.Percentile, extra_options={"CalibPercentile": _PERCENTILE},
        )  # fmt: skip
        os.replace(partial, target)


def quantized_model_path(source: Path, preprocess: Callable[[np.ndarray], np.ndarray], folder: Path | None = None) -> Path:
    """The cached int8 variant of ``source``, built first when absent.

    Args:
        source: the fp32 ONNX file.
        preprocess: the session's pre-processing, for calibration (see :func:`build_int8`).
        folder: cache folder (default :func:`cache_dir`).

    Returns:
        ``<folder>/<stem>-<md5 of source>-int8-ort<onnxruntime version>.onnx``.

    Raises:
        ValueError, ImportError: as :func:`build_int8`.
    """
    target = int8_model_path(source, folder)
    if not target.is_file():
        build_int8(source, target, preprocess)
    return target
