//! An in-memory AWS for controller tests: ECS, EC2 launch templates, Auto Scaling,
//! classic ELB and Application Auto Scaling of services (and the subnets, security groups,
//! key pairs and IAM entities specs refer to: see `references`), with the semantics the operator
//! depends on and moto does not model (conflicts, idempotency tokens, dependency errors,
//! deployments that roll out over time, service events), plus fault injection and a call
//! log.
//!
//! Time does not pass by itself. [`FakeAws::tick`] moves the whole world one step; with
//! `auto_progress` (the default) every DescribeServices also moves the described services
//! one step and every DescribeAutoScalingGroups the described group, before answering, as
//! if time had passed since the caller last looked.
//!
//! What one step does:
//! - ECS deployments: the PRIMARY deployment moves its running count toward its desired
//!   count by up to `tasks_per_step` tasks (default: all at once), older deployments drain
//!   by as many; drained older deployments disappear; the PRIMARY becomes COMPLETED when it
//!   runs its desired count and no other deployment is left. A DRAINING (deleted) service
//!   becomes INACTIVE once it runs no task, so with the default step one tick after delete.
//! - Auto Scaling: instances launch as `Pending` and are `InService` after one step;
//!   instances scaled in are `Terminating` for one step; a group deleted with ForceDelete is
//!   "Delete in progress" for one step, then gone.
//! - ECS capacity providers being deleted (DELETE_IN_PROGRESS) are gone.
//! - EC2 instances whose user data says `ECS_CLUSTER=<name>` register as container instances
//!   of that cluster while InService or Terminating (the ECS agent joining the cluster).
//!
//! Every region shares the same state; ARNs use region `us-east-1` and account
//! `123456789012`.

mod app_autoscaling;
mod autoscaling;
mod capacity_provider;
mod ec2;
mod ecs;
mod elb;
mod elbv2;
mod faults;
mod references;
#[cfg(test)]
mod test_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use super::error::classify;
use super::types::*;
use super::{AwsClients, AwsError, AwsProvider};
use autoscaling::Group;
use capacity_provider::Provider;
use ec2::LaunchTemplateState;
use ecs::{Cluster, Service, TaskDef};
use elb::Elb;
use faults::{Fault, Gate};

pub use faults::{throttling_error, CallGate};

pub use autoscaling::cluster_in_user_data;
pub use references::DEFAULT_VPC;

/// Account of every ARN the fake makes.
pub const ACCOUNT: &str = "123456789012";
/// Region of every ARN the fake makes.
pub const REGION: &str = "us-east-1";

/// Operation names, as [`super::guard`] names them.
pub const OPERATIONS: &[&str] = &[
    "ecs:DescribeClusters",
    "ecs:CreateCluster",
    "ecs:DeleteCluster",
    "ecs:TagResource",
    "ecs:UntagResource",
    "ecs:RegisterTaskDefinition",
    "ecs:DescribeTaskDefinition",
    "ecs:ListTaskDefinitions",
    "ecs:DeregisterTaskDefinition",
    "ecs:DescribeServices",
    "ecs:ListServices",
    "ecs:CreateService",
    "ecs:UpdateService",
    "ecs:DeleteService",
    "ecs:DescribeCapacityProviders",
    "ecs:CreateCapacityProvider",
    "ecs:UpdateCapacityProvider",
    "ecs:DeleteCapacityProvider",
    "ecs:PutClusterCapacityProviders",
    "ec2:DescribeLaunchTemplates",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:CreateLaunchTemplate",
    "ec2:CreateLaunchTemplateVersion",
    "ec2:CreateTags",
    "ec2:DeleteTags",
    "ec2:DeleteLaunchTemplate",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeKeyPairs",
    "iam:GetRole",
    "iam:GetInstanceProfile",
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:CreateAutoScalingGroup",
    "autoscaling:UpdateAutoScalingGroup",
    "autoscaling:AttachLoadBalancers",
    "autoscaling:DetachLoadBalancers",
    "autoscaling:CreateOrUpdateTags",
    "autoscaling:DeleteTags",
    "autoscaling:DeleteAutoScalingGroup",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:CreateLoadBalancer",
    "elasticloadbalancing:ConfigureHealthCheck",
    "elasticloadbalancing:CreateLoadBalancerListeners",
    "elasticloadbalancing:DeleteLoadBalancerListeners",
    "elasticloadbalancing:AttachLoadBalancerToSubnets",
    "elasticloadbalancing:DetachLoadBalancerFromSubnets",
    "elasticloadbalancing:ApplySecurityGroupsToLoadBalancer",
    "elasticloadbalancing:AddTags",
    "elasticloadbalancing:RemoveTags",
    "elasticloadbalancing:DeleteLoadBalancer",
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:RegisterScalableTarget",
    "application-autoscaling:DeregisterScalableTarget",
    "application-autoscaling:ListTagsForResource",
    "application-autoscaling:TagResource",
    "application-autoscaling:UntagResource",
    "application-autoscaling:DescribeScalingPolicies",
    "application-autoscaling:PutScalingPolicy",
    "application-autoscaling:DeleteScalingPolicy",
    "application-autoscaling:DescribeScalingActivities",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:CreateTargetGroup",
    "elasticloadbalancing:ModifyTargetGroup",
    "elasticloadbalancing:ModifyTargetGroupAttributes",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DeleteTargetGroup",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:CreateRule",
    "elasticloadbalancing:ModifyRule",
    "elasticloadbalancing:SetRulePriorities",
    "elasticloadbalancing:DeleteRule",
];

