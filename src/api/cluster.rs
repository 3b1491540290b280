//! `EcsCluster`: an ECS cluster and, optionally, the EC2 capacity that joins it.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    immutable_optional, impl_common_spec, tags_rules, CommonStatus, DeletionPolicy,
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
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [immutable_optional("clusterName"), immutable_optional("region")]))]
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
}
impl_common_spec!(EcsClusterSpec);

/// EC2 capacity of a cluster: one launch template version per change, one Auto Scaling group.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.minSize <= self.maxSize", "message": "minSize must not exceed maxSize"},
    immutable_optional("launchTemplateName"),
    immutable_optional("autoScalingGroupName"),
    {"rule": "!has(self.desiredCapacity) || (self.desiredCapacity >= self.minSize && self.desiredCapacity <= self.maxSize)",
     "message": "desiredCapacity must be between minSize and maxSize"}
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
}

impl EcsCluster {
    /// Name of the ECS cluster: spec.clusterName or metadata.name.
    pub fn cluster_name(&self) -> String {
        self.spec
            .cluster_name
            .clone()
            .unwrap_or_else(|| self.metadata.name.clone().unwrap_or_default())
    }
}
