//! ECS: clusters, task definitions, services and their deployments (rollouts, the circuit
//! breaker, events), with the [`EcsApi`] implementation.

use std::collections::BTreeSet;

use async_trait::async_trait;

use super::{err, last_segment, valid_name, FakeAws, State, ACCOUNT, REGION, STEP_SECONDS};
use crate::api::service::{
    AssignPublicIp, DeploymentCircuitBreaker, DeploymentConfiguration, NetworkConfiguration,
};
use crate::api::task_def::{LaunchType, NetworkMode};
use crate::aws::types::*;
use crate::aws::{AwsError, EcsApi};

/// Most events ECS keeps per service.
const MAX_EVENTS: usize = 100;

/// A service as the narrow API answers it: the latest events only, as the SDK adapter
/// keeps them.
fn answer(info: &ServiceInfo) -> ServiceInfo {
    ServiceInfo {
        events: info
            .events
            .iter()
            .take(SERVICE_EVENTS_KEPT)
            .cloned()
            .collect(),
        ..info.clone()
    }
}

#[derive(Clone, Debug)]
pub(super) struct Cluster {
    arn: String,
    name: String,
    status: String,
    tags: Tags,
    manual_instances: i32,
    /// Capacity providers attached (PutClusterCapacityProviders).
    pub(super) capacity_providers: Vec<String>,
    /// Default capacity provider strategy.
    pub(super) default_strategy: Vec<StrategyItem>,
}

impl Cluster {
    pub(super) fn is_active(&self) -> bool {
        self.status == "ACTIVE"
    }
    pub(super) fn name(&self) -> &str {
        &self.name
    }
}

#[derive(Clone, Debug)]
pub(super) struct TaskDef {
    revision: TaskDefRevision,
    input: RegisterTaskDefinitionInput,
    /// ListTaskDefinitions calls that still do not list it (eventual consistency).
    unlisted_for: u32,
}

#[derive(Clone, Debug)]
pub(super) struct Service {
    pub(super) info: ServiceInfo,
    cluster: String,
    client_token: String,
    /// DescribeServices calls that still do not see it (eventual consistency).
    hidden_for: u32,
    /// Task definition of the last deployment that completed (rollback target).
    last_completed: Option<String>,
}

impl Service {
    pub(super) fn cluster_name(&self) -> &str {
        &self.cluster
    }
}

/// An ACTIVE service of `cluster` with this capacity provider strategy, for other modules'
/// tests.
#[cfg(test)]
pub(super) fn test_service(cluster: &str, name: &str, strategy: Vec<StrategyItem>) -> Service {
    Service {
        info: ServiceInfo {
            name: name.into(),
            status: "ACTIVE".into(),
            capacity_provider_strategy: strategy,
            ..Default::default()
        },
        cluster: cluster.into(),
        client_token: String::new(),
        hidden_for: 0,
        last_completed: None,
    }
}
// ---------------------------------------------------------------------------------------
// Test-facing API: ECS inspection and out-of-band changes.
// ---------------------------------------------------------------------------------------

impl FakeAws {
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
}

// ---------------------------------------------------------------------------------------
// ECS state: lookups and the passing of time.
// ---------------------------------------------------------------------------------------

impl State {
    fn cluster_arn(name: &str) -> String {
        format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{name}")
    }

    /// The cluster name from a name or ARN argument.
    pub(super) fn cluster_name(arg: &str) -> &str {
        last_segment(arg)
    }

    pub(super) fn active_cluster(&self, arg: &str) -> Option<&Cluster> {
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

    pub(super) fn cluster_info(&self, c: &Cluster) -> ClusterInfo {
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
            capacity_providers: c.capacity_providers.clone(),
            default_capacity_provider_strategy: c.default_strategy.clone(),
            tags: c.tags.clone(),
        }
    }

