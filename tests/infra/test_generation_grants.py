"""Stickers from a prompt on AWS (issue 17): the synthesized stack lets the roles that draw prompts call
exactly the configured Bedrock model (``bedrock:InvokeModel`` on its foundation-model ARN, no wildcard)
and no other role any Bedrock action; every host gets the generator's settings; the dashboard shows
generation latency and refusals. Reads the session's one synthesis (cdk.json's context)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template

from infra.config import StackConfig
from infra.generation import generation_environment, grant_generation, model_arn

pytestmark = pytest.mark.cdk
MODEL_ARN = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-canvas-v1:0"


def _text(value: Any) -> str:
    """A resource as text: Fn::Join of strings and the partition pseudo-parameter rendered as in aws."""
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(_text(p) for p in parts)
    if value == {"Ref": "AWS::Partition"}:
        return "aws"
    return value if isinstance(value, str) else json.dumps(value)


def _list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _bedrock_statements(synth) -> dict[str, list[dict]]:  # noqa: ANN001
    """Role logical id → its statements with any Bedrock action."""
    found: dict[str, list[dict]] = {}
    for policy in synth.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if any(str(a).startswith("bedrock:") for a in _list(statement["Action"])):
                for role in policy["Properties"].get("Roles", []):
                    found.setdefault(role["Ref"], []).append(statement)
    return found


def test_the_workers_may_invoke_exactly_the_configured_model(synth) -> None:  # noqa: ANN001
    config = synth.stack.config
    assert (config.generator, config.bedrock_model_id, config.bedrock_region) == ("bedrock", "amazon.nova-canvas-v1:0", "us-east-1")
    found = _bedrock_statements(synth)
    # cdk.json's inference mode is hybrid: the GPU worker's task role and the CPU inference Lambda's role
    allowed = {synth.logical_id(synth.stack.inference.task_definition.task_role), synth.logical_id(synth.stack.cpu_inference.role)}
    assert set(found) == allowed, f"the consumers of the jobs queue (and only they) call the image model: {set(found)} != {allowed}"
    for statements in found.values():
        for statement in statements:
            assert statement["Effect"] == "Allow" and _list(statement["Action"]) == ["bedrock:InvokeModel"], statement
            assert [_text(r) for r in _list(statement["Resource"])] == [MODEL_ARN], statement
    api_role = synth.logical_id(synth.stack.functions.api_function.role)
    assert api_role not in found, "the API function only queues prompt jobs"


def test_every_host_reads_the_generator_settings(synth) -> None:  # noqa: ANN001
    env = synth.json["Resources"][synth.logical_id(synth.stack.functions.api_function)]["Properties"]["Environment"]["Variables"]
    assert env["STICKERS_GENERATOR"] == "bedrock" and env["STICKERS_PROMPT_DAILY_QUOTA"] == "100"
    assert env["STICKERS_BEDROCK_MODEL_ID"] == "amazon.nova-canvas-v1:0" and env["STICKERS_BEDROCK_REGION"] == "us-east-1"
    task = next(iter(synth.resources("AWS::ECS::TaskDefinition").values()))
    worker_env = {v["Name"]: v["Value"] for c in task["Properties"]["ContainerDefinitions"] for v in c.get("Environment", [])}
    assert worker_env["STICKERS_GENERATOR"] == "bedrock" and worker_env["STICKERS_BEDROCK_MODEL_ID"] == "amazon.nova-canvas-v1:0"


def test_the_dashboard_shows_generation_latency_and_refusals(synth) -> None:  # noqa: ANN001
    body = json.dumps(next(iter(synth.resources("AWS::CloudWatch::Dashboard").values()))["Properties"]["DashboardBody"])
    assert "GenerationLatency" in body and "PromptsRefused" in body


def test_generator_none_grants_nothing_and_says_so() -> None:
    none = StackConfig(generator="none")
    assert generation_environment(none) == {"STICKERS_GENERATOR": "none", "STICKERS_PROMPT_DAILY_QUOTA": "100"}
    app = App()
    stack, eu_stack = Stack(app, "TinyNone"), Stack(app, "TinyEu")
    for scope in (stack, eu_stack):
        iam.Role(scope, "Role", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
    eu = StackConfig(bedrock_region="eu-west-1")
    grant_generation(stack.node.find_child("Role"), none)
    grant_generation(eu_stack.node.find_child("Role"), eu)
    assert Template.from_stack(stack).find_resources("AWS::IAM::Policy") == {}
    statement = next(iter(Template.from_stack(eu_stack).find_resources("AWS::IAM::Policy").values()))["Properties"]["PolicyDocument"]["Statement"][0]
    assert _text(statement["Resource"]) == model_arn(eu) == "arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-canvas-v1:0"


def test_a_stable_image_model_is_accepted_in_its_region() -> None:
    config = StackConfig(bedrock_model_id="stability.stable-image-core-v1:1", bedrock_region="us-west-2")
    config.validate()
    assert model_arn(config) == "arn:aws:bedrock:us-west-2::foundation-model/stability.stable-image-core-v1:1"


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"generator": "openai"}, "generator"),
        ({"bedrockRegion": "eu-central-1"}, "bedrockRegion"),
        ({"bedrockModelId": "stability.sd3-large-v1:0"}, "bedrockModelId"),
        ({"promptDailyQuota": 0}, "promptDailyQuota"),
    ],
)
def test_bad_generator_context_is_refused(context: dict, message: str) -> None:
    fields = {"generator": "generator", "bedrockRegion": "bedrock_region", "bedrockModelId": "bedrock_model_id", "promptDailyQuota": "prompt_daily_quota"}
    config = StackConfig(**{fields[k]: v for k, v in context.items()})
    with pytest.raises(ValueError, match=message):
        config.validate()
