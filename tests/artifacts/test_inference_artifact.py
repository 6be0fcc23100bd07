"""The CPU inference Lambda's container image, as functions/inference/Dockerfile builds it, run as deployed.

No Docker here: the image's task root is rebuilt from what the Dockerfile does, with a clean CPython 3.12
(the base image's Python): ``functions/inference/requirements.lock`` installed ``pip --no-deps
--require-hashes --target <task root>``, then exactly the project files the Dockerfile ``COPY``s, byte-
compiled as it does; then its build step ``python -m functions.inference.prepare`` builds the int8 u2netp
into the image's model cache folder (``STICKERS_CACHE_DIR``). The task root is cached under
``build/inference-task-<sha256 of the lock and the Python version>`` (the project files are recopied only
when they change), the model folder under ``build/inference-models-<same key>``. Building it shares the
worker image venv's distributions (tests/artifacts/test_worker_lock.py, cached under ``build/`` too): the
wheels both locks pin at the same version are hard-linked from it, and pip installs only the rest
(:func:`share_from_worker_venv`).

The handler then runs in a :class:`local_stack.lambda_runtime.LambdaArtifact`: a ``python3.12 -I -S -B``
process whose ``sys.path`` is the task root, the runtime's boto3 folder and the stdlib, with Lambda's
environment plus the Dockerfile's ``ENV`` and the stack's ``STICKERS_*`` settings, against an embedded
local stack (no worker of its own). One SQS event built from real queue messages (a real photo, a text, a
job another attempt holds) must complete the two jobs and report the held one as the only batch item
failure; the cold init (the handler module's import: imports + model load) is measured and printed, not
asserted; no module may come from outside the artifact (:meth:`LambdaArtifact.foreign_modules`).

Only the static checks of the lock and the Dockerfile run without Python 3.12; the rest is skipped, with the reason.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from stickers_core import limits

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "functions" / "inference"
LOCK, LOCK_INPUT, DOCKERFILE = HERE / "requirements.lock", HERE / "requirements.in", HERE / "Dockerfile"
KEY = "inference-artifact-key"
HANDLER = "functions.inference.app.handler"
#: Packages of the local stack, the CLI, the CDK, the tests and the GPU build: none may reach the image.
NOT_IN_THE_IMAGE = ("moto", "typer", "rich", "aws-cdk-lib", "constructs", "cdk-nag", "pytest", "flask", "werkzeug",
                    "python-multipart", "aws-xray-sdk", "onnxruntime-gpu", "websockets")  # fmt: skip
#: Lambda's init phase limit is 10 s; this shared 2-core machine gets more (the init time is printed).
INIT_TIMEOUT_S = 60.0


# --- what the Dockerfile and the lock say -------------------------------------------------------------------
def lock_pins() -> dict[str, str]:
    """``{canonical name: version}`` of every ``name==version`` line of the lock."""
    return {canonicalize_name(m[1]): m[2] for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", LOCK.read_text(), re.M)}


def instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of the Dockerfile, continuation lines joined, comments dropped."""
    out, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            word, _, rest = pending.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            pending = ""
    return out


def build_args() -> dict[str, str]:
    """The ``ARG`` defaults (``MODEL_NAME=u2netp``, ``MODEL_URL=""`` …)."""
    args = {}
    for word, rest in instructions():
        if word == "ARG":
            name, _, value = rest.partition("=")
            args[name] = value.strip('"')
    return args


def expand(value: str, variables: dict[str, str]) -> str:
    """Docker's ``${NAME}`` and ``${NAME:+word}`` substitutions (the forms the Dockerfile uses)."""
    value = re.sub(r"\$\{(\w+)\}", lambda m: variables.get(m[1], ""), value)  # inner ones first
    return re.sub(r"\$\{(\w+):\+([^}]*)\}", lambda m: m[2] if variables.get(m[1]) else "", value)


def dockerfile_env() -> dict[str, str]:
    """The image's ``ENV`` variables, with the default build arguments."""
    args, env = build_args(), {}
    for word, rest in instructions():
        if word == "ENV":
            for token in shlex.split(rest):
                name, _, value = token.partition("=")
                env[name] = expand(value, args)
    return {k: v for k, v in env.items() if v}


def project_copies() -> list[tuple[list[str], str]]:
    """``(sources, destination under the task root)`` of each ``COPY`` into ``${LAMBDA_TASK_ROOT}``."""
    out = []
    for word, rest in instructions():
        if word == "COPY" and "${LAMBDA_TASK_ROOT}" in rest:
            *sources, dest = rest.split()
            out.append((sources, dest.replace("${LAMBDA_TASK_ROOT}", "").lstrip("/")))
    return out


