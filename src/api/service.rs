//! `EcsService`: an ECS service running a task definition in a cluster.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    immutable_optional, impl_common_spec, strategy_rules, tags_rules, CapacityProviderStrategyItem,
    CommonStatus, DeletionPolicy,
};
use super::task_def::{LaunchType, TaskPlacementConstraint};

/// CEL rule for an optional spec field that ECS cannot change on a live service
/// (UpdateService has no such parameter): set, changed or removed later, the service would
/// silently keep its old value, so the API server refuses the change and says what works.
fn immutable_in_ecs(field: &str) -> serde_json::Value {
    let mut rule = immutable_optional(field);
    rule["message"] = serde_json::Value::String(format!(
        "{field} is immutable (ECS cannot change it on a live service): delete and recreate \
         the EcsService, or create a new one under another serviceName"
    ));
    rule
}

/// An ECS service; follows the latest revision of its EcsTaskDef unless pinned.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ecsoperator.io",
    version = "v1alpha1",
    kind = "EcsService",
    plural = "ecsservices",
    shortname = "ecss",
    category = "ecs",
    namespaced,
    status = "EcsServiceStatus",
    printcolumn = r#"{"name":"Cluster","type":"string","jsonPath":".status.clusterName"}"#,
    printcolumn = r#"{"name":"TaskDef","type":"string","jsonPath":".status.taskDefinition"}"#,
    printcolumn = r#"{"name":"Desired","type":"integer","jsonPath":".status.desiredCount"}"#,
    printcolumn = r#"{"name":"Running","type":"integer","jsonPath":".status.runningCount"}"#,
    printcolumn = r#"{"name":"Rollout","type":"string","jsonPath":".status.rolloutState"}"#,
    printcolumn = r#"{"name":"Min","type":"integer","priority":1,"jsonPath":".status.autoScaling.minCount"}"#,
    printcolumn = r#"{"name":"Max","type":"integer","priority":1,"jsonPath":".status.autoScaling.maxCount"}"#,
    printcolumn = r#"{"name":"URL","type":"string","jsonPath":".status.loadBalancer.dnsName"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    immutable_optional("serviceName"),
    immutable_optional("region"),
    {"rule": "!has(self.loadBalancer) || !has(self.loadBalancer.managed) || !has(self.tags) || size(self.tags) <= 8",
     "message": "a managed classic ELB takes at most 10 tags, 2 of them the operator's: use at most 8 tags"},
    {"rule": "has(self.clusterRef) != has(self.cluster)", "message": "set exactly one of clusterRef and cluster"},
    {"rule": "has(self.taskDefRef) != has(self.taskDefinition)", "message": "set exactly one of taskDefRef and taskDefinition"},
    {"rule": "(has(self.cluster) && has(oldSelf.cluster) && self.cluster == oldSelf.cluster) || (has(self.clusterRef) && has(oldSelf.clusterRef) && self.clusterRef.name == oldSelf.clusterRef.name)",
     "message": "the cluster of a service is immutable"},
    immutable_in_ecs("launchType"),
    immutable_in_ecs("role"),
    {"rule": "!has(self.launchType) || !has(self.capacityProviderStrategy) || size(self.capacityProviderStrategy) == 0",
     "message": "set launchType or capacityProviderStrategy, not both"},
    {"rule": "!has(self.autoScaling) || !has(self.desiredCount) || (self.desiredCount >= self.autoScaling.minCount && self.desiredCount <= self.autoScaling.maxCount)",
     "message": "with autoScaling, desiredCount (the count at creation) must be within [autoScaling.minCount, autoScaling.maxCount]"},
    {"rule": "!has(self.autoScaling) || !self.autoScaling.targetTracking.exists(t, t.metric == 'ALBRequestCount') || (has(self.loadBalancer) && (has(self.loadBalancer.targetGroupArn) || has(self.loadBalancer.managedTargetGroup)))",
     "message": "autoScaling metric ALBRequestCount needs a target group: set loadBalancer.targetGroupArn or loadBalancer.managedTargetGroup"},
    {"rule": "!has(self.autoScaling) || !self.autoScaling.targetTracking.exists(t, t.metric == 'ALBRequestCount' && !has(t.loadBalancerArn)) || (has(self.loadBalancer) && has(self.loadBalancer.managedTargetGroup))",
     "message": "autoScaling metric ALBRequestCount needs loadBalancerArn, the ALB that forwards to loadBalancer.targetGroupArn (a managedTargetGroup's listener names it)"},
    {"rule": "!has(self.loadBalancer) || !has(self.loadBalancer.managedTargetGroup) || has(self.loadBalancer.managedTargetGroup.name) || !has(self.serviceName) || size(self.serviceName) <= 32",
     "message": "a target group name is at most 32 characters: set loadBalancer.managedTargetGroup.name"}
]))]
pub struct EcsServiceSpec {
    /// Name of the ECS service. Immutable; defaults to metadata.name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[a-zA-Z0-9_-]+$"))]
    pub service_name: Option<String>,
    /// AWS region. Immutable; defaults to the operator's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// User tags added to the service and its managed load balancer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("x-kubernetes-validations" = tags_rules()), extend("maxProperties" = 45))]
    pub tags: BTreeMap<String, String>,
    /// Delete (default) or Retain the service and its managed ELB on deletion.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// An EcsCluster in the same namespace. Set this or `cluster`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_ref: Option<LocalRef>,
    /// Name or ARN of an existing ECS cluster not managed here. Set this or `clusterRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub cluster: Option<String>,
    /// An EcsTaskDef in the same namespace; the service follows its latest revision unless
    /// `revision` pins one. Set this or `taskDefinition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_def_ref: Option<TaskDefRef>,
    /// An existing task definition, `family:revision` or ARN. Set this or `taskDefRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub task_definition: Option<String>,
    /// Number of tasks to run. Absent: 1 at creation, then left to whoever scales the
    /// service (Application Auto Scaling, people); the operator never fights them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub desired_count: Option<i32>,
    /// EC2 (default), FARGATE or EXTERNAL. Immutable: ECS cannot change the launch type of
    /// a service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<LaunchType>,
    /// Capacity providers the service's tasks run on, as in the ECS API (FARGATE,
    /// FARGATE_SPOT, or EC2 capacity providers attached to the cluster). Set this or
    /// launchType; with neither, the cluster's default strategy applies. A changed strategy
    /// starts a new deployment (ECS requires one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-validations" = strategy_rules()), length(max = 6))]
    pub capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    /// IAM role (name or ARN) that lets ECS register tasks in a classic load balancer.
    /// Immutable: ECS cannot change the role of a service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// How deployments replace tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_configuration: Option<DeploymentConfiguration>,
    /// Seconds ECS ignores failing load balancer health checks after a task starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub health_check_grace_period_seconds: Option<i32>,
    /// awsvpc network configuration, as in the ECS API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,
    /// Task placement strategies, as in the ECS API.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement_strategy: Vec<PlacementStrategy>,
    /// Task placement constraints, as in the ECS API.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement_constraints: Vec<TaskPlacementConstraint>,
    /// The load balancer in front of the service's tasks: exactly one of loadBalancerName
    /// (an existing classic ELB), targetGroupArn (an ALB/NLB target group) or managed (a
    /// classic ELB this object creates and deletes). Changes, and removing it, are applied
    /// to the live service with a new deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<ServiceLoadBalancer>,
    /// Application Auto Scaling of the service's task count: a scalable target and one
    /// target tracking policy per metric, owned by this object, reconciled and removed
    /// with it. While set, desiredCount is only the count at creation (default minCount,
    /// at least 1) and never written again: the scaler owns it. Removing autoScaling
    /// removes the policies and the scalable target, and a set desiredCount is managed
    /// again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_scaling: Option<ServiceAutoScaling>,
}
impl_common_spec!(EcsServiceSpec);

