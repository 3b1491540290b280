//! `EcsCluster`: an ECS cluster and, optionally, the EC2 capacity that joins it.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    immutable_optional, impl_common_spec, strategy_rules, tags_rules, CapacityProviderStrategyItem,
    CommonStatus, DeletionPolicy,
};

/// Default AMI: the latest ECS-optimized Amazon Linux 2023 image, resolved by EC2 through SSM.
pub const DEFAULT_IMAGE_ID: &str =
    "resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id";

/// An ECS cluster and, optionally, an Auto Scaling group of EC2 instances that join it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ecsoperator.io",
    version = "v1alpha1",
    kind = "EcsCluster",
    plural = "ecsclusters",
    shortname = "ecsc",
    category = "ecs",
    namespaced,
    status = "EcsClusterStatus",
    printcolumn = r#"{"name":"Cluster","type":"string","jsonPath":".status.clusterName"}"#,
    printcolumn = r#"{"name":"Instances","type":"integer","jsonPath":".status.registeredContainerInstances"}"#,
    printcolumn = r#"{"name":"Services","type":"integer","jsonPath":".status.activeServices"}"#,
    printcolumn = r#"{"name":"Tasks","type":"integer","jsonPath":".status.runningTasks"}"#,
    printcolumn = r#"{"name":"InService","type":"integer","priority":1,"jsonPath":".status.capacity.inServiceInstances"}"#,
    printcolumn = r#"{"name":"Providers","type":"string","priority":1,"jsonPath":".status.capacityProviders"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    immutable_optional("clusterName"),
    immutable_optional("region"),
    // The managed provider's default name comes from metadata.name when neither its name
    // nor clusterName is set, which a spec rule cannot see: the operator checks that case.
    {"rule": "!has(self.defaultCapacityProviderStrategy) || self.defaultCapacityProviderStrategy.all(s, (s.capacityProvider in ['FARGATE', 'FARGATE_SPOT']) ? (has(self.capacityProviders) && s.capacityProvider in self.capacityProviders) : (has(self.capacity) && has(self.capacity.capacityProvider) && (has(self.capacity.capacityProvider.name) ? s.capacityProvider == self.capacity.capacityProvider.name : (!has(self.clusterName) || s.capacityProvider == self.clusterName + '-ec2'))))",
     "message": "each provider of defaultCapacityProviderStrategy must be FARGATE or FARGATE_SPOT listed in capacityProviders, or the name of capacity.capacityProvider"}
]))]
pub struct EcsClusterSpec {
    /// Name of the ECS cluster. Immutable; defaults to metadata.name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[a-zA-Z0-9_-]+$"))]
    pub cluster_name: Option<String>,
    /// AWS region of the cluster. Immutable; defaults to the operator's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// User tags added to every AWS resource this object owns.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("x-kubernetes-validations" = tags_rules()), extend("maxProperties" = 45))]
    pub tags: BTreeMap<String, String>,
    /// Delete (default) or Retain the AWS resources when this object is deleted.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// EC2 capacity: a launch template and an Auto Scaling group whose instances join the
    /// cluster. Absent means the operator manages no EC2 capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<ClusterCapacity>,
    /// Fargate capacity providers attached to the cluster next to the managed EC2 one
    /// (capacity.capacityProvider): FARGATE and/or FARGATE_SPOT.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"), length(max = 2))]
    pub capacity_providers: Vec<FargateCapacityProvider>,
    /// The strategy of services (and tasks) that name neither a launch type nor a strategy
    /// of their own, as in the ECS API. Each entry names a provider of the cluster:
    /// FARGATE or FARGATE_SPOT from capacityProviders, or the managed EC2 provider.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-validations" = strategy_rules()), length(max = 6))]
    pub default_capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
}
impl_common_spec!(EcsClusterSpec);

/// The capacity providers AWS Fargate offers in every cluster.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
pub enum FargateCapacityProvider {
    /// Fargate on-demand capacity.
    #[serde(rename = "FARGATE")]
    Fargate,
    /// Fargate Spot capacity (interruptible, cheaper).
    #[serde(rename = "FARGATE_SPOT")]
    FargateSpot,
}

impl FargateCapacityProvider {
    /// The name ECS knows it by.
    pub fn as_str(self) -> &'static str {
        match self {
            FargateCapacityProvider::Fargate => "FARGATE",
            FargateCapacityProvider::FargateSpot => "FARGATE_SPOT",
        }
    }
}

/// ENABLED or DISABLED, as ECS spells its switches.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Toggle {
    /// On.
    #[serde(rename = "ENABLED")]
    Enabled,
    /// Off.
    #[default]
    #[serde(rename = "DISABLED")]
    Disabled,
}

impl Toggle {
    /// Whether it is ENABLED.
    pub fn is_enabled(self) -> bool {
        self == Toggle::Enabled
    }
}

