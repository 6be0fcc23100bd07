"""CDK assertions on the synthesized stack: every item of the infrastructure issue, least privilege included.

The stack is synthesized once per session (conftest.py); every test reads that template.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk.assertions import Match

from stickers_core import limits, settings
from tests.infra.conftest import messages, warning_ids

pytestmark = pytest.mark.cdk
ROOT = Path(__file__).resolve().parents[2]


def _one(synth, cfn_type):
    found = synth.resources(cfn_type)
    assert len(found) == 1, f"expected one {cfn_type}, got {list(found)}"
    return next(iter(found.values()))["Properties"]


def _flat(value) -> str:
    return json.dumps(value, sort_keys=True)


# --------------------------------------------------------------------------------------------- API
def test_rest_api_binary_media_types(synth):
    api = _one(synth, "AWS::ApiGateway::RestApi")
    assert "multipart/form-data" in api["BinaryMediaTypes"]
    for image_type in limits.ALLOWED_IMAGE_TYPES:
        assert image_type in api["BinaryMediaTypes"]


def test_every_v1_method_requires_an_api_key_and_is_a_lambda_proxy(synth):
    resources = synth.resources("AWS::ApiGateway::Resource")
    v1_ids = {k for k, v in resources.items() if v["Properties"]["PathPart"] == "v1"}
    under_v1 = {k for k, v in resources.items() if _flat(v["Properties"]["ParentId"]).strip('"') in
                {_flat({"Ref": i}) for i in v1_ids}}
    assert under_v1, "no /v1/{proxy+} resource"
    methods = synth.resources("AWS::ApiGateway::Method")
    keyed = [m for m in methods.values() if m["Properties"]["ResourceId"] in [{"Ref": i} for i in under_v1 | v1_ids]]
    non_options = [m for m in keyed if m["Properties"]["HttpMethod"] != "OPTIONS"]
    assert non_options, "no method under /v1"
    for method in non_options:
        assert method["Properties"]["ApiKeyRequired"] is True
        assert method["Properties"]["Integration"]["Type"] == "AWS_PROXY"
    assert any(m["Properties"]["HttpMethod"] == "ANY" for m in non_options)
    # CORS preflight answers without a key.
    assert any(m["Properties"]["HttpMethod"] == "OPTIONS" for m in keyed)


def test_every_method_but_the_preflight_needs_a_key_and_docs_is_no_api_resource(synth):
    # The API reference is static on CloudFront (security review): nothing unauthenticated invokes the function.
    methods = synth.resources("AWS::ApiGateway::Method").values()
    public = [m for m in methods if m["Properties"]["HttpMethod"] != "OPTIONS" and not m["Properties"].get("ApiKeyRequired")]
    assert public == []
    resources = synth.resources("AWS::ApiGateway::Resource")
    assert not [k for k, v in resources.items() if v["Properties"]["PathPart"] == "docs"]


def test_usage_plan_limits_come_from_limits_py_and_default_key_attached(synth):
    synth.template.has_resource_properties(
        "AWS::ApiGateway::UsagePlan",
        {
            "Throttle": {"RateLimit": limits.RATE_LIMIT_RPS, "BurstLimit": limits.BURST_LIMIT},
            "Quota": {"Limit": limits.DAILY_QUOTA, "Period": "DAY"},
            "ApiStages": Match.any_value(),
        },
    )
    synth.template.resource_count_is("AWS::ApiGateway::ApiKey", 1)
    synth.template.has_resource_properties("AWS::ApiGateway::UsagePlanKey", {"KeyType": "API_KEY"})


def test_stage_logs_traces_and_throttles(synth):
    stage = _one(synth, "AWS::ApiGateway::Stage")
    assert stage["StageName"] == "dev"
    assert stage["TracingEnabled"] is True
    assert "DestinationArn" in stage["AccessLogSetting"] and "requestId" in stage["AccessLogSetting"]["Format"]
    settings_all = stage["MethodSettings"][0]
    assert settings_all["ThrottlingRateLimit"] > 0 and settings_all["ThrottlingBurstLimit"] > 0
    assert settings_all["LoggingLevel"] == "ERROR" and settings_all["DataTraceEnabled"] is False


def test_cors_for_browsers(synth):
    options = [m for m in synth.resources("AWS::ApiGateway::Method").values() if m["Properties"]["HttpMethod"] == "OPTIONS"]
    assert options
    headers = _flat(options[0]["Properties"]["Integration"]["IntegrationResponses"])
    assert "X-Api-Key" in headers and "Idempotency-Key" in headers
    responses = synth.resources("AWS::ApiGateway::GatewayResponse").values()
    assert {r["Properties"]["ResponseType"] for r in responses} >= {"DEFAULT_4XX", "DEFAULT_5XX", "REQUEST_TOO_LARGE"}
    for r in responses:
        assert "gatewayresponse.header.Access-Control-Allow-Origin" in r["Properties"]["ResponseParameters"]


def test_request_too_large_answers_the_contracts_too_large_pointing_to_uploads(synth):
    from local_stack.gateway import TOO_LARGE_DOCUMENT as LOCAL_DOCUMENT

    (response,) = [r["Properties"] for r in synth.resources("AWS::ApiGateway::GatewayResponse").values()
                   if r["Properties"]["ResponseType"] == "REQUEST_TOO_LARGE"]
    assert response["StatusCode"] == "413"
    doc = json.loads(response["ResponseTemplates"]["application/json"])
    assert doc == {
        "success": False,
        "error": "Request body too large; use POST /v1/uploads for photos up to 10 MB",
        "code": "TOO_LARGE",
        "maxSize": limits.DIRECT_UPLOAD_MAX_BYTES,
        "uploadUrl": "/v1/uploads",
    }
    assert doc == LOCAL_DOCUMENT, "the local stack's oversize answer mirrors the gateway response"
    headers = response["ResponseParameters"]
    assert headers["gatewayresponse.header.Access-Control-Allow-Origin"] == "'*'"
    assert "X-Api-Key" in headers["gatewayresponse.header.Access-Control-Allow-Headers"]


# ---------------------------------------------------------------------------------------- functions
def _function(synth, construct):
    return synth.json["Resources"][synth.logical_id(construct)]["Properties"]


def test_functions_runtime_arch_tracing_layer_and_context_sizes(synth):
    f = synth.stack.functions
    for fn, memory, timeout, handler in (
        (f.api_function, 1024, 29, "functions.api.app.handler"),
        (f.dead_letter_function, 256, 30, "functions.dead_letters.app.handler"),
    ):
        props = _function(synth, fn)
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["arm64"]
        assert props["Handler"] == handler  # the code asset is the `functions` package (infra/bundling.py stage_function)
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["MemorySize"] == memory and props["Timeout"] == timeout
        assert "ReservedConcurrentExecutions" not in props, "off by default (test_reserved_concurrency_*)"
        assert props["Layers"] == [{"Ref": synth.logical_id(f.layer)}]
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
        env = props["Environment"]["Variables"]
        for var in (
            settings.ENV_TABLE_NAME, settings.ENV_QUEUE_URL, settings.ENV_DLQ_URL, settings.ENV_UPLOADS_BUCKET,
            settings.ENV_STICKERS_BUCKET, settings.ENV_CDN_BASE_URL, settings.ENV_JOB_TIMEOUT_S,
            settings.ENV_VISIBILITY_TIMEOUT_S, settings.ENV_MAX_ATTEMPTS,
        ):
            assert var in env, var
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == limits.METRICS_NAMESPACE
        assert env[settings.ENV_MAX_ATTEMPTS] == str(limits.MAX_ATTEMPTS)
        cdn = _flat(env[settings.ENV_CDN_BASE_URL])
        assert "https://" in cdn and "DomainName" in cdn
        assert env[settings.ENV_WEBHOOK_SECRET_ARN] == {"Ref": synth.logical_id(synth.stack.webhook_secret.secret)}
        assert settings.ENV_WEBHOOK_SECRET not in env, "only the ARN travels; the value is read at run time"
    assert "STICKERS_IDEMPOTENCY_TABLE" in _function(synth, f.api_function)["Environment"]["Variables"]


def _core_layer(synth):
    return synth.json["Resources"][synth.logical_id(synth.stack.functions.layer)]["Properties"]


def test_layer_is_for_arm64_python312(synth):
    layer = _core_layer(synth)
    assert layer["CompatibleArchitectures"] == ["arm64"]
    assert layer["CompatibleRuntimes"] == ["python3.12"]


def test_bundled_layer_holds_linux_arm64_wheels_and_the_core(synth):
    layer = _core_layer(synth)
    asset_hash = layer["Content"]["S3Key"].removesuffix(".zip")
    site = synth.outdir / f"asset.{asset_hash}" / "python"
    assert (site / "stickers_core" / "limits.py").is_file()
    assert (site / "stickers_core" / "settings.py").is_file()
    for package, module in (("pydantic_core", "_pydantic_core"), ("PIL", "_imaging")):
        so = list((site / package).glob(f"{module}.cpython-312-aarch64-linux-gnu.so"))
        assert so, f"{package}: no aarch64 cp312 extension in {sorted(p.name for p in (site / package).glob('*.so'))}"
        assert so[0].read_bytes()[:4] == b"\x7fELF"
    for package in ("aws_lambda_powertools", "pydantic", "multipart", "python_multipart"):
        assert (site / package).is_dir(), package
    assert not (site / "boto3").exists(), "boto3 comes with the Lambda runtime"


def test_layer_ships_python312_byte_code(synth):
    """Lambda mounts the layer read-only: without byte-code every cold start compiles every module
    (benchmarks/layer_cold_import.py: ~2.2x the import time)."""
    from infra.bundling import runtime_interpreter

    site = synth.outdir / f"asset.{_core_layer(synth)['Content']['S3Key'].removesuffix('.zip')}" / "python"
    if runtime_interpreter("3.12") is None:
        assert not list(site.rglob("__pycache__"))  # built without byte-code, and said so
        pytest.skip("no Python 3.12 here to byte-compile the layer with (STICKERS_LAYER_PYTHON)")
    for source in (site / "stickers_core" / "service.py", site / "aws_lambda_powertools" / "__init__.py",
                   site / "pydantic" / "main.py"):  # fmt: skip
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc"
        assert pyc.is_file(), pyc
        flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
        assert flags == 0b01, f"{pyc}: not unchecked-hash byte-code (flags {flags:#b})"  # valid whatever the zip's mtimes
    assert not list(site.rglob("*.cpython-311.pyc")), "byte-code of the wrong Python version"


def test_dead_letter_function_consumes_the_dlq_with_partial_batch_failures(synth):
    dlq_id = synth.logical_id(synth.stack.jobs.dlq)
    synth.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
            "FunctionName": {"Ref": synth.logical_id(synth.stack.functions.dead_letter_function)},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BatchSize": 10,
        },
    )
    # this one, the live-progress notifier's (the jobs table's stream: tests/infra/test_realtime.py) and the
    # CPU inference function's on the jobs queue (tests/infra/test_inference_modes.py)
    synth.template.resource_count_is("AWS::Lambda::EventSourceMapping", 3)


# ------------------------------------------------------------------------------------ least privilege
def _statements_on(synth, role, ref_id):
    return [st for st in synth.role_statements(role) if ref_id in _flat(st["Resource"])]


def test_api_function_grants(synth):
    s = synth.stack
    role = s.functions.api_function.role
    actions = synth.role_actions(role)
    assert {"sqs:SendMessage", "sqs:GetQueueAttributes", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem",
            "s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:ListBucket"} <= actions
    stickers_id = synth.logical_id(s.storage.stickers_bucket)
    stickers_actions = set()
    for st in _statements_on(synth, role, stickers_id):
        stickers_actions.update([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    assert stickers_actions == {"s3:DeleteObject", "s3:ListBucket"}, "the API function must not write stickers"
    table_actions = set()
    for st in _statements_on(synth, role, synth.logical_id(s.jobs.table)):
        table_actions.update([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    assert table_actions == {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    dlq_id = synth.logical_id(s.jobs.dlq)
    for st in _statements_on(synth, role, dlq_id):
        assert st["Action"] == "sqs:GetQueueAttributes" or set(st["Action"]) <= {"sqs:GetQueueAttributes"}
    assert not any(a.startswith(("ecs:", "apigateway:", "iam:")) or a.endswith(":*") for a in actions)
    assert {a for a in actions if a.startswith("secretsmanager:")} == {"secretsmanager:GetSecretValue"}


def _secret_statements(synth, role):
    return [st for st in synth.role_statements(role) if "secretsmanager" in _flat(st["Action"])]


def test_only_the_webhook_secret_is_readable_and_only_by_its_four_readers(synth):
    s = synth.stack
    secret_ref = {"Ref": synth.logical_id(s.webhook_secret.secret)}
    readers = (s.functions.api_function.role, s.functions.dead_letter_function.role, s.inference.task_definition.task_role,
               s.cpu_inference.role)
    for role in readers:
        (statement,) = _secret_statements(synth, role)
        assert statement["Action"] == "secretsmanager:GetSecretValue"
        assert statement["Resource"] == secret_ref, "GetSecretValue on the webhook secret only"
    reader_ids = {synth.logical_id(r) for r in readers}
    for policy in synth.resources("AWS::IAM::Policy").values():
        if "secretsmanager" in _flat(policy["Properties"]["PolicyDocument"]):
            assert {r["Ref"] for r in policy["Properties"]["Roles"]} <= reader_ids


def test_webhook_secret_is_generated_and_encrypted_with_the_default_key(synth):
    secret = _one(synth, "AWS::SecretsManager::Secret")
    assert secret["GenerateSecretString"]["PasswordLength"] >= 32
    assert "SecretString" not in secret, "generated by Secrets Manager, never in the template"
    assert "KmsKeyId" not in secret  # aws/secretsmanager
    synth.template.resource_count_is("AWS::SecretsManager::RotationSchedule", 0)


def test_worker_task_role_is_minimal(synth):
    s = synth.stack
    actions = synth.role_actions(s.inference.task_definition.task_role)
    assert actions == {
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes",
        "dynamodb:GetItem", "dynamodb:UpdateItem", "s3:GetObject", "s3:ListBucket", "s3:PutObject",
        "secretsmanager:GetSecretValue",
        "bedrock:InvokeModel",  # the configured image model only (tests/infra/test_generation_grants.py)
    }
    assert not any(a.startswith(("apigateway:", "ecs:", "iam:")) for a in actions), "the worker cannot touch API Gateway"
    role = s.inference.task_definition.task_role
    put = [st for st in synth.role_statements(role) if st["Action"] == "s3:PutObject"]
    assert len(put) == 1 and synth.logical_id(s.storage.stickers_bucket) in _flat(put[0]["Resource"])
    get = [st for st in synth.role_statements(role) if st["Action"] == "s3:GetObject"]
    assert len(get) == 1 and synth.logical_id(s.storage.uploads_bucket) in _flat(get[0]["Resource"])
    for st in synth.role_statements(role):
        assert synth.logical_id(s.jobs.dlq) not in _flat(st["Resource"])
        assert synth.logical_id(s.jobs.idempotency_table) not in _flat(st["Resource"])


def test_dead_letter_function_grants(synth):
    s = synth.stack
    actions = synth.role_actions(s.functions.dead_letter_function.role)
    assert actions == {
        "dynamodb:GetItem", "dynamodb:UpdateItem",
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "secretsmanager:GetSecretValue",
        "xray:PutTraceSegments", "xray:PutTelemetryRecords",
    }
    assert not any(a.startswith(("s3:", "apigateway:", "ecs:")) for a in actions)
    assert "sqs:SendMessage" not in actions and "dynamodb:DeleteItem" not in actions


# -------------------------------------------------------------------------------------------- jobs
def test_jobs_table(synth):
    synth.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "TableName": f"dev-{limits.TABLE_NAME}",
            "KeySchema": [{"AttributeName": "jobId", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "TimeToLiveSpecification": {"AttributeName": "expiresAt", "Enabled": True},
            "SSESpecification": {"SSEEnabled": True},
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": limits.OWNER_INDEX_NAME,
                    "KeySchema": [
                        {"AttributeName": "ownerId", "KeyType": "HASH"},
                        {"AttributeName": "createdAt", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        },
    )


def test_idempotency_table(synth):
    synth.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "TimeToLiveSpecification": {"AttributeName": "expiration", "Enabled": True},
            "SSESpecification": {"SSEEnabled": True},
        },
    )


def test_queues(synth):
    s = synth.stack
    queue = synth.json["Resources"][synth.logical_id(s.jobs.queue)]["Properties"]
    assert queue["VisibilityTimeout"] == limits.VISIBILITY_TIMEOUT_S > limits.JOB_TIMEOUT_S
    assert queue["ReceiveMessageWaitTimeSeconds"] == limits.RECEIVE_WAIT_S
    assert queue["RedrivePolicy"]["maxReceiveCount"] == limits.MAX_ATTEMPTS == 3
    assert queue["KmsMasterKeyId"] == "alias/aws/sqs"
    dlq = synth.json["Resources"][synth.logical_id(s.jobs.dlq)]["Properties"]
    assert dlq["KmsMasterKeyId"] == "alias/aws/sqs"
    assert dlq["MessageRetentionPeriod"] == limits.DLQ_RETENTION_DAYS * 86400
    policies = synth.resources("AWS::SQS::QueuePolicy").values()
    assert len(policies) == 2
    for p in policies:
        assert '"aws:SecureTransport": "false"' in _flat(p["Properties"]["PolicyDocument"])


# ----------------------------------------------------------------------------------------- storage
def _bucket(synth, bucket):
    return synth.json["Resources"][synth.logical_id(bucket)]["Properties"]


def test_buckets_private_encrypted_logged_and_ssl_only(synth):
    st = synth.stack.storage
    for bucket in (st.uploads_bucket, st.stickers_bucket, st.site_bucket):
        props = _bucket(synth, bucket)
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
        }
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
        assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": synth.logical_id(st.log_bucket)}
    bucket_ids = {synth.logical_id(b) for b in (st.uploads_bucket, st.stickers_bucket, st.site_bucket, st.log_bucket)}
    ssl_enforced = set()
    for policy in synth.resources("AWS::S3::BucketPolicy").values():
        doc = _flat(policy["Properties"]["PolicyDocument"])
        if '"aws:SecureTransport": "false"' in doc:
            ssl_enforced.add(policy["Properties"]["Bucket"]["Ref"])
    assert bucket_ids <= ssl_enforced


def test_uploads_expire_after_a_day_and_allow_presigned_post(synth):
    props = _bucket(synth, synth.stack.storage.uploads_bucket)
    assert props["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 1
    cors = props["CorsConfiguration"]["CorsRules"][0]
    assert "POST" in cors["AllowedMethods"]


def test_stickers_retention_from_context(synth):
    props = _bucket(synth, synth.stack.storage.stickers_bucket)
    rule = props["LifecycleConfiguration"]["Rules"][0]
    assert rule["ExpirationInDays"] == synth.stack.config.sticker_retention_days == 30
    assert rule["Prefix"] == f"{limits.STICKERS_PREFIX}/"


def test_cloudfront_oac_https_bounded_cache(synth):
    dist = _one(synth, "AWS::CloudFront::Distribution")["DistributionConfig"]
    (stickers,) = dist["CacheBehaviors"]
    assert stickers["PathPattern"] == f"{limits.STICKERS_PREFIX}/*", "sticker URLs stay <cdn>/stickers/<jobId>/…"
    assert stickers["ViewerProtocolPolicy"] == "https-only"
    assert all(o["OriginAccessControlId"] for o in dist["Origins"]) and len(dist["Origins"]) == 2
    assert "Logging" in dist
    synth.template.resource_count_is("AWS::CloudFront::OriginAccessControl", 2)
    cache = _one(synth, "AWS::CloudFront::CachePolicy")["CachePolicyConfig"]
    assert cache["DefaultTTL"] == cache["MaxTTL"] == limits.STICKER_CACHE_MAX_AGE_S, "bounded: deleted stickers stop answering (test_expiry.py)"
    assert stickers["CachePolicyId"] == {"Ref": synth.logical_id(synth.stack.storage.distribution.node.scope.node.find_child("ImmutableStickers"))}
    # Only CloudFront (by distribution) may read the stickers and site buckets.
    for bucket in (synth.stack.storage.stickers_bucket, synth.stack.storage.site_bucket):
        bucket_id = synth.logical_id(bucket)
        policy = next(p for p in synth.resources("AWS::S3::BucketPolicy").values() if p["Properties"]["Bucket"] == {"Ref": bucket_id})
        doc = _flat(policy["Properties"]["PolicyDocument"])
        assert "cloudfront.amazonaws.com" in doc and "AWS:SourceArn" in doc


def _origin_bucket(synth, dist, origin_id):
    origin = next(o for o in dist["Origins"] if o["Id"] == origin_id)
    return origin["DomainName"]["Fn::GetAtt"][0]


def test_web_page_is_the_default_behaviour_of_the_same_distribution(synth):
    st = synth.stack.storage
    dist = _one(synth, "AWS::CloudFront::Distribution")["DistributionConfig"]
    assert dist["DefaultRootObject"] == "index.html"
    default = dist["DefaultCacheBehavior"]
    assert _origin_bucket(synth, dist, default["TargetOriginId"]) == synth.logical_id(st.site_bucket)
    assert default["ViewerProtocolPolicy"] in ("https-only", "redirect-to-https")
    assert default["AllowedMethods"] == ["GET", "HEAD"]
    (stickers,) = dist["CacheBehaviors"]
    assert _origin_bucket(synth, dist, stickers["TargetOriginId"]) == synth.logical_id(st.stickers_bucket)


def test_web_page_deployment_ships_the_static_page_and_a_config_json_with_the_api_url(synth):
    (deploy,) = synth.resources("Custom::CDKBucketDeployment").values()
    props = deploy["Properties"]
    assert props["DestinationBucketName"] == {"Ref": synth.logical_id(synth.stack.storage.site_bucket)}
    assert props["Prune"] is True
    assert props["DistributionId"] == {"Ref": synth.logical_id(synth.stack.storage.distribution)}
    assert "/config.json" in props["DistributionPaths"] and "/index.html" in props["DistributionPaths"]
    markers = _flat(props["SourceMarkers"])
    rest_api_id = synth.logical_id(synth.stack.api.rest_api)
    assert rest_api_id in markers and ".execute-api." in markers, "config.json's apiUrl is this stack's API"
    page_zip, config_zip = props["SourceObjectKeys"]
    page = synth.outdir / f"asset.{page_zip.removesuffix('.zip')}"
    assert (page / "index.html").is_file(), "local_stack/static/index.html"
    assert (page / "docs" / "index.html").is_file() and (page / "docs" / "openapi.json").is_file(), "Swagger UI on the CDN"
    assert "/docs/*" in props["DistributionPaths"]
    config_asset = synth.outdir / f"asset.{config_zip.removesuffix('.zip')}"
    config = (config_asset / "config.json").read_text()
    # {"apiUrl": <marker>}: the deployment substitutes the marker with the stage URL (SourceMarkers).
    assert config.startswith('{"apiUrl":') and "<<marker:" in config


# --------------------------------------------------------------------------------------- inference
def test_gpu_capacity(synth):
    synth.template.resource_count_is("AWS::EC2::VPC", 1)
    synth.template.has_resource_properties(
        "AWS::ECS::Cluster", {"ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]}
    )
    asg = _one(synth, "AWS::AutoScaling::AutoScalingGroup")
    assert asg["MinSize"] == "0" and asg["MaxSize"] == "4"
    assert asg["NewInstancesProtectedFromScaleIn"] is True
    mip = asg["MixedInstancesPolicy"]
    assert mip["InstancesDistribution"]["OnDemandPercentageAboveBaseCapacity"] == 0  # spot=true in this synth
    assert [o["InstanceType"] for o in mip["LaunchTemplate"]["Overrides"]] == ["g5.xlarge", "g4dn.xlarge"]
    lt = _one(synth, "AWS::EC2::LaunchTemplate")["LaunchTemplateData"]
    assert lt["InstanceType"] == "g5.xlarge"
    assert lt["MetadataOptions"]["HttpTokens"] == "required"
    assert lt["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    image_param = _flat(lt["ImageId"])
    params = _flat(synth.json.get("Parameters", {}))
    assert "amazon-linux-2023/gpu" in params and "Ref" in image_param
    cp = _one(synth, "AWS::ECS::CapacityProvider")["AutoScalingGroupProvider"]
    assert cp["ManagedScaling"]["Status"] == "ENABLED"
    assert cp["ManagedTerminationProtection"] == "ENABLED"


def test_worker_task_definition(synth):
    task = _one(synth, "AWS::ECS::TaskDefinition")
    assert task["RequiresCompatibilities"] == ["EC2"]
    (container,) = task["ContainerDefinitions"]
    assert {"Type": "GPU", "Value": "1"} in container["ResourceRequirements"]
    assert container["Command"] == ["python", "-m", "gpu_service"], "the image has no `stickers` CLI (gpu_service/requirements.lock)"
    assert container["StopTimeout"] > limits.JOB_TIMEOUT_S
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    for var in (settings.ENV_TABLE_NAME, settings.ENV_QUEUE_URL, settings.ENV_DLQ_URL, settings.ENV_UPLOADS_BUCKET,
                settings.ENV_STICKERS_BUCKET, settings.ENV_CDN_BASE_URL, settings.ENV_JOB_TIMEOUT_S,
                settings.ENV_VISIBILITY_TIMEOUT_S, settings.ENV_MAX_ATTEMPTS, settings.ENV_MODEL_NAME):
        assert var in env, var
    assert "DomainName" in _flat(env[settings.ENV_CDN_BASE_URL])
    assert "dkr.ecr" in _flat(container["Image"])
    assert env[settings.ENV_STOP_TIMEOUT_S] == str(container["StopTimeout"]), "the worker drains within ECS's stop timeout"
    assert env[settings.ENV_EXECUTION_PROVIDER] == "cuda", "a GPU task refuses to start on CPU"


def test_worker_image_asset_is_the_gpu_dockerfile_without_dev_files(synth):
    manifest = json.loads((synth.outdir / f"{synth.stack.stack_name}.assets.json").read_text())
    (image,) = [i for i in manifest["dockerImages"].values() if i["source"]["dockerFile"] == "gpu_service/Dockerfile"]
    assert image["source"]["platform"] == "linux/amd64"
    context = synth.outdir / image["source"]["directory"]
    assert (context / "pyproject.toml").is_file() and (context / "gpu_service" / "Dockerfile").is_file()
    for unwanted in (".venv", "node_modules", "cdk.out", "tests", ".git", "build"):
        assert not (context / unwanted).exists(), unwanted


def test_service_and_backlog_scaling(synth):
    service = _one(synth, "AWS::ECS::Service")
    assert service["DesiredCount"] == 0
    assert service["CapacityProviderStrategy"][0]["Weight"] == 1
    target = _one(synth, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert target["MinCapacity"] == 0 and target["MaxCapacity"] == 4
    policies = synth.resources("AWS::ApplicationAutoScaling::ScalingPolicy").values()
    kinds = {p["Properties"]["StepScalingPolicyConfiguration"]["AdjustmentType"]: p["Properties"] for p in policies}
    out = kinds["ChangeInCapacity"]["StepScalingPolicyConfiguration"]["StepAdjustments"]
    assert [s["ScalingAdjustment"] for s in out] == [1, 2, 4]  # out in steps
    (scale_in,) = kinds["ExactCapacity"]["StepScalingPolicyConfiguration"]["StepAdjustments"]
    assert scale_in["ScalingAdjustment"] == 0  # in to zero
    alarms = synth.resources("AWS::CloudWatch::Alarm").values()
    idle = [a for a in alarms if "ApproximateNumberOfMessagesNotVisible" in _flat(a["Properties"].get("Metrics", []))
            and "visible + inflight" in _flat(a["Properties"]["Metrics"])]
    assert idle and idle[0]["Properties"]["ComparisonOperator"] == "LessThanThreshold"


# ----------------------------------------------------------------------------------- observability
def test_alarms_go_to_the_encrypted_topic_with_email(synth):
    topic = _one(synth, "AWS::SNS::Topic")
    assert "KmsMasterKeyId" in topic
    synth.template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"})
    obs = synth.stack.observability
    assert set(obs.alarms) >= {"DeadLetters", "OldestJobTooOld", "Api5xxRate", "ApiLambdaErrors",
                               "DeadLettersLambdaErrors", "BacklogWithoutWorkers"}
    topic_id = synth.logical_id(synth.stack.alarm_topic.topic)
    for alarm in obs.alarms.values():
        props = synth.json["Resources"][synth.logical_id(alarm)]["Properties"]
        assert props["AlarmActions"] == [{"Ref": topic_id}]


def test_dashboard_shows_everything_asked(synth):
    body = _flat(_one(synth, "AWS::CloudWatch::Dashboard")["DashboardBody"])
    for needle in ("AWS/ApiGateway", "4XXError", "5XXError", "Latency", "p99", "p50", "AWS/Lambda", "Errors",
                   "Throttles", "Duration", "ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage",
                   "RunningTaskCount", "JobLatency", "InferenceAndRenderLatency", "StickersMade",
                   f"Namespace=\\\\\\\"{limits.METRICS_NAMESPACE}\\\\\\\""):
        assert needle in body, needle


def test_outputs(synth):
    outputs = synth.json["Outputs"]
    for name in ("ApiUrl", "CdnUrl", "SiteUrl", "DefaultApiKeyId", "DashboardUrl", "QueueUrl", "TableName",
                 "UsagePlanId", "WebhookSecretArn"):
        assert name in outputs, name
    site = _flat(outputs["SiteUrl"]["Value"])
    assert "https://" in site and synth.logical_id(synth.stack.storage.distribution) in site


# -------------------------------------------------------------------------------------- guardrails
def test_cdk_nag_no_unacknowledged_finding_and_every_acknowledgement_has_a_reason(synth):
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    (nag,) = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    assert nag["conclusion"] == "success"
    assert nag["violations"] == []
    assert nag["suppressedViolations"], "expected the documented acknowledgements"
    for sup in nag["suppressedViolations"]:
        assert len(sup["reason"]) > 30, sup["ruleName"]


def test_cloud_assembly_has_no_error_and_only_the_preflight_warnings(synth):
    from infra import preflight

    assert messages(synth, "error") == []
    # The shared synth (tests/cdk_synth.py): Spot, alarm e-mail, no reserved concurrency; Docker as on this
    # machine (the CDK_DOCKER or docker found on PATH).
    expected = {"stickers:gpuQuota"} | ({"stickers:docker"} if preflight.docker_findings() else set())
    warnings = messages(synth, "warning")
    assert set(warning_ids(synth)) == expected, warnings
    assert len(warnings) == len(expected), "no other warning (CDK deprecations included)"


def test_defaults_synth_warns_only_about_the_gpu_quota_and_the_missing_alarm_email(synth_defaults):
    assert messages(synth_defaults, "error") == []
    assert set(warning_ids(synth_defaults)) == {"stickers:gpuQuota", "stickers:noAlarmEmail"}
    assert len(messages(synth_defaults, "warning")) == 2


# ------------------------------------------------------------------------------- first-deploy blockers
def test_reserved_concurrency_is_off_by_default(synth_defaults):
    functions = synth_defaults.resources("AWS::Lambda::Function")
    f = synth_defaults.stack.functions
    for fn in (f.api_function, f.dead_letter_function):
        assert synth_defaults.logical_id(fn) in functions
    for props in functions.values():
        assert "ReservedConcurrentExecutions" not in props["Properties"]
    assert "stickers:reservedConcurrency" not in warning_ids(synth_defaults)


def test_reserved_concurrency_when_set_warns_with_the_account_quota_it_needs(synth_options):
    f = synth_options.stack.functions
    assert _function(synth_options, f.api_function)["ReservedConcurrentExecutions"] == 50
    assert _function(synth_options, f.dead_letter_function)["ReservedConcurrentExecutions"] == 5
    text = warning_ids(synth_options)["stickers:reservedConcurrency"]
    assert "API 50 + dead-letter 5 = 55" in text and "at least 155" in text, text
    assert "aws lambda get-account-settings" in text
    (path,) = [p for p, t in messages(synth_options, "warning") if t == text]
    assert path == "/" + f.node.path


def test_gpu_quota_warning_states_the_vcpus_the_fleet_needs(synth, synth_defaults):
    spot = warning_ids(synth)["stickers:gpuQuota"]  # spot, g5.xlarge + g4dn.xlarge (4 vCPUs), maxTasks 4
    assert "L-3819A6DF" in spot and "All G and VT Spot Instance Requests" in spot and "at least 16 vCPUs" in spot
    on_demand = warning_ids(synth_defaults)["stickers:gpuQuota"]
    assert "L-DB2E81BA" in on_demand and "Running On-Demand G and VT instances" in on_demand and "at least 16 vCPUs" in on_demand
    assert "aws service-quotas get-service-quota --service-code ec2 --quota-code L-DB2E81BA" in on_demand


def test_docker_warning_only_where_docker_is_missing(synth_options, synth_defaults):
    text = warning_ids(synth_options)["stickers:docker"]
    assert "no Docker CLI" in text and "cdk deploy" in text and "buildx" in text
    assert "stickers:docker" not in warning_ids(synth_defaults)


def test_dev_without_alarm_email_warns_loudly_and_subscribes_no_one(synth_defaults, synth_options):
    text = warning_ids(synth_defaults)["stickers:noAlarmEmail"]
    assert text.startswith("NO ALARM E-MAIL") and "alarmEmail" in text
    (path,) = [p for p, t in messages(synth_defaults, "warning") if t == text]
    assert path == "/" + synth_defaults.stack.alarm_topic.node.path
    synth_defaults.template.resource_count_is("AWS::SNS::Subscription", 0)
    # prod (which cannot synthesize without one: test_preflight.py) subscribes its e-mail, no warning
    synth_options.template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"})
    assert "stickers:noAlarmEmail" not in warning_ids(synth_options)


def test_worker_service_depends_on_the_capacity_provider_association(synth):
    """Without the dependency CloudFormation may create the service before its capacity provider is
    associated with the cluster, and the first deploy rolls back."""
    ((assoc_id, assoc),) = synth.resources("AWS::ECS::ClusterCapacityProviderAssociations").items()
    (provider_id,) = synth.resources("AWS::ECS::CapacityProvider")
    assert {"Ref": provider_id} in assoc["Properties"]["CapacityProviders"]
    assert assoc["Properties"]["Cluster"] == {"Ref": synth.logical_id(synth.stack.inference.cluster)}
    service_id = synth.logical_id(synth.stack.inference.service)
    service = synth.json["Resources"][service_id]
    assert assoc_id in service.get("DependsOn", []), service.get("DependsOn")
    assert service["Properties"]["CapacityProviderStrategy"] == [{"CapacityProvider": {"Ref": provider_id}, "Weight": 1}]


def _account_and_role(synth):
    accounts = synth.resources("AWS::ApiGateway::Account")
    roles = {k: v for k, v in synth.resources("AWS::IAM::Role").items()
             if "apigateway.amazonaws.com" in _flat(v["Properties"]["AssumeRolePolicyDocument"])}
    return accounts, roles


def test_api_gateway_account_setting_is_created_but_never_owned_by_default(synth_defaults):
    """Default ``apiGatewayCloudWatchRole=create``: a first deploy in a fresh account works (the stage's
    logging needs the account's role), and the role and the account setting are retained, so destroying
    or replacing this stage never breaks execution logging of the region's other APIs."""
    assert synth_defaults.stack.config.api_gateway_cloud_watch_role == "create"
    accounts, roles = _account_and_role(synth_defaults)
    ((account_id, account),) = accounts.items()
    ((role_id, role),) = roles.items()
    for resource in (account, role):
        assert resource["DeletionPolicy"] == "Retain" and resource["UpdateReplacePolicy"] == "Retain"
    assert account["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}
    assert "AmazonAPIGatewayPushToCloudWatchLogs" in _flat(role["Properties"]["ManagedPolicyArns"])
    (stage,) = synth_defaults.resources("AWS::ApiGateway::Stage").values()
    assert account_id in stage["DependsOn"], "the stage's logging needs the account setting first"


def test_existing_api_gateway_account_setting_creates_nothing(synth_options):
    """``apiGatewayCloudWatchRole=existing``: no account setting, no role; an info note says what the
    account must have; cdk-nag stays clean."""
    accounts, roles = _account_and_role(synth_options)
    assert accounts == {} and roles == {}
    (stage,) = synth_options.resources("AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["StageName"] == "prod" and "DependsOn" not in stage
    assert any("aws apigateway get-account" in text for _, text in messages(synth_options, "info"))
    assert messages(synth_options, "error") == []
    assert set(warning_ids(synth_options)) == {"stickers:gpuQuota", "stickers:reservedConcurrency", "stickers:docker"}
    report = json.loads((synth_options.outdir / "validation-report.json").read_text())
    (nag,) = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    assert nag["conclusion"] == "success" and nag["violations"] == []


@pytest.mark.parametrize("which", ["synth", "synth_defaults", "synth_options"])
def test_cfn_lint_reports_no_error(which, request):
    synth = request.getfixturevalue(which)
    template = synth.outdir / f"{synth.stack.stack_name}.template.json"
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    done = subprocess.run(
        [str(cfn_lint), "--format", "json", str(template)], capture_output=True, text=True, check=False
    )
    findings = json.loads(done.stdout or "[]")
    errors = [f for f in findings if f["Level"] == "Error"]
    assert errors == [], errors
    assert done.returncode in (0, 4, 8, 12), done.stderr  # 2 = errors; 4/8 = warnings/informational


# ---------------------------------------------------------------------------------------- Dockerfile
def test_dockerfile():
    text = (ROOT / "gpu_service" / "Dockerfile").read_text()
    assert re.search(r"^FROM nvidia/cuda:12\.[0-9.]+-cudnn-runtime-ubuntu24\.04", text, re.M)
    assert "pip install --no-deps --require-hashes -r gpu_service/requirements.lock" in text and "pip install --no-deps ." in text
    assert "python -m gpu_service.image_check --libraries" in text
    assert 'CMD ["python", "-m", "gpu_service"]' in text and "STICKERS_EXECUTION_PROVIDER=cuda" in text
    assert "ARG MODEL_URL" in text and "/opt/models" in text and "STICKERS_MODEL_PATH" in text
    assert re.search(r"^USER (?!root)\w+", text, re.M)
    assert "STOPSIGNAL SIGTERM" in text
    ignore = (ROOT / ".dockerignore").read_text().split()
    for entry in (".venv", "node_modules", "cdk.out", "tests", ".git"):
        assert entry in ignore
