"""tests/infra reads the session's one synthesis of the stack: the ``synth`` fixture of tests/conftest.py
(synth takes ~10-40 s on 2 cores), a :class:`tests.cdk_synth.Synth`.

More session syntheses here check what only other context shows: ``synth_defaults`` (cdk.json's
context alone, what a first ``cdk deploy`` gets: ``inference=hybrid``), ``synth_options`` (the optional
keys that change the stack's shape or warnings), and the two other inference modes, ``synth_lambda``
(``inference=lambda``: no VPC, ECS or GPU) and ``synth_gpu`` (``inference=gpu``: no CPU inference Lambda),
each with the synth-time Docker check pointed at a known CLI.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.cdk_synth import ROOT, Synth  # noqa: F401 - re-exported for the tests' type hints

#: Context of ``synth_options``: reserved concurrency (off by default) set, a prod stage (which needs
#: an alarm e-mail), and the account's existing API Gateway CloudWatch role.
OPTIONS_CONTEXT = {
    "apiReservedConcurrency": 50,
    "dlqReservedConcurrency": 5,
    "stage": "prod",
    "alarmEmail": "ops@example.com",
    "apiGatewayCloudWatchRole": "existing",
}
#: A Docker CLI path that does not exist (the synth-time check then warns).
NO_DOCKER = "/nonexistent/docker"


@contextmanager
def docker_cli(path: str) -> Iterator[None]:
    """Point the synth-time Docker check at `path` (``CDK_DOCKER``, which the CDK CLI reads too)."""
    before = os.environ.get("CDK_DOCKER")
    os.environ["CDK_DOCKER"] = path
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("CDK_DOCKER", None)
        else:
            os.environ["CDK_DOCKER"] = before


def working_docker(folder: Path) -> str:
    """A stand-in Docker CLI in `folder` that answers every probe successfully (buildx, daemon)."""
    exe = folder / "docker"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    return str(exe)


def synthesize_with(outdir: Path, context: dict[str, Any] | None, docker: str) -> Synth:
    """Build the app with `context` over cdk.json's (None: cdk.json alone) and the Docker check pointed
    at `docker`, and synthesize it into `outdir` (raises if cdk-nag reports an unacknowledged finding)."""
    from aws_cdk.assertions import Template

    from infra.main import build_app

    with docker_cli(docker):
        app, stack = build_app(context=context, outdir=str(outdir))
    assembly = app.synth()
    template_json = json.loads((outdir / f"{stack.stack_name}.template.json").read_text())
    return Synth(stack=stack, template=Template.from_json(template_json), json=template_json, outdir=outdir, assembly=assembly)


def messages(synth: Synth, level: str) -> list[tuple[str, str]]:
    """(construct path, text) of the stack's annotations of `level` (``warning``, ``info``, ``error``)."""
    artifact = synth.assembly.get_stack_artifact(synth.stack.artifact_id)
    return [(m.id, str(m.entry.data)) for m in artifact.messages if str(m.level).lower().endswith(level)]


def warning_ids(synth: Synth) -> dict[str, str]:
    """``{id: text}`` of the warnings added with an id (their text ends in ``[ack: <id>]``)."""
    out: dict[str, str] = {}
    for _, text in messages(synth, "warning"):
        if text.endswith("]") and "[ack: " in text:
            out[text.rsplit("[ack: ", 1)[1][:-1]] = text
    return out


@pytest.fixture(scope="session")
def synth_defaults(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The stack with cdk.json's context only, synthesized where Docker (with buildx) is present."""
    return synthesize_with(tmp_path_factory.mktemp("cdk.out.defaults"), None, working_docker(tmp_path_factory.mktemp("bin")))


@pytest.fixture(scope="session")
def synth_options(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The stack with :data:`OPTIONS_CONTEXT`, synthesized where there is no Docker."""
    return synthesize_with(tmp_path_factory.mktemp("cdk.out.options"), dict(OPTIONS_CONTEXT), NO_DOCKER)


@pytest.fixture(scope="session")
def synth_lambda(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The stack with ``inference=lambda`` (the CPU inference Lambda only), where there is no Docker."""
    return synthesize_with(tmp_path_factory.mktemp("cdk.out.lambda"), {"inference": "lambda"}, NO_DOCKER)


@pytest.fixture(scope="session")
def synth_gpu(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The stack with ``inference=gpu`` (the ECS GPU fleet only), where there is no Docker."""
    return synthesize_with(tmp_path_factory.mktemp("cdk.out.gpu"), {"inference": "gpu"}, NO_DOCKER)
