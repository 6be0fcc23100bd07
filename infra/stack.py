"""The one stack that wires the constructs together."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra import preflight
from infra.api import Api
from infra.compute import Functions
from infra.config import StackConfig
from infra.cpu_inference import CpuInference
from infra.inference import Inference
from infra.jobs import Jobs
from infra.nag import suppress_findings
from infra.observability import AlarmTopic, Observability
from infra.realtime import Realtime
from infra.secrets import WebhookSecret
from infra.site import WebPage
from infra.storage import Storage


class StickersStack(Stack):
    """Sticker generation service: API → jobs (DynamoDB + SQS) → GPU workers (ECS) and/or the CPU inference
    Lambda (context ``inference``) → S3 + CloudFront, the web page behind the same CloudFront distribution,
    and the webhook signing secret.

    At synth it states what a first deploy needs that synthesis cannot check (GPU vCPU quota, reserved
    Lambda concurrency, Docker with buildx, an alarm e-mail in ``dev``) as warning annotations on the
    constructs concerned (:mod:`infra.preflight`); impossible settings fail earlier, in
    :meth:`infra.config.StackConfig.validate`.

    Args:
        config: deployment parameters (from context; see :class:`infra.config.StackConfig`).
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.jobs = Jobs(self, "Jobs", config=config)
        self.storage = Storage(self, "Storage", config=config)
        self.webhook_secret = WebhookSecret(self, "Secrets", config=config)
        self.functions = Functions(
            self, "Functions", config=config, jobs=self.jobs, storage=self.storage, webhook_secret=self.webhook_secret
        )
        self.api = Api(self, "Api", config=config, handler=self.functions.api_function)
        self.realtime = Realtime(
            self, "Realtime", config=config, jobs=self.jobs, storage=self.storage, layer=self.functions.layer, usage_plan=self.api.usage_plan
        )
        self.web_page = WebPage(self, "WebPage", storage=self.storage, api_url=self.api.url, ws_url=self.realtime.url)
        # inference: gpu = the ECS GPU fleet; lambda = the CPU inference Lambda only (no VPC, ECS or GPU);
        # hybrid = both on the same queue (the Lambda takes bursts, the GPU fleet sustained load).
        self.inference: Inference | None = None
        self.cpu_inference: CpuInference | None = None
        if config.deploys_gpu:
            self.inference = Inference(
                self, "Inference", config=config, jobs=self.jobs, storage=self.storage, webhook_secret=self.webhook_secret
            )
        if config.deploys_lambda:
            self.cpu_inference = CpuInference(
                self, "CpuInference", config=config, jobs=self.jobs, storage=self.storage, webhook_secret=self.webhook_secret
            )
        self.alarm_topic = AlarmTopic(self, "Alarms", config=config)
        self.observability = Observability(
            self,
            "Observability",
            config=config,
            topic=self.alarm_topic.topic,
            api=self.api,
            functions=self.functions.functions,
            jobs=self.jobs,
            inference=self.inference,
            cpu_inference=self.cpu_inference,
            realtime=self.realtime,
        )

        outputs = {
            "ApiUrl": (self.api.url, "Base URL of the API stage (append v1/...)"),
            "WebSocketUrl": (self.realtime.url, "Live progress: connect with ?key=<API key>, then {\"action\": \"subscribe\", \"jobId\": ...}"),
            "CdnUrl": (self.storage.cdn_base_url, "CloudFront base URL of the stickers"),
            "SiteUrl": (f"{self.storage.cdn_base_url}/", "The web page (CloudFront; it calls ApiUrl, from its config.json)"),
            "WebhookSecretArn": (self.webhook_secret.secret.secret_arn, "Secrets Manager secret: master of the webhook signing secrets"),
            "DefaultApiKeyId": (self.api.default_key.key_id, "Id of the default API key (value: aws apigateway get-api-key --include-value)"),
            "UsagePlanId": (self.api.usage_plan.usage_plan_id, "Usage plan that `stickers keys create` attaches keys to"),
            "DashboardUrl": (self.observability.dashboard_url, "CloudWatch dashboard"),
            "QueueUrl": (self.jobs.queue.queue_url, "SQS jobs queue"),
            "DeadLetterQueueUrl": (self.jobs.dlq.queue_url, "SQS dead-letter queue"),
            "TableName": (self.jobs.table.table_name, "DynamoDB jobs table"),
            "AlarmTopicArn": (self.alarm_topic.topic.topic_arn, "SNS topic of the alarms"),
        }
        if self.inference is not None:
            outputs["ClusterName"] = (self.inference.cluster.cluster_name, "ECS cluster of the GPU workers")
        if self.cpu_inference is not None:
            outputs["InferenceFunctionName"] = (self.cpu_inference.function.function_name, "CPU inference Lambda on the jobs queue")
        for output_id, (value, description) in outputs.items():
            CfnOutput(self, output_id, value=value, description=description)

        suppress_findings(self)
        self.preflight_findings = preflight.findings(config, region=self.region)
        preflight.annotate(
            self.preflight_findings,
            {
                **({"gpu": self.inference} if self.inference else {}),
                **({"cpu": self.cpu_inference} if self.cpu_inference else {}),
                "image": self.inference.task_definition if self.inference else self.cpu_inference,
                "functions": self.functions,
                "alarms": self.alarm_topic,
                "api": self.api,
            },
            default=self,
        )
