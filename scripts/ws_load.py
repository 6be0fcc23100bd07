#!/usr/bin/env python3
"""Bounded load run of live progress on loopback: N WebSockets, each following its own job.

One command (from the repository root)::

    .venv/bin/python scripts/ws_load.py --sockets 200 --keys 10

It boots the embedded stack in this process (``LocalStack``: moto, the API front with its WebSocket
side, the jobs-table stream poller and the real connection and notifier handlers; no in-process
worker), opens ``--sockets`` WebSockets spread over ``--keys`` API keys, creates one text job per socket
through the HTTP API and subscribes each socket to its own job. Then every job is driven through the
image milestones (claim → 10 → 30 → 40 → 70 → 90 → completed 100) by concurrent writers on the job
store, as GPU workers would write them (``--driver store``, the default: it measures the fan-out, not
the renderer), at ``--write-rate`` writes per second in all (0: as fast as the writers go, a stress
run), or rendered by real in-process workers (``--driver worker``: text milestones 10 → 50 → 90).

Every socket must receive exactly its own job's documents, each state once, in order, ending with
``completed`` 100; otherwise the exit status is 1. Reported: connect and subscribe times, delivery
latency from the store write to the socket (percentiles), end-to-end time, messages expected /
received / lost / duplicated / out of order / foreign. Figures go to ``docs/reliability-ws-load.json``
(``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "layers" / "core")]

from local_stack.stack import LocalStack, api_key_id  # noqa: E402
from stickers_core.store import JobStore  # noqa: E402

IMAGE_MILESTONES = (10, 30, 40, 70, 90)


@dataclass
class Socket:
    """One client: its key, its job, what it received (with arrival times)."""

    key: str
    ws: ClientConnection
    job_id: str = ""
    received: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    final: threading.Event = field(default_factory=threading.Event)
    first: threading.Event = field(default_factory=threading.Event)

    def read(self) -> None:
        try:
            for raw in self.ws:
                message = json.loads(raw)
                self.received.append((time.perf_counter(), message))
                self.first.set()
                if message.get("type") == "job" and message["data"]["status"] in ("completed", "failed"):
                    self.final.set()
        except Exception:  # noqa: BLE001 - closed at the end
            pass


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": round(ordered[-1], 1), "mean": round(statistics.fmean(ordered), 1)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--keys", type=int, default=10)
    parser.add_argument("--driver", choices=("store", "worker"), default="store")
    parser.add_argument("--writers", type=int, default=16, help="concurrent job-store writers (--driver store)")
    parser.add_argument("--write-rate", type=float, default=5.0, help="job-store writes per second in all (--driver store; 0: unpaced)")
    parser.add_argument("--workers", type=int, default=2, help="in-process workers (--driver worker)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for every socket to see its job end")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "reliability-ws-load.json")
    return parser.parse_args()


def open_sockets(stack: LocalStack, count: int, key_names: list[str], result: dict[str, Any]) -> list[Socket]:
    """`count` WebSockets over the keys, 32 handshakes at a time; each read by its own thread."""
    connect_ms: list[float] = []

    def open_socket(i: int) -> Socket:
        key = key_names[i % len(key_names)]
        t0 = time.perf_counter()
        ws = connect(f"{stack.ws_url}?key={key}", proxy=None, open_timeout=60, max_queue=None)
        connect_ms.append((time.perf_counter() - t0) * 1000)
        return Socket(key, ws)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=32) as pool:
        sockets = list(pool.map(open_socket, range(count)))
    result["connect_s"] = round(time.perf_counter() - started, 2)
    result["connect_ms"] = percentiles(connect_ms)
    for s in sockets:
        threading.Thread(target=s.read, daemon=True).start()
    print(f"{len(sockets)} sockets open in {result['connect_s']} s", file=sys.stderr)
    return sockets


def subscribe_each_to_its_job(stack: LocalStack, sockets: list[Socket], key_names: list[str], result: dict[str, Any]) -> None:
    """One text job per socket through the HTTP API, then subscribe; wait for every current state."""
    clients = {key: httpx.Client(base_url=stack.url, headers={"x-api-key": key}, timeout=60) for key in key_names}

    def submit(s: Socket) -> None:
        r = clients[s.key].post("/v1/stickers/text", json={"text": f"live {id(s) % 10_000}", "styles": ["bubble"]})
        r.raise_for_status()
        s.job_id = r.json()["data"]["jobId"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(submit, sockets))
    subscribe_ms: list[float] = []
    started = time.perf_counter()
    for s in sockets:
        s.ws.send(json.dumps({"action": "subscribe", "jobId": s.job_id}))
    for s in sockets:
        if not s.first.wait(120):
            raise SystemExit(f"no current state for {s.job_id}")
        subscribe_ms.append((s.received[0][0] - started) * 1000)
    result["subscribed_s"] = round(time.perf_counter() - started, 2)
    result["subscribe_ms"] = percentiles(subscribe_ms)
    print(f"subscribed; every socket had its job's current state after {result['subscribed_s']} s", file=sys.stderr)


def drive_with_the_store(stack: LocalStack, job_ids: list[str], writers: int, write_rate: float) -> dict[tuple[str, str, int, int], float]:
    """Every job through the image milestones, as a GPU worker writes them; when each write returned."""
    jobs = JobStore(stack.settings.table_name)
    written: dict[tuple[str, str, int, int], float] = {}
    pace = threading.Lock()
    next_slot = [time.perf_counter()]

    def paced() -> None:
        """Wait for the next slot of the global write rate (none when unpaced)."""
        if write_rate <= 0:
            return
        with pace:
            slot = next_slot[0] = max(next_slot[0] + 1 / write_rate, time.perf_counter())
        time.sleep(max(0.0, slot - time.perf_counter()))

    def drive(job_id: str) -> None:
        paced()
        jobs.claim(job_id, 1)
        written[(job_id, "active", 0, 1)] = time.perf_counter()
        for p in IMAGE_MILESTONES:
            paced()
            jobs.set_progress(job_id, 1, p)
            written[(job_id, "active", p, 1)] = time.perf_counter()
        paced()
        jobs.complete(job_id, 1, [], 1)
        written[(job_id, "completed", 100, 1)] = time.perf_counter()

    with ThreadPoolExecutor(max_workers=writers) as pool:
        list(pool.map(drive, job_ids))
    return written


def check(sockets: list[Socket], expected: list[tuple[str, int, int]], written: dict[tuple[str, str, int, int], float], result: dict[str, Any]) -> None:
    """Every socket got exactly its job's documents, each once, in order; the delivery latencies."""
    counts: dict[str, int] = defaultdict(int)
    latency_ms: list[float] = []
    bad: list[str] = []
    for s in sockets:
        docs = [(t, m["data"]) for t, m in s.received if m.get("type") == "job"]
        others = [m for _, m in s.received if m.get("type") != "job"]
        steps = [(d["status"], d["progress"], d["attempts"]) for _, d in docs]
        counts["expected"] += len(expected)
        counts["received"] += len(docs)
        counts["foreign"] += sum(1 for _, d in docs if d["jobId"] != s.job_id) + len(others)
        counts["lost"] += sum(1 for e in expected if e not in steps)
        counts["duplicated"] += len(steps) - len(set(steps))
        if set(steps) <= set(expected):
            counts["out_of_order"] += sum(1 for a, b in zip(steps, steps[1:], strict=False) if expected.index(b) <= expected.index(a))
        else:
            counts["out_of_order"] += 1
        if steps != expected:
            bad.append(f"{s.job_id}: {steps}")
        for t, d in docs:
            written_at = written.get((s.job_id, d["status"], d["progress"], d["attempts"]))
            if written_at is not None:
                latency_ms.append((t - written_at) * 1000)
    result["messages"] = dict(counts)
    result["delivery_latency_ms"] = percentiles(latency_ms)
    result["ok"] = not bad and counts["lost"] == counts["duplicated"] == counts["out_of_order"] == counts["foreign"] == 0
    if bad:
        result["bad_sample"] = bad[:5]


