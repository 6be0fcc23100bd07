"""Observability: the alarm topic, the alarms, and one CloudWatch dashboard for the whole service."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from constructs import Construct

from infra.api import Api
from infra.config import StackConfig
from infra.cpu_inference import CpuInference
from infra.inference import Inference, backlog_metrics
from infra.jobs import Jobs
from infra.realtime import Realtime
from stickers_core import limits

#: EMF metric names the service writes (namespace ``limits.METRICS_NAMESPACE``): gpu_service/worker.py
#: and the functions. Dimensions vary (service, type, reason), so widgets use SEARCH expressions.
JOB_LATENCY = "JobLatency"
INFERENCE_LATENCY = "InferenceAndRenderLatency"
STICKERS_MADE = "StickersMade"
JOBS_FAILED = "JobsFailed"
JOBS_CREATED = "JobsCreated"
JOBS_DEAD_LETTERED = "JobsDeadLettered"
#: Prompt jobs (gpu_service/worker.py ``_generate``): the image model's InvokeModel time (ms, retries
#: included) and the content filter's refusals.
GENERATION_LATENCY = "GenerationLatency"
PROMPTS_REFUSED = "PromptsRefused"

#: 5xx share of API requests (percent, over 5 minutes, with at least 10 requests) that raises the alarm.
API_5XX_RATE_PCT = 5
API_LAMBDA_ERRORS_PER_5_MIN = 5
#: Minutes jobs may wait with no worker running before the "no capacity" alarm (GPU boot takes a while).
NO_WORKER_MINUTES = 15
#: Age (ms) of the oldest jobs-table stream record the live-progress notifier has not handled that raises
#: the alarm: subscribers are that far behind (the notifier fails or retries records, or cannot keep up).
NOTIFIER_ITERATOR_AGE_MS = 60_000
#: Share of the CPU inference function's timeout that its longest invocation may reach before the alarm
#: (percent, over 5 minutes): jobs close to the limit time out next (bigger photos, fewer vCPUs).
INFERENCE_DURATION_PCT_OF_TIMEOUT = 80
#: Event source mapping metrics (namespace AWS/Lambda, with ``MetricsConfig: EventCount``):
#: https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html#event-source-mapping-metrics
ESM_EVENT_METRICS = ("PolledEventCount", "InvokedEventCount", "FailedInvokeEventCount", "DeletedEventCount")


class AlarmTopic(Construct):
    """KMS-encrypted, TLS-only SNS topic for every alarm, with an optional e-mail subscription."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description=f"{config.stage} stickers alarm topic encryption",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # CloudWatch alarms publish to the encrypted topic.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarms",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy "*" means this key
            )
        )
        self.topic = sns.Topic(
            self, "Topic", display_name=f"Stickers {config.stage} alarms", master_key=self.key, enforce_ssl=True
        )
        if config.alarm_email:
            self.topic.add_subscription(subs.EmailSubscription(config.alarm_email))


def _emf(metric_name: str, stat: str, label: str, period: Duration = Duration.minutes(5)) -> cw.MathExpression:
    """All series of one EMF metric, whatever its dimensions."""
    return cw.MathExpression(
        expression=(
            f"SEARCH('Namespace=\"{limits.METRICS_NAMESPACE}\" MetricName=\"{metric_name}\"', "
            f"'{stat}', {int(period.to_seconds())})"
        ),
        label=label,
        period=period,
    )