/// Whether an operation only reads (Describe*/List*/Get*).
pub fn is_read_only(operation: &str) -> bool {
    let action = operation.rsplit(':').next().unwrap_or(operation);
    action.starts_with("Describe") || action.starts_with("List") || action.starts_with("Get")
}

/// 2024-01-01T00:00:00Z: the fake clock's origin.
const EPOCH: i64 = 1_704_067_200;
/// Seconds one step moves the fake clock.
const STEP_SECONDS: i64 = 15;

/// An error classified the way the SDK adapters classify it (HTTP 400).
fn err(op: &'static str, code: &str, message: impl Into<String>) -> AwsError {
    let message = message.into();
    AwsError::new(classify(op, code, &message, Some(400)), op, code, message)
}

fn valid_name(name: &str, max: usize, extra: &[char]) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
}

/// The last `/`-separated part: the name in a name-or-ARN argument.
fn last_segment(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}
#[derive(Debug)]
struct State {
    clock: i64,
    seq: u64,
    calls: Vec<String>,
    record_calls: bool,
    gate: Option<Gate>,
    faults: Vec<Fault>,
    auto_progress: bool,
    tasks_per_step: Option<i32>,
    require_capacity: bool,
    known_roles: Option<BTreeSet<String>>,
    broken_task_definitions: BTreeSet<String>,
    describe_lag: u32,
    list_lag: u32,
    clusters: BTreeMap<String, Cluster>,
    task_defs: BTreeMap<String, Vec<TaskDef>>,
    registered: Vec<RegisterTaskDefinitionInput>,
    services: Vec<Service>,
    service_creates: Vec<CreateServiceInput>,
    service_updates: Vec<UpdateServiceInput>,
    launch_templates: BTreeMap<String, LaunchTemplateState>,
    groups: BTreeMap<String, Group>,
    launch_configurations: BTreeMap<String, LaunchConfiguration>,
    group_creates: Vec<CreateGroupInput>,
    group_updates: Vec<UpdateGroupInput>,
    elbs: BTreeMap<String, Elb>,
    capacity_providers: BTreeMap<String, Provider>,
    scalable_targets: BTreeMap<String, app_autoscaling::Target>,
    /// By (resource ID, policy name).
    scaling_policies: BTreeMap<(String, String), ScalingPolicy>,
    /// By resource ID, newest first.
    scaling_activities: BTreeMap<String, Vec<ScalingActivity>>,
    /// Subnets, security groups, key pairs and IAM entities that specs refer to.
    references: references::References,
    elbv2: elbv2::ElbV2State,
}

impl Default for State {
    fn default() -> Self {
        Self {
            clock: 0,
            seq: 0,
            calls: Vec::new(),
            record_calls: true,
            gate: None,
            faults: Vec::new(),
            auto_progress: true,
            tasks_per_step: None,
            require_capacity: false,
            known_roles: None,
            broken_task_definitions: BTreeSet::new(),
            describe_lag: 0,
            list_lag: 0,
            clusters: BTreeMap::new(),
            task_defs: BTreeMap::new(),
            registered: Vec::new(),
            services: Vec::new(),
            service_creates: Vec::new(),
            service_updates: Vec::new(),
            launch_templates: BTreeMap::new(),
            groups: BTreeMap::new(),
            launch_configurations: BTreeMap::new(),
            group_creates: Vec::new(),
            group_updates: Vec::new(),
            elbs: BTreeMap::new(),
            capacity_providers: BTreeMap::new(),
            scalable_targets: BTreeMap::new(),
            scaling_policies: BTreeMap::new(),
            scaling_activities: BTreeMap::new(),
            references: Default::default(),
            elbv2: Default::default(),
        }
    }
}

