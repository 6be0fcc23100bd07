"""Cold import of the API function as Lambda runs it: Python of the runtime's version, the function's
staged code asset, the core layer (byte-compiled, as it ships) and the runtime's pinned boto3 —
optionally side by side with the same artifact built from an earlier commit.

    .venv/bin/python -m benchmarks.layer_cold_import --rounds 9
    .venv/bin/python -m benchmarks.layer_cold_import --rounds 9 --before e0f1dac --importtime 15

Per tree (this working tree, and with ``--before REV`` that commit's files exported by ``git archive``)
the tree's own ``infra/bundling.py`` stages the API function's code asset (``stage_function("api")``,
Lambda's ``/var/task``) and builds the core layer for this machine's architecture with byte-code
(``build_layer_tree``, ``/opt/python``); the runtime's boto3 is ``functions/lambda-runtime.txt``
installed and byte-compiled (:func:`local_stack.lambda_runtime.build_runtime_site`). Then it times
``python3.12 -B -s -c "import functions.api.app"`` with ``PYTHONPATH`` = asset, layer, runtime
(Lambda's order). ``-B`` keeps Python from writing byte-code, as on a read-only mount. The child ends
with ``os._exit(0)`` right after the import, as Lambda's init phase ends there (no interpreter
teardown). The variants and the bare interpreter's start-up are alternated round by round
(:func:`benchmarks.timing.alternate`); per variant the median wall time minus the start-up's, and
the same for the child's CPU time (user + system, ``getrusage``): the import is single-threaded and
reads cached files, so on an idle machine the two agree, and on a shared, loaded one the CPU time is
the steadier figure (wall time then includes waiting for a core).
``--importtime N`` adds one ``-X importtime`` run per variant and prints the N top-level packages
with the most import time (self time summed over their modules; ``-X importtime`` inflates the
absolute figures, the ranking is what it is for). Writes ``benchmarks/results/layer_cold_import.json``.
Needs a Python of the runtime's version (see :func:`infra.bundling.runtime_interpreter`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from .service_bench import EXIT_NOW
from .timing import alternate

ROOT = Path(__file__).resolve().parents[1]
#: The handler module of the API function in its staged asset (infra/bundling.py function_handler).
API_MODULE = "functions.api.app"

__all__ = ["build_artifact", "import_time_by_package", "main", "time_commands"]

#: Run by the venv's Python in a tree (cwd and PYTHONPATH = the tree): that tree's bundling stages the
#: API asset and builds its layer; prints the asset folder.
_BUILD = """
import sys
from pathlib import Path
from infra.bundling import build_layer_tree, stage_function
build_layer_tree(Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4])
print(stage_function("api"))
"""


def build_artifact(tree: Path, out: Path, arch: str, python_version: str, interpreter: str) -> list[Path]:
    """The API function of `tree` as deployed: [code asset, layer ``python/``], built by the tree's own
    ``infra/bundling.py`` (so an older commit gets its own lock and layer recipe).

    Raises:
        subprocess.CalledProcessError: staging or the layer build failed (pip's output on stderr).
    """
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", _BUILD, str(out), arch, python_version, interpreter],
                          cwd=tree, env=env, check=True, capture_output=True, text=True)  # fmt: skip
    return [Path(done.stdout.strip().splitlines()[-1]), out / "python"]


def import_time_by_package(stderr: str) -> Counter[str]:
    """Self import time per top-level package, ms, from ``python -X importtime``'s report
    (lines ``import time: <self us> | <cumulative us> | <indented module>``)."""
    totals: Counter[str] = Counter()
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, module = line.removeprefix("import time:").split("|", 2)
        totals[module.strip().split(".")[0]] += int(self_us) / 1000
    return totals


def time_commands(commands: dict[str, tuple[list[str], dict[str, str]]], rounds: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Each command (name → (argv, environment)) run `rounds` times, alternated, after one warm-up run
    each (it warms the file cache and fails early if the import breaks).

    Returns:
        (wall ms, CPU ms) per name, `rounds` values each; CPU = the child's user + system time.

    Raises:
        subprocess.CalledProcessError: a command failed.
    """
    cpu: dict[str, list[float]] = {name: [] for name in commands}

    def run(name: str) -> None:
        cmd, env = commands[name]
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(cmd, env=env, check=True, cwd=tempfile.gettempdir())
        done = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu[name].append((done.ru_utime - used.ru_utime + done.ru_stime - used.ru_stime) * 1000)

    wall = alternate({name: (lambda name=name: run(name)) for name in commands}, rounds, pause_s=0)
    return wall, {name: v[1:] for name, v in cpu.items()}  # without the warm-up run


def _print_importtime(name: str, by_package: Counter[str], top: int) -> dict[str, float]:
    print(f"\n{name}: -X importtime, self ms per top-level package (total {sum(by_package.values()):.0f} ms)")
    print(", ".join(f"{pkg} {ms:.0f}" for pkg, ms in by_package.most_common(top)))
    return dict(by_package.most_common())


def _export(rev: str, dest: Path) -> Path:
    """`rev`'s files (what building the API artifact reads) exported into `dest` by ``git archive``."""
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "functions", "infra", "layers"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def main(argv: list[str] | None = None) -> dict:
    """Build the artifact(s), time the imports, print a Markdown table, write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.layer_cold_import", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--python-version", default="3.12", help="the functions' runtime (infra/compute.py)")
    parser.add_argument("--before", metavar="REV", help="also time the API artifact of this commit, alternated with this tree's")
    parser.add_argument("--importtime", type=int, default=0, metavar="N", help="print the N costliest packages per variant (-X importtime)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/layer_cold_import.json"))
    args = parser.parse_args(argv)
    from infra.bundling import runtime_interpreter
    from local_stack.lambda_runtime import build_runtime_site, host_architecture

    interpreter = runtime_interpreter(args.python_version)
    if interpreter is None:
        print(f"no Python {args.python_version} found (set STICKERS_LAYER_PYTHON): nothing to measure", file=sys.stderr)
        return {}
    arch = host_architecture()
    work = Path(tempfile.mkdtemp(prefix="layer-cold-"))
    trees = {"this tree": ROOT}
    if args.before:
        trees = {f"before ({args.before})": _export(args.before, work / "before-tree"), **trees}
    runtime = build_runtime_site(interpreter)  # the boto3 that Lambda's Python runtime provides, byte-compiled
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("STICKERS_", "PYTHON", "POWERTOOLS_", "AWS_"))}
    base_env.update({"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "PYTHONDONTWRITEBYTECODE": "1"})
    envs = {}
    for i, (name, tree) in enumerate(trees.items()):
        paths = build_artifact(tree, work / f"layer-{i}", arch, args.python_version, interpreter)
        envs[name] = {**base_env, "PYTHONPATH": os.pathsep.join(map(str, [*paths, runtime]))}
    commands = {name: ([interpreter, "-B", "-s", "-c", f"import {API_MODULE}" + EXIT_NOW], env) for name, env in envs.items()}
    commands["python start-up"] = ([interpreter, "-B", "-s", "-c", "pass" + EXIT_NOW], base_env)
    times, cpu = time_commands(commands, args.rounds)
    medians = {name: statistics.median(v) for name, v in times.items()}
    cpu_medians = {name: statistics.median(v) for name, v in cpu.items()}
    start, cpu_start = medians.pop("python start-up"), cpu_medians.pop("python start-up")
    net = {name: ms - start for name, ms in medians.items()}
    cpu_net = {name: ms - cpu_start for name, ms in cpu_medians.items()}
    results = {"python": interpreter, "architecture": arch, "rounds": args.rounds, "startup_ms": start, "net_import_ms": net,
               "cpu_startup_ms": cpu_start, "cpu_net_import_ms": cpu_net, "raw_ms": times, "raw_cpu_ms": cpu}  # fmt: skip
    print(f"| API function as deployed (Python {args.python_version}, read-only, {args.rounds} alternated rounds) "
          f"| import ms, wall (median, net of start-up {start:.0f} ms) | CPU ms (median, net of start-up's {cpu_start:.0f} ms) |"
          "\n|---|---:|---:|")  # fmt: skip
    for name, ms in net.items():
        print(f"| {name} | {ms:.0f} | {cpu_net[name]:.0f} |")
    if args.before:
        first = next(iter(trees))
        results["this_tree_per_before"] = net["this tree"] / net[first]
        results["cpu_this_tree_per_before"] = cpu_net["this tree"] / cpu_net[first]
        print(f"\nthis tree / before: {results['this_tree_per_before']:.2f} (wall), {results['cpu_this_tree_per_before']:.2f} (CPU)")
    if args.importtime:
        results["importtime_self_ms"] = {}
        for name, env in envs.items():
            done = subprocess.run([interpreter, "-B", "-s", "-X", "importtime", "-c", f"import {API_MODULE}" + EXIT_NOW],
                                  env=env, check=True, capture_output=True, text=True, cwd=tempfile.gettempdir())  # fmt: skip
            results["importtime_self_ms"][name] = _print_importtime(name, import_time_by_package(done.stderr), args.importtime)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
