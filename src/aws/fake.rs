//! An in-memory AWS for controller tests: ECS, EC2 launch templates, Auto Scaling and
//! classic ELB with the semantics the operator depends on and moto does not model
//! (conflicts, idempotency tokens, dependency errors, deployments that roll out over time,
//! service events), plus fault injection and a call log.
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
//! - EC2 instances whose user data says `ECS_CLUSTER=<name>` register as container instances
//!   of that cluster while InService or Terminating (the ECS agent joining the cluster).
//!
//! Every region shares the same state; ARNs use region `us-east-1` and account
//! `123456789012`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use base64::Engine;

use super::error::classify;
use super::types::*;
use super::{
    AutoScalingApi, AwsClients, AwsError, AwsErrorKind, AwsProvider, Ec2Api, EcsApi, ElbApi,
};
use crate::api::service::{
    AssignPublicIp, DeploymentCircuitBreaker, DeploymentConfiguration, ElbHealthCheck, Listener,
    LoadBalancerScheme, NetworkConfiguration,
};
use crate::api::task_def::{LaunchType, NetworkMode};

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
    "ecs:RegisterTaskDefinition",
    "ecs:DescribeTaskDefinition",
    "ecs:ListTaskDefinitions",
    "ecs:DeregisterTaskDefinition",
    "ecs:DescribeServices",
    "ecs:CreateService",
    "ecs:UpdateService",
    "ecs:DeleteService",
    "ec2:DescribeLaunchTemplates",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:CreateLaunchTemplate",
    "ec2:CreateLaunchTemplateVersion",
    "ec2:CreateTags",
    "ec2:DeleteLaunchTemplate",
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:CreateAutoScalingGroup",
    "autoscaling:UpdateAutoScalingGroup",
    "autoscaling:AttachLoadBalancers",
    "autoscaling:DetachLoadBalancers",
    "autoscaling:CreateOrUpdateTags",
    "autoscaling:DeleteAutoScalingGroup",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:CreateLoadBalancer",
    "elasticloadbalancing:ConfigureHealthCheck",
    "elasticloadbalancing:CreateLoadBalancerListeners",
    "elasticloadbalancing:DeleteLoadBalancerListeners",
    "elasticloadbalancing:AddTags",
    "elasticloadbalancing:DeleteLoadBalancer",
];

/// Whether an operation only reads (Describe*/List*).
pub fn is_read_only(operation: &str) -> bool {
    let action = operation.rsplit(':').next().unwrap_or(operation);
    action.starts_with("Describe") || action.starts_with("List")
}

/// Most events ECS keeps per service.
const MAX_EVENTS: usize = 100;
/// Most tags a classic ELB takes.
const MAX_ELB_TAGS: usize = 10;
/// 2024-01-01T00:00:00Z: the fake clock's origin.
const EPOCH: i64 = 1_704_067_200;
/// Seconds one step moves the fake clock.
const STEP_SECONDS: i64 = 15;

/// An error classified the way the SDK adapters classify it (HTTP 400).
fn err(op: &'static str, code: &str, message: impl Into<String>) -> AwsError {
    let message = message.into();
    AwsError::new(classify(code, &message, Some(400)), op, code, message)
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

#[derive(Clone, Debug)]
enum FaultKind {
    Fail(AwsError),
    LoseResponse,
}

#[derive(Clone, Debug)]
struct Fault {
    operation: &'static str,
    kind: FaultKind,
    remaining: usize,
}

#[derive(Clone, Debug)]
struct Cluster {
    arn: String,
    name: String,
    status: String,
    tags: Tags,
    manual_instances: i32,
}

#[derive(Clone, Debug)]
struct TaskDef {
    revision: TaskDefRevision,
    input: RegisterTaskDefinitionInput,
}

#[derive(Clone, Debug)]
struct Service {
    info: ServiceInfo,
    cluster: String,
    client_token: String,
    /// DescribeServices calls that still do not see it (eventual consistency).
    hidden_for: u32,
    /// Task definition of the last deployment that completed (rollback target).
    last_completed: Option<String>,
}

#[derive(Clone, Debug)]
struct LaunchTemplateState {
    template: LaunchTemplate,
    /// Version n is at index n - 1.
    versions: Vec<(LaunchTemplateData, String)>,
}

#[derive(Clone, Debug)]
struct Instance {
    id: String,
    state: String,
    /// Cluster named in the user data it launched with.
    joins: Option<String>,
    /// Launch template version it launched with.
    version: i64,
}

#[derive(Clone, Debug)]
struct Group {
    name: String,
    arn: String,
    template_id: String,
    template_version: String,
    min: i32,
    max: i32,
    desired: i32,
    subnets: Vec<String>,
    elbs: Vec<String>,
    instances: Vec<Instance>,
    status: Option<String>,
    tags: Tags,
}

#[derive(Clone, Debug)]
struct Elb {
    lb: ClassicLoadBalancer,
    tags: Tags,
}

#[derive(Debug)]
struct State {
    clock: i64,
    seq: u64,
    calls: Vec<String>,
    faults: Vec<Fault>,
    auto_progress: bool,
    tasks_per_step: Option<i32>,
    require_capacity: bool,
    known_roles: Option<BTreeSet<String>>,
    broken_task_definitions: BTreeSet<String>,
    describe_lag: u32,
    clusters: BTreeMap<String, Cluster>,
    task_defs: BTreeMap<String, Vec<TaskDef>>,
    registered: Vec<RegisterTaskDefinitionInput>,
    services: Vec<Service>,
    service_creates: Vec<CreateServiceInput>,
    service_updates: Vec<UpdateServiceInput>,
    launch_templates: BTreeMap<String, LaunchTemplateState>,
    groups: BTreeMap<String, Group>,
    group_creates: Vec<CreateGroupInput>,
    group_updates: Vec<UpdateGroupInput>,
    elbs: BTreeMap<String, Elb>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            clock: 0,
            seq: 0,
            calls: Vec::new(),
            faults: Vec::new(),
            auto_progress: true,
            tasks_per_step: None,
            require_capacity: false,
            known_roles: None,
            broken_task_definitions: BTreeSet::new(),
            describe_lag: 0,
            clusters: BTreeMap::new(),
            task_defs: BTreeMap::new(),
            registered: Vec::new(),
            services: Vec::new(),
            service_creates: Vec::new(),
            service_updates: Vec::new(),
            launch_templates: BTreeMap::new(),
            groups: BTreeMap::new(),
            group_creates: Vec::new(),
            group_updates: Vec::new(),
            elbs: BTreeMap::new(),
        }
    }
}

/// The in-memory AWS. Clones share the same state.
#[derive(Clone, Debug, Default)]
pub struct FakeAws {
    state: Arc<Mutex<State>>,
}

