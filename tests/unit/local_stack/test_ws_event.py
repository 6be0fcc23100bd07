"""The local WebSocket front's events have the shape AWS documents (Powertools' parser models of the
WebSocket API's ``$connect``, message and ``$disconnect`` events), and what the connection function
reads from them is there: route key, connection id, event type, the API key id."""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities.data_classes import APIGatewayWebSocketEvent
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)

from functions.ws_connections.app import owner_of
from local_stack import ws_event
from local_stack.proxy_event import API_ID, STAGE

HEADERS = [("Host", "127.0.0.1:3000"), ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
           ("Sec-WebSocket-Version", "13"), ("User-Agent", "pytest")]  # fmt: skip


def test_connect_event() -> None:
    event = ws_event.connect_event(
        connection_id="Ck1R5cOJvHcCHtg=", raw_path="/ws?key=k-123&x=1", headers=HEADERS, source_ip="127.0.0.1",
        key_value="k-123", key_id="key-id-1", connected_at_ms=1_700_000_000_000, request_id="r-1", now=1_700_000_000.5,
    )  # fmt: skip
    model = APIGatewayWebSocketConnectEventModel.model_validate(event)
    assert model.request_context.route_key == "$connect" and model.request_context.event_type == "CONNECT"
    assert (model.request_context.api_id, model.request_context.stage) == (API_ID, STAGE)
    context = event["requestContext"]
    assert context["identity"]["apiKeyId"] == "key-id-1" and context["identity"]["apiKey"] == "k-123"
    assert context["authorizer"]["apiKeyId"] == "key-id-1", "the authorizer's context, as functions/ws_authorizer answers"
    assert event["queryStringParameters"] == {"key": "k-123", "x": "1"}
    assert event["headers"]["X-Forwarded-Port"] == "3000" and context["requestTime"] == "14/Nov/2023:22:13:20 +0000"
    assert owner_of(APIGatewayWebSocketEvent(event)) == "key-id-1"
    disagreeing = json.loads(json.dumps(event))
    disagreeing["requestContext"]["authorizer"]["apiKeyId"] = "someone-else"
    assert owner_of(APIGatewayWebSocketEvent(disagreeing)) is None


def test_message_and_disconnect_events() -> None:
    common = {"connection_id": "Ck1R5cOJvHcCHtg=", "source_ip": "127.0.0.1", "user_agent": "pytest", "domain_name": "127.0.0.1:3000",
              "connected_at_ms": 1_700_000_000_000}  # fmt: skip
    message = ws_event.message_event(route="subscribe", body='{"action":"subscribe","jobId":"j"}', is_base64=False,
                                     request_id="r-2", message_id="m-1", **common)  # fmt: skip
    model = APIGatewayWebSocketMessageEventModel.model_validate(message)
    assert (model.request_context.route_key, model.request_context.event_type, model.body) == ("subscribe", "MESSAGE", message["body"])
    disconnect = ws_event.disconnect_event(status_code=1001, reason="Going away", request_id="r-3", **common)
    model = APIGatewayWebSocketDisconnectEventModel.model_validate(disconnect)
    assert (model.request_context.disconnect_status_code, model.request_context.disconnect_reason) == (1001, "Going away")


def test_route_selection_is_the_body_action() -> None:
    routes = ("subscribe", "unsubscribe")
    assert ws_event.route_key('{"action": "unsubscribe", "jobId": "j"}', routes) == "unsubscribe"
    for body in ('{"action": "dance"}', '{"jobId": "j"}', "[1]", "not json", "", None, '{"action": 3}'):
        assert ws_event.route_key(body, routes) == "$default", body
    ids = {ws_event.new_connection_id() for _ in range(50)}
    assert len(ids) == 50 and all(len(i) == 16 and i.endswith("=") for i in ids)
    assert ws_event.status_of({"statusCode": 429}) == 429 and ws_event.status_of(None) == 200 and ws_event.status_of({"statusCode": "x"}) == 500
