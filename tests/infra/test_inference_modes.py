"""Issue 13, the CDK side: context ``inference`` (gpu | lambda | hybrid), the CPU inference Lambda on the jobs
queue, the GPU fleet's warm pool and sustained-backlog scaling, their alarms and dashboard widgets.

Reads the session's syntheses: ``synth_defaults`` (cdk.json: ``inference=hybrid``, one On-Demand GPU type),
``synth`` (Spot with two GPU types: no warm pool), and the two mode syntheses ``synth_lambda`` and
``synth_gpu`` (tests/infra/conftest.py). Bad context values are refused by ``StackConfig`` without a synth.
"""

from __future__ import annotations

import json

import pytest
from aws_cdk import App

from infra import cpu_inference, preflight
from infra.config import StackConfig
from infra.grants import CONSUME_ACTIONS
from infra.inference import IMAGE_PULLED_HOOK
from stickers_core import limits, settings
from tests.infra.conftest import messages, warning_ids

pytestmark = pytest.mark.cdk

#: Everything the CPU inference function's role may do (X-Ray aside, the GPU worker's task role holds the same).
JOB_ACTIONS = {*CONSUME_ACTIONS, "dynamodb:GetItem", "dynamodb:UpdateItem", "s3:GetObject", "s3:ListBucket", "s3:PutObject",
               "secretsmanager:GetSecretValue"}
XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
#: The statements of infra/grants.py grant_job_processing (the webhook secret's is Secrets Manager's grant_read).
JOB_SIDS = {"ConsumeJobs", "UpdateJobs", "ReadUploads", "ListUploads", "WriteStickers", "ReadWebhookSecret"}


def _flat(value) -> str:  # noqa: ANN001
    return json.dumps(value, sort_keys=True)


def _props(synth, construct) -> dict:  # noqa: ANN001
    return synth.json["Resources"][synth.logical_id(construct)]["Properties"]


def _mapping_on_jobs_queue(synth) -> dict:  # noqa: ANN001
    queue_arn = {"Fn::GetAtt": [synth.logical_id(synth.stack.jobs.queue), "Arn"]}
    found = [r for r in synth.resources("AWS::Lambda::EventSourceMapping").values() if r["Properties"]["EventSourceArn"] == queue_arn]
    assert len(found) <= 1
    return found[0] if found else {}


def _scale_out_alarm(synth) -> dict:  # noqa: ANN001
    return synth.json["Resources"][synth.logical_id(synth.stack.inference.scale_out_alarm)]["Properties"]


# ------------------------------------------------------------------------------------ CPU inference Lambda
def test_default_stack_consumes_the_jobs_queue_with_the_cpu_inference_lambda(synth_defaults):
    stack = synth_defaults.stack
    assert stack.config.inference == "hybrid" and stack.inference is not None and stack.cpu_inference is not None
    mapping = _mapping_on_jobs_queue(synth_defaults)
    props = mapping["Properties"]
    assert props["FunctionName"] == {"Ref": synth_defaults.logical_id(stack.cpu_inference.function)}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["ScalingConfig"] == {"MaximumConcurrency": 10}
    assert props["BatchSize"] == 1 and "MaximumBatchingWindowInSeconds" not in props
    assert props["MetricsConfig"] == {"Metrics": ["EventCount"]}
    # created only once the role's policy lets the mapping poll the queue
    policy = stack.cpu_inference.role.node.find_child("DefaultPolicy").node.default_child
    assert synth_defaults.stack.get_logical_id(policy) in mapping["DependsOn"]

    fn = _props(synth_defaults, stack.cpu_inference.function)
    assert fn["PackageType"] == "Image" and fn["Architectures"] == ["x86_64"]
    assert fn["ImageConfig"] == {"Command": ["functions.inference.app.handler"]}
    assert fn["MemorySize"] == 3008 and fn["TracingConfig"] == {"Mode": "Active"}
    assert "ReservedConcurrentExecutions" not in fn, "reserved concurrency is off by default"
    log_group = synth_defaults.json["Resources"][fn["LoggingConfig"]["LogGroup"]["Ref"]]["Properties"]
    assert log_group["RetentionInDays"] == 30


