//! Services: whether their cluster can take a deploy; create, update (and which fields
//! drifted, from what to what), or leave alone; readiness from the deployments; the managed
//! classic ELB, and the managed ELBs a service owns but no longer uses.

use std::collections::BTreeSet;
use std::fmt;

use super::capacity_provider;
use super::drift::{self, Drift, Resource};
use crate::api::cluster::EcsCluster;
use crate::api::service::{
    DeploymentConfiguration, ElbHealthCheck, Listener, ListenerProtocol, LoadBalancerScheme,
    ManagedLoadBalancer, NetworkConfiguration,
};
use crate::aws::types::{
    ClassicLoadBalancer, CreateServiceInput, ServiceInfo, ServiceLoadBalancerRef,
    UpdateServiceInput,
};

/// Whether services can be deployed into an EcsCluster: the ARN, or why not yet.
///
/// Only the ECS cluster itself matters: it must exist (status records its ARN), be ACTIVE
/// and not be going away. The EcsCluster's Ready condition also covers its EC2 capacity
/// (in-service instances below desired during an instance replacement, a scale-out or an
/// unavailable instance type), and a capacity shortfall must never freeze the rollouts of
/// every service in the cluster: ECS places what fits and reports the rest as events.
pub fn cluster_usable(cluster: &EcsCluster) -> Result<String, String> {
    let name = cluster.metadata.name.as_deref().unwrap_or_default();
    if cluster.metadata.deletion_timestamp.is_some() {
        return Err(format!("EcsCluster {name} is being deleted"));
    }
    let status = cluster.status.as_ref();
    let Some(arn) = status.and_then(|s| s.cluster_arn.clone()) else {
        return Err(format!("EcsCluster {name} has no ECS cluster yet"));
    };
    match status.and_then(|s| s.cluster_status.as_deref()) {
        Some("ACTIVE") => Ok(arn),
        Some(other) => Err(format!("the ECS cluster of EcsCluster {name} is {other}")),
        // Written by an operator version that did not record the ECS status: its Ready
        // condition is the best evidence until the EcsCluster is synced again.
        None if status.is_some_and(|s| {
            s.common.conditions.iter().any(|c| {
                c.type_ == "Ready"
                    && c.status == "True"
                    && c.observed_generation == cluster.metadata.generation
            })
        }) =>
        {
            Ok(arn)
        }
        None => Err(format!(
            "EcsCluster {name} has not reported the status of its ECS cluster yet"
        )),
    }
}

/// One field whose AWS value differs from the spec in a way the operator cannot correct,
/// for error messages (what it corrects is a [`Drift`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldChange {
    /// The spec field, e.g. `loadBalancer.managed.subnetIds`.
    pub field: &'static str,
    /// What AWS has.
    pub from: String,
    /// What the spec wants.
    pub to: String,
}

impl FieldChange {
    fn new(field: &'static str, from: impl Into<String>, to: impl Into<String>) -> Self {
        Self {
            field,
            from: from.into(),
            to: to.into(),
        }
    }
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} → {}", self.field, self.from, self.to)
    }
}

