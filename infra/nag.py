"""cdk-nag acknowledgements (AwsSolutions pack, applied in infra/main.py), each with its reason.

cdk-nag 3 runs as a CDK policy-validation plugin: any finding that is not acknowledged here makes
``cdk synth`` fail. Acknowledgements are scoped to the construct that carries the finding, and wildcard
findings (IAM5) are acknowledged one by one, so a new wildcard elsewhere still fails the synth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

if TYPE_CHECKING:  # pragma: no cover
    from infra.stack import StickersStack

PACK = "AwsSolutions::"
LAMBDA_BASIC = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
APIGW_LOGS = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"


def _ack(scope: IConstruct, rule: str, reason: str) -> None:
    Validations.of(scope).acknowledge(Acknowledgment(id=f"{PACK}AwsSolutions-{rule}", reason=reason))


def _logical_id(construct: IConstruct) -> str:
    return construct.node.default_child.node.id if construct.node.default_child else construct.node.id  # type: ignore[union-attr]


def suppress_findings(stack: StickersStack) -> None:
    """Acknowledge the findings the design accepts, on the constructs that carry them."""
    api, functions, storage, jobs = stack.api, stack.functions, stack.storage, stack.jobs
    table_ref = stack.get_logical_id(jobs.table.node.default_child)  # type: ignore[arg-type]
    site_ref = stack.get_logical_id(storage.site_bucket.node.default_child)  # type: ignore[arg-type]
    uploads_ref = stack.get_logical_id(storage.uploads_bucket.node.default_child)  # type: ignore[arg-type]
    stickers_ref = stack.get_logical_id(storage.stickers_bucket.node.default_child)  # type: ignore[arg-type]

    # --- API Gateway ------------------------------------------------------------------------------------
    _ack(api.rest_api, "APIG2", "Input is validated by the API function (pydantic models) so errors keep the "
         "contract's JSON shape and codes (docs/api.md); API Gateway request validation would answer in its own format.")
    _ack(api.rest_api, "APIG4", "Callers authenticate with API keys bound to a usage plan (docs/api.md: x-api-key, "
         "403/429 from API Gateway); /docs is public on purpose. No end-user identity exists to authorize.")
    _ack(api.rest_api, "COG4", "No Cognito user pool: the contract authenticates machine callers with API keys "
         "and usage plans (docs/api.md).")
    _ack(api.rest_api, "APIG3", "No WAF by default (cost); per-key usage-plan throttling and quotas plus stage "
         "throttling bound abuse. Attach a WAFv2 web ACL to the stage where the deployment needs one.")
    _ack(api.rest_api, f"IAM4[{APIGW_LOGS}]", "The account-level API Gateway CloudWatch role (created only with "
         "apiGatewayCloudWatchRole=create, and retained) needs exactly this AWS-managed policy (the documented "
         "way to enable execution logging).")

    # --- Lambda -------------------------------------------------------------------------------------------
    for fn in functions.functions:
        _ack(fn, f"IAM4[{LAMBDA_BASIC}]", "AWSLambdaBasicExecutionRole only allows writing the function's own "
             "CloudWatch logs; it is the standard execution policy.")
        _ack(fn, "IAM5[Resource::*]", "X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords do not "
             "support resource-level permissions.")
        _ack(fn, "L1", "Pinned to Python 3.12, the version the layer's wheels are built for and the code is "
             "tested on (infra/compute.py RUNTIME); runtime and layer are upgraded together.")
    _ack(functions.api_function, f"IAM5[Resource::<{table_ref}.Arn>/index/*]", "GET /v1/jobs queries the "
         "byOwner index (one key's jobs newest first); index ARNs are children of the table ARN.")
    _ack(functions.api_function, f"IAM5[Resource::<{uploads_ref}.Arn>/uploads/*]", "Photos are stored under "
         "uploads/<uploadId>; object ids are generated per request, so access is scoped to the prefix.")
    _ack(functions.api_function, f"IAM5[Resource::<{stickers_ref}.Arn>/stickers/*]", "DELETE /v1/jobs deletes "
         "stickers/<jobId>/*; only s3:DeleteObject is granted on that prefix (no PutObject).")

    # --- live progress (infra/realtime.py) -----------------------------------------------------------------
    realtime = stack.realtime
    for fn in realtime.functions:
        _ack(fn, f"IAM4[{LAMBDA_BASIC}]", "AWSLambdaBasicExecutionRole only allows writing the function's own "
             "CloudWatch logs; it is the standard execution policy.")
        _ack(fn, "L1", "Pinned to Python 3.12, the version the layer's wheels are built for and the code is "
             "tested on (infra/compute.py RUNTIME); runtime and layer are upgraded together.")
    for fn in (realtime.authorizer_function, realtime.connections_function):
        _ack(fn, "IAM5[Resource::*]", "X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords do not "
             "support resource-level permissions.")
    _ack(realtime.notifier_function, "IAM5[Resource::*]", "X-Ray tracing (xray:PutTraceSegments, "
         "xray:PutTelemetryRecords) and the DynamoDB stream event source's dynamodb:ListStreams (granted by CDK's "
         "DynamoEventSource): neither supports resource-level permissions; the stream reads are scoped to the jobs "
         "table's stream.")
    ws_ref = stack.get_logical_id(realtime.web_socket_api.node.default_child)  # type: ignore[arg-type]
    connections_arn = (f"Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<{ws_ref}>/"
                       f"{realtime.stage.stage_name}/POST/@connections/*")  # fmt: skip
    for fn in (realtime.connections_function, realtime.notifier_function):
        _ack(fn, f"IAM5[{connections_arn}]", "PostToConnection to the clients of exactly this WebSocket API's stage: "
             "connection ids are created per client, so the grant is the stage's POST @connections/* (the narrowest "
             "execute-api:ManageConnections resource; no GET or DELETE).")
    for route_key, route in realtime.routes.items():
        if route_key != "$connect":
            _ack(route, "APIG4", "A WebSocket API authorizes at $connect only (API Gateway runs authorizers on the "
                 "$connect route): $connect has the API-key authorizer and requires the key; later messages ride "
                 "that authorized connection, whose key the connection function recorded.")

    _acknowledge_inference(stack, uploads_ref, stickers_ref)

    # --- CloudFront ---------------------------------------------------------------------------------------
    _ack(storage.distribution, "CFR4", "The distribution uses the default *.cloudfront.net certificate (no "
         "custom domain), for which CloudFront fixes the minimum protocol; viewers are HTTPS-only. With a "
         "custom domain, attach an ACM certificate and set minimum_protocol_version=TLS_V1_2_2021.")
    _ack(storage.distribution, "CFR1", "Stickers are public assets for callers worldwide; no geo restriction.")
    _ack(storage.distribution, "CFR2", "Read-only, cached, immutable PNGs from a private bucket through OAC; "
         "no WAF by default (cost). Attach a web ACL where needed.")

    # --- Secrets Manager -----------------------------------------------------------------------------
    _ack(stack.webhook_secret.secret, "SMG4", "The webhook master secret is not rotated automatically: every API "
         "key's signing secret is HMAC(master, key id), so a rotation changes all of them at once and callers' "
         "receivers would reject webhooks until they fetch the new one. Rotation is a manual, announced "
         "procedure (docs/deploy.md, 'Webhook signing secret').")

    # --- web page deployment (BucketDeployment's CDK-managed custom-resource Lambda) -----------------------
    for handler in _bucket_deployment_handlers(stack):
        _ack(handler, f"IAM4[{LAMBDA_BASIC}]", "CDK's BucketDeployment handler writes its own CloudWatch logs "
             "with AWSLambdaBasicExecutionRole; it runs only during deployments.")
        _ack(handler, "L1", "The BucketDeployment handler's runtime is chosen and upgraded by aws-cdk-lib, not by "
             "this project; it runs only during CloudFormation deployments, never on a request path.")
        _ack(handler, "IAM5[Resource::*]", "CDK grants the BucketDeployment handler cloudfront:CreateInvalidation "
             "and GetInvalidation to invalidate the web page after a deployment; CloudFront invalidation "
             "permissions are granted by CDK on '*'.")
        for action in ("s3:GetBucket*", "s3:GetObject*", "s3:List*", "s3:Abort*", "s3:DeleteObject*"):
            _ack(handler, f"IAM5[Action::{action}]", "CDK's BucketDeployment grant (grantRead on the asset "
                 "bucket, grantReadWrite on the site bucket) so it can copy and prune the web page; scoped to "
                 "those two buckets.")
        _ack(handler, f"IAM5[Resource::<{site_ref}.Arn>/*]", "The BucketDeployment handler writes and prunes "
             "the web page's objects in the site bucket, which holds nothing else.")
        _ack(handler, "IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*]",
             "The BucketDeployment handler reads the web page's zipped asset from the CDK bootstrap assets "
             "bucket (read-only).")


def _bucket_deployment_handlers(stack: StickersStack) -> list[IConstruct]:
    """The singleton Lambda functions that CDK's ``BucketDeployment`` adds at stack level."""
    return [c for c in stack.node.children if c.node.id.startswith("Custom::CDKBucketDeployment")]


