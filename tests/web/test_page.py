"""The web page in a real browser: headless Chromium (Debian's) driven by playwright-core from Node.

`node tests/web/page.spec.mjs` opens the page the local stack serves at `/`, sets a photo on the file
input, presses "Make stickers", waits until every sticker <img> has loaded (naturalWidth > 0), downloads
the zip and takes a screenshot. ``STICKERS_UPDATE_SCREENSHOT=1`` writes it to docs/images/web-page.png
(the README's picture); otherwise it goes to a temporary folder.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

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
def local_stack() -> Iterator[str]:
    from local_stack.stack import DEFAULT_API_KEY, LocalStack, api_key_id

    with LocalStack(workers=1, api_keys={DEFAULT_API_KEY: api_key_id(DEFAULT_API_KEY)}) as stack:
        yield stack.url


@pytest.mark.skipif(_missing() is not None, reason=_missing() or "")
def test_a_photo_becomes_stickers_in_the_browser(local_stack: str, tmp_path: Path) -> None:
    import skimage.data

    photo = tmp_path / "cat.jpg"
    Image.open(Path(skimage.data.__file__).resolve().parent / "chelsea.png").convert("RGB").save(photo, quality=92)
    shot = SCREENSHOT if os.environ.get("STICKERS_UPDATE_SCREENSHOT") == "1" else tmp_path / "web-page.png"
    run = subprocess.run(["node", str(SCRIPT), f"{local_stack}/", str(photo), str(shot), "120000"], capture_output=True, text=True, timeout=240, cwd=REPO_ROOT)
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no result from the page script: {run.stdout}\n{run.stderr}"
    result = json.loads(lines[-1])
    assert run.returncode == 0 and result["ok"], result
    assert result["styleBoxes"] == 7
    assert len(result["stickers"]) == 5 and all(s["w"] > 0 and s["h"] > 0 for s in result["stickers"])
    assert all("/cdn/stickers/" in s["src"] for s in result["stickers"])
    assert result["zip"]["magic"] == "504b0304" and result["zip"]["entries"] == 5
    assert Image.open(io.BytesIO(shot.read_bytes())).size[0] >= 1000
