"""The Lambda-shaped runner itself (local_stack/lambda_runtime.py) on tiny functions, and the locks.

These need a Python 3.12 (skipped without one) but no CDK: each function here is a one-file asset
written by the test, run with the runtime's boto3 folder and no layer, or a layer the test makes.
"""

from __future__ import annotations

import re
import textwrap
import threading
import time
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from local_stack.lambda_runtime import LambdaArtifact, LambdaFunctionError, LambdaInitError, LambdaTimeout

pytestmark = pytest.mark.artifacts

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "functions" / "requirements.txt"
RUNTIME_LOCK = ROOT / "functions" / "lambda-runtime.txt"
#: What the Lambda runtime provides and the layer therefore must not hold.
RUNTIME_ONLY = {"boto3", "botocore", "s3transfer", "urllib3", "python-dateutil", "six"}

PROBE = '''
import decimal, json, os, sys, time

def handler(event, context):
    print("a line the function prints")  # must not break the runner's protocol
    action = event.get("action")
    if action == "raise":
        raise ValueError("boom")
    if action == "unserialisable":
        return {"value": object()}
    if action == "decimal":
        return {"value": decimal.Decimal("1.5")}
    if action == "sleep":
        time.sleep(event["seconds"])
    if action == "import":
        sys.path.append(event["path"])
        __import__(event["module"])
    return {
        "sys_path": sys.path,
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "context": {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "log_group_name": context.log_group_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
    }
'''


def _asset(tmp_path: Path, source: str, name: str = "fn") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "app.py").write_text(textwrap.dedent(source))
    return folder


@pytest.fixture
def probe(tmp_path: Path, interpreter: str, runtime_site: Path):
    layer = tmp_path / "layer"
    (layer / "python").mkdir(parents=True)
    (layer / "python" / "layer_module.py").write_text("VALUE = 42\n")
    artifact = LambdaArtifact(
        _asset(tmp_path, PROBE), [layer], runtime_site, function_name="probe", memory_mb=256, timeout_s=2.0,
        environment={"STICKERS_STAGE": "test"}, aws_environment={"AWS_ACCESS_KEY_ID": "testing"},
        interpreter=interpreter, xray=False,
    )  # fmt: skip
    yield artifact, layer
    artifact.stop()


