"""End to end: `stickers local` in its own process on a loopback port, driven over HTTP like a caller.

Also runs `stickers generate`, `stickers worker --attach` and `stickers demo` as a user would.
"""

from __future__ import annotations

import io
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from local_stack import processes
from local_stack.processes import stickers_command
from tests.conftest import PEER_DIR

pytestmark = pytest.mark.e2e
KEY = "e2e-key"


def start_local(*extra: str) -> tuple[subprocess.Popen, str]:
    return processes.start_local(*extra, keys=f"{KEY},second-key", log=subprocess.PIPE)


def stop(proc: subprocess.Popen) -> str:
    """Ctrl-C the stack; it must exit 0. Returns what it printed."""
    assert processes.stop_process(proc, signal.SIGINT) == 0
    return proc.stdout.read()


@pytest.fixture(scope="module")
def local() -> Iterator[str]:
    proc, url = start_local("--workers", "1")
    yield url
    out = stop(proc)
    assert "local-dev-key" not in out and KEY in out, "the keys from STICKERS_API_KEYS are printed at start"


def photo_bytes() -> tuple[str, bytes]:
    """A real photo: one of rembg's examples when the peer data is there, else scikit-image's coffee."""
    peer = PEER_DIR / "examples" / "animal-1.jpg"
    if peer.exists():
        return "animal-1.jpg", peer.read_bytes()
    import skimage.data

    return "coffee.png", (Path(skimage.data.__file__).resolve().parent / "coffee.png").read_bytes()


def wait(client: httpx.Client, job_id: str, timeout_s: float) -> tuple[dict, float, list[int]]:
    t0, seen = time.monotonic(), []
    while time.monotonic() - t0 < timeout_s:
        doc = client.get(f"/v1/jobs/{job_id}").json()
        seen.append(doc["progress"])
        if doc["status"] in ("completed", "failed"):
            return doc, time.monotonic() - t0, seen
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} not finished within {timeout_s} s: {doc}")


def check_sticker(url: str, max_side: int = 512) -> Image.Image:
    r = httpx.get(url, timeout=10)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(r.content))
    assert img.format == "PNG" and img.mode == "RGBA" and max(img.size) <= max_side
    alpha = np.asarray(img)[..., 3]
    assert alpha[0, 0] == alpha[0, -1] == alpha[-1, 0] == alpha[-1, -1] == 0
    assert (alpha == 255).any()
    return img


def test_image_and_text_jobs_complete_over_http(local: str) -> None:
    name, data = photo_bytes()
    with httpx.Client(base_url=local, headers={"x-api-key": KEY}, timeout=30) as client:
        t_submit = time.monotonic()
        image_job = client.post("/v1/stickers/image", files={"image": (name, data)}).json()["data"]["jobId"]
        text_job = client.post("/v1/stickers/text", json={"text": "Happy Birthday! 🎉", "keywords": ["party", "cake"]}).json()["data"]["jobId"]
        doc, image_s, seen = wait(client, image_job, 120)
        assert doc["status"] == "completed", doc
        assert seen == sorted(seen), "progress only grows"
        assert len(doc["stickers"]) == 5 and doc["attempts"] == 1
        for url in doc["stickers"]:
            check_sticker(url)
        tdoc, _, _ = wait(client, text_job, 60)
        assert tdoc["status"] == "completed" and len(tdoc["stickers"]) == 3
        for url in tdoc["stickers"]:
            check_sticker(url)
        print(f"image job completed {time.monotonic() - t_submit:.1f} s after submission")
        # another key cannot see it
        other = httpx.get(f"{local}/v1/jobs/{image_job}", headers={"x-api-key": "second-key"})
        assert other.status_code == 404 and other.json()["code"] == "JOB_NOT_FOUND"


def test_text_job_alone_is_quick(local: str) -> None:
    with httpx.Client(base_url=local, headers={"x-api-key": KEY}, timeout=30) as client:
        job = client.post("/v1/stickers/text", json={"keywords": ["cat", "sun"]}).json()["data"]["jobId"]
        doc, seconds, _ = wait(client, job, 60)
        assert doc["status"] == "completed"
        print(f"text job completed in {seconds:.2f} s")