def test_function_timeout_fits_between_the_job_budget_and_the_visibility_timeout(synth_defaults):
    timeout = _props(synth_defaults, synth_defaults.stack.cpu_inference.function)["Timeout"]
    visibility = _props(synth_defaults, synth_defaults.stack.jobs.queue)["VisibilityTimeout"]
    assert timeout == cpu_inference.FUNCTION_TIMEOUT_S == limits.JOB_TIMEOUT_S + cpu_inference.TIMEOUT_MARGIN_S
    assert limits.JOB_TIMEOUT_S < timeout <= visibility == limits.VISIBILITY_TIMEOUT_S
    cpu_inference.check_timeouts(limits.VISIBILITY_TIMEOUT_S)
    for wrong in (limits.JOB_TIMEOUT_S - 1, limits.VISIBILITY_TIMEOUT_S + 1):
        with pytest.raises(ValueError, match="visibility timeout"):
            cpu_inference.check_timeouts(wrong)


def test_the_image_asset_is_the_inference_dockerfile_for_linux_amd64(synth_defaults):
    manifest = json.loads((synth_defaults.outdir / f"{synth_defaults.stack.stack_name}.assets.json").read_text())
    by_file = {image["source"]["dockerFile"]: image["source"] for image in manifest["dockerImages"].values()}
    assert set(by_file) == {"gpu_service/Dockerfile", "functions/inference/Dockerfile"}
    source = by_file["functions/inference/Dockerfile"]
    assert source["platform"] == "linux/amd64"
    assert source["dockerBuildArgs"] == by_file["gpu_service/Dockerfile"]["dockerBuildArgs"], "both images bake the same model"
    context = synth_defaults.outdir / source["directory"]
    assert (context / "functions" / "inference" / "Dockerfile").is_file()
    for unwanted in (".venv", "node_modules", "cdk.out", "tests", ".git"):
        assert not (context / unwanted).exists(), unwanted


def test_the_function_gets_the_service_settings_the_gpu_worker_gets(synth_defaults):
    stack = synth_defaults.stack
    env = _props(synth_defaults, stack.cpu_inference.function)["Environment"]["Variables"]
    (container,) = _props(synth_defaults, stack.inference.task_definition)["ContainerDefinitions"]
    worker = {e["Name"]: e["Value"] for e in container["Environment"]}
    shared = {k: v for k, v in worker.items() if k.startswith("STICKERS_") and k not in settings.WORKER_HOST_ENV}
    assert shared and {k: env.get(k) for k in shared} == shared
    assert env[settings.ENV_EXECUTION_PROVIDER] == "cpu", "no GPU on Lambda"
    assert env["POWERTOOLS_SERVICE_NAME"] == limits.SERVICE_NAME and env["XDG_CACHE_HOME"].startswith("/tmp/")
    assert settings.ENV_STOP_TIMEOUT_S not in env, "ECS's stop timeout; the handler watches the remaining invocation time"


def test_the_function_role_holds_the_workers_grants_and_nothing_else(synth_defaults):
    stack = synth_defaults.stack
    statements = synth_defaults.role_statements(stack.cpu_inference.role)
    actions = synth_defaults.role_actions(stack.cpu_inference.role)
    # the job's grants and X-Ray; bedrock:InvokeModel on the one image model where prompt jobs are wired
    # (infra/generation.py, asserted in tests/infra/test_generation_grants.py)
    assert JOB_ACTIONS | XRAY <= actions <= JOB_ACTIONS | XRAY | {"bedrock:InvokeModel"}
    for st in statements:
        actions = {st["Action"]} if isinstance(st["Action"], str) else set(st["Action"])
        if actions <= XRAY:
            continue
        assert st["Resource"] != "*" and "*" not in _flat(st["Resource"]).replace("/uploads/*", "").replace("/stickers/*", ""), st
    listing = [st for st in statements if st["Action"] == "s3:ListBucket"]
    assert listing and all(st["Condition"] == {"StringLike": {"s3:prefix": ["uploads/*"]}} for st in listing)

    def job_statements(role) -> list[str]:  # noqa: ANN001
        return sorted(_flat(st) for st in synth_defaults.role_statements(role) if st.get("Sid") in JOB_SIDS)

    # one grant function for both consumers of the queue (infra/grants.py)
    lambda_statements = job_statements(stack.cpu_inference.role)
    assert len(lambda_statements) == len(JOB_SIDS)
    assert lambda_statements == job_statements(stack.inference.task_definition.task_role)


def test_the_api_reports_the_inference_mode_in_its_health(synth_defaults, synth_lambda, synth_gpu):
    for synth, expected in ((synth_defaults, "hybrid"), (synth_lambda, "lambda"), (synth_gpu, None)):
        env = _props(synth, synth.stack.functions.api_function)["Environment"]["Variables"]
        assert env.get(settings.ENV_INFERENCE) == expected