/// Application Auto Scaling of a service's desired count.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.minCount <= self.maxCount", "message": "minCount must not be greater than maxCount"}
]))]
pub struct ServiceAutoScaling {
    /// Fewest tasks the scaler may set.
    #[schemars(range(min = 0))]
    pub min_count: i32,
    /// Most tasks the scaler may set.
    #[schemars(range(min = 1))]
    pub max_count: i32,
    /// Target tracking policies, at most one per metric: the scaler keeps each metric near
    /// its target, and the policy asking for the most tasks wins.
    #[schemars(
        length(min = 1, max = 3),
        extend("x-kubernetes-list-type" = "map"),
        extend("x-kubernetes-list-map-keys" = ["metric"])
    )]
    pub target_tracking: Vec<TargetTrackingPolicy>,
}

/// A target tracking policy with a predefined ECS metric.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.target > 0.0", "message": "target must be greater than 0"},
    {"rule": "self.metric == 'ALBRequestCount' || self.target <= 100.0",
     "message": "target is a utilization percentage for CPU and Memory: at most 100"},
    {"rule": "self.metric == 'ALBRequestCount' || !has(self.loadBalancerArn)",
     "message": "loadBalancerArn is only for metric ALBRequestCount"}
]))]
pub struct TargetTrackingPolicy {
    /// CPU (average CPU utilization of the service's tasks, percent), Memory (average
    /// memory utilization, percent) or ALBRequestCount (requests per target of the
    /// service's ALB target group). Names the policy: `<serviceName>-cpu`, `-memory`,
    /// `-alb-requests`.
    pub metric: ScalingMetric,
    /// Value to keep the metric at: a percentage in (0, 100] for CPU and Memory, requests
    /// per target for ALBRequestCount.
    pub target: f64,
    /// Seconds after a scale-in before another scale-in may start. Absent: AWS's default
    /// (300 for ECS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub scale_in_cooldown: Option<i32>,
    /// Seconds after a scale-out before another scale-out may start. Absent: AWS's
    /// default (300 for ECS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub scale_out_cooldown: Option<i32>,
    /// ALBRequestCount only: ARN of the Application Load Balancer that forwards to
    /// loadBalancer.targetGroupArn (the metric is labelled with both). Not needed with
    /// loadBalancer.managedTargetGroup: its listener names the load balancer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^arn:[^:]+:elasticloadbalancing:[^:]*:[^:]*:loadbalancer/app/[^/]+/[^/]+$"
    ))]
    pub load_balancer_arn: Option<String>,
}

