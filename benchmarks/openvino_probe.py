"""OpenVINO's CPU runtime against onnxruntime's on the u2netp graphs (the measurement behind
``STICKERS_RUNTIME=auto`` picking OpenVINO on CPU, ``gpu_service/pipeline/runtime.py``):

    .venv/bin/python -m benchmarks.openvino_probe --rounds 12

Forward pass on the same prepared 1×3×320×320 input, alternated, the order rotated every round,
after a warm-up of each: onnxruntime fp32 and int8 (the service's sessions), OpenVINO on the fp32
file at f32 and at bf16 inference precision (its default on CPUs with AVX512-BF16), and OpenVINO on
our int8 QDQ file. Then alpha IoU (alpha > 127) of each variant's matte against rembg's published
cutouts and against the onnxruntime fp32 matte, the largest difference of its 8-bit full-size matte
from the onnxruntime matte of the same file (fp32 vs fp32, int8 vs int8), on the peer photos
(skipped when absent). Writes
``benchmarks/results/openvino.json``; exits with a message when ``openvino`` is not installed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from .photos import PEER
from .quality import alpha_iou, reference_alpha
from .timing import alternate

__all__ = ["main"]


def _time(runners: dict[str, Callable[[np.ndarray], np.ndarray]], batch: np.ndarray, rounds: int) -> dict[str, float]:
    times = alternate({k: (lambda run=run: run(batch)) for k, run in runners.items()}, rounds)
    return {k: statistics.median(v) for k, v in times.items()}


def _quality(runners: dict[str, Callable[[np.ndarray], np.ndarray]], fp32, results: dict) -> None:  # noqa: ANN001
    """Adds the IoU means and the largest 8-bit matte differences to ``results`` and prints them."""
    examples = PEER / "rembg" / "examples"
    if not examples.is_dir():
        print(f"\n(no IoU table: peer photos absent at {examples})", file=sys.stderr)
        return
    vs_ref: dict[str, list[float]] = {k: [] for k in runners}
    vs_fp32: dict[str, list[float]] = {k: [] for k in runners}
    same_file = {"ov_f32": "ort_fp32", "ov_bf16": "ort_fp32", "ov_int8_qdq": "ort_int8"}
    max_diff: dict[str, int] = dict.fromkeys(same_file, 0)
    for jpg in sorted(examples.glob("*.jpg")):
        rgb = np.asarray(Image.open(jpg).convert("RGB"))
        ref = reference_alpha(jpg.with_name(jpg.stem + ".out.png"))
        size = (rgb.shape[1], rgb.shape[0])
        prepared = fp32.preprocess(rgb)
        mattes = {k: fp32.postprocess(run(prepared), size) for k, run in runners.items()}
        for k, matte in mattes.items():
            vs_ref[k].append(alpha_iou(matte, ref))
            vs_fp32[k].append(alpha_iou(matte, mattes["ort_fp32"]))
        for k, ref_k in same_file.items():
            max_diff[k] = max(max_diff[k], int(np.abs(mattes[k].astype(np.int16) - mattes[ref_k]).max()))
    results["iou_vs_published_mean"] = {k: float(np.mean(v)) for k, v in vs_ref.items()}
    results["iou_vs_ort_fp32_mean"] = {k: float(np.mean(v)) for k, v in vs_fp32.items()}
    results["max_abs_diff_8bit_vs_ort_same_file"] = max_diff
    print("\n| variant | IoU vs published (mean) | IoU vs ort fp32 (mean) |\n|---|---:|---:|")
    for k in runners:
        print(f"| {k} | {results['iou_vs_published_mean'][k]:.4f} | {results['iou_vs_ort_fp32_mean'][k]:.4f} |")
    print("\nlargest 8-bit matte difference from onnxruntime on the same file:", max_diff)


def main(argv: list[str] | None = None) -> dict:
    """Measure; print Markdown tables; write the JSON. Returns the results dict."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.openvino_probe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/openvino.json"))
    args = parser.parse_args(argv)
    from gpu_service.pipeline.ov_runtime import OpenVinoRunner, compile_config, import_openvino, openvino_installed

    if not openvino_installed():
        print("openvino is not installed (it is a project dependency: pip install -e .): nothing to measure", file=sys.stderr)
        return {}
    import skimage.data

    from gpu_service.pipeline.segmentation import new_session
    from gpu_service.pipeline.settings import PipelineSettings

    ov = import_openvino()
    settings = PipelineSettings.from_env()
    on_ort = settings.model_copy(update={"runtime": "onnxruntime"})
    fp32 = new_session(quant="fp32", providers=["CPUExecutionProvider"], settings=on_ort)
    int8 = new_session(quant="int8", providers=["CPUExecutionProvider"], settings=on_ort)
    bf16_config = {**compile_config(None, settings), "INFERENCE_PRECISION_HINT": "bf16"}
    bf16 = ov.Core().compile_model(str(fp32.path), "CPU", bf16_config).create_infer_request()
    runners: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "ort_fp32": fp32.runner.run,
        "ort_int8": int8.runner.run,
        "ov_f32": OpenVinoRunner(fp32.path, settings=settings).run,  # the service's OpenVINO runner and settings
        "ov_bf16": lambda batch: bf16.infer({0: batch})[0],
        "ov_int8_qdq": OpenVinoRunner(int8.path, settings=settings).run,
    }
    batch = fp32.preprocess(np.ascontiguousarray(skimage.data.astronaut()[..., :3]))
    speed = _time(runners, batch, args.rounds)
    results: dict = {"openvino": ov.__version__, "threads": compile_config(None, settings)["INFERENCE_NUM_THREADS"], "forward_median_ms": speed,
                     "speedup_vs_ort_fp32": {k: speed["ort_fp32"] / v for k, v in speed.items()}}  # fmt: skip
    print("| forward pass | median ms | ort fp32 / this |\n|---|---:|---:|")
    for k, v in speed.items():
        print(f"| {k} | {v:.0f} | {speed['ort_fp32'] / v:.2f} |")
    _quality(runners, fp32, results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
