"""Synth-time checks of what a first ``cdk deploy`` needs from the account and the deploying machine.

Synthesis needs no credentials and no Docker, so what lives in the account (quotas, the API Gateway
CloudWatch role) cannot be read here: the stack *states* what it needs, as CDK warning annotations
(``cdk synth`` prints them; ``cdk synth --strict`` turns them into errors), and refuses at synth only
what would certainly be broken (a non-GPU instance type, in :func:`check_instance_types`, called by
:meth:`infra.config.StackConfig.validate`). ``docs/deploy.md`` (*First-deploy checklist*) lists the
same items with the command that checks each.

Warnings (ids in ``[ack: …]``, usable with ``Annotations.acknowledge_warning``):

- ``stickers:gpuQuota`` — the EC2 vCPU quota the GPU fleet needs: ``maxTasks`` × the vCPUs of the largest
  allowed instance type, per quota (*Running On-Demand G and VT instances*, or the Spot / P ones).
- ``stickers:gpuTypeUnknown`` — an instance type of a GPU family the table below does not list.
- ``stickers:taskFit`` — the worker container's reservation does not fit an instance type.
- ``stickers:reservedConcurrency`` — reserved Lambda concurrency is set: the account quota it needs.
  (``stickers:gpuQuota``, ``stickers:gpuTypeUnknown`` and ``stickers:taskFit`` only with the GPU fleet:
  ``inference`` ``gpu`` or ``hybrid``.)
- ``stickers:noAlarmEmail`` — stage ``dev`` without ``alarmEmail``: alarms reach no one.
- ``stickers:docker`` — Docker, buildx or the Docker daemon is missing on this machine: ``cdk deploy``
  builds the linux/amd64 worker image with them.

Info: ``apiGatewayCloudWatchRole=existing`` relies on the account setting being there already;
``stickers:noWarmPool``: a GPU warm pool was asked for but Spot or several instance types rule it out.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_cdk import Annotations, Token
from constructs import IConstruct

if TYPE_CHECKING:  # pragma: no cover
    from infra.config import StackConfig

#: Concurrent executions Lambda keeps unreserved in every account and region: reserving R needs an
#: account concurrency quota of at least R + 100 (new accounts often have 10).
LAMBDA_UNRESERVED_MIN = 100
#: Approximate share of an instance's memory ECS can give to tasks (the OS and the agent keep the rest).
ECS_USABLE_MEMORY_SHARE = 0.9


@dataclass(frozen=True)
class GpuInstanceType:
    """One single-GPU instance type the worker runs on (one task per instance).

    Attributes:
        vcpus: vCPUs of the instance (what the EC2 vCPU quotas count).
        memory_gib: instance memory, GiB.
        gpu: the NVIDIA GPU.
        quota_class: ``"G"`` (G and VT quotas) or ``"P"`` (P quotas).
    """

    vcpus: int
    memory_gib: int
    gpu: str
    quota_class: str


#: The instance types the stack knows (NVIDIA, x86_64, one GPU: the image is linux/amd64 CUDA 12 and a
#: task takes one GPU). Others of the families in :data:`GPU_FAMILIES` synthesize with a warning.
GPU_INSTANCE_TYPES: Mapping[str, GpuInstanceType] = {
    "g4dn.xlarge": GpuInstanceType(4, 16, "T4", "G"),
    "g4dn.2xlarge": GpuInstanceType(8, 32, "T4", "G"),
    "g4dn.4xlarge": GpuInstanceType(16, 64, "T4", "G"),
    "g4dn.8xlarge": GpuInstanceType(32, 128, "T4", "G"),
    "g4dn.16xlarge": GpuInstanceType(64, 256, "T4", "G"),
    "g5.xlarge": GpuInstanceType(4, 16, "A10G", "G"),
    "g5.2xlarge": GpuInstanceType(8, 32, "A10G", "G"),
    "g5.4xlarge": GpuInstanceType(16, 64, "A10G", "G"),
    "g5.8xlarge": GpuInstanceType(32, 128, "A10G", "G"),
    "g5.16xlarge": GpuInstanceType(64, 256, "A10G", "G"),
    "g6.xlarge": GpuInstanceType(4, 16, "L4", "G"),
    "g6.2xlarge": GpuInstanceType(8, 32, "L4", "G"),
    "g6.4xlarge": GpuInstanceType(16, 64, "L4", "G"),
    "g6.8xlarge": GpuInstanceType(32, 128, "L4", "G"),
    "g6.16xlarge": GpuInstanceType(64, 256, "L4", "G"),
    "g6e.xlarge": GpuInstanceType(4, 32, "L40S", "G"),
    "g6e.2xlarge": GpuInstanceType(8, 64, "L40S", "G"),
    "p3.2xlarge": GpuInstanceType(8, 61, "V100", "P"),
}
#: NVIDIA x86_64 GPU families (quota class): sizes missing from the table synthesize with a warning.
GPU_FAMILIES: Mapping[str, str] = {
    "g4dn": "G", "g5": "G", "g6": "G", "g6e": "G", "gr6": "G", "p3": "P", "p3dn": "P", "p4d": "P", "p4de": "P",
    "p5": "P", "p5e": "P", "p5en": "P",
}  # fmt: skip
#: Accelerated families the worker image cannot use, with the reason (synth fails).
UNSUPPORTED_FAMILIES: Mapping[str, str] = {
    "g4ad": "AMD Radeon GPUs; the worker needs NVIDIA CUDA",
    "g5g": "Graviton (arm64) instances; the worker image is linux/amd64",
    "p2": "NVIDIA K80 (Kepler), which CUDA 12 in the worker image no longer supports",
    "inf1": "AWS Inferentia, not a GPU",
    "inf2": "AWS Inferentia, not a GPU",
    "trn1": "AWS Trainium, not a GPU",
    "trn2": "AWS Trainium, not a GPU",
    "dl1": "Habana Gaudi, not an NVIDIA GPU",
    "f1": "FPGAs, not a GPU",
}


@dataclass(frozen=True)
class VcpuQuota:
    """An EC2 vCPU quota (service code ``ec2``)."""

    name: str
    code: str


#: (quota class, spot) → the quota that counts the fleet's vCPUs.
EC2_VCPU_QUOTAS: Mapping[tuple[str, bool], VcpuQuota] = {
    ("G", False): VcpuQuota("Running On-Demand G and VT instances", "L-DB2E81BA"),
    ("G", True): VcpuQuota("All G and VT Spot Instance Requests", "L-3819A6DF"),
    ("P", False): VcpuQuota("Running On-Demand P instances", "L-417A185B"),
    ("P", True): VcpuQuota("All P4, P3 and P2 Spot Instance Requests", "L-7212CCBC"),
}
_INSTANCE_TYPE = re.compile(r"([a-z][a-z0-9-]*)\.([a-z0-9]+)")


@dataclass(frozen=True)
class Finding:
    """One synth-time finding.

    Attributes:
        id: stable id (``stickers:…``), shown as ``[ack: id]`` after a warning.
        level: ``"warning"`` or ``"info"``.
        scope: which part of the stack it is about: ``gpu``, ``image``, ``functions``, ``alarms``, ``api``.
        message: what is needed and how to check it.
    """

    id: str
    level: str
    scope: str
    message: str


def instance_family(instance_type: str) -> str:
    """``"g5"`` for ``"g5.xlarge"``.

    Raises:
        ValueError: not of the form ``family.size``.
    """
    m = _INSTANCE_TYPE.fullmatch(instance_type)
    if not m:
        raise ValueError(f"instanceType {instance_type!r}: expected an EC2 instance type such as g5.xlarge")
    return m.group(1)


def check_instance_types(instance_types: Iterable[str]) -> None:
    """Refuse instance types the GPU worker cannot run on (the fleet would never start a task).

    Raises:
        ValueError: no instance type; one is malformed, not a GPU type, or a GPU family the worker image
            cannot use (:data:`UNSUPPORTED_FAMILIES`: AMD, arm64, Kepler, Inferentia/Trainium…).
    """
    types = list(instance_types)
    if not types:
        raise ValueError("instanceType: at least one GPU instance type is needed")
    known = ", ".join(GPU_INSTANCE_TYPES)
    for t in types:
        family = instance_family(t)
        if family in UNSUPPORTED_FAMILIES:
            raise ValueError(f"instanceType {t!r}: {UNSUPPORTED_FAMILIES[family]}. Use an NVIDIA x86_64 GPU type: {known}")
        if t not in GPU_INSTANCE_TYPES and family not in GPU_FAMILIES:
            raise ValueError(
                f"instanceType {t!r} is not a GPU instance type: each worker task needs one NVIDIA GPU "
                f"(the ECS GPU AMI, CUDA 12). Use one of: {known}"
            )


def _region_text(region: str | None) -> str:
    return f"in {region}" if region and not Token.is_unresolved(region) else "in the target region"


def gpu_findings(config: StackConfig, region: str | None = None) -> list[Finding]:
    """The vCPU quota the GPU fleet needs (one warning per quota), unknown sizes, and task fit.

    The Auto Scaling group may run up to ``maxTasks`` instances, any of them the largest allowed type, so
    the quota needed is ``maxTasks`` × the largest vCPU count of each quota class (On-Demand or Spot).
    """
    out: list[Finding] = []
    by_class: dict[str, list[str]] = {}
    for t in config.instance_types:
        spec = GPU_INSTANCE_TYPES.get(t)
        by_class.setdefault(spec.quota_class if spec else GPU_FAMILIES[instance_family(t)], []).append(t)
    where = _region_text(region)
    for quota_class, types in sorted(by_class.items()):
        quota = EC2_VCPU_QUOTAS[(quota_class, config.spot)]
        sized = [t for t in types if t in GPU_INSTANCE_TYPES]
        purchase = "Spot" if config.spot else "On-Demand"
        if sized:
            largest = max(sized, key=lambda t: GPU_INSTANCE_TYPES[t].vcpus)
            vcpus = GPU_INSTANCE_TYPES[largest].vcpus
            need = config.max_tasks * vcpus
            text = (f"needs the EC2 quota '{quota.name}' ({quota.code}) {where} to be at least {need} vCPUs "
                    f"(maxTasks {config.max_tasks} x {vcpus} vCPUs of {largest})")
        else:
            text = (f"needs the EC2 quota '{quota.name}' ({quota.code}) {where} to be at least maxTasks "
                    f"({config.max_tasks}) x the vCPUs of {', '.join(types)}")
        out.append(Finding(
            "stickers:gpuQuota", "warning", "gpu",
            f"GPU fleet ({purchase}: {', '.join(types)}) {text}; new accounts often have 0, and with too "
            "little quota the workers never start (alarm BacklogWithoutWorkers). Check: aws service-quotas "
            f"get-service-quota --service-code ec2 --quota-code {quota.code} --query Quota.Value; raise: aws "
            f"service-quotas request-service-quota-increase --service-code ec2 --quota-code {quota.code} "
            "--desired-value N.",
        ))
    unknown = [t for t in config.instance_types if t not in GPU_INSTANCE_TYPES]
    if unknown:
        out.append(Finding(
            "stickers:gpuTypeUnknown", "warning", "gpu",
            f"instanceType {', '.join(unknown)}: not in infra/preflight.py's table of single-GPU types, so its "
            "vCPUs (quota), memory (task fit) and GPU count are not checked; one worker task uses one GPU.",
        ))
    for t in config.instance_types:
        spec = GPU_INSTANCE_TYPES.get(t)
        if spec is None:
            continue
        usable_mb = int(spec.memory_gib * 1024 * ECS_USABLE_MEMORY_SHARE)
        if config.task_cpu > spec.vcpus * 1024 or config.task_memory_mb > usable_mb:
            out.append(Finding(
                "stickers:taskFit", "warning", "gpu",
                f"the worker reserves taskCpu {config.task_cpu} CPU units and taskMemoryMb {config.task_memory_mb} "
                f"MiB, but {t} offers {spec.vcpus * 1024} units and about {usable_mb} MiB to tasks: no task "
                "would ever be placed on it. Lower taskCpu/taskMemoryMb or drop the type.",
            ))
    return out


def reserved_concurrency_findings(config: StackConfig) -> list[Finding]:
    """A warning naming the Lambda concurrency quota that reserved concurrency needs (none when unset)."""
    total = config.reserved_concurrency_total
    if total <= 0:
        return []
    parts = []
    if config.api_reserved_concurrency is not None:
        parts.append(f"API {config.api_reserved_concurrency}")
    if config.dlq_reserved_concurrency is not None:
        parts.append(f"dead-letter {config.dlq_reserved_concurrency}")
    if config.deploys_lambda and config.lambda_reserved_concurrency is not None:
        parts.append(f"inference {config.lambda_reserved_concurrency}")
    need = total + LAMBDA_UNRESERVED_MIN
    return [Finding(
        "stickers:reservedConcurrency", "warning", "functions",
        f"Reserved Lambda concurrency ({' + '.join(parts)} = {total}) needs the account's concurrent-executions "
        f"quota to be at least {need} ({total} reserved + {LAMBDA_UNRESERVED_MIN} that Lambda keeps unreserved); "
        "new accounts often have 10 and the deploy then fails. Check: aws lambda get-account-settings --query "
        "AccountLimit.ConcurrentExecutions (raise: quota L-B99A9384), or drop apiReservedConcurrency / "
        "dlqReservedConcurrency / lambdaReservedConcurrency.",
    )]


def warm_pool_findings(config: StackConfig) -> list[Finding]:
    """An info note when ``gpuWarmPoolSize`` asks for a warm pool that the GPU group cannot have (Spot, or
    several instance types: EC2 Auto Scaling refuses a warm pool with a mixed instances policy or Spot)."""
    if not config.deploys_gpu or config.gpu_warm_pool_size == 0 or config.gpu_warm_pool:
        return []
    why = "spot=true" if config.spot else f"{len(config.instance_types)} instance types"
    return [Finding(
        "stickers:noWarmPool", "info", "gpu",
        f"No GPU warm pool ({why}): EC2 Auto Scaling allows a warm pool only on a group of one On-Demand instance "
        "type without a mixed instances policy, so GPU instances launch cold (boot, ECS registration, image pull: "
        "minutes). Use one instanceType with spot=false for a warm pool, or set gpuWarmPoolSize=0 to silence this.",
    )]


def alarm_findings(config: StackConfig) -> list[Finding]:
    """A loud warning when alarms go to a topic nobody is subscribed to (only possible in ``dev``)."""
    if config.alarm_email:
        return []
    return [Finding(
        "stickers:noAlarmEmail", "warning", "alarms",
        f"NO ALARM E-MAIL: stage {config.stage!r} has no alarmEmail, so its alarms (dead letters, no GPU "
        "capacity, API errors) reach NO ONE. Deploy with -c alarmEmail=you@example.com (required outside "
        "stage dev) and confirm the subscription e-mail.",
    )]


def cloud_watch_role_findings(config: StackConfig) -> list[Finding]:
    """An info note when the stack relies on the account's existing API Gateway CloudWatch role."""
    from infra.config import CLOUD_WATCH_ROLE_EXISTING

    if config.api_gateway_cloud_watch_role != CLOUD_WATCH_ROLE_EXISTING:
        return []
    return [Finding(
        "stickers:apiGatewayAccount", "info", "api",
        "apiGatewayCloudWatchRole=existing: the stack creates no API Gateway CloudWatch role; the stage (access "
        "and execution logs) fails to deploy unless `aws apigateway get-account` shows a cloudwatchRoleArn "
        "in the region.",
    )]


