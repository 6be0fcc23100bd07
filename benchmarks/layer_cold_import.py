"""Cold import of the API function as Lambda runs it: Python of the runtime's version, the layer
mounted read-only, with and without the layer's byte-code, alternated.

    .venv/bin/python -m benchmarks.layer_cold_import --rounds 7

Builds the core layer (``infra/bundling.py``) for this machine's architecture twice — sources only
(what the layer shipped before) and byte-compiled (what it ships now) — plus boto3 (which Lambda's
runtime provides, byte-compiled, in both cases), then times ``python3.12 -B -c "import app"`` with
``PYTHONPATH`` = the function code, the layer, boto3 (Lambda's order: ``/var/task``, ``/opt/python``,
the runtime). ``-B`` keeps Python from writing byte-code, as on a read-only mount. The child ends
with ``os._exit(0)`` right after the import, as Lambda's init phase ends there (no interpreter
teardown). Per variant the median wall time minus that of the bare interpreter's start-up. Writes ``benchmarks/results/layer_cold_import.json``.
Needs a Python of the runtime's version (see :func:`infra.bundling.runtime_interpreter`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from .service_bench import EXIT_NOW
from .timing import alternate

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["main"]


def main(argv: list[str] | None = None) -> dict:
    """Build both layer variants, time the imports, print a Markdown table, write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.layer_cold_import", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--python-version", default="3.12", help="the functions' runtime (infra/compute.py)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/layer_cold_import.json"))
    args = parser.parse_args(argv)
    from infra.bundling import build_layer_tree, compile_command, runtime_interpreter

    interpreter = runtime_interpreter(args.python_version)
    if interpreter is None:
        print(f"no Python {args.python_version} found (set STICKERS_LAYER_PYTHON): nothing to measure", file=sys.stderr)
        return {}
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine().lower()]
    work = Path(tempfile.mkdtemp(prefix="layer-cold-"))
    trees = {"sources only": work / "plain", "byte-compiled": work / "pyc"}
    build_layer_tree(trees["sources only"], arch, args.python_version, None)
    build_layer_tree(trees["byte-compiled"], arch, args.python_version, interpreter)
    runtime = work / "runtime"  # stands in for the boto3 that Lambda's Python runtime provides
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
           "--only-binary=:all:", "--python-version", args.python_version, "--target", str(runtime), "boto3"]  # fmt: skip
    subprocess.run(pip, check=True)
    subprocess.run(compile_command(interpreter, runtime), check=False, capture_output=True)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("STICKERS_", "PYTHON"))}
    base_env.update({"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "PYTHONDONTWRITEBYTECODE": "1"})
    code = str(ROOT / "functions" / "api")
    envs = {name: {**base_env, "PYTHONPATH": os.pathsep.join([code, str(tree / "python"), str(runtime)])}
            for name, tree in trees.items()}  # fmt: skip
    commands = {name: ([interpreter, "-B", "-s", "-c", "import app" + EXIT_NOW], env) for name, env in envs.items()}
    commands["python start-up"] = ([interpreter, "-B", "-s", "-c", "pass" + EXIT_NOW], base_env)
    # the warm-up call of each warms the file cache and fails early if the import breaks
    times = alternate({name: (lambda cmd=cmd, env=env: subprocess.run(cmd, env=env, check=True, cwd=tempfile.gettempdir()))
                       for name, (cmd, env) in commands.items()}, args.rounds, pause_s=0)  # fmt: skip
    medians = {name: statistics.median(v) for name, v in times.items()}
    start = medians.pop("python start-up")
    net = {name: ms - start for name, ms in medians.items()}
    results = {"python": interpreter, "architecture": arch, "rounds": args.rounds, "startup_ms": start,
               "net_import_ms": net, "sources_per_bytecode": net["sources only"] / net["byte-compiled"]}  # fmt: skip
    print(f"| layer (Python {args.python_version}, read-only, {args.rounds} alternated rounds) | import ms (median, net of start-up {start:.0f} ms) |")
    print("|---|---:|")
    for name, ms in net.items():
        print(f"| {name} | {ms:.0f} |")
    print(f"\nsources only / byte-compiled: {results['sources_per_bytecode']:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