/// `a; b; c` of several changes.
pub fn describe_changes(changes: &[FieldChange]) -> String {
    changes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn list(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

fn sorted(items: &[String]) -> Vec<String> {
    items
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The service as the spec wants it, with references resolved.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DesiredService {
    /// What CreateService would send.
    pub create: CreateServiceInput,
    /// Whether desiredCount is managed (set in the spec) or only set at creation.
    pub manage_desired_count: bool,
    /// A new `ecsoperator.io/restartedAt` value not yet acted on.
    pub restart_requested: bool,
    /// The wanted task definition, if its deployment failed and ECS rolled back from it:
    /// rolling it out again would only fail again.
    pub failed_task_definition: Option<String>,
    /// The task definition the service ran at the last sync (status). Moving a service
    /// that still runs it to another revision is a rollout of the referenced EcsTaskDef,
    /// not drift; a service found running something else was changed behind our back.
    pub last_task_definition: Option<String>,
}

/// What to do with the ECS service.
#[derive(Clone, Debug, PartialEq)]
pub enum ServicePlan {
    /// It does not exist (or is INACTIVE): create it.
    Create(CreateServiceInput),
    /// It exists and differs: update these fields.
    Update {
        /// The UpdateService call.
        input: UpdateServiceInput,
        /// The fields set back to the spec, with AWS's and the spec's values (a rollout to
        /// a new revision and a forced deployment are not among them).
        drift: Vec<Drift>,
    },
    /// It exists and differs in fields ECS cannot change on a live service (the spec's
    /// CEL rules refuse such changes, so the service was adopted or made by other means):
    /// only deleting and recreating it can help.
    Immutable(Vec<FieldChange>),
    /// It is being deleted by ECS (DRAINING); wait before creating it again.
    WaitDraining,
    /// Nothing to do.
    InSync,
}

/// The deployment configuration settings that differ, `desired` against `observed`. Only
/// what the spec sets is compared: AWS fills in the rest with its defaults.
fn deployment_config_drift(
    desired: &DeploymentConfiguration,
    observed: Option<&DeploymentConfiguration>,
) -> Vec<Drift> {
    let o = observed.cloned().unwrap_or_default();
    let s = Resource::EcsService;
    let mut out = Vec::new();
    if let Some(v) = desired.minimum_healthy_percent {
        drift::check(
            &mut out,
            s,
            "deploymentConfiguration.minimumHealthyPercent",
            &drift::or_none(Some(v)),
            &drift::or_none(o.minimum_healthy_percent),
        );
    }
    if let Some(v) = desired.maximum_percent {
        drift::check(
            &mut out,
            s,
            "deploymentConfiguration.maximumPercent",
            &drift::or_none(Some(v)),
            &drift::or_none(o.maximum_percent),
        );
    }
    if let Some(cb) = &desired.deployment_circuit_breaker {
        if o.deployment_circuit_breaker.as_ref() != Some(cb) {
            out.push(Drift::new(
                s,
                "deploymentConfiguration.deploymentCircuitBreaker",
                o.deployment_circuit_breaker
                    .as_ref()
                    .map(drift::json)
                    .unwrap_or_else(|| "none".into()),
                drift::json(cb),
            ));
        }
    }
    out
}

/// A task definition as people name it: `family:revision` out of an ARN.
fn short_task_definition(td: &str) -> &str {
    td.rsplit('/').next().unwrap_or(td)
}

fn network_matches(
    desired: &NetworkConfiguration,
    observed: Option<&NetworkConfiguration>,
) -> bool {
    let norm = |n: &NetworkConfiguration| {
        n.awsvpc_configuration.as_ref().map(|a| {
            let mut subnets = a.subnets.clone();
            subnets.sort();
            let mut sgs = a.security_groups.clone();
            sgs.sort();
            let public = a
                .assign_public_ip
                .unwrap_or(crate::api::service::AssignPublicIp::Disabled);
            (subnets, sgs, public)
        })
    };
    Some(norm(desired)) == observed.map(norm)
}

/// Whether the role ECS reports (an ARN; moto echoes the argument) is the spec's role, a
/// name (optionally with its IAM path) or an ARN.
fn role_matches(spec: &str, observed: &str) -> bool {
    if spec == observed {
        return true;
    }
    if spec.starts_with("arn:") {
        return false;
    }
    observed
        .split_once(":role/")
        .is_some_and(|(_, path_and_name)| {
            path_and_name == spec || path_and_name.ends_with(&format!("/{spec}"))
        })
}

/// Spec fields that ECS cannot change on a live service and that differ from it. What the
/// spec leaves out is ECS's choice and not compared, and neither is what ECS does not report.
pub fn immutable_mismatches(want: &CreateServiceInput, obs: &ServiceInfo) -> Vec<FieldChange> {
    let mut out = Vec::new();
    if let (Some(w), Some(o)) = (want.launch_type, obs.launch_type.as_deref()) {
        if w.as_str() != o {
            out.push(FieldChange::new("launchType", o, w.as_str()));
        }
    }
    if let (Some(w), Some(o)) = (want.role.as_deref(), obs.role_arn.as_deref()) {
        if !role_matches(w, o) {
            out.push(FieldChange::new("role", o, w));
        }
    }
    out
}

fn load_balancer_key(lb: &ServiceLoadBalancerRef) -> String {
    let target = lb
        .load_balancer_name
        .as_deref()
        .or(lb.target_group_arn.as_deref())
        .unwrap_or("?");
    format!("{target} → {}:{}", lb.container_name, lb.container_port)
}

/// The load balancers of a service, readable and in a stable order.
pub fn describe_load_balancers(lbs: &[ServiceLoadBalancerRef]) -> String {
    let keys: Vec<String> = lbs.iter().map(load_balancer_key).collect();
    list(&sorted(&keys))
}

fn same_load_balancers(want: &[ServiceLoadBalancerRef], have: &[ServiceLoadBalancerRef]) -> bool {
    let key = |lbs: &[ServiceLoadBalancerRef]| {
        let mut v = lbs.to_vec();
        v.sort_by_key(load_balancer_key);
        v
    };
    key(want) == key(have)
}

/// Compare the desired service with what ECS has.
pub fn plan_service(desired: &DesiredService, observed: Option<&ServiceInfo>) -> ServicePlan {
    let Some(obs) = observed.filter(|s| s.status != "INACTIVE") else {
        return ServicePlan::Create(desired.create.clone());
    };
    if obs.status == "DRAINING" {
        return ServicePlan::WaitDraining;
    }
    let want = &desired.create;
    let immutable = immutable_mismatches(want, obs);
    if !immutable.is_empty() {
        return ServicePlan::Immutable(immutable);
    }
    let mut input = UpdateServiceInput {
        cluster: want.cluster.clone(),
        name: want.name.clone(),
        ..Default::default()
    };
    let mut drift = Vec::new();
    let s = Resource::EcsService;
    let failed = desired.failed_task_definition.as_deref() == Some(want.task_definition.as_str());
    if obs.task_definition != want.task_definition && !failed {
        input.task_definition = Some(want.task_definition.clone());
        if desired.last_task_definition.as_deref() != Some(obs.task_definition.as_str()) {
            drift.push(Drift::new(
                s,
                "taskDefinition",
                short_task_definition(&obs.task_definition),
                short_task_definition(&want.task_definition),
            ));
        }
    }
    if desired.manage_desired_count
        && drift::check(
            &mut drift,
            s,
            "desiredCount",
            &want.desired_count,
            &obs.desired_count,
        )
    {
        input.desired_count = Some(want.desired_count);
    }
    if let Some(dc) = &want.deployment_configuration {
        let changed = deployment_config_drift(dc, obs.deployment_configuration.as_ref());
        if !changed.is_empty() {
            input.deployment_configuration = Some(dc.clone());
            drift.extend(changed);
        }
    }
    if let Some(g) = want.health_check_grace_period_seconds {
        if drift::check(
            &mut drift,
            s,
            "healthCheckGracePeriodSeconds",
            &g,
            &obs.health_check_grace_period_seconds.unwrap_or(0),
        ) {
            input.health_check_grace_period_seconds = Some(g);
        }
    }
    if let Some(n) = &want.network_configuration {
        if !network_matches(n, obs.network_configuration.as_ref()) {
            input.network_configuration = Some(n.clone());
            drift.push(Drift::new(
                s,
                "networkConfiguration",
                obs.network_configuration
                    .as_ref()
                    .map(drift::json)
                    .unwrap_or_else(|| "none".into()),
                drift::json(n),
            ));
        }
    }
    if !want.placement_strategy.is_empty() && want.placement_strategy != obs.placement_strategy {
        input.placement_strategy = Some(want.placement_strategy.clone());
        drift.push(Drift::new(
            s,
            "placementStrategy",
            drift::json(&obs.placement_strategy),
            drift::json(&want.placement_strategy),
        ));
    }
    if !want.placement_constraints.is_empty()
        && want.placement_constraints != obs.placement_constraints
    {
        input.placement_constraints = Some(want.placement_constraints.clone());
        drift.push(Drift::new(
            s,
            "placementConstraints",
            drift::json(&obs.placement_constraints),
            drift::json(&want.placement_constraints),
        ));
    }
    // UpdateService changes the load balancers of a rolling-update (ECS deployment
    // controller) service, the only kind the operator creates, since March 2022: ECS starts
    // tasks registered with the new configuration and then stops the old ones. So the
    // choice of load balancer, container name and port are reconciled, not immutable; an
    // empty list detaches the service from every load balancer.
    if !same_load_balancers(&want.load_balancers, &obs.load_balancers) {
        input.load_balancers = Some(want.load_balancers.clone());
        drift.push(Drift::new(
            s,
            "loadBalancers",
            describe_load_balancers(&obs.load_balancers),
            describe_load_balancers(&want.load_balancers),
        ));
    }
    // A strategy left out of the spec is ECS's choice (the cluster's default at creation).
    if !want.capacity_provider_strategy.is_empty()
        && !capacity_provider::same_strategy(
            &want.capacity_provider_strategy,
            &obs.capacity_provider_strategy,
        )
    {
        input.capacity_provider_strategy = Some(want.capacity_provider_strategy.clone());
        // ECS changes a service's strategy only with a new deployment.
        input.force_new_deployment = true;
        drift.push(Drift::new(
            s,
            "capacityProviderStrategy",
            capacity_provider::describe_strategy(&obs.capacity_provider_strategy),
            capacity_provider::describe_strategy(&want.capacity_provider_strategy),
        ));
    }
    if desired.restart_requested {
        input.force_new_deployment = true;
    }
    if input.is_empty() {
        ServicePlan::InSync
    } else {
        ServicePlan::Update { input, drift }
    }
}

/// The task definition of a deployment that failed (circuit breaker), if any.
pub fn failed_task_definition(service: &ServiceInfo) -> Option<String> {
    service
        .deployments
        .iter()
        .find(|d| d.rollout_state.as_deref() == Some("FAILED"))
        .map(|d| d.task_definition.clone())
}

/// Where a service stands, for the Ready and Progressing conditions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rollout {
    /// The primary deployment is COMPLETED and runs desiredCount tasks.
    Steady,
    /// A deployment is rolling out; the message says how far.
    InProgress(String),
    /// The primary deployment failed (circuit breaker); the message says why.
    Failed(String),
}

/// Read the rollout state of a service from its deployments.
pub fn rollout(service: &ServiceInfo) -> Rollout {
    let Some(primary) = service.deployments.iter().find(|d| d.status == "PRIMARY") else {
        return Rollout::InProgress("no primary deployment yet".into());
    };
    match primary.rollout_state.as_deref() {
        Some("FAILED") => {
            return Rollout::Failed(
                primary
                    .rollout_state_reason
                    .clone()
                    .unwrap_or_else(|| "the deployment failed".into()),
            )
        }
        Some("IN_PROGRESS") => {
            return Rollout::InProgress(format!(
                "deployment {} in progress: {}/{} tasks running",
                primary.id, primary.running_count, primary.desired_count
            ))
        }
        _ => {}
    }
    if service.deployments.len() > 1 {
        return Rollout::InProgress(format!(
            "{} deployments active, waiting for older ones to drain",
            service.deployments.len()
        ));
    }
    if service.running_count != service.desired_count {
        return Rollout::InProgress(format!(
            "{}/{} tasks running",
            service.running_count, service.desired_count
        ));
    }
    Rollout::Steady
}

/// One step of moving a classic ELB to other subnets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubnetStep {
    /// AttachLoadBalancerToSubnets.
    Attach(Vec<String>),
    /// DetachLoadBalancerFromSubnets.
    Detach(Vec<String>),
}

/// What to do with a managed classic ELB that exists.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ElbPlan {
    /// Listeners to create.
    pub create_listeners: Vec<Listener>,
    /// Load balancer ports whose listeners to delete.
    pub delete_listener_ports: Vec<i32>,
    /// Health check to configure.
    pub health_check: Option<ElbHealthCheck>,
    /// Subnet changes, in the order to make them.
    pub subnet_steps: Vec<SubnetStep>,
    /// Security groups to apply (ApplySecurityGroupsToLoadBalancer replaces the whole set).
    pub security_groups: Option<Vec<String>>,
    /// Every difference, AWS value → spec value.
    pub drift: Vec<Drift>,
}

