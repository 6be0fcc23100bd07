"""Security review leftovers (issue 12 item 8), as synthesized: HTTPS-only egress of the workers, a
read-only root filesystem with a tmpfs and a hard memory limit, prefix-scoped ListBucket, exact actions on
the idempotency table, the instance role's log actions on the worker's log group only, and Application
Auto Scaling's service-linked role instead of a stack-owned one."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.cdk


def _statements(synth, role) -> list[dict]:  # noqa: ANN001
    return synth.role_statements(role)


def _actions(statement: dict) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def test_workers_egress_is_https_only(synth) -> None:  # noqa: ANN001
    group = synth.json["Resources"][synth.logical_id(synth.stack.inference.security_group)]["Properties"]
    assert group["SecurityGroupEgress"] == [
        {"CidrIp": "0.0.0.0/0", "Description": "HTTPS only", "FromPort": 443, "IpProtocol": "tcp", "ToPort": 443}
    ]
    assert "SecurityGroupIngress" not in group


def test_worker_container_is_read_only_with_a_scratch_tmpfs_and_a_memory_limit(synth) -> None:  # noqa: ANN001
    (task,) = synth.resources("AWS::ECS::TaskDefinition").values()
    (container,) = task["Properties"]["ContainerDefinitions"]
    assert container["ReadonlyRootFilesystem"] is True
    tmpfs = container["LinuxParameters"]["Tmpfs"]
    assert [t["ContainerPath"] for t in tmpfs] == ["/tmp"] and tmpfs[0]["Size"] >= 1024
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env["XDG_CACHE_HOME"].startswith("/tmp/") and env["TMPDIR"] == "/tmp"
    config = synth.stack.config
    assert container["Memory"] == config.task_memory_limit_mb >= container["MemoryReservation"] == config.task_memory_mb


def test_list_bucket_is_prefix_scoped_everywhere(synth) -> None:  # noqa: ANN001
    roles = [synth.stack.functions.api_function.role, synth.stack.inference.task_definition.task_role]
    listed = [s for role in roles for s in _statements(synth, role) if "s3:ListBucket" in _actions(s)]
    assert listed
    for statement in listed:
        prefixes = statement["Condition"]["StringLike"]["s3:prefix"]
        prefixes = prefixes if isinstance(prefixes, list) else [prefixes]
        assert prefixes and all(p in ("uploads/*", "stickers/*") for p in prefixes), statement


def test_idempotency_table_gets_exact_actions(synth) -> None:  # noqa: ANN001
    table_id = synth.logical_id(synth.stack.jobs.idempotency_table)
    statements = [s for s in _statements(synth, synth.stack.functions.api_function.role) if table_id in json.dumps(s["Resource"])]
    actions = {a for s in statements for a in _actions(s)}
    assert actions == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}


def test_instance_role_writes_logs_only_to_the_worker_log_group(synth) -> None:  # noqa: ANN001
    statements = _statements(synth, synth.stack.inference.instance_role)
    log_statements = [s for s in statements if any(a.startswith("logs:") for a in _actions(s))]
    assert log_statements
    group_id = synth.logical_id(synth.stack.inference.log_group)
    for statement in log_statements:
        assert statement["Resource"] != "*" and group_id in json.dumps(statement["Resource"]), statement
    assert any("ecr:GetAuthorizationToken" in _actions(s) for s in statements), "the agent still pulls the image"


def test_scaling_uses_the_service_linked_role(synth) -> None:  # noqa: ANN001
    (target,) = synth.resources("AWS::ApplicationAutoScaling::ScalableTarget").values()
    assert "AWSServiceRoleForApplicationAutoScaling_ECSService" in json.dumps(target["Properties"]["RoleARN"])
    assert not [k for k in synth.resources("AWS::IAM::Role") if "Scaling" in k]
