"""Per-photo cost measured from outside: wall time of whole processes, ``--repeat 1`` vs
``--repeat 1+N``, so start-up and model loading cancel out:

    per_photo = (wall(repeat 1+N) - wall(repeat 1)) / N

for ``stickers render IMAGE --repeat`` (ours; optionally also an older checkout's, for before/after)
and for rembg's ``remove()`` loop (:mod:`benchmarks.rembg_repeat` in rembg's venv). Commands are
alternated, the order rotated every round, medians reported::

    .venv/bin/python -m benchmarks.outside --rounds 5 --extra 10 [--before-tree /tmp/old-checkout]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .photos import find_photos
from .rembg_env import HERE, U2NET_HOME, ensure_venv

ROOT = HERE.parent


def _wall(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=str(cwd), env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict:
    """Run the comparison; print a Markdown table; write JSON next to the harness results."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.outside")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--extra", type=int, default=10, help="N: extra repeats in the long run")
    parser.add_argument("--photos", nargs="*", default=["animal-1", "girl-2", "car-2"], help="photo names, or: all")
    parser.add_argument("--before-tree", type=Path, default=None, help="an older checkout to compare")
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
        for n, tag in ((1, "1"), (1 + args.extra, "N")):
            commands[f"ours_{tag}"] = ours(ROOT, n)
            if args.before_tree:
                commands[f"before_{tag}"] = ours(args.before_tree, n)
            if python:
                commands[f"rembg_{tag}"] = ([str(python), str(HERE / "rembg_repeat.py"), str(photo.path), str(tmp / "r.png"), str(n)], HERE)
        walls: dict[str, list[float]] = {k: [] for k in commands}
        names = list(commands)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[: r % len(names)]:
                cmd, cwd = commands[name]
                run_env = dict(env, PYTHONPATH=os.pathsep.join([str(cwd), str(cwd / "layers" / "core")])) if cwd != HERE else env
                walls[name].append(_wall(cmd, cwd, run_env))
        row: dict[str, object] = {"photo": photo.name}
        for who in ("ours", "before", "rembg"):
            if f"{who}_1" in walls:
                row[f"{who}_ms"] = (statistics.median(walls[f"{who}_N"]) - statistics.median(walls[f"{who}_1"])) / args.extra * 1000
        if "rembg_ms" in row:
            row["ours_per_rembg"] = row["ours_ms"] / row["rembg_ms"]  # type: ignore[operator]
            if "before_ms" in row:
                row["before_per_rembg"] = row["before_ms"] / row["rembg_ms"]  # type: ignore[operator]
        results.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rounds": args.rounds, "extra": args.extra, "rows": results}, indent=2))
    print("| photo | before ms/photo | ours ms/photo | rembg ms/photo | before / rembg | ours / rembg |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        f = lambda k, d=0: f"{r[k]:.{d}f}" if k in r else "–"  # noqa: E731
        print(f"| {r['photo']} | {f('before_ms')} | {f('ours_ms')} | {f('rembg_ms')} | {f('before_per_rembg', 2)} | {f('ours_per_rembg', 2)} |")
    return {"rows": results}


if __name__ == "__main__":
    main()