/// A predefined metric of Application Auto Scaling for ECS services.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
pub enum ScalingMetric {
    /// ECSServiceAverageCPUUtilization.
    #[serde(rename = "CPU")]
    Cpu,
    /// ECSServiceAverageMemoryUtilization.
    Memory,
    /// ALBRequestCountPerTarget.
    #[serde(rename = "ALBRequestCount")]
    AlbRequestCount,
}

/// A reference to an object of another kind in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct LocalRef {
    /// metadata.name of the referenced object.
    #[schemars(length(min = 1))]
    pub name: String,
}

/// A reference to an EcsTaskDef in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct TaskDefRef {
    /// metadata.name of the EcsTaskDef.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Pin this revision instead of following the latest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub revision: Option<i32>,
}

/// How a deployment replaces tasks.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentConfiguration {
    /// Lower bound of running tasks during a deployment, in percent of desiredCount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub minimum_healthy_percent: Option<i32>,
    /// Upper bound of running tasks during a deployment, in percent of desiredCount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100, max = 200))]
    pub maximum_percent: Option<i32>,
    /// Stop (and optionally roll back) deployments whose tasks keep failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_circuit_breaker: Option<DeploymentCircuitBreaker>,
}

/// The deployment circuit breaker.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct DeploymentCircuitBreaker {
    /// Turn the circuit breaker on.
    pub enable: bool,
    /// Roll back to the last completed deployment when it trips.
    pub rollback: bool,
}