def test_sys_path_environment_and_context_are_lambdas(probe, runtime_site: Path, monkeypatch) -> None:
    artifact, layer = probe
    out = artifact({"action": "describe"}, None)
    path = out["sys_path"]
    assert path[:4] == [str(artifact.code_dir), str(layer / "python" / "lib" / "python3.12" / "site-packages"),
                        str(layer / "python"), str(runtime_site)]  # fmt: skip
    assert all("site-packages" not in p and "/.venv" not in p for p in path[4:]), path[4:]  # then the stdlib only
    assert out["cwd"] == str(artifact.code_dir)
    env = out["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "probe" and env["_HANDLER"] == "app.handler"
    assert env["LAMBDA_TASK_ROOT"] == str(artifact.code_dir) and env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["AWS_REGION"] == "us-east-1" and env["STICKERS_STAGE"] == "test" and env["AWS_ACCESS_KEY_ID"] == "testing"
    for inherited in ("VIRTUAL_ENV", "PYTHONPATH", "HOME", "PYENV_ROOT"):
        assert inherited not in env, f"{inherited} leaked from the test process"
    ctx = out["context"]
    assert ctx["function_name"] == "probe" and ctx["memory_limit_in_mb"] == "256"  # a string, as on Lambda
    assert ctx["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:probe"
    assert ctx["log_group_name"] == "/aws/lambda/probe"
    assert 0 < ctx["remaining_ms"] <= 2000
    assert any("a line the function prints" in line for line in artifact.logs)
    report = artifact.reports[-1]  # the runtime's REPORT line
    assert report.request_id == ctx["aws_request_id"] and report.memory_size_mb == 256
    assert 5 < report.max_memory_used_mb < 256, "the function's own peak, not the test process's"


def test_the_invokers_context_sets_request_id_and_deadline(probe) -> None:
    artifact, _ = probe

    class Ctx:
        aws_request_id = "req-123"

        def get_remaining_time_in_millis(self) -> int:
            return 700

    ctx = artifact({"action": "describe"}, Ctx())["context"]
    assert ctx["aws_request_id"] == "req-123"
    assert 0 < ctx["remaining_ms"] <= 700


def test_function_errors_come_back_like_lambdas(probe) -> None:
    artifact, _ = probe
    with pytest.raises(LambdaFunctionError) as raised:
        artifact({"action": "raise"}, None)
    assert raised.value.error_type == "ValueError" and raised.value.error_message == "boom"
    assert "app.py" in raised.value.stack_trace[0] and "handler" in raised.value.stack_trace[0]
    with pytest.raises(LambdaFunctionError) as raised:
        artifact({"action": "unserialisable"}, None)
    assert raised.value.error_type == "Runtime.MarshalError"
    assert artifact({"action": "decimal"}, None) == {"value": 1.5}
    assert artifact.cold_starts == 1, "errors do not end the execution environment"


def test_a_timeout_kills_the_environment_and_the_next_call_starts_cold(probe) -> None:
    artifact, _ = probe
    started = time.monotonic()
    with pytest.raises(LambdaTimeout, match="Task timed out after 2.00 seconds"):
        artifact({"action": "sleep", "seconds": 30}, None)
    assert time.monotonic() - started < 10
    assert artifact({"action": "describe"}, None)["context"]["function_name"] == "probe"
    assert artifact.cold_starts == 2


def test_concurrent_callers_are_served_one_event_at_a_time(probe) -> None:
    artifact, _ = probe
    results: list[str] = []

    def call(i: int) -> None:
        results.append(artifact({"action": "describe", "i": i}, None)["context"]["function_name"])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == ["probe"] * 6


def test_a_module_outside_the_artifact_is_reported(probe, tmp_path: Path) -> None:
    artifact, _ = probe
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "stray_module.py").write_text("X = 1\n")
    artifact({"action": "import", "path": str(elsewhere), "module": "stray_module"}, None)
    origins = artifact.module_origins()
    assert origins["app"][0] == "asset"
    assert origins["json"][0] == "stdlib"
    assert artifact.foreign_modules() == {"stray_module": (elsewhere / "stray_module.py").resolve()}


def test_an_import_the_artifact_lacks_fails_init_even_where_this_machine_has_it(tmp_path: Path, interpreter: str, runtime_site: Path) -> None:
    """httpx is installed in the test's virtual environment; the function's process must not see it."""
    import httpx  # noqa: F401 - present here

    artifact = LambdaArtifact(_asset(tmp_path, "import httpx\n\ndef handler(event, context):\n    return 1\n"), [], runtime_site,
                              function_name="no-httpx", interpreter=interpreter, xray=False)  # fmt: skip
    with pytest.raises(LambdaInitError) as raised:
        artifact.start()
    assert raised.value.error_type == "Runtime.ImportModuleError"
    assert raised.value.error_message == "Unable to import module 'app': No module named 'httpx'"
    artifact.stop()


def test_a_missing_handler_is_lambdas_handler_not_found(tmp_path: Path, interpreter: str, runtime_site: Path) -> None:
    artifact = LambdaArtifact(_asset(tmp_path, "X = 1\n"), [], runtime_site, function_name="no-handler",
                              interpreter=interpreter, xray=False)  # fmt: skip
    with pytest.raises(LambdaInitError) as raised:
        artifact.start()
    assert raised.value.error_type == "Runtime.HandlerNotFound"
    artifact.stop()


# --- the locks --------------------------------------------------------------------------------------------
def _pins(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)", line)
        assert match, f"{path.name}: not an exact pin: {raw!r}"
        pins[canonicalize_name(match[1])] = match[2]
    return pins


def test_the_layer_lock_pins_every_distribution_and_leaves_the_runtimes_to_it() -> None:
    header = LOCK.read_text().splitlines()[:3]
    assert any("functions/lock.sh" in line for line in header), "the header says how the lock is made"
    pins = _pins(LOCK)
    runtime = _pins(RUNTIME_LOCK)
    assert "httpx" in pins, "stickers_core.webhooks posts with httpx"
    assert not RUNTIME_ONLY & set(pins), f"the runtime provides {RUNTIME_ONLY & set(pins)}; a layer copy would shadow it"
    assert runtime["boto3"] == runtime["botocore"], "the runtime's boto3 and botocore are released together"
    assert RUNTIME_ONLY <= set(runtime)
    for shared in set(pins) & set(runtime):  # jmespath: the layer's copy comes first on sys.path
        assert pins[shared] == runtime[shared], f"{shared}: the layer and the runtime disagree"


def test_the_pins_are_within_the_projects_ranges() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    ranges = {canonicalize_name(r.name): r.specifier for r in map(Requirement, project)}
    for lock in (LOCK, RUNTIME_LOCK):
        for name, version in _pins(lock).items():
            if name in ranges:
                assert ranges[name].contains(version, prereleases=True), f"{lock.name}: {name}=={version} outside pyproject's {ranges[name]}"
