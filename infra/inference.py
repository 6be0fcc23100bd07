"""GPU inference: VPC, ECS cluster on GPU EC2 capacity (with a warm pool of stopped instances), the worker
service and its backlog scaling. Deployed with ``inference`` ``gpu`` and ``hybrid`` (not ``lambda``).

Why one module of this size: the fleet's pieces refer to each other (the launch template's user data pulls
the image asset and completes the group's lifecycle hook; the capacity provider wraps the group; the
service names the provider; the scaling alarms read the queue the task role consumes), and the two aspects
fix up what CDK generates for exactly these constructs; split apart they would be passed around as a dozen
arguments.
"""

from __future__ import annotations

import jsii
from aws_cdk import AspectPriority, Aspects, Duration, IAspect, RemovalPolicy, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

from infra.bundling import REPO_ROOT
from infra.compute import retention_days, service_environment
from infra.config import StackConfig
from infra.generation import grant_generation
from infra.grants import grant_job_processing
from infra.jobs import Jobs
from infra.secrets import WebhookSecret
from infra.storage import Storage
from stickers_core import limits, settings

#: Seconds ECS waits after SIGTERM before SIGKILL: a whole job attempt plus a margin to store results
#: (EC2 launch type, so the 120 s Fargate cap does not apply). The worker reads the same number
#: (STICKERS_STOP_TIMEOUT_S) to know when to stop draining and hand its job back.
STOP_TIMEOUT_S = limits.STOP_TIMEOUT_S
#: The container's command: the worker configured by environment variables (gpu_service/entry.py); the
#: image holds the worker's packages only (gpu_service/requirements.lock), not the `stickers` CLI's.
WORKER_COMMAND = ["python", "-m", "gpu_service"]
DOCKERFILE = "gpu_service/Dockerfile"
#: The worker's only writable place (its root filesystem is read-only): a tmpfs, MiB.
SCRATCH_DIR = "/tmp"
SCRATCH_MIB = 2048
#: The instances' encrypted gp3 root volume, GB: the ECS GPU AMI, the multi-GB CUDA worker image (pulled
#: while in the warm pool) and Docker's layers. A stopped warm-pool instance costs this volume only.
ROOT_VOLUME_GB = 100
#: The launch lifecycle hook that holds a new instance until its user data has pulled the worker image
#: (the user data completes it; a warm-pool instance is stopped only then).
IMAGE_PULLED_HOOK = "worker-image-pulled"
#: Seconds the hook waits for the user data before going on anyway (a failed pull: ECS pulls at task start).
IMAGE_PULL_TIMEOUT_S = 900
#: IMDSv2 from the instance's user data: a session token, then GETs with it.
_IMDS = "http://169.254.169.254/latest"
_IMDS_TOKEN = f"$(curl -sS -X PUT {_IMDS}/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 900')"


@jsii.implements(IAspect)
class ServiceAfterCapacityProviders:
    """Makes an ECS service depend on its cluster's ``AWS::ECS::ClusterCapacityProviderAssociations``.

    ``Cluster.add_asg_capacity_provider`` does not create the association itself: an aspect of the
    cluster (``MaybeCreateCapacityProviderAssociations``, priority ``DEFAULT`` without the
    ``@aws-cdk/core:aspectPrioritiesMutating`` flag, ``MUTATING`` with it) adds it while the app is
    prepared, as the cluster's child with the cluster's own id. The service's template then has no
    ``DependsOn`` on it, and CloudFormation may create the service (which names the capacity provider
    in its strategy) before the provider is associated with the cluster: "The specified capacity
    provider strategy cannot contain a capacity provider that is not associated with the cluster",
    and the first deploy rolls back. This aspect runs after CDK's (priority ``READONLY``, the last) and
    adds the dependency once the association exists.

    Raises:
        RuntimeError: (at synth) the cluster got no association although the service uses a capacity
            provider strategy, i.e. CDK changed how it creates it: the dependency would silently vanish.
    """

    def __init__(self, service: ecs.Ec2Service, cluster: ecs.Cluster) -> None:
        self.service = service
        self.cluster = cluster
        self.association: ecs.CfnClusterCapacityProviderAssociations | None = None

    def visit(self, node: IConstruct) -> None:
        if node is not self.service or self.association is not None:
            return
        found = [c for c in self.cluster.node.children if isinstance(c, ecs.CfnClusterCapacityProviderAssociations)]
        if len(found) != 1:
            raise RuntimeError(
                f"expected one ClusterCapacityProviderAssociations under {self.cluster.node.path}, found {len(found)}"
            )
        self.association = found[0]
        self.service.node.add_dependency(self.association)


