"""Live progress: an API Gateway WebSocket API fed by the jobs table's DynamoDB stream.

docs/api.md ("Live progress over WebSocket") is the contract; stickers_core.realtime the shared code;
docs/design.md ("Live progress") the why. What this construct creates:

- **the connections table** (pk ``pk``, sk ``sk``, TTL ``expiresAt``: connections, subscriptions and
  each key's set of open connections, :mod:`stickers_core.realtime`);
- **the WebSocket API** (route selection ``$request.body.action``) and its stage (the deployment's stage
  name, auto-deployed, stage throttling, JSON access logs):
  - ``$connect``: a Lambda REQUEST authorizer (identity source ``route.request.querystring.key``) that
    allows only keys of THIS stack's usage plan and returns the key as ``usageIdentifierKey``; the API's
    ``apiKeySelectionExpression`` is ``$context.authorizer.usageIdentifierKey`` and ``$connect`` requires
    an API key, and the stage is added to the REST API's usage plan, so API Gateway also checks the key
    against the plan and meters and throttles connects under it
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html,
    https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-selection-expressions.html);
  - ``$disconnect``, ``subscribe``, ``unsubscribe``, ``$default`` → the connection function;
- **three functions** on the core layer (arm64, Python 3.12, X-Ray, JSON logs), least privilege each:
  the authorizer (``apigateway:GET`` on exactly the usage plan's keys), the connection function (the
  connections table's item actions it uses, GetItem on the jobs table, ``execute-api:ManageConnections``
  for ``POST @connections`` of exactly this API's stage), the notifier (the connections table's item
  actions and Query it uses, the stream, the same ManageConnections);
- **the notifier's event source**: the jobs table's stream (``NEW_AND_OLD_IMAGES``, enabled by
  :class:`infra.jobs.Jobs`), from the latest record, parallelization factor 1 (one batch per shard at a
  time, so each job's changes stay in order), bisect on error, partial batch responses, bounded retries
  and record age, and a filter that passes only job items (not the owners' counters items).

Why the stream, not an EventBridge bus or SNS topic published by the writers: every writer of a job (the
API, the GPU workers, the dead-letter function) already writes the table, so the stream sees every
change, in order per item, with nothing added upstream; a missed publish cannot happen.
"""

from __future__ import annotations

from typing import Any

import jsii
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.compute import _powertools_env, retention_days, service_function
from infra.config import StackConfig
from infra.jobs import Jobs
from infra.storage import Storage
from stickers_core import limits, realtime, settings

#: The query-string parameter that carries the API key at ``$connect`` (browsers cannot set headers on
#: a WebSocket handshake).
KEY_PARAMETER = "key"
IDENTITY_SOURCE = f"route.request.querystring.{KEY_PARAMETER}"
#: Memory (MB) and timeout (s) of the functions. API Gateway waits at most 29 s for an integration.
AUTHORIZER_MEMORY_MB, AUTHORIZER_TIMEOUT_S = 256, 10
CONNECTIONS_MEMORY_MB, CONNECTIONS_TIMEOUT_S = 256, 10
NOTIFIER_MEMORY_MB, NOTIFIER_TIMEOUT_S = 256, 60
#: The notifier's event source mapping.
NOTIFIER_BATCH_SIZE = 100
NOTIFIER_RETRY_ATTEMPTS = 10
NOTIFIER_MAX_RECORD_AGE = Duration.hours(1)
#: Stage throttling of the WebSocket API (connects and messages, all keys together).
STAGE_RATE_LIMIT, STAGE_BURST_LIMIT = 100, 200


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    """The stage's access logs: where (a log group) and in which format (JSON)."""

    def __init__(self, destination: apigwv2.IAccessLogDestination, log_format: apigw.AccessLogFormat) -> None:
        self._destination, self._format = destination, log_format

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return self._format


