"""The live-progress construct (infra/realtime.py) in the synthesized template: the WebSocket API's
routes and API-key authorizer, the WebSocket stage on the REST API's usage plan, the notifier's stream
event source, exactly scoped grants, the connections table, the alarms, the ``wss://`` output and the
page's ``wsUrl``."""

from __future__ import annotations

import json

import pytest

from stickers_core import limits, realtime, settings

pytestmark = pytest.mark.cdk


def _flat(value) -> str:  # noqa: ANN001
    return json.dumps(value, sort_keys=True)


def _props(synth, construct) -> dict:  # noqa: ANN001
    return synth.json["Resources"][synth.logical_id(construct)]["Properties"]


def test_websocket_api_routes_and_the_api_key_authorizer(synth) -> None:  # noqa: ANN001
    rt = synth.stack.realtime
    (api,) = synth.resources("AWS::ApiGatewayV2::Api").values()
    assert api["Properties"]["ProtocolType"] == "WEBSOCKET"
    assert api["Properties"]["RouteSelectionExpression"] == "$request.body.action"
    assert api["Properties"]["ApiKeySelectionExpression"] == "$context.authorizer.usageIdentifierKey"
    routes = {r["Properties"]["RouteKey"]: r["Properties"] for r in synth.resources("AWS::ApiGatewayV2::Route").values()}
    assert set(routes) == {"$connect", "$disconnect", "subscribe", "unsubscribe", "$default"}
    connect = routes["$connect"]
    (authorizer_id, authorizer) = next(iter(synth.resources("AWS::ApiGatewayV2::Authorizer").items()))
    assert connect["ApiKeyRequired"] is True and connect["AuthorizationType"] == "CUSTOM"
    assert connect["AuthorizerId"] == {"Ref": authorizer_id}
    assert authorizer["Properties"]["AuthorizerType"] == "REQUEST"
    assert authorizer["Properties"]["IdentitySource"] == ["route.request.querystring.key"]
    assert synth.logical_id(rt.authorizer_function) in _flat(authorizer["Properties"]["AuthorizerUri"])
    targets = {_flat(r["Target"]) for r in routes.values()}
    assert len(targets) == 1, "every route goes to the connection function's one integration"
    (integration,) = synth.resources("AWS::ApiGatewayV2::Integration").values()
    assert synth.logical_id(rt.connections_function) in _flat(integration["Properties"]["IntegrationUri"])
    for route_key in ("$disconnect", "subscribe", "unsubscribe", "$default"):
        assert routes[route_key]["AuthorizationType"] == "NONE", "WebSocket APIs authorize at $connect only"


def test_the_websocket_stage_is_on_the_rest_apis_usage_plan(synth) -> None:  # noqa: ANN001
    rt = synth.stack.realtime
    (plan_id, plan) = next(iter(synth.resources("AWS::ApiGateway::UsagePlan").items()))
    stages = plan["Properties"]["ApiStages"]
    assert {"ApiId": {"Ref": synth.logical_id(rt.web_socket_api)}, "Stage": "dev"} in stages
    assert any(s["ApiId"] == {"Ref": synth.logical_id(synth.stack.api.rest_api)} for s in stages), "the REST stage stays"
    assert synth.logical_id(rt.stage) in plan["DependsOn"]
    stage = _props(synth, rt.stage)
    assert stage["StageName"] == "dev" and stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    assert "$context.identity.apiKeyId" in stage["AccessLogSettings"]["Format"]
    authorizer_env = _props(synth, rt.authorizer_function)["Environment"]["Variables"]
    assert authorizer_env[settings.ENV_USAGE_PLAN_ID] == {"Ref": plan_id}, "the authorizer checks THIS stack's plan"


def test_the_notifier_reads_the_jobs_stream_in_order_with_partial_batch_responses(synth) -> None:  # noqa: ANN001
    rt = synth.stack.realtime
    table = synth.json["Resources"][synth.logical_id(synth.stack.jobs.table)]["Properties"]
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    mappings = [m["Properties"] for m in synth.resources("AWS::Lambda::EventSourceMapping").values()
                if m["Properties"]["FunctionName"] == {"Ref": synth.logical_id(rt.notifier_function)}]  # fmt: skip
    (mapping,) = mappings
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [synth.logical_id(synth.stack.jobs.table), "StreamArn"]}
    assert mapping["ParallelizationFactor"] == 1, "one batch per shard at a time: each job's changes in order"
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["StartingPosition"] == "LATEST" and mapping["MaximumRetryAttempts"] >= 1
    assert mapping["MaximumRecordAgeInSeconds"] > 0
    (pattern,) = [json.loads(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]]
    assert pattern == {"eventName": ["INSERT", "MODIFY"], "dynamodb": {"NewImage": {"ownerId": {"S": [{"exists": True}]}}}}


