//! Our own view of AWS resources: only what the operator reads and writes.

use std::collections::BTreeMap;

use crate::api::service::{
    DeploymentConfiguration, ElbHealthCheck, Listener, LoadBalancerScheme, NetworkConfiguration,
    PlacementStrategy,
};
use crate::api::task_def::{EcsTaskDefSpec, LaunchType, TaskPlacementConstraint};

/// AWS resource tags.
pub type Tags = BTreeMap<String, String>;

/// An ECS cluster as DescribeClusters returns it (with tags).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterInfo {
    /// Cluster ARN.
    pub arn: String,
    /// Cluster name.
    pub name: String,
    /// ACTIVE, PROVISIONING, DEPROVISIONING, FAILED or INACTIVE.
    pub status: String,
    /// Registered container instances.
    pub registered_container_instances: i32,
    /// RUNNING tasks.
    pub running_tasks: i32,
    /// PENDING tasks.
    pub pending_tasks: i32,
    /// ACTIVE services.
    pub active_services: i32,
    /// Capacity providers attached to the cluster.
    pub capacity_providers: Vec<String>,
    /// The cluster's default capacity provider strategy.
    pub default_capacity_provider_strategy: Vec<StrategyItem>,
    /// Tags.
    pub tags: Tags,
}

/// One entry of a capacity provider strategy, with ECS's defaults (0) filled in.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct StrategyItem {
    /// Capacity provider name.
    pub capacity_provider: String,
    /// Weight.
    pub weight: i32,
    /// Base.
    pub base: i32,
}

/// ECS managed scaling of a capacity provider (when ENABLED).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ManagedScalingSettings {
    /// Target capacity, percent.
    pub target_capacity: i32,
    /// Minimum scaling step.
    pub minimum_scaling_step_size: i32,
    /// Maximum scaling step.
    pub maximum_scaling_step_size: i32,
    /// Instance warm-up period, seconds.
    pub instance_warmup_period: i32,
}

/// The settings of a capacity provider the operator manages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CapacityProviderSettings {
    /// Managed scaling; `None` when DISABLED.
    pub managed_scaling: Option<ManagedScalingSettings>,
    /// Managed termination protection ENABLED.
    pub managed_termination_protection: bool,
    /// Managed draining ENABLED.
    pub managed_draining: bool,
}

/// An ECS capacity provider as DescribeCapacityProviders returns it (with tags).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CapacityProvider {
    /// ARN.
    pub arn: String,
    /// Name.
    pub name: String,
    /// ACTIVE or INACTIVE.
    pub status: String,
    /// UPDATE_IN_PROGRESS, UPDATE_COMPLETE, UPDATE_FAILED, DELETE_IN_PROGRESS,
    /// DELETE_COMPLETE, DELETE_FAILED.
    pub update_status: Option<String>,
    /// ARN of its Auto Scaling group.
    pub auto_scaling_group_arn: String,
    /// Its settings.
    pub settings: CapacityProviderSettings,
    /// Tags.
    pub tags: Tags,
}

impl CapacityProvider {
    /// Whether it is gone or going (deleted, or its deletion is under way).
    pub fn is_deleting(&self) -> bool {
        self.status == "INACTIVE"
            || self
                .update_status
                .as_deref()
                .is_some_and(|u| u.starts_with("DELETE_"))
    }
}

/// Input of CreateCapacityProvider.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CreateCapacityProviderInput {
    /// Name.
    pub name: String,
    /// ARN of the Auto Scaling group.
    pub auto_scaling_group_arn: String,
    /// Settings.
    pub settings: CapacityProviderSettings,
    /// Tags.
    pub tags: Tags,
}