# ------------------------------------------------------------------------------------------- GPU warm pool
def test_the_gpu_group_has_a_warm_pool_of_stopped_instances(synth_defaults):
    inference = synth_defaults.stack.inference
    (pool,) = synth_defaults.resources("AWS::AutoScaling::WarmPool").values()
    props = pool["Properties"]
    assert props["AutoScalingGroupName"] == {"Ref": synth_defaults.logical_id(inference.auto_scaling_group)}
    assert props["PoolState"] == "Stopped"
    assert props["MinSize"] == 1 and props["MaxGroupPreparedCapacity"] == 1
    # ECS does not allow ReuseOnScaleIn on the warm pool of an ECS Auto Scaling group
    assert props.get("InstanceReusePolicy", {}).get("ReuseOnScaleIn", False) is False
    asg = _props(synth_defaults, inference.auto_scaling_group)
    assert "MixedInstancesPolicy" not in asg and "LaunchTemplate" in asg, "a warm pool needs a group without a mixed policy"
    assert asg["NewInstancesProtectedFromScaleIn"] is True, "ECS managed termination protection"
    (hook,) = synth_defaults.resources("AWS::AutoScaling::LifecycleHook").values()
    assert hook["Properties"]["LifecycleHookName"] == IMAGE_PULLED_HOOK
    assert hook["Properties"]["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_LAUNCHING"
    assert hook["Properties"]["DefaultResult"] == "CONTINUE"


def test_warm_pool_instances_pull_the_worker_image_and_wait_out_the_pool(synth_defaults):
    inference = synth_defaults.stack.inference
    template = _props(synth_defaults, inference.launch_template)["LaunchTemplateData"]
    user_data = _flat(template["UserData"])
    assert "ECS_WARM_POOLS_CHECK=true >> /etc/ecs/ecs.config" in user_data
    assert "aws ecr get-login-password" in user_data and 'docker pull \\"$WORKER_IMAGE\\"' in user_data
    image_uri = _flat(synth_defaults.stack.resolve(inference.image_asset.image_uri))[1:-1]
    assert image_uri in user_data, "the pre-pulled image is the task's image"
    assert "complete-lifecycle-action" in user_data and IMAGE_PULLED_HOOK in user_data
    assert user_data.index("trap exitTrap EXIT") < user_data.index("docker pull"), "the hook is completed on exit, whatever happened"
    assert template["MetadataOptions"]["InstanceMetadataTags"] == "enabled", "the group name comes from IMDS tags"
    assert template["MetadataOptions"]["HttpTokens"] == "required"
    statements = synth_defaults.role_statements(inference.instance_role)
    (complete,) = [s for s in statements if s["Action"] == "autoscaling:CompleteLifecycleAction"]
    assert complete["Resource"] != "*"
    pulls = [s for s in statements if "ecr:BatchGetImage" in _flat(s["Action"])]
    assert pulls and all(s["Resource"] != "*" for s in pulls)


def test_spot_or_several_types_have_no_warm_pool_and_the_synth_says_why(synth):
    assert synth.resources("AWS::AutoScaling::WarmPool") == {}
    assert "MixedInstancesPolicy" in _props(synth, synth.stack.inference.auto_scaling_group)
    assert "ECS_WARM_POOLS_CHECK" not in _flat(_props(synth, synth.stack.inference.launch_template))
    assert any("No GPU warm pool (spot=true)" in text for _, text in messages(synth, "info"))


# ------------------------------------------------------------------------------------------ GPU scaling
def test_hybrid_scales_the_gpu_fleet_out_on_a_sustained_backlog_only(synth_defaults):
    alarm = _scale_out_alarm(synth_defaults)
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Threshold"] == 50 and alarm["EvaluationPeriods"] == 3 and alarm["DatapointsToAlarm"] == 3
    assert alarm["Period"] == 60


def test_gpu_mode_scales_out_on_the_first_waiting_job_and_has_no_inference_lambda(synth_gpu):
    alarm = _scale_out_alarm(synth_gpu)
    assert alarm["Threshold"] == 1 and alarm["EvaluationPeriods"] == 1
    assert synth_gpu.stack.cpu_inference is None and _mapping_on_jobs_queue(synth_gpu) == {}
    assert not [r for r in synth_gpu.resources("AWS::Lambda::Function").values() if r["Properties"].get("PackageType") == "Image"]
    assert len(synth_gpu.resources("AWS::AutoScaling::WarmPool")) == 1
    assert "InferenceFunctionName" not in synth_gpu.json["Outputs"] and "ClusterName" in synth_gpu.json["Outputs"]


# ------------------------------------------------------------------------------------------- lambda mode
def test_lambda_mode_deploys_no_vpc_ecs_or_gpu(synth_lambda):
    types = {r["Type"] for r in synth_lambda.json["Resources"].values()}
    gone = {t for t in types if t.split("::")[1] in ("EC2", "ECS", "AutoScaling", "ApplicationAutoScaling")}
    assert gone == set(), gone
    assert synth_lambda.stack.inference is None and _mapping_on_jobs_queue(synth_lambda)
    body = _flat(synth_lambda.json)
    for absent in ("NatGateway", "RunningTaskCount", "AWS/AutoScaling", "ECS/ContainerInsights", "BacklogWithoutWorkers"):
        assert absent not in body, absent
    assert "ClusterName" not in synth_lambda.json["Outputs"] and "InferenceFunctionName" in synth_lambda.json["Outputs"]
    # preflight: no GPU quota to ask for; cdk-nag clean
    assert "stickers:gpuQuota" not in warning_ids(synth_lambda)
    assert messages(synth_lambda, "error") == []
    report = json.loads((synth_lambda.outdir / "validation-report.json").read_text())
    (nag,) = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    assert nag["conclusion"] == "success" and nag["violations"] == []


# ----------------------------------------------------------------------------------------- observability
@pytest.mark.parametrize("which", ["synth_defaults", "synth_lambda"])
def test_the_inference_function_has_alarms_and_dashboard_widgets(which, request):
    synth = request.getfixturevalue(which)
    obs = synth.stack.observability
    assert {"CpuInferenceLambdaErrors", "InferenceThrottles", "InferenceNearTimeout"} <= set(obs.alarms)
    near = _props(synth, obs.alarms["InferenceNearTimeout"])
    assert near["MetricName"] == "Duration" and near["ExtendedStatistic" if "ExtendedStatistic" in near else "Statistic"] == "Maximum"
    assert near["Threshold"] == cpu_inference.FUNCTION_TIMEOUT_S * 1000 * 0.8
    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    body = _flat(dashboard["Properties"]["DashboardBody"])
    for needle in ("ConcurrentExecutions", "lambdaMaxConcurrency", "PolledEventCount", "FailedInvokeEventCount", "CPU inference duration"):
        assert needle in body, needle
    assert ("BacklogWithoutWorkers" in obs.alarms) == (synth.stack.inference is not None)


# ------------------------------------------------------------------------------------------- bad values
@pytest.mark.parametrize(
    ("context", "match"),
    [
        ({"inference": "cpu"}, "inference 'cpu': 'gpu'"),
        ({"lambdaMaxConcurrency": 1}, "lambdaMaxConcurrency 1: must be between 2 and 1000"),
        ({"lambdaBatchSize": 11}, "lambdaBatchSize 11"),
        ({"lambdaMemoryMb": 10_241}, "lambdaMemoryMb 10241"),
        ({"gpuWarmPoolSize": 5}, "gpuWarmPoolSize 5: must be between 0 and 4"),
        ({"gpuBacklogMinutes": 0}, "gpuBacklogMinutes 0"),
        ({"lambdaReservedConcurrency": 5}, "lambdaReservedConcurrency 5 is below lambdaMaxConcurrency 10"),
    ],
)
def test_bad_inference_context_is_refused(context, match):
    with pytest.raises(ValueError, match=match):
        StackConfig.from_node(App(context=context).node)


def test_context_keys_and_mode_properties():
    cfg = StackConfig.from_node(App(context={"inference": " Lambda ", "lambdaMaxConcurrency": "25", "instanceType": "m5.large"}).node)
    # lambda mode has no GPU fleet: its instance types are not checked
    assert (cfg.inference, cfg.deploys_lambda, cfg.deploys_gpu, cfg.gpu_warm_pool) == ("lambda", True, False, False)
    assert cfg.lambda_max_concurrency == 25
    hybrid = StackConfig.from_node(App(context={"lambdaReservedConcurrency": 10}).node)
    assert hybrid.deploys_gpu and hybrid.deploys_lambda and hybrid.gpu_warm_pool and hybrid.reserved_concurrency_total == 10
    (finding,) = preflight.reserved_concurrency_findings(hybrid)
    assert "inference 10 = 10" in finding.message and "at least 110" in finding.message
    assert not [f for f in preflight.findings(cfg, docker="/nonexistent/docker") if f.scope == "gpu"]
    assert not StackConfig.from_node(App(context={"gpuWarmPoolSize": 0}).node).gpu_warm_pool
    with pytest.raises(ValueError, match="not a GPU instance type"):
        StackConfig.from_node(App(context={"inference": "hybrid", "instanceType": "m5.large"}).node)
