"""The int8 u2netp variant against fp32: forward-pass speed ratio and mask quality, side by side.

    .venv/bin/python -m benchmarks.quant --rounds 12 --out benchmarks/results/quant.json

Speed: both sessions (same threads, same options) run the forward pass on the same prepared
1×3×320×320 input (skimage's astronaut), alternated, the order rotated every round, after a warm-up
of each; ratio of medians (and of minima). Quality: alpha IoU (alpha > 127) of each matte against
rembg's published cutouts (``../shared/peer/rembg/examples``, skipped when absent), raw (rembg's
recipe) and despeckled (the service default); IoU of the int8 matte against the fp32 one; and both
against rembg's own u2netp fixture (``../shared/peer/rembg/tests/anime-girl-1.u2netp.png``). The
int8 file is built (or reused) in the normal cache (:func:`gpu_service.pipeline.quantize.cache_dir`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from .photos import PEER
from .quality import alpha_iou, reference_alpha
from .timing import alternate

__all__ = ["main"]


def _speed(runners: dict, batch: np.ndarray, rounds: int) -> dict[str, float]:
    times = alternate({k: (lambda runner=runner: runner.run(batch)) for k, runner in runners.items()}, rounds)
    out = {f"{k}_median_ms": statistics.median(v) for k, v in times.items()}
    out.update({f"{k}_min_ms": min(v) for k, v in times.items()})
    out["fp32_per_int8_median"] = out["fp32_median_ms"] / out["int8_median_ms"]
    out["fp32_per_int8_min"] = out["fp32_min_ms"] / out["int8_min_ms"]
    return out


def main(argv: list[str] | None = None) -> dict:
    """Measure; print Markdown tables; write the JSON. Returns the results dict."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quant", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=12, help="alternated forward-pass rounds (default 12)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/quant.json"))
    args = parser.parse_args(argv)
    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)


    import skimage.data

    from gpu_service.pipeline.refine import despeckle
    from gpu_service.pipeline.segmentation import new_session

    t0 = time.perf_counter()
    int8 = new_session(quant="int8", despeckle=0)
    log(f"int8 session ready in {time.perf_counter() - t0:.1f} s ({int8.path})")
    fp32 = new_session(quant="fp32", despeckle=0)
    results: dict = {"int8_file": int8.path.name}
    batch = fp32.preprocess(np.ascontiguousarray(skimage.data.astronaut()[..., :3]))
    results["speed"] = _speed({"fp32": fp32.runner, "int8": int8.runner}, batch, args.rounds)
    rows = []
    examples = PEER / "rembg" / "examples"
    if not examples.is_dir():
        log(f"peer photos absent at {examples}: quality table skipped")
    for jpg in sorted(examples.glob("*.jpg")) if examples.is_dir() else []:
        ref_path = jpg.with_name(jpg.stem + ".out.png")
        if not ref_path.exists():
            continue
        rgb = np.asarray(Image.open(jpg).convert("RGB"))
        ref = reference_alpha(ref_path)
        a, b = fp32.predict(rgb), int8.predict(rgb)
        row = {
            "photo": jpg.stem,
            "fp32_raw": alpha_iou(a, ref), "int8_raw": alpha_iou(b, ref),
            "fp32": alpha_iou(despeckle(a, 0.10), ref), "int8": alpha_iou(despeckle(b, 0.10), ref),
            "int8_vs_fp32": alpha_iou(b, a),
        }  # fmt: skip
        rows.append(row)
        log("  " + "  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    if rows:
        keys = [k for k in rows[0] if k != "photo"]
        results["quality"] = {"rows": rows, "mean": {k: float(np.mean([r[k] for r in rows])) for k in keys},
                              "min": {k: float(np.min([r[k] for r in rows])) for k in keys}}  # fmt: skip
    fixture = PEER / "rembg" / "tests" / "anime-girl-1.u2netp.png"
    if fixture.exists():
        rgb = np.asarray(Image.open(fixture.with_name("anime-girl-1.jpg")).convert("RGB"))
        ref = reference_alpha(fixture)
        results["fixture_iou"] = {"fp32": alpha_iou(fp32.predict(rgb), ref), "int8": alpha_iou(int8.predict(rgb), ref)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    _print(results)
    log(f"wrote {args.out}")
    return results


def _print(results: dict) -> None:
    s = results["speed"]
    print("| forward pass (1×3×320×320, alternated) | fp32 | int8 | fp32 / int8 |")
    print("|---|---:|---:|---:|")
    print(f"| median ms | {s['fp32_median_ms']:.0f} | {s['int8_median_ms']:.0f} | **{s['fp32_per_int8_median']:.2f}** |")
    print(f"| min ms | {s['fp32_min_ms']:.0f} | {s['int8_min_ms']:.0f} | {s['fp32_per_int8_min']:.2f} |")
    q = results.get("quality")
    if q:
        print()
        print("| photo | IoU fp32 raw | IoU int8 raw | IoU fp32 (default) | IoU int8 (default) | IoU int8 vs fp32 |")
        print("|---|---:|---:|---:|---:|---:|")
        for r in q["rows"]:
            print(f"| {r['photo']} | {r['fp32_raw']:.3f} | {r['int8_raw']:.3f} | {r['fp32']:.3f} | {r['int8']:.3f} | {r['int8_vs_fp32']:.3f} |")
        m = q["mean"]
        print(f"| **mean** | {m['fp32_raw']:.4f} | {m['int8_raw']:.4f} | **{m['fp32']:.4f}** | **{m['int8']:.4f}** | {m['int8_vs_fp32']:.4f} |")
    f = results.get("fixture_iou")
    if f:
        print(f"\nrembg's u2netp fixture (anime-girl-1): IoU fp32 {f['fp32']:.4f}, int8 {f['int8']:.4f}")


if __name__ == "__main__":
    main()
