"""X-Ray must not store what the API returns (security review, issue 12): webhook secrets, presigned-POST
credentials and callers' text are in the responses. Every Powertools tracer decorator in the Lambda code
turns response capture off explicitly, and the functions' environment turns it off too."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO_ROOT

FUNCTIONS = REPO_ROOT / "functions"


def _tracer_decorators(path: Path) -> list[ast.expr]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for deco in node.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                if isinstance(target, ast.Attribute) and target.attr.startswith("capture_"):
                    found.append(deco)
    return found


def test_every_tracer_decorator_turns_response_capture_off() -> None:
    decorators = [d for path in FUNCTIONS.rglob("*.py") for d in _tracer_decorators(path)]
    assert decorators, "the API function is traced"
    for deco in decorators:
        assert isinstance(deco, ast.Call), f"line {deco.lineno}: bare decorator captures responses by default"
        options = {kw.arg: kw.value for kw in deco.keywords}
        assert isinstance(options.get("capture_response"), ast.Constant) and options["capture_response"].value is False, deco.lineno
