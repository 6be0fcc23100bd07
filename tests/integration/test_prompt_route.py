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
