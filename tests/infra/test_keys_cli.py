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


def _flat(output: str) -> str:
    """The CLI's output with rich's line wrapping undone."""
    return " ".join(output.split())


def test_revoke_refuses_a_key_of_another_api(aws):
    """API keys are account- and region-wide: a key that is not on the stack's usage plan (another
    API's, or a stray one) is not deleted without --force, and the exit status says so."""
    apigw, plan = aws
    other_plan = apigw.create_usage_plan(name="someone-elses-plan")["id"]
    other = apigw.create_api_key(name="billing-service", enabled=True)
    apigw.create_usage_plan_key(usagePlanId=other_plan, keyId=other["id"], keyType="API_KEY")
    stray = apigw.create_api_key(name="stray", enabled=True)

    for key in (other, stray):
        refused = run("revoke", key["id"], "--usage-plan-id", plan)
        assert refused.exit_code == 1, refused.output
        text = _flat(refused.output)
        assert f"key {key['id']} ({key['name']}) is not on usage plan {plan}" in text and "--force" in text
        assert "Nothing was deleted" in text
        assert apigw.get_api_key(apiKey=key["id"])["id"] == key["id"], "the key still exists"
    assert [k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=other_plan)["items"]] == [other["id"]]

    forced = run("revoke", stray["id"], "--usage-plan-id", plan, "--force")
    assert forced.exit_code == 0, forced.output
    assert stray["id"] not in {k["id"] for k in apigw.get_api_keys()["items"]}
    assert other["id"] in {k["id"] for k in apigw.get_api_keys()["items"]}


def test_revoke_unknown_key_with_force_fails(aws):
    _, plan = aws
    result = run("revoke", "nosuchkey", "--usage-plan-id", plan, "--force")
    assert result.exit_code == 1 and "no such key" in result.output
