"""The public REST API: API Gateway in front of the API function, API keys and usage plans."""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.compute import retention_days
from infra.config import StackConfig
from stickers_core import gateway_contract as contract

# CORS, binary media types and the 413 document are declared once in stickers_core.gateway_contract:
# the API function and the local stack's API Gateway front use the same values.
BINARY_MEDIA_TYPES = list(contract.BINARY_MEDIA_TYPES)
CORS_ALLOW_HEADERS = list(contract.CORS_ALLOW_HEADERS)
CORS_EXPOSE_HEADERS = list(contract.CORS_EXPOSE_HEADERS)
TOO_LARGE_DOCUMENT = contract.TOO_LARGE_DOCUMENT


class Api(Construct):
    """REST API with a Lambda proxy integration.

    Resources:
      - ``/v1/{proxy+}`` ANY → API function, **API key required** (every ``/v1`` route of docs/api.md is
        routed by the function's Powertools resolver, so new routes need no infra change).
      - Nothing else: the API reference (Swagger UI and the OpenAPI copy) is static content of the
        site bucket on CloudFront (``/docs/index.html``), so no unauthenticated route invokes the
        function or shares the stage throttle with paying keys.
      - CORS preflight (OPTIONS, no key) on every resource; 4XX/5XX gateway responses carry CORS
        headers so a browser sees API Gateway's own 403/429.
      - ``REQUEST_TOO_LARGE`` (413) answers :data:`TOO_LARGE_DOCUMENT` (code ``TOO_LARGE``, ``maxSize``,
        ``uploadUrl``), with the same CORS headers. AWS documents that customizing this one gateway
        response "isn't currently supported" for REST APIs, so on AWS callers may still get API
        Gateway's default 413 body: the status code is what clients key on (docs/deploy.md).

    The stage has access logs (JSON), execution logs (ERROR), X-Ray tracing, detailed metrics and
    stage-wide throttling; the usage plan limits each key (rate, burst, daily quota) and a default key
    is attached to it.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig, handler: lambda_.IFunction) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=retention_days(config.log_retention_days), removal_policy=removal
        )
        cors = apigw.CorsOptions(
            allow_origins=config.cors_origins,
            allow_methods=list(contract.CORS_ALLOW_METHODS),
            allow_headers=CORS_ALLOW_HEADERS,
            expose_headers=CORS_EXPOSE_HEADERS,
            max_age=Duration.seconds(contract.CORS_MAX_AGE_S),
        )
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=config.name("stickers-api"),
            description="Sticker generation API (v1)",
            binary_media_types=BINARY_MEDIA_TYPES,
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # The account-wide API Gateway CloudWatch role (AWS::ApiGateway::Account): created only with
            # apiGatewayCloudWatchRole=create, and then never deleted or replaced by CloudFormation, so
            # destroying a stage cannot break logging of other APIs (why: infra/config.py StackConfig).
            cloud_watch_role=config.creates_api_gateway_account,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN if config.creates_api_gateway_account else None,
            default_cors_preflight_options=cors,
            deploy_options=apigw.StageOptions(
                stage_name=config.stage,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # bodies hold photos and callers' text: never log them
                throttling_rate_limit=config.stage_rate_limit,
                throttling_burst_limit=config.stage_burst_limit,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=False,
                ),
            ),
        )
        api = self.rest_api
        integration = apigw.LambdaIntegration(handler, proxy=True)

        v1 = api.root.add_resource("v1")
        self.v1_proxy = v1.add_resource("{proxy+}")
        self.v1_method = self.v1_proxy.add_method(
            "ANY",
            integration,
            api_key_required=True,
        )
        # API Gateway's own answers (403, 429, 413, 5xx): static CORS values, the local front's too
        cors_headers = {name: f"'{value}'" for name, value in contract.gateway_response_cors_headers(config.cors_origins).items()}
        for response_type in (apigw.ResponseType.DEFAULT_4_XX, apigw.ResponseType.DEFAULT_5_XX):
            api.add_gateway_response(
                f"Cors{response_type.response_type}", type=response_type, response_headers=cors_headers
            )
        self.too_large_response = api.add_gateway_response(
            "TooLarge",
            type=apigw.ResponseType.REQUEST_TOO_LARGE,
            status_code="413",
            response_headers=cors_headers,
            templates={"application/json": json.dumps(TOO_LARGE_DOCUMENT)},
        )

        self.usage_plan = api.add_usage_plan(
            "UsagePlan",
            name=config.name("stickers-default"),
            description="Per-key limits (limits.py defaults, overridable from context)",
            throttle=apigw.ThrottleSettings(rate_limit=config.rate_limit, burst_limit=config.burst_limit),
            quota=apigw.QuotaSettings(limit=config.daily_quota, period=apigw.Period.DAY),
            api_stages=[apigw.UsagePlanPerApiStage(api=api, stage=api.deployment_stage)],
        )
        self.default_key = apigw.ApiKey(
            self,
            "DefaultKey",
            description=f"Default key of the {config.stage} stage (create more with `stickers keys create`)",
            enabled=True,
        )
        self.usage_plan.add_api_key(self.default_key)

    @property
    def url(self) -> str:
        """Invoke URL of the stage (``https://…/<stage>/``)."""
        return self.rest_api.url