def main() -> int:
    args = parse_args()
    keys = {f"ws-load-key-{i:02d}": api_key_id(f"ws-load-key-{i:02d}") for i in range(args.keys)}
    key_names = list(keys)
    stack = LocalStack(workers=0, api_keys=keys, rate_limit_rps=10_000, burst_limit=10_000, daily_quota=10_000_000)
    stack.start()
    print(f"stack up: API {stack.url}, WebSocket {stack.ws_url}", file=sys.stderr)
    result: dict[str, Any] = {"sockets": args.sockets, "keys": args.keys, "driver": args.driver,
                              "write_rate": args.write_rate if args.driver == "store" else None}  # fmt: skip
    sockets: list[Socket] = []
    try:
        sockets = open_sockets(stack, args.sockets, key_names, result)
        subscribe_each_to_its_job(stack, sockets, key_names, result)
        started = time.perf_counter()
        written: dict[tuple[str, str, int, int], float] = {}
        if args.driver == "store":
            written = drive_with_the_store(stack, [s.job_id for s in sockets], args.writers, args.write_rate)
            expected_tail = [("active", 0, 1), *[("active", p, 1) for p in IMAGE_MILESTONES], ("completed", 100, 1)]
        else:
            stack.start_workers(args.workers)
            expected_tail = [("active", 0, 1), ("active", 10, 1), ("active", 50, 1), ("active", 90, 1), ("completed", 100, 1)]
        result["writes_s"] = round(time.perf_counter() - started, 2)
        deadline = time.monotonic() + args.timeout
        for s in sockets:
            s.final.wait(max(0.0, deadline - time.monotonic()))
        time.sleep(1.0)  # anything after the final state would be a fault: give it a chance to show
        result["end_to_end_s"] = round(time.perf_counter() - started, 2)
        check(sockets, [("queued", 0, 0), *expected_tail], written, result)
        result["notifier_records_delivered"] = stack._stream.delivered if stack._stream else None
        result["slow_clients_dropped"] = stack.websocket.dropped_slow
        result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    finally:
        for s in sockets:
            try:
                s.ws.close()
            except Exception:  # noqa: BLE001 - closing at the end
                pass
        stack.stop()
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
