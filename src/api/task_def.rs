//! `EcsTaskDef`: an ECS task definition family; every real spec change is a new revision.
//!
//! Field names and casing follow the ECS API JSON, so `containerDefinitions` from
//! `aws ecs describe-task-definition` can be pasted in.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    immutable_optional, impl_common_spec, tags_rules, CommonStatus, DeletionPolicy,
};

/// A task definition family registered in ECS; the operator registers a new revision only
/// when the normalized spec changes.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ecsoperator.io",
    version = "v1alpha1",
    kind = "EcsTaskDef",
    plural = "ecstaskdefs",
    shortname = "ecstd",
    category = "ecs",
    namespaced,
    status = "EcsTaskDefStatus",
    printcolumn = r#"{"name":"Family","type":"string","jsonPath":".status.family"}"#,
    printcolumn = r#"{"name":"Revision","type":"integer","jsonPath":".status.latestRevision"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    immutable_optional("family"),
    immutable_optional("region"),
    {"rule": "!has(self.requiresCompatibilities) || !self.requiresCompatibilities.exists(c, c == 'FARGATE') || (has(self.networkMode) && self.networkMode == 'awsvpc')",
     "message": "requiresCompatibilities FARGATE needs networkMode: awsvpc"},
    {"rule": "!has(self.requiresCompatibilities) || !self.requiresCompatibilities.exists(c, c == 'FARGATE') || (has(self.cpu) && has(self.memory))",
     "message": "requiresCompatibilities FARGATE needs task-level cpu and memory"},
    {"rule": fargate_sizes_rule(),
     "message": "cpu and memory are not a Fargate size: 256 (.25 vCPU) takes memory 512, 1024 or 2048; 512 takes 1024-4096 and 1024 takes 2048-8192 in steps of 1024; 2048 takes 4096-16384 and 4096 takes 8192-30720 in steps of 1024; 8192 takes 16384-61440 in steps of 4096; 16384 takes 32768-122880 in steps of 8192 (MiB)"}
]))]
pub struct EcsTaskDefSpec {
    /// Task definition family. Immutable; defaults to metadata.name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[a-zA-Z0-9_-]+$"))]
    pub family: Option<String>,
    /// AWS region. Immutable; defaults to the operator's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// User tags added to every revision this object registers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("x-kubernetes-validations" = tags_rules()), extend("maxProperties" = 45))]
    pub tags: BTreeMap<String, String>,
    /// Delete (default: deregister every revision) or Retain them on deletion.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Older ACTIVE revisions beyond this number are deregistered, except revisions a
    /// service still uses. Absent: keep all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub revision_history_limit: Option<i32>,
    /// The containers of the task, as in the ECS API.
    #[schemars(length(min = 1, max = 10))]
    pub container_definitions: Vec<ContainerDefinition>,
    /// Docker networking mode of the containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<NetworkMode>,
    /// Launch types the task definition is validated against.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires_compatibilities: Vec<LaunchType>,
    /// Task-level CPU units or vCPUs, e.g. 256 or "1 vCPU".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxLength" = 16))]
    pub cpu: Option<IntOrString>,
    /// Task-level memory in MiB or GB, e.g. 512 or "1 GB".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxLength" = 16))]
    pub memory: Option<IntOrString>,
    /// Role the ECS agent uses to pull images and write logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// Role the containers' AWS SDKs assume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    /// Volumes the containers can mount.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Placement constraints of the task.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement_constraints: Vec<TaskPlacementConstraint>,
    /// OS family and CPU architecture (needed for Fargate on ARM or Windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_platform: Option<RuntimePlatform>,
}
impl_common_spec!(EcsTaskDefSpec);

/// CEL: a task that requires Fargate has a task size Fargate offers. cpu and memory are
/// normalized first, as ECS does: CPU units or "N vCPU", MiB or "N GB". Each row is (CPU
/// units, least and most memory, step); 256 takes 512, 1024 or 2048 only.
fn fargate_sizes_rule() -> String {
    let units = |field: &str, suffix: &str| {
        format!(
            "(type(self.{field}) == int ? self.{field} : \
             self.{field}.matches('^[0-9]+$') ? int(self.{field}) : \
             self.{field}.matches('^(?i)[0-9]*[.]?[0-9]+ ?{suffix}$') ? \
             int(double(self.{field}.lowerAscii().replace('{suffix}', '').trim()) * 1024.0) : -1)"
        )
    };
    format!(
        "!has(self.requiresCompatibilities) || !self.requiresCompatibilities.exists(c, c == 'FARGATE') \
         || !has(self.cpu) || !has(self.memory) || \
         [[256, 512, 2048, 512], [512, 1024, 4096, 1024], [1024, 2048, 8192, 1024], \
         [2048, 4096, 16384, 1024], [4096, 8192, 30720, 1024], [8192, 16384, 61440, 4096], \
         [16384, 32768, 122880, 8192]].exists(r, {cpu} == r[0] && \
         {mem} >= r[1] && {mem} <= r[2] && {mem} % r[3] == 0 && !(r[0] == 256 && {mem} == 1536))",
        cpu = units("cpu", "vcpu"),
        mem = units("memory", "gb"),
    )
}

/// Docker networking mode.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// Docker's bridge network (the EC2 default).
    Bridge,
    /// The host's network.
    Host,
    /// An elastic network interface per task (required on Fargate).
    Awsvpc,
    /// No external networking.
    None,
}

/// Where tasks run.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum LaunchType {
    /// EC2 instances registered in the cluster.
    #[serde(rename = "EC2")]
    Ec2,
    /// AWS Fargate.
    Fargate,
    /// ECS Anywhere instances.
    External,
}

