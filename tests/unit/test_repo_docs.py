"""The repository documents itself: the HTTP contract (docs/api.md), the design (docs/design.md) and the
constructs (infra/README.md) live in the repository, match the code, and production code points at no
document outside it (a clone has no ``../shared``)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from stickers_core.errors import ERROR_CODES

ROOT = Path(__file__).resolve().parents[2]
API_DOC = ROOT / "docs" / "api.md"
DESIGN_DOC = ROOT / "docs" / "design.md"
INFRA_README = ROOT / "infra" / "README.md"
OPENAPI = ROOT / "local_stack" / "static" / "docs" / "openapi.json"
#: What ships or deploys: the layer, the functions, the worker, the local stack, the CDK app.
PRODUCTION_DIRS = ("layers", "functions", "gpu_service", "local_stack", "infra")
#: A reference to a document outside the repository (the contract and design used to live in ../shared).
OUTSIDE_DOCUMENT = re.compile(r"\b(?:API|DESIGN)\.md\b|\.\./shared")
#: Files being rewritten elsewhere at the time of the docs move, whose references are repointed when that
#: work lands; emptying this set is the last step of moving the documents into the repository.
NOT_YET_REPOINTED: set[str] = set()
_METHODS = ("get", "post", "put", "delete", "patch", "head", "options")


def production_files() -> list[Path]:
    return sorted(
        path
        for top in PRODUCTION_DIRS
        for path in (ROOT / top).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".png", ".jpg", ".onnx")
    )


def openapi_routes() -> set[str]:
    paths = json.loads(OPENAPI.read_text(encoding="utf-8"))["paths"]
    return {f"{method.upper()} {path}" for path, operations in paths.items() for method in operations if method in _METHODS}


def test_production_code_points_at_no_document_outside_the_repository() -> None:
    found = []
    for path in production_files():
        relative = path.relative_to(ROOT).as_posix()
        if relative in NOT_YET_REPOINTED:
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore")
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE_DOCUMENT.search(line):
                found.append(f"{relative}:{number}: {line.strip()[:120]}")
    assert found == [], "point these at docs/api.md or docs/design.md:\n" + "\n".join(found)


def test_the_documents_exist() -> None:
    for doc in (API_DOC, DESIGN_DOC, INFRA_README):
        assert doc.is_file() and doc.stat().st_size > 1000, doc


def test_api_doc_lists_every_route_of_the_openapi_document() -> None:
    text = API_DOC.read_text(encoding="utf-8")
    routes = openapi_routes()
    assert len(routes) >= 10
    missing = sorted(route for route in routes if f"### {route}" not in text)
    assert missing == [], f"docs/api.md has no section for {missing}"


def test_every_route_section_of_the_api_doc_exists_or_is_marked_planned() -> None:
    routes = openapi_routes()
    headings = re.findall(r"^### ((?:GET|POST|PUT|DELETE|PATCH) /\S+)(.*)$", API_DOC.read_text(encoding="utf-8"), re.MULTILINE)
    assert headings
    invented = [route for route, rest in headings if route not in routes and "(planned)" not in rest]
    assert invented == [], f"docs/api.md documents routes the API does not have: {invented}"


def test_api_doc_error_table_is_error_codes() -> None:
    rows = re.findall(r"^\| `([A-Z_]+)` \| (\d{3}) \|", API_DOC.read_text(encoding="utf-8"), re.MULTILINE)
    assert dict(rows) == {code: str(status) for code, status in ERROR_CODES.items()}
    assert len(rows) == len(ERROR_CODES), "each code once"


@pytest.mark.parametrize("code", sorted(ERROR_CODES))
def test_api_doc_names_every_error_code(code: str) -> None:
    assert f"`{code}`" in API_DOC.read_text(encoding="utf-8")


def test_infra_readme_covers_every_class_of_infra() -> None:
    text = INFRA_README.read_text(encoding="utf-8")
    classes = {
        node.name
        for module in (ROOT / "infra").glob("*.py")
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
    }
    assert "Api" in classes and "Inference" in classes
    assert sorted(name for name in classes if f"`{name}`" not in text) == []


@pytest.mark.parametrize("doc", [API_DOC, DESIGN_DOC, INFRA_README], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(doc: Path) -> None:
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8"))
    broken = [link for link in links if not link.startswith(("http://", "https://")) and not (doc.parent / link).exists()]
    assert broken == []


def test_a_production_module_over_500_lines_says_why_in_its_docstring() -> None:
    import ast

    long = []
    for path in production_files():
        if path.suffix != ".py" or len(path.read_text(encoding="utf-8").splitlines()) <= 500:
            continue
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if "Why one module of this size" not in doc:
            long.append(str(path))
    assert long == [], "split these modules, or say in their docstring why they are one"
