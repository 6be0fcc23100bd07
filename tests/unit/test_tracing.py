"""X-Ray must not store what the API returns (security review, issue 12): webhook secrets, presigned-POST
credentials and callers' text are in the responses. The functions run with Lambda's active tracing only
(docs/design.md, "Observability"): Lambda records each invocation outside the function, and no code in
the function sends trace data — no Powertools ``Tracer``, no X-Ray SDK in any function nor in the layer
(issue 13: the SDK is in maintenance mode and cost ~150 ms, about a quarter of the API's cold import).
Whatever a handler returns therefore cannot reach a trace. ``tests/artifacts`` checks the running API artifact as well: it
imports no X-Ray SDK and sends nothing to the X-Ray daemon."""

from __future__ import annotations

import ast
from pathlib import Path

from packaging.requirements import Requirement

from tests.conftest import REPO_ROOT

#: Code that runs on Lambda (the functions' assets and the core layer) or in the worker.
SOURCES = (REPO_ROOT / "functions", REPO_ROOT / "layers" / "core" / "stickers_core", REPO_ROOT / "gpu_service")
SDK_PACKAGES = ("aws_xray_sdk", "aws_lambda_powertools.tracing", "opentelemetry")


def _tracing_imports(path: Path) -> list[str]:
    """``file:line module`` of every import of a tracing SDK or of Powertools' ``Tracer`` in `path`."""
    text = path.read_text(encoding="utf-8")
    if not any(word in text for word in ("xray", "Tracer", "tracing", "opentelemetry")):
        return []  # no import of one can be in it (the AST parse is the slow part)
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for module in modules:
            if module.startswith(SDK_PACKAGES) or module == "aws_lambda_powertools.Tracer":
                found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno} {module}")
    return found


def test_no_function_imports_a_tracing_sdk() -> None:
    files = [path for root in SOURCES for path in root.rglob("*.py") if ".venv" not in path.parts]
    assert any(path.name == "app.py" for path in files), "the functions' sources are where this test looks"
    offenders = [hit for path in files for hit in _tracing_imports(path)]
    assert not offenders, f"trace data sent from inside a function can carry responses (docs/reliability.md): {offenders}"


def test_the_layer_lock_ships_no_tracing_sdk() -> None:
    """The layer holds exactly functions/requirements.txt (infra/bundling.py installs it with --no-deps)."""
    lock = (REPO_ROOT / "functions" / "requirements.txt").read_text(encoding="utf-8")
    pinned = {Requirement(line.split("#")[0].strip()).name.lower() for line in lock.splitlines() if line.split("#")[0].strip()}
    assert "aws-lambda-powertools" in pinned and "pydantic" in pinned, "the lock is parsed"
    assert not pinned & {"aws-xray-sdk", "wrapt"}, sorted(pinned)
    wanted = (REPO_ROOT / "functions" / "requirements.in").read_text(encoding="utf-8")
    powertools = [Requirement(line.split("#")[0]) for line in wanted.splitlines() if line.startswith("aws-lambda-powertools")]
    assert powertools and "tracer" not in powertools[0].extras, "the [tracer] extra pulls the X-Ray SDK back in"
    for image_lock in (REPO_ROOT / "functions").glob("*/requirements.lock"):  # functions shipped as images have their own lock
        names = {line.split("==")[0].strip().lower() for line in image_lock.read_text(encoding="utf-8").splitlines() if "==" in line}
        assert not names & {"aws-xray-sdk", "wrapt"}, image_lock
