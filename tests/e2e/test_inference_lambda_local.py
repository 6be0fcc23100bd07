"""End to end: `stickers local --inference lambda`: the first image job of a fresh stack, cold init included.

The stack runs in its own process with no worker: the CPU inference Lambda handler
(functions/inference/app.py) behind the emulated SQS event source mapping, its module not imported
until the first batch arrives. A real photo is submitted over HTTP; the job must be ``completed``
within :data:`FIRST_JOB_S` seconds of the submission (issue 13's bar on this 2-core machine), and the
handler's ``"cold init"`` log line (imports + model load) must have been written inside that window.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import httpx
import pytest

from local_stack import processes
from tests.e2e.test_local_stack import check_sticker, photo_bytes

pytestmark = pytest.mark.e2e
KEY = "e2e-lambda-key"
#: Seconds from the submission to ``completed`` for the first job of a fresh ``--inference lambda`` stack.
FIRST_JOB_S = 6.0


def cold_init_lines(log: Path) -> list[dict]:
    out = []
    for line in log.read_text(errors="replace").splitlines():
        if '"cold init"' in line:
            out.append(json.loads(line[line.index("{") :]))
    return out


def test_first_image_job_on_a_fresh_lambda_stack_completes_within_6_s_cold_init_included(tmp_path: Path) -> None:
    log = tmp_path / "stack.log"
    with log.open("w") as sink:
        proc, url = processes.start_local("--inference", "lambda", keys=KEY, log=sink)
        try:
            name, data = photo_bytes()
            with httpx.Client(base_url=url, headers={"x-api-key": KEY}, timeout=30) as client:
                assert client.get("/v1/health").json()["checks"]["inference"] == "lambda"
                assert not cold_init_lines(log), "the handler must not be initialised before the first job"
                t0 = time.monotonic()
                r = client.post("/v1/stickers/image", files={"image": (name, data)})
                assert r.status_code == 202, r.text
                job_id = r.json()["data"]["jobId"]
                while True:
                    doc = client.get(f"/v1/jobs/{job_id}").json()
                    elapsed = time.monotonic() - t0
                    if doc["status"] in ("completed", "failed") or elapsed > 30:
                        break
                    time.sleep(0.05)
            assert doc["status"] == "completed" and doc["attempts"] == 1, doc
            (cold,) = cold_init_lines(log)
            print(f"first job on a fresh --inference lambda stack: completed {elapsed:.2f} s after submission "
                  f"(cold init {cold['totalS']} s: imports {cold['importS']} s, model {cold['modelS']} s)")  # fmt: skip
            assert elapsed <= FIRST_JOB_S, f"completed {elapsed:.2f} s after submission (cold init {cold['totalS']} s)"
            for sticker in doc["stickers"]:
                check_sticker(sticker)
        finally:
            code = processes.stop_process(proc, signal.SIGINT)
    assert code == 0, log.read_text()[-3000:]