impl ElbPlan {
    /// Whether nothing needs to change.
    pub fn is_empty(&self) -> bool {
        self.create_listeners.is_empty()
            && self.delete_listener_ports.is_empty()
            && self.health_check.is_none()
            && self.subnet_steps.is_empty()
            && self.security_groups.is_none()
    }
}

fn normalize_listener(l: &Listener) -> Listener {
    Listener {
        instance_protocol: Some(l.instance_protocol.unwrap_or(l.protocol)),
        ..l.clone()
    }
}

fn describe_listeners(listeners: &[Listener]) -> String {
    let items: Vec<String> = listeners
        .iter()
        .map(|l| {
            format!(
                "{}:{}→{}:{}",
                l.protocol.as_str(),
                l.load_balancer_port,
                instance_protocol(l).as_str(),
                l.instance_port
            )
        })
        .collect();
    list(&sorted(&items))
}

fn describe_health_check(hc: Option<&ElbHealthCheck>) -> String {
    match hc {
        None => "none".into(),
        Some(h) => format!(
            "{} (interval {}s, timeout {}s, healthy {}, unhealthy {})",
            h.target,
            h.interval_seconds,
            h.timeout_seconds,
            h.healthy_threshold,
            h.unhealthy_threshold
        ),
    }
}

/// The ELB API spelling of a scheme.
pub fn scheme_str(scheme: LoadBalancerScheme) -> &'static str {
    match scheme {
        LoadBalancerScheme::InternetFacing => "internet-facing",
        LoadBalancerScheme::Internal => "internal",
    }
}