/// awsvpc network configuration.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkConfiguration {
    /// Subnets and security groups of the tasks' network interfaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awsvpc_configuration: Option<AwsVpcConfiguration>,
}

/// Subnets and security groups of the tasks' network interfaces.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsVpcConfiguration {
    /// Subnets (up to 16).
    #[schemars(length(min = 1, max = 16))]
    pub subnets: Vec<String>,
    /// Security groups (up to 5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub security_groups: Vec<String>,
    /// ENABLED or DISABLED (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assign_public_ip: Option<AssignPublicIp>,
}

/// Whether task network interfaces get a public IP.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum AssignPublicIp {
    /// Assign a public IP.
    Enabled,
    /// No public IP.
    Disabled,
}

/// A task placement strategy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlacementStrategy {
    /// random, spread or binpack.
    #[serde(rename = "type")]
    pub type_: String,
    /// Field the strategy applies to, e.g. attribute:ecs.availability-zone or memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The load balancer of a service: exactly one of `loadBalancerName`, `targetGroupArn`,
/// `managed`, `managedTargetGroup`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "[has(self.loadBalancerName), has(self.targetGroupArn), has(self.managed), has(self.managedTargetGroup)].filter(x, x).size() == 1",
     "message": "set exactly one of loadBalancerName, targetGroupArn, managed and managedTargetGroup"}
]))]
pub struct ServiceLoadBalancer {
    /// Container that receives the traffic.
    #[schemars(length(min = 1))]
    pub container_name: String,
    /// Port of that container.
    #[schemars(range(min = 1, max = 65535))]
    pub container_port: i32,
    /// An existing classic ELB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32))]
    pub load_balancer_name: Option<String>,
    /// An existing ALB/NLB target group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub target_group_arn: Option<String>,
    /// A classic ELB that this object creates, owns and deletes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedLoadBalancer>,
    /// An ALB target group that this object creates, owns and deletes, attached to an
    /// existing ALB listener by a listener rule it also owns. ECS registers and
    /// deregisters the tasks; the operator never touches targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_target_group: Option<ManagedTargetGroup>,
}

/// An ALB target group created and owned by the EcsService, with the listener rule that
/// forwards to it. Created before the service, deleted after it (rule, then group).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "(has(self.name) ? self.name : '') != (has(oldSelf.name) ? oldSelf.name : '') || ((has(self.protocol) ? self.protocol : 'HTTP') == (has(oldSelf.protocol) ? oldSelf.protocol : 'HTTP') && (has(self.port) ? self.port : 0) == (has(oldSelf.port) ? oldSelf.port : 0))",
     "message": "protocol and port of a target group are immutable: give the target group a new name to replace it"},
    {"rule": "self.listenerArn == oldSelf.listenerArn || (has(self.name) ? self.name : '') != (has(oldSelf.name) ? oldSelf.name : '')",
     "message": "listenerArn is immutable (a target group stays with its ALB): give the target group a new name to move it"}
]))]
pub struct ManagedTargetGroup {
    /// Target group name (at most 32 characters: letters, digits and hyphens, not starting
    /// or ending with a hyphen); defaults to the service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 32),
        regex(pattern = r"^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$")
    )]
    pub name: Option<String>,
    /// ARN of an existing ALB listener the rule is added to. Its load balancer gives the
    /// target group's VPC.
    #[schemars(regex(
        pattern = r"^arn:[^:]+:elasticloadbalancing:[^:]*:[^:]*:listener/app/[^/]+/[^/]+/[^/]+$"
    ))]
    pub listener_arn: String,
    /// The listener rule that forwards matching requests to the target group.
    pub rule: ListenerRuleSpec,
    /// Protocol towards the tasks: HTTP (default) or HTTPS. Immutable unless the name
    /// changes too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<TargetGroupProtocol>,
    /// Port towards the tasks; defaults to the load balancer's containerPort (ECS
    /// registers each task with its own port anyway). Immutable unless the name changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
    /// How the ALB checks the tasks. Absent: the defaults below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<TargetGroupHealthCheckSpec>,
    /// Seconds the ALB keeps sending in-flight requests to a task being deregistered.
    /// Absent: AWS's default (300), then left alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 3600))]
    pub deregistration_delay_seconds: Option<i32>,
}

