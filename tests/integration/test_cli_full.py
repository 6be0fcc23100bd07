"""`stickers generate --json/--preset/--open` and `stickers jobs list|show|delete` against the embedded stack."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpu_service.worker import Worker
from local_stack.cli import app
from local_stack.client import DIRECT_MAX_BYTES, StickerClient, sniff_image_type
from tests.integration.conftest import KEY_A
from tests.integration.test_api_full import big_photo

pytestmark = pytest.mark.usefixtures("drained")
runner = CliRunner()


@pytest.fixture
def running_worker(stack) -> Iterator[None]:  # noqa: ANN001
    stop = threading.Event()
    worker = Worker(stack.settings, name="cli-test", receive_wait_s=1)
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(30)


def _cli(stack, *args: str):  # noqa: ANN001, ANN202
    return runner.invoke(app, [*args, "--api-url", stack.url, "--api-key", KEY_A])


def test_generate_json_preset_open_and_jobs_commands(stack, running_worker, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    opened = []
    monkeypatch.setattr("webbrowser.open", lambda uri: opened.append(uri) or True)
    r = _cli(stack, "generate", "--text", "Hello", "--count", "2", "--preset", "whatsapp", "--json", "--open", "--out", str(tmp_path))
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout[r.stdout.index("{"):])
    assert doc["status"] == "completed" and doc["preset"] == "whatsapp" and len(doc["stickers"]) == 2
    files = sorted(tmp_path.iterdir())
    assert [f.suffix for f in files] == [".webp", ".webp"]
    assert opened == [files[0].resolve().as_uri()]

    listed = json.loads(_cli(stack, "jobs", "list", "--limit", "5", "--json").stdout)
    assert listed["jobs"][0]["jobId"] == doc["jobId"]
    assert doc["jobId"] in _cli(stack, "jobs", "list").stdout
    shown = _cli(stack, "jobs", "show", doc["jobId"])
    assert shown.exit_code == 0 and json.loads(shown.stdout)["jobId"] == doc["jobId"]
    assert _cli(stack, "jobs", "delete", doc["jobId"]).exit_code == 0
    gone = _cli(stack, "jobs", "show", doc["jobId"])
    assert gone.exit_code == 1 and "JOB_NOT_FOUND" in gone.output


def test_unknown_preset_is_a_usage_error(stack) -> None:  # noqa: ANN001
    r = _cli(stack, "generate", "--text", "x", "--preset", "signal")
    assert r.exit_code == 2


def test_client_sends_large_photos_through_a_presigned_upload(stack) -> None:  # noqa: ANN001
    photo = big_photo()
    assert len(photo) > DIRECT_MAX_BYTES and sniff_image_type(photo) == "image/jpeg"
    with StickerClient(stack.url, KEY_A) as client:
        data = client.submit_image(photo, "big.jpg", ["classic"], None, "telegram")
        assert data["status"] == "queued" and data["preset"] == "telegram"
        assert client.job(data["jobId"])["metadata"]["dimensions"]["width"] == 4000