/// Subnet steps from `have` to `want`. Detaching first is what works when a subnet is
/// replaced by another in the same Availability Zone (an ELB takes one subnet per zone);
/// but ELB refuses to detach its last subnet, so when none of the current subnets stays,
/// one of them is kept until the new ones are attached.
pub fn subnet_steps(have: &[String], want: &[String]) -> Vec<SubnetStep> {
    let have = sorted(have);
    let want = sorted(want);
    let detach: Vec<String> = have.iter().filter(|s| !want.contains(s)).cloned().collect();
    let attach: Vec<String> = want.iter().filter(|s| !have.contains(s)).cloned().collect();
    let mut steps = Vec::new();
    if detach.len() == have.len() && !detach.is_empty() && !attach.is_empty() {
        let (last, first) = detach
            .split_last()
            .map(|(l, f)| (l.clone(), f.to_vec()))
            .unwrap_or_default();
        if !first.is_empty() {
            steps.push(SubnetStep::Detach(first));
        }
        steps.push(SubnetStep::Attach(attach));
        steps.push(SubnetStep::Detach(vec![last]));
        return steps;
    }
    if !detach.is_empty() {
        steps.push(SubnetStep::Detach(detach));
    }
    if !attach.is_empty() {
        steps.push(SubnetStep::Attach(attach));
    }
    steps
}

/// Changes for an existing managed ELB: listeners (a listener whose settings changed is
/// deleted and created again, ELB keys listeners by port), health check, subnets and
/// security groups. The scheme cannot change on a classic ELB: a different one is the
/// `Err`, with AWS's and the spec's values.
///
/// Not compared, because the spec leaves them to AWS: the health check when the spec has
/// none (ELB's default), the security groups when the spec lists none (the VPC's default
/// group, chosen at creation), a scheme AWS does not report.
pub fn plan_elb(
    spec: &ManagedLoadBalancer,
    observed: &ClassicLoadBalancer,
) -> Result<ElbPlan, FieldChange> {
    let want_scheme = scheme_str(spec.scheme.unwrap_or(LoadBalancerScheme::InternetFacing));
    if let Some(have) = observed.scheme.as_deref() {
        if !have.eq_ignore_ascii_case(want_scheme) {
            return Err(FieldChange::new(
                "loadBalancer.managed.scheme",
                have,
                want_scheme,
            ));
        }
    }
    let want: Vec<Listener> = spec.listeners.iter().map(normalize_listener).collect();
    let have: Vec<Listener> = observed.listeners.iter().map(normalize_listener).collect();
    let mut plan = ElbPlan::default();
    for h in &have {
        if !want.contains(h) {
            plan.delete_listener_ports.push(h.load_balancer_port);
        }
    }
    for w in &want {
        if !have.contains(w) {
            plan.create_listeners.push(w.clone());
        }
    }
    if !plan.create_listeners.is_empty() || !plan.delete_listener_ports.is_empty() {
        plan.drift.push(Drift::new(
            Resource::LoadBalancer,
            "listeners",
            describe_listeners(&have),
            describe_listeners(&want),
        ));
    }
    if let Some(hc) = &spec.health_check {
        if observed.health_check.as_ref() != Some(hc) {
            plan.health_check = Some(hc.clone());
            plan.drift.push(Drift::new(
                Resource::LoadBalancer,
                "healthCheck",
                describe_health_check(observed.health_check.as_ref()),
                describe_health_check(Some(hc)),
            ));
        }
    }
    plan.subnet_steps = subnet_steps(&observed.subnet_ids, &spec.subnet_ids);
    if !plan.subnet_steps.is_empty() {
        plan.drift.push(Drift::new(
            Resource::LoadBalancer,
            "subnetIds",
            list(&sorted(&observed.subnet_ids)),
            list(&sorted(&spec.subnet_ids)),
        ));
    }
    let want_sgs = sorted(&spec.security_group_ids);
    let have_sgs = sorted(&observed.security_group_ids);
    if !want_sgs.is_empty() && want_sgs != have_sgs {
        plan.drift.push(Drift::new(
            Resource::LoadBalancer,
            "securityGroupIds",
            list(&have_sgs),
            list(&want_sgs),
        ));
        plan.security_groups = Some(want_sgs);
    }
    Ok(plan)
}

/// The managed classic ELBs an EcsService may own: those its status records (an older
/// operator recorded only `status.loadBalancer.name`, used while the list is empty) and the
/// one the spec names. An ELB the spec now names as an existing `loadBalancerName` is
/// released: the spec says it lives on its own. Sorted, no duplicates. Only those carrying
/// the object's owner tag are ever deleted.
pub fn owned_elb_candidates(
    recorded: &[String],
    legacy: Option<&str>,
    spec_existing: Option<&str>,
    spec_managed: Option<&str>,
) -> Vec<String> {
    let mut out: BTreeSet<String> = recorded.iter().cloned().collect();
    if recorded.is_empty() {
        out.extend(legacy.map(str::to_string));
    }
    out.extend(spec_managed.map(str::to_string));
    out.into_iter()
        .filter(|n| Some(n.as_str()) != spec_existing)
        .collect()
}

/// Whether a managed ELB the spec no longer names may go, given the ECS service as it is
/// after this sync (`None`: there is none). `Err` says why not yet: the service still
/// routes through it, or a deployment is still in flight, whose old tasks are still
/// registered in it and which ECS may roll back to it.
pub fn stale_elb_deletable(name: &str, service: Option<&ServiceInfo>) -> Result<(), String> {
    let Some(service) = service.filter(|s| s.status != "INACTIVE") else {
        return Ok(());
    };
    if service
        .load_balancers
        .iter()
        .any(|lb| lb.load_balancer_name.as_deref() == Some(name))
    {
        return Err(format!(
            "the ECS service {} still uses classic load balancer {name}",
            service.name
        ));
    }
    let settled = service.deployments.len() <= 1
        && service
            .deployments
            .iter()
            .all(|d| d.rollout_state.as_deref() != Some("IN_PROGRESS"));
    if !settled {
        return Err(format!(
            "waiting for the deployment of ECS service {} to finish before deleting classic \
             load balancer {name}",
            service.name
        ));
    }
    Ok(())
}