class Observability(Construct):
    """Alarms (to the topic) and the dashboard.

    Alarms: dead letters present, oldest job too old, API 5xx rate, Lambda errors (each function, the
    live-progress ones and the CPU inference one included), CPU inference throttles and invocations near its
    timeout (with the Lambda), backlog with no running GPU task (with the GPU fleet), live-progress notifier behind the
    jobs table's stream (iterator age: records it fails on are retried, so they show there).
    Dashboard: API requests/4xx/5xx/latency p50-p99; Lambda errors/throttles/duration; queue depth and
    age of the oldest message; DLQ depth; running GPU tasks and instances (in service, in the warm pool; with
    the GPU fleet); CPU inference concurrency, duration against its timeout, event source mapping event
    counts, errors and throttles (with the Lambda); job latency, inference latency,
    stickers made and failures, prompt generation latency and refusals from the service's EMF metrics; alarm status.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        topic: sns.ITopic,
        api: Api,
        functions: list[lambda_.Function],
        jobs: Jobs,
        inference: Inference | None,
        cpu_inference: CpuInference | None = None,
        realtime: Realtime | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        functions = [*functions, *(realtime.functions if realtime else []), *([cpu_inference.function] if cpu_inference else [])]
        five = Duration.minutes(5)
        one = Duration.minutes(1)
        rest = api.rest_api
        action = cw_actions.SnsAction(topic)
        visible, in_flight, backlog = backlog_metrics(jobs)
        dlq_visible = jobs.dlq.metric_approximate_number_of_messages_visible(period=one, statistic="Maximum")
        dlq_received = jobs.dlq.metric_number_of_messages_received(period=one, statistic="Sum")
        oldest = jobs.queue.metric_approximate_age_of_oldest_message(period=one, statistic="Maximum")
        running = inference.running_tasks_metric() if inference is not None else None
        requests = rest.metric_count(period=five, statistic="Sum", label="Requests")
        errors_4xx = rest.metric_client_error(period=five, statistic="Sum", label="4xx")
        errors_5xx = rest.metric_server_error(period=five, statistic="Sum", label="5xx")

        self.alarms: dict[str, cw.Alarm] = {}

        def alarm(alarm_id: str, **kwargs: object) -> cw.Alarm:
            a = cw.Alarm(self, alarm_id, alarm_name=f"{config.stage}-stickers-{alarm_id}", **kwargs)
            a.add_alarm_action(action)
            a.add_ok_action(action)
            self.alarms[alarm_id] = a
            return a

        alarm(
            "DeadLetters",
            alarm_description="Jobs reached the dead-letter queue (failed for good after all attempts)",
            metric=cw.MathExpression(
                expression="visible + received",
                using_metrics={"visible": dlq_visible, "received": dlq_received},
                label="DLQ messages (waiting + received by the DLQ function)",
                period=one,
            ),
            threshold=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        alarm(
            "OldestJobTooOld",
            alarm_description=f"A job has waited more than {config.oldest_message_alarm_s} s in the queue",
            metric=oldest,
            threshold=config.oldest_message_alarm_s,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=3,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        alarm(
            "Api5xxRate",
            alarm_description=f"More than {API_5XX_RATE_PCT}% of API requests answered 5xx over 5 minutes",
            metric=cw.MathExpression(
                expression="IF(requests >= 10, 100 * errors / requests, 0)",
                using_metrics={"requests": requests, "errors": errors_5xx},
                label="5xx rate (%)",
                period=five,
            ),
            threshold=API_5XX_RATE_PCT,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        for fn in functions:
            name = fn.node.id
            alarm(
                f"{name}LambdaErrors",
                alarm_description=f"The {name} function raised errors",
                metric=fn.metric_errors(period=five, statistic="Sum"),
                threshold=API_LAMBDA_ERRORS_PER_5_MIN if name == "Api" else 1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )
        if realtime is not None:
            notifier = realtime.notifier_function
            alarm(
                "NotifierBehind",
                alarm_description="Live progress is more than a minute behind job changes: the notifier fails on "
                "(and retries) stream records, or cannot keep up",
                metric=cw.Metric(
                    namespace="AWS/Lambda",
                    metric_name="IteratorAge",
                    dimensions_map={"FunctionName": notifier.function_name},
                    statistic="Maximum",
                    period=one,
                ),
                threshold=NOTIFIER_ITERATOR_AGE_MS,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=5,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )
        if cpu_inference is not None:
            self._inference_function_alarms(alarm, cpu_inference)
        if inference is not None and running is not None:
            alarm(
                "BacklogWithoutWorkers",
                alarm_description=f"Jobs have waited {NO_WORKER_MINUTES} minutes with no GPU task running "
                "(capacity not launching: quota, Spot capacity, image pull, crash loop)",
                metric=cw.MathExpression(
                    expression="IF(visible > 0 AND FILL(running, 0) == 0, 1, 0)",
                    using_metrics={"visible": visible, "running": running},
                    label="Waiting jobs and no running task",
                    period=one,
                ),
                threshold=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=NO_WORKER_MINUTES,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )

        # --- dashboard ---------------------------------------------------------------------------------
        region = Stack.of(self).region
        self.dashboard = cw.Dashboard(
            self,
            "Dashboard",
            dashboard_name=config.name("stickers"),
            default_interval=Duration.hours(3),
        )
        lambda_errors, lambda_throttles, lambda_duration = [], [], []
        for fn in functions:
            n = fn.node.id
            lambda_errors.append(fn.metric_errors(period=five, statistic="Sum", label=f"{n} errors"))
            lambda_throttles.append(fn.metric_throttles(period=five, statistic="Sum", label=f"{n} throttles"))
            lambda_duration.append(fn.metric_duration(period=five, statistic="p50", label=f"{n} p50"))
            lambda_duration.append(fn.metric_duration(period=five, statistic="p99", label=f"{n} p99"))
        consumers = " + ".join(n for n, on in (("GPU workers", inference), ("CPU inference Lambda", cpu_inference)) if on)
        self.dashboard.add_widgets(
            cw.TextWidget(
                markdown=f"# Stickers ({config.stage})\nAPI → queue → {consumers} → stickers. "
                "Read top to bottom: traffic and errors, then backlog, then workers, then job latency. "
                "See docs/deploy.md, *Reading the dashboard*.",
                width=24,
                height=2,
            ),
            cw.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms.values()), width=24, height=3),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(title="API requests", left=[requests], width=6),
            cw.GraphWidget(title="API 4xx / 5xx", left=[errors_4xx, errors_5xx], width=6),
            cw.GraphWidget(
                title="API latency (ms)",
                left=[
                    rest.metric_latency(period=five, statistic="p50", label="p50"),
                    rest.metric_latency(period=five, statistic="p99", label="p99"),
                    rest.metric_integration_latency(period=five, statistic="p99", label="integration p99"),
                ],
                width=6,
            ),
            cw.GraphWidget(title="Jobs created / dead-lettered", left=[
                _emf(JOBS_CREATED, "Sum", "created"), _emf(JOBS_DEAD_LETTERED, "Sum", "dead-lettered")
            ], width=6),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(title="Lambda errors", left=lambda_errors, width=8),
            cw.GraphWidget(title="Lambda throttles", left=lambda_throttles, width=8),
            cw.GraphWidget(title="Lambda duration (ms)", left=lambda_duration, width=8),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Queue depth",
                left=[visible.with_(label="waiting"), in_flight.with_(label="in flight")],
                width=6,
            ),
            cw.GraphWidget(title="Age of oldest job (s)", left=[oldest], width=6),
            cw.GraphWidget(title="Dead-letter queue", left=[dlq_visible.with_(label="DLQ depth"), dlq_received.with_(label="received")], width=6),
            *([self._gpu_widget(inference, running)] if inference is not None and running is not None else []),
        )
        if cpu_inference is not None:
            self.dashboard.add_widgets(*self._inference_function_widgets(cpu_inference, five, one))
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Job latency (ms)",
                left=[_emf(JOB_LATENCY, "p50", "p50"), _emf(JOB_LATENCY, "p99", "p99")],
                width=6,
            ),
            cw.GraphWidget(
                title="Inference + render latency (ms)",
                left=[_emf(INFERENCE_LATENCY, "p50", "p50"), _emf(INFERENCE_LATENCY, "p99", "p99")],
                width=6,
            ),
            cw.GraphWidget(title="Stickers made", left=[_emf(STICKERS_MADE, "Sum", "stickers")], width=6),
            cw.GraphWidget(title="Job failures by reason", left=[_emf(JOBS_FAILED, "Sum", "failures")], width=6),
        )
        self.dashboard.add_widgets(  # stickers from a prompt (infra/generation.py)
            cw.GraphWidget(
                title="Prompt generation: latency (ms) and refusals",
                left=[_emf(GENERATION_LATENCY, "p50", "generation p50"), _emf(GENERATION_LATENCY, "p99", "generation p99")],
                right=[_emf(PROMPTS_REFUSED, "Sum", "refused (content filter)")],
                width=12,
            ),
        )
        self.dashboard_url = (
            f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#dashboards:name={self.dashboard.dashboard_name}"
        )

    @staticmethod
    def _gpu_widget(inference: Inference, running: cw.IMetric) -> cw.GraphWidget:
        """Running GPU tasks, and the group's in-service (and, with a warm pool, warmed) instances."""

        def group(metric_name: str, label: str) -> cw.Metric:
            return cw.Metric(
                namespace="AWS/AutoScaling",
                metric_name=metric_name,
                dimensions_map={"AutoScalingGroupName": inference.auto_scaling_group.auto_scaling_group_name},
                statistic="Maximum",
                period=Duration.minutes(1),
                label=label,
            )

        right = [group("GroupInServiceInstances", "GPU instances in service")]
        if inference.warm_pool is not None:
            right.append(group("WarmPoolWarmedCapacity", "stopped in the warm pool"))
        return cw.GraphWidget(title="GPU workers", left=[running], right=right, width=6)

    def _inference_function_alarms(self, alarm: Any, cpu_inference: CpuInference) -> None:
        """Throttles of the CPU inference function, and invocations close to its timeout (its errors are
        alarmed with the other functions')."""
        fn = cpu_inference.function
        five = Duration.minutes(5)
        alarm(
            "InferenceThrottles",
            alarm_description="The CPU inference function was throttled: the account's concurrency (or its reserved "
            "concurrency) is below lambdaMaxConcurrency; throttled records return to the queue and count as receives",
            metric=fn.metric_throttles(period=five, statistic="Sum"),
            threshold=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        limit_ms = cpu_inference.timeout_s * 1000
        alarm(
            "InferenceNearTimeout",
            alarm_description=f"A CPU inference invocation ran over {INFERENCE_DURATION_PCT_OF_TIMEOUT}% of the function's "
            f"{cpu_inference.timeout_s} s timeout: raise lambdaMemoryMb (more vCPUs) or let the GPU fleet take the load",
            metric=fn.metric_duration(period=five, statistic="Maximum"),
            threshold=limit_ms * INFERENCE_DURATION_PCT_OF_TIMEOUT / 100,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )

    @staticmethod
    def _inference_function_widgets(cpu_inference: CpuInference, five: Duration, one: Duration) -> list[cw.IWidget]:
        """Concurrency against ``lambdaMaxConcurrency``, duration against the timeout, and the event source
        mapping's event counts (polled, invoked, failed, deleted: a record the handler reports as a batch item
        failure is not deleted and comes back)."""
        fn = cpu_inference.function
        concurrency = cw.Metric(
            namespace="AWS/Lambda",
            metric_name="ConcurrentExecutions",
            dimensions_map={"FunctionName": fn.function_name},
            statistic="Maximum",
            period=one,
            label="concurrent executions",
        )
        esm_id = cpu_inference.event_source.event_source_mapping_id
        events = [
            cw.MathExpression(
                expression=f"SEARCH('Namespace=\"AWS/Lambda\" MetricName=\"{name}\" {esm_id}', 'Sum', 300)",
                label=name,
                period=five,
            )
            for name in ESM_EVENT_METRICS
        ]
        return [
            cw.GraphWidget(
                title="CPU inference concurrency",
                left=[concurrency],
                left_annotations=[cw.HorizontalAnnotation(value=cpu_inference.max_concurrency, label="lambdaMaxConcurrency")],
                width=6,
            ),
            cw.GraphWidget(
                title="CPU inference duration (ms)",
                left=[
                    fn.metric_duration(period=five, statistic="p50", label="p50"),
                    fn.metric_duration(period=five, statistic="p99", label="p99"),
                    fn.metric_duration(period=five, statistic="Maximum", label="max"),
                ],
                left_annotations=[cw.HorizontalAnnotation(value=cpu_inference.timeout_s * 1000, label="timeout")],
                width=6,
            ),
            cw.GraphWidget(title="CPU inference queue events (event source mapping)", left=events, width=6),
            cw.GraphWidget(
                title="CPU inference errors / throttles",
                left=[fn.metric_errors(period=five, statistic="Sum", label="errors"),
                      fn.metric_throttles(period=five, statistic="Sum", label="throttles")],
                width=6,
            ),
        ]