    /// The tags of the cluster, service or task definition revision an ARN names, as
    /// TagResource and UntagResource find it.
    fn tags_of_arn(&mut self, op: &'static str, arn: &str) -> Result<&mut Tags, AwsError> {
        let missing = || {
            err(
                op,
                "ResourceNotFoundException",
                "The specified resource could not be found.",
            )
        };
        let invalid = || {
            err(
                op,
                "InvalidParameterException",
                "The ARN provided is invalid.",
            )
        };
        if !arn.starts_with("arn:aws:ecs:") {
            return Err(invalid());
        }
        if let Some((_, rest)) = arn.split_once(":cluster/") {
            let c = self
                .clusters
                .get_mut(rest)
                .filter(|c| c.status == "ACTIVE")
                .ok_or_else(missing)?;
            Ok(&mut c.tags)
        } else if let Some((_, rest)) = arn.split_once(":service/") {
            let (cluster, name) = rest.rsplit_once('/').ok_or_else(missing)?;
            let i = self.find_service(cluster, name).ok_or_else(missing)?;
            Ok(&mut self.services[i].info.tags)
        } else if let Some((_, name)) = arn.split_once(":capacity-provider/") {
            self.capacity_provider_tags(name).ok_or_else(missing)
        } else if arn.contains(":task-definition/") {
            let (family, i) = self.find_task_def(arn).ok_or_else(missing)?;
            let td = &mut self.task_defs.get_mut(&family).ok_or_else(missing)?[i];
            Ok(&mut td.revision.tags)
        } else {
            Err(invalid())
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

    /// The desired count of the ACTIVE service `name` of `cluster` (Application Auto
    /// Scaling's view of its scalable target); `None` when there is no such service.
    pub(super) fn active_service_desired(&self, cluster: &str, name: &str) -> Option<i32> {
        let i = self.find_service(cluster, name)?;
        let info = &self.services[i].info;
        (info.status == "ACTIVE").then_some(info.desired_count)
    }

    /// Set the desired count of the ACTIVE service `name` of `cluster` as UpdateService
    /// would (Application Auto Scaling scaling it); false when there is no such service.
    pub(super) fn scale_active_service(&mut self, cluster: &str, name: &str, n: i32) -> bool {
        match self.find_service(cluster, name) {
            Some(i) if self.services[i].info.status == "ACTIVE" => {
                self.set_desired(i, n);
                true
            }
            _ => false,
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

    pub(super) fn step_service(&mut self, i: usize) {
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
            if let Some(arn) = &lb.target_group_arn {
                self.check_service_target_group(op, arn)?;
            }
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
                        capacity_providers: Vec::new(),
                        default_strategy: Vec::new(),
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
                // Deleting a cluster ends its capacity provider associations.
                c.status = "INACTIVE".into();
                c.manual_instances = 0;
                c.capacity_providers.clear();
                c.default_strategy.clear();
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
            s.tags_of_arn(OP, arn)?.extend(tags.clone());
            Ok(())
        })
    }

    async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        const OP: &str = "ecs:UntagResource";
        if keys.is_empty() {
            return Ok(());
        }
        self.call(OP, |s| {
            // Keys the resource lacks are ignored, as in ECS.
            s.tags_of_arn(OP, arn)?.retain(|k, _| !keys.contains(k));
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
                definition: None,
                unmodeled: Vec::new(),
            };
            let unlisted_for = s.list_lag;
            let revs = s.task_defs.entry(input.family.clone()).or_default();
            revs.push(TaskDef {
                revision: rev.clone(),
                input: input.clone(),
                unlisted_for,
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
            // DescribeTaskDefinition returns the definition; the other calls do not.
            Ok(s.task_def(task_definition).map(|t| TaskDefRevision {
                definition: Some(registered_definition(&t.input)),
                ..t.revision.clone()
            }))
        })
    }

    async fn list_task_definitions(&self, family: &str) -> Result<Vec<String>, AwsError> {
        self.call("ecs:ListTaskDefinitions", |s| {
            let Some(revs) = s.task_defs.get_mut(family) else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            for t in revs.iter_mut() {
                if t.unlisted_for > 0 {
                    t.unlisted_for -= 1;
                } else if t.revision.status == "ACTIVE" {
                    out.push(t.revision.arn.clone());
                }
            }
            Ok(out)
        })
    }

    async fn list_active_task_definitions(&self) -> Result<Vec<String>, AwsError> {
        self.call("ecs:ListTaskDefinitions", |s| {
            let mut out = Vec::new();
            for t in s.task_defs.values_mut().flat_map(|revs| revs.iter_mut()) {
                if t.unlisted_for > 0 {
                    t.unlisted_for -= 1;
                } else if t.revision.status == "ACTIVE" {
                    out.push(t.revision.arn.clone());
                }
            }
            Ok(out)
        })
    }

    async fn list_services(&self, cluster: &str) -> Result<Vec<String>, AwsError> {
        const OP: &str = "ecs:ListServices";
        self.call(OP, |s| {
            let cluster = State::cluster_name(cluster).to_string();
            if !s.clusters.contains_key(&cluster) {
                return Err(err(OP, "ClusterNotFoundException", "Cluster not found."));
            }
            Ok(s.services
                .iter()
                .filter(|x| x.cluster == cluster && x.info.status != "INACTIVE")
                .map(|x| x.info.arn.clone())
                .collect())
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
                out.push(answer(&s.services[i].info));
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
                        let info = answer(&existing.info);
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
            if input.launch_type.is_some() && !input.capacity_provider_strategy.is_empty() {
                return Err(err(
                    OP,
                    "InvalidParameterException",
                    "Specifying both a launch type and capacity provider strategy is not \
                     supported. Remove one and try again.",
                ));
            }
            s.check_service_strategy(OP, &cluster, &input.capacity_provider_strategy)?;
            // Neither a launch type nor a strategy: the cluster's default strategy, if any.
            let strategy = match (
                &input.launch_type,
                input.capacity_provider_strategy.is_empty(),
            ) {
                (None, true) => s
                    .clusters
                    .get(&cluster)
                    .map(|c| c.default_strategy.clone())
                    .unwrap_or_default(),
                _ => input.capacity_provider_strategy.clone(),
            };
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
                launch_type: strategy.is_empty().then(|| {
                    input
                        .launch_type
                        .unwrap_or(LaunchType::Ec2)
                        .as_str()
                        .to_string()
                }),
                capacity_provider_strategy: strategy,
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
            Ok(answer(&s.services[i].info))
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
                    let lbs = input
                        .load_balancers
                        .clone()
                        .unwrap_or_else(|| s.services[i].info.load_balancers.clone());
                    s.validate_service_load_balancers(OP, td, &lbs)?;
                    Some(td.revision.arn.clone())
                }
                None => None,
            };
            // New load balancers are checked against the task definition they will run with.
            if let (Some(lbs), None) = (&input.load_balancers, &new_td) {
                let current = s.services[i].info.task_definition.clone();
                if let Some(td) = s.task_def(&current) {
                    s.validate_service_load_balancers(OP, td, lbs)?;
                }
            }
            if let Some(strategy) = &input.capacity_provider_strategy {
                if *strategy != s.services[i].info.capacity_provider_strategy {
                    if !input.force_new_deployment {
                        return Err(err(
                            OP,
                            "InvalidParameterException",
                            "Updating the capacity provider strategy of a service requires \
                             forceNewDeployment.",
                        ));
                    }
                    s.check_service_strategy(OP, &cluster, strategy)?;
                }
            }
            let mut redeploy = input.force_new_deployment;
            let info = &mut s.services[i].info;
            if let Some(strategy) = &input.capacity_provider_strategy {
                info.capacity_provider_strategy = strategy.clone();
                if !strategy.is_empty() {
                    info.launch_type = None;
                }
            }
            // ECS starts tasks registered with the new load balancers, then stops the old.
            if let Some(lbs) = &input.load_balancers {
                redeploy |= info.load_balancers != *lbs;
                info.load_balancers = lbs.clone();
            }
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
            Ok(answer(&s.services[i].info))
        })
    }

