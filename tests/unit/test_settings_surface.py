"""One typed settings surface (issue 16 item 2).

Every ``STICKERS_*`` variable the production code names is a field of a settings class
(:class:`stickers_core.settings.Settings`, :class:`~stickers_core.settings.ClientSettings`,
:class:`gpu_service.pipeline.settings.PipelineSettings`) and a row of README's configuration table;
only the settings modules read such a variable from the environment; the worker builds its settings
once and passes them down to the pipeline.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from gpu_service.pipeline.settings import QUANT_MODES, PipelineSettings
from stickers_core.settings import ClientSettings, ExecutionProviderMode, Settings

ROOT = Path(__file__).resolve().parents[2]
#: The production packages: what is deployed (layer, functions, worker image), the local stack and CLI,
#: and the CDK app that sets the variables.
PACKAGES = ("layers/core/stickers_core", "functions", "gpu_service", "local_stack", "infra")
#: Non-Python files that set variables (the worker image's ENV lines).
OTHER_SOURCES = ("gpu_service/Dockerfile",)
#: The modules that read the environment for settings.
SETTINGS_MODULES = ("layers/core/stickers_core/settings.py", "gpu_service/pipeline/settings.py")
#: Modules still allowed to read a ``STICKERS_*`` variable themselves, each with its reason. Keep it short.
ENV_READ_ALLOWED = {
    "infra/bundling.py": "STICKERS_LAYER_PYTHON: a knob of `cdk synth` on the build machine, not a runtime setting",
}
#: Variables of the build machine, not of any host the service runs on (listed in README all the same).
BUILD_TIME = {"STICKERS_LAYER_PYTHON"}
#: Modules that must not touch ``os.environ`` at all: they get their settings passed in.
NO_ENVIRON = (
    "gpu_service/pipeline/ort_runtime.py",
    "gpu_service/pipeline/quantize.py",
    "gpu_service/pipeline/refine.py",
    "gpu_service/pipeline/segmentation.py",
    "gpu_service/pipeline/pipeline.py",
    "gpu_service/worker.py",
    "gpu_service/entry.py",
    "layers/core/stickers_core/webhooks.py",
    "layers/core/stickers_core/gateway_contract.py",
)
SETTINGS_CLASSES = (Settings, ClientSettings, PipelineSettings)
NAME = re.compile(r"STICKERS_[A-Z0-9_]*[A-Z0-9]")

#: A valid, non-default value of every variable (a new variable needs one here).
SAMPLES = {
    "STICKERS_TABLE_NAME": "t",
    "STICKERS_QUEUE_URL": "http://q",
    "STICKERS_DLQ_URL": "http://dlq",
    "STICKERS_UPLOADS_BUCKET": "up",
    "STICKERS_BUCKET": "out",
    "STICKERS_CDN_BASE_URL": "https://cdn.example",
    "STICKERS_JOB_TIMEOUT_S": "12",
    "STICKERS_VISIBILITY_TIMEOUT_S": "13",
    "STICKERS_STOP_TIMEOUT_S": "14",
    "STICKERS_MAX_ATTEMPTS": "5",
    "STICKERS_MODEL_NAME": "u2net",
    "STICKERS_MODEL_PATH": "/opt/models/u2net.onnx",
    "STICKERS_IDEMPOTENCY_TABLE": "idem",
    "STICKERS_WEBHOOK_SECRET": "whsec-sample",
    "STICKERS_WEBHOOK_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:000000000000:secret:s",
    "STICKERS_EXECUTION_PROVIDER": "cpu",
    "STICKERS_RETENTION_DAYS": "7",
    "STICKERS_CORS_ORIGINS": "https://a.example",
    "STICKERS_ALLOW_LOOPBACK_CALLBACKS": "1",
    "STICKERS_API_KEYS": "k1,k2",
    "STICKERS_WORKER_THREADS": "3",
    "STICKERS_RECEIVE_WAIT_S": "2",
    "STICKERS_LOG_LEVEL": "debug",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
    "STICKERS_API_URL": "https://api.example",
    "STICKERS_API_KEY": "key",
    "STICKERS_MODEL_QUANT": "int8",
    "STICKERS_RUNTIME": "onnxruntime",
    "STICKERS_OV_CACHE": "off",
    "STICKERS_ORT_PROVIDERS": "CPUExecutionProvider",
    "STICKERS_ORT_THREADS": "1",
    "STICKERS_ORT_SPIN": "1",
    "STICKERS_ORT_FP16": "1",
    "STICKERS_TRT_CACHE": "/tmp/trt",
    "STICKERS_TTA": "1",
    "STICKERS_DESPECKLE": "0.25",
    "STICKERS_CACHE_DIR": "/tmp/stickers-cache-sample",
    "STICKERS_CONNECTIONS_TABLE": "conns",
    "STICKERS_WS_MANAGEMENT_URL": "https://abc.execute-api.us-east-1.amazonaws.com/dev",
    "STICKERS_WS_MAX_CONNECTIONS_PER_KEY": "7",
    "STICKERS_WS_MAX_SUBSCRIPTIONS": "3",
    "STICKERS_USAGE_PLAN_ID": "plan-1",
    "STICKERS_GENERATOR": "bedrock",
    "STICKERS_BEDROCK_MODEL_ID": "amazon.nova-canvas-v1:0-custom",
    "STICKERS_BEDROCK_REGION": "eu-west-1",
    "STICKERS_BEDROCK_ENDPOINT_URL": "http://127.0.0.1:9",
    "STICKERS_PROMPT_DAILY_QUOTA": "7",
    "STICKERS_WS_URL": "wss://abc.execute-api.us-east-1.amazonaws.com/dev",
    "STICKERS_INFERENCE": "gpu-worker-ecs",
}


def _production_files() -> list[Path]:
    files = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py")) if "__pycache__" not in p.parts]
    assert len(files) > 40, files
    return files


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _names_in_code() -> dict[str, set[str]]:
    """Variable name → files naming it: string constants that are exactly a name (not prose, not a
    Python identifier such as ``limits.STICKERS_PREFIX``), and the names in the Dockerfile."""
    found: dict[str, set[str]] = {}
    for path in _production_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and NAME.fullmatch(node.value):
                found.setdefault(node.value, set()).add(_rel(path))
    for rel in OTHER_SOURCES:
        for name in NAME.findall((ROOT / rel).read_text()):
            found.setdefault(name, set()).add(rel)
    return found


def _settings_env_names() -> set[str]:
    return {var for cls in SETTINGS_CLASSES for var in cls.ENV.values()}


def _readme_rows() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| variable | default | meaning |"), rows[:1]
    return [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in rows[1:] if not row.startswith("| ---")]


def _readme_names() -> set[str]:
    return {name for cells in _readme_rows() for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[0])}


# --- the names --------------------------------------------------------------------------------------------
def test_every_variable_the_code_names_is_a_settings_field():
    names = _names_in_code()
    assert "STICKERS_QUEUE_URL" in names and "STICKERS_EXECUTION_PROVIDER" in names  # the scan sees the code
    fields = _settings_env_names()
    stray = {name: sorted(files) for name, files in names.items() if name not in fields and name not in BUILD_TIME}
    assert not stray, f"STICKERS_* variables that no settings class reads (add a field, or stop using them): {stray}"


def test_every_variable_is_in_readmes_configuration_table():
    listed = _readme_names()
    missing = (set(_names_in_code()) | _settings_env_names()) - listed
    assert not missing, f"README's configuration table lacks {sorted(missing)}"
    for cells in _readme_rows():
        assert len(cells) == 3 and all(cells), f"a row needs a variable, a default and a meaning: {cells}"


def test_each_class_maps_its_variables_to_its_fields_and_reads_them():
    for cls in SETTINGS_CLASSES:
        assert set(cls.ENV) <= set(cls.model_fields), cls
        default = cls()
        for field, var in cls.ENV.items():
            read = cls.from_env({var: SAMPLES[var]})
            assert getattr(read, field) != getattr(default, field), f"{cls.__name__}.{field} is not read from {var}"


def test_the_variables_two_classes_share_are_the_model_and_the_execution_provider():
    shared = set(Settings.ENV.values()) & set(PipelineSettings.ENV.values())
    assert shared == {"STICKERS_MODEL_NAME", "STICKERS_MODEL_PATH", "STICKERS_EXECUTION_PROVIDER"}
    assert not set(ClientSettings.ENV.values()) & (set(Settings.ENV.values()) | set(PipelineSettings.ENV.values()))


# --- who reads the environment ------------------------------------------------------------------------------
def _env_key(node: ast.expr) -> str | None:
    """The variable a key expression names: a ``STICKERS_*`` string or an ``ENV_*`` constant."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and NAME.fullmatch(node.value):
        return node.value
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
    return name if name and name.startswith("ENV_") else None