/// One revision of a task definition family.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskDefRevision {
    /// Revision ARN.
    pub arn: String,
    /// Family.
    pub family: String,
    /// Revision number.
    pub revision: i32,
    /// ACTIVE, INACTIVE or DELETE_IN_PROGRESS.
    pub status: String,
    /// Tags (DescribeTaskDefinition with include=TAGS).
    pub tags: Tags,
    /// The definition as registered (DescribeTaskDefinition only; `None` from calls that
    /// do not return it). Lets a revision registered outside the operator, which carries
    /// no spec hash tag, be compared with a spec by content.
    pub definition: Option<EcsTaskDefSpec>,
    /// Fields of the definition an EcsTaskDef cannot state (e.g. `linuxParameters`): kept
    /// by this revision, missing from the next one the operator registers.
    pub unmodeled: Vec<String>,
}

/// A load balancer attachment of a service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceLoadBalancerRef {
    /// Classic ELB name.
    pub load_balancer_name: Option<String>,
    /// ALB/NLB target group ARN.
    pub target_group_arn: Option<String>,
    /// Container receiving traffic.
    pub container_name: String,
    /// Its port.
    pub container_port: i32,
}

/// One deployment of a service.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Deployment {
    /// Deployment ID.
    pub id: String,
    /// PRIMARY, ACTIVE or INACTIVE.
    pub status: String,
    /// Task definition ARN.
    pub task_definition: String,
    /// Desired tasks.
    pub desired_count: i32,
    /// Running tasks.
    pub running_count: i32,
    /// Pending tasks.
    pub pending_count: i32,
    /// IN_PROGRESS, COMPLETED or FAILED (absent for old-style deployments).
    pub rollout_state: Option<String>,
    /// Why the rollout is in that state.
    pub rollout_state_reason: Option<String>,
    /// Last change, RFC 3339.
    pub updated_at: Option<String>,
}

/// A service event.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceEvent {
    /// Event ID.
    pub id: String,
    /// RFC 3339 time.
    pub created_at: Option<String>,
    /// Message.
    pub message: String,
}

/// Events of a service kept from an answer of ECS: what status shows.
pub const SERVICE_EVENTS_KEPT: usize = 5;

/// An ECS service as DescribeServices returns it (with tags).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceInfo {
    /// Service ARN.
    pub arn: String,
    /// Service name.
    pub name: String,
    /// Cluster ARN.
    pub cluster_arn: String,
    /// ACTIVE, DRAINING or INACTIVE.
    pub status: String,
    /// Desired tasks.
    pub desired_count: i32,
    /// Running tasks.
    pub running_count: i32,
    /// Pending tasks.
    pub pending_count: i32,
    /// Task definition ARN of the service (the primary deployment's).
    pub task_definition: String,
    /// Launch type.
    pub launch_type: Option<String>,
    /// Capacity provider strategy.
    pub capacity_provider_strategy: Vec<StrategyItem>,
    /// Service role ARN.
    pub role_arn: Option<String>,
    /// Deployment configuration.
    pub deployment_configuration: Option<DeploymentConfiguration>,
    /// Health check grace period.
    pub health_check_grace_period_seconds: Option<i32>,
    /// Network configuration.
    pub network_configuration: Option<NetworkConfiguration>,
    /// Placement strategy.
    pub placement_strategy: Vec<PlacementStrategy>,
    /// Placement constraints.
    pub placement_constraints: Vec<TaskPlacementConstraint>,
    /// Load balancers.
    pub load_balancers: Vec<ServiceLoadBalancerRef>,
    /// Deployments, as ECS lists them.
    pub deployments: Vec<Deployment>,
    /// Latest events, newest first, at most [`SERVICE_EVENTS_KEPT`] (ECS answers up to
    /// 100 a service, which the operator neither shows nor keeps).
    pub events: Vec<ServiceEvent>,
    /// Tags.
    pub tags: Tags,
}