fn enabled() -> Toggle {
    Toggle::Enabled
}
fn default_target_capacity() -> i32 {
    100
}
fn default_min_step() -> i32 {
    1
}
fn default_max_step() -> i32 {
    10000
}
fn default_warmup() -> i32 {
    300
}

/// An ECS capacity provider for the cluster's Auto Scaling group, created, updated and
/// deleted by the operator, and attached to the cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    immutable_optional("name"),
    {"rule": "!has(self.managedTerminationProtection) || self.managedTerminationProtection != 'ENABLED' || (has(self.managedScaling) && self.managedScaling.status == 'ENABLED')",
     "message": "managedTerminationProtection ENABLED needs managedScaling with status ENABLED (ECS refuses it otherwise)"}
]))]
pub struct CapacityProviderSpec {
    /// Name of the capacity provider. Immutable; defaults to <clusterName>-ec2. ECS
    /// refuses names starting with aws, ecs or fargate (in any case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 255),
        regex(pattern = r"^[a-zA-Z0-9_-]+$"),
        extend("x-kubernetes-validations" = [
            {"rule": "!self.lowerAscii().startsWith('aws') && !self.lowerAscii().startsWith('ecs') && !self.lowerAscii().startsWith('fargate')",
             "message": "capacity provider names cannot start with aws, ecs or fargate"}
        ])
    )]
    pub name: Option<String>,
    /// ECS managed scaling: ECS sets the group's desired capacity to keep the cluster's
    /// capacity use at targetCapacity. Absent: ECS does not scale the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_scaling: Option<ManagedScaling>,
    /// ENABLED: ECS protects instances running tasks from scale-in (the group launches
    /// instances protected from scale-in, and ECS lifts the protection of idle ones).
    /// Needs managedScaling ENABLED. Default DISABLED.
    #[serde(default)]
    pub managed_termination_protection: Toggle,
    /// ENABLED (default): ECS drains the tasks of an instance before the group
    /// terminates it.
    #[serde(default = "enabled")]
    pub managed_draining: Toggle,
}

/// ECS managed scaling of a capacity provider, as in the ECS API.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.minimumScalingStepSize <= self.maximumScalingStepSize",
     "message": "minimumScalingStepSize must not exceed maximumScalingStepSize"}
]))]
pub struct ManagedScaling {
    /// ENABLED (default) or DISABLED.
    #[serde(default = "enabled")]
    pub status: Toggle,
    /// Percentage of the group's capacity ECS aims to use (1–100, default 100).
    #[serde(default = "default_target_capacity")]
    #[schemars(range(min = 1, max = 100))]
    pub target_capacity: i32,
    /// Fewest instances ECS adds or removes at once (1–10000, default 1).
    #[serde(default = "default_min_step")]
    #[schemars(range(min = 1, max = 10000))]
    pub minimum_scaling_step_size: i32,
    /// Most instances ECS adds or removes at once (1–10000, default 10000).
    #[serde(default = "default_max_step")]
    #[schemars(range(min = 1, max = 10000))]
    pub maximum_scaling_step_size: i32,
    /// Seconds a new instance takes before it counts towards the group's metrics
    /// (0–10000, default 300).
    #[serde(default = "default_warmup")]
    #[schemars(range(min = 0, max = 10000))]
    pub instance_warmup_period: i32,
}

impl Default for ManagedScaling {
    fn default() -> Self {
        Self {
            status: Toggle::Enabled,
            target_capacity: default_target_capacity(),
            minimum_scaling_step_size: default_min_step(),
            maximum_scaling_step_size: default_max_step(),
            instance_warmup_period: default_warmup(),
        }
    }
}

impl CapacityProviderSpec {
    /// Whether ECS managed scaling is on.
    pub fn managed_scaling_enabled(&self) -> bool {
        self.managed_scaling
            .as_ref()
            .is_some_and(|m| m.status.is_enabled())
    }
}

