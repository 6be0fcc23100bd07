#!/usr/bin/env python3
"""Bounded load run on loopback: the embedded stack, attached worker processes, one restarted midway.

One command (from the repository root)::

    .venv/bin/python scripts/load_test.py --jobs 200 --workers 2

It boots ``stickers local --workers 0`` in a subprocess, starts N ``stickers worker --attach``
processes, submits a seeded mix of image and text jobs with bounded concurrency, kills one worker
(SIGKILL by default, ``--restart term`` for a graceful stop) once half the jobs are done and starts a
fresh one, waits (bounded) until every job has ended, and reports throughput, API latency
percentiles of the submit and status calls, and the attempts histogram. Every job must be
``completed``: otherwise the exit status is 1. The figures go to ``docs/reliability-load.json``.

Requests are spread over several API keys so the per-key usage plan (10 rps, burst 20) is not the
bottleneck; a 429 is retried and counted.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from local_stack import processes

REPO = Path(__file__).resolve().parents[1]
TEXTS = ["Happy Birthday!", "Good morning ☀️", "مرحبا", "नमस्ते", "Let's go!", "🎉🎂", "Best team ever", "Thank you", "Hola amigos", "GG"]
KEYWORDS = [["party", "cake"], ["cat"], ["coffee", "sun"], [], ["rocket", "star", "moon"]]
IMAGE_STYLES = ["classic", "outline", "cartoon", "sketch", "pop", "pixel"]


@dataclass
class Recorder:
    """Latencies (ms) per call kind, 429 counts; thread-safe."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {"submit": [], "status": []})
    throttled: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, kind: str, send) -> httpx.Response:  # noqa: ANN001
        """Run `send()` until it is not throttled; record the latency of the answered call."""
        while True:
            t0 = time.perf_counter()
            response = send()
            ms = (time.perf_counter() - t0) * 1000
            with self.lock:
                if response.status_code == 429:
                    self.throttled[kind] += 1
                else:
                    self.latencies[kind].append(ms)
            if response.status_code != 429:
                return response
            time.sleep(0.2)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation; 0 for no values."""
    if not values:
        return 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def start_stack(keys: list[str], visibility_s: int, log) -> tuple[subprocess.Popen, str]:  # noqa: ANN001
    """`stickers local --workers 0` in its own process; exits the script if it does not come up."""
    try:
        return processes.start_local(
            "--workers", "0", "--visibility-timeout", str(visibility_s), keys=",".join(keys), log=log, cwd=str(REPO), timeout_s=120
        )
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None


def start_worker(url: str, log) -> subprocess.Popen:  # noqa: ANN001
    """`stickers worker --attach URL` in its own process."""
    return processes.start_worker(url, log=log, cwd=str(REPO))


def photos() -> list[tuple[str, bytes]]:
    """Real photos from scikit-image (cat, coffee, astronaut), as JPEG."""
    import skimage.data
    from PIL import Image

    out = []
    for name in ("chelsea", "coffee", "astronaut"):
        buf = io.BytesIO()
        Image.fromarray(getattr(skimage.data, name)()).convert("RGB").save(buf, "JPEG", quality=90)
        out.append((f"{name}.jpg", buf.getvalue()))
    return out


def job_plan(n: int, image_share: float, seed: int) -> list[dict]:
    """A seeded mix of job requests."""
    rng = random.Random(seed)
    plan = []
    for i in range(n):
        if rng.random() < image_share:
            plan.append({"kind": "image", "photo": i % 3, "styles": ",".join(rng.sample(IMAGE_STYLES, rng.randint(1, 3)))})
        else:
            plan.append({"kind": "text", "body": {"text": rng.choice(TEXTS), "keywords": rng.choice(KEYWORDS), "count": rng.randint(1, 3)}})
    return plan


def submit(client: httpx.Client, rec: Recorder, job: dict, pics: list[tuple[str, bytes]]) -> str:
    if job["kind"] == "image":
        name, data = pics[job["photo"]]
        r = rec.call("submit", lambda: client.post("/v1/stickers/image", files={"image": (name, data)}, data={"styles": job["styles"]}))
    else:
        r = rec.call("submit", lambda: client.post("/v1/stickers/text", json=job["body"]))
    if r.status_code != 202:
        raise SystemExit(f"submit refused: {r.status_code} {r.text}")
    return r.json()["data"]["jobId"]


def main() -> int:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent API calls")
    parser.add_argument("--image-share", type=float, default=0.5)
    parser.add_argument("--restart", choices=["kill", "term", "none"], default="kill", help="how worker 1 is stopped midway")
    parser.add_argument("--visibility-timeout", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=1200, help="seconds to wait for all jobs")
    parser.add_argument("--keys", type=int, default=10, help="API keys to spread the load over")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "reliability-load.json")
    parser.add_argument("--log", type=Path, default=Path("/tmp/stickers-load.log"))
    args = parser.parse_args()

    keys = [f"load-key-{i}" for i in range(args.keys)]
    plan, pics, rec = job_plan(args.jobs, args.image_share, args.seed), photos(), Recorder()
    log = args.log.open("w")
    stack, url = start_stack(keys, args.visibility_timeout, log)
    workers = [start_worker(url, log) for _ in range(args.workers)]
    clients = [httpx.Client(base_url=url, headers={"x-api-key": k}, timeout=60) for k in keys]
    restart: dict = {}
    try:
        t0 = time.monotonic()
        with ThreadPoolExecutor(args.concurrency) as pool:
            ids = list(pool.map(lambda ij: (ij[0] % len(keys), submit(clients[ij[0] % len(keys)], rec, ij[1], pics)), enumerate(plan)))
        submitted_s = time.monotonic() - t0
        print(f"{len(ids)} jobs submitted in {submitted_s:.1f} s", flush=True)
        final: dict[str, dict] = {}
        deadline = t0 + args.timeout
        with ThreadPoolExecutor(args.concurrency) as pool:
            while len(final) < len(ids) and time.monotonic() < deadline:
                pending = [(k, j) for k, j in ids if j not in final]
                docs = pool.map(lambda kj: rec.call("status", lambda: clients[kj[0]].get(f"/v1/jobs/{kj[1]}")).json(), pending)
                for doc in docs:
                    if doc.get("status") in ("completed", "failed"):
                        final[doc["jobId"]] = doc
                if not restart and args.restart != "none" and len(final) >= len(ids) // 2:
                    restart = restart_worker(workers, url, log, args.restart, t0)
                    print(f"worker restarted ({args.restart}) after {restart['atS']} s with {len(final)} jobs done", flush=True)
                print(f"{time.monotonic() - t0:6.1f} s  {len(final)}/{len(ids)} ended", flush=True)
                time.sleep(1.0)
        wall_s = time.monotonic() - t0
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        exit_codes = [w.wait(timeout=120) for w in workers]
        stack.send_signal(signal.SIGINT)
        stack.wait(timeout=120)
        for c in clients:
            c.close()
    statuses = Counter(d["status"] for d in final.values())
    attempts = Counter(d["attempts"] for d in final.values())
    report = {
        "command": f"python scripts/load_test.py --jobs {args.jobs} --workers {args.workers} --restart {args.restart}",
        "machine": {"cpus": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version(), "platform": platform.platform()},
        "jobs": args.jobs,
        "imageJobs": sum(j["kind"] == "image" for j in plan),
        "textJobs": sum(j["kind"] == "text" for j in plan),
        "stickers": sum(len(d.get("stickers", [])) for d in final.values()),
        "workers": args.workers,
        "restart": restart,
        "workerExitCodesAtEnd": exit_codes,
        "submitSeconds": round(submitted_s, 2),
        "wallSeconds": round(wall_s, 2),
        "throughputJobsPerS": round(len(final) / wall_s, 3),
        "statuses": dict(statuses),
        "notEnded": len(ids) - len(final),
        "attempts": {str(k): v for k, v in sorted(attempts.items())},
        "apiLatencyMs": {kind: {"calls": len(v), "p50": round(percentile(v, 50), 1), "p99": round(percentile(v, 99), 1), "max": round(max(v, default=0), 1)} for kind, v in rec.latencies.items()},
        "throttled429": dict(rec.throttled),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    ok = statuses.get("completed", 0) == len(ids)
    print("ALL COMPLETED" if ok else f"NOT ALL COMPLETED: {dict(statuses)}, {len(ids) - len(final)} not ended", flush=True)
    return 0 if ok else 1


def restart_worker(workers: list[subprocess.Popen], url: str, log, how: str, t0: float) -> dict:  # noqa: ANN001
    """Stop worker 1 (SIGKILL or SIGTERM) and start a replacement."""
    old = workers[0]
    old.send_signal(signal.SIGKILL if how == "kill" else signal.SIGTERM)
    code = old.wait(timeout=600)
    workers[0] = start_worker(url, log)
    return {"how": how, "atS": round(time.monotonic() - t0, 1), "exitCode": code}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    sys.exit(main())