/// Input of CreateService.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CreateServiceInput {
    /// Cluster name or ARN.
    pub cluster: String,
    /// Service name.
    pub name: String,
    /// Task definition ARN.
    pub task_definition: String,
    /// Desired tasks.
    pub desired_count: i32,
    /// Launch type.
    pub launch_type: Option<LaunchType>,
    /// Capacity provider strategy (empty: none sent).
    pub capacity_provider_strategy: Vec<StrategyItem>,
    /// Service role.
    pub role: Option<String>,
    /// Deployment configuration.
    pub deployment_configuration: Option<DeploymentConfiguration>,
    /// Health check grace period.
    pub health_check_grace_period_seconds: Option<i32>,
    /// Network configuration.
    pub network_configuration: Option<NetworkConfiguration>,
    /// Placement strategy.
    pub placement_strategy: Vec<PlacementStrategy>,
    /// Placement constraints.
    pub placement_constraints: Vec<TaskPlacementConstraint>,
    /// Load balancers.
    pub load_balancers: Vec<ServiceLoadBalancerRef>,
    /// Tags.
    pub tags: Tags,
    /// Idempotency token: the same token never creates two services.
    pub client_token: String,
}

/// Input of UpdateService; `None` leaves a setting as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateServiceInput {
    /// Cluster name or ARN.
    pub cluster: String,
    /// Service name.
    pub name: String,
    /// New task definition ARN.
    pub task_definition: Option<String>,
    /// New desired count.
    pub desired_count: Option<i32>,
    /// New capacity provider strategy (needs `force_new_deployment`).
    pub capacity_provider_strategy: Option<Vec<StrategyItem>>,
    /// New deployment configuration.
    pub deployment_configuration: Option<DeploymentConfiguration>,
    /// New health check grace period.
    pub health_check_grace_period_seconds: Option<i32>,
    /// New network configuration.
    pub network_configuration: Option<NetworkConfiguration>,
    /// New placement strategy.
    pub placement_strategy: Option<Vec<PlacementStrategy>>,
    /// New placement constraints.
    pub placement_constraints: Option<Vec<TaskPlacementConstraint>>,
    /// New load balancers (the whole list; empty detaches the service from all of them).
    pub load_balancers: Option<Vec<ServiceLoadBalancerRef>>,
    /// Start a new deployment even without changes.
    pub force_new_deployment: bool,
}

impl UpdateServiceInput {
    /// Whether the update changes nothing.
    pub fn is_empty(&self) -> bool {
        self.task_definition.is_none()
            && self.desired_count.is_none()
            && self.capacity_provider_strategy.is_none()
            && self.deployment_configuration.is_none()
            && self.health_check_grace_period_seconds.is_none()
            && self.network_configuration.is_none()
            && self.placement_strategy.is_none()
            && self.placement_constraints.is_none()
            && self.load_balancers.is_none()
            && !self.force_new_deployment
    }
}

/// Input of RegisterTaskDefinition: the family plus the definition fields of the spec
/// (region, tags, deletionPolicy and revisionHistoryLimit of the spec are not sent).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RegisterTaskDefinitionInput {
    /// Family.
    pub family: String,
    /// The definition.
    pub definition: EcsTaskDefSpec,
    /// Tags of the new revision.
    pub tags: Tags,
}

/// An EC2 launch template.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LaunchTemplate {
    /// lt-… ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Latest version number.
    pub latest_version: i64,
    /// Default version number (what a group launching `$Default` gets).
    pub default_version: i64,
    /// Tags.
    pub tags: Tags,
}

/// The launch template data the operator manages.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LaunchTemplateData {
    /// AMI ID or resolve:ssm: parameter.
    pub image_id: String,
    /// Instance type.
    pub instance_type: String,
    /// Instance profile name or ARN.
    pub instance_profile: Option<String>,
    /// Security groups.
    pub security_group_ids: Vec<String>,
    /// Key pair.
    pub key_name: Option<String>,
    /// User data, base64.
    pub user_data_base64: String,
}

/// A launch template version's data as the operator reads it back.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LaunchTemplateVersionData {
    /// The part the operator manages.
    pub data: LaunchTemplateData,
    /// Settings the version has that the operator does not manage (e.g.
    /// `blockDeviceMappings`): kept by a version that holds the wanted data, lost by the
    /// next version the operator makes.
    pub unmodeled: Vec<String>,
}