// ---------------------------------------------------------------------------------------
// Test-facing API: configuration, time, faults, inspection, out-of-band changes.
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

    /// The IAM roles CreateService accepts (by name; ARNs are matched by their last part).
    /// Default: any role.
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
    }

    /// `tick()` `n` times.
    pub fn ticks(&self, n: usize) {
        for _ in 0..n {
            self.tick();
        }
    }

    /// The next `times` calls of `operation` fail with `err` (without doing anything).
    pub fn fail_next(&self, operation: &'static str, err: AwsError, times: usize) {
        check_operation(operation);
        self.lock().faults.push(Fault {
            operation,
            kind: FaultKind::Fail(err),
            remaining: times,
        });
    }

    /// The next `times` calls of `operation` are throttled.
    pub fn throttle_next(&self, operation: &'static str, times: usize) {
        let (code, message) = match operation.split(':').next() {
            Some("ec2") => ("RequestLimitExceeded", "Request limit exceeded."),
            Some("ecs") => ("ThrottlingException", "Rate exceeded"),
            _ => ("Throttling", "Rate exceeded"),
        };
        let e = AwsError::new(AwsErrorKind::Throttled, operation, code, message);
        self.fail_next(operation, e, times);
    }

    /// The next `times` calls of `operation` take effect in AWS, but the caller gets a
    /// transient error instead of the answer (a crash or timeout after the request).
    pub fn lose_response_next(&self, operation: &'static str, times: usize) {
        check_operation(operation);
        self.lock().faults.push(Fault {
            operation,
            kind: FaultKind::LoseResponse,
            remaining: times,
        });
    }

    /// Every call so far, in order, by operation name (calls the SDK adapters would not
    /// send, such as tagging with no tags, are not recorded).
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// Calls so far other than Describe*/List*.
    pub fn mutating_calls(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| !is_read_only(c))
            .collect()
    }

    /// How many times `operation` was called.
    pub fn count(&self, operation: &str) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.as_str() == operation)
            .count()
    }

    /// Forget the call log.
    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// Every cluster, INACTIVE ones included.
    pub fn clusters(&self) -> Vec<ClusterInfo> {
        let s = self.lock();
        s.clusters.values().map(|c| s.cluster_info(c)).collect()
    }

    /// One cluster by name.
    pub fn cluster(&self, name: &str) -> Option<ClusterInfo> {
        let s = self.lock();
        s.clusters.get(name).map(|c| s.cluster_info(c))
    }

    /// Register `n` more container instances in a cluster (the ECS agent of instances
    /// not managed by any Auto Scaling group).
    pub fn register_container_instances(&self, cluster: &str, n: i32) {
        let mut s = self.lock();
        let c = s.clusters.get_mut(cluster).expect("no such cluster");
        c.manual_instances += n;
    }

    /// Deregister `n` container instances registered with
    /// [`register_container_instances`](Self::register_container_instances).
    pub fn deregister_container_instances(&self, cluster: &str, n: i32) {
        let mut s = self.lock();
        let c = s.clusters.get_mut(cluster).expect("no such cluster");
        c.manual_instances = (c.manual_instances - n).max(0);
    }

    /// Every revision of a family (INACTIVE ones included), oldest first.
    pub fn task_definition_revisions(&self, family: &str) -> Vec<TaskDefRevision> {
        self.lock()
            .task_defs
            .get(family)
            .map(|r| r.iter().map(|t| t.revision.clone()).collect())
            .unwrap_or_default()
    }

    /// Every RegisterTaskDefinition input that succeeded, in order.
    pub fn registered_inputs(&self) -> Vec<RegisterTaskDefinitionInput> {
        self.lock().registered.clone()
    }

    /// Every service (INACTIVE ones included), in creation order.
    pub fn services(&self) -> Vec<ServiceInfo> {
        self.lock()
            .services
            .iter()
            .map(|s| s.info.clone())
            .collect()
    }

    /// The latest service of that name in a cluster (name or ARN).
    pub fn service(&self, cluster: &str, name: &str) -> Option<ServiceInfo> {
        let s = self.lock();
        s.find_service(last_segment(cluster), last_segment(name))
            .map(|i| s.services[i].info.clone())
    }

    /// Every CreateService input that succeeded, in order (replays answered through the
    /// client token included).
    pub fn service_creates(&self) -> Vec<CreateServiceInput> {
        self.lock().service_creates.clone()
    }

    /// Every UpdateService input that succeeded, in order.
    pub fn service_updates(&self) -> Vec<UpdateServiceInput> {
        self.lock().service_updates.clone()
    }

    /// Change a service's desired count behind the operator's back (a person in the
    /// console, Application Auto Scaling).
    pub fn set_desired_count(&self, cluster: &str, service: &str, n: i32) {
        let mut s = self.lock();
        let i = s
            .find_service(last_segment(cluster), service)
            .expect("no such service");
        s.set_desired(i, n);
    }

    /// Replace a service's tags behind the operator's back.
    pub fn set_service_tags(&self, cluster: &str, service: &str, tags: Tags) {
        let mut s = self.lock();
        let i = s
            .find_service(last_segment(cluster), service)
            .expect("no such service");
        s.services[i].info.tags = tags;
    }

    /// Every Auto Scaling group.
    pub fn groups(&self) -> Vec<AutoScalingGroup> {
        self.lock().groups.values().map(group_info).collect()
    }

    /// One Auto Scaling group.
    pub fn group(&self, name: &str) -> Option<AutoScalingGroup> {
        self.lock().groups.get(name).map(group_info)
    }

    /// Every CreateAutoScalingGroup input that succeeded.
    pub fn group_creates(&self) -> Vec<CreateGroupInput> {
        self.lock().group_creates.clone()
    }

    /// Every UpdateAutoScalingGroup input that succeeded.
    pub fn group_updates(&self) -> Vec<UpdateGroupInput> {
        self.lock().group_updates.clone()
    }

    /// Launch template version each instance of a group launched with, by instance ID.
    pub fn instance_versions(&self, group: &str) -> BTreeMap<String, i64> {
        self.lock()
            .groups
            .get(group)
            .map(|g| {
                g.instances
                    .iter()
                    .map(|i| (i.id.clone(), i.version))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Change a group's desired capacity behind the operator's back.
    pub fn set_group_desired_capacity(&self, group: &str, n: i32) {
        let mut s = self.lock();
        let State {
            groups,
            launch_templates,
            seq,
            ..
        } = &mut *s;
        let g = groups.get_mut(group).expect("no such group");
        g.desired = n;
        rescale(g, launch_templates, seq);
    }

    /// Every launch template.
    pub fn launch_templates(&self) -> Vec<LaunchTemplate> {
        self.lock()
            .launch_templates
            .values()
            .map(|t| t.template.clone())
            .collect()
    }

    /// The versions of a launch template (by name): data and description, version 1 first.
    pub fn launch_template_versions(&self, name: &str) -> Vec<(LaunchTemplateData, String)> {
        self.lock()
            .launch_templates
            .get(name)
            .map(|t| t.versions.clone())
            .unwrap_or_default()
    }

    /// Every classic load balancer.
    pub fn load_balancers(&self) -> Vec<ClassicLoadBalancer> {
        self.lock().elbs.values().map(|e| e.lb.clone()).collect()
    }

    /// One classic load balancer.
    pub fn load_balancer(&self, name: &str) -> Option<ClassicLoadBalancer> {
        self.lock().elbs.get(name).map(|e| e.lb.clone())
    }

    /// Tags of a classic load balancer.
    pub fn load_balancer_tags(&self, name: &str) -> Option<Tags> {
        self.lock().elbs.get(name).map(|e| e.tags.clone())
    }

    /// The fake clock as RFC 3339.
    pub fn now(&self) -> String {
        self.lock().now()
    }
}

fn check_operation(operation: &str) {
    assert!(
        OPERATIONS.contains(&operation),
        "unknown operation {operation}; use the names of src/aws/guard.rs"
    );
}

// ---------------------------------------------------------------------------------------
// State: lookups and the passing of time.
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

    fn take_fault(&mut self, operation: &str) -> Option<FaultKind> {
        let f = self
            .faults
            .iter_mut()
            .find(|f| f.operation == operation && f.remaining > 0)?;
        f.remaining -= 1;
        let kind = f.kind.clone();
        self.faults.retain(|f| f.remaining > 0);
        Some(kind)
    }

    fn cluster_arn(name: &str) -> String {
        format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{name}")
    }

    /// The cluster name from a name or ARN argument.
    fn cluster_name(arg: &str) -> &str {
        last_segment(arg)
    }

    fn active_cluster(&self, arg: &str) -> Option<&Cluster> {
        self.clusters
            .get(Self::cluster_name(arg))
            .filter(|c| c.status == "ACTIVE")
    }

    /// Container instances registered in a cluster: the manual ones plus EC2 instances of
    /// any group whose user data joins it.
    fn registered_instances(&self, cluster: &str) -> i32 {
        let Some(c) = self.clusters.get(cluster).filter(|c| c.status == "ACTIVE") else {
            return 0;
        };
        let from_groups = self
            .groups
            .values()
            .flat_map(|g| g.instances.iter())
            .filter(|i| {
                i.joins.as_deref() == Some(cluster)
                    && (i.state == "InService" || i.state == "Terminating")
            })
            .count() as i32;
        c.manual_instances + from_groups
    }

    fn cluster_info(&self, c: &Cluster) -> ClusterInfo {
        let live = |s: &&Service| {
            s.cluster == c.name && (s.info.status == "ACTIVE" || s.info.status == "DRAINING")
        };
        let (running, pending) = if c.status == "ACTIVE" {
            self.services.iter().filter(live).fold((0, 0), |(r, p), s| {
                (r + s.info.running_count, p + s.info.pending_count)
            })
        } else {
            (0, 0)
        };
        ClusterInfo {
            arn: c.arn.clone(),
            name: c.name.clone(),
            status: c.status.clone(),
            registered_container_instances: self.registered_instances(&c.name),
            running_tasks: running,
            pending_tasks: pending,
            active_services: self
                .services
                .iter()
                .filter(|s| s.cluster == c.name && s.info.status == "ACTIVE")
                .count() as i32,
            tags: c.tags.clone(),
        }
    }

    /// The latest service of that name in the cluster (a deleted and re-created service
    /// leaves an INACTIVE one behind).
    fn find_service(&self, cluster: &str, name: &str) -> Option<usize> {
        self.services
            .iter()
            .rposition(|s| s.cluster == cluster && s.info.name == name)
    }

    /// Resolve an ARN, `family:revision` or `family` (latest ACTIVE) to (family, index).
    fn find_task_def(&self, arg: &str) -> Option<(String, usize)> {
        let rest = arg.rsplit_once("task-definition/").map_or(arg, |(_, r)| r);
        match rest.rsplit_once(':') {
            Some((family, rev)) => {
                let rev: usize = rev.parse().ok()?;
                let revs = self.task_defs.get(family)?;
                (rev >= 1 && rev <= revs.len()).then(|| (family.to_string(), rev - 1))
            }
            None => {
                let revs = self.task_defs.get(rest)?;
                let i = revs.iter().rposition(|t| t.revision.status == "ACTIVE")?;
                Some((rest.to_string(), i))
            }
        }
    }

    fn task_def(&self, arg: &str) -> Option<&TaskDef> {
        let (family, i) = self.find_task_def(arg)?;
        self.task_defs.get(&family).map(|r| &r[i])
    }

    fn steps(&self) -> i32 {
        self.tasks_per_step.unwrap_or(i32::MAX)
    }

    fn event(&mut self, i: usize, message: String) {
        let id = format!("00000000-0000-4000-8000-{:012x}", self.next());
        let created_at = Some(self.now());
        let events = &mut self.services[i].info.events;
        events.insert(
            0,
            ServiceEvent {
                id,
                created_at,
                message,
            },
        );
        events.truncate(MAX_EVENTS);
    }

    fn recount(&mut self, i: usize) {
        let info = &mut self.services[i].info;
        info.running_count = info.deployments.iter().map(|d| d.running_count).sum();
        info.pending_count = info.deployments.iter().map(|d| d.pending_count).sum();
        if let Some(p) = info.deployments.iter().find(|d| d.status == "PRIMARY") {
            info.task_definition = p.task_definition.clone();
        }
    }

    fn set_desired(&mut self, i: usize, n: i32) {
        let now = self.now();
        let steps = self.steps();
        let info = &mut self.services[i].info;
        info.desired_count = n;
        if let Some(p) = info.deployments.iter_mut().find(|d| d.status == "PRIMARY") {
            p.desired_count = n;
            p.pending_count = (n - p.running_count).clamp(0, steps);
            p.updated_at = Some(now);
        }
        self.recount(i);
    }

    /// A new PRIMARY deployment of `task_definition`; the old PRIMARY becomes ACTIVE.
    fn new_deployment(&mut self, i: usize, task_definition: String) -> String {
        let id = format!("ecs-svc/{:019}", 1_000_000_000 + self.next());
        let now = self.now();
        let steps = self.steps();
        let info = &mut self.services[i].info;
        for d in &mut info.deployments {
            if d.status == "PRIMARY" {
                d.status = "ACTIVE".into();
                d.updated_at = Some(now.clone());
            }
        }
        info.deployments.insert(
            0,
            Deployment {
                id: id.clone(),
                status: "PRIMARY".into(),
                task_definition: task_definition.clone(),
                desired_count: info.desired_count,
                running_count: 0,
                pending_count: info.desired_count.clamp(0, steps),
                rollout_state: Some("IN_PROGRESS".into()),
                rollout_state_reason: Some(format!("ECS deployment {id} in progress.")),
                updated_at: Some(now),
            },
        );
        info.task_definition = task_definition;
        self.recount(i);
        id
    }

    fn step_service(&mut self, i: usize) {
        let status = self.services[i].info.status.clone();
        if status == "INACTIVE" {
            return;
        }
        let name = self.services[i].info.name.clone();
        let steps = self.steps();
        let now = self.now();
        let cluster = self.services[i].cluster.clone();
        let fargate = self.services[i].info.launch_type.as_deref() == Some("FARGATE");
        let capacity_ok =
            !self.require_capacity || fargate || self.registered_instances(&cluster) > 0;
        let mut events = Vec::new();
        let mut rollback = None;

        if let Some(p) = self.services[i]
            .info
            .deployments
            .iter()
            .position(|d| d.status == "PRIMARY")
        {
            let breaker = self.services[i]
                .info
                .deployment_configuration
                .as_ref()
                .and_then(|c| c.deployment_circuit_breaker.clone())
                .unwrap_or_default();
            let broken = self
                .broken_task_definitions
                .contains(&self.services[i].info.deployments[p].task_definition);
            let last_completed = self.services[i].last_completed.clone();
            let d = &mut self.services[i].info.deployments[p];
            if d.running_count < d.desired_count {
                let want = (d.desired_count - d.running_count).min(steps);
                if !capacity_ok {
                    d.pending_count = 0;
                    events.push(format!(
                        "(service {name}) was unable to place a task because no container \
                         instance met all of its requirements. Reason: No Container Instances \
                         were found in your cluster."
                    ));
                } else if broken {
                    d.pending_count = 0;
                    events.push(format!("(service {name}) has started {want} tasks."));
                    events.push(format!(
                        "(service {name}) has stopped {want} running tasks: essential \
                         container in task exited."
                    ));
                    if breaker.enable && d.rollout_state.as_deref() == Some("IN_PROGRESS") {
                        d.rollout_state = Some("FAILED".into());
                        d.rollout_state_reason =
                            Some("ECS deployment circuit breaker: tasks failed to start.".into());
                        d.updated_at = Some(now.clone());
                        events.push(format!(
                            "(service {name}) (deployment {}) deployment failed: tasks failed \
                             to start.",
                            d.id
                        ));
                        if breaker.rollback {
                            rollback = last_completed.filter(|t| *t != d.task_definition);
                        }
                    }
                } else {
                    d.running_count += want;
                    d.pending_count = (d.desired_count - d.running_count).clamp(0, steps);
                    d.updated_at = Some(now.clone());
                    events.push(format!("(service {name}) has started {want} tasks."));
                }
            } else if d.running_count > d.desired_count {
                let stop = (d.running_count - d.desired_count).min(steps);
                d.running_count -= stop;
                d.pending_count = 0;
                d.updated_at = Some(now.clone());
                events.push(format!(
                    "(service {name}) has stopped {stop} running tasks."
                ));
            } else {
                d.pending_count = 0;
            }
        }
        // Older deployments drain.
        for d in &mut self.services[i].info.deployments {
            if d.status != "PRIMARY" && d.running_count > 0 {
                let stop = d.running_count.min(steps);
                d.running_count -= stop;
                d.desired_count = d.running_count;
                d.pending_count = 0;
                d.updated_at = Some(now.clone());
                events.push(format!(
                    "(service {name}) has stopped {stop} running tasks."
                ));
            }
        }
        self.services[i]
            .info
            .deployments
            .retain(|d| d.status == "PRIMARY" || d.running_count > 0 || d.pending_count > 0);
        // Completion.
        let only_primary = self.services[i].info.deployments.len() == 1;
        let mut completed = None;
        if let Some(d) = self.services[i]
            .info
            .deployments
            .iter_mut()
            .find(|d| d.status == "PRIMARY")
        {
            if only_primary
                && d.rollout_state.as_deref() == Some("IN_PROGRESS")
                && d.running_count == d.desired_count
                && capacity_ok
                && !(d.desired_count > 0
                    && self.broken_task_definitions.contains(&d.task_definition))
            {
                d.rollout_state = Some("COMPLETED".into());
                d.rollout_state_reason = Some(format!("ECS deployment {} completed.", d.id));
                d.updated_at = Some(now.clone());
                completed = Some((d.id.clone(), d.task_definition.clone()));
            }
        }
        if let Some((id, td)) = completed {
            self.services[i].last_completed = Some(td);
            events.push(format!(
                "(service {name}) (deployment {id}) deployment completed."
            ));
            events.push(format!("(service {name}) has reached a steady state."));
        }
        self.recount(i);
        for e in events {
            self.event(i, e);
        }
        if let Some(td) = rollback {
            let id = self.new_deployment(i, td.clone());
            self.event(
                i,
                format!("(service {name}) rolling back to deployment {id} running {td}."),
            );
        }
        let info = &self.services[i].info;
        if info.status == "DRAINING" && info.running_count == 0 && info.pending_count == 0 {
            self.services[i].info.status = "INACTIVE".into();
            self.services[i].info.deployments.clear();
        }
    }

    fn step_group(&mut self, name: &str) {
        let Some(g) = self.groups.get_mut(name) else {
            return;
        };
        if g.status.is_some() {
            self.groups.remove(name);
            return;
        }
        g.instances.retain(|i| i.state != "Terminating");
        for i in &mut g.instances {
            if i.state == "Pending" {
                i.state = "InService".into();
            }
        }
    }
}

fn group_info(g: &Group) -> AutoScalingGroup {
    AutoScalingGroup {
        name: g.name.clone(),
        arn: Some(g.arn.clone()),
        launch_template_id: Some(g.template_id.clone()),
        launch_template_version: Some(g.template_version.clone()),
        min_size: g.min,
        max_size: g.max,
        desired_capacity: g.desired,
        subnet_ids: g.subnets.clone(),
        load_balancer_names: g.elbs.clone(),
        instances: g
            .instances
            .iter()
            .map(|i| AsgInstance {
                instance_id: i.id.clone(),
                lifecycle_state: i.state.clone(),
            })
            .collect(),
        status: g.status.clone(),
        tags: g.tags.clone(),
    }
}

/// The cluster an ECS-optimized instance joins: `ECS_CLUSTER=<name>` in its user data.
pub fn cluster_in_user_data(user_data_base64: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(user_data_base64)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (_, rest) = text.split_once("ECS_CLUSTER=")?;
    let name: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '\'')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// Resolve a group's launch template version string to a number.
fn resolve_version(t: &LaunchTemplateState, version: &str) -> Option<i64> {
    match version {
        "$Latest" => Some(t.versions.len() as i64),
        "$Default" => Some(1),
        v => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 1 && *n as usize <= t.versions.len()),
    }
}