def _env_reads(tree: ast.AST) -> list[tuple[int, str]]:
    """``x.get(K)``, ``getenv(K)``, ``x[K]`` (read) and ``K in x`` where K names a variable."""
    reads = []
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called in ("get", "getenv"):
                key = _env_key(node.args[0])
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            key = _env_key(node.slice)
        elif isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
            key = _env_key(node.left)
        if key:
            reads.append((node.lineno, key))
    return reads


def test_only_the_settings_modules_read_stickers_variables():
    offenders = {}
    for path in _production_files():
        rel = _rel(path)
        if rel in SETTINGS_MODULES or any(rel.startswith(prefix) for prefix in ENV_READ_ALLOWED):
            continue
        reads = _env_reads(ast.parse(path.read_text(), rel))
        if reads:
            offenders[rel] = reads
    assert not offenders, f"read these through stickers_core.settings / gpu_service.pipeline.settings: {offenders}"


def test_the_scan_sees_a_read():
    tree = ast.parse('import os\nos.environ.get("STICKERS_X")\nos.environ[ENV_Y]\nENV_Z in env\nos.getenv("STICKERS_W")\nos.environ["STICKERS_V"] = "1"')
    assert [key for _, key in _env_reads(tree)] == ["STICKERS_X", "ENV_Y", "ENV_Z", "STICKERS_W"]