class Realtime(Construct):
    """The WebSocket API for live progress, its three functions and the connections table.

    Args:
        config: deployment parameters.
        jobs: the jobs table (its stream feeds the notifier).
        storage: the CDN base URL of the status documents.
        layer: the core layer.
        usage_plan: the REST API's usage plan; the WebSocket stage is added to it, so one key works on both.

    Attributes:
        table, web_socket_api, stage, authorizer_function, connections_function, notifier_function,
        functions, url (``wss://…/<stage>``), management_url (``https://…/<stage>``), notifier_source.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        jobs: Jobs,
        storage: Storage,
        layer: lambda_.ILayerVersion,
        usage_plan: apigw.UsagePlan,
    ) -> None:
        super().__init__(scope, construct_id)
        self._layer = layer
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        retention = retention_days(config.log_retention_days)

        self.table = dynamodb.Table(
            self,
            "ConnectionsTable",
            table_name=config.name(limits.CONNECTIONS_TABLE_NAME),
            partition_key=dynamodb.Attribute(name=realtime.PK, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=realtime.SK, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=realtime.TTL_ATTRIBUTE,
            removal_policy=RemovalPolicy.DESTROY,  # connections live 2 hours at most: nothing worth keeping
        )

        self.web_socket_api = apigwv2.WebSocketApi(
            self,
            "WebSocketApi",
            api_name=config.name("stickers-live"),
            description="Live progress of sticker jobs (docs/api.md, Live progress over WebSocket)",
            route_selection_expression="$request.body.action",
            api_key_selection_expression=apigwv2.WebSocketApiKeySelectionExpression.AUTHORIZER_USAGE_IDENTIFIER_KEY,
        )
        api = self.web_socket_api
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=retention, removal_policy=removal)
        self.stage = apigwv2.WebSocketStage(
            self,
            "Stage",
            web_socket_api=api,
            stage_name=config.stage,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=STAGE_RATE_LIMIT, burst_limit=STAGE_BURST_LIMIT),
            access_log_settings=_AccessLogSettings(
                apigwv2.LogGroupLogDestination(self.access_logs),
                apigw.AccessLogFormat.custom(
                    '{"requestId":"$context.requestId","connectionId":"$context.connectionId",'
                    '"eventType":"$context.eventType","routeKey":"$context.routeKey","status":"$context.status",'
                    '"apiKeyId":"$context.identity.apiKeyId","ip":"$context.identity.sourceIp",'
                    '"requestTime":"$context.requestTime","error":"$context.error.messageString",'
                    '"authorizerError":"$context.authorizer.error","integrationError":"$context.integration.error"}'
                ),
            ),
        )
        #: Where clients connect (the ``WebSocketUrl`` output, the page's ``wsUrl``).
        self.url = self.stage.url
        #: Where ``PostToConnection`` goes (the stage's callback URL).
        self.management_url = self.stage.callback_url
        # exactly this API's stage, POST @connections (PostToConnection); no GET/DELETE is used
        manage_connections = iam.PolicyStatement(
            sid="PostToConnections",
            actions=["execute-api:ManageConnections"],
            resources=[
                Stack.of(self).format_arn(
                    service="execute-api", resource=api.api_id, resource_name=f"{self.stage.stage_name}/POST/@connections/*"
                )
            ],
        )
        common = {
            settings.ENV_CONNECTIONS_TABLE: self.table.table_name,
            settings.ENV_WS_MANAGEMENT_URL: self.management_url,
            settings.ENV_WS_MAX_CONNECTIONS_PER_KEY: str(limits.WS_MAX_CONNECTIONS_PER_KEY),
            settings.ENV_WS_MAX_SUBSCRIPTIONS: str(limits.WS_MAX_SUBSCRIPTIONS),
            settings.ENV_CDN_BASE_URL: storage.cdn_base_url,
            **_powertools_env(),
        }

        # --- the authorizer: keys of this stack's usage plan ---------------------------------------------------
        self.authorizer_function = self._function(
            "Authorizer", "AuthorizerLogs", "ws_authorizer",
            description="WebSocket $connect authorizer: the ?key= API key must be on this stack's usage plan",
            memory_mb=AUTHORIZER_MEMORY_MB, timeout_s=AUTHORIZER_TIMEOUT_S, retention=retention, removal=removal,
            environment={settings.ENV_USAGE_PLAN_ID: usage_plan.usage_plan_id, **_powertools_env()},
        )  # fmt: skip
        self.authorizer_function.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadUsagePlanKeys",
                actions=["apigateway:GET"],
                resources=[Stack.of(self).format_arn(service="apigateway", account="", resource=f"/usageplans/{usage_plan.usage_plan_id}/keys")],
            )
        )

        # --- the connection function: $connect, $disconnect, subscribe, unsubscribe, $default -------------------
        self.connections_function = self._function(
            "Connections", "ConnectionsLogs", "ws_connections",
            description="WebSocket routes: connections, subscriptions, the current state at subscribe",
            memory_mb=CONNECTIONS_MEMORY_MB, timeout_s=CONNECTIONS_TIMEOUT_S, retention=retention, removal=removal,
            environment={**common, settings.ENV_TABLE_NAME: jobs.table.table_name},
        )  # fmt: skip
        connections = self.connections_function
        self.table.grant(connections, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchGetItem")
        connections.add_to_role_policy(  # the job at subscribe (owner check + current state); the table, not its index
            iam.PolicyStatement(sid="ReadJobs", actions=["dynamodb:GetItem"], resources=[jobs.table.table_arn])
        )
        connections.add_to_role_policy(manage_connections)

        # --- the notifier: job changes from the stream ------------------------------------------------------------
        self.notifier_function = self._function(
            "Notifier", "NotifierLogs", "ws_notifier",
            description="Job changes (jobs table stream) to the owner's WebSocket subscribers",
            memory_mb=NOTIFIER_MEMORY_MB, timeout_s=NOTIFIER_TIMEOUT_S, retention=retention, removal=removal,
            environment=common,
        )  # fmt: skip
        notifier = self.notifier_function
        self.table.grant(notifier, "dynamodb:Query", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
        notifier.add_to_role_policy(manage_connections)
        self.notifier_source = sources.DynamoEventSource(
            jobs.table,
            starting_position=lambda_.StartingPosition.LATEST,
            batch_size=NOTIFIER_BATCH_SIZE,
            parallelization_factor=1,
            bisect_batch_on_error=True,
            report_batch_item_failures=True,
            retry_attempts=NOTIFIER_RETRY_ATTEMPTS,
            max_record_age=NOTIFIER_MAX_RECORD_AGE,
            filters=[
                lambda_.FilterCriteria.filter(
                    {
                        "eventName": lambda_.FilterRule.or_("INSERT", "MODIFY"),
                        # job items only: an owner's counters item has no ownerId (stickers_core.store)
                        "dynamodb": {"NewImage": {"ownerId": {"S": lambda_.FilterRule.exists()}}},
                    }
                )
            ],
        )
        notifier.add_event_source(self.notifier_source)

        # --- routes ----------------------------------------------------------------------------------------------
        integration = integrations.WebSocketLambdaIntegration("Connections", connections)
        self.authorizer = authorizers.WebSocketLambdaAuthorizer(
            "KeyAuthorizer", self.authorizer_function, identity_source=[IDENTITY_SOURCE], authorizer_name="api-key"
        )
        self.connect_route = apigwv2.WebSocketRoute(
            self, "ConnectRoute", web_socket_api=api, route_key="$connect", integration=integration,
            authorizer=self.authorizer, api_key_required=True,
        )  # fmt: skip
        self.routes = {"$connect": self.connect_route}
        for route_key in ("$disconnect", *realtime.ROUTES, "$default"):
            self.routes[route_key] = api.add_route(route_key, integration=integration)

        # --- one key for both APIs: the WebSocket stage joins the REST API's usage plan -----------------------------
        plan = usage_plan.node.default_child
        assert isinstance(plan, apigw.CfnUsagePlan)
        # the REST stage is ApiStages[0] (infra/api.py); an override appends this one
        plan.add_property_override("ApiStages.1", {"ApiId": api.api_id, "Stage": self.stage.stage_name})
        plan.node.add_dependency(self.stage)  # the stage exists before the plan names it

        self.functions = [self.authorizer_function, self.connections_function, self.notifier_function]

    def _function(self, construct_id: str, log_group_id: str, folder: str, **options: Any) -> lambda_.Function:
        """:func:`infra.compute.service_function` in this construct, on the core layer."""
        return service_function(self, construct_id, log_group_id, folder, layer=self._layer, **options)