def test_lock_pins_every_input_within_its_range_with_hashes_and_nothing_of_the_dev_side():
    pins, text = lock_pins(), LOCK.read_text()
    assert text.startswith("# GENERATED by functions/inference/lock.sh"), "the header says how it is regenerated"
    for line in LOCK_INPUT.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            name = canonicalize_name(req.name)
            assert name in pins and req.specifier.contains(pins[name], prereleases=True), f"{name} not pinned within {req.specifier}"
    for block in re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 5)[-1]):
        if "==" in block.split("\n", 1)[0]:
            assert "--hash=sha256:" in block, block.split("\n", 1)[0]
    for name in NOT_IN_THE_IMAGE:
        assert name not in pins, name
    assert "onnxruntime" in pins, "the CPU build of ONNX Runtime"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for line in project["dependencies"]:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        if name in pins:
            assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} outside pyproject's {req.specifier}"


def test_dockerfile_is_the_lambda_python_312_image_of_the_handler_with_the_locked_install():
    steps = instructions()
    assert steps[0] == ("FROM", "public.ecr.aws/lambda/python:3.12")
    assert ("CMD", f'["{HANDLER}"]') in steps
    runs = " ".join(rest for word, rest in steps if word == "RUN")
    assert "pip install --no-deps --require-hashes --target \"${LAMBDA_TASK_ROOT}\" -r /tmp/requirements.lock" in runs
    assert "python -m functions.inference.prepare" in runs, "the model is prepared at build time"
    env = dockerfile_env()
    assert env["STICKERS_EXECUTION_PROVIDER"] == "cpu" and env["STICKERS_CACHE_DIR"].startswith("/opt/")
    assert "STICKERS_MODEL_PATH" not in env, "the default image uses the packaged u2netp"
    copied = {src for sources, _ in project_copies() for src in sources}
    assert {"layers/core/stickers_core", "gpu_service", "functions/inference/app.py"} <= copied
    assert not copied & {"local_stack", "infra", "tests", "functions/api"}, copied


# --- the task root --------------------------------------------------------------------------------------------
def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def project_files() -> list[tuple[Path, Path]]:
    """``(source file, path under the task root)`` of every file the Dockerfile's project ``COPY``s bring
    (``__pycache__`` left out, as .dockerignore does)."""
    out = []
    for sources, dest in project_copies():
        for src in sources:
            source = ROOT / src
            target = Path(dest) / source.name if dest.endswith("/") else Path(dest)
            if source.is_dir():
                out += [(f, target / f.relative_to(source)) for f in sorted(source.rglob("*")) if f.is_file() and "__pycache__" not in f.parts]
            else:
                out.append((source, target))
    return out


