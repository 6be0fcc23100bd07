"""Batch-size sweep of the segmentation model: images/s at batch 1, 8 and 32 for each available
execution provider (TensorRT, CUDA, CPU), fp32 and — where an fp16 file is given — fp16.

Meant for a GPU machine (not run on the 2-core CPU box; see ``docs/performance.md``)::

    .venv/bin/python -m benchmarks.gpu_sweep --batches 1 8 32 --seconds 5 \\
        [--fp16-model /models/u2netp.fp16.onnx] --out benchmarks/results/gpu_sweep.json

The fp16 file is converted once at container build time (``onnxconverter_common.float16.
convert_float_to_float16(model, keep_io_types=True)``), never at run time. The graph's batch axis
is made symbolic in memory (:func:`gpu_service.pipeline.ort_runtime.model_bytes_with_dynamic_batch`);
inputs go through IO binding on GPU providers (:class:`~gpu_service.pipeline.ort_runtime.OrtRunner`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from gpu_service.pipeline.ort_runtime import OrtRunner
from gpu_service.pipeline.segmentation import default_model_path

__all__ = ["sweep"]


def sweep(model: Path, providers: list[str], batches: list[int], seconds: float) -> list[dict]:
    """images/s per batch size for one provider list.

    Args:
        model: the ONNX file.
        providers: e.g. ``["CUDAExecutionProvider", "CPUExecutionProvider"]``.
        batches: batch sizes.
        seconds: time budget per batch size after two warm-up runs.

    Returns:
        One ``{"provider", "batch", "images_per_s", "ms_per_batch", "runs"}`` per batch size; a
        batch the provider cannot run is reported with its ``error``.
    """
    runner = OrtRunner(model, providers)
    rows = []
    for batch in batches:
        x = np.random.default_rng(0).standard_normal((batch, 3, 320, 320)).astype(np.float32)
        try:
            for _ in range(2):
                runner.run(x)
            runs, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds or runs < 3:
                runner.run(x)
                runs += 1
            elapsed = time.perf_counter() - t0
            rows.append({"provider": providers[0], "batch": batch, "images_per_s": batch * runs / elapsed,
                         "ms_per_batch": elapsed / runs * 1000, "runs": runs})  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - e.g. out of memory at batch 32
            rows.append({"provider": providers[0], "batch": batch, "error": repr(exc)})
    return rows


def main(argv: list[str] | None = None) -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_sweep")
    parser.add_argument("--model", type=Path, default=None, help="fp32 ONNX (default: packaged u2netp)")
    parser.add_argument("--fp16-model", type=Path, default=None, help="fp16 ONNX converted at build time")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gpu_sweep.json"))
    args = parser.parse_args(argv)
    available = ort.get_available_providers()
    models = [("fp32", args.model or default_model_path())] + ([("fp16", args.fp16_model)] if args.fp16_model else [])
    rows = []
    for provider in ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"):
        if provider not in available:
            print(f"{provider}: not available in this onnxruntime build, skipped")
            continue
        for precision, path in models:
            for row in sweep(path, [provider, "CPUExecutionProvider"] if provider != "CPUExecutionProvider" else [provider],
                             args.batches, args.seconds):  # fmt: skip
                row["precision"] = precision
                rows.append(row)
                print(json.dumps(row))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"providers": available, "rows": rows}, indent=2))
    print("| provider | precision | batch | images/s | ms/batch |\n|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['provider']} | {r['precision']} | {r['batch']} | {r.get('images_per_s', float('nan')):.1f} | "
              f"{r.get('ms_per_batch', float('nan')):.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
