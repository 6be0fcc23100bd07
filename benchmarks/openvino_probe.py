"""A lever measured and not taken (yet): OpenVINO's CPU runtime instead of onnxruntime for u2netp.

    .venv/bin/pip install openvino        # not a project dependency
    .venv/bin/python -m benchmarks.openvino_probe --rounds 12

Forward pass on the same prepared 1×3×320×320 input, alternated, the order rotated every round,
after a warm-up of each: onnxruntime fp32 and int8 (the service's sessions), OpenVINO on the fp32
file at f32 and at bf16 inference precision (its default on CPUs with AVX512-BF16), and OpenVINO on
our int8 QDQ file. Then alpha IoU (alpha > 127) of each variant's matte against rembg's published
cutouts and against the onnxruntime fp32 matte, on the peer photos (skipped when absent). Writes
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


def main(argv: list[str] | None = None) -> dict:
    """Measure; print Markdown tables; write the JSON. Returns the results dict."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.openvino_probe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/openvino.json"))
    args = parser.parse_args(argv)
    try:
        import openvino as ov
    except ImportError:
        print("openvino is not installed (pip install openvino): nothing to measure", file=sys.stderr)
        return {}
    import os

    import skimage.data

    from gpu_service.pipeline.segmentation import new_session

    fp32 = new_session(quant="fp32", providers=["CPUExecutionProvider"])
    int8 = new_session(quant="int8", providers=["CPUExecutionProvider"])
    threads = os.cpu_count() or 1
    core = ov.Core()

    def compiled(path: Path, precision: str) -> Callable[[np.ndarray], np.ndarray]:
        config = {"INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
        request = core.compile_model(str(path), "CPU", config).create_infer_request()
        return lambda batch: request.infer({0: batch})[0]

    runners: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "ort_fp32": fp32.runner.run,
        "ort_int8": int8.runner.run,
        "ov_f32": compiled(fp32.path, "f32"),
        "ov_bf16": compiled(fp32.path, "bf16"),
        "ov_int8_qdq": compiled(int8.path, "f32"),
    }
    batch = fp32.preprocess(np.ascontiguousarray(skimage.data.astronaut()[..., :3]))
    speed = _time(runners, batch, args.rounds)
    results: dict = {"openvino": ov.__version__, "threads": threads, "forward_median_ms": speed,
                     "speedup_vs_ort_fp32": {k: speed["ort_fp32"] / v for k, v in speed.items()}}  # fmt: skip
    print("| forward pass | median ms | ort fp32 / this |\n|---|---:|---:|")
    for k, v in speed.items():
        print(f"| {k} | {v:.0f} | {speed['ort_fp32'] / v:.2f} |")
    examples = PEER / "rembg" / "examples"
    if examples.is_dir():
        vs_ref: dict[str, list[float]] = {k: [] for k in runners}
        vs_fp32: dict[str, list[float]] = {k: [] for k in runners}
        for jpg in sorted(examples.glob("*.jpg")):
            rgb = np.asarray(Image.open(jpg).convert("RGB"))
            ref = reference_alpha(jpg.with_name(jpg.stem + ".out.png"))
            size = (rgb.shape[1], rgb.shape[0])
            prepared = fp32.preprocess(rgb)
            mattes = {k: fp32.postprocess(run(prepared), size) for k, run in runners.items()}
            for k, matte in mattes.items():
                vs_ref[k].append(alpha_iou(matte, ref))
                vs_fp32[k].append(alpha_iou(matte, mattes["ort_fp32"]))
        results["iou_vs_published_mean"] = {k: float(np.mean(v)) for k, v in vs_ref.items()}
        results["iou_vs_ort_fp32_mean"] = {k: float(np.mean(v)) for k, v in vs_fp32.items()}
        print("\n| variant | IoU vs published (mean) | IoU vs ort fp32 (mean) |\n|---|---:|---:|")
        for k in runners:
            print(f"| {k} | {results['iou_vs_published_mean'][k]:.4f} | {results['iou_vs_ort_fp32_mean'][k]:.4f} |")
    else:
        print(f"\n(no IoU table: peer photos absent at {examples})", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