def _acknowledge_inference(stack: StickersStack, uploads_ref: str, stickers_ref: str) -> None:
    """The GPU fleet's and the CPU inference function's acknowledgements (each only where it is deployed)."""
    inference = stack.inference
    # --- ECS / EC2 --------------------------------------------------------------------------------------
    if inference is not None:
        task_role = inference.task_definition.task_role
        _ack(task_role, f"IAM5[Resource::<{uploads_ref}.Arn>/uploads/*]", "The worker reads the job's photo from "
             "uploads/<uploadId>: s3:GetObject on that prefix only.")
        _ack(task_role, f"IAM5[Resource::<{stickers_ref}.Arn>/stickers/*]", "The worker writes stickers/<jobId>/*: "
             "s3:PutObject on that prefix only.")
        _ack(inference.task_definition.obtain_execution_role(), "IAM5[Resource::*]", "ecr:GetAuthorizationToken "
             "has no resource-level permissions (image pulls themselves are scoped to the asset repository).")
        _ack(inference.instance_role, "IAM5[Resource::*]", "ECS container-agent permissions generated by CDK for "
             "the cluster's instances (ecs:DiscoverPollEndpoint, ecr:GetAuthorizationToken, logs) do not support "
             "resource-level permissions; the cluster-scoped ones are scoped by CDK.")
        _ack(inference.instance_role, "IAM5[Action::ecs:Submit*]", "ECS agent state reporting "
             "(SubmitContainerStateChange, SubmitTaskStateChange…), scoped to the cluster by CDK.")
        _ack(inference.auto_scaling_group, "EC26", "The launch template's only volume is an encrypted gp3 root "
             "volume (asserted in tests/infra); the rule cannot read launch templates inside a mixed-instances policy.")
        _ack(inference.auto_scaling_group, "AS3", "Capacity is managed by the ECS capacity provider; scaling "
             "failures surface as the BacklogWithoutWorkers alarm (to SNS) and in the ASG activity history.")
        if inference.lifecycle_policy is not None:
            asg_ref = stack.get_logical_id(inference.auto_scaling_group.node.default_child)  # type: ignore[arg-type]
            _ack(inference.lifecycle_policy, "IAM5[Resource::arn:<AWS::Partition>:autoscaling:<AWS::Region>:<AWS::AccountId>:"
                 f"autoScalingGroup:*:autoScalingGroupName/<{asg_ref}>]", "CompleteLifecycleAction on the GPU group only: "
                 "an Auto Scaling group ARN carries a generated id, which IAM matches with '*' when the group is named.")
        _ack(inference.task_definition, "ECS2", "Environment variables hold only resource names, URLs and limits, "
             "no secrets; they change only when the stack changes.")

    # --- CPU inference Lambda (infra/cpu_inference.py) -----------------------------------------------------
    cpu = stack.cpu_inference
    if cpu is not None:
        _ack(cpu.function, f"IAM4[{LAMBDA_BASIC}]", "AWSLambdaBasicExecutionRole only allows writing the function's own "
             "CloudWatch logs; it is the standard execution policy.")
        _ack(cpu.function, "IAM5[Resource::*]", "X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords do not "
             "support resource-level permissions.")
        _ack(cpu.function, f"IAM5[Resource::<{uploads_ref}.Arn>/uploads/*]", "The CPU inference function reads the job's "
             "photo from uploads/<uploadId>: s3:GetObject on that prefix only (the GPU worker's grant).")
        _ack(cpu.function, f"IAM5[Resource::<{stickers_ref}.Arn>/stickers/*]", "The CPU inference function writes "
             "stickers/<jobId>/*: s3:PutObject on that prefix only (the GPU worker's grant).")