/// A listener rule: priority and conditions (at least one of pathPatterns, hostHeaders;
/// with both, both must match).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "(has(self.pathPatterns) && size(self.pathPatterns) > 0) || (has(self.hostHeaders) && size(self.hostHeaders) > 0)",
     "message": "a listener rule needs at least one condition: set pathPatterns or hostHeaders"}
]))]
pub struct ListenerRuleSpec {
    /// Priority on the listener (1–50000, unique per listener; lower matches first).
    #[schemars(range(min = 1, max = 50000))]
    pub priority: i32,
    /// Path patterns (e.g. `/hello/*`); a request matches if its path matches any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub path_patterns: Vec<String>,
    /// Host headers (e.g. `www.example.com`); a request matches if its host matches any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub host_headers: Vec<String>,
}

/// Protocol of a target group.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum TargetGroupProtocol {
    /// HTTP.
    #[default]
    Http,
    /// HTTPS.
    Https,
}

impl TargetGroupProtocol {
    /// The ELBv2 API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetGroupProtocol::Http => "HTTP",
            TargetGroupProtocol::Https => "HTTPS",
        }
    }
}

/// The health check of a managed target group; every field has ELBv2's ALB default.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "(has(self.timeoutSeconds) ? self.timeoutSeconds : 5) < (has(self.intervalSeconds) ? self.intervalSeconds : 30)",
     "message": "timeoutSeconds must be less than intervalSeconds"}
]))]
pub struct TargetGroupHealthCheckSpec {
    /// Path the check requests; default `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024), regex(pattern = r"^/"))]
    pub path: Option<String>,
    /// HTTP or HTTPS; default the target group's protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<TargetGroupProtocol>,
    /// `traffic-port` (default: the port each task is registered with) or a port number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(traffic-port|[0-9]{1,5})$"))]
    pub port: Option<String>,
    /// Seconds between checks (5–300); default 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 5, max = 300))]
    pub interval_seconds: Option<i32>,
    /// Seconds before a check fails (2–120, less than intervalSeconds); default 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 120))]
    pub timeout_seconds: Option<i32>,
    /// Successes before a task is healthy (2–10); default 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 10))]
    pub healthy_threshold_count: Option<i32>,
    /// Failures before a task is unhealthy (2–10); default 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 10))]
    pub unhealthy_threshold_count: Option<i32>,
    /// HTTP codes of a healthy answer, e.g. `200` (default) or `200-299`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{3}([-,][0-9]{3})*$"))]
    pub matcher: Option<String>,
}

/// A classic ELB created and owned by the EcsService.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "(has(self.name) ? self.name : '') != (has(oldSelf.name) ? oldSelf.name : '') || (has(self.scheme) ? self.scheme : 'internet-facing') == (has(oldSelf.scheme) ? oldSelf.scheme : 'internet-facing')",
     "message": "scheme is immutable (a classic ELB cannot change its scheme): give the load balancer a new name to replace it, or delete and recreate the EcsService"}
]))]
pub struct ManagedLoadBalancer {
    /// ELB name (at most 32 characters); defaults to the service name. A new name creates a
    /// new ELB, moves the service to it, and deletes the old one once the service's
    /// deployment no longer uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32), regex(pattern = r"^[a-zA-Z0-9-]+$"))]
    pub name: Option<String>,
    /// internet-facing (default) or internal. Immutable unless the name changes too (a
    /// classic ELB cannot change its scheme).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<LoadBalancerScheme>,
    /// Subnets of the ELB, at most one per Availability Zone; changes are attached and
    /// detached.
    #[schemars(length(min = 1))]
    pub subnet_ids: Vec<String>,
    /// Security groups of the ELB; changes are applied. Empty: the VPC's default group AWS
    /// picks at creation, then left alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_group_ids: Vec<String>,
    /// Listeners: what the ELB accepts and where it forwards; one per load balancer port.
    #[schemars(
        length(min = 1),
        extend("x-kubernetes-list-type" = "map"),
        extend("x-kubernetes-list-map-keys" = ["loadBalancerPort"])
    )]
    pub listeners: Vec<Listener>,
    /// How the ELB checks the instances. Absent: ELB's default check (TCP to the first
    /// listener's instance port), then left alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<ElbHealthCheck>,
}

