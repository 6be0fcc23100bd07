"""POST /v1/stickers/prompt on the embedded stack without an image generator (the integration package's
stack: no ``STICKERS_GENERATOR``): 501 GENERATION_UNAVAILABLE, no job and no quota taken; the body is
still validated first (400 BAD_PROMPT). The route with a generator: tests/prompt/."""

from __future__ import annotations

import time

import httpx

from local_stack.stack import LocalStack
from stickers_core.quota import PromptQuota


def test_without_a_generator_the_route_answers_501(api: httpx.Client, stack: LocalStack) -> None:
    before = api.get("/v1/stats").json()["jobs"]["total"]
    r = api.post("/v1/stickers/prompt", json={"prompt": "a red cat playing guitar"})
    assert r.status_code == 501, r.text
    body = r.json()
    assert body["success"] is False and body["code"] == "GENERATION_UNAVAILABLE" and "x-request-id" in r.headers
    assert api.get("/v1/stats").json()["jobs"]["total"] == before  # no job made
    quota_item = PromptQuota.key(stack.api_keys["key-alpha"], time.strftime("%Y-%m-%d", time.gmtime()))
    assert "Item" not in stack.aws.client("dynamodb").get_item(TableName=stack.settings.table_name, Key={"jobId": {"S": quota_item["jobId"]}})  # no quota taken


def test_bad_prompt_is_400_even_without_a_generator(api: httpx.Client) -> None:
    r = api.post("/v1/stickers/prompt", json={"prompt": ""})
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (400, "BAD_PROMPT", "prompt")
    r = api.post("/v1/stickers/prompt", content=b"not json", headers={"content-type": "application/json"})
    assert (r.status_code, r.json()["code"]) == (400, "INVALID_JSON")


def test_the_openapi_document_has_the_route(api: httpx.Client) -> None:
    doc = api.get("/v1/openapi.json").json()
    operation = doc["paths"]["/v1/stickers/prompt"]["post"]
    assert {"202", "400", "404", "429", "501"} <= set(operation["responses"])
    assert doc["x-error-codes"]["GENERATION_UNAVAILABLE"] == 501 and doc["x-error-codes"]["BAD_PROMPT"] == 400
    assert "PROMPT_REFUSED" in doc["x-job-error-codes"]


def test_a_worker_without_a_generator_fails_a_prompt_job_at_once(stack: LocalStack, drained: LocalStack) -> None:
    """A prompt job that reaches a worker with no generator (a deployment switched to generator none
    while jobs waited) fails at attempt 1 with GENERATION_UNAVAILABLE instead of burning its retries."""
    from gpu_service.worker import MessageOutcome, Worker
    from stickers_core.models import Job, JobMetadata, JobType
    from stickers_core.queue import JobQueue
    from stickers_core.store import JobStore
    from tests.helpers import receive

    job = Job.new(owner_id="key-alpha-id", type=JobType.PROMPT, styles=["classic"], metadata=JobMetadata(type=JobType.PROMPT), prompt="a cat")
    store, queue = JobStore(stack.settings.table_name), JobQueue(stack.settings.queue_url)
    store.create(job)
    queue.send(job.job_id, job.type.value)

    class NoPipeline:  # the job fails before any rendering
        pass

    outcome = Worker(stack.settings, NoPipeline(), webhooks=None).handle(receive(queue, job.job_id))  # type: ignore[arg-type]
    failed = store.get(job.job_id)
    assert outcome is MessageOutcome.FAILED and failed.attempts == 1
    doc = failed.status_document("https://cdn.example")
    assert (doc["status"], doc["code"]) == ("failed", "GENERATION_UNAVAILABLE") and doc["type"] == "prompt"
