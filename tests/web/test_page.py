"""The web page in a real browser: headless Chromium (Debian's) driven by playwright-core from Node.

`node tests/web/page.spec.mjs` opens the page where the local stack's CDN front serves it, on another
origin than the API (as CloudFront and execute-api are on AWS): a photo, a photo over 4 MB (presigned S3
POST) and a text each become stickers (every sticker <img> loaded, naturalWidth > 0), the zip downloads,
and every API response the page read carried CORS headers. ``STICKERS_UPDATE_SCREENSHOT=1`` writes it to docs/images/web-page.png
(the README's picture); otherwise it goes to a temporary folder.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.web
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
PLAYWRIGHT = REPO_ROOT / "node_modules" / "playwright-core"
SCRIPT = REPO_ROOT / "tests" / "web" / "page.spec.mjs"
SCREENSHOT = REPO_ROOT / "docs" / "images" / "web-page.png"


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found (apt-get install -y chromium)"
    if not PLAYWRIGHT.is_dir():
        return f"{PLAYWRIGHT} not found (npm ci)"
    if shutil.which("node") is None:
        return "node not found"
    return None


@pytest.fixture(scope="module")
def local_stack() -> Iterator[Any]:
    from local_stack.stack import DEFAULT_API_KEY, LocalStack, api_key_id

    with LocalStack(workers=1, api_keys={DEFAULT_API_KEY: api_key_id(DEFAULT_API_KEY)}) as stack:
        yield stack


def noisy_photo(path: Path, size: tuple[int, int] = (3200, 2200)) -> int:
    """scikit-image's cat scaled up with noise, saved as a JPEG over 4 MB (the presigned path); its size in bytes."""
    import skimage.data

    base = np.asarray(Image.open(Path(skimage.data.__file__).resolve().parent / "chelsea.png").convert("RGB").resize(size), dtype=np.int16)
    noisy = base + np.random.default_rng(3).normal(0, 14, base.shape).astype(np.int16)
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(path, "JPEG", quality=97)
    return path.stat().st_size


@pytest.mark.skipif(_missing() is not None, reason=_missing() or "")
def test_the_page_on_the_cdn_origin_makes_stickers_through_the_api_on_another_origin(local_stack: Any, tmp_path: Path) -> None:
    import skimage.data

    photo, big = tmp_path / "cat.jpg", tmp_path / "big-cat.jpg"
    Image.open(Path(skimage.data.__file__).resolve().parent / "chelsea.png").convert("RGB").save(photo, quality=92)
    assert 4 * 1024 * 1024 < noisy_photo(big) < 10 * 1024 * 1024
    page_url, api_url = f"{local_stack.cdn_url}/", local_stack.url
    assert urlsplit(page_url).netloc != urlsplit(api_url).netloc, "page and API must be on different origins, as on AWS"
    shot = SCREENSHOT if os.environ.get("STICKERS_UPDATE_SCREENSHOT") == "1" else tmp_path / "web-page.png"
    run = subprocess.run(
        ["node", str(SCRIPT), page_url, api_url, str(photo), str(big), str(shot), "120000"],
        capture_output=True, text=True, timeout=400, cwd=REPO_ROOT,
    )  # fmt: skip
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no result from the page script: {run.stdout}\n{run.stderr}"
    result = json.loads(lines[-1])
    assert run.returncode == 0 and result["ok"], result
    assert result["pageOrigin"] == local_stack.cdn_url
    from stickers_core.styles import IMAGE_STYLE_NAMES

    assert result["styleBoxes"] == len(IMAGE_STYLE_NAMES)
    assert result["stylePreviews"] == len(IMAGE_STYLE_NAMES), "a preview picture per style (docs/make_examples.py styles)"
    photo_run, big_run, text_run = result["runs"]["photo"], result["runs"]["bigPhoto"], result["runs"]["text"]
    assert len(photo_run["stickers"]) == 5 and all(s["w"] > 0 and s["h"] > 0 for s in photo_run["stickers"])
    assert all(s["src"].startswith(f"{local_stack.cdn_url}/stickers/") for s in photo_run["stickers"] + big_run["stickers"])
    assert len(big_run["stickers"]) == 5 and len(text_run["stickers"]) >= 1
    options_run = result["runs"]["options"]
    assert [s["src"].rsplit("-", 1)[1] for s in options_run["stickers"]] == ["charcoal.webp", "watercolor.webp"] or sorted(
        s["src"].rsplit("-", 1)[1] for s in options_run["stickers"]
    ) == ["charcoal.webp", "watercolor.webp"], options_run
    assert all(max(s["w"], s["h"]) == 256 for s in options_run["stickers"]), options_run
    assert result["zip"]["magic"] == "504b0304" and result["zip"]["entries"] == 5
    # every API response the page read carried CORS (else the browser would have hidden it from the page)
    responses = result["apiResponses"]
    routes = {(r["method"], r["path"].split("/")[2] if r["path"].count("/") >= 2 else r["path"]) for r in responses}
    assert {("GET", "styles"), ("POST", "stickers"), ("POST", "uploads")} <= routes, routes
    # each job was followed live over the WebSocket on the API's origin (config.json's wsUrl), to its final state
    sockets = result["websockets"]
    assert len(sockets) == len(result["runs"]) == 4, sockets  # photo, large photo, text, options
    for socket in sockets:
        assert (socket["origin"], socket["path"], socket["keyed"]) == ("ws" + api_url[len("http"):], "/ws", True), socket
        states = [tuple(int(n) for n in r.split(":")[1:]) for r in socket["received"]]
        assert socket["received"][-1].startswith("completed:100:") and states == sorted(states, key=lambda s: (s[1], s[0])), socket
    assert all(r["allowOrigin"] in ("*", local_stack.cdn_url) for r in responses), [r for r in responses if not r["allowOrigin"]]
    # the large photo went from the browser straight to the emulated S3 (a third origin), and S3 took it
    assert any(u["status"] in (200, 201, 204) for u in result["uploads"]), result["uploads"]
    assert Image.open(io.BytesIO(shot.read_bytes())).size[0] >= 1000
    # the API reference is static on the CDN, and "Try it out" targets the API's origin
    assert result["docs"]["title"].startswith("Sticker API") and result["docs"]["operations"] >= 10
    assert result["docs"]["servers"] == [api_url], result["docs"]


class _Recorder(BaseHTTPRequestHandler):
    """A server that must never hear from the page: records every request it gets."""

    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        type(self).seen.append(f"{self.command} {self.path} key={self.headers.get('x-api-key')}")
        self.send_response(200)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_POST = do_OPTIONS = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.skipif(_missing() is not None, reason=_missing() or "")
def test_the_deployed_page_ignores_api_links_and_never_renders_server_strings_as_html(local_stack: Any) -> None:
    evil = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        cdn_port = urlsplit(local_stack.cdn_url).port
        page_url = f"http://stickers.test:{cdn_port}/"  # a non-loopback host name, as on CloudFront
        evil_url = f"http://evil.test:{evil.server_address[1]}"
        run = subprocess.run(["node", str(REPO_ROOT / "tests" / "web" / "hostile.spec.mjs"), page_url, evil_url],
                             capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)  # fmt: skip
    finally:
        evil.shutdown()
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert lines, run.stdout + run.stderr
    result = json.loads(lines[-1])
    assert result["ok"], result
    assert result["toEvil"] == [] and _Recorder.seen == [], "the key went to the ?api= server"
    assert set(result["keyedRequests"]) == {local_stack.url}, "the key goes to the configured API only"
    assert result["imgsInStyles"] == 0 and result["pwned"] is False and "<img" in result["label"]
