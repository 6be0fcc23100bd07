"""`stickers keys create|list|revoke` against moto's API Gateway and CloudFormation."""

from __future__ import annotations

import json

import boto3
import pytest
from typer.testing import CliRunner

moto = pytest.importorskip("moto")

from local_stack.keys_cli import find_usage_plan_id, keys_app  # noqa: E402

pytestmark = pytest.mark.cdk
REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch):
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto.mock_aws():
        apigw = boto3.client("apigateway", region_name=REGION)
        plan = apigw.create_usage_plan(name="dev-stickers-default", throttle={"rateLimit": 10, "burstLimit": 20})
        yield apigw, plan["id"]


def run(*args: str):
    result = CliRunner().invoke(keys_app, list(args), catch_exceptions=False)
    return result


def test_create_list_revoke(aws):
    apigw, plan = aws
    created = run("create", "alice", "--usage-plan-id", plan)
    assert created.exit_code == 0, created.output
    keys = apigw.get_api_keys(includeValues=True)["items"]
    (key,) = [k for k in keys if k["name"] == "alice"]
    assert key["id"] in created.output and key["value"] in created.output
    assert [k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=plan)["items"]] == [key["id"]]

    listed = run("list", "--usage-plan-id", plan)
    assert listed.exit_code == 0 and "alice" in listed.output and key["id"] in listed.output

    revoked = run("revoke", key["id"], "--usage-plan-id", plan)
    assert revoked.exit_code == 0, revoked.output
    assert apigw.get_usage_plan_keys(usagePlanId=plan)["items"] == []
    assert [k for k in apigw.get_api_keys()["items"] if k["id"] == key["id"]] == []


def test_revoke_unknown_key_fails(aws):
    _, plan = aws
    result = run("revoke", "nosuchkey", "--usage-plan-id", plan)
    assert result.exit_code == 1 and "no such key" in result.output


def test_usage_plan_found_from_stack_output(aws):
    _, plan = aws
    cfn = boto3.client("cloudformation", region_name=REGION)
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"UsagePlanId": {"Value": plan}},
    }
    cfn.create_stack(StackName="Stickers-dev", TemplateBody=json.dumps(template))
    assert find_usage_plan_id("Stickers-dev") == plan
    created = run("create", "bob")  # no --usage-plan-id: read from the stack
    assert created.exit_code == 0, created.output
    assert plan in created.output