/// A launch configuration (DescribeLaunchConfigurations): what a group made before launch
/// templates launches. The operator never creates one; `import` translates it into the
/// launch template the operator would make.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LaunchConfiguration {
    /// Name.
    pub name: String,
    /// ARN.
    pub arn: Option<String>,
    /// The settings a launch template of the operator states (security groups sorted).
    pub data: LaunchTemplateData,
    /// Settings it has that the operator's launch template cannot state (e.g.
    /// `blockDeviceMappings`): instances launched from that template will not have them.
    pub unmodeled: Vec<String>,
}

/// An Auto Scaling group.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AutoScalingGroup {
    /// Name.
    pub name: String,
    /// ARN.
    pub arn: Option<String>,
    /// Launch template ID.
    pub launch_template_id: Option<String>,
    /// Launch template version: a number, `$Latest` or `$Default`.
    pub launch_template_version: Option<String>,
    /// Launch template name, when AWS reports it.
    pub launch_template_name: Option<String>,
    /// Launch configuration name, for a group that launches from one (the operator never
    /// creates them; `import` reports them).
    pub launch_configuration_name: Option<String>,
    /// Minimum size.
    pub min_size: i32,
    /// Maximum size.
    pub max_size: i32,
    /// Desired capacity.
    pub desired_capacity: i32,
    /// Subnets.
    pub subnet_ids: Vec<String>,
    /// Classic ELBs.
    pub load_balancer_names: Vec<String>,
    /// Whether new instances launch protected from scale-in.
    pub new_instances_protected_from_scale_in: bool,
    /// Instances with their lifecycle state.
    pub instances: Vec<AsgInstance>,
    /// e.g. "Delete in progress".
    pub status: Option<String>,
    /// Tags.
    pub tags: Tags,
}

/// An instance of an Auto Scaling group.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AsgInstance {
    /// i-… ID.
    pub instance_id: String,
    /// Pending, InService, Terminating…
    pub lifecycle_state: String,
    /// Protected from scale-in: the group does not terminate it when scaling in.
    pub protected_from_scale_in: bool,
}

/// Input of CreateAutoScalingGroup.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CreateGroupInput {
    /// Name.
    pub name: String,
    /// Launch template ID.
    pub launch_template_id: String,
    /// Launch template version.
    pub launch_template_version: String,
    /// Minimum size.
    pub min_size: i32,
    /// Maximum size.
    pub max_size: i32,
    /// Desired capacity.
    pub desired_capacity: i32,
    /// Subnets.
    pub subnet_ids: Vec<String>,
    /// Classic ELBs.
    pub load_balancer_names: Vec<String>,
    /// Launch new instances protected from scale-in.
    pub new_instances_protected_from_scale_in: bool,
    /// Tags, propagated to instances at launch.
    pub tags: Tags,
}

/// Input of UpdateAutoScalingGroup; `None` leaves a setting as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateGroupInput {
    /// Name.
    pub name: String,
    /// New launch template (ID, version).
    pub launch_template: Option<(String, String)>,
    /// New minimum size.
    pub min_size: Option<i32>,
    /// New maximum size.
    pub max_size: Option<i32>,
    /// New desired capacity.
    pub desired_capacity: Option<i32>,
    /// New subnets.
    pub subnet_ids: Option<Vec<String>>,
    /// Whether new instances launch protected from scale-in.
    pub new_instances_protected_from_scale_in: Option<bool>,
}

impl UpdateGroupInput {
    /// Whether the update changes nothing.
    pub fn is_empty(&self) -> bool {
        self.new_instances_protected_from_scale_in.is_none()
            && self.launch_template.is_none()
            && self.min_size.is_none()
            && self.max_size.is_none()
            && self.desired_capacity.is_none()
            && self.subnet_ids.is_none()
    }
}