def test_the_connections_table(synth) -> None:  # noqa: ANN001
    table = _props(synth, synth.stack.realtime.table)
    assert table["TableName"] == f"dev-{limits.CONNECTIONS_TABLE_NAME}"
    assert table["KeySchema"] == [{"AttributeName": realtime.PK, "KeyType": "HASH"}, {"AttributeName": realtime.SK, "KeyType": "RANGE"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": realtime.TTL_ATTRIBUTE, "Enabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST" and table["SSESpecification"] == {"SSEEnabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def _grants(synth, fn) -> list[tuple[list[str], str]]:  # noqa: ANN001
    """(actions, resource) of every statement of the function's role, X-Ray excluded."""
    out = []
    for st in synth.role_statements(fn.role):
        actions = [a for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"]) if not a.startswith("xray:")]
        if not actions:
            continue
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        out.extend((sorted(actions), _flat(r)) for r in resources)
    return out


def test_each_function_gets_exactly_what_it_uses(synth) -> None:  # noqa: ANN001
    rt, jobs = synth.stack.realtime, synth.stack.jobs
    connections_table = synth.logical_id(rt.table)
    jobs_table = synth.logical_id(jobs.table)
    ws = synth.logical_id(rt.web_socket_api)
    post = _flat({"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":execute-api:", {"Ref": "AWS::Region"}, ":",
                                    {"Ref": "AWS::AccountId"}, ":", {"Ref": ws}, "/dev/POST/@connections/*"]]})  # fmt: skip

    authorizer = _grants(synth, rt.authorizer_function)
    assert len(authorizer) == 1 and authorizer[0][0] == ["apigateway:GET"]
    plan = synth.logical_id(synth.stack.api.usage_plan)
    assert f'"Ref": "{plan}"' in authorizer[0][1] and authorizer[0][1].endswith('"/keys"]]}'), authorizer

    connections = _grants(synth, rt.connections_function)
    assert sorted(connections) == sorted([
        (["dynamodb:BatchGetItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
         _flat({"Fn::GetAtt": [connections_table, "Arn"]})),
        (["dynamodb:GetItem"], _flat({"Fn::GetAtt": [jobs_table, "Arn"]})),
        (["execute-api:ManageConnections"], post),
    ])  # fmt: skip

    notifier = _grants(synth, rt.notifier_function)
    stream = _flat({"Fn::GetAtt": [jobs_table, "StreamArn"]})
    assert (["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"],
            _flat({"Fn::GetAtt": [connections_table, "Arn"]})) in notifier  # fmt: skip
    assert (["execute-api:ManageConnections"], post) in notifier
    assert (["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"], stream) in notifier
    assert (["dynamodb:ListStreams"], '"*"') in notifier, "CDK's stream event source (no resource-level permission)"
    assert len(notifier) == 4, notifier
    for fn in rt.functions:
        assert not any("PutItem" in " ".join(a) and jobs_table in r for a, r in _grants(synth, fn)), "nobody writes jobs here"


def test_functions_are_declared_like_the_others(synth) -> None:  # noqa: ANN001
    rt = synth.stack.realtime
    layer = synth.logical_id(synth.stack.functions.layer)
    for fn, folder in ((rt.authorizer_function, "ws_authorizer"), (rt.connections_function, "ws_connections"), (rt.notifier_function, "ws_notifier")):
        props = _props(synth, fn)
        assert props["Runtime"] == "python3.12" and props["Architectures"] == ["arm64"]
        assert props["Handler"] == f"functions.{folder}.app.handler"
        assert props["TracingConfig"] == {"Mode": "Active"} and props["LoggingConfig"]["LogFormat"] == "JSON"
        assert props["Layers"] == [{"Ref": layer}]
    env = _props(synth, rt.notifier_function)["Environment"]["Variables"]
    management = _flat(env[settings.ENV_WS_MANAGEMENT_URL])
    assert '"https://"' in management and synth.logical_id(rt.web_socket_api) in management and "/dev" in management
    assert env[settings.ENV_CONNECTIONS_TABLE] == {"Ref": synth.logical_id(rt.table)}


def test_alarms_on_the_notifier_and_the_output_and_the_pages_ws_url(synth) -> None:  # noqa: ANN001
    rt, obs = synth.stack.realtime, synth.stack.observability
    assert {"NotifierLambdaErrors", "ConnectionsLambdaErrors", "AuthorizerLambdaErrors", "NotifierBehind"} <= set(obs.alarms)
    behind = _props(synth, obs.alarms["NotifierBehind"])
    assert behind["MetricName"] == "IteratorAge" and behind["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": synth.logical_id(rt.notifier_function)}}]
    errors = _props(synth, obs.alarms["NotifierLambdaErrors"])
    assert errors["MetricName"] == "Errors" and errors["Threshold"] == 1
    output = _flat(synth.json["Outputs"]["WebSocketUrl"]["Value"])
    assert '"wss://"' in output and synth.logical_id(rt.web_socket_api) in output
    (deploy,) = synth.resources("Custom::CDKBucketDeployment").values()
    markers = _flat(deploy["Properties"]["SourceMarkers"])
    assert "wss://" in markers and synth.logical_id(rt.web_socket_api) in markers, "config.json's wsUrl is this stack's WebSocket"
    csp = _flat(synth.resources("AWS::CloudFront::ResponseHeadersPolicy"))
    assert "wss://*.execute-api." in csp, "the page may open the WebSocket"