def project_digest() -> str:
    """sha256 of the project files' paths and bytes."""
    digest = hashlib.sha256()
    for source, target in project_files():
        digest.update(str(target).encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()


def stage_project(task_root: Path) -> None:
    """Copy the Dockerfile's project ``COPY``s into `task_root`, replacing earlier copies of those folders."""
    for _, dest in project_copies():
        if not dest.endswith("/") and (task_root / dest).is_dir():
            shutil.rmtree(task_root / dest)
    for source, target in project_files():
        (task_root / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, task_root / target)


def share_from_worker_venv(python: str, task_root: Path, tmp: Path) -> set[str]:
    """Hard-link into `task_root` every distribution that the worker image's venv
    (:func:`tests.artifacts.test_worker_lock.build_worker_venv`, cached under ``build/`` and reused by that
    test) holds at the version this lock pins: the files of its ``RECORD`` inside site-packages, byte-code
    included (same interpreter), as ``pip --target`` would have written them. Returns the canonical names
    shared; empty when the worker venv cannot be had (everything is then installed from the lock).

    Both locks pin the same wheels but for the runtime (onnxruntime-gpu there; onnxruntime, OpenVINO and the
    calibration packages here), so on a fresh machine the second build costs only the difference.
    """
    import csv

    from tests.artifacts.test_worker_lock import build_worker_venv

    try:
        venv = build_worker_venv(python, tmp)
    except AssertionError:
        return set()
    (site,) = (venv / "lib").glob("python3.*/site-packages")
    pins, shared = lock_pins(), set()
    for info in sorted(site.glob("*.dist-info")):
        meta = dict(line.split(": ", 1) for line in (info / "METADATA").read_text(errors="replace").splitlines()[:20] if ": " in line)
        name = canonicalize_name(meta.get("Name", ""))
        if name not in pins or Version(pins[name]) != Version(meta.get("Version", "0")):  # 2.000 is 2.0
            continue
        with (info / "RECORD").open(newline="") as record:
            for row in csv.reader(record):
                source = site / row[0]
                if row[0].startswith("..") or not source.is_file():
                    continue
                target = task_root / row[0]
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(source, target)
                except OSError:
                    shutil.copy2(source, target)
        shared.add(name)
    return shared


def lock_without(names: set[str]) -> str:
    """The lock's text without the blocks (pin, hashes, annotation) of the distributions in `names`."""
    blocks = re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text())
    kept = [b for b in blocks if not (m := re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==", b)) or canonicalize_name(m[1]) not in names]
    return "\n".join(kept) + "\n"


def build_task_root(python: str) -> tuple[Path, Path, dict[str, float]]:
    """The image's task root and model folder (module docstring), built or reused; and the seconds spent.

    Raises:
        AssertionError: pip, the byte-compilation or the model preparation failed (their output in the message).
    """
    full_version = _run([python, "-c", "import sys; print(sys.version)"]).stdout.strip()
    key = hashlib.sha256(LOCK.read_bytes() + b"\0" + full_version.encode()).hexdigest()[:16]
    build = ROOT / "build"
    build.mkdir(exist_ok=True)
    task_root, models = build / f"inference-task-{key}", build / f"inference-models-{key}"
    spent: dict[str, float] = {}
    with open(build / "inference-task.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not (task_root / ".complete").exists():
            t0 = time.monotonic()
            shutil.rmtree(task_root, ignore_errors=True)
            pip_venv = build / f"inference-pip-{key}"
            shutil.rmtree(pip_venv, ignore_errors=True)
            task_root.mkdir()
            shared = share_from_worker_venv(python, task_root, build / f"inference-stage-{key}")
            spent["shared_from_worker_venv_s"], t0 = time.monotonic() - t0, time.monotonic()
            rest = build / f"inference-rest-{key}.lock"
            rest.write_text(lock_without(shared))
            _run([python, "-m", "venv", str(pip_venv)])  # a clean pip; the lock goes to the task root only
            _run([str(pip_venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "--no-deps", "--require-hashes",
                  "--target", str(task_root), "-r", str(rest)], timeout=1800)  # fmt: skip
            shutil.rmtree(pip_venv, ignore_errors=True)
            shutil.rmtree(build / f"inference-stage-{key}", ignore_errors=True)
            rest.unlink()
            (task_root / ".complete").write_text(f"{full_version}\nshared with the worker venv: {', '.join(sorted(shared)) or 'nothing'}\n")
            spent["install_s"] = time.monotonic() - t0
            spent["shared_distributions"] = len(shared)
        marker = task_root / ".project-sha256"
        project_sha = project_digest()
        if not marker.exists() or marker.read_text() != project_sha:
            t0 = time.monotonic()
            stage_project(task_root)
            _run([python, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", "stickers_core", "gpu_service", "functions"], cwd=task_root)
            models.mkdir(exist_ok=True)
            env = {"PATH": "/usr/bin:/bin", "HOME": str(models), "PYTHONPATH": str(task_root), "AWS_DEFAULT_REGION": "us-east-1",
                   **dockerfile_env(), "STICKERS_CACHE_DIR": str(models)}  # fmt: skip
            done = _run([python, "-S", "-m", "functions.inference.prepare"], cwd=task_root, env=env, timeout=600)
            (models / "prepare.log").write_text(done.stdout + done.stderr)
            marker.write_text(project_sha)
            spent["prepare_s"] = time.monotonic() - t0
        for old in (*build.glob("inference-task-*"), *build.glob("inference-models-*")):  # earlier locks' builds
            if old.name not in (task_root.name, models.name):
                shutil.rmtree(old, ignore_errors=True)
    return task_root, models, spent


@pytest.fixture(scope="module")
def image(interpreter: str) -> tuple[Path, Path]:
    t0 = time.monotonic()
    task_root, models, spent = build_task_root(interpreter)
    print(f"inference task root {task_root.name} ready in {time.monotonic() - t0:.1f} s {spent}")
    return task_root, models


@pytest.fixture(scope="module")
def stack() -> Iterator[object]:
    from local_stack.stack import LocalStack, api_key_id

    with LocalStack(workers=0, api_keys={KEY: api_key_id(KEY)}) as running:
        yield running


# --- the handler as deployed -----------------------------------------------------------------------------------
pytestmark = [pytest.mark.artifacts]


def test_prepare_built_the_int8_model_into_the_images_cache_folder(image):  # noqa: ANN001
    _, models = image
    log = (models / "prepare.log").read_text()
    assert re.search(r"die-cut jobs: u2netp int8 on \S+ from " + re.escape(str(models)), log), log
    assert "cutout jobs: u2netp fp32" in log, log
    assert list(models.glob("u2netp-*-int8-ort*.onnx")), "the int8 file lies in the image's cache folder"


def test_handler_from_the_task_root_settles_a_real_sqs_batch_with_one_partial_failure(image, runtime_site, interpreter, stack, cat_photo):  # noqa: ANN001
    from local_stack.aws_emulator import aws_environ
    from local_stack.event_source import sqs_record
    from local_stack.lambda_runtime import LambdaArtifact
    from stickers_core.queue import parse_job_id
    from stickers_core.store import ClaimOutcome, JobStore

    task_root, _ = image
    with httpx.Client(base_url=stack.url, headers={"x-api-key": KEY}, timeout=30) as client:
        photo = client.post("/v1/stickers/image", files={"image": ("chelsea.jpg", cat_photo, "image/jpeg")}, data={"styles": "classic,outline,pop"})
        text = client.post("/v1/stickers/text", json={"text": "Happy Birthday! 🎉", "keywords": ["cake"]})
        held = client.post("/v1/stickers/text", json={"text": "held"})
        photo_job, text_job, held_job = (r.json()["data"]["jobId"] for r in (photo, text, held))
        assert JobStore(stack.settings.table_name).claim(held_job, 1)[0] is ClaimOutcome.CLAIMED  # another attempt holds it
        sqs, messages = stack.aws.client("sqs"), {}
        deadline = time.monotonic() + 15
        while len(messages) < 3 and time.monotonic() < deadline:
            for m in sqs.receive_message(QueueUrl=stack.settings.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                         MessageSystemAttributeNames=["All"]).get("Messages", []):  # fmt: skip
                messages[parse_job_id(m["Body"])] = m
        assert set(messages) == {photo_job, text_job, held_job}
        queue_arn = f"arn:aws:sqs:us-east-1:123456789012:{limits.QUEUE_NAME}"
        event = {"Records": [sqs_record(messages[j], queue_arn) for j in (photo_job, text_job, held_job)]}
        environment = {**dockerfile_env(), **stack.settings.to_env(), "STICKERS_CACHE_DIR": str(image[1]),
                       "POWERTOOLS_SERVICE_NAME": limits.SERVICE_NAME, "POWERTOOLS_METRICS_NAMESPACE": limits.METRICS_NAMESPACE}  # fmt: skip
        artifact = LambdaArtifact(task_root, [], runtime_site, handler=HANDLER, function_name="stickers-cpu-inference", memory_mb=3008,
                                  timeout_s=330, environment=environment, aws_environment=aws_environ(stack.aws.endpoint_url),
                                  interpreter=interpreter, init_timeout_s=INIT_TIMEOUT_S)  # fmt: skip
        with artifact:
            result = artifact(event)
            foreign = artifact.foreign_modules()
            logs = list(artifact.logs)
        (report,) = artifact.reports
        assert result == {"batchItemFailures": [{"itemIdentifier": messages[held_job]["MessageId"]}]}, result
        for job, count in ((photo_job, 3), (text_job, 3)):
            doc = client.get(f"/v1/jobs/{job}").json()
            assert doc["status"] == "completed" and doc["attempts"] == 1 and len(doc["stickers"]) == count, doc
            for url in doc["stickers"]:
                r = httpx.get(url, timeout=10)
                assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert client.get(f"/v1/jobs/{held_job}").json()["status"] == "active"
    assert not foreign, f"modules from outside the artifact: {foreign}"
    cold = [json.loads(line) for line in logs if '"cold init"' in line]
    assert len(cold) == 1 and "CPU" in cold[0]["executionProvider"] and cold[0]["quant"] == "int8", cold
    print(f"inference artifact: cold init {artifact.init_ms / 1000:.2f} s as measured by the runtime "
          f"(handler's own: imports {cold[0]['importS']} s + model {cold[0]['modelS']} s); "
          f"batch of 3 in {report.duration_ms / 1000:.2f} s, max memory {report.max_memory_used_mb} MB")  # fmt: skip