/// Launch or terminate instances until the group has its desired capacity.
fn rescale(g: &mut Group, templates: &BTreeMap<String, LaunchTemplateState>, seq: &mut u64) {
    let template = templates.values().find(|t| t.template.id == g.template_id);
    let live = |g: &Group| {
        g.instances
            .iter()
            .filter(|i| i.state != "Terminating")
            .count() as i32
    };
    while live(g) < g.desired {
        let Some(t) = template else { break };
        let Some(version) = resolve_version(t, &g.template_version) else {
            break;
        };
        *seq += 1;
        let data = &t.versions[version as usize - 1].0;
        g.instances.push(Instance {
            id: format!("i-{:017x}", *seq),
            state: "Pending".into(),
            joins: cluster_in_user_data(&data.user_data_base64),
            version,
        });
    }
    while live(g) > g.desired {
        // Default termination policy: the oldest launch template version first, then the
        // newest instance.
        let victim = g
            .instances
            .iter()
            .enumerate()
            .filter(|(_, i)| i.state != "Terminating")
            .min_by_key(|(n, i)| (i.version, std::cmp::Reverse(*n)))
            .map(|(n, _)| n);
        match victim {
            Some(n) => g.instances[n].state = "Terminating".into(),
            None => break,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The call wrapper: log, faults, then the operation.
// ---------------------------------------------------------------------------------------

impl FakeAws {
    fn call<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&mut State) -> Result<T, AwsError>,
    ) -> Result<T, AwsError> {
        let mut s = self.lock();
        s.calls.push(operation.to_string());
        match s.take_fault(operation) {
            Some(FaultKind::Fail(mut e)) => {
                e.operation = operation;
                Err(e)
            }
            Some(FaultKind::LoseResponse) => {
                f(&mut s)?;
                Err(AwsError::new(
                    AwsErrorKind::Transient,
                    operation,
                    "RequestTimeout",
                    "the connection closed before the response was read",
                ))
            }
            None => f(&mut s),
        }
    }
}

// ---------------------------------------------------------------------------------------
// ECS
// ---------------------------------------------------------------------------------------

fn validate_task_definition(input: &RegisterTaskDefinitionInput) -> Result<(), String> {
    if !valid_name(&input.family, 255, &['-', '_']) {
        return Err(format!(
            "Family '{}' is invalid: up to 255 letters, numbers, hyphens and underscores are \
             allowed.",
            input.family
        ));
    }
    let d = &input.definition;
    if d.container_definitions.is_empty() {
        return Err("Container list cannot be empty.".into());
    }
    if d.container_definitions.len() > 10 {
        return Err("Too many containers: at most 10 are allowed.".into());
    }
    let ec2 = d.requires_compatibilities.is_empty()
        || d.requires_compatibilities.contains(&LaunchType::Ec2);
    let fargate = d.requires_compatibilities.contains(&LaunchType::Fargate);
    let awsvpc = d.network_mode == Some(NetworkMode::Awsvpc);
    let mut names = BTreeSet::new();
    for c in &d.container_definitions {
        if c.name.trim().is_empty() {
            return Err("Container.name should not be null or empty.".into());
        }
        if !names.insert(c.name.as_str()) {
            return Err(format!(
                "Duplicate container name '{}': container names must be unique.",
                c.name
            ));
        }
        if c.image.trim().is_empty() {
            return Err("Container.image should not be null or empty.".into());
        }
        if let Some(m) = c.memory.filter(|m| *m < 4) {
            return Err(format!(
                "Invalid 'memory' setting for container '{}': {m}. The minimum allowed value \
                 is 4 MiB.",
                c.name
            ));
        }
        if let Some(m) = c.memory_reservation.filter(|m| *m < 4) {
            return Err(format!(
                "Invalid 'memoryReservation' setting for container '{}': {m}. The minimum \
                 allowed value is 4 MiB.",
                c.name
            ));
        }
        if let (Some(hard), Some(soft)) = (c.memory, c.memory_reservation) {
            if soft > hard {
                return Err(format!(
                    "Invalid 'memoryReservation' setting for container '{}': it must be less \
                     than the 'memory' setting.",
                    c.name
                ));
            }
        }
        if ec2 && d.memory.is_none() && c.memory.is_none() && c.memory_reservation.is_none() {
            return Err(format!(
                "Invalid setting for container '{}'. At least one of 'memory' or \
                 'memoryReservation' must be specified.",
                c.name
            ));
        }
        for p in &c.port_mappings {
            if !(0..=65535).contains(&p.container_port)
                || p.host_port.is_some_and(|h| !(0..=65535).contains(&h))
            {
                return Err(format!("Invalid port mapping in container '{}'.", c.name));
            }
            if awsvpc && p.host_port.is_some_and(|h| h != p.container_port) {
                return Err(format!(
                    "When networkMode=awsvpc, the host ports and container ports in port \
                     mappings must match (container '{}').",
                    c.name
                ));
            }
        }
    }
    if fargate {
        if !awsvpc {
            return Err("Fargate only supports network mode 'awsvpc'.".into());
        }
        if d.cpu.is_none() || d.memory.is_none() {
            return Err(
                "Fargate requires that 'cpu' and 'memory' be defined at the task level.".into(),
            );
        }
    }
    Ok(())
}

/// ECS fills in what the caller left out.
fn deployment_configuration_with_defaults(
    given: Option<&DeploymentConfiguration>,
    base: Option<&DeploymentConfiguration>,
) -> DeploymentConfiguration {
    let base = base.cloned().unwrap_or(DeploymentConfiguration {
        minimum_healthy_percent: Some(100),
        maximum_percent: Some(200),
        deployment_circuit_breaker: Some(DeploymentCircuitBreaker {
            enable: false,
            rollback: false,
        }),
    });
    match given {
        None => base,
        Some(g) => DeploymentConfiguration {
            minimum_healthy_percent: g.minimum_healthy_percent.or(base.minimum_healthy_percent),
            maximum_percent: g.maximum_percent.or(base.maximum_percent),
            deployment_circuit_breaker: g
                .deployment_circuit_breaker
                .clone()
                .or(base.deployment_circuit_breaker),
        },
    }
}

fn network_with_defaults(n: &NetworkConfiguration) -> NetworkConfiguration {
    let mut n = n.clone();
    if let Some(a) = &mut n.awsvpc_configuration {
        a.assign_public_ip.get_or_insert(AssignPublicIp::Disabled);
    }
    n
}

fn role_arn(role: &str) -> String {
    if role.starts_with("arn:") {
        role.to_string()
    } else {
        format!("arn:aws:iam::{ACCOUNT}:role/{role}")
    }
}

impl State {
    /// The ACTIVE task definition a service may run, or the ECS error.
    fn usable_task_def(&self, op: &'static str, arg: &str) -> Result<&TaskDef, AwsError> {
        let td = self
            .task_def(arg)
            .ok_or_else(|| err(op, "ClientException", "TaskDefinition not found."))?;
        if td.revision.status != "ACTIVE" {
            return Err(err(op, "ClientException", "TaskDefinition is inactive"));
        }
        Ok(td)
    }

    fn validate_service_load_balancers(
        &self,
        op: &'static str,
        td: &TaskDef,
        lbs: &[ServiceLoadBalancerRef],
    ) -> Result<(), AwsError> {
        if lbs
            .iter()
            .filter(|l| l.load_balancer_name.is_some())
            .count()
            > 1
        {
            return Err(err(
                op,
                "InvalidParameterException",
                "A service can use at most one Classic Load Balancer.",
            ));
        }
        for lb in lbs {
            if let Some(name) = &lb.load_balancer_name {
                if !self.elbs.contains_key(name) {
                    return Err(err(
                        op,
                        "InvalidParameterException",
                        format!(
                            "Unable to assume role and validate the specified \
                             loadBalancerName {name}: load balancer {name} is missing."
                        ),
                    ));
                }
            }
            let container = td
                .input
                .definition
                .container_definitions
                .iter()
                .find(|c| c.name == lb.container_name);
            let has_port = container.is_some_and(|c| {
                c.port_mappings
                    .iter()
                    .any(|p| p.container_port == lb.container_port)
            });
            if !has_port {
                return Err(err(
                    op,
                    "InvalidParameterException",
                    format!(
                        "The container {} did not have a container port {} defined.",
                        lb.container_name, lb.container_port
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl EcsApi for FakeAws {
    async fn describe_clusters(&self, names: &[String]) -> Result<Vec<ClusterInfo>, AwsError> {
        self.call("ecs:DescribeClusters", |s| {
            Ok(names
                .iter()
                .filter_map(|n| s.clusters.get(State::cluster_name(n)))
                .map(|c| s.cluster_info(c))
                .collect())
        })
    }

    async fn create_cluster(&self, name: &str, tags: &Tags) -> Result<ClusterInfo, AwsError> {
        const OP: &str = "ecs:CreateCluster";
        self.call(OP, |s| {
            if !valid_name(name, 255, &['-', '_']) {
                return Err(err(
                    OP,
                    "InvalidParameterException",
                    "Cluster name must be 1-255 letters, numbers, hyphens and underscores.",
                ));
            }
            if s.active_cluster(name).is_none() {
                // New, or an INACTIVE one brought back: fresh state, the new tags.
                s.clusters.insert(
                    name.to_string(),
                    Cluster {
                        arn: State::cluster_arn(name),
                        name: name.to_string(),
                        status: "ACTIVE".into(),
                        tags: tags.clone(),
                        manual_instances: 0,
                    },
                );
            }
            Ok(s.cluster_info(&s.clusters[name]))
        })
    }

    async fn delete_cluster(&self, name: &str) -> Result<(), AwsError> {
        const OP: &str = "ecs:DeleteCluster";
        self.call(OP, |s| {
            let name = State::cluster_name(name).to_string();
            if s.active_cluster(&name).is_none() {
                return Err(err(OP, "ClusterNotFoundException", "Cluster not found."));
            }
            let has_services = s.services.iter().any(|svc| {
                svc.cluster == name
                    && (svc.info.status == "ACTIVE" || svc.info.status == "DRAINING")
            });
            if has_services {
                return Err(err(
                    OP,
                    "ClusterContainsServicesException",
                    "The Cluster cannot be deleted while Services are active.",
                ));
            }
            if s.registered_instances(&name) > 0 {
                return Err(err(
                    OP,
                    "ClusterContainsContainerInstancesException",
                    "The Cluster cannot be deleted while Container Instances are active or \
                     draining.",
                ));
            }
            if let Some(c) = s.clusters.get_mut(&name) {
                c.status = "INACTIVE".into();
                c.manual_instances = 0;
            }
            Ok(())
        })
    }

    async fn tag_resource(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        const OP: &str = "ecs:TagResource";
        if tags.is_empty() {
            return Ok(());
        }
        self.call(OP, |s| {
            let missing = || {
                err(
                    OP,
                    "ResourceNotFoundException",
                    "The specified resource could not be found.",
                )
            };
            if !arn.starts_with("arn:aws:ecs:") {
                return Err(err(
                    OP,
                    "InvalidParameterException",
                    "The ARN provided is invalid.",
                ));
            }
            if let Some((_, rest)) = arn.split_once(":cluster/") {
                let c = s
                    .clusters
                    .get_mut(rest)
                    .filter(|c| c.status == "ACTIVE")
                    .ok_or_else(missing)?;
                c.tags.extend(tags.clone());
            } else if let Some((_, rest)) = arn.split_once(":service/") {
                let (cluster, name) = rest.rsplit_once('/').ok_or_else(missing)?;
                let i = s.find_service(cluster, name).ok_or_else(missing)?;
                s.services[i].info.tags.extend(tags.clone());
            } else if arn.contains(":task-definition/") {
                let (family, i) = s.find_task_def(arn).ok_or_else(missing)?;
                let td = &mut s.task_defs.get_mut(&family).ok_or_else(missing)?[i];
                td.revision.tags.extend(tags.clone());
            } else {
                return Err(err(
                    OP,
                    "InvalidParameterException",
                    "The ARN provided is invalid.",
                ));
            }
            Ok(())
        })
    }

    async fn register_task_definition(
        &self,
        input: &RegisterTaskDefinitionInput,
    ) -> Result<TaskDefRevision, AwsError> {
        const OP: &str = "ecs:RegisterTaskDefinition";
        self.call(OP, |s| {
            validate_task_definition(input).map_err(|m| err(OP, "ClientException", m))?;
            let revs = s.task_defs.entry(input.family.clone()).or_default();
            let revision = revs.len() as i32 + 1;
            let rev = TaskDefRevision {
                arn: format!(
                    "arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{}:{revision}",
                    input.family
                ),
                family: input.family.clone(),
                revision,
                status: "ACTIVE".into(),
                tags: input.tags.clone(),
            };
            revs.push(TaskDef {
                revision: rev.clone(),
                input: input.clone(),
            });
            s.registered.push(input.clone());
            Ok(rev)
        })
    }

    async fn describe_task_definition(
        &self,
        task_definition: &str,
    ) -> Result<Option<TaskDefRevision>, AwsError> {
        self.call("ecs:DescribeTaskDefinition", |s| {
            Ok(s.task_def(task_definition).map(|t| t.revision.clone()))
        })
    }

    async fn list_task_definitions(&self, family: &str) -> Result<Vec<String>, AwsError> {
        self.call("ecs:ListTaskDefinitions", |s| {
            Ok(s.task_defs
                .get(family)
                .map(|revs| {
                    revs.iter()
                        .filter(|t| t.revision.status == "ACTIVE")
                        .map(|t| t.revision.arn.clone())
                        .collect()
                })
                .unwrap_or_default())
        })
    }

    async fn deregister_task_definition(&self, arn: &str) -> Result<(), AwsError> {
        const OP: &str = "ecs:DeregisterTaskDefinition";
        self.call(OP, |s| {
            let rest = arn.rsplit_once("task-definition/").map_or(arn, |(_, r)| r);
            if !rest.contains(':') {
                return Err(err(
                    OP,
                    "ClientException",
                    "A revision must be specified: family:revision or the full ARN.",
                ));
            }
            let (family, i) = s.find_task_def(arn).ok_or_else(|| {
                err(
                    OP,
                    "ClientException",
                    "The specified task definition does not exist.",
                )
            })?;
            if let Some(revs) = s.task_defs.get_mut(&family) {
                revs[i].revision.status = "INACTIVE".into();
            }
            Ok(())
        })
    }

    async fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ServiceInfo>, AwsError> {
        const OP: &str = "ecs:DescribeServices";
        self.call(OP, |s| {
            let cluster = State::cluster_name(cluster).to_string();
            if !s.clusters.contains_key(&cluster) {
                return Err(err(OP, "ClusterNotFoundException", "Cluster not found."));
            }
            let mut out = Vec::new();
            for n in names {
                let Some(i) = s.find_service(&cluster, last_segment(n)) else {
                    continue;
                };
                if s.services[i].hidden_for > 0 {
                    s.services[i].hidden_for -= 1;
                    continue;
                }
                if s.auto_progress {
                    s.clock += STEP_SECONDS;
                    s.step_service(i);
                }
                out.push(s.services[i].info.clone());
            }
            Ok(out)
        })
    }

    async fn create_service(&self, input: &CreateServiceInput) -> Result<ServiceInfo, AwsError> {
        const OP: &str = "ecs:CreateService";
        self.call(OP, |s| {
            let cluster = State::cluster_name(&input.cluster).to_string();
            if s.active_cluster(&cluster).is_none() {
                return Err(err(OP, "ClusterNotFoundException", "Cluster not found."));
            }
            if !valid_name(&input.name, 255, &['-', '_']) {
                return Err(err(
                    OP,
                    "InvalidParameterException",
                    "Service name must be 1-255 letters, numbers, hyphens and underscores.",
                ));
            }
            if input.client_token.len() > 36 {
                return Err(err(
                    OP,
                    "InvalidParameterException",
                    "clientToken can have at most 36 characters.",
                ));
            }
            if let Some(i) = s.find_service(&cluster, &input.name) {
                let existing = &s.services[i];
                if existing.info.status != "INACTIVE" {
                    if !input.client_token.is_empty() && existing.client_token == input.client_token
                    {
                        let info = existing.info.clone();
                        s.service_creates.push(input.clone());
                        return Ok(info);
                    }
                    return Err(err(
                        OP,
                        "InvalidParameterException",
                        "Creation of service was not idempotent.",
                    ));
                }
            }
            if input.desired_count < 0 {
                return Err(err(
                    OP,
                    "InvalidParameterException",
                    "desiredCount must be 0 or more.",
                ));
            }
            let td = s.usable_task_def(OP, &input.task_definition)?;
            let awsvpc = td.input.definition.network_mode == Some(NetworkMode::Awsvpc);
            if awsvpc && input.network_configuration.is_none() {
                return Err(err(
                    OP,
                    "InvalidParameterException",
                    "Network Configuration must be provided when networkMode 'awsvpc' is \
                     specified.",
                ));
            }
            if !awsvpc && input.network_configuration.is_some() {
                return Err(err(
                    OP,
                    "InvalidParameterException",
                    "Network Configuration is not valid for the given networkMode of this task \
                     definition.",
                ));
            }
            if input.launch_type == Some(LaunchType::Fargate)
                && !td
                    .input
                    .definition
                    .requires_compatibilities
                    .contains(&LaunchType::Fargate)
            {
                return Err(err(
                    OP,
                    "InvalidParameterException",
                    "Task definition does not support launch_type FARGATE.",
                ));
            }
            if let Some(role) = &input.role {
                if awsvpc {
                    return Err(err(
                        OP,
                        "InvalidParameterException",
                        "You cannot specify an IAM role for services that require a service \
                         linked role.",
                    ));
                }
                if let Some(known) = &s.known_roles {
                    if !known.contains(last_segment(role)) {
                        return Err(err(
                            OP,
                            "InvalidParameterException",
                            format!(
                                "Unable to assume role and validate the listeners configured \
                                 on your load balancer. Please verify that the ECS service role \
                                 being passed has the proper permissions. Role {role} is \
                                 unknown."
                            ),
                        ));
                    }
                }
            }
            let td_arn = td.revision.arn.clone();
            s.validate_service_load_balancers(OP, td, &input.load_balancers)?;
            let info = ServiceInfo {
                arn: format!(
                    "arn:aws:ecs:{REGION}:{ACCOUNT}:service/{cluster}/{}",
                    input.name
                ),
                name: input.name.clone(),
                cluster_arn: State::cluster_arn(&cluster),
                status: "ACTIVE".into(),
                desired_count: input.desired_count,
                running_count: 0,
                pending_count: 0,
                task_definition: td_arn.clone(),
                launch_type: Some(
                    input
                        .launch_type
                        .unwrap_or(LaunchType::Ec2)
                        .as_str()
                        .to_string(),
                ),
                role_arn: input.role.as_deref().map(role_arn),
                deployment_configuration: Some(deployment_configuration_with_defaults(
                    input.deployment_configuration.as_ref(),
                    None,
                )),
                health_check_grace_period_seconds: Some(
                    input.health_check_grace_period_seconds.unwrap_or(0),
                ),
                network_configuration: input
                    .network_configuration
                    .as_ref()
                    .map(network_with_defaults),
                placement_strategy: input.placement_strategy.clone(),
                placement_constraints: input.placement_constraints.clone(),
                load_balancers: input.load_balancers.clone(),
                deployments: Vec::new(),
                events: Vec::new(),
                tags: input.tags.clone(),
            };
            let hidden_for = s.describe_lag;
            s.services.push(Service {
                info,
                cluster,
                client_token: input.client_token.clone(),
                hidden_for,
                last_completed: None,
            });
            let i = s.services.len() - 1;
            s.new_deployment(i, td_arn);
            s.service_creates.push(input.clone());
            Ok(s.services[i].info.clone())
        })
    }

    async fn update_service(&self, input: &UpdateServiceInput) -> Result<ServiceInfo, AwsError> {
        const OP: &str = "ecs:UpdateService";
        self.call(OP, |s| {
            let cluster = State::cluster_name(&input.cluster).to_string();
            if s.active_cluster(&cluster).is_none() {
                return Err(err(OP, "ClusterNotFoundException", "Cluster not found."));
            }
            let i = s
                .find_service(&cluster, last_segment(&input.name))
                .ok_or_else(|| err(OP, "ServiceNotFoundException", "Service not found."))?;
            if s.services[i].info.status != "ACTIVE" {
                return Err(err(
                    OP,
                    "ServiceNotActiveException",
                    "Service was not ACTIVE.",
                ));
            }
            if input.desired_count.is_some_and(|n| n < 0) {
                return Err(err(
                    OP,
                    "InvalidParameterException",
                    "desiredCount must be 0 or more.",
                ));
            }
            let new_td = match &input.task_definition {
                Some(t) => {
                    let td = s.usable_task_def(OP, t)?;
                    let lbs = s.services[i].info.load_balancers.clone();
                    s.validate_service_load_balancers(OP, td, &lbs)?;
                    Some(td.revision.arn.clone())
                }
                None => None,
            };
            let mut redeploy = input.force_new_deployment;
            let info = &mut s.services[i].info;
            if let Some(dc) = &input.deployment_configuration {
                info.deployment_configuration = Some(deployment_configuration_with_defaults(
                    Some(dc),
                    info.deployment_configuration.as_ref(),
                ));
            }
            if let Some(g) = input.health_check_grace_period_seconds {
                info.health_check_grace_period_seconds = Some(g);
            }
            if let Some(n) = &input.network_configuration {
                let n = network_with_defaults(n);
                redeploy |= info.network_configuration.as_ref() != Some(&n);
                info.network_configuration = Some(n);
            }
            if let Some(p) = &input.placement_strategy {
                redeploy |= info.placement_strategy != *p;
                info.placement_strategy = p.clone();
            }
            if let Some(p) = &input.placement_constraints {
                redeploy |= info.placement_constraints != *p;
                info.placement_constraints = p.clone();
            }
            if let Some(n) = input.desired_count {
                s.set_desired(i, n);
            }
            let current = s.services[i].info.task_definition.clone();
            let td = match new_td {
                Some(t) if t != current => {
                    redeploy = true;
                    t
                }
                _ => current,
            };
            if redeploy {
                s.new_deployment(i, td);
            }
            s.service_updates.push(input.clone());
            Ok(s.services[i].info.clone())
        })
    }

    async fn delete_service(&self, cluster: &str, name: &str) -> Result<(), AwsError> {
        const OP: &str = "ecs:DeleteService";
        self.call(OP, |s| {
            let cluster = State::cluster_name(cluster).to_string();
            if !s.clusters.contains_key(&cluster) {
                return Err(err(OP, "ClusterNotFoundException", "Cluster not found."));
            }
            let i = s
                .find_service(&cluster, last_segment(name))
                .ok_or_else(|| err(OP, "ServiceNotFoundException", "Service not found."))?;
            let info = &s.services[i].info;
            if info.status != "ACTIVE" {
                return Err(err(
                    OP,
                    "ServiceNotActiveException",
                    "Service was not ACTIVE.",
                ));
            }
            if info.desired_count > 0 {
                return Err(err(
                    OP,
                    "InvalidParameterException",
                    "The service cannot be stopped while it is scaled above 0.",
                ));
            }
            s.services[i].info.status = "DRAINING".into();
            Ok(())
        })
    }
}

// ---------------------------------------------------------------------------------------
// EC2 launch templates
// ---------------------------------------------------------------------------------------

fn validate_launch_template_data(op: &'static str, d: &LaunchTemplateData) -> Result<(), AwsError> {
    let (family, size) = d.instance_type.split_once('.').unwrap_or(("", ""));
    let well_formed = !family.is_empty()
        && !size.is_empty()
        && family
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && size
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !well_formed {
        return Err(err(
            op,
            "InvalidParameterValue",
            format!("Invalid value '{}' for InstanceType.", d.instance_type),
        ));
    }
    if !(d.image_id.starts_with("ami-") || d.image_id.starts_with("resolve:ssm:")) {
        return Err(err(
            op,
            "InvalidAMIID.Malformed",
            format!("Invalid id: \"{}\" (expecting \"ami-...\")", d.image_id),
        ));
    }
    if base64::engine::general_purpose::STANDARD
        .decode(&d.user_data_base64)
        .is_err()
    {
        return Err(err(
            op,
            "InvalidUserData.Malformed",
            "User data is not valid base64.",
        ));
    }
    Ok(())
}

#[async_trait]
impl Ec2Api for FakeAws {
    async fn describe_launch_template(
        &self,
        name: &str,
    ) -> Result<Option<LaunchTemplate>, AwsError> {
        self.call("ec2:DescribeLaunchTemplates", |s| {
            Ok(s.launch_templates.get(name).map(|t| t.template.clone()))
        })
    }

    async fn launch_template_version_description(
        &self,
        id: &str,
        version: i64,
    ) -> Result<Option<String>, AwsError> {
        self.call("ec2:DescribeLaunchTemplateVersions", |s| {
            Ok(s.launch_templates
                .values()
                .find(|t| t.template.id == id)
                .and_then(|t| {
                    usize::try_from(version - 1)
                        .ok()
                        .and_then(|i| t.versions.get(i))
                })
                .map(|(_, d)| d.clone()))
        })
    }

    async fn create_launch_template(
        &self,
        name: &str,
        data: &LaunchTemplateData,
        description: &str,
        tags: &Tags,
    ) -> Result<LaunchTemplate, AwsError> {
        const OP: &str = "ec2:CreateLaunchTemplate";
        self.call(OP, |s| {
            if name.len() < 3
                || name.len() > 128
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "()./_-".contains(c))
            {
                return Err(err(
                    OP,
                    "InvalidLaunchTemplateName.MalformedException",
                    format!("The launch template name {name} is malformed."),
                ));
            }
            if s.launch_templates.contains_key(name) {
                return Err(err(
                    OP,
                    "InvalidLaunchTemplateName.AlreadyExistsException",
                    format!("Launch template name already in use: {name}"),
                ));
            }
            validate_launch_template_data(OP, data)?;
            let id = format!("lt-{:017x}", s.next());
            let template = LaunchTemplate {
                id,
                name: name.to_string(),
                latest_version: 1,
                tags: tags.clone(),
            };
            s.launch_templates.insert(
                name.to_string(),
                LaunchTemplateState {
                    template: template.clone(),
                    versions: vec![(data.clone(), description.to_string())],
                },
            );
            Ok(template)
        })
    }

    async fn create_launch_template_version(
        &self,
        id: &str,
        data: &LaunchTemplateData,
        description: &str,
    ) -> Result<i64, AwsError> {
        const OP: &str = "ec2:CreateLaunchTemplateVersion";
        self.call(OP, |s| {
            validate_launch_template_data(OP, data)?;
            let t = s
                .launch_templates
                .values_mut()
                .find(|t| t.template.id == id)
                .ok_or_else(|| {
                    err(
                        OP,
                        "InvalidLaunchTemplateId.NotFound",
                        format!(
                            "The specified launch template, with template ID {id}, does not exist."
                        ),
                    )
                })?;
            t.versions.push((data.clone(), description.to_string()));
            t.template.latest_version = t.versions.len() as i64;
            Ok(t.template.latest_version)
        })
    }

    async fn tag_launch_template(&self, id: &str, tags: &Tags) -> Result<(), AwsError> {
        const OP: &str = "ec2:CreateTags";
        if tags.is_empty() {
            return Ok(());
        }
        self.call(OP, |s| {
            let t = s
                .launch_templates
                .values_mut()
                .find(|t| t.template.id == id)
                .ok_or_else(|| {
                    err(
                        OP,
                        "InvalidLaunchTemplateId.NotFound",
                        format!("The launch template ID '{id}' does not exist"),
                    )
                })?;
            t.template.tags.extend(tags.clone());
            Ok(())
        })
    }

    async fn delete_launch_template(&self, id: &str) -> Result<(), AwsError> {
        const OP: &str = "ec2:DeleteLaunchTemplate";
        self.call(OP, |s| {
            let name = s
                .launch_templates
                .values()
                .find(|t| t.template.id == id)
                .map(|t| t.template.name.clone())
                .ok_or_else(|| {
                    err(
                        OP,
                        "InvalidLaunchTemplateId.NotFound",
                        format!(
                            "The specified launch template, with template ID {id}, does not exist."
                        ),
                    )
                })?;
            s.launch_templates.remove(&name);
            Ok(())
        })
    }
}

// ---------------------------------------------------------------------------------------
// Auto Scaling
// ---------------------------------------------------------------------------------------

fn group_not_found(op: &'static str, name: &str) -> AwsError {
    // The SDK adapter reclassifies this ValidationError as NotFound.
    AwsError::new(
        AwsErrorKind::NotFound,
        op,
        "ValidationError",
        format!("AutoScalingGroup name not found - AutoScalingGroup '{name}' not found"),
    )
}

fn check_template(op: &'static str, s: &State, id: &str, version: &str) -> Result<(), AwsError> {
    let ok = s
        .launch_templates
        .values()
        .find(|t| t.template.id == id)
        .is_some_and(|t| resolve_version(t, version).is_some());
    if ok {
        Ok(())
    } else {
        Err(err(
            op,
            "ValidationError",
            format!(
                "You must use a valid fully-formed launch template. The specified launch \
                 template, with template ID {id} and version {version}, is missing."
            ),
        ))
    }
}

#[async_trait]
impl AutoScalingApi for FakeAws {
    async fn describe_group(&self, name: &str) -> Result<Option<AutoScalingGroup>, AwsError> {
        self.call("autoscaling:DescribeAutoScalingGroups", |s| {
            if s.auto_progress && s.groups.contains_key(name) {
                s.clock += STEP_SECONDS;
                s.step_group(name);
            }
            Ok(s.groups.get(name).map(group_info))
        })
    }

    async fn create_group(&self, input: &CreateGroupInput) -> Result<(), AwsError> {
        const OP: &str = "autoscaling:CreateAutoScalingGroup";
        self.call(OP, |s| {
            if s.groups.contains_key(&input.name) {
                return Err(err(
                    OP,
                    "AlreadyExists",
                    format!("AutoScalingGroup by this name already exists - A group with the name {} already exists", input.name),
                ));
            }
            if input.min_size > input.max_size
                || input.desired_capacity < input.min_size
                || input.desired_capacity > input.max_size
            {
                return Err(err(
                    OP,
                    "ValidationError",
                    format!(
                        "Desired capacity:{} must be between the specified min size:{} and max \
                         size:{}",
                        input.desired_capacity, input.min_size, input.max_size
                    ),
                ));
            }
            if input.subnet_ids.is_empty() {
                return Err(err(
                    OP,
                    "ValidationError",
                    "At least one Availability Zone or VPC Subnet is required.",
                ));
            }
            check_template(OP, s, &input.launch_template_id, &input.launch_template_version)?;
            if let Some(lb) = input.load_balancer_names.iter().find(|n| !s.elbs.contains_key(*n)) {
                return Err(err(
                    OP,
                    "ValidationError",
                    format!("Provided Load Balancers may not be valid: {lb} is missing."),
                ));
            }
            let mut g = Group {
                name: input.name.clone(),
                arn: format!(
                    "arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:{:08x}-0000-4000-8000-000000000000:autoScalingGroupName/{}",
                    s.seq + 1,
                    input.name
                ),
                template_id: input.launch_template_id.clone(),
                template_version: input.launch_template_version.clone(),
                min: input.min_size,
                max: input.max_size,
                desired: input.desired_capacity,
                subnets: input.subnet_ids.clone(),
                elbs: input.load_balancer_names.clone(),
                instances: Vec::new(),
                status: None,
                tags: input.tags.clone(),
            };
            let State {
                launch_templates,
                seq,
                ..
            } = &mut *s;
            *seq += 1;
            rescale(&mut g, launch_templates, seq);
            s.groups.insert(input.name.clone(), g);
            s.group_creates.push(input.clone());
            Ok(())
        })
    }

    async fn update_group(&self, input: &UpdateGroupInput) -> Result<(), AwsError> {
        const OP: &str = "autoscaling:UpdateAutoScalingGroup";
        self.call(OP, |s| {
            let Some(g) = s.groups.get(&input.name) else {
                return Err(group_not_found(OP, &input.name));
            };
            if g.status.is_some() {
                return Err(err(
                    OP,
                    "ScalingActivityInProgress",
                    "The group is being deleted.",
                ));
            }
            if let Some((id, version)) = &input.launch_template {
                check_template(OP, s, id, version)?;
            }
            if input.subnet_ids.as_ref().is_some_and(|s| s.is_empty()) {
                return Err(err(
                    OP,
                    "ValidationError",
                    "At least one Availability Zone or VPC Subnet is required.",
                ));
            }
            let State {
                groups,
                launch_templates,
                seq,
                ..
            } = &mut *s;
            let g = groups.get_mut(&input.name).expect("checked above");
            let min = input.min_size.unwrap_or(g.min);
            let max = input.max_size.unwrap_or(g.max);
            if min > max {
                return Err(err(
                    OP,
                    "ValidationError",
                    format!("Max bound, {max}, must be greater than or equal to min bound, {min}"),
                ));
            }
            let desired = match input.desired_capacity {
                Some(d) if d < min || d > max => {
                    return Err(err(
                        OP,
                        "ValidationError",
                        format!(
                            "Desired capacity:{d} must be between the specified min size:{min} \
                             and max size:{max}"
                        ),
                    ))
                }
                Some(d) => d,
                // A new bound implicitly moves the desired capacity inside it.
                None => g.desired.clamp(min, max),
            };
            if let Some((id, version)) = &input.launch_template {
                g.template_id = id.clone();
                g.template_version = version.clone();
            }
            if let Some(subnets) = &input.subnet_ids {
                g.subnets = subnets.clone();
            }
            g.min = min;
            g.max = max;
            g.desired = desired;
            rescale(g, launch_templates, seq);
            s.group_updates.push(input.clone());
            Ok(())
        })
    }

    async fn attach_load_balancers(&self, name: &str, elbs: &[String]) -> Result<(), AwsError> {
        const OP: &str = "autoscaling:AttachLoadBalancers";
        if elbs.is_empty() {
            return Ok(());
        }
        self.call(OP, |s| {
            if let Some(lb) = elbs.iter().find(|n| !s.elbs.contains_key(*n)) {
                return Err(err(
                    OP,
                    "ValidationError",
                    format!("Provided Load Balancers may not be valid: {lb} is missing."),
                ));
            }
            let g = s
                .groups
                .get_mut(name)
                .ok_or_else(|| group_not_found(OP, name))?;
            for lb in elbs {
                if !g.elbs.contains(lb) {
                    g.elbs.push(lb.clone());
                }
            }
            Ok(())
        })
    }

    async fn detach_load_balancers(&self, name: &str, elbs: &[String]) -> Result<(), AwsError> {
        const OP: &str = "autoscaling:DetachLoadBalancers";
        if elbs.is_empty() {
            return Ok(());
        }
        self.call(OP, |s| {
            let g = s
                .groups
                .get_mut(name)
                .ok_or_else(|| group_not_found(OP, name))?;
            g.elbs.retain(|lb| !elbs.contains(lb));
            Ok(())
        })
    }

    async fn tag_group(&self, name: &str, tags: &Tags) -> Result<(), AwsError> {
        const OP: &str = "autoscaling:CreateOrUpdateTags";
        if tags.is_empty() {
            return Ok(());
        }
        self.call(OP, |s| {
            let g = s
                .groups
                .get_mut(name)
                .ok_or_else(|| group_not_found(OP, name))?;
            g.tags.extend(tags.clone());
            Ok(())
        })
    }

    async fn delete_group(&self, name: &str) -> Result<(), AwsError> {
        const OP: &str = "autoscaling:DeleteAutoScalingGroup";
        self.call(OP, |s| {
            let g = s
                .groups
                .get_mut(name)
                .ok_or_else(|| group_not_found(OP, name))?;
            // ForceDelete: the instances terminate with the group.
            g.status = Some("Delete in progress".into());
            g.desired = 0;
            g.min = 0;
            for i in &mut g.instances {
                i.state = "Terminating".into();
            }
            Ok(())
        })
    }
}

// ---------------------------------------------------------------------------------------
// Classic ELB
// ---------------------------------------------------------------------------------------

fn elb_not_found(op: &'static str, name: &str) -> AwsError {
    err(
        op,
        "LoadBalancerNotFound",
        format!("There is no ACTIVE Load Balancer named '{name}'"),
    )
}

/// ELB reports the instance protocol even when the caller left it out.
fn listener_with_defaults(l: &Listener) -> Listener {
    Listener {
        instance_protocol: Some(l.instance_protocol.unwrap_or(l.protocol)),
        ..l.clone()
    }
}

fn validate_listeners(op: &'static str, listeners: &[Listener]) -> Result<(), AwsError> {
    let mut ports = BTreeSet::new();
    for l in listeners {
        if !(1..=65535).contains(&l.load_balancer_port) || !(1..=65535).contains(&l.instance_port) {
            return Err(err(
                op,
                "ValidationError",
                "Listener ports must be 1-65535.",
            ));
        }
        if !ports.insert(l.load_balancer_port) {
            return Err(err(
                op,
                "DuplicateListener",
                format!(
                    "A listener already exists for port {}",
                    l.load_balancer_port
                ),
            ));
        }
    }
    Ok(())
}

fn validate_health_check(op: &'static str, hc: &ElbHealthCheck) -> Result<(), AwsError> {
    let bad = |m: String| Err(err(op, "ValidationError", m));
    let (protocol, rest) = hc.target.split_once(':').unwrap_or((&hc.target, ""));
    let (port, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    if port.parse::<u16>().map_or(true, |p| p == 0) {
        return bad(format!("Invalid port in HealthCheck Target {}", hc.target));
    }
    match (protocol, path) {
        ("HTTP" | "HTTPS", Some(_)) | ("TCP" | "SSL", None) => {}
        ("HTTP" | "HTTPS", None) => {
            return bad(format!(
                "HealthCheck Target {} must specify a path for HTTP and HTTPS",
                hc.target
            ))
        }
        ("TCP" | "SSL", Some(_)) => {
            return bad(format!(
                "HealthCheck Target {} must not specify a path for TCP and SSL",
                hc.target
            ))
        }
        _ => {
            return bad(format!(
                "Invalid protocol in HealthCheck Target {}",
                hc.target
            ))
        }
    }
    if hc.timeout_seconds >= hc.interval_seconds {
        return bad("HealthCheck Timeout must be less than Interval".into());
    }
    Ok(())
}

#[async_trait]
impl ElbApi for FakeAws {
    async fn describe_load_balancer(
        &self,
        name: &str,
    ) -> Result<Option<ClassicLoadBalancer>, AwsError> {
        self.call("elasticloadbalancing:DescribeLoadBalancers", |s| {
            Ok(s.elbs.get(name).map(|e| e.lb.clone()))
        })
    }

    async fn describe_tags(&self, name: &str) -> Result<Tags, AwsError> {
        const OP: &str = "elasticloadbalancing:DescribeTags";
        self.call(OP, |s| {
            s.elbs
                .get(name)
                .map(|e| e.tags.clone())
                .ok_or_else(|| elb_not_found(OP, name))
        })
    }

    async fn create_load_balancer(
        &self,
        input: &CreateLoadBalancerInput,
    ) -> Result<Option<String>, AwsError> {
        const OP: &str = "elasticloadbalancing:CreateLoadBalancer";
        self.call(OP, |s| {
            let name = &input.name;
            if !valid_name(name, 32, &['-']) || name.starts_with('-') || name.ends_with('-') {
                return Err(err(
                    OP,
                    "ValidationError",
                    format!(
                        "LoadBalancerName {name} must be 1-32 letters, numbers and hyphens, \
                         not starting or ending with a hyphen"
                    ),
                ));
            }
            if s.elbs.contains_key(name) {
                return Err(err(
                    OP,
                    "DuplicateLoadBalancerName",
                    format!("Load Balancer named '{name}' already exists"),
                ));
            }
            if input.listeners.is_empty() {
                return Err(err(OP, "ValidationError", "Listeners cannot be empty"));
            }
            validate_listeners(OP, &input.listeners)?;
            if input.subnet_ids.is_empty() {
                return Err(err(
                    OP,
                    "ValidationError",
                    "Either AvailabilityZones or SubnetIds must be specified",
                ));
            }
            if input.tags.len() > MAX_ELB_TAGS {
                return Err(err(
                    OP,
                    "TooManyTags",
                    format!("A load balancer can have at most {MAX_ELB_TAGS} tags."),
                ));
            }
            let (scheme, prefix) = match input.scheme {
                LoadBalancerScheme::InternetFacing => ("internet-facing", ""),
                LoadBalancerScheme::Internal => ("internal", "internal-"),
            };
            let dns = format!("{prefix}{name}-123456.{REGION}.elb.amazonaws.com");
            let first_port = input.listeners[0].instance_port;
            s.elbs.insert(
                name.clone(),
                Elb {
                    lb: ClassicLoadBalancer {
                        name: name.clone(),
                        dns_name: Some(dns.clone()),
                        scheme: Some(scheme.into()),
                        listeners: input.listeners.iter().map(listener_with_defaults).collect(),
                        // Every new classic ELB gets this default check.
                        health_check: Some(ElbHealthCheck {
                            target: format!("TCP:{first_port}"),
                            interval_seconds: 30,
                            timeout_seconds: 5,
                            healthy_threshold: 10,
                            unhealthy_threshold: 2,
                        }),
                        subnet_ids: input.subnet_ids.clone(),
                        security_group_ids: input.security_group_ids.clone(),
                    },
                    tags: input.tags.clone(),
                },
            );
            Ok(Some(dns))
        })
    }

    async fn configure_health_check(
        &self,
        name: &str,
        health_check: &ElbHealthCheck,
    ) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:ConfigureHealthCheck";
        self.call(OP, |s| {
            validate_health_check(OP, health_check)?;
            let e = s
                .elbs
                .get_mut(name)
                .ok_or_else(|| elb_not_found(OP, name))?;
            e.lb.health_check = Some(health_check.clone());
            Ok(())
        })
    }

    async fn create_listeners(&self, name: &str, listeners: &[Listener]) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:CreateLoadBalancerListeners";
        if listeners.is_empty() {
            return Ok(());
        }
        self.call(OP, |s| {
            validate_listeners(OP, listeners)?;
            let e = s
                .elbs
                .get_mut(name)
                .ok_or_else(|| elb_not_found(OP, name))?;
            for l in listeners.iter().map(listener_with_defaults) {
                match e
                    .lb
                    .listeners
                    .iter()
                    .find(|h| h.load_balancer_port == l.load_balancer_port)
                {
                    Some(h) if *h == l => {}
                    Some(_) => {
                        return Err(err(
                            OP,
                            "DuplicateListener",
                            format!(
                                "A listener already exists for {name} with LoadBalancerPort {}, \
                                 but with a different InstancePort, Protocol, or \
                                 SSLCertificateId",
                                l.load_balancer_port
                            ),
                        ))
                    }
                    None => e.lb.listeners.push(l),
                }
            }
            Ok(())
        })
    }

    async fn delete_listeners(&self, name: &str, ports: &[i32]) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:DeleteLoadBalancerListeners";
        if ports.is_empty() {
            return Ok(());
        }
        self.call(OP, |s| {
            let e = s
                .elbs
                .get_mut(name)
                .ok_or_else(|| elb_not_found(OP, name))?;
            e.lb.listeners
                .retain(|l| !ports.contains(&l.load_balancer_port));
            Ok(())
        })
    }

    async fn add_tags(&self, name: &str, tags: &Tags) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:AddTags";
        if tags.is_empty() {
            return Ok(());
        }
        self.call(OP, |s| {
            let e = s
                .elbs
                .get_mut(name)
                .ok_or_else(|| elb_not_found(OP, name))?;
            let mut merged = e.tags.clone();
            merged.extend(tags.clone());
            if merged.len() > MAX_ELB_TAGS {
                return Err(err(
                    OP,
                    "TooManyTags",
                    format!("A load balancer can have at most {MAX_ELB_TAGS} tags."),
                ));
            }
            e.tags = merged;
            Ok(())
        })
    }

    async fn delete_load_balancer(&self, name: &str) -> Result<(), AwsError> {
        self.call("elasticloadbalancing:DeleteLoadBalancer", |s| {
            // Idempotent in AWS: deleting a missing load balancer succeeds.
            s.elbs.remove(name);
            for g in s.groups.values_mut() {
                g.elbs.retain(|lb| lb != name);
            }
            Ok(())
        })
    }
}

impl AwsProvider for FakeAws {
    fn clients(&self, _region: Option<&str>) -> AwsClients {
        AwsClients {
            ecs: Arc::new(self.clone()),
            ec2: Arc::new(self.clone()),
            autoscaling: Arc::new(self.clone()),
            elb: Arc::new(self.clone()),
        }
    }

    fn default_region(&self) -> String {
        REGION.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::service::{ListenerProtocol, LoadBalancerScheme};
    use crate::api::task_def::{ContainerDefinition, EcsTaskDefSpec, PortMapping};

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn td_input(family: &str, image: &str, memory: i32) -> RegisterTaskDefinitionInput {
        RegisterTaskDefinitionInput {
            family: family.into(),
            definition: EcsTaskDefSpec {
                container_definitions: vec![ContainerDefinition {
                    name: "web".into(),
                    image: image.into(),
                    memory: Some(memory),
                    port_mappings: vec![PortMapping {
                        container_port: 5000,
                        host_port: Some(80),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            },
            tags: tags(&[("rev", image)]),
        }
    }

    /// A cluster "c" and task definition web:1; returns the task definition ARN.
    async fn setup(fake: &FakeAws) -> String {
        fake.create_cluster("c", &Tags::new()).await.unwrap();
        fake.register_task_definition(&td_input("web", "img:1", 128))
            .await
            .unwrap()
            .arn
    }

    fn service_input(td: &str, desired: i32, token: &str) -> CreateServiceInput {
        CreateServiceInput {
            cluster: "c".into(),
            name: "s".into(),
            task_definition: td.into(),
            desired_count: desired,
            client_token: token.into(),
            ..Default::default()
        }
    }

    async fn describe(fake: &FakeAws) -> ServiceInfo {
        fake.describe_services("c", &["s".to_string()])
            .await
            .unwrap()
            .pop()
            .expect("service s")
    }

    #[tokio::test]
    async fn task_definition_revisions_are_numbered_per_family_and_never_reused() {
        let fake = FakeAws::new();
        let r1 = fake
            .register_task_definition(&td_input("web", "img:1", 128))
            .await
            .unwrap();
        let r2 = fake
            .register_task_definition(&td_input("web", "img:2", 128))
            .await
            .unwrap();
        let other = fake
            .register_task_definition(&td_input("web2", "img:1", 128))
            .await
            .unwrap();
        assert_eq!(
            r1.arn,
            "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1"
        );
        assert_eq!((r2.revision, other.revision), (2, 1));
        assert_eq!(r2.tags.get("rev").map(String::as_str), Some("img:2"));

        fake.deregister_task_definition(&r2.arn).await.unwrap();
        let r3 = fake
            .register_task_definition(&td_input("web", "img:3", 128))
            .await
            .unwrap();
        assert_eq!(
            r3.revision, 3,
            "a deregistered revision number is not reused"
        );
        assert_eq!(
            fake.list_task_definitions("web").await.unwrap(),
            vec![r1.arn.clone(), r3.arn.clone()],
            "exact family, ACTIVE only, ascending"
        );
        let inactive = fake
            .describe_task_definition("web:2")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(inactive.status, "INACTIVE");
        assert_eq!(
            fake.describe_task_definition("web")
                .await
                .unwrap()
                .unwrap()
                .revision,
            3
        );
        assert_eq!(fake.describe_task_definition("web:9").await.unwrap(), None);
        assert_eq!(fake.describe_task_definition("nope").await.unwrap(), None);
        assert_eq!(fake.registered_inputs().len(), 4);
        assert_eq!(
            fake.registered_inputs()[1].definition.container_definitions[0].image,
            "img:2"
        );
    }

    #[tokio::test]
    async fn invalid_task_definitions_are_client_exceptions() {
        let fake = FakeAws::new();
        for input in [td_input("web", "", 128), td_input("web", "img", 2)] {
            let e = fake.register_task_definition(&input).await.unwrap_err();
            assert_eq!(e.code, "ClientException");
            assert_eq!(e.kind, AwsErrorKind::InvalidInput, "{e}");
        }
        assert!(fake.task_definition_revisions("web").is_empty());
    }

    #[tokio::test]
    async fn deployments_progress_per_step_and_complete() {
        let fake = FakeAws::new();
        fake.set_auto_progress(false);
        fake.set_tasks_per_step(Some(2));
        let td1 = setup(&fake).await;
        let created = fake
            .create_service(&service_input(&td1, 4, "t1"))
            .await
            .unwrap();
        assert_eq!(created.deployments.len(), 1);
        let d = &created.deployments[0];
        assert_eq!(
            (d.status.as_str(), d.rollout_state.as_deref()),
            ("PRIMARY", Some("IN_PROGRESS"))
        );
        assert_eq!((created.running_count, created.pending_count), (0, 2));

        fake.tick();
        let s = describe(&fake).await;
        assert_eq!((s.running_count, s.pending_count), (2, 2));
        assert_eq!(
            s.deployments[0].rollout_state.as_deref(),
            Some("IN_PROGRESS")
        );
        assert_eq!(s.events[0].message, "(service s) has started 2 tasks.");

        fake.tick();
        let s = describe(&fake).await;
        assert_eq!((s.running_count, s.pending_count), (4, 0));
        assert_eq!(s.deployments[0].rollout_state.as_deref(), Some("COMPLETED"));
        assert_eq!(
            s.events[0].message,
            "(service s) has reached a steady state."
        );
        assert_eq!(fake.cluster("c").unwrap().running_tasks, 4);

        // A new task definition: new PRIMARY, the old one ACTIVE, then drained.
        let td2 = fake
            .register_task_definition(&td_input("web", "img:2", 128))
            .await
            .unwrap()
            .arn;
        let s = fake
            .update_service(&UpdateServiceInput {
                cluster: "c".into(),
                name: "s".into(),
                task_definition: Some(td2.clone()),
                ..Default::default()
            })
            .await
            .unwrap();
        let statuses: Vec<(&str, &str)> = s
            .deployments
            .iter()
            .map(|d| (d.status.as_str(), d.task_definition.as_str()))
            .collect();
        assert_eq!(
            statuses,
            vec![("PRIMARY", td2.as_str()), ("ACTIVE", td1.as_str())]
        );
        assert_eq!(s.task_definition, td2);
        fake.tick();
        let s = describe(&fake).await;
        assert_eq!(s.deployments.len(), 2, "old deployment still draining");
        assert_eq!(
            (
                s.deployments[0].running_count,
                s.deployments[1].running_count
            ),
            (2, 2)
        );
        fake.tick();
        let s = describe(&fake).await;
        assert_eq!(s.deployments.len(), 1);
        assert_eq!(s.deployments[0].rollout_state.as_deref(), Some("COMPLETED"));
        assert_eq!(s.running_count, 4);

        // Same task definition, no force: no deployment. Force: a deployment.
        let same = UpdateServiceInput {
            cluster: "c".into(),
            name: "s".into(),
            task_definition: Some(td2.clone()),
            ..Default::default()
        };
        assert_eq!(
            fake.update_service(&same).await.unwrap().deployments.len(),
            1
        );
        let forced = UpdateServiceInput {
            force_new_deployment: true,
            ..same
        };
        assert_eq!(
            fake.update_service(&forced)
                .await
                .unwrap()
                .deployments
                .len(),
            2
        );

        // Desired count changes move the primary deployment's desired count.
        fake.set_desired_count("c", "s", 6);
        let s = fake.service("c", "s").unwrap();
        assert_eq!((s.desired_count, s.deployments[0].desired_count), (6, 6));
    }

    #[tokio::test]
    async fn auto_progress_moves_a_service_on_describe() {
        let fake = FakeAws::new();
        let td = setup(&fake).await;
        fake.create_service(&service_input(&td, 3, "t"))
            .await
            .unwrap();
        let s = describe(&fake).await;
        assert_eq!(s.running_count, 3);
        assert_eq!(s.deployments[0].rollout_state.as_deref(), Some("COMPLETED"));
    }

    #[tokio::test]
    async fn create_service_is_idempotent_only_with_the_same_client_token() {
        let fake = FakeAws::new();
        let td = setup(&fake).await;
        let first = fake
            .create_service(&service_input(&td, 1, "tok"))
            .await
            .unwrap();
        let again = fake
            .create_service(&service_input(&td, 1, "tok"))
            .await
            .unwrap();
        assert_eq!(first.arn, again.arn);
        assert_eq!(fake.services().len(), 1);
        let e = fake
            .create_service(&service_input(&td, 1, "other"))
            .await
            .unwrap_err();
        assert_eq!(e.code, "InvalidParameterException");
        assert!(e.message.contains("not idempotent"));
        assert_eq!(e.kind, AwsErrorKind::InvalidInput);
        assert_eq!(fake.services().len(), 1);
        assert_eq!(
            fake.service_creates().len(),
            2,
            "the replay is recorded too"
        );
    }

    #[tokio::test]
    async fn create_service_checks_cluster_role_and_load_balancer() {
        let fake = FakeAws::new();
        let td = setup(&fake).await;
        let mut missing = service_input(&td, 1, "t");
        missing.cluster = "nope".into();
        let e = fake.create_service(&missing).await.unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.kind),
            ("ClusterNotFoundException", AwsErrorKind::NotFound)
        );

        fake.set_known_roles(&["ecs-service-role"]);
        let mut bad_role = service_input(&td, 1, "t");
        bad_role.role = Some("nobody".into());
        let e = fake.create_service(&bad_role).await.unwrap_err();
        assert_eq!(e.kind, AwsErrorKind::InvalidInput);
        let mut good_role = service_input(&td, 1, "t");
        good_role.role = Some("arn:aws:iam::123456789012:role/ecs-service-role".into());
        good_role.name = "ok".into();
        fake.create_service(&good_role).await.unwrap();

        let mut lb = service_input(&td, 1, "t");
        lb.name = "lb".into();
        lb.load_balancers = vec![ServiceLoadBalancerRef {
            load_balancer_name: Some("missing".into()),
            target_group_arn: None,
            container_name: "web".into(),
            container_port: 5000,
        }];
        let e = fake.create_service(&lb).await.unwrap_err();
        assert_eq!(e.kind, AwsErrorKind::InvalidInput);
        assert!(e.message.contains("missing"), "{e}");
    }

    #[tokio::test]
    async fn delete_service_requires_zero_then_drains_to_inactive() {
        let fake = FakeAws::new();
        fake.set_auto_progress(false);
        let td = setup(&fake).await;
        fake.create_service(&service_input(&td, 2, "t"))
            .await
            .unwrap();
        fake.tick();
        let e = fake.delete_service("c", "s").await.unwrap_err();
        assert!(e.message.contains("scaled above 0"), "{e}");
        assert_eq!(e.kind, AwsErrorKind::InvalidInput);
        fake.set_desired_count("c", "s", 0);
        fake.delete_service("c", "s").await.unwrap();
        assert_eq!(describe(&fake).await.status, "DRAINING");
        let again = fake.delete_service("c", "s").await.unwrap_err();
        assert_eq!(again.code, "ServiceNotActiveException");
        // The cluster cannot go while the service drains.
        let e = fake.delete_cluster("c").await.unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.kind),
            ("ClusterContainsServicesException", AwsErrorKind::Dependency)
        );
        fake.tick();
        assert_eq!(describe(&fake).await.status, "INACTIVE");
        assert!(fake
            .describe_services("c", &["unknown".into()])
            .await
            .unwrap()
            .is_empty());
        // A new service of the same name may be created now.
        let again = fake
            .create_service(&service_input(&td, 1, "t2"))
            .await
            .unwrap();
        assert_eq!(again.status, "ACTIVE");
        assert_eq!(fake.services().len(), 2);
    }

    #[tokio::test]
    async fn clusters_are_idempotent_and_deletion_checks_dependencies() {
        let fake = FakeAws::new();
        let a = fake
            .create_cluster("c", &tags(&[("k", "1")]))
            .await
            .unwrap();
        let b = fake
            .create_cluster("c", &tags(&[("k", "2")]))
            .await
            .unwrap();
        assert_eq!(a.arn, "arn:aws:ecs:us-east-1:123456789012:cluster/c");
        assert_eq!(b.tags, tags(&[("k", "1")]), "tags not replaced");

        fake.register_container_instances("c", 2);
        assert_eq!(fake.cluster("c").unwrap().registered_container_instances, 2);
        let e = fake.delete_cluster("c").await.unwrap_err();
        assert_eq!(e.code, "ClusterContainsContainerInstancesException");
        assert_eq!(e.kind, AwsErrorKind::Dependency);
        fake.deregister_container_instances("c", 2);

        let td = fake
            .register_task_definition(&td_input("web", "img", 128))
            .await
            .unwrap()
            .arn;
        fake.create_service(&service_input(&td, 0, "t"))
            .await
            .unwrap();
        assert_eq!(fake.cluster("c").unwrap().active_services, 1);
        let e = fake.delete_cluster("c").await.unwrap_err();
        assert_eq!(e.code, "ClusterContainsServicesException");
        fake.delete_service("c", "s").await.unwrap();
        fake.tick();
        fake.delete_cluster(&a.arn).await.unwrap();
        let described = fake.describe_clusters(&["c".into()]).await.unwrap();
        assert_eq!(described[0].status, "INACTIVE");
        let e = fake.delete_cluster("c").await.unwrap_err();
        assert_eq!(e.kind, AwsErrorKind::NotFound);
        let e = fake
            .create_service(&service_input(&td, 1, "t3"))
            .await
            .unwrap_err();
        assert_eq!(e.code, "ClusterNotFoundException");
    }

    #[tokio::test]
    async fn tag_resource_merges_tags_on_every_ecs_arn() {
        let fake = FakeAws::new();
        let td = setup(&fake).await;
        let svc = fake
            .create_service(&service_input(&td, 1, "t"))
            .await
            .unwrap();
        let c = fake.cluster("c").unwrap();
        for arn in [&c.arn, &svc.arn, &td] {
            fake.tag_resource(arn, &tags(&[("owner", "me")]))
                .await
                .unwrap();
        }
        assert_eq!(fake.cluster("c").unwrap().tags, tags(&[("owner", "me")]));
        assert_eq!(
            fake.service("c", "s").unwrap().tags,
            tags(&[("owner", "me")])
        );
        let rev = fake.describe_task_definition(&td).await.unwrap().unwrap();
        assert_eq!(rev.tags, tags(&[("owner", "me"), ("rev", "img:1")]));
        let e = fake
            .tag_resource(
                "arn:aws:ecs:us-east-1:123456789012:cluster/none",
                &tags(&[("a", "b")]),
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind, AwsErrorKind::NotFound);
    }

    #[tokio::test]
    async fn faults_and_call_log() {
        let fake = FakeAws::new();
        fake.throttle_next("ecs:CreateCluster", 2);
        for _ in 0..2 {
            let e = fake.create_cluster("c", &Tags::new()).await.unwrap_err();
            assert_eq!(e.kind, AwsErrorKind::Throttled);
        }
        assert!(fake.clusters().is_empty(), "a throttled call does nothing");
        fake.create_cluster("c", &Tags::new()).await.unwrap();
        fake.lose_response_next("ecs:DeleteCluster", 1);
        let e = fake.delete_cluster("c").await.unwrap_err();
        assert_eq!(e.kind, AwsErrorKind::Transient);
        assert_eq!(
            fake.cluster("c").unwrap().status,
            "INACTIVE",
            "it took effect"
        );
        fake.fail_next(
            "ecs:DescribeClusters",
            AwsError::new(AwsErrorKind::Transient, "x", "ServerException", "boom"),
            1,
        );
        let e = fake.describe_clusters(&["c".into()]).await.unwrap_err();
        assert_eq!(e.operation, "ecs:DescribeClusters");
        assert_eq!(
            fake.calls(),
            vec![
                "ecs:CreateCluster",
                "ecs:CreateCluster",
                "ecs:CreateCluster",
                "ecs:DeleteCluster",
                "ecs:DescribeClusters"
            ]
        );
        assert_eq!(fake.count("ecs:CreateCluster"), 3);
        assert_eq!(fake.mutating_calls().len(), 4);
        fake.clear_calls();
        assert!(fake.calls().is_empty());
    }

    #[test]
    #[should_panic(expected = "unknown operation")]
    fn fault_injection_rejects_unknown_operations() {
        FakeAws::new().throttle_next("ecs:CreateServices", 1);
    }

    fn lt_data(cluster: &str, instance_type: &str) -> LaunchTemplateData {
        LaunchTemplateData {
            image_id: "ami-123".into(),
            instance_type: instance_type.into(),
            user_data_base64: base64::engine::general_purpose::STANDARD.encode(format!(
                "#!/bin/bash\necho ECS_CLUSTER={cluster} >> /etc/ecs/ecs.config\n"
            )),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn launch_templates_have_versions_and_unique_names() {
        let fake = FakeAws::new();
        let lt = fake
            .create_launch_template("my-lt", &lt_data("c", "t2.micro"), "v1", &Tags::new())
            .await
            .unwrap();
        assert_eq!(lt.latest_version, 1);
        let e = fake
            .create_launch_template("my-lt", &lt_data("c", "t2.micro"), "v1", &Tags::new())
            .await
            .unwrap_err();
        assert_eq!(e.code, "InvalidLaunchTemplateName.AlreadyExistsException");
        assert_eq!(e.kind, AwsErrorKind::InvalidInput);
        let v2 = fake
            .create_launch_template_version(&lt.id, &lt_data("c", "t3.small"), "v2")
            .await
            .unwrap();
        assert_eq!(v2, 2);
        assert_eq!(
            fake.launch_template_version_description(&lt.id, 2)
                .await
                .unwrap()
                .as_deref(),
            Some("v2")
        );
        assert_eq!(
            fake.launch_template_version_description(&lt.id, 3)
                .await
                .unwrap(),
            None
        );
        let bad = fake
            .create_launch_template_version(&lt.id, &lt_data("c", "bogus"), "v3")
            .await
            .unwrap_err();
        assert_eq!(bad.kind, AwsErrorKind::InvalidInput);
        fake.delete_launch_template(&lt.id).await.unwrap();
        assert_eq!(fake.describe_launch_template("my-lt").await.unwrap(), None);
        let e = fake.delete_launch_template(&lt.id).await.unwrap_err();
        assert_eq!(e.kind, AwsErrorKind::NotFound);
    }

    #[tokio::test]
    async fn groups_launch_instances_that_join_the_cluster_and_delete_in_two_steps() {
        let fake = FakeAws::new();
        fake.set_auto_progress(false);
        fake.create_cluster("c", &Tags::new()).await.unwrap();
        let lt = fake
            .create_launch_template("my-lt", &lt_data("c", "t2.micro"), "v1", &Tags::new())
            .await
            .unwrap();
        let input = CreateGroupInput {
            name: "g".into(),
            launch_template_id: lt.id.clone(),
            launch_template_version: "1".into(),
            min_size: 2,
            max_size: 3,
            desired_capacity: 2,
            subnet_ids: vec!["subnet-a".into()],
            ..Default::default()
        };
        fake.create_group(&input).await.unwrap();
        let e = fake.create_group(&input).await.unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.kind),
            ("AlreadyExists", AwsErrorKind::InvalidInput)
        );
        let g = fake.describe_group("g").await.unwrap().unwrap();
        assert!(g.instances.iter().all(|i| i.lifecycle_state == "Pending"));
        assert_eq!(fake.cluster("c").unwrap().registered_container_instances, 0);
        fake.tick();
        let g = fake.describe_group("g").await.unwrap().unwrap();
        assert_eq!(g.instances.len(), 2);
        assert!(g.instances.iter().all(|i| i.lifecycle_state == "InService"));
        assert_eq!(fake.cluster("c").unwrap().registered_container_instances, 2);

        // Lowering max below desired lowers desired too.
        fake.update_group(&UpdateGroupInput {
            name: "g".into(),
            min_size: Some(1),
            max_size: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
        let g = fake.describe_group("g").await.unwrap().unwrap();
        assert_eq!(g.desired_capacity, 1);
        assert_eq!(
            g.instances
                .iter()
                .filter(|i| i.lifecycle_state == "Terminating")
                .count(),
            1
        );

        fake.delete_group("g").await.unwrap();
        let g = fake.describe_group("g").await.unwrap().unwrap();
        assert_eq!(g.status.as_deref(), Some("Delete in progress"));
        let e = fake.delete_cluster("c").await.unwrap_err();
        assert_eq!(e.code, "ClusterContainsContainerInstancesException");
        fake.tick();
        assert_eq!(fake.describe_group("g").await.unwrap(), None);
        assert_eq!(fake.cluster("c").unwrap().registered_container_instances, 0);
        fake.delete_cluster("c").await.unwrap();
        let e = fake.delete_group("g").await.unwrap_err();
        assert_eq!(e.kind, AwsErrorKind::NotFound);
    }

    fn http(port: i32) -> Listener {
        Listener {
            protocol: ListenerProtocol::Http,
            load_balancer_port: port,
            instance_port: port,
            instance_protocol: None,
        }
    }

    #[tokio::test]
    async fn classic_elbs() {
        let fake = FakeAws::new();
        let input = CreateLoadBalancerInput {
            name: "lb".into(),
            scheme: LoadBalancerScheme::InternetFacing,
            subnet_ids: vec!["subnet-a".into()],
            security_group_ids: vec![],
            listeners: vec![http(80)],
            tags: tags(&[("a", "1")]),
        };
        let dns = fake.create_load_balancer(&input).await.unwrap();
        assert_eq!(
            dns.as_deref(),
            Some("lb-123456.us-east-1.elb.amazonaws.com")
        );
        let e = fake.create_load_balancer(&input).await.unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.kind),
            ("DuplicateLoadBalancerName", AwsErrorKind::InvalidInput)
        );
        let lb = fake.describe_load_balancer("lb").await.unwrap().unwrap();
        assert_eq!(
            lb.health_check.unwrap().target,
            "TCP:80",
            "ELB's default check"
        );
        assert_eq!(
            lb.listeners[0].instance_protocol,
            Some(ListenerProtocol::Http)
        );
        let hc = ElbHealthCheck {
            target: "HTTP:80/".into(),
            interval_seconds: 30,
            timeout_seconds: 5,
            healthy_threshold: 10,
            unhealthy_threshold: 2,
        };
        fake.configure_health_check("lb", &hc).await.unwrap();
        let bad = ElbHealthCheck {
            target: "HTTP:80".into(),
            ..hc.clone()
        };
        let e = fake.configure_health_check("lb", &bad).await.unwrap_err();
        assert_eq!(e.kind, AwsErrorKind::InvalidInput);
        fake.create_listeners("lb", &[http(81)]).await.unwrap();
        let mut changed = http(81);
        changed.instance_port = 8081;
        let e = fake.create_listeners("lb", &[changed]).await.unwrap_err();
        assert_eq!(e.code, "DuplicateListener");
        fake.delete_listeners("lb", &[80]).await.unwrap();
        let lb = fake.describe_load_balancer("lb").await.unwrap().unwrap();
        assert_eq!(lb.listeners.len(), 1);
        assert_eq!(lb.listeners[0].load_balancer_port, 81);
        assert_eq!(lb.health_check, Some(hc));
        fake.add_tags("lb", &tags(&[("b", "2")])).await.unwrap();
        assert_eq!(
            fake.describe_tags("lb").await.unwrap(),
            tags(&[("a", "1"), ("b", "2")])
        );
        fake.delete_load_balancer("lb").await.unwrap();
        fake.delete_load_balancer("lb").await.unwrap();
        assert_eq!(fake.describe_load_balancer("lb").await.unwrap(), None);
        let e = fake.describe_tags("lb").await.unwrap_err();
        assert_eq!(e.kind, AwsErrorKind::NotFound);
        let internal = CreateLoadBalancerInput {
            scheme: LoadBalancerScheme::Internal,
            ..input
        };
        assert_eq!(
            fake.create_load_balancer(&internal)
                .await
                .unwrap()
                .as_deref(),
            Some("internal-lb-123456.us-east-1.elb.amazonaws.com")
        );
    }

    #[tokio::test]
    async fn circuit_breaker_fails_and_rolls_back_broken_deployments() {
        let fake = FakeAws::new();
        fake.set_auto_progress(false);
        let td1 = setup(&fake).await;
        let mut input = service_input(&td1, 2, "t");
        input.deployment_configuration = Some(DeploymentConfiguration {
            deployment_circuit_breaker: Some(DeploymentCircuitBreaker {
                enable: true,
                rollback: true,
            }),
            ..Default::default()
        });
        fake.create_service(&input).await.unwrap();
        fake.tick();
        let td2 = fake
            .register_task_definition(&td_input("web", "img:2", 128))
            .await
            .unwrap()
            .arn;
        fake.break_task_definition(&td2);
        fake.update_service(&UpdateServiceInput {
            cluster: "c".into(),
            name: "s".into(),
            task_definition: Some(td2.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
        fake.tick();
        let s = describe(&fake).await;
        assert_eq!(s.task_definition, td1, "rolled back");
        let failed = s
            .deployments
            .iter()
            .find(|d| d.task_definition == td2)
            .unwrap();
        assert_eq!(failed.rollout_state.as_deref(), Some("FAILED"));
        assert!(s.events.iter().any(|e| e.message.contains("rolling back")));
        fake.ticks(2);
        let s = describe(&fake).await;
        assert_eq!(s.deployments.len(), 1);
        assert_eq!(s.deployments[0].rollout_state.as_deref(), Some("COMPLETED"));
    }

    #[tokio::test]
    async fn require_capacity_keeps_tasks_pending_without_instances() {
        let fake = FakeAws::new();
        fake.set_auto_progress(false);
        fake.set_require_capacity(true);
        let td = setup(&fake).await;
        fake.create_service(&service_input(&td, 1, "t"))
            .await
            .unwrap();
        fake.tick();
        let s = describe(&fake).await;
        assert_eq!(s.running_count, 0);
        assert!(s.events[0].message.contains("unable to place a task"));
        fake.register_container_instances("c", 1);
        fake.tick();
        assert_eq!(describe(&fake).await.running_count, 1);
    }

    #[tokio::test]
    async fn describe_lag_hides_new_services() {
        let fake = FakeAws::new();
        let td = setup(&fake).await;
        fake.set_describe_lag(1);
        fake.create_service(&service_input(&td, 1, "t"))
            .await
            .unwrap();
        let names = ["s".to_string()];
        assert!(fake
            .describe_services("c", &names)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(fake.describe_services("c", &names).await.unwrap().len(), 1);
    }

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
