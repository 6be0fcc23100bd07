"""The public REST API: API Gateway in front of the API function, API keys and usage plans."""

from __future__ import annotations

import json

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.compute import retention_days
from infra.config import StackConfig
from stickers_core import limits

#: Bodies API Gateway passes to Lambda base64-encoded (multipart uploads and raw images).
BINARY_MEDIA_TYPES = ["multipart/form-data", "application/octet-stream", *limits.ALLOWED_IMAGE_TYPES]
#: Request headers a browser may send cross-origin.
CORS_ALLOW_HEADERS = ["Content-Type", "X-Api-Key", "Idempotency-Key", "Authorization", "X-Amz-Date", "X-Amz-Security-Token"]
CORS_EXPOSE_HEADERS = ["x-request-id"]
#: The body of API Gateway's 413 (``REQUEST_TOO_LARGE``) in the contract's error shape: a direct upload
#: past Lambda's 6 MB invoke payload (or API Gateway's 10 MB) never reaches the function, so the gateway
#: itself points the caller to the presigned-upload route. The local stack answers the same document
#: (``local_stack.gateway.TOO_LARGE_DOCUMENT``; tests/infra keeps the two equal).
TOO_LARGE_DOCUMENT = {
    "success": False,
    "error": "Request body too large; use POST /v1/uploads for photos up to 10 MB",
    "code": "TOO_LARGE",
    "maxSize": limits.DIRECT_UPLOAD_MAX_BYTES,
    "uploadUrl": "/v1/uploads",
}


class Api(Construct):
    """REST API with a Lambda proxy integration.

    Resources:
      - ``/v1/{proxy+}`` ANY → API function, **API key required** (every ``/v1`` route of API.md is
        routed by the function's Powertools resolver, so new routes need no infra change).
      - ``/docs`` and ``/docs/{proxy+}`` GET → API function, no key: the Swagger UI page and its
        assets carry no caller data, and a browser opening the docs has no way to send ``x-api-key``.
        They stay under the stage throttling.
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
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=CORS_ALLOW_HEADERS,
            expose_headers=CORS_EXPOSE_HEADERS,
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
        docs = api.root.add_resource("docs")
        docs.add_method("GET", integration, api_key_required=False)
        docs.add_resource("{proxy+}").add_method("GET", integration, api_key_required=False)

        cors_headers = {
            "Access-Control-Allow-Origin": f"'{config.cors_origins[0] if len(config.cors_origins) == 1 else '*'}'",
            "Access-Control-Allow-Headers": f"'{','.join(CORS_ALLOW_HEADERS)}'",
        }
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
