"""Timing worker run *inside* rembg's own virtual environment (``benchmarks/.rembg-venv``).

It speaks JSON lines on stdin/stdout so the harness can alternate rembg's timings with ours in one
run. Requests: ``{"op": "remove", "path": P, "n": N}`` → ``{"ms": [...]}`` (N calls of
``rembg.remove(bytes)`` → PNG bytes, the "one cutout" a user gets); ``{"op": "mask", "path": P,
"out": Q}`` → writes rembg's cutout (RGBA PNG) to Q; ``{"op": "quit"}``. Only this file's own
code is in the repository; rembg is installed from PyPI by :mod:`benchmarks.rembg_env`.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    from rembg import new_session, remove

    session = new_session("u2netp")
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        op = request.get("op")
        if op == "quit":
            break
        with open(request["path"], "rb") as fh:
            data = fh.read()
        if op == "remove":
            times = []
            for _ in range(int(request.get("n", 1))):
                t0 = time.perf_counter()
                remove(data, session=session)
                times.append((time.perf_counter() - t0) * 1000)
            print(json.dumps({"ms": times}), flush=True)
        elif op == "mask":
            with open(request["out"], "wb") as fh:
                fh.write(remove(data, session=session))
            print(json.dumps({"ok": True}), flush=True)
        else:
            print(json.dumps({"error": f"unknown op {op!r}"}), flush=True)


if __name__ == "__main__":
    main()