/// EC2 capacity of a cluster: one launch template version per change, one Auto Scaling group.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.minSize <= self.maxSize", "message": "minSize must not exceed maxSize"},
    immutable_optional("launchTemplateName"),
    immutable_optional("autoScalingGroupName"),
    {"rule": "!has(self.desiredCapacity) || (self.desiredCapacity >= self.minSize && self.desiredCapacity <= self.maxSize)",
     "message": "desiredCapacity must be between minSize and maxSize"},
    {"rule": "!has(self.desiredCapacity) || !has(self.capacityProvider) || !has(self.capacityProvider.managedScaling) || self.capacityProvider.managedScaling.status != 'ENABLED'",
     "message": "leave desiredCapacity unset with capacityProvider.managedScaling: ECS sets the group's desired capacity"}
]))]
pub struct ClusterCapacity {
    /// EC2 instance type, e.g. t2.micro.
    #[schemars(length(min = 1))]
    pub instance_type: String,
    /// AMI ID or `resolve:ssm:<parameter>`; defaults to the ECS-optimized Amazon Linux 2023 AMI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// Instance profile (name or ARN) that lets the ECS agent talk to ECS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_profile: Option<String>,
    /// Security groups of the instances.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_group_ids: Vec<String>,
    /// Subnets the Auto Scaling group launches instances into.
    #[schemars(length(min = 1))]
    pub subnet_ids: Vec<String>,
    /// EC2 key pair for SSH access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_name: Option<String>,
    /// Minimum number of instances.
    #[schemars(range(min = 0))]
    pub min_size: i32,
    /// Maximum number of instances.
    #[schemars(range(min = 0))]
    pub max_size: i32,
    /// Desired number of instances. Absent: set to minSize at creation, then left to
    /// whoever scales the group (scaling policies, people).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub desired_capacity: Option<i32>,
    /// Existing classic ELBs the group registers its instances in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_balancer_names: Vec<String>,
    /// Extra shell appended to the user data after the lines that join the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// `userData` is the whole user data script: the operator adds no line of its own, so
    /// the script must make the instances join the cluster itself (as the tutorial's
    /// `echo ECS_CLUSTER=… > /etc/ecs/ecs.config` does). `ecs-operator import` sets it for
    /// user data written by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data_verbatim: Option<bool>,
    /// Name of the launch template. Immutable; defaults to `<clusterName>-ecs-capacity`.
    /// Set it to manage a template made by other means (`ecs-operator import` does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 128))]
    pub launch_template_name: Option<String>,
    /// Name of the Auto Scaling group. Immutable; defaults to `<clusterName>-ecs-capacity`.
    /// Set it to manage a group made by other means (`ecs-operator import` does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub auto_scaling_group_name: Option<String>,
    /// An ECS capacity provider for this group, attached to the cluster. Removing it
    /// detaches and deletes the provider and keeps the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_provider: Option<CapacityProviderSpec>,
}

/// Observed state of an EcsCluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EcsClusterStatus {
    /// observedGeneration and conditions.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// ARN of the ECS cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    /// Name of the ECS cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Status of the ECS cluster itself, as ECS reports it (ACTIVE, PROVISIONING, …),
    /// whatever its EC2 capacity: EcsServices deploy into the cluster once it is ACTIVE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_status: Option<String>,
    /// Container instances registered in the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_container_instances: Option<i32>,
    /// Tasks in the RUNNING state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_tasks: Option<i32>,
    /// Tasks in the PENDING state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_tasks: Option<i32>,
    /// Services in the ACTIVE state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_services: Option<i32>,
    /// State of the managed EC2 capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacityStatus>,
    /// Capacity providers attached to the ECS cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity_providers: Vec<String>,
    /// Keys of spec.tags the operator has put on the AWS resources of this object, sorted.
    /// When a key leaves spec.tags, the next sync removes it from those resources; tags the
    /// operator did not apply (added by people or other tools) are never removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applied_tag_keys: Vec<String>,
}

/// Observed state of the managed EC2 capacity.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapacityStatus {
    /// Name of the Auto Scaling group.
    pub auto_scaling_group_name: String,
    /// ID of the EC2 launch template.
    pub launch_template_id: String,
    /// Launch template version the group launches.
    pub launch_template_version: String,
    /// The group's desired capacity.
    pub desired_capacity: i32,
    /// Instances in the InService lifecycle state.
    pub in_service_instances: i32,
    /// Name of the launch template (remembered so that capacity dropped from the spec is
    /// removed even when the spec named its template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_template_name: Option<String>,
    /// Name of the managed capacity provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_provider_name: Option<String>,
    /// ARN of the managed capacity provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_provider_arn: Option<String>,
    /// Status of the capacity provider (ACTIVE, INACTIVE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_provider_status: Option<String>,
    /// Status of its latest update or deletion (UPDATE_COMPLETE, DELETE_IN_PROGRESS, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_provider_update_status: Option<String>,
}

impl EcsCluster {
    /// Name of the ECS cluster: spec.clusterName or metadata.name.
    pub fn cluster_name(&self) -> String {
        self.spec
            .cluster_name
            .clone()
            .unwrap_or_else(|| self.metadata.name.clone().unwrap_or_default())
    }

    /// Name of the managed capacity provider, when the spec asks for one: its name or
    /// <clusterName>-ec2.
    pub fn capacity_provider_name(&self) -> Option<String> {
        let cp = self.spec.capacity.as_ref()?.capacity_provider.as_ref()?;
        Some(
            cp.name
                .clone()
                .unwrap_or_else(|| default_capacity_provider_name(&self.cluster_name())),
        )
    }
}

/// Default name of a cluster's managed capacity provider.
pub fn default_capacity_provider_name(cluster_name: &str) -> String {
    format!("{cluster_name}-ec2")
}