def docker_findings(docker: str | None = None, timeout_s: float = 15.0) -> list[Finding]:
    """A warning when this machine could not build the worker image at ``cdk deploy``.

    ``cdk deploy`` builds ``gpu_service/Dockerfile`` for linux/amd64 with the Docker CLI (``CDK_DOCKER``
    or ``docker``), which needs buildx for ``--platform`` and a running daemon. Synthesis itself never
    calls Docker, so a missing one is a warning, not an error.

    Args:
        docker: the Docker executable (default: ``$CDK_DOCKER`` or ``docker`` on ``PATH``).
        timeout_s: seconds each probe (``docker buildx version``, ``docker version``) may take.
    """
    exe = docker or os.environ.get("CDK_DOCKER") or "docker"
    path = shutil.which(exe)
    problems: list[str] = []
    if path is None:
        problems.append(f"no Docker CLI ({exe!r} not found)")
    else:
        for args, problem in (
            (["buildx", "version"], "no docker buildx (needed for --platform linux/amd64)"),
            (["version", "--format", "{{.Server.Version}}"], "the Docker daemon is not reachable"),
        ):
            try:
                done = subprocess.run([path, *args], capture_output=True, timeout=timeout_s, check=False)
                ok = done.returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                ok = False
            if not ok:
                problems.append(problem)
    if not problems:
        return []
    return [Finding(
        "stickers:docker", "warning", "image",
        f"Docker on this machine: {'; '.join(problems)}. Synthesis does not need it, but `cdk deploy` builds "
        "the worker images (gpu_service/Dockerfile, functions/inference/Dockerfile; linux/amd64) with Docker and buildx: install Docker "
        "with the buildx plugin and start it (check: docker buildx version && docker info) before deploying.",
    )]


def findings(config: StackConfig, region: str | None = None, docker: str | None = None) -> list[Finding]:
    """Every synth-time finding for `config` (see the module docstring)."""
    return [
        *(gpu_findings(config, region) if config.deploys_gpu else []),
        *warm_pool_findings(config),
        *reserved_concurrency_findings(config),
        *alarm_findings(config),
        *cloud_watch_role_findings(config),
        *docker_findings(docker),
    ]


def annotate(found: Iterable[Finding], scopes: Mapping[str, IConstruct], default: IConstruct) -> None:
    """Attach each finding to its construct (`scopes` by :attr:`Finding.scope`, else `default`) as a CDK
    warning (``add_warning_v2``, with its id) or info annotation."""
    for f in found:
        target = Annotations.of(scopes.get(f.scope, default))
        if f.level == "warning":
            target.add_warning_v2(f.id, f.message)
        else:
            target.add_info(f.message)