/// Whether the ELB has a public DNS name.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum LoadBalancerScheme {
    /// Public.
    #[serde(rename = "internet-facing")]
    InternetFacing,
    /// Private.
    #[serde(rename = "internal")]
    Internal,
}

/// Protocol of a classic ELB listener.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum ListenerProtocol {
    /// HTTP.
    Http,
    /// HTTPS (needs an SSL certificate; not managed here yet).
    Https,
    /// TCP.
    Tcp,
    /// SSL.
    Ssl,
}

impl ListenerProtocol {
    /// The ELB API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ListenerProtocol::Http => "HTTP",
            ListenerProtocol::Https => "HTTPS",
            ListenerProtocol::Tcp => "TCP",
            ListenerProtocol::Ssl => "SSL",
        }
    }
}

/// A classic ELB listener.
#[derive(
    Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct Listener {
    /// Protocol the ELB accepts.
    pub protocol: ListenerProtocol,
    /// Port the ELB listens on.
    #[schemars(range(min = 1, max = 65535))]
    pub load_balancer_port: i32,
    /// Port on the instances.
    #[schemars(range(min = 1, max = 65535))]
    pub instance_port: i32,
    /// Protocol towards the instances; defaults to `protocol`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_protocol: Option<ListenerProtocol>,
}

/// The classic ELB health check.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.timeoutSeconds < self.intervalSeconds", "message": "timeoutSeconds must be less than intervalSeconds"}
]))]
pub struct ElbHealthCheck {
    /// HTTP:PORT/PATH or HTTPS:PORT/PATH (the path is required), or TCP:PORT or SSL:PORT,
    /// e.g. HTTP:80/.
    #[schemars(regex(pattern = r"^((HTTP|HTTPS):[0-9]+/.*|(TCP|SSL):[0-9]+)$"))]
    pub target: String,
    /// Seconds between checks.
    #[serde(default = "default_interval")]
    #[schemars(range(min = 5, max = 300))]
    pub interval_seconds: i32,
    /// Seconds before a check fails; must be less than intervalSeconds.
    #[serde(default = "default_timeout")]
    #[schemars(range(min = 2, max = 60))]
    pub timeout_seconds: i32,
    /// Successes before an instance is healthy.
    #[serde(default = "default_healthy")]
    #[schemars(range(min = 2, max = 10))]
    pub healthy_threshold: i32,
    /// Failures before an instance is unhealthy.
    #[serde(default = "default_unhealthy")]
    #[schemars(range(min = 2, max = 10))]
    pub unhealthy_threshold: i32,
}

fn default_interval() -> i32 {
    30
}
fn default_timeout() -> i32 {
    5
}
fn default_healthy() -> i32 {
    10
}
fn default_unhealthy() -> i32 {
    2
}