/// A classic ELB.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassicLoadBalancer {
    /// Name.
    pub name: String,
    /// DNS name.
    pub dns_name: Option<String>,
    /// Scheme.
    pub scheme: Option<String>,
    /// Listeners.
    pub listeners: Vec<Listener>,
    /// Health check.
    pub health_check: Option<ElbHealthCheck>,
    /// Subnets.
    pub subnet_ids: Vec<String>,
    /// Security groups.
    pub security_group_ids: Vec<String>,
}

/// Input of CreateLoadBalancer (classic).
#[derive(Clone, Debug, PartialEq)]
pub struct CreateLoadBalancerInput {
    /// Name.
    pub name: String,
    /// Scheme.
    pub scheme: LoadBalancerScheme,
    /// Subnets.
    pub subnet_ids: Vec<String>,
    /// Security groups.
    pub security_group_ids: Vec<String>,
    /// Listeners.
    pub listeners: Vec<Listener>,
    /// Tags.
    pub tags: Tags,
}

/// The Application Auto Scaling scalable target of an ECS service (namespace `ecs`,
/// dimension `ecs:service:DesiredCount`), as DescribeScalableTargets returns it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScalableTarget {
    /// `service/<cluster-name>/<service-name>`.
    pub resource_id: String,
    /// ScalableTargetARN (the handle for tags; a new one for every registration).
    pub arn: Option<String>,
    /// MinCapacity.
    pub min_capacity: i32,
    /// MaxCapacity.
    pub max_capacity: i32,
}

/// RegisterScalableTarget of an ECS service's desired count (an upsert).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegisterScalableTargetInput {
    /// `service/<cluster-name>/<service-name>`.
    pub resource_id: String,
    /// MinCapacity.
    pub min_capacity: i32,
    /// MaxCapacity.
    pub max_capacity: i32,
    /// Tags, applied by AWS only when the target is new (TagResource changes them later).
    pub tags: Tags,
}

/// A target tracking configuration with a predefined metric.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TargetTrackingConfig {
    /// PredefinedMetricType, e.g. `ECSServiceAverageCPUUtilization`.
    pub predefined_metric: String,
    /// ResourceLabel (ALBRequestCountPerTarget only).
    pub resource_label: Option<String>,
    /// TargetValue.
    pub target_value: f64,
    /// ScaleInCooldown, seconds.
    pub scale_in_cooldown: Option<i32>,
    /// ScaleOutCooldown, seconds.
    pub scale_out_cooldown: Option<i32>,
}

/// A scaling policy of a scalable target.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScalingPolicy {
    /// PolicyName (unique per scalable target).
    pub name: String,
    /// `service/<cluster-name>/<service-name>`.
    pub resource_id: String,
    /// The target tracking configuration; `None` for step scaling and other kinds.
    pub target_tracking: Option<TargetTrackingConfig>,
}

/// PutScalingPolicy of a target tracking policy (an upsert by name).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PutScalingPolicyInput {
    /// PolicyName.
    pub name: String,
    /// `service/<cluster-name>/<service-name>`.
    pub resource_id: String,
    /// The configuration.
    pub config: TargetTrackingConfig,
}

/// A scaling activity, as DescribeScalingActivities returns it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScalingActivity {
    /// StartTime (RFC 3339).
    pub start_time: Option<String>,
    /// Description, e.g. "Setting desired count to 4.".
    pub description: String,
    /// Pending, InProgress, Successful, Overridden, Unfulfilled or Failed.
    pub status_code: String,
    /// StatusMessage, if any.
    pub status_message: Option<String>,
}

/// A subnet, as DescribeSubnets returns it (what preflight checks need).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subnet {
    /// SubnetId.
    pub id: String,
    /// VpcId.
    pub vpc_id: String,
}

/// A security group, as DescribeSecurityGroups returns it (what preflight checks need).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecurityGroup {
    /// GroupId.
    pub id: String,
    /// VpcId (empty for an EC2-Classic group).
    pub vpc_id: String,
}