impl LaunchType {
    /// The ECS API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LaunchType::Ec2 => "EC2",
            LaunchType::Fargate => "FARGATE",
            LaunchType::External => "EXTERNAL",
        }
    }
}

/// One container of the task, as in the ECS API.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDefinition {
    /// Container name, unique in the task.
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// Image, e.g. training/webapp:latest.
    #[schemars(length(min = 1))]
    pub image: String,
    /// CPU units reserved for the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub cpu: Option<i32>,
    /// Hard memory limit in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 4))]
    pub memory: Option<i32>,
    /// Soft memory limit in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 4))]
    pub memory_reservation: Option<i32>,
    /// Whether the task stops when this container stops (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub essential: Option<bool>,
    /// Command passed to the container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Entry point of the container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entry_point: Vec<String>,
    /// Working directory of the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    /// User the command runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<KeyValuePair>,
    /// Secrets from Secrets Manager or SSM exposed as environment variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<Secret>,
    /// Ports the container exposes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<PortMapping>,
    /// Legacy Docker links to other containers (bridge mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    /// Volumes mounted into the container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mount_points: Vec<MountPoint>,
    /// Volumes taken from other containers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes_from: Vec<VolumeFrom>,
    /// Log driver configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_configuration: Option<LogConfiguration>,
    /// Container health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// Docker labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub docker_labels: BTreeMap<String, String>,
    /// Resource limits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ulimits: Vec<Ulimit>,
    /// Containers this one waits for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<ContainerDependency>,
    /// Seconds to wait before killing the container after SIGTERM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i32>,
    /// Seconds to wait for dependencies before giving up on starting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_timeout: Option<i32>,
    /// Hostname of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Run privileged (EC2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// Mount the root filesystem read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readonly_root_filesystem: Option<bool>,
    /// Disable networking in the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_networking: Option<bool>,
    /// DNS servers of the container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_servers: Vec<String>,
    /// Extra /etc/hosts entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<HostEntry>,
}

/// An environment variable.
#[derive(
    Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
pub struct KeyValuePair {
    /// Variable name.
    pub name: String,
    /// Variable value.
    #[serde(default)]
    pub value: String,
}

/// A secret exposed as an environment variable.
#[derive(
    Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    /// Variable name.
    pub name: String,
    /// ARN of the Secrets Manager secret or SSM parameter.
    pub value_from: String,
}

/// Transport protocol of a port mapping.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP (the default).
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

/// A port the container exposes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// Port inside the container.
    #[schemars(range(min = 0, max = 65535))]
    pub container_port: i32,
    /// Port on the host (bridge mode); 0 or absent picks a dynamic port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 65535))]
    pub host_port: Option<i32>,
    /// tcp (default) or udp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// Name of the port mapping (Service Connect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A volume mounted into a container.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MountPoint {
    /// Name of a task volume.
    pub source_volume: String,
    /// Path inside the container.
    pub container_path: String,
    /// Mount read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

/// Volumes taken from another container.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeFrom {
    /// The other container.
    pub source_container: String,
    /// Mount read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

/// Log driver configuration.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogConfiguration {
    /// Log driver, e.g. awslogs.
    pub log_driver: String,
    /// Driver options.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

/// Container health check.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// Command, e.g. ["CMD-SHELL", "curl -f http://localhost/ || exit 1"].
    #[schemars(length(min = 1))]
    pub command: Vec<String>,
    /// Seconds between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i32>,
    /// Seconds before a check fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i32>,
    /// Failures before the container is unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i32>,
    /// Grace period in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i32>,
}

/// A resource limit.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ulimit {
    /// Limit name, e.g. nofile.
    pub name: String,
    /// Soft limit.
    pub soft_limit: i32,
    /// Hard limit.
    pub hard_limit: i32,
}

/// A container this one depends on.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDependency {
    /// The other container.
    pub container_name: String,
    /// START, COMPLETE, SUCCESS or HEALTHY.
    pub condition: String,
}

/// An /etc/hosts entry.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostEntry {
    /// Hostname.
    pub hostname: String,
    /// IP address.
    pub ip_address: String,
}

/// A task volume.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// Volume name referenced by mountPoints.
    pub name: String,
    /// Bind mount from the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostVolume>,
}

/// A bind mount from the host.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostVolume {
    /// Path on the host; absent lets Docker choose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_path: Option<String>,
}

/// A task placement constraint.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskPlacementConstraint {
    /// memberOf.
    #[serde(rename = "type")]
    pub type_: String,
    /// Cluster query language expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

/// OS family and CPU architecture.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimePlatform {
    /// X86_64 or ARM64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_architecture: Option<String>,
    /// e.g. LINUX.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operating_system_family: Option<String>,
}

/// Observed state of an EcsTaskDef.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EcsTaskDefStatus {
    /// observedGeneration and conditions.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// The task definition family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Revision registered for the current spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_revision: Option<i32>,
    /// ARN of the latest revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
    /// ACTIVE revisions of the family owned by this object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active_revisions: Vec<i32>,
    /// Keys of spec.tags the operator has put on the family's revisions, sorted. When a key
    /// leaves spec.tags, the next sync removes it from the latest revision (older revisions
    /// are history and keep theirs); tags the operator did not apply (added by people or
    /// other tools) are never removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applied_tag_keys: Vec<String>,
}

impl EcsTaskDef {
    /// Family name: spec.family or metadata.name.
    pub fn family(&self) -> String {
        self.spec
            .family
            .clone()
            .unwrap_or_else(|| self.metadata.name.clone().unwrap_or_default())
    }
}
