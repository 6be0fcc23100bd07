"""Cost of the artistic-media styles (:mod:`gpu_service.pipeline.media`) against ``cartoon``, side by side::

    .venv/bin/python -m benchmarks.media_styles [--rounds 15] [--methods advanced] [--photos chelsea,astronaut,coffee]

Per photo: the model runs once (outside the timing) and :func:`~gpu_service.pipeline.diecut.prepare`
makes the subject at sticker size (≤512 px, as the pipeline does before any style). Each timed call
renders one style on a *fresh copy* of that subject (empty memo of shared planes, so a style pays
for its own bilateral filter, die-cut shapes, flow field…, exactly as when it is the only style of
a job), and every style — ``cartoon`` included — runs in alternation with the order rotated each
round (:func:`benchmarks.timing.alternate`), so the shared machine's noise hits them all alike.
Prints per-photo medians (ms) and each style's median / cartoon's median, and the worst ratio over
the photos. Nothing is asserted: the tests do not time anything.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics

import numpy as np

from .timing import alternate

PHOTOS = ("chelsea", "astronaut", "coffee")


def _subjects(names: list[str]) -> dict[str, object]:
    import skimage.data

    from gpu_service.pipeline.diecut import prepare
    from gpu_service.pipeline.refine import despeckle, despeckle_fraction
    from gpu_service.pipeline.segmentation import get_model

    model = get_model()
    subjects = {}
    for name in names:
        rgb = np.ascontiguousarray(getattr(skimage.data, name)()[..., :3])
        subjects[name] = prepare(rgb, despeckle(model.predict(rgb), despeckle_fraction()))
    return subjects


def main(argv: list[str] | None = None) -> None:
    from gpu_service.pipeline.media import MEDIA_RENDERERS, METHODS
    from gpu_service.pipeline.styles import cartoon

    parser = argparse.ArgumentParser(prog="python -m benchmarks.media_styles")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--methods", default="advanced", help=f"comma-separated, of {', '.join(METHODS)}")
    parser.add_argument("--photos", default=",".join(PHOTOS))
    parser.add_argument("--styles", default=",".join(MEDIA_RENDERERS), help="comma-separated media")
    args = parser.parse_args(argv)
    methods = args.methods.split(",")
    media = args.styles.split(",")
    worst: dict[str, float] = {}
    for photo, subject in _subjects(args.photos.split(",")).items():

        def fresh(subject=subject):  # noqa: ANN001, ANN202 - a copy with an empty memo
            return dataclasses.replace(subject, shapes={}, locks={})

        timers = {"cartoon": lambda: cartoon(fresh())}
        for name in media:
            for method in methods:
                renderer = MEDIA_RENDERERS[name]
                timers[f"{name}/{method}"] = lambda r=renderer, m=method: r(fresh(), 0, m)
        times = alternate(timers, args.rounds)
        base = statistics.median(times["cartoon"])
        w, h = subject.size  # type: ignore[attr-defined]
        print(f"\n{photo} ({w}x{h} px), {args.rounds} alternated rounds: median ms, ratio to cartoon")
        print("| style | median ms | × cartoon |")
        print("| --- | ---: | ---: |")
        for name, values in times.items():
            med = statistics.median(values)
            print(f"| {name} | {med:.1f} | {med / base:.2f} |")
            if name != "cartoon":
                worst[name] = max(worst.get(name, 0.0), med / base)
    print("\nworst ratio to cartoon over the photos:")
    for name, ratio in worst.items():
        print(f"  {name:22s} {ratio:.2f}")


if __name__ == "__main__":
    main()
