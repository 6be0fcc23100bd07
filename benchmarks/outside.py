"""Per-photo cost measured from outside: wall time of whole processes, ``--repeat 1`` vs
``--repeat 1+N``, so start-up and model loading cancel out:

    per_photo = (wall(repeat 1+N) - wall(repeat 1)) / N

for ``stickers render IMAGE --repeat`` (ours; optionally also an older checkout's, for before/after)
and for rembg's ``remove()`` loop (:mod:`benchmarks.rembg_repeat` in rembg's venv). Commands are
alternated, the order rotated every round, medians reported. Each process also reports the time of
its own loop (``ms each``; start-up and teardown excluded), and the same difference of the two runs'
loop times gives ``*_loop_ms`` = (loop(1+N) - loop(1)) / N: the per-photo work without the start-up's
noise, which dominates Δwall on a loaded machine; the first call's set-up (our model load happens in
``stickers render``'s first call) cancels as in Δwall. ``--loop-only`` skips the ``--repeat 1`` runs:
its ``*_loop_ms`` then include that set-up / (1 + N) (a biased figure, kept for quick looks)::

    .venv/bin/python -m benchmarks.outside --rounds 5 --extra 10 [--before-tree /tmp/old-checkout] [--also-runtime onnxruntime]

``--also-runtime NAME`` alternates this checkout's ``stickers render`` once more with
``STICKERS_RUNTIME=NAME`` (columns ``ours_NAME``): the same code on the other inference runtime.
Our processes run without the caller's other ``STICKERS_*`` variables (the defaults, as deployed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .photos import find_photos
from .rembg_env import HERE, U2NET_HOME, ensure_venv

ROOT = HERE.parent


#: What each process prints about its own loop: ``stickers render`` (stderr) and rembg_repeat.py (stdout).
_LOOP = re.compile(r"(?:render\(s\) of \d+ sticker\(s\): (\d+(?:\.\d+)?) ms each)|(?:\{\"loop_ms_each\": (\d+(?:\.\d+)?)\})")


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float | None]:
    """(wall seconds of the whole process, the ms per photo it reports for its own loop, or None)."""
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=str(cwd), env=env, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    match = _LOOP.search(done.stdout + done.stderr)
    return wall, (float(match[1] or match[2]) if match else None)


def _row(photo: str, walls: dict[str, list[float]], loops: dict[str, list[float]], whos: list[str], extra: int) -> dict[str, object]:
    """Per-photo ms (Δwall / extra, and each process's own loop time) and the ratios to rembg's."""
    row: dict[str, object] = {"photo": photo}
    for who in whos:
        if f"{who}_1" in walls:
            row[f"{who}_ms"] = (statistics.median(walls[f"{who}_N"]) - statistics.median(walls[f"{who}_1"])) / extra * 1000
        if loops.get(f"{who}_N") and loops.get(f"{who}_1"):  # Δloop: the first call's set-up (our model load) cancels
            row[f"{who}_loop_ms"] = (statistics.median(loops[f"{who}_N"]) * (1 + extra) - statistics.median(loops[f"{who}_1"])) / extra
        elif loops.get(f"{who}_N"):  # --loop-only: includes the first call's set-up / (1 + extra)
            row[f"{who}_loop_ms"] = statistics.median(loops[f"{who}_N"])
    for kind in ("", "_loop"):
        if f"rembg{kind}_ms" in row:
            for who in whos[:-1]:
                if f"{who}{kind}_ms" in row:
                    row[f"{who}{kind}_per_rembg"] = row[f"{who}{kind}_ms"] / row[f"rembg{kind}_ms"]  # type: ignore[operator]
    return row


def _print_table(results: list[dict], others: list[str], kinds: tuple[str, ...]) -> None:
    """The Markdown table of the per-photo rows and their medians."""
    columns = [(f"{who}{kind}{what}", digits) for kind in kinds for what, digits, whos in (("_ms", 0, ["ours", *others, "rembg"]), ("_per_rembg", 2, ["ours", *others]))
               for who in whos]  # fmt: skip
    print("| photo | " + " | ".join(k.replace("_per_", " / ").replace("_ms", " ms/photo") for k, _ in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    rows = [*results, {"photo": "**median**", **{k: statistics.median([r[k] for r in results if k in r])
                                                  for k in (results[0] if results else {}) if k != "photo"}}]  # fmt: skip
    for r in rows:
        print(f"| {r['photo']} | " + " | ".join(f"{r[k]:.{d}f}" if k in r else "–" for k, d in columns) + " |")


def main(argv: list[str] | None = None) -> dict:
    """Run the comparison; print a Markdown table; write JSON next to the harness results."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.outside")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--extra", type=int, default=10, help="N: extra repeats in the long run")
    parser.add_argument("--photos", nargs="*", default=["animal-1", "girl-2", "car-2"], help="photo names, or: all")
    parser.add_argument("--before-tree", type=Path, default=None, help="an older checkout to compare")
    parser.add_argument("--also-runtime", action="append", default=[], choices=["onnxruntime", "openvino"],
                        help="also time ours with STICKERS_RUNTIME set to this (repeatable)")  # fmt: skip
    parser.add_argument("--loop-only", action="store_true", help="only the long runs: per photo = each process's own loop time")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/outside.json"))
    args = parser.parse_args(argv)
    photos = [p for p in find_photos() if p.name in args.photos or args.photos == ["all"]]
    python = ensure_venv()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STICKERS_")}
    env["U2NET_HOME"] = str(U2NET_HOME)
    tmp = Path(tempfile.mkdtemp(prefix="outside-"))
    results = []
    for photo in photos:
        def ours(tree: Path, n: int) -> tuple[list[str], Path]:
            return [sys.executable, "-m", "local_stack.cli", "render", str(photo.path), "--out", str(tmp / tree.name), "--repeat", str(n)], tree

        commands: dict[str, tuple[list[str], Path]] = {}
        runtime_env: dict[str, dict[str, str]] = {}
        for n, tag in ((1, "1"), (1 + args.extra, "N"))[1 if args.loop_only else 0 :]:
            commands[f"ours_{tag}"] = ours(ROOT, n)
            for name in args.also_runtime:
                commands[f"ours_{name}_{tag}"] = ours(ROOT, n)
                runtime_env[f"ours_{name}_{tag}"] = {"STICKERS_RUNTIME": name}
            if args.before_tree:
                commands[f"before_{tag}"] = ours(args.before_tree, n)
            if python:
                commands[f"rembg_{tag}"] = ([str(python), str(HERE / "rembg_repeat.py"), str(photo.path), str(tmp / "r.png"), str(n)], HERE)
        walls: dict[str, list[float]] = {k: [] for k in commands}
        loops: dict[str, list[float]] = {k: [] for k in commands}
        names = list(commands)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[: r % len(names)]:
                cmd, cwd = commands[name]
                run_env = dict(env, PYTHONPATH=os.pathsep.join([str(cwd), str(cwd / "layers" / "core")])) if cwd != HERE else env
                run_env = dict(run_env, **runtime_env.get(name, {}))
                wall, loop = _run(cmd, cwd, run_env)
                walls[name].append(wall)
                if loop is not None:
                    loops[name].append(loop)
        row = _row(photo.name, walls, loops, ["ours", *(f"ours_{name}" for name in args.also_runtime), "before", "rembg"], args.extra)
        results.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rounds": args.rounds, "extra": args.extra, "also_runtime": args.also_runtime, "rows": results}, indent=2))
    others = [*(f"ours_{name}" for name in args.also_runtime), *(["before"] if args.before_tree else [])]
    _print_table(results, others, ("_loop",) if args.loop_only else ("", "_loop"))
    return {"rows": results}


if __name__ == "__main__":
    main()
