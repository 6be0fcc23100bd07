"""Run `stickers local` and `stickers worker --attach` as separate processes, as a user would.

Used by the end-to-end and reliability tests and by ``scripts/load_test.py``: each needs a stack in
its own process on a free loopback port, workers that attach to it, and a clean stop.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import IO

import httpx


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stickers_command(*args: str) -> list[str]:
    """The `stickers` CLI of this Python environment as a command line."""
    return [sys.executable, "-m", "local_stack.cli", *args]


def wait_until_serving(url: str, proc: subprocess.Popen, timeout_s: float) -> None:
    """Wait until a `stickers local` at `url` has published its configuration (it is ready then).

    Raises:
        RuntimeError: the process exited, or did not get ready within `timeout_s` seconds (it is killed).
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"stickers local exited with {proc.returncode}")
        try:
            if "env" in httpx.get(f"{url}/_local/config", timeout=1).json():
                return
        except (httpx.TransportError, ValueError):
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"stickers local did not get ready within {timeout_s:.0f} s")


def start_local(
    *extra: str,
    keys: str = "local-dev-key",
    log: IO[str] | int | None = subprocess.DEVNULL,
    cwd: str | None = None,
    timeout_s: float = 90.0,
) -> tuple[subprocess.Popen, str]:
    """Start `stickers local --port <free> --cdn-port 0 --no-access-log EXTRA…` with ``STICKERS_API_KEYS=keys``.

    Args:
        extra: more `stickers local` options (``--workers 0``, ``--visibility-timeout 3``…).
        keys: comma-separated API keys.
        log: where its output goes (a file, ``subprocess.PIPE``, DEVNULL).
        cwd: its working directory.
        timeout_s: how long to wait for it to serve, seconds.

    Returns:
        ``(process, base URL)`` once it serves.

    Raises:
        RuntimeError: see :func:`wait_until_serving`.
    """
    port = free_port()
    env = {**os.environ, "STICKERS_API_KEYS": keys, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        stickers_command("local", "--port", str(port), "--cdn-port", "0", "--no-access-log", *extra),
        env=env, stdout=log, stderr=subprocess.STDOUT, text=True, cwd=cwd,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(url, proc, timeout_s)
    return proc, url


def start_worker(
    url: str, *, env: Mapping[str, str] | None = None, log: IO[str] | int | None = subprocess.DEVNULL, cwd: str | None = None
) -> subprocess.Popen:
    """Start `stickers worker --attach URL` (its own process and model session), polling every 2 s."""
    args = ("worker", "--attach", url, "--log-level", "WARNING", "--receive-wait", "2")
    return subprocess.Popen(stickers_command(*args), env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT, text=True, cwd=cwd)


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGINT, timeout_s: float = 60.0) -> int:
    """Send `sig` and wait for the exit code.

    Raises:
        RuntimeError: the process did not exit within `timeout_s` seconds (it is killed).
    """
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"{proc.args} did not exit within {timeout_s:.0f} s of signal {sig}") from None