def test_generate_cli_downloads_stickers_command(local: str, tmp_path: Path) -> None:
    name, data = photo_bytes()
    photo = tmp_path / name
    photo.write_bytes(data)
    run = subprocess.run(
        stickers_command("generate", str(photo), "--styles", "classic,pixel", "--out", str(tmp_path / "out"), "--api-url", local, "--api-key", KEY),
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    paths = [Path(line) for line in run.stdout.split()]
    assert [p.name.split("-", 1)[1] for p in paths] == ["1-classic.png", "2-pixel.png"]
    assert all(p.exists() and p.stat().st_size > 1000 for p in paths)


def test_live_progress_on_stickers_local(local: str) -> None:
    """The issue's check (docs/api.md, "Live progress over WebSocket"), on `stickers local` in its own
    process with its in-process worker: the key's subscriber gets its job's documents in order, ending
    completed 100; the other key's subscription gets JOB_NOT_FOUND; a bad key cannot connect."""
    import json

    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    ws_url = "ws" + local[len("http"):] + "/ws"
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{ws_url}?key=not-a-key", proxy=None, open_timeout=10)
    assert refused.value.response.status_code == 403
    with httpx.Client(base_url=local, headers={"x-api-key": KEY}, timeout=30) as client, \
            connect(f"{ws_url}?key={KEY}", proxy=None, open_timeout=10) as mine, \
            connect(f"{ws_url}?key=second-key", proxy=None, open_timeout=10) as theirs:  # fmt: skip
        job_id = client.post("/v1/stickers/text", json={"text": "Live!"}).json()["data"]["jobId"]
        mine.send(json.dumps({"action": "subscribe", "jobId": job_id}))
        theirs.send(json.dumps({"action": "subscribe", "jobId": job_id}))
        assert json.loads(theirs.recv(timeout=10))["code"] == "JOB_NOT_FOUND"
        documents = []
        while not documents or documents[-1]["status"] not in ("completed", "failed"):
            message = json.loads(mine.recv(timeout=60))
            assert message["type"] == "job" and message["data"]["jobId"] == job_id, message
            documents.append(message["data"])
        final = client.get(f"/v1/jobs/{job_id}").json()
    assert (documents[-1]["status"], documents[-1]["progress"]) == ("completed", 100) and documents[-1] == final
    progress = [d["progress"] for d in documents]
    assert progress == sorted(progress) and len(set(map(json.dumps, documents))) == len(documents), documents


def test_generate_cli_reports_refusals_and_unreachable_api(local: str, tmp_path: Path) -> None:
    bad = tmp_path / "notes.jpg"
    bad.write_bytes(b"not a photo at all")
    run = subprocess.run(stickers_command("generate", str(bad), "--api-url", local, "--api-key", KEY), capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "UNSUPPORTED_TYPE" in run.stderr
    run = subprocess.run(stickers_command("generate", "--text", "hi", "--api-url", local, "--api-key", "wrong"), capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "403" in run.stderr and "Forbidden" in run.stderr
    run = subprocess.run(stickers_command("generate", "--text", "hi", "--api-url", f"http://127.0.0.1:{processes.free_port()}"), capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "cannot reach the API" in run.stderr


def test_worker_attaches_to_a_stack_without_workers(tmp_path: Path) -> None:
    proc, url = start_local("--workers", "0")
    worker = processes.start_worker(url, log=subprocess.PIPE)
    try:
        with httpx.Client(base_url=url, headers={"x-api-key": KEY}, timeout=30) as client:
            job = client.post("/v1/stickers/text", json={"text": "attached"}).json()["data"]["jobId"]
            doc, _, _ = wait(client, job, 90)
            assert doc["status"] == "completed"
    finally:
        code = processes.stop_process(worker, signal.SIGTERM)
        stop(proc)
    assert code == 0, worker.stdout.read()


def test_demo_makes_image_and_text_stickers_command(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    run = subprocess.run(stickers_command("demo", "--out", str(out)), capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    files = sorted(p.name.split("-", 1)[1] for p in out.glob("*.png"))
    assert files == sorted(["1-classic.png", "2-outline.png", "3-cartoon.png", "4-sketch.png", "5-pop.png", "1-bubble.png", "2-badge.png", "3-retro.png"])
