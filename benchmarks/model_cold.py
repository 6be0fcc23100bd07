"""Cold start of the segmentation model per inference runtime, in fresh processes, alternated::

    .venv/bin/python -m benchmarks.model_cold --rounds 5

Each process imports the pipeline, loads the die-cut job's model (:func:`get_job_model`, int8 u2netp
on a CPU-only machine) and runs one prediction on scikit-image's astronaut, timing each step
(ms): ``import`` (``gpu_service.pipeline.segmentation`` and the runtime's package), ``load`` (session
creation / OpenVINO compile), ``first`` (the first prediction, where both runtimes finish their lazy
set-up) and ``steady`` (the best of three more). Variants: onnxruntime; OpenVINO with its
compiled-model cache off (what a fresh Lambda sandbox pays: its cache folder starts empty); OpenVINO
with a warm cache (a process restart on the same machine). Medians per variant; writes
``benchmarks/results/model_cold.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent

_PROBE = r"""
import json, time
t0 = time.perf_counter()
from gpu_service.pipeline.segmentation import get_job_model
from gpu_service.pipeline.runtime import choose_runtime
import numpy as np, skimage.data
runtime = choose_runtime()
if runtime == "openvino":
    from gpu_service.pipeline.ov_runtime import import_openvino
    import_openvino()
else:
    import onnxruntime
rgb = np.ascontiguousarray(skimage.data.astronaut()[..., :3])
t1 = time.perf_counter()
model = get_job_model(exact=False)
t2 = time.perf_counter()
model.predict(rgb)
t3 = time.perf_counter()
steady = []
for _ in range(3):
    a = time.perf_counter(); model.predict(rgb); steady.append(time.perf_counter() - a)
print(json.dumps({"runtime": model.runtime, "quant": model.quant, "import": (t1 - t0) * 1e3, "load": (t2 - t1) * 1e3,
                  "first": (t3 - t2) * 1e3, "steady": min(steady) * 1e3}))
"""


def main(argv: list[str] | None = None) -> dict:
    """Measure; print a Markdown table; write the JSON. Returns the results dict."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.model_cold", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/model_cold.json"))
    args = parser.parse_args(argv)
    base = {k: v for k, v in os.environ.items() if not k.startswith("STICKERS_")}
    warm_cache = tempfile.mkdtemp(prefix="ov-cache-")
    variants = {
        "onnxruntime": {"STICKERS_RUNTIME": "onnxruntime"},
        "openvino, no cache": {"STICKERS_RUNTIME": "openvino", "STICKERS_OV_CACHE": "off"},
        "openvino, warm cache": {"STICKERS_RUNTIME": "openvino", "STICKERS_OV_CACHE": warm_cache},
    }
    runs: dict[str, list[dict]] = {k: [] for k in variants}

    def once(name: str) -> dict:
        env = dict(base, **variants[name], PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "layers" / "core")]))
        out = subprocess.run([sys.executable, "-c", _PROBE], env=env, cwd=str(ROOT), capture_output=True, text=True, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    once("openvino, warm cache")  # fills the warm cache (and the int8 file, if this machine has none yet)
    names = list(variants)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            runs[name].append(once(name))
    steps = ("import", "load", "first", "steady")
    summary = {k: {s: statistics.median(run[s] for run in v) for s in steps} for k, v in runs.items()}
    for v in summary.values():
        v["to_first_matte"] = v["import"] + v["load"] + v["first"]
    print("| runtime | import ms | load ms | first prediction ms | import + load + first ms | steady prediction ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for k, v in summary.items():
        print(f"| {k} | {v['import']:.0f} | {v['load']:.0f} | {v['first']:.0f} | **{v['to_first_matte']:.0f}** | {v['steady']:.0f} |")
    results = {"rounds": args.rounds, "median_ms": summary, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