    async fn describe_capacity_providers(
        &self,
        names: &[String],
    ) -> Result<Vec<CapacityProvider>, AwsError> {
        self.call("ecs:DescribeCapacityProviders", |s| {
            if s.auto_progress {
                s.step_capacity_providers();
            }
            Ok(s.describe_capacity_providers(names))
        })
    }

    async fn create_capacity_provider(
        &self,
        input: &CreateCapacityProviderInput,
    ) -> Result<CapacityProvider, AwsError> {
        const OP: &str = "ecs:CreateCapacityProvider";
        self.call(OP, |s| s.create_capacity_provider(OP, input))
    }

    async fn update_capacity_provider(
        &self,
        name: &str,
        settings: &CapacityProviderSettings,
    ) -> Result<CapacityProvider, AwsError> {
        const OP: &str = "ecs:UpdateCapacityProvider";
        self.call(OP, |s| s.update_capacity_provider(OP, name, settings))
    }

    async fn delete_capacity_provider(&self, name: &str) -> Result<(), AwsError> {
        const OP: &str = "ecs:DeleteCapacityProvider";
        self.call(OP, |s| s.delete_capacity_provider(OP, name))
    }

    async fn put_cluster_capacity_providers(
        &self,
        cluster: &str,
        providers: &[String],
        default_strategy: &[StrategyItem],
    ) -> Result<ClusterInfo, AwsError> {
        const OP: &str = "ecs:PutClusterCapacityProviders";
        self.call(OP, |s| {
            s.put_cluster_capacity_providers(OP, cluster, providers, default_strategy)
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

/// The definition of a registered revision as DescribeTaskDefinition shows it: only what
/// RegisterTaskDefinition takes (ECS keeps no region, tags, policy or history limit in it).
fn registered_definition(
    input: &RegisterTaskDefinitionInput,
) -> crate::api::task_def::EcsTaskDefSpec {
    crate::api::task_def::EcsTaskDefSpec {
        family: Some(input.family.clone()),
        region: None,
        tags: Default::default(),
        deletion_policy: Default::default(),
        revision_history_limit: None,
        ..input.definition.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::task_def::{ContainerDefinition, EcsTaskDefSpec, PortMapping};
    use crate::aws::fake::test_support::tags;
    use crate::aws::AwsErrorKind;

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
    async fn answers_carry_the_latest_events_only_as_the_sdk_adapter_keeps_them() {
        let fake = FakeAws::new();
        let td = setup(&fake).await;
        fake.set_auto_progress(false);
        fake.create_service(&service_input(&td, 3, "t"))
            .await
            .unwrap();
        for n in [1, 4, 2, 5] {
            fake.set_desired_count("c", "s", n);
            fake.tick();
        }
        let kept = fake.service("c", "s").unwrap().events;
        assert!(kept.len() > SERVICE_EVENTS_KEPT, "{}", kept.len());
        let answered = describe(&fake).await.events;
        assert_eq!(answered[..], kept[..SERVICE_EVENTS_KEPT]);
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
        assert_eq!(e.kind, AwsErrorKind::AlreadyExists);
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
}
