"""Fixtures of the artifact tests: a CPython 3.12 (the functions' runtime) and the runtime's boto3 folder.

Both are skipped, with the reason, where no Python 3.12 is found (``python3.12`` on PATH, a pyenv
install, or ``STICKERS_LAYER_PYTHON``: :func:`infra.bundling.runtime_interpreter`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

#: The functions' Python version (infra/compute.py RUNTIME).
PYTHON_VERSION = "3.12"


@pytest.fixture(scope="session")
def interpreter() -> str:
    """A CPython 3.12 executable, or skip."""
    from infra.bundling import runtime_interpreter

    found = runtime_interpreter(PYTHON_VERSION)
    if found is None:
        pytest.skip(f"no Python {PYTHON_VERSION} here (python{PYTHON_VERSION} on PATH, pyenv, or STICKERS_LAYER_PYTHON)")
    return found


@pytest.fixture(scope="session")
def runtime_site(interpreter: str) -> Path:
    """The runtime's site-packages stand-in (boto3 & co of functions/lambda-runtime.txt), cached under build/."""
    from local_stack.lambda_runtime import build_runtime_site

    return build_runtime_site(interpreter)
