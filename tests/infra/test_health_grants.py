"""GET /v1/health needs no grant beyond what the API function already has (issue 14): its checks are a
GetItem on the jobs table (not DescribeTable), GetQueueAttributes on the jobs queue, and a one-key
ListObjectsV2 of each bucket under the service's prefix (not HeadBucket, which S3 authorises as an
unconditioned ListBucket). This pins those grants, as synthesized, so that the checks keep working and
nothing broader is added for them."""

from __future__ import annotations

import json

import pytest

from stickers_core import limits
from stickers_core.models import is_job_id
from stickers_core.store import HEALTH_KEY

pytestmark = pytest.mark.cdk


def _actions(statement: dict) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def _on(synth, construct) -> list[dict]:  # noqa: ANN001
    ref = synth.logical_id(construct)
    return [s for s in synth.role_statements(synth.stack.functions.api_function.role) if ref in json.dumps(s["Resource"])]


def test_the_table_check_is_a_getitem_the_api_may_make(synth) -> None:  # noqa: ANN001
    statements = _on(synth, synth.stack.jobs.table)
    assert any("dynamodb:GetItem" in _actions(s) and s["Effect"] == "Allow" for s in statements)
    actions = synth.role_actions(synth.stack.functions.api_function.role)
    assert "dynamodb:DescribeTable" not in actions, "the check reads one item; it needs no DescribeTable"
    assert not is_job_id(HEALTH_KEY), "the probe key can never be a job's"


def test_the_queue_check_is_getqueueattributes_on_the_jobs_queue(synth) -> None:  # noqa: ANN001
    statements = _on(synth, synth.stack.jobs.queue)
    assert any("sqs:GetQueueAttributes" in _actions(s) for s in statements)


@pytest.mark.parametrize("bucket,prefix", [("uploads_bucket", limits.UPLOADS_PREFIX), ("stickers_bucket", limits.STICKERS_PREFIX)])
def test_the_bucket_check_is_a_listing_under_the_prefix_the_api_may_list(synth, bucket: str, prefix: str) -> None:  # noqa: ANN001
    listed = [s for s in _on(synth, getattr(synth.stack.storage, bucket)) if "s3:ListBucket" in _actions(s)]
    assert listed, f"the API function may not list {bucket}"
    for statement in listed:
        prefixes = statement["Condition"]["StringLike"]["s3:prefix"]
        assert f"{prefix}/*" in (prefixes if isinstance(prefixes, list) else [prefixes]), statement
    # Storage.probe lists with Prefix "<prefix>/", which the pattern "<prefix>/*" matches (* = nothing)
    actions = synth.role_actions(synth.stack.functions.api_function.role)
    assert "s3:ListAllMyBuckets" not in actions and "s3:GetBucketLocation" not in actions


def test_the_api_function_names_the_inference_mode(synth) -> None:  # noqa: ANN001
    env = synth.json["Resources"][synth.logical_id(synth.stack.functions.api_function)]["Properties"]["Environment"]["Variables"]
    # GET /v1/health names what consumes the queue: the context's inference mode (hybrid by default); with
    # inference=gpu the variable is unset and the default (worker) applies (tests/infra/test_inference_modes.py)
    assert env["STICKERS_INFERENCE"] == synth.stack.config.inference == "hybrid"
