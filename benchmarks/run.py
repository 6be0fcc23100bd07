"""The benchmark harness: one command, a table on stdout, a JSON file.

    .venv/bin/python -m benchmarks.run --repeat 5 --out benchmarks/results/latest.json

Per photo, ``repeat`` rounds; in each round the forward pass (floor: the fp32 model on the runtime
``STICKERS_RUNTIME`` picks, see ``gpu_service/pipeline/runtime.py``), our ``cutout``, our default
5-style job and rembg's ``remove()`` run one after the other, the order rotated every round, so the
machine's noise hits all of them alike. Ratios are of per-photo medians. Then: per-stage timings
of the job, the text job, mask IoU against rembg's published cutouts (plain and with flip TTA),
cold import of the API function and the create-job overhead. ``--quick`` runs one photo once,
without rembg or the API measurements (the smoke test uses it).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from .photos import find_photos
from .quality import alpha_iou, reference_alpha
from .timing import alternate

__all__ = ["main"]


def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def _machine() -> dict[str, object]:
    import os

    import onnxruntime

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from gpu_service.pipeline.ov_runtime import import_openvino, openvino_installed
    from gpu_service.pipeline.runtime import choose_runtime

    openvino = import_openvino().__version__.split("-")[0] if openvino_installed() else None
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "onnxruntime": onnxruntime.__version__,
            "openvino": openvino, "runtime": choose_runtime(), "platform": platform.platform()}  # fmt: skip


def _speed(ours, rembg, photos, repeat: int, log) -> list[dict]:  # noqa: ANN001
    rows = []
    for photo in photos:
        data = photo.path.read_bytes()
        timers = {
            "forward": lambda: ours.forward_ms(data),
            "cutout": lambda: ours.cutout_ms(data),
            "job": lambda: ours.job_ms(data),
        }
        if ours.model is not ours.exact_model:  # the default job runs another variant (int8)
            timers["job_forward"] = lambda: ours.forward_ms(data, ours.model)
        if rembg is not None:
            timers["rembg"] = lambda: rembg.remove_ms(photo.path)[0]
        runs = alternate(timers, repeat, self_timed=True)
        row = {"photo": photo.name, **{f"{k}_ms": _median(v) for k, v in runs.items() if v}}
        row["job_per_forward"] = row["job_ms"] / row["forward_ms"]
        row["job_per_job_forward"] = row["job_ms"] / row.get("job_forward_ms", row["forward_ms"])
        if rembg is not None:
            row["job_per_rembg"] = row["job_ms"] / row["rembg_ms"]
            row["cutout_per_rembg"] = row["cutout_ms"] / row["rembg_ms"]
        rows.append(row)
        log("  " + "  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    return rows


def _stages(ours, photos, repeat: int) -> dict[str, float]:  # noqa: ANN001
    per_stage: dict[str, list[float]] = {}
    for photo in photos:
        data = photo.path.read_bytes()
        for _ in range(repeat):
            timings: dict[str, float] = {}
            ours.job_ms(data, timings)
            for k, v in timings.items():
                per_stage.setdefault(k, []).append(v)
    return {k: _median(v) for k, v in per_stage.items()}


def _quality(ours, rembg, photos, log) -> dict:  # noqa: ANN001
    from gpu_service.pipeline.refine import despeckle_fraction
    from gpu_service.pipeline.segmentation import new_session

    tta_model = new_session(tta=True, despeckle=despeckle_fraction(), quant="fp32")
    raw_model = new_session(despeckle=0, quant="fp32")  # rembg's recipe, no refinement: the `cutout` style
    fp32_model = new_session(despeckle=despeckle_fraction(), quant="fp32")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for photo in photos:
            if photo.reference is None:
                continue
            ref = reference_alpha(photo.reference)
            row = {"photo": photo.name, "ours": alpha_iou(ours.matte(photo.path), ref)}
            from PIL import Image

            rgb = np.asarray(Image.open(photo.path).convert("RGB"))
            row["ours_raw"] = alpha_iou(raw_model.predict(rgb), ref)
            row["ours_fp32"] = alpha_iou(fp32_model.predict(rgb), ref)
            row["ours_tta"] = alpha_iou(tta_model.predict(rgb), ref)
            if rembg is not None:
                out = rembg.cutout(photo.path, Path(tmp) / f"{photo.name}.png")
                row["rembg"] = alpha_iou(reference_alpha(out), ref)
            rows.append(row)
            log("  " + "  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    means: dict[str, float] = {}
    for key in ("ours_raw", "ours", "ours_fp32", "ours_tta", "rembg"):
        vals = [r[key] for r in rows if key in r]
        if vals:
            means[key] = float(np.mean(vals))
    return {"rows": rows, "mean": means}


def _text(ours, repeat: int) -> float:  # noqa: ANN001
    ours.text_ms()
    return _median([ours.text_ms() for _ in range(max(5, repeat * 3))])


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmarks; print the tables; write the JSON. Returns the results dict."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="rounds per photo (default 5)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/latest.json"))
    parser.add_argument("--photos", type=int, default=None, help="use only the first N photos")
    parser.add_argument("--no-rembg", action="store_true", help="skip rembg (no venv set-up)")
    parser.add_argument("--no-service", action="store_true", help="skip API import / create-job timings")
    parser.add_argument("--no-quality", action="store_true", help="skip the IoU table")
    parser.add_argument("--quick", action="store_true", help="1 photo, repeat 1, no rembg/service/quality")
    args = parser.parse_args(argv)
    if args.quick:
        args.photos, args.repeat, args.no_rembg, args.no_service, args.no_quality = 1, 1, True, True, True
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731

    from .ours import Ours
    from .report import print_report

    photos = find_photos(args.photos, log)
    if not photos:
        log("no photos found: nothing to measure")
        return {}
    ours = Ours()
    rembg = None
    if not args.no_rembg:
        from .rembg_env import RembgWorker, ensure_venv

        python = ensure_venv(log)
        rembg = RembgWorker(python) if python else None
    results: dict = {"machine": _machine(), "repeat": args.repeat, "photos": [p.name for p in photos],
                     "job_model": getattr(ours.model, "quant", "?")}  # fmt: skip
    try:
        log(f"speed: {len(photos)} photos × {args.repeat} alternated rounds")
        results["speed"] = _speed(ours, rembg, photos, args.repeat, log)
        results["stages_ms"] = _stages(ours, photos, max(1, args.repeat // 2))
        results["text_job_ms"] = _text(ours, args.repeat)
        if not args.no_quality:
            log("quality: alpha IoU vs rembg's published cutouts")
            results["quality"] = _quality(ours, rembg, photos, log)
    finally:
        if rembg is not None:
            rembg.close()
    if not args.no_service:
        from .service_bench import cold_import, create_job_overhead

        pngs = ours.job_pngs(photos[0].path.read_bytes())
        results["api_cold_import"] = cold_import(max(3, args.repeat))
        results["create_job"] = create_job_overhead(30, pngs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print_report(results)
    log(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