def test_the_allowances_are_still_needed():
    """An allowance whose module no longer reads a variable is removed from ENV_READ_ALLOWED."""
    for prefix in ENV_READ_ALLOWED:
        paths = [p for p in _production_files() if _rel(p).startswith(prefix)]
        assert any(_env_reads(ast.parse(p.read_text())) for p in paths), f"{prefix} reads no STICKERS_* variable any more"


@pytest.mark.parametrize("rel", NO_ENVIRON)
def test_modules_that_get_their_settings_passed_in_never_touch_the_environment(rel):
    tree = ast.parse((ROOT / rel).read_text())
    touches = [
        node.lineno
        for node in ast.walk(tree)
        if (isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"))
        or (isinstance(node, ast.ImportFrom) and node.module == "os" and {a.name for a in node.names} & {"environ", "getenv"})
    ]
    assert not touches, f"{rel} touches os.environ on lines {touches}"


# --- values ---------------------------------------------------------------------------------------------------
def test_pipeline_settings_parse_as_the_modules_did():
    assert PipelineSettings.from_env({}).model_dump(exclude={"cache_dir"}) == PipelineSettings().model_dump(exclude={"cache_dir"})
    ps = PipelineSettings.from_env({"STICKERS_EXECUTION_PROVIDER": " CUDA ", "STICKERS_MODEL_QUANT": "INT8",
                                    "STICKERS_ORT_PROVIDERS": " A, ,B ", "STICKERS_ORT_THREADS": " 2 ", "STICKERS_TTA": "true",
                                    "STICKERS_DESPECKLE": " ", "XDG_CACHE_HOME": "/x"})  # fmt: skip
    assert (ps.execution_provider, ps.quant, ps.ort_providers, ps.ort_threads) == ("cuda", "int8", ("A", "B"), 2)
    assert ps.tta is False, "a flag is on for exactly 1"
    assert ps.despeckle == 0.10 and ps.cache_dir == Path("/x/stickers")
    assert PipelineSettings.from_env({"STICKERS_CACHE_DIR": "/c", "XDG_CACHE_HOME": "/x"}).cache_dir == Path("/c")
    assert QUANT_MODES == ("auto", "fp32", "int8")
    with pytest.raises(ValueError, match="unknown execution provider 'gpu'.*auto, cuda, tensorrt, cpu"):
        PipelineSettings.from_env({"STICKERS_EXECUTION_PROVIDER": "gpu"})
    with pytest.raises(ValueError, match="STICKERS_MODEL_QUANT='int4'"):
        PipelineSettings.from_env({"STICKERS_MODEL_QUANT": "int4"})


def test_execution_modes_agree():
    from typing import get_args

    from gpu_service.pipeline.ort_runtime import EXECUTION_MODES

    assert tuple(EXECUTION_MODES) == get_args(ExecutionProviderMode)


def test_service_settings_parse_the_new_fields():
    s = Settings.from_env({"STICKERS_CORS_ORIGINS": "https://a.example/, https://b.example", "STICKERS_ALLOW_LOOPBACK_CALLBACKS": "true",
                           "STICKERS_LOG_LEVEL": " debug ", "STICKERS_WEBHOOK_SECRET": "hush-4711"})  # fmt: skip
    assert s.cors_origins == ("https://a.example", "https://b.example") and Settings().cors_origins == ("*",)
    assert s.allow_loopback_callbacks is False, "loopback callbacks are allowed by exactly 1"
    assert s.log_level == "DEBUG" and s.webhook_secret is not None and s.webhook_secret.get_secret_value() == "hush-4711"
    assert "hush-4711" not in repr(s) and "hush-4711" not in str(s.to_env())
    assert set(s.to_env()) == set(Settings().to_env()), "to_env carries the stack-wide fields only"
    with pytest.raises(ValidationError, match="STICKERS_WORKER_THREADS='two' is not an integer"):
        Settings.from_env({"STICKERS_WORKER_THREADS": "two"})
    with pytest.raises(ValidationError, match="STICKERS_RECEIVE_WAIT_S=30 is out of range 0–20"):
        Settings.from_env({"STICKERS_RECEIVE_WAIT_S": "30"})


def test_webhooks_read_the_secret_source_from_settings():
    from stickers_core import webhooks

    assert webhooks.master_secrets(settings=Settings(webhook_secret="m")) == webhooks.MasterSecrets("m")
    assert webhooks.local_mode(settings=Settings(aws_endpoint_url="http://127.0.0.1:4566"))
    assert webhooks.local_mode(settings=Settings(allow_loopback_callbacks=True))
    assert not webhooks.local_mode(settings=Settings(aws_endpoint_url="https://sqs.us-east-1.amazonaws.com"))
    with pytest.raises(webhooks.WebhookSecretUnavailable):
        webhooks.master_secrets(settings=Settings())


# --- passed down, not read again -------------------------------------------------------------------------------
def test_the_worker_hands_its_pipeline_settings_to_the_model_loader(monkeypatch):
    from gpu_service.pipeline import pipeline as pipeline_module
    from gpu_service.worker import Worker

    service = Settings(model_name="u2net", model_path="/opt/models/u2net.onnx")
    mine = PipelineSettings.for_service(service, {"STICKERS_MODEL_NAME": "ignored", "STICKERS_DESPECKLE": "0.3"})
    assert (mine.model_name, mine.model_path, mine.despeckle) == ("u2net", "/opt/models/u2net.onnx", 0.3), "the model is the service's"
    worker = Worker(service, store=object(), queue=object(), storage=object(), webhooks=None, pipeline_settings=mine)  # type: ignore[arg-type]
    assert worker.pipeline.settings is mine
    seen = []
    monkeypatch.setattr(pipeline_module, "get_job_model", lambda exact, *a, settings=None: seen.append(settings) or "model")
    assert worker.pipeline.model_for(["classic"]) == "model" and seen == [mine]


def test_python_m_gpu_service_refuses_bad_pipeline_settings(capsys):
    from gpu_service import entry

    assert entry.main({"STICKERS_QUEUE_URL": "http://q", "STICKERS_MODEL_QUANT": "int4"}) == entry.EXIT_CONFIG
    assert "invalid STICKERS_* settings" in capsys.readouterr().err