/// Default protocol for a listener's instance side.
pub fn instance_protocol(l: &Listener) -> ListenerProtocol {
    l.instance_protocol.unwrap_or(l.protocol)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::service::DeploymentCircuitBreaker;
    use crate::api::task_def::LaunchType;
    use crate::aws::types::Deployment;

    fn desired() -> DesiredService {
        DesiredService {
            create: CreateServiceInput {
                cluster: "c".into(),
                name: "s".into(),
                task_definition: "arn:td/web:2".into(),
                desired_count: 4,
                ..Default::default()
            },
            manage_desired_count: true,
            restart_requested: false,
            failed_task_definition: None,
            last_task_definition: Some("arn:td/web:2".into()),
        }
    }

    fn observed() -> ServiceInfo {
        ServiceInfo {
            name: "s".into(),
            status: "ACTIVE".into(),
            task_definition: "arn:td/web:2".into(),
            desired_count: 4,
            running_count: 4,
            deployment_configuration: Some(DeploymentConfiguration {
                minimum_healthy_percent: Some(100),
                maximum_percent: Some(200),
                deployment_circuit_breaker: Some(DeploymentCircuitBreaker {
                    enable: false,
                    rollback: false,
                }),
            }),
            deployments: vec![Deployment {
                id: "d1".into(),
                status: "PRIMARY".into(),
                task_definition: "arn:td/web:2".into(),
                desired_count: 4,
                running_count: 4,
                rollout_state: Some("COMPLETED".into()),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn absent_or_inactive_service_is_created() {
        assert!(matches!(
            plan_service(&desired(), None),
            ServicePlan::Create(_)
        ));
        let mut inactive = observed();
        inactive.status = "INACTIVE".into();
        assert!(matches!(
            plan_service(&desired(), Some(&inactive)),
            ServicePlan::Create(_)
        ));
        let mut draining = observed();
        draining.status = "DRAINING".into();
        assert_eq!(
            plan_service(&desired(), Some(&draining)),
            ServicePlan::WaitDraining
        );
    }

    #[test]
    fn a_changed_capacity_provider_strategy_forces_a_deployment() {
        use crate::aws::types::StrategyItem;
        let item = |p: &str, weight: i32, base: i32| StrategyItem {
            capacity_provider: p.into(),
            weight,
            base,
        };
        let mut d = desired();
        d.create.capacity_provider_strategy = vec![item("FARGATE", 1, 1), item("c-ec2", 3, 0)];
        let mut o = observed();
        // Same entries in another order: in sync.
        o.capacity_provider_strategy = vec![item("c-ec2", 3, 0), item("FARGATE", 1, 1)];
        assert_eq!(plan_service(&d, Some(&o)), ServicePlan::InSync);
        o.capacity_provider_strategy = vec![item("FARGATE", 1, 1)];
        match plan_service(&d, Some(&o)) {
            ServicePlan::Update { input, drift } => {
                assert_eq!(
                    input.capacity_provider_strategy,
                    Some(d.create.capacity_provider_strategy.clone())
                );
                assert!(input.force_new_deployment, "ECS requires a new deployment");
                assert_eq!(
                    drift,
                    vec![Drift::new(
                        Resource::EcsService,
                        "capacityProviderStrategy",
                        "[FARGATE 1/1]",
                        "[FARGATE 1/1, c-ec2 3/0]"
                    )]
                );
            }
            other => panic!("{other:?}"),
        }
        // No strategy in the spec: whatever ECS chose (the cluster's default) stays.
        assert_eq!(plan_service(&desired(), Some(&o)), ServicePlan::InSync);
    }

    #[test]
    fn matching_service_is_in_sync_despite_aws_defaults() {
        assert_eq!(
            plan_service(&desired(), Some(&observed())),
            ServicePlan::InSync
        );
    }

    #[test]
    fn new_task_definition_rolls_the_service() {
        let mut d = desired();
        d.create.task_definition = "arn:td/web:3".into();
        match plan_service(&d, Some(&observed())) {
            ServicePlan::Update { input, drift } => {
                assert_eq!(input.task_definition.as_deref(), Some("arn:td/web:3"));
                assert_eq!(input.desired_count, None);
                assert!(drift.is_empty(), "a rollout is not drift: {drift:?}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_task_definition_changed_behind_our_back_is_drift() {
        let mut o = observed();
        o.task_definition = "arn:td/web:1".into();
        match plan_service(&desired(), Some(&o)) {
            ServicePlan::Update { input, drift } => {
                assert_eq!(input.task_definition.as_deref(), Some("arn:td/web:2"));
                assert_eq!(
                    drift,
                    vec![Drift::new(
                        Resource::EcsService,
                        "taskDefinition",
                        "web:1",
                        "web:2"
                    )]
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn desired_count_drift_is_corrected_only_when_managed() {
        let mut o = observed();
        o.desired_count = 7;
        match plan_service(&desired(), Some(&o)) {
            ServicePlan::Update { input, drift } => {
                assert_eq!(input.desired_count, Some(4));
                assert_eq!(
                    drift,
                    vec![Drift::new(Resource::EcsService, "desiredCount", "7", "4")]
                );
            }
            other => panic!("{other:?}"),
        }
        let mut unmanaged = desired();
        unmanaged.manage_desired_count = false;
        assert_eq!(plan_service(&unmanaged, Some(&o)), ServicePlan::InSync);
    }

    #[test]
    fn deployment_configuration_compares_only_what_the_spec_sets() {
        let mut d = desired();
        d.create.deployment_configuration = Some(DeploymentConfiguration {
            minimum_healthy_percent: Some(50),
            ..Default::default()
        });
        match plan_service(&d, Some(&observed())) {
            ServicePlan::Update { drift, .. } => assert_eq!(
                drift,
                vec![Drift::new(
                    Resource::EcsService,
                    "deploymentConfiguration.minimumHealthyPercent",
                    "100",
                    "50"
                )]
            ),
            other => panic!("{other:?}"),
        }
        d.create.deployment_configuration = Some(DeploymentConfiguration {
            maximum_percent: Some(200),
            ..Default::default()
        });
        assert_eq!(plan_service(&d, Some(&observed())), ServicePlan::InSync);
    }

    #[test]
    fn restart_forces_a_deployment() {
        let mut d = desired();
        d.restart_requested = true;
        match plan_service(&d, Some(&observed())) {
            ServicePlan::Update { input, drift } => {
                assert!(input.force_new_deployment);
                assert!(drift.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_rolled_back_task_definition_is_not_rolled_out_again() {
        let mut d = desired();
        d.create.task_definition = "arn:td/web:3".into();
        d.failed_task_definition = Some("arn:td/web:3".into());
        assert_eq!(plan_service(&d, Some(&observed())), ServicePlan::InSync);
        // Another revision is rolled out as usual.
        d.failed_task_definition = Some("arn:td/web:9".into());
        assert!(matches!(
            plan_service(&d, Some(&observed())),
            ServicePlan::Update { .. }
        ));
        let mut o = observed();
        o.deployments.push(Deployment {
            status: "ACTIVE".into(),
            task_definition: "arn:td/web:3".into(),
            rollout_state: Some("FAILED".into()),
            ..Default::default()
        });
        assert_eq!(failed_task_definition(&o).as_deref(), Some("arn:td/web:3"));
        assert_eq!(failed_task_definition(&observed()), None);
    }

    #[test]
    fn rollout_states() {
        assert_eq!(rollout(&observed()), Rollout::Steady);
        let mut o = observed();
        o.deployments[0].rollout_state = Some("IN_PROGRESS".into());
        assert!(matches!(rollout(&o), Rollout::InProgress(_)));
        let mut f = observed();
        f.deployments[0].rollout_state = Some("FAILED".into());
        f.deployments[0].rollout_state_reason = Some("tasks failed to start".into());
        assert_eq!(rollout(&f), Rollout::Failed("tasks failed to start".into()));
        let mut two = observed();
        two.deployments.push(Deployment {
            status: "ACTIVE".into(),
            ..Default::default()
        });
        assert!(matches!(rollout(&two), Rollout::InProgress(_)));
        let mut short = observed();
        short.running_count = 3;
        assert!(matches!(rollout(&short), Rollout::InProgress(m) if m.contains("3/4")));
        assert!(matches!(
            rollout(&ServiceInfo::default()),
            Rollout::InProgress(_)
        ));
    }

    fn listener(port: i32, instance: i32) -> Listener {
        Listener {
            protocol: ListenerProtocol::Http,
            load_balancer_port: port,
            instance_port: instance,
            instance_protocol: None,
        }
    }

    #[test]
    fn elb_listener_and_health_check_changes() {
        let hc = ElbHealthCheck {
            target: "HTTP:80/".into(),
            interval_seconds: 30,
            timeout_seconds: 5,
            healthy_threshold: 10,
            unhealthy_threshold: 2,
        };
        let spec = ManagedLoadBalancer {
            subnet_ids: vec!["s".into()],
            listeners: vec![listener(80, 80)],
            health_check: Some(hc.clone()),
            ..Default::default()
        };
        let mut observed = ClassicLoadBalancer {
            name: "lb".into(),
            dns_name: None,
            scheme: None,
            listeners: vec![Listener {
                instance_protocol: Some(ListenerProtocol::Http),
                ..listener(80, 80)
            }],
            health_check: Some(hc.clone()),
            subnet_ids: vec!["s".into()],
            security_group_ids: vec!["sg-default".into()],
        };
        assert!(
            plan_elb(&spec, &observed).unwrap().is_empty(),
            "defaulted instance protocol matches; no security groups in the spec are AWS's"
        );
        observed.listeners = vec![listener(80, 8080), listener(81, 81)];
        observed.health_check = None;
        let plan = plan_elb(&spec, &observed).unwrap();
        assert_eq!(plan.delete_listener_ports, vec![80, 81]);
        assert_eq!(
            plan.create_listeners,
            vec![Listener {
                instance_protocol: Some(ListenerProtocol::Http),
                ..listener(80, 80)
            }]
        );
        assert_eq!(plan.health_check, Some(hc));
        assert_eq!(
            plan.drift,
            vec![
                Drift::new(
                    Resource::LoadBalancer,
                    "listeners",
                    "[HTTP:80→HTTP:8080, HTTP:81→HTTP:81]",
                    "[HTTP:80→HTTP:80]"
                ),
                Drift::new(
                    Resource::LoadBalancer,
                    "healthCheck",
                    "none",
                    "HTTP:80/ (interval 30s, timeout 5s, healthy 10, unhealthy 2)"
                ),
            ]
        );
    }

    fn elb(subnets: &[&str], sgs: &[&str]) -> (ManagedLoadBalancer, ClassicLoadBalancer) {
        let spec = ManagedLoadBalancer {
            subnet_ids: strings(subnets),
            security_group_ids: strings(sgs),
            listeners: vec![listener(80, 80)],
            ..Default::default()
        };
        let observed = ClassicLoadBalancer {
            name: "lb".into(),
            dns_name: None,
            scheme: Some("internet-facing".into()),
            listeners: vec![listener(80, 80)],
            health_check: None,
            subnet_ids: strings(subnets),
            security_group_ids: strings(sgs),
        };
        (spec, observed)
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn elb_subnet_and_security_group_drift_is_planned_with_old_and_new_values() {
        let (spec, mut observed) = elb(&["subnet-a", "subnet-b"], &["sg-1"]);
        assert!(plan_elb(&spec, &observed).unwrap().is_empty());
        // Order does not matter.
        observed.subnet_ids = strings(&["subnet-b", "subnet-a"]);
        assert!(plan_elb(&spec, &observed).unwrap().is_empty());

        observed.subnet_ids = strings(&["subnet-a", "subnet-c"]);
        observed.security_group_ids = strings(&["sg-2", "sg-1"]);
        let plan = plan_elb(&spec, &observed).unwrap();
        assert_eq!(
            plan.subnet_steps,
            vec![
                SubnetStep::Detach(strings(&["subnet-c"])),
                SubnetStep::Attach(strings(&["subnet-b"])),
            ]
        );
        assert_eq!(plan.security_groups, Some(strings(&["sg-1"])));
        assert_eq!(
            plan.drift,
            vec![
                Drift::new(
                    Resource::LoadBalancer,
                    "subnetIds",
                    "[subnet-a, subnet-c]",
                    "[subnet-a, subnet-b]"
                ),
                Drift::new(
                    Resource::LoadBalancer,
                    "securityGroupIds",
                    "[sg-1, sg-2]",
                    "[sg-1]"
                ),
            ]
        );
        assert!(!plan.is_empty());
    }

    #[test]
    fn elb_security_groups_left_out_of_the_spec_are_not_managed() {
        let (spec, mut observed) = elb(&["subnet-a"], &[]);
        observed.security_group_ids = strings(&["sg-default-elb"]);
        assert!(plan_elb(&spec, &observed).unwrap().is_empty());
    }

    #[test]
    fn subnets_are_detached_first_but_never_all_at_once() {
        let s = strings;
        assert_eq!(subnet_steps(&s(&["a", "b"]), &s(&["a", "b"])), vec![]);
        assert_eq!(
            subnet_steps(&s(&["a"]), &s(&["a", "b"])),
            vec![SubnetStep::Attach(s(&["b"]))]
        );
        assert_eq!(
            subnet_steps(&s(&["a", "b"]), &s(&["b"])),
            vec![SubnetStep::Detach(s(&["a"]))]
        );
        // Same zone swap of one of two: detach first (ELB takes one subnet per zone).
        assert_eq!(
            subnet_steps(&s(&["a1", "b1"]), &s(&["a2", "b1"])),
            vec![
                SubnetStep::Detach(s(&["a1"])),
                SubnetStep::Attach(s(&["a2"]))
            ]
        );
        // Every subnet replaced: keep one until the new ones are attached.
        assert_eq!(
            subnet_steps(&s(&["a1", "b1"]), &s(&["c1"])),
            vec![
                SubnetStep::Detach(s(&["a1"])),
                SubnetStep::Attach(s(&["c1"])),
                SubnetStep::Detach(s(&["b1"])),
            ]
        );
        assert_eq!(
            subnet_steps(&s(&["a1"]), &s(&["c1"])),
            vec![
                SubnetStep::Attach(s(&["c1"])),
                SubnetStep::Detach(s(&["a1"])),
            ]
        );
    }

    #[test]
    fn elb_scheme_cannot_change() {
        let (mut spec, mut observed) = elb(&["subnet-a"], &[]);
        // Absent in the spec is internet-facing.
        assert!(plan_elb(&spec, &observed).is_ok());
        spec.scheme = Some(LoadBalancerScheme::Internal);
        assert_eq!(
            plan_elb(&spec, &observed),
            Err(FieldChange::new(
                "loadBalancer.managed.scheme",
                "internet-facing",
                "internal"
            ))
        );
        observed.scheme = Some("internal".into());
        assert!(plan_elb(&spec, &observed).is_ok());
        observed.scheme = None;
        assert!(
            plan_elb(&spec, &observed).is_ok(),
            "not reported: not compared"
        );
    }

    fn lb_ref(name: Option<&str>, tg: Option<&str>, port: i32) -> ServiceLoadBalancerRef {
        ServiceLoadBalancerRef {
            load_balancer_name: name.map(str::to_string),
            target_group_arn: tg.map(str::to_string),
            container_name: "web".into(),
            container_port: port,
        }
    }

    #[test]
    fn load_balancer_changes_are_reconciled_through_update_service() {
        let mut d = desired();
        d.create.load_balancers = vec![lb_ref(Some("new-elb"), None, 5000)];
        let mut o = observed();
        o.load_balancers = vec![lb_ref(Some("new-elb"), None, 5000)];
        assert_eq!(plan_service(&d, Some(&o)), ServicePlan::InSync);

        for have in [
            vec![lb_ref(Some("old-elb"), None, 5000)],
            vec![lb_ref(Some("new-elb"), None, 8080)],
            vec![lb_ref(None, Some("arn:tg"), 5000)],
            vec![],
        ] {
            o.load_balancers = have.clone();
            match plan_service(&d, Some(&o)) {
                ServicePlan::Update { input, drift } => {
                    assert_eq!(
                        input.load_balancers,
                        Some(vec![lb_ref(Some("new-elb"), None, 5000)])
                    );
                    assert_eq!(
                        drift,
                        vec![Drift::new(
                            Resource::EcsService,
                            "loadBalancers",
                            describe_load_balancers(&have),
                            "[new-elb → web:5000]"
                        )],
                        "{have:?}"
                    );
                }
                other => panic!("{have:?}: {other:?}"),
            }
        }
        // The load balancer dropped from the spec: an empty list detaches the service.
        d.create.load_balancers = vec![];
        o.load_balancers = vec![lb_ref(Some("old-elb"), None, 5000)];
        match plan_service(&d, Some(&o)) {
            ServicePlan::Update { input, .. } => assert_eq!(input.load_balancers, Some(vec![])),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            describe_load_balancers(&[lb_ref(Some("b"), None, 1), lb_ref(None, Some("arn:tg"), 2)]),
            "[arn:tg → web:2, b → web:1]"
        );
    }

    #[test]
    fn launch_type_and_role_differences_cannot_be_updated() {
        let mut d = desired();
        d.create.launch_type = Some(LaunchType::Ec2);
        d.create.role = Some("ecs-service-role".into());
        let mut o = observed();
        o.launch_type = Some("EC2".into());
        o.role_arn = Some("arn:aws:iam::123456789012:role/ecs-service-role".into());
        assert_eq!(plan_service(&d, Some(&o)), ServicePlan::InSync);
        // A role with a path, named with or without it; moto echoes the argument.
        o.role_arn = Some("arn:aws:iam::123456789012:role/service/ecs-service-role".into());
        assert_eq!(plan_service(&d, Some(&o)), ServicePlan::InSync);
        d.create.role = Some("service/ecs-service-role".into());
        assert_eq!(plan_service(&d, Some(&o)), ServicePlan::InSync);
        d.create.role = Some("ecs-service-role".into());
        o.role_arn = Some("ecs-service-role".into());
        assert_eq!(plan_service(&d, Some(&o)), ServicePlan::InSync);

        o.launch_type = Some("FARGATE".into());
        o.role_arn = Some("arn:aws:iam::123456789012:role/other-role".into());
        assert_eq!(
            plan_service(&d, Some(&o)),
            ServicePlan::Immutable(vec![
                FieldChange::new("launchType", "FARGATE", "EC2"),
                FieldChange::new(
                    "role",
                    "arn:aws:iam::123456789012:role/other-role",
                    "ecs-service-role"
                ),
            ])
        );
        // Left to ECS in the spec, or not reported by ECS: not compared.
        d.create.launch_type = None;
        d.create.role = None;
        assert_eq!(plan_service(&d, Some(&o)), ServicePlan::InSync);
        let mut d = desired();
        d.create.launch_type = Some(LaunchType::Ec2);
        let mut o = observed();
        o.launch_type = None;
        assert_eq!(plan_service(&d, Some(&o)), ServicePlan::InSync);
        // An ARN in the spec must be the ARN.
        assert!(!role_matches(
            "arn:aws:iam::1:role/a",
            "arn:aws:iam::1:role/x/a"
        ));
    }

    fn cluster(arn: Option<&str>, ecs_status: Option<&str>, ready: Option<&str>) -> EcsCluster {
        use crate::api::cluster::{EcsClusterSpec, EcsClusterStatus};
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
        let mut c = EcsCluster::new("c", EcsClusterSpec::default());
        c.metadata.generation = Some(2);
        let conditions = ready
            .map(|status| {
                vec![Condition {
                    type_: "Ready".into(),
                    status: status.into(),
                    reason: "ScalingCapacity".into(),
                    message: "3/5 instances in service".into(),
                    observed_generation: Some(2),
                    last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
                }]
            })
            .unwrap_or_default();
        c.status = Some(EcsClusterStatus {
            cluster_arn: arn.map(str::to_string),
            cluster_status: ecs_status.map(str::to_string),
            common: crate::api::common::CommonStatus {
                observed_generation: Some(2),
                conditions,
            },
            ..Default::default()
        });
        c
    }

    #[test]
    fn a_cluster_short_of_capacity_takes_deploys_once_ecs_says_active() {
        let arn = "arn:aws:ecs:us-east-1:1:cluster/c";
        assert_eq!(
            cluster_usable(&cluster(Some(arn), Some("ACTIVE"), Some("False"))),
            Ok(arn.to_string()),
            "Ready=False for capacity must not block"
        );
        assert_eq!(
            cluster_usable(&cluster(Some(arn), Some("ACTIVE"), Some("True"))),
            Ok(arn.to_string())
        );
        assert_eq!(
            cluster_usable(&cluster(Some(arn), Some("PROVISIONING"), Some("False"))),
            Err("the ECS cluster of EcsCluster c is PROVISIONING".into())
        );
        assert_eq!(
            cluster_usable(&cluster(None, None, None)),
            Err("EcsCluster c has no ECS cluster yet".into())
        );
        let mut deleting = cluster(Some(arn), Some("ACTIVE"), Some("True"));
        deleting.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH),
        );
        assert_eq!(
            cluster_usable(&deleting),
            Err("EcsCluster c is being deleted".into())
        );
        // Status written before clusterStatus existed: Ready=True still counts.
        assert_eq!(
            cluster_usable(&cluster(Some(arn), None, Some("True"))),
            Ok(arn.to_string())
        );
        assert!(cluster_usable(&cluster(Some(arn), None, Some("False"))).is_err());
    }

    #[test]
    fn owned_elbs_come_from_status_and_spec() {
        let s = strings;
        assert_eq!(
            owned_elb_candidates(&s(&["old"]), Some("old"), None, Some("new")),
            s(&["new", "old"])
        );
        // An older operator only recorded status.loadBalancer.name.
        assert_eq!(
            owned_elb_candidates(&[], Some("old"), None, Some("new")),
            s(&["new", "old"])
        );
        // ... which is not ours to consider when the spec names it as an existing ELB.
        assert_eq!(
            owned_elb_candidates(&[], Some("shared"), Some("shared"), None),
            Vec::<String>::new()
        );
        // A managed ELB the spec now names as an existing one is released.
        assert_eq!(
            owned_elb_candidates(&s(&["mine"]), Some("mine"), Some("mine"), None),
            Vec::<String>::new()
        );
        // Once the list exists, it alone is the record.
        assert_eq!(
            owned_elb_candidates(&s(&["new"]), Some("shared"), None, Some("new")),
            s(&["new"])
        );
    }

    #[test]
    fn a_stale_elb_goes_once_the_service_no_longer_uses_it_and_its_deployment_settled() {
        assert_eq!(stale_elb_deletable("old", None), Ok(()));
        let mut s = observed();
        s.load_balancers = vec![lb_ref(Some("old"), None, 5000)];
        assert!(stale_elb_deletable("old", Some(&s))
            .unwrap_err()
            .contains("still uses"));
        s.load_balancers = vec![lb_ref(Some("new"), None, 5000)];
        s.deployments[0].rollout_state = Some("IN_PROGRESS".into());
        assert!(stale_elb_deletable("old", Some(&s))
            .unwrap_err()
            .contains("deployment"));
        s.deployments[0].rollout_state = Some("COMPLETED".into());
        s.deployments.push(Deployment {
            status: "ACTIVE".into(),
            ..Default::default()
        });
        assert!(
            stale_elb_deletable("old", Some(&s)).is_err(),
            "old tasks drain"
        );
        s.deployments.pop();
        assert_eq!(stale_elb_deletable("old", Some(&s)), Ok(()));
        s.status = "INACTIVE".into();
        s.load_balancers = vec![lb_ref(Some("old"), None, 5000)];
        assert_eq!(stale_elb_deletable("old", Some(&s)), Ok(()));
    }
}