/// The in-memory AWS. Clones share the same state.
#[derive(Clone, Debug, Default)]
pub struct FakeAws {
    state: Arc<Mutex<State>>,
}

// ---------------------------------------------------------------------------------------
// Test-facing API: configuration and time. Faults and the call log are in `faults`;
// inspection and out-of-band changes are next to each service's code.
// ---------------------------------------------------------------------------------------

impl FakeAws {
    /// An empty AWS account.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether DescribeServices / DescribeAutoScalingGroups move what they describe one
    /// step before answering (default true).
    pub fn set_auto_progress(&self, on: bool) {
        self.lock().auto_progress = on;
    }

    /// How many tasks one step starts (and stops) per deployment; `None` (the default)
    /// means all at once.
    pub fn set_tasks_per_step(&self, n: Option<i32>) {
        assert!(n.is_none_or(|n| n > 0), "tasks per step must be positive");
        self.lock().tasks_per_step = n;
    }

    /// When on, tasks of EC2 services start only while the cluster has registered container
    /// instances, as in ECS (default off: tasks start anywhere).
    pub fn set_require_capacity(&self, on: bool) {
        self.lock().require_capacity = on;
    }

    /// The IAM roles CreateService accepts and GetRole finds (by name; ARNs are matched by
    /// their last part). Default: any role.
    pub fn set_known_roles(&self, roles: &[&str]) {
        self.lock().known_roles = Some(roles.iter().map(|r| r.to_string()).collect());
    }

    /// Tasks of this task definition ARN fail to start: deployments of it never get
    /// running tasks; with the deployment circuit breaker on, they fail after one step
    /// (and roll back when `rollback` is set).
    pub fn break_task_definition(&self, arn: &str) {
        self.lock().broken_task_definitions.insert(arn.to_string());
    }

    /// Services created from now on stay invisible to the next `n` DescribeServices calls
    /// that ask for them (ECS is eventually consistent).
    pub fn set_describe_lag(&self, n: u32) {
        self.lock().describe_lag = n;
    }

    /// Task definition revisions registered from now on stay out of the next `n`
    /// ListTaskDefinitions calls (ECS lists are eventually consistent; DescribeTaskDefinition
    /// of the family sees them at once).
    pub fn set_list_lag(&self, n: u32) {
        self.lock().list_lag = n;
    }

    /// Move the whole world one step (see the module documentation).
    pub fn tick(&self) {
        let mut s = self.lock();
        s.clock += STEP_SECONDS;
        for i in 0..s.services.len() {
            s.step_service(i);
        }
        let names: Vec<String> = s.groups.keys().cloned().collect();
        for name in names {
            s.step_group(&name);
        }
        s.step_capacity_providers();
    }

    /// `tick()` `n` times.
    pub fn ticks(&self, n: usize) {
        for _ in 0..n {
            self.tick();
        }
    }
    /// The fake clock as RFC 3339.
    pub fn now(&self) -> String {
        self.lock().now()
    }
}

// ---------------------------------------------------------------------------------------
// State: the clock and the sequence behind generated IDs.
// ---------------------------------------------------------------------------------------

impl State {
    fn now(&self) -> String {
        jiff::Timestamp::from_second(EPOCH + self.clock)
            .map(|t| t.to_string())
            .unwrap_or_default()
    }

    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

impl AwsProvider for FakeAws {
    fn clients(&self, _region: Option<&str>) -> AwsClients {
        AwsClients {
            ecs: Arc::new(self.clone()),
            ec2: Arc::new(self.clone()),
            autoscaling: Arc::new(self.clone()),
            elb: Arc::new(self.clone()),
            app_autoscaling: Arc::new(self.clone()),
            iam: Arc::new(self.clone()),
            elbv2: Arc::new(self.clone()),
        }
    }

    fn default_region(&self) -> String {
        REGION.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn user_data_names_the_cluster() {
        let ud = base64::engine::general_purpose::STANDARD
            .encode("#!/bin/bash\necho ECS_CLUSTER=my-ecs-cluster >> /etc/ecs/ecs.config\n");
        assert_eq!(cluster_in_user_data(&ud).as_deref(), Some("my-ecs-cluster"));
        assert_eq!(cluster_in_user_data("not base64!"), None);
        assert!(is_read_only("ecs:DescribeServices") && is_read_only("ecs:ListTaskDefinitions"));
        assert!(!is_read_only("ecs:CreateService"));
    }
}
