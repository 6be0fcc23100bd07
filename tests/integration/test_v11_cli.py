"""`stickers generate --method/--format/--size/--rotate/--watermark/--watermark-opacity` and the client's
option fields, against the embedded stack."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpu_service.worker import Worker
from local_stack.cli import app
from local_stack.client import StickerClient, _job_options
from tests.integration.conftest import KEY_A

pytestmark = pytest.mark.usefixtures("drained")
runner = CliRunner()


@pytest.fixture
def running_worker(stack) -> Iterator[None]:  # noqa: ANN001
    stop = threading.Event()
    worker = Worker(stack.settings, name="cli-v11-test", receive_wait_s=1)
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(30)


def _cli(stack, *args: str):  # noqa: ANN001, ANN202
    return runner.invoke(app, [*args, "--api-url", stack.url, "--api-key", KEY_A])


def test_generate_with_output_options(stack, running_worker, tmp_path: Path) -> None:  # noqa: ANN001
    r = _cli(stack, "generate", "--text", "Hello", "--styles", "badge", "--method", "basic", "--format", "webp", "--size", "256",
             "--rotate", "-10", "--watermark", "me", "--watermark-opacity", "0.7", "--json", "--out", str(tmp_path))  # fmt: skip
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout[r.stdout.index("{"):])
    assert doc["status"] == "completed" and doc["method"] == "basic"
    assert doc["output"] == {"format": "webp", "size": 256, "rotate": -10.0, "watermark": "me", "watermarkOpacity": 0.7}
    assert "thumbnail" in doc, "--json prints the whole status document, thumbnail included"
    files = sorted(tmp_path.iterdir())
    # each sticker is saved under its name on the CDN: .webp when the worker wrote WebP
    assert [f.name.split("-", 1)[1] for f in files] == [url.rsplit("/", 1)[1] for url in doc["stickers"]]
    for f in files:
        if f.suffix == ".webp":
            assert f.read_bytes()[:4] == b"RIFF" and f.read_bytes()[8:12] == b"WEBP"


def test_a_bad_option_is_the_apis_error(stack) -> None:  # noqa: ANN001
    r = _cli(stack, "generate", "--text", "x", "--size", "99")
    assert r.exit_code == 1 and "INVALID_OPTION" in r.output
    r = _cli(stack, "generate", "--text", "x", "--preset", "whatsapp", "--format", "png")
    assert r.exit_code == 1 and "CONFLICTING_OPTIONS" in r.output


def test_the_client_sends_options_as_form_fields_and_json_members(stack, cat_photo: bytes) -> None:  # noqa: ANN001
    assert _job_options((), None, None, {"size": 256, "rotate": None, "watermark_opacity": 0.5}) == {"size": 256, "watermarkOpacity": 0.5}
    with pytest.raises(TypeError):
        _job_options((), None, None, {"colour": "red"})
    with StickerClient(stack.url, KEY_A) as client:
        data = client.submit_image(cat_photo, "cat.jpg", ["classic"], None, None, size=200, rotate=-5.5, format="webp", method="artistic")
        doc = client.job(data["jobId"])
        assert doc["output"] == {"format": "webp", "size": 200, "rotate": -5.5, "watermark": None, "watermarkOpacity": 0.5}
        assert doc["method"] == "artistic"
        data = client.submit_text("hi", (), (), None, None, watermark="w", watermark_opacity=0.25)
        assert client.job(data["jobId"])["output"]["watermarkOpacity"] == 0.25
