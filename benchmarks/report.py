"""Markdown tables of a results dict from :mod:`benchmarks.run` (printed, and pasted into
``docs/performance.md``)."""

from __future__ import annotations

import statistics

__all__ = ["print_report", "render_report"]


def _f(value: object, digits: int = 0) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "–"


def render_report(results: dict) -> str:
    """The tables as Markdown text."""
    out: list[str] = []
    machine = results.get("machine", {})
    runtime = machine.get("runtime", "onnxruntime")
    version = machine.get(runtime) if runtime in ("onnxruntime", "openvino") else None
    out.append(f"Machine: {machine.get('cpu')} · {machine.get('cores')} cores · runtime {runtime} {version or ''} · "
               f"repeat {results.get('repeat')}\n")  # fmt: skip
    speed = results.get("speed", [])
    if speed:
        job_model = results.get("job_model", "fp32")
        out.append(f"Default job's model: **{job_model}** u2netp; `cutout` and the floor: fp32.\n")
        out.append(f"| photo | forward fp32 (floor) ms | forward {job_model} ms | our cutout ms | our 5-sticker job ms | rembg cutout ms "
                   "| job / rembg | job / forward fp32 | job / forward of its model | cutout / rembg |")  # fmt: skip
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        rows = [*speed, {"photo": "**median**", **{k: statistics.median([r[k] for r in speed if k in r])
                                                     for k in speed[0] if k != "photo"}}]  # fmt: skip
        for r in rows:
            bold = "**" if r is rows[-1] else ""
            out.append(f"| {r['photo']} | {_f(r['forward_ms'])} | {_f(r.get('job_forward_ms', r['forward_ms']))} | "
                       f"{_f(r['cutout_ms'])} | {_f(r['job_ms'])} | {_f(r.get('rembg_ms'))} | "
                       f"{bold}{_f(r.get('job_per_rembg'), 2)}{bold} | {_f(r['job_per_forward'], 2)} | "
                       f"{_f(r.get('job_per_job_forward', r['job_per_forward']), 2)} | {_f(r.get('cutout_per_rembg'), 2)} |")  # fmt: skip
        out.append("")
    stages = results.get("stages_ms", {})
    if stages:
        out.append("| job stage (median over photos and rounds) | ms |")
        out.append("|---|---:|")
        for k, v in stages.items():
            out.append(f"| {k} | {_f(v, 1)} |")
        if "create_job" in results and "s3_put_ms" in results["create_job"]:
            out.append(f"| S3 put of the 5 PNGs (sequential, emulator) | {_f(results['create_job']['s3_put_ms'], 1)} |")
        out.append(f"| text job (3 stickers) | {_f(results.get('text_job_ms'), 1)} |\n")
    quality = results.get("quality")
    if quality:
        job_model = results.get("job_model", "fp32")
        out.append(f"| photo | IoU `cutout` (fp32, no refinement) | IoU die-cut default ({job_model}, despeckled) "
                   "| IoU fp32 despeckled | IoU fp32 + despeckle + flip TTA | IoU rembg u2netp |")  # fmt: skip
        out.append("|---|---:|---:|---:|---:|---:|")
        for r in quality["rows"]:
            out.append(f"| {r['photo']} | {_f(r.get('ours_raw'), 3)} | {_f(r['ours'], 3)} | {_f(r.get('ours_fp32'), 3)} | "
                       f"{_f(r.get('ours_tta'), 3)} | {_f(r.get('rembg'), 3)} |")  # fmt: skip
        m = quality["mean"]
        out.append(f"| **mean** | {_f(m.get('ours_raw'), 4)} | **{_f(m.get('ours'), 4)}** | {_f(m.get('ours_fp32'), 4)} | "
                   f"**{_f(m.get('ours_tta'), 4)}** | {_f(m.get('rembg'), 4)} |\n")  # fmt: skip
    if "api_cold_import" in results:
        c = results["api_cold_import"]
        out.append(f"API cold import: {_f(c['import_ms'])} ms (python start-up alone {_f(c['python_ms'])} ms; "
                   f"net {_f(c['net_ms'])} ms).  ")  # fmt: skip
    if "create_job" in results:
        j = results["create_job"]
        out.append(f"Create job (warm): submit_text {_f(j['submit_ms'], 2)} ms vs raw put_item + send_message "
                   f"{_f(j['raw_ms'], 2)} ms: ratio {_f(j['ratio'], 2)}.")  # fmt: skip
    return "\n".join(out)


def print_report(results: dict) -> None:
    """Print :func:`render_report`."""
    print(render_report(results))
