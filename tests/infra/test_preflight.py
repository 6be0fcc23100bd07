"""Synth-time checks (infra/preflight.py, StackConfig.validate): what a first deploy needs, without a synth.

The warnings' presence in a synthesized assembly is asserted in test_stack.py; here each check is fed
configurations directly, and the context errors go through ``build_app`` (they raise before any
construct is made, so these tests are fast).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from infra import preflight
from infra.config import StackConfig

pytestmark = pytest.mark.cdk
ROOT = Path(__file__).resolve().parents[2]


def _config(**changes) -> StackConfig:  # noqa: ANN003
    cfg = dataclasses.replace(StackConfig(), **changes)
    cfg.validate()
    return cfg


def _build(context: dict) -> None:
    from infra.main import build_app

    build_app(context=context, outdir="/nonexistent-never-written")


# ----------------------------------------------------------------------------------- instance types
@pytest.mark.parametrize(
    ("instance_type", "reason"),
    [
        ("m5.large", "is not a GPU instance type"),
        ("c7i.2xlarge", "is not a GPU instance type"),
        ("g5g.xlarge", "arm64"),
        ("g4ad.xlarge", "AMD"),
        ("inf2.xlarge", "Inferentia"),
        ("p2.xlarge", "Kepler"),
        ("g5", "expected an EC2 instance type"),
    ],
)
def test_synth_refuses_instance_types_the_worker_cannot_use(instance_type: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        _build({"instanceType": f"g5.xlarge,{instance_type}"})


def test_gpu_instance_types_pass() -> None:
    preflight.check_instance_types(["g5.xlarge", "g4dn.xlarge", "g6.xlarge", "g6e.xlarge", "p3.2xlarge", "g5.12xlarge"])
    with pytest.raises(ValueError, match="at least one"):
        preflight.check_instance_types([])


# ----------------------------------------------------------------------------------------- GPU quota
def _one(found: list[preflight.Finding], finding_id: str) -> preflight.Finding:
    (f,) = [f for f in found if f.id == finding_id]
    return f


def test_gpu_quota_is_max_tasks_times_the_largest_type_on_demand() -> None:
    found = preflight.gpu_findings(_config(instance_types=["g5.xlarge", "g5.2xlarge"], max_tasks=6), region="eu-west-1")
    f = _one(found, "stickers:gpuQuota")
    assert f.level == "warning"
    assert "'Running On-Demand G and VT instances' (L-DB2E81BA) in eu-west-1" in f.message
    assert "at least 48 vCPUs (maxTasks 6 x 8 vCPUs of g5.2xlarge)" in f.message
    assert "--quota-code L-DB2E81BA" in f.message


def test_gpu_quota_with_spot_and_with_p_types_names_those_quotas() -> None:
    spot = _one(preflight.gpu_findings(_config(spot=True, max_tasks=2)), "stickers:gpuQuota")
    assert "L-3819A6DF" in spot.message and "at least 8 vCPUs" in spot.message and "in the target region" in spot.message
    mixed = [f for f in preflight.gpu_findings(_config(instance_types=["g5.xlarge", "p3.2xlarge"], max_tasks=3))
             if f.id == "stickers:gpuQuota"]
    assert len(mixed) == 2, "one warning per quota the ASG may draw on"
    assert "L-DB2E81BA" in mixed[0].message and "at least 12 vCPUs" in mixed[0].message
    assert "L-417A185B" in mixed[1].message and "at least 24 vCPUs" in mixed[1].message


def test_a_gpu_size_outside_the_table_is_a_warning_not_an_error() -> None:
    found = preflight.gpu_findings(_config(instance_types=["g5.12xlarge"]))
    assert "g5.12xlarge" in _one(found, "stickers:gpuTypeUnknown").message
    assert "x the vCPUs of g5.12xlarge" in _one(found, "stickers:gpuQuota").message


def test_a_task_that_cannot_fit_the_instance_is_flagged() -> None:
    assert not [f for f in preflight.gpu_findings(_config()) if f.id == "stickers:taskFit"], "defaults fit g5.xlarge"
    big = _config(task_memory_mb=20000, task_memory_limit_mb=20000, instance_types=["g5.xlarge", "g6e.xlarge"])
    (f,) = [f for f in preflight.gpu_findings(big) if f.id == "stickers:taskFit"]
    assert "g5.xlarge" in f.message and "g6e.xlarge" not in f.message  # 32 GiB fits 20000 MiB
    cpu = _config(task_cpu=8192)
    assert _one(preflight.gpu_findings(cpu), "stickers:taskFit")


# ---------------------------------------------------------------------------------- reserved concurrency
def test_reserved_concurrency_is_off_by_default_and_warns_with_the_quota_when_set() -> None:
    d = StackConfig()
    assert d.api_reserved_concurrency is None and d.dlq_reserved_concurrency is None
    assert preflight.reserved_concurrency_findings(d) == []
    (f,) = preflight.reserved_concurrency_findings(_config(api_reserved_concurrency=50, dlq_reserved_concurrency=5))
    assert f.id == "stickers:reservedConcurrency" and f.level == "warning" and f.scope == "functions"
    assert "API 50 + dead-letter 5 = 55" in f.message and "at least 155" in f.message
    (only_api,) = preflight.reserved_concurrency_findings(_config(api_reserved_concurrency=20))
    assert "at least 120" in only_api.message


def test_reserved_concurrency_context_values() -> None:
    from aws_cdk import App

    for value, expected in ((None, None), ("none", None), ("off", None), (-1, None), ("50", 50), (0, 0)):
        ctx = {} if value is None else {"apiReservedConcurrency": value}
        assert StackConfig.from_node(App(context=ctx).node).api_reserved_concurrency == expected, value
    with pytest.raises(ValueError, match="dlqReservedConcurrency"):
        _build({"dlqReservedConcurrency": -5})


# ---------------------------------------------------------------------------------------------- alarms
def test_outside_dev_synth_fails_without_an_alarm_email() -> None:
    with pytest.raises(ValueError, match="stage 'prod' needs an alarmEmail"):
        _build({"stage": "prod"})
    with pytest.raises(ValueError, match="needs an alarmEmail"):
        _build({"stage": "staging", "alarmEmail": ""})
    with pytest.raises(ValueError, match="not an e-mail address"):
        _build({"stage": "prod", "alarmEmail": "ops"})
    cfg = _config(stage="prod", alarm_email="ops@example.com")
    assert preflight.alarm_findings(cfg) == []


def test_dev_without_an_alarm_email_is_a_loud_warning() -> None:
    (f,) = preflight.alarm_findings(StackConfig())
    assert f.id == "stickers:noAlarmEmail" and f.level == "warning" and f.scope == "alarms"
    assert f.message.startswith("NO ALARM E-MAIL") and "reach NO ONE" in f.message


# ---------------------------------------------------------------------------- API Gateway CloudWatch role
def test_cloud_watch_role_mode() -> None:
    assert StackConfig().api_gateway_cloud_watch_role == "create" and StackConfig().creates_api_gateway_account
    assert preflight.cloud_watch_role_findings(StackConfig()) == []
    existing = _config(api_gateway_cloud_watch_role="existing")
    assert not existing.creates_api_gateway_account
    (f,) = preflight.cloud_watch_role_findings(existing)
    assert f.level == "info" and "aws apigateway get-account" in f.message
    with pytest.raises(ValueError, match="apiGatewayCloudWatchRole 'delete'"):
        _build({"apiGatewayCloudWatchRole": "delete"})


# ------------------------------------------------------------------------------------------------ Docker
def _fake_docker(folder: Path, *, buildx: bool, daemon: bool) -> str:
    """A stand-in Docker CLI: `buildx version` and `version --format …` succeed or fail as told."""
    exe = folder / "docker"
    exe.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = buildx ]; then exit {0 if buildx else 1}; fi\n'
        f'if [ "$1" = version ]; then exit {0 if daemon else 1}; fi\n'
        "exit 2\n"
    )
    exe.chmod(0o755)
    return str(exe)


def test_docker_with_buildx_and_a_daemon_is_no_finding(tmp_path: Path) -> None:
    assert preflight.docker_findings(_fake_docker(tmp_path, buildx=True, daemon=True)) == []


@pytest.mark.parametrize(
    ("buildx", "daemon", "problem"),
    [(False, True, "no docker buildx"), (True, False, "daemon is not reachable"), (False, False, "no docker buildx")],
)
def test_docker_without_buildx_or_daemon_warns(tmp_path: Path, buildx: bool, daemon: bool, problem: str) -> None:
    (f,) = preflight.docker_findings(_fake_docker(tmp_path, buildx=buildx, daemon=daemon))
    assert f.id == "stickers:docker" and f.level == "warning" and problem in f.message
    assert "cdk deploy" in f.message and "linux/amd64" in f.message


def test_no_docker_at_all_warns_and_cdk_docker_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDK_DOCKER", str(tmp_path / "missing-docker"))
    (f,) = preflight.docker_findings()
    assert "no Docker CLI" in f.message and "missing-docker" in f.message
    monkeypatch.setenv("CDK_DOCKER", _fake_docker(tmp_path, buildx=True, daemon=True))
    assert preflight.docker_findings() == []


# -------------------------------------------------------------------------------------------- the docs
def test_deploy_doc_starts_with_the_checklist_and_documents_every_context_key() -> None:
    import json

    doc = (ROOT / "docs" / "deploy.md").read_text()
    checklist = doc[: doc.index("## Prerequisites")]
    assert doc.splitlines()[2] == "## First-deploy checklist"
    for command in (
        "aws service-quotas get-service-quota --service-code ec2 --quota-code L-DB2E81BA",
        "aws lambda get-account-settings",
        "docker buildx version",
        "aws apigateway get-account",
        "cdk bootstrap aws://ACCOUNT/REGION",
        "L-3819A6DF",
    ):
        assert command in checklist, command
    table = doc[doc.index("## Context parameters"): doc.index("## First request")]
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    for key in (k for k in context if not k.startswith("@")):
        assert f"`{key}`" in table, f"context key {key} is not in docs/deploy.md's table"
    assert context["apiGatewayCloudWatchRole"] == "create"
    assert context["apiReservedConcurrency"] is None and context["dlqReservedConcurrency"] is None