#: Actions of the container instance role that CDK grants on "*" and that take a log-stream resource.
_LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")


@jsii.implements(IAspect)
class ScopeInstanceRoleLogs:
    """Scopes the container instance role's CloudWatch Logs actions to the worker's log group.

    ``Cluster.add_asg_capacity_provider`` grants the instance role ``ecs:DiscoverPollEndpoint``,
    ``ecr:GetAuthorizationToken``, ``logs:CreateLogStream`` and ``logs:PutLogEvents`` in one statement
    on ``*``. The first two take no resource; the log actions are what the awslogs driver of the
    instance's containers uses, and the only log group they write is the worker's. The aspect
    rewrites the role's default policy document (resolved, at synth) so the log actions name that
    group's streams instead of every log group of the account.

    Raises:
        RuntimeError: (at synth) no statement granted the log actions on ``*``, i.e. CDK changed what
            it grants: the scoping would silently stop applying.
    """

    def __init__(self, role: iam.Role, log_group: logs.LogGroup) -> None:
        self.role, self.log_group = role, log_group
        self.done = False

    def visit(self, node: IConstruct) -> None:
        if self.done or not isinstance(node, iam.CfnPolicy):
            return
        policy = self.role.node.try_find_child("DefaultPolicy")
        if policy is None or node.node.path != policy.node.default_child.node.path:  # jsii proxies: compare paths
            return
        stack = Stack.of(node)
        document = stack.resolve(node.policy_document)
        statements, rewritten = [], False
        for statement in document["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            logs_actions = [a for a in actions if a in _LOG_ACTIONS]
            if statement.get("Resource") == "*" and logs_actions and statement.get("Effect") == "Allow":
                others = [a for a in actions if a not in _LOG_ACTIONS]
                if others:
                    statements.append({**statement, "Action": others if len(others) > 1 else others[0]})
                statements.append(
                    {"Effect": "Allow", "Action": logs_actions, "Resource": stack.resolve(f"{self.log_group.log_group_arn}:log-stream:*")}
                )
                rewritten = True
            else:
                statements.append(statement)
        if not rewritten:
            raise RuntimeError(f"no statement of {node.node.path} grants {_LOG_ACTIONS} on '*' any more")
        node.add_property_override("PolicyDocument.Statement", statements)
        self.done = True


def backlog_metrics(jobs: Jobs, period: Duration = Duration.minutes(1)) -> tuple[cw.IMetric, cw.IMetric, cw.MathExpression]:
    """(visible, in flight, visible + in flight) of the jobs queue, as 1-minute maxima."""
    visible = jobs.queue.metric_approximate_number_of_messages_visible(period=period, statistic="Maximum")
    in_flight = jobs.queue.metric_approximate_number_of_messages_not_visible(period=period, statistic="Maximum")
    backlog = cw.MathExpression(
        expression="visible + inflight",
        using_metrics={"visible": visible, "inflight": in_flight},
        label="Backlog (waiting + in flight)",
        period=period,
    )
    return visible, in_flight, backlog


class Inference(Construct):
    """The GPU worker fleet.

    - VPC: a new one (private subnets with NAT egress, S3/DynamoDB gateway endpoints, flow logs) or the
      one named by the ``vpcId`` context key.
    - ECS cluster (Container Insights) with an EC2 capacity provider over an Auto Scaling group of GPU
      instances (ECS GPU-optimised Amazon Linux 2023 AMI; instance types and Spot from context; min 0;
      managed scaling and managed termination protection; IMDSv2 only; encrypted root volume).
    - Task definition: one container from ``gpu_service/Dockerfile`` with one GPU, ``python -m gpu_service``,
      logs to CloudWatch, a stop timeout that drains a job attempt.
    - Service scaled by step scaling on the jobs queue: out in steps on waiting messages, in to
      ``minTasks`` (0) once the backlog (waiting + in flight) has been empty for a while.
    - Task role: receive/delete/change visibility on the jobs queue, GetItem/UpdateItem on the jobs
      table, GetObject (+ ListBucket) on uploads, PutObject on stickers, GetSecretValue on the webhook
      master secret (it signs the ``callbackUrl`` POSTs). Nothing else.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        jobs: Jobs,
        storage: Storage,
        webhook_secret: WebhookSecret,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.vpc = self._vpc(config)
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=self.vpc,
            cluster_name=config.name("stickers-gpu"),
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )

        # --- GPU capacity ----------------------------------------------------------------------------
        self.security_group = ec2.SecurityGroup(
            self, "WorkerSg", vpc=self.vpc, description="GPU workers: no inbound, HTTPS out", allow_all_outbound=False
        )
        # Everything the workers reach is HTTPS: SQS, DynamoDB and S3 (gateway endpoints), ECR, ECS,
        # CloudWatch, Secrets Manager, webhook receivers (port 443 only, checked at submit). DNS and the
        # time service use the VPC's link-local resolvers, which security groups do not filter.
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS only")
        self.instance_role = iam.Role(
            self,
            "InstanceRole",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="ECS container instance role of the GPU workers (ECS agent permissions added by the cluster)",
        )
        # The worker image, built once (cdk deploy) and pulled by the task's execution role at task start,
        # and by the instances themselves while they wait in the warm pool (below).
        build_args = {"MODEL_NAME": config.model_name}
        if config.model_url:
            build_args["MODEL_URL"] = config.model_url
        self.image_asset = ecr_assets.DockerImageAsset(
            self,
            "WorkerImage",
            directory=str(REPO_ROOT),
            file=DOCKERFILE,
            platform=ecr_assets.Platform.LINUX_AMD64,
            build_args=build_args,
        )
        self.image = ecs.ContainerImage.from_docker_image_asset(self.image_asset)
        user_data = ec2.UserData.for_linux()
        user_data.add_commands(
            f"echo ECS_CONTAINER_STOP_TIMEOUT={STOP_TIMEOUT_S}s >> /etc/ecs/ecs.config",
            "echo ECS_ENABLE_GPU_SUPPORT=true >> /etc/ecs/ecs.config",
            "echo ECS_IMAGE_PULL_BEHAVIOR=prefer-cached >> /etc/ecs/ecs.config",
        )
        if config.gpu_warm_pool:
            self._prepare_for_warm_pool(user_data)
        self.launch_template = ec2.LaunchTemplate(
            self,
            "GpuLaunchTemplate",
            machine_image=ecs.EcsOptimizedImage.amazon_linux2023(ecs.AmiHardwareType.GPU),
            instance_type=ec2.InstanceType(config.instance_types[0]),
            role=self.instance_role,
            security_group=self.security_group,
            user_data=user_data,
            require_imdsv2=True,
            http_put_response_hop_limit=1,  # containers on the bridge network cannot reach IMDS
            # the user data reads the instance's Auto Scaling group name from IMDS (aws:autoscaling:groupName)
            instance_metadata_tags=True if config.gpu_warm_pool else None,
            detailed_monitoring=False,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(
                        ROOT_VOLUME_GB, encrypted=True, volume_type=ec2.EbsDeviceVolumeType.GP3, delete_on_termination=True
                    ),
                )
            ],
        )
        subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS) if not config.vpc_id else None
        if config.gpu_warm_pool:
            # EC2 Auto Scaling refuses a warm pool on a group with a mixed instances policy or Spot
            # (PutWarmPool, https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutWarmPool.html):
            # one On-Demand instance type, straight from the launch template.
            instances: dict[str, object] = {"launch_template": self.launch_template}
        else:
            instances = {
                "mixed_instances_policy": autoscaling.MixedInstancesPolicy(
                    launch_template=self.launch_template,
                    launch_template_overrides=[
                        autoscaling.LaunchTemplateOverrides(instance_type=ec2.InstanceType(t)) for t in config.instance_types
                    ],
                    instances_distribution=autoscaling.InstancesDistribution(
                        on_demand_base_capacity=0,
                        on_demand_percentage_above_base_capacity=0 if config.spot else 100,
                        on_demand_allocation_strategy=autoscaling.OnDemandAllocationStrategy.PRIORITIZED,
                        spot_allocation_strategy=autoscaling.SpotAllocationStrategy.PRICE_CAPACITY_OPTIMIZED,
                    ),
                ),
                "capacity_rebalance": config.spot,
            }
        self.auto_scaling_group = autoscaling.AutoScalingGroup(
            self,
            "GpuAsg",
            vpc=self.vpc,
            vpc_subnets=subnets,
            min_capacity=0,
            max_capacity=config.max_tasks,
            new_instances_protected_from_scale_in=True,
            group_metrics=[autoscaling.GroupMetrics.all()],
            **instances,
        )
        if config.gpu_warm_pool:
            self._warm_pool(config)
        else:
            self.warm_pool = None
            self.lifecycle_policy = None
        self.capacity_provider = ecs.AsgCapacityProvider(
            self,
            "GpuCapacity",
            auto_scaling_group=self.auto_scaling_group,
            capacity_provider_name=config.name("stickers-gpu"),
            enable_managed_scaling=True,
            enable_managed_termination_protection=True,
            target_capacity_percent=100,
            spot_instance_draining=config.spot,
            machine_image_type=ecs.MachineImageType.AMAZON_LINUX_2,  # ECS-optimised AL2/AL2023 user-data format
        )
        self.cluster.add_asg_capacity_provider(self.capacity_provider)

        # --- task ------------------------------------------------------------------------------------
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        self.log_group = logs.LogGroup(
            self, "WorkerLogs", retention=retention_days(config.log_retention_days), removal_policy=removal
        )
        self.task_definition = ecs.Ec2TaskDefinition(
            self, "WorkerTask", family=config.name("stickers-worker"), network_mode=ecs.NetworkMode.BRIDGE
        )
        env = service_environment(config, jobs, storage, webhook_secret)
        linux = ecs.LinuxParameters(self, "WorkerLinux", init_process_enabled=True)
        linux.add_tmpfs(
            ecs.Tmpfs(container_path=SCRATCH_DIR, size=SCRATCH_MIB, mount_options=[ecs.TmpfsMountOption.NOSUID, ecs.TmpfsMountOption.NODEV])
        )
        self.container = self.task_definition.add_container(
            "worker",
            image=self.image,
            command=WORKER_COMMAND,
            gpu_count=1,
            cpu=config.task_cpu,
            memory_reservation_mib=config.task_memory_mb,
            # a hard limit: a runaway worker is OOM-killed and replaced instead of starving the ECS agent
            memory_limit_mib=config.task_memory_limit_mb,
            # nothing in the image is written at run time; scratch (TensorRT engines, caches) goes to a tmpfs
            readonly_root_filesystem=True,
            linux_parameters=linux,
            stop_timeout=Duration.seconds(STOP_TIMEOUT_S),
            essential=True,
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix="worker", log_group=self.log_group, mode=ecs.AwsLogDriverMode.NON_BLOCKING
            ),
            environment={
                **env,
                "AWS_DEFAULT_REGION": Stack.of(self).region,
                "POWERTOOLS_SERVICE_NAME": limits.SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": limits.METRICS_NAMESPACE,
                settings.ENV_STOP_TIMEOUT_S: str(STOP_TIMEOUT_S),
                # a GPU instance: the worker refuses to start when its model session is not on CUDA
                settings.ENV_EXECUTION_PROVIDER: "cuda",
                "XDG_CACHE_HOME": f"{SCRATCH_DIR}/cache",
                "TMPDIR": SCRATCH_DIR,
                "PYTHONUNBUFFERED": "1",
            },
        )
        grant_job_processing(self.task_definition.task_role, jobs, storage, webhook_secret)
        grant_generation(self.task_definition.task_role, config)  # bedrock:InvokeModel on the one model (prompt jobs)
        Aspects.of(self).add(ScopeInstanceRoleLogs(self.instance_role, self.log_group), priority=AspectPriority.READONLY)

        # --- service and scaling ---------------------------------------------------------------------
        self.service = ecs.Ec2Service(
            self,
            "WorkerService",
            cluster=self.cluster,
            task_definition=self.task_definition,
            service_name=config.name("stickers-worker"),
            desired_count=config.min_tasks,
            min_healthy_percent=0,  # one GPU per instance: replace in place rather than double the fleet
            max_healthy_percent=100,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            capacity_provider_strategies=[
                ecs.CapacityProviderStrategy(capacity_provider=self.capacity_provider.capacity_provider_name, weight=1)
            ],
        )
        # The service names the capacity provider: create it only once the provider is associated.
        Aspects.of(self.service).add(
            ServiceAfterCapacityProviders(self.service, self.cluster), priority=AspectPriority.READONLY
        )
        self._scaling(config, jobs)

    # ------------------------------------------------------------------------------------------------
    def _vpc(self, config: StackConfig) -> ec2.IVpc:
        if config.vpc_id:
            return ec2.Vpc.from_lookup(self, "Vpc", vpc_id=config.vpc_id)
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=config.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="workers", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20),
            ],
            gateway_endpoints={
                # Photos and stickers, job records: free gateway endpoints keep them off the NAT.
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDB": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
            },
        )
        flow_logs = logs.LogGroup(
            self, "FlowLogs", retention=retention_days(config.log_retention_days), removal_policy=RemovalPolicy.DESTROY
        )
        vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))
        return vpc

    def _prepare_for_warm_pool(self, user_data: ec2.UserData) -> None:
        """User data that readies an instance for the warm pool: the ECS agent waits out the pool, the worker
        image is pulled before the instance is stopped, and the launch lifecycle hook is completed at the end.

        - ``ECS_WARM_POOLS_CHECK=true``: the ECS agent (1.59.0+) does not register the instance with the
          cluster while its target lifecycle state is ``Warmed:*``, only once it leaves the pool
          (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using-warm-pool.html).
        - ECR login with the instance role and ``docker pull`` of the worker image asset, so the task's
          image is already in Docker's store when ECS places it (``ECS_IMAGE_PULL_BEHAVIOR=prefer-cached``
          then skips the pull). A failed pull only costs the time saved: ECS pulls at task start.
        - Auto Scaling stops a warm-pool instance as soon as its launch lifecycle actions are done
          (https://docs.aws.amazon.com/autoscaling/ec2/userguide/warm-pool-instance-lifecycle.html), so the
          launch hook :data:`IMAGE_PULLED_HOOK` holds it until the user data completes the hook on exit
          (whatever happened before; the group's name comes from the instance's ``aws:autoscaling:groupName``
          tag in IMDS). User data runs once per instance: a warm start (stopped → running) does not pull again.
        """
        pull = (
            "systemctl start --no-block docker",
            "for _ in $(seq 120); do docker info >/dev/null 2>&1 && break; sleep 2; done",
            "command -v aws >/dev/null || dnf install -y -q awscli-2",
            f"IMDS_TOKEN={_IMDS_TOKEN}",
            f"REGION=$(curl -sS -H \"X-aws-ec2-metadata-token: $IMDS_TOKEN\" {_IMDS}/meta-data/placement/region)",
            f"WORKER_IMAGE='{self.image_asset.image_uri}'",
            'aws ecr get-login-password --region "$REGION" | docker login --username AWS --password-stdin "${WORKER_IMAGE%%/*}" '
            '&& docker pull "$WORKER_IMAGE" || echo "worker image pre-pull failed: ECS pulls it at task start" >&2',
        )
        user_data.add_commands("echo ECS_WARM_POOLS_CHECK=true >> /etc/ecs/ecs.config", *pull)
        user_data.add_on_exit_commands(
            f"TOKEN={_IMDS_TOKEN}",
            f"meta() {{ curl -sS -H \"X-aws-ec2-metadata-token: $TOKEN\" {_IMDS}/meta-data/$1; }}",
            f"aws autoscaling complete-lifecycle-action --region \"$(meta placement/region)\" --lifecycle-hook-name {IMAGE_PULLED_HOOK} "
            "--auto-scaling-group-name \"$(meta tags/instance/aws:autoscaling:groupName)\" --instance-id \"$(meta instance-id)\" "
            "--lifecycle-action-result CONTINUE || true",
        )
        self.image_asset.repository.grant_pull(self.instance_role)

    def _warm_pool(self, config: StackConfig) -> None:
        """A warm pool of ``gpuWarmPoolSize`` *stopped* GPU instances with the worker image pulled.

        A stopped instance costs its EBS volume only (:data:`ROOT_VOLUME_GB` of gp3), not the instance
        hours; a scale-out starts it (a warm start: boot from EBS, the ECS agent registers, the image is
        already local) instead of launching, booting, and pulling a multi-GB CUDA image.

        Both the pool's minimum size and the group's maximum prepared capacity are ``gpuWarmPoolSize``, so
        the pool holds that many instances whatever the desired capacity (pool = max(prepared − desired,
        min)); when one leaves it, Auto Scaling prepares a replacement. ``ReuseOnScaleIn`` stays off:
        Amazon ECS does not allow it on a warm pool of an ECS Auto Scaling group
        (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using-warm-pool.html); scaled-in
        instances terminate and the pool is refilled with fresh ones.

        With the ECS capacity provider: managed scaling sets the group's desired capacity from
        ``CapacityProviderReservation``, and Auto Scaling fills a higher desired capacity from the pool
        first; warm-pool instances are not registered container instances (``ECS_WARM_POOLS_CHECK``), so
        ECS neither counts them nor places tasks on them. Managed termination protection needs scale-in
        protection on new instances, which the group keeps (it applies to in-service instances; pool
        instances are outside the desired capacity).
        """
        self.auto_scaling_group.add_lifecycle_hook(
            "ImagePulled",
            lifecycle_hook_name=IMAGE_PULLED_HOOK,
            lifecycle_transition=autoscaling.LifecycleTransition.INSTANCE_LAUNCHING,
            heartbeat_timeout=Duration.seconds(IMAGE_PULL_TIMEOUT_S),
            default_result=autoscaling.DefaultResult.CONTINUE,
        )
        # A policy of its own, not the role's default one: the launch template depends on the role's default
        # policy (instances start with their permissions), and this statement names the group, which depends
        # on the launch template.
        self.lifecycle_policy = iam.Policy(
            self,
            "CompleteImagePulledHook",
            roles=[self.instance_role],
            statements=[
                iam.PolicyStatement(
                    actions=["autoscaling:CompleteLifecycleAction"],
                    resources=[self.auto_scaling_group.auto_scaling_group_arn],
                )
            ],
        )
        self.warm_pool = self.auto_scaling_group.add_warm_pool(
            min_size=config.gpu_warm_pool_size,
            max_group_prepared_capacity=config.gpu_warm_pool_size,
            pool_state=autoscaling.PoolState.STOPPED,
            reuse_on_scale_in=False,
        )

    def _scaling(self, config: StackConfig, jobs: Jobs) -> None:
        self.scalable_target = appscaling.ScalableTarget(
            self,
            "WorkerScaling",
            service_namespace=appscaling.ServiceNamespace.ECS,
            resource_id=f"service/{self.cluster.cluster_name}/{self.service.service_name}",
            scalable_dimension="ecs:service:DesiredCount",
            min_capacity=config.min_tasks,
            max_capacity=config.max_tasks,
            # Application Auto Scaling's service-linked role for ECS (created by AWS on first use),
            # instead of a stack-owned role with the same permissions
            role=iam.Role.from_role_arn(
                self,
                "EcsScalingServiceLinkedRole",
                Stack.of(self).format_arn(
                    service="iam",
                    region="",
                    resource="role",
                    resource_name="aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService",
                ),
            ),
        )
        visible, _, backlog = backlog_metrics(jobs)

        # Out in steps on WAITING messages (in-flight ones already have a worker): +1, +2, +4 tasks.
        # gpu: as soon as one job waits. hybrid: the CPU Lambda drains bursts (up to lambdaMaxConcurrency jobs
        # at once), so jobs wait only when it is saturated; the GPU fleet scales out on a SUSTAINED backlog,
        # gpuBacklogThreshold waiting jobs in every minute of gpuBacklogMinutes consecutive minutes.
        sustained = config.deploys_lambda
        threshold = config.gpu_backlog_threshold if sustained else 1
        minutes = config.gpu_backlog_minutes if sustained else 1
        scale_out = appscaling.StepScalingAction(
            self,
            "ScaleOut",
            scaling_target=self.scalable_target,
            adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
            metric_aggregation_type=appscaling.MetricAggregationType.MAXIMUM,
            cooldown=Duration.seconds(config.scale_out_cooldown_s),  # a GPU instance takes minutes to boot
        )
        # bounds are relative to the threshold: gpu (threshold 1) 1-9 waiting, 10-49, 50+
        scale_out.add_adjustment(adjustment=1, lower_bound=0, upper_bound=9)
        scale_out.add_adjustment(adjustment=2, lower_bound=9, upper_bound=49)
        scale_out.add_adjustment(adjustment=4, lower_bound=49)
        self.scale_out_alarm = cw.Alarm(
            self,
            "BacklogWaiting",
            alarm_description=f"Scale the GPU workers out: at least {threshold} jobs waiting for {minutes} minute(s)",
            metric=visible,
            threshold=threshold,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=minutes,
            datapoints_to_alarm=minutes,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        self.scale_out_alarm.add_alarm_action(cw_actions.ApplicationScalingAction(scale_out))

        # In to minTasks (0) when nothing is waiting AND nothing is in flight for idleMinutes minutes,
        # so a task is never stopped in the middle of a job by scale-in.
        scale_in = appscaling.StepScalingAction(
            self,
            "ScaleIn",
            scaling_target=self.scalable_target,
            adjustment_type=appscaling.AdjustmentType.EXACT_CAPACITY,
            metric_aggregation_type=appscaling.MetricAggregationType.MAXIMUM,
            cooldown=Duration.minutes(1),
        )
        scale_in.add_adjustment(adjustment=config.min_tasks, upper_bound=0)
        self.scale_in_alarm = cw.Alarm(
            self,
            "BacklogIdle",
            alarm_description="Scale the GPU workers in: the queue has been empty (nothing waiting or in flight)",
            metric=backlog,
            threshold=0.5,  # "below 0.5" = 0; step bounds are relative to it, (-inf, 0] covers it
            comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=config.idle_minutes_before_scale_in,
            datapoints_to_alarm=config.idle_minutes_before_scale_in,
            treat_missing_data=cw.TreatMissingData.BREACHING,  # an idle queue stops publishing metrics
        )
        self.scale_in_alarm.add_alarm_action(cw_actions.ApplicationScalingAction(scale_in))

    def running_tasks_metric(self, period: Duration = Duration.minutes(1)) -> cw.Metric:
        """Running worker tasks (Container Insights)."""
        return cw.Metric(
            namespace="ECS/ContainerInsights",
            metric_name="RunningTaskCount",
            dimensions_map={"ClusterName": self.cluster.cluster_name, "ServiceName": self.service.service_name},
            statistic="Maximum",
            period=period,
            label="Running GPU tasks",
        )
