"""Post-model cost, before vs after, side by side in one process: ``StickerPipeline.render_image``
of an older checkout and of this one on the same photo and the same matte (the model runs once per
photo, outside the timing), alternated every round, plus the default text job the same way::

    git worktree add /tmp/before <commit>
    .venv/bin/python -m benchmarks.post_model --before-tree /tmp/before --rounds 30

The older checkout's ``gpu_service`` is imported under another name (a symlink in a temporary
folder), so both pipelines live in this process; ``stickers_core`` is this checkout's. Prints
medians (ms) of the post-model wall time (to_rgb + prepare + styles, render and PNG encode) and of
each stage, and after/before ratios; no timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .photos import find_photos

STYLES = ["classic", "outline", "cartoon", "sketch", "pop"]
TEXTS = [("Good vibes", ["sun"]), ("Happy Birthday!", ["party", "cake"])]


class _Fixed:
    """A segmentation model that returns a precomputed matte."""

    def __init__(self, alpha: np.ndarray) -> None:
        self.alpha = alpha

    def predict(self, rgb: np.ndarray) -> np.ndarray:  # noqa: ARG002 - the photo is the one matted
        return self.alpha


def _alternate(calls: dict[str, callable], rounds: int) -> dict[str, list[float]]:  # type: ignore[valid-type]
    times: dict[str, list[float]] = {k: [] for k in calls}
    names = list(calls)
    for r in range(rounds + 3):  # 3 warm-up rounds
        for name in names[r % 2 :] + names[: r % 2]:
            t0 = time.perf_counter()
            calls[name]()
            if r >= 3:
                times[name].append((time.perf_counter() - t0) * 1000)
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.post_model")
    parser.add_argument("--before-tree", type=Path, required=True, help="an older checkout")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--photos", nargs="*", default=["girl-2", "car-1", "animal-1", "coffee"])
    args = parser.parse_args(argv)
    link_dir = Path(tempfile.mkdtemp(prefix="before-pkg-"))
    (link_dir / "gpu_service_before").symlink_to(args.before_tree.resolve() / "gpu_service")
    sys.path.insert(0, str(link_dir))
    after = importlib.import_module("gpu_service.pipeline.pipeline")
    before = importlib.import_module("gpu_service_before.pipeline.pipeline")
    from gpu_service.pipeline.segmentation import get_model
    from stickers_core.styles import DEFAULT_TEXT_STYLES

    photos = [p for p in find_photos(log=lambda *_: None) if p.name in args.photos]
    print("| photo | before ms | after ms | after / before | styles_wall before → after ms |")
    print("|---|---:|---:|---:|---:|")
    for photo in photos:
        image, _ = after.decode_for_styles(photo.path.read_bytes(), STYLES)
        rgb = np.asarray(image.convert("RGB"))
        alpha = get_model().predict(rgb)
        pipes = {"before": before.StickerPipeline(model=_Fixed(alpha)), "after": after.StickerPipeline(model=_Fixed(alpha))}
        stages: dict[str, list[float]] = {"before": [], "after": []}

        def job(tag: str) -> None:
            timings: dict[str, float] = {}
            pipes[tag].render_image(image, STYLES, timings=timings)
            stages[tag].append(timings["styles_wall"])

        times = _alternate({tag: (lambda tag=tag: job(tag)) for tag in pipes}, args.rounds)
        mb, ma = statistics.median(times["before"]), statistics.median(times["after"])
        wb, wa = statistics.median(stages["before"][3:]), statistics.median(stages["after"][3:])
        print(f"| {photo.name} | {mb:.1f} | {ma:.1f} | {ma / mb:.2f} | {wb:.1f} → {wa:.1f} |")
    print()
    print("| text job (3 stickers) | before ms | after ms | after / before |")
    print("|---|---:|---:|---:|")
    pipes = {"before": before.StickerPipeline(model=object()), "after": after.StickerPipeline(model=object())}
    for text, keywords in TEXTS:
        calls = {tag: (lambda p=p: p.render_text(text, keywords, list(DEFAULT_TEXT_STYLES))) for tag, p in pipes.items()}
        times = _alternate(calls, args.rounds)
        mb, ma = statistics.median(times["before"]), statistics.median(times["after"])
        print(f"| {text!r} + {', '.join(keywords)} | {mb:.1f} | {ma:.1f} | {ma / mb:.2f} |")


if __name__ == "__main__":
    main()