/// An ELBv2 target group, as DescribeTargetGroups returns it (the fields the operator
/// manages). Its targets are ECS's business and are never read or written here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetGroup {
    /// TargetGroupArn.
    pub arn: String,
    /// TargetGroupName (unique per account and region, at most 32 characters).
    pub name: String,
    /// Protocol towards the targets: HTTP or HTTPS.
    pub protocol: String,
    /// Port towards the targets.
    pub port: i32,
    /// VpcId.
    pub vpc_id: String,
    /// TargetType: `ip` or `instance`.
    pub target_type: String,
    /// The health check.
    pub health_check: TargetGroupHealthCheck,
    /// LoadBalancerArns of the load balancers that forward to it.
    pub load_balancer_arns: Vec<String>,
}

/// The health check of a target group, as ELBv2 reports it (every field filled in).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetGroupHealthCheck {
    /// HealthCheckProtocol: HTTP or HTTPS.
    pub protocol: String,
    /// HealthCheckPort: `traffic-port` or a number.
    pub port: String,
    /// HealthCheckPath.
    pub path: String,
    /// HealthCheckIntervalSeconds.
    pub interval_seconds: i32,
    /// HealthCheckTimeoutSeconds.
    pub timeout_seconds: i32,
    /// HealthyThresholdCount.
    pub healthy_threshold_count: i32,
    /// UnhealthyThresholdCount.
    pub unhealthy_threshold_count: i32,
    /// Matcher HttpCode, e.g. `200` or `200-299`.
    pub matcher: String,
}

/// Input of CreateTargetGroup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CreateTargetGroupInput {
    /// Name.
    pub name: String,
    /// Protocol: HTTP or HTTPS.
    pub protocol: String,
    /// Port.
    pub port: i32,
    /// VpcId.
    pub vpc_id: String,
    /// TargetType: `ip` or `instance`.
    pub target_type: String,
    /// The health check.
    pub health_check: TargetGroupHealthCheck,
    /// Tags.
    pub tags: Tags,
}

/// An ELBv2 listener, as DescribeListeners returns it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElbV2Listener {
    /// ListenerArn.
    pub arn: String,
    /// LoadBalancerArn of the load balancer the listener belongs to.
    pub load_balancer_arn: String,
    /// Protocol, e.g. HTTP.
    pub protocol: Option<String>,
    /// Port.
    pub port: Option<i32>,
}

/// An ELBv2 load balancer, as DescribeLoadBalancers returns it (what the operator reads).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElbV2LoadBalancer {
    /// LoadBalancerArn.
    pub arn: String,
    /// VpcId.
    pub vpc_id: Option<String>,
    /// DNSName.
    pub dns_name: Option<String>,
}

/// What a listener rule matches: path patterns and host headers (each condition present
/// when non-empty; both must match when both are set).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleConditions {
    /// path-pattern values.
    pub path_patterns: Vec<String>,
    /// host-header values.
    pub host_headers: Vec<String>,
}

/// A listener rule, as DescribeRules returns it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListenerRule {
    /// RuleArn.
    pub arn: String,
    /// Priority as a number; `None` for the listener's default rule.
    pub priority: Option<i32>,
    /// The conditions the operator manages (others are ignored here, but make the rule
    /// differ from the spec's: see `other_conditions`).
    pub conditions: RuleConditions,
    /// Whether the rule has conditions other than path-pattern and host-header.
    pub other_conditions: bool,
    /// Target group ARNs a forward action sends to (empty: not a forward rule).
    pub forward_to: Vec<String>,
}

/// Input of CreateRule: forward to one target group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CreateRuleInput {
    /// ListenerArn.
    pub listener_arn: String,
    /// Priority (1–50000, unique per listener).
    pub priority: i32,
    /// Conditions.
    pub conditions: RuleConditions,
    /// Target group the rule forwards to.
    pub target_group_arn: String,
    /// Tags.
    pub tags: Tags,
}
