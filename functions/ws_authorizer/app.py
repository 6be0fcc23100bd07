"""WebSocket authorizer Lambda: the API key in ``?key=`` must be a key of THIS stack's usage plan.

A REQUEST authorizer on the WebSocket API's ``$connect`` route (identity source
``route.request.querystring.key``: browsers cannot set headers on a WebSocket handshake). It allows the
handshake when the key is one of the usage plan's keys (``apigateway:GET`` on exactly
``/usageplans/<id>/keys``, read through a short cache) and returns:

- ``usageIdentifierKey``: the key. The API's ``apiKeySelectionExpression`` is
  ``$context.authorizer.usageIdentifierKey`` and ``$connect`` requires an API key, so API Gateway then
  checks the key against the usage plans of the stage, and counts and throttles the connect under it
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html,
  https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-selection-expressions.html);
- ``context.apiKeyId``: the key's id, the owner of the caller's jobs (the REST API's
  ``requestContext.identity.apiKeyId``), which the connection function reads from
  ``requestContext.authorizer``.

Any other key is denied (the handshake answers 403); a missing ``key`` never reaches this function (API
Gateway refuses a request without the identity source, with 401).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from stickers_core import aws, limits
from stickers_core.settings import Settings

logger = Logger(service=limits.SERVICE_NAME)

#: Seconds the usage plan's keys are cached; a key missing from the cache is looked up again at most
#: every :data:`MISS_REFRESH_S` seconds (a new key works within seconds, a revoked one stops within a minute).
CACHE_S = 60.0
MISS_REFRESH_S = 5.0


class UsagePlanKeys:
    """The usage plan's API keys (value → id), read through a cache.

    Args:
        usage_plan_id: the stack's usage plan.
        client: a boto3 ``apigateway`` client (default: :func:`stickers_core.aws.client`).
        clock: monotonic seconds (tests).
    """

    def __init__(self, usage_plan_id: str, client: Any | None = None, clock: Any = time.monotonic) -> None:
        if not usage_plan_id:
            raise ValueError("the usage plan is not configured (STICKERS_USAGE_PLAN_ID)")
        self.usage_plan_id, self.clock = usage_plan_id, clock
        self._client = client
        self._keys: dict[str, str] = {}
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        client = self._client or aws.client("apigateway")
        keys: dict[str, str] = {}
        kwargs: dict[str, Any] = {"usagePlanId": self.usage_plan_id, "limit": 500}
        while True:
            page = client.get_usage_plan_keys(**kwargs)
            for item in page.get("items", []):
                if item.get("type", "API_KEY") == "API_KEY" and item.get("value"):
                    keys[item["value"]] = item["id"]
            if not page.get("position"):
                break
            kwargs["position"] = page["position"]
        self._keys, self._read_at = keys, self.clock()

    def key_id(self, key: str) -> str | None:
        """The id of `key` when it is one of the usage plan's keys, else None."""
        with self._lock:
            age = self.clock() - self._read_at
            if age > CACHE_S or (key not in self._keys and age > MISS_REFRESH_S):
                self._refresh()
            return self._keys.get(key)


def policy(principal_id: str, effect: str, method_arn: str) -> dict[str, Any]:
    """An authorizer answer allowing or denying ``execute-api:Invoke`` of the ``$connect`` route."""
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": method_arn}],
        },
    }


def authorize(event: dict[str, Any], keys: UsagePlanKeys) -> dict[str, Any]:
    """The authorizer's answer to one ``$connect``."""
    key = (event.get("queryStringParameters") or {}).get("key") or ""
    key_id = keys.key_id(key) if key else None
    if key_id is None:
        logger.info("WebSocket connect denied: not a key of this stack's usage plan")
        return policy("anonymous", "Deny", event["methodArn"])
    answer = policy(key_id, "Allow", event["methodArn"])
    answer["usageIdentifierKey"] = key
    answer["context"] = {"apiKeyId": key_id}
    return answer


_keys: UsagePlanKeys | None = None


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001 - Lambda's handler signature
    """Lambda entry point (REQUEST authorizer of the WebSocket API's ``$connect``)."""
    global _keys
    if _keys is None:
        _keys = UsagePlanKeys(Settings.from_env().usage_plan_id)
    return authorize(event, _keys)