/// Observed state of an EcsService.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EcsServiceStatus {
    /// observedGeneration and conditions.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// ARN of the ECS service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_arn: Option<String>,
    /// ARN of the cluster the service runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    /// Name of that cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Task definition ARN of the primary deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
    /// `family:revision` of the primary deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
    /// Tasks the service should run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_count: Option<i32>,
    /// Tasks running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_count: Option<i32>,
    /// Tasks pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_count: Option<i32>,
    /// rolloutState of the primary deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_state: Option<String>,
    /// The service's deployments, primary first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deployments: Vec<DeploymentStatus>,
    /// The classic ELB in front of the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancerStatus>,
    /// Names of the classic ELBs this object created and still owns, sorted: the spec's
    /// managed one, and earlier ones (renamed, or dropped from the spec) until the service's
    /// deployment no longer uses them and they are deleted. Deleting the object deletes
    /// them all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_load_balancers: Vec<String>,
    /// Names of managed target groups this object no longer wants (renamed, or
    /// managedTargetGroup left the spec) whose listener rule is deleted but which ECS still
    /// used at the last sync (an old deployment draining): deleted once free, and at the
    /// latest with the object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired_target_groups: Vec<String>,
    /// The latest ECS service events, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<ServiceEventStatus>,
    /// A task definition whose deployment failed and that ECS rolled back from; it is not
    /// rolled out again until the spec or the EcsTaskDef changes, or a restart is requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_task_definition: Option<String>,
    /// The last `ecsoperator.io/restartedAt` value a deployment was forced for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarted_at: Option<String>,
    /// Keys of spec.tags the operator has put on the AWS resources of this object, sorted.
    /// When a key leaves spec.tags, the next sync removes it from those resources; tags the
    /// operator did not apply (added by people or other tools) are never removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applied_tag_keys: Vec<String>,
    /// Application Auto Scaling of the service, while this object owns a scalable target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_scaling: Option<AutoScalingStatus>,
}

/// The scalable target and policies an EcsService owns, as last seen.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoScalingStatus {
    /// Resource ID of the scalable target, `service/<cluster>/<service>`.
    pub resource_id: String,
    /// ARN of the scalable target this object registered (its tags carry the owner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalable_target_arn: Option<String>,
    /// Fewest tasks the scaler may set.
    pub min_count: i32,
    /// Most tasks the scaler may set.
    pub max_count: i32,
    /// The service's desired count now, as the scaler left it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_count: Option<i32>,
    /// Names of the scaling policies this object owns, sorted (policies take no tags:
    /// this list is how the operator knows them, and removes them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// The newest scaling activity of the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scaling_activity: Option<ScalingActivityStatus>,
    /// Hash of the tags last put on the scalable target: when spec.tags changes, its tags
    /// are read and corrected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags_hash: Option<String>,
}

/// A scaling activity of Application Auto Scaling.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScalingActivityStatus {
    /// When it started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// What it did, e.g. "Setting desired count to 4.".
    pub description: String,
    /// Successful, InProgress, Failed, …
    pub status_code: String,
}

/// One ECS deployment of the service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStatus {
    /// Deployment ID.
    pub id: String,
    /// PRIMARY, ACTIVE or INACTIVE.
    pub status: String,
    /// Task definition ARN.
    pub task_definition: String,
    /// Tasks desired.
    pub desired_count: i32,
    /// Tasks running.
    pub running_count: i32,
    /// Tasks pending.
    pub pending_count: i32,
    /// IN_PROGRESS, COMPLETED or FAILED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_state: Option<String>,
    /// When the deployment last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// The load balancer in front of the service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerStatus {
    /// Classic ELB name, or managed target group name.
    pub name: String,
    /// DNS name users reach the service at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
    /// ARN of the managed target group (loadBalancer.managedTargetGroup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_arn: Option<String>,
    /// ARN of the listener rule that forwards to the managed target group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_rule_arn: Option<String>,
}

/// An ECS service event.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEventStatus {
    /// When it happened (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// What ECS said.
    pub message: String,
}

impl EcsService {
    /// Name of the ECS service: spec.serviceName or metadata.name.
    pub fn service_name(&self) -> String {
        self.spec
            .service_name
            .clone()
            .unwrap_or_else(|| self.metadata.name.clone().unwrap_or_default())
    }
}
