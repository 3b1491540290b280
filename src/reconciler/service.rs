//! EcsService against ECS, classic ELB and ELBv2: the managed ELB or target group (with
//! its listener rule) first, then the service; on deletion the reverse.

use std::time::Duration;

use async_trait::async_trait;
use kube::ResourceExt;
use sha2::{Digest, Sha256};

use super::autoscaling::{remove_scaling, sync_scaling, ScalingSync};
use super::conditions::{Cond, PROGRESSING, READY};
use super::error::Error;
use super::managed::{
    AwsContext, Cleanup, HasCommonStatus, ManagedResource, Note, Readiness, Synced,
};
use super::preflight;
use super::stores::Stores;
use super::target_group::{delete_target_group, retire_target_groups, sync_target_group};
use crate::api::common::{CommonSpec, CommonStatus, RESTARTED_AT_ANNOTATION};
use crate::api::service::{
    DeploymentStatus, EcsService, EcsServiceStatus, LoadBalancerScheme, LoadBalancerStatus,
    ManagedLoadBalancer, ServiceEventStatus,
};
use crate::aws::types::{
    CreateLoadBalancerInput, CreateServiceInput, ServiceInfo, ServiceLoadBalancerRef, Tags,
    UpdateServiceInput, SERVICE_EVENTS_KEPT,
};
use crate::aws::DESCRIBE_SERVICES_MAX;
use crate::planning::autoscaling::ServiceTargetGroup;
use crate::planning::autoscaling::{initial_desired_count, manages_desired_count};
use crate::planning::drift::{self, Drift, Resource};
use crate::planning::ownership::{
    applied_tag_keys, desired_tags, tags_to_remove, tags_to_set, OWNER_TAG,
};
use crate::planning::preflight as preflight_plan;
use crate::planning::service::{
    cluster_usable, describe_changes, failed_task_definition, owned_elb_candidates, plan_elb,
    plan_service, rollout, stale_elb_deletable, DesiredService, Rollout, ServicePlan, SubnetStep,
};

/// A rolling service read this recently is not taken along in another's read again.
const PEER_MIN_AGE: Duration = Duration::from_secs(1);

/// What an EcsService needs from Kubernetes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceDeps {
    /// Cluster name or ARN for ECS calls.
    pub cluster: String,
    /// Task definition: an ARN, or `family:revision` to resolve in ECS.
    pub task_definition: String,
}

/// What deleting an EcsService needs from Kubernetes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceCleanupDeps {
    /// The ECS cluster of a clusterRef, for when status does not record it.
    pub cluster: Option<String>,
}

impl HasCommonStatus for EcsServiceStatus {
    fn common_mut(&mut self) -> &mut CommonStatus {
        &mut self.common
    }
    fn common(&self) -> &CommonStatus {
        &self.common
    }
}

fn is_ready<K: kube::Resource>(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    obj: &K,
) -> bool {
    conditions.iter().any(|c| {
        c.type_ == READY && c.status == "True" && c.observed_generation == obj.meta().generation
    })
}

impl EcsService {
    /// Name of the managed classic ELB, if the spec asks for one.
    pub fn managed_elb(&self) -> Option<(String, &ManagedLoadBalancer)> {
        let managed = self.spec.load_balancer.as_ref()?.managed.as_ref()?;
        Some((
            managed.name.clone().unwrap_or_else(|| self.service_name()),
            managed,
        ))
    }

    /// The managed classic ELBs this object may own (see [`owned_elb_candidates`]).
    fn owned_elb_candidates(&self) -> Vec<String> {
        let status = self.status.as_ref();
        owned_elb_candidates(
            status
                .map(|s| s.managed_load_balancers.as_slice())
                .unwrap_or_default(),
            // A managed target group's name is no classic ELB: not looked for.
            status
                .and_then(|s| s.load_balancer.as_ref())
                .filter(|l| l.target_group_arn.is_none())
                .map(|l| l.name.as_str()),
            self.spec
                .load_balancer
                .as_ref()
                .and_then(|l| l.load_balancer_name.as_deref()),
            self.managed_elb().map(|(n, _)| n).as_deref(),
        )
    }

    /// The load balancer the spec names or manages, made to match it (a managed classic
    /// ELB, or a managed target group with its listener rule): what status reports of it,
    /// and the references ECS gets.
    async fn sync_load_balancing(
        &self,
        name: &str,
        tags: &Tags,
        applied: &[String],
        cx: &AwsContext,
        notes: &mut Vec<Note>,
        corrected: &mut Vec<Drift>,
    ) -> Result<(Option<LoadBalancerStatus>, Vec<ServiceLoadBalancerRef>), Error> {
        let mut lb_status = None;
        let mut service_lbs = Vec::new();
        if let Some(lb) = &self.spec.load_balancer {
            let mut lb_ref = ServiceLoadBalancerRef {
                load_balancer_name: None,
                target_group_arn: lb.target_group_arn.clone(),
                container_name: lb.container_name.clone(),
                container_port: lb.container_port,
            };
            if let Some((elb_name, managed)) = self.managed_elb() {
                if elb_name.len() > 32 {
                    return Err(Error::InvalidSpec(format!(
                        "classic ELB name {elb_name} is longer than 32 characters; set loadBalancer.managed.name"
                    )));
                }
                let dns = sync_managed_elb(&elb_name, managed, tags, applied, cx, notes, corrected)
                    .await?;
                lb_status = Some(LoadBalancerStatus {
                    name: elb_name.clone(),
                    dns_name: dns,
                    ..Default::default()
                });
                lb_ref.load_balancer_name = Some(elb_name);
            } else if let Some(spec) = &lb.managed_target_group {
                // Group and rule before the service: ECS refuses a target group that no
                // load balancer forwards to.
                let want = crate::planning::target_group::desired(
                    spec,
                    name,
                    lb.container_port,
                    self.spec.network_configuration.is_some(),
                )
                .map_err(Error::InvalidSpec)?;
                let synced = sync_target_group(&want, tags, applied, cx, notes, corrected).await?;
                // The ALB's DNS name for status (the URL column): read once per target
                // group, then carried over; status only, so a failed read is no error.
                let known_dns = self
                    .status
                    .as_ref()
                    .and_then(|s| s.load_balancer.as_ref())
                    .filter(|l| l.target_group_arn.as_deref() == Some(synced.arn.as_str()))
                    .and_then(|l| l.dns_name.clone());
                let dns_name = match known_dns {
                    Some(d) => Some(d),
                    None => match crate::planning::target_group::load_balancer_arn_of_listener(
                        &want.listener_arn,
                    ) {
                        Some(arn) => cx
                            .aws
                            .elbv2
                            .describe_load_balancer(&arn)
                            .await
                            .ok()
                            .flatten()
                            .and_then(|lb| lb.dns_name),
                        None => None,
                    },
                };
                lb_status = Some(LoadBalancerStatus {
                    name: want.name,
                    dns_name,
                    target_group_arn: Some(synced.arn.clone()),
                    listener_rule_arn: Some(synced.rule_arn),
                });
                lb_ref.target_group_arn = Some(synced.arn);
            } else if let Some(existing) = &lb.load_balancer_name {
                let found = cx
                    .aws
                    .elb
                    .describe_load_balancer(existing)
                    .await?
                    .ok_or_else(|| {
                        Error::WaitingForDependency(format!(
                            "classic load balancer {existing} not found"
                        ))
                    })?;
                lb_status = Some(LoadBalancerStatus {
                    name: existing.clone(),
                    dns_name: found.dns_name,
                    ..Default::default()
                });
                lb_ref.load_balancer_name = Some(existing.clone());
            }
            service_lbs.push(lb_ref);
        }
        Ok((lb_status, service_lbs))
    }

    fn client_token(&self) -> String {
        // Same object and generation → same token: a create retried after a crash cannot
        // make a second service.
        let seed = format!(
            "{}/{}",
            self.uid().unwrap_or_default(),
            self.metadata.generation.unwrap_or(0)
        );
        let digest = Sha256::digest(seed.as_bytes());
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }
}

#[allow(clippy::too_many_arguments)] // each is a different input of one ELB sync
async fn sync_managed_elb(
    name: &str,
    spec: &ManagedLoadBalancer,
    tags: &Tags,
    applied: &[String],
    cx: &AwsContext,
    notes: &mut Vec<Note>,
    corrected: &mut Vec<Drift>,
) -> Result<Option<String>, Error> {
    let elb = &cx.aws.elb;
    // A resync of a converged service reads what the last sweep saw of its ELB; anything
    // else (and an ELB the sweep did not see) is read directly.
    let swept = cx.swept(|seen, age| seen.elb(name, age));
    let (found, swept_tags) = match swept {
        Some((lb, tags)) => (Some(lb), Some(tags)),
        None => (elb.describe_load_balancer(name).await?, None),
    };
    match found {
        None => {
            let dns = elb
                .create_load_balancer(&CreateLoadBalancerInput {
                    name: name.to_string(),
                    scheme: spec.scheme.unwrap_or(LoadBalancerScheme::InternetFacing),
                    subnet_ids: spec.subnet_ids.clone(),
                    security_group_ids: spec.security_group_ids.clone(),
                    listeners: spec.listeners.clone(),
                    tags: tags.clone(),
                })
                .await?;
            if let Some(hc) = &spec.health_check {
                elb.configure_health_check(name, hc).await?;
            }
            notes.push(Note::normal(
                "Created",
                format!("created classic load balancer {name}"),
            ));
            Ok(dns)
        }
        Some(observed) => {
            let current_tags = match swept_tags {
                Some(tags) => tags,
                None => elb.describe_tags(name).await?,
            };
            cx.claim(
                &format!("classic load balancer {name}"),
                &current_tags,
                notes,
            )?;
            // Removals first: a classic ELB takes at most 10 tags, so replacing a key at the
            // limit needs the old one gone before the new one is added.
            let stale = tags_to_remove(&current_tags, tags, applied);
            if !stale.is_empty() {
                elb.remove_tags(name, &stale).await?;
            }
            let missing = tags_to_set(&current_tags, tags);
            if !missing.is_empty() {
                elb.add_tags(name, &missing).await?;
            }
            corrected.extend(drift::tags(
                Resource::LoadBalancer,
                &current_tags,
                &stale,
                &missing,
            ));
            let p = plan_elb(spec, &observed).map_err(|scheme| {
                Error::InvalidSpec(format!(
                    "classic load balancer {name} differs from the spec: {scheme}, and a classic \
                     ELB cannot change its scheme: give loadBalancer.managed a new name to \
                     replace it, or delete and recreate the EcsService"
                ))
            })?;
            if !p.delete_listener_ports.is_empty() {
                elb.delete_listeners(name, &p.delete_listener_ports).await?;
            }
            if !p.create_listeners.is_empty() {
                elb.create_listeners(name, &p.create_listeners).await?;
            }
            if let Some(hc) = &p.health_check {
                elb.configure_health_check(name, hc).await?;
            }
            for step in &p.subnet_steps {
                match step {
                    SubnetStep::Attach(subnets) => elb.attach_subnets(name, subnets).await?,
                    SubnetStep::Detach(subnets) => elb.detach_subnets(name, subnets).await?,
                }
            }
            if let Some(groups) = &p.security_groups {
                elb.apply_security_groups(name, groups).await?;
            }
            if !p.is_empty() || !stale.is_empty() || !missing.is_empty() {
                // Changed just now: the next resync reads it again.
                cx.seen.forget_elb(name);
            }
            corrected.extend(p.drift);
            Ok(observed.dns_name)
        }
    }
}

/// Settle the managed classic ELBs this object may own (`candidates`): `keep` is the spec's
/// and stays; of the others, one that is gone or does not carry this object's owner tag is
/// no longer recorded (and never deleted); one of ours is deleted once the ECS service (as
/// it is after this sync; `None` when it is gone) no longer needs it. Returns the ones this
/// object still owns, for status.
async fn settle_owned_elbs(
    candidates: Vec<String>,
    keep: Option<&str>,
    service: Option<&ServiceInfo>,
    cx: &AwsContext,
    notes: &mut Vec<Note>,
) -> Result<Vec<String>, Error> {
    let elb = &cx.aws.elb;
    let mut owned = Vec::new();
    for name in candidates {
        if Some(name.as_str()) == keep {
            owned.push(name);
            continue;
        }
        if elb.describe_load_balancer(&name).await?.is_none() {
            continue;
        }
        let tags = match elb.describe_tags(&name).await {
            Ok(t) => t,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        };
        if tags.get(OWNER_TAG) != Some(&cx.owner) {
            notes.push(Note::normal(
                "Released",
                format!("classic load balancer {name} is not owned by this object: left in place"),
            ));
            continue;
        }
        if stale_elb_deletable(&name, service).is_err() {
            owned.push(name);
            continue;
        }
        elb.delete_load_balancer(&name).await?;
        cx.seen.forget_elb(&name);
        notes.push(Note::normal(
            "Deleted",
            format!("deleted classic load balancer {name}, which the service no longer uses"),
        ));
    }
    Ok(owned)
}

fn status_from(
    service: &ServiceInfo,
    cluster_name: Option<String>,
    lb: Option<LoadBalancerStatus>,
    restarted_at: Option<String>,
) -> EcsServiceStatus {
    let mut deployments: Vec<DeploymentStatus> = service
        .deployments
        .iter()
        .map(|d| DeploymentStatus {
            id: d.id.clone(),
            status: d.status.clone(),
            task_definition: d.task_definition.clone(),
            desired_count: d.desired_count,
            running_count: d.running_count,
            pending_count: d.pending_count,
            rollout_state: d.rollout_state.clone(),
            updated_at: d.updated_at.clone(),
        })
        .collect();
    deployments.sort_by_key(|d| d.status != "PRIMARY");
    let primary = deployments.first();
    // ECS defines the service's taskDefinition as the one its PRIMARY deployment runs.
    let task_definition_arn = Some(service.task_definition.clone()).filter(|t| !t.is_empty());
    EcsServiceStatus {
        failed_task_definition: None,
        common: Default::default(),
        service_arn: Some(service.arn.clone()),
        cluster_arn: Some(service.cluster_arn.clone()),
        cluster_name,
        task_definition: task_definition_arn
            .as_deref()
            .and_then(|a| a.rsplit('/').next())
            .map(str::to_string),
        task_definition_arn,
        desired_count: Some(service.desired_count),
        running_count: Some(service.running_count),
        pending_count: Some(service.pending_count),
        rollout_state: primary.and_then(|d| d.rollout_state.clone()),
        deployments,
        load_balancer: lb,
        events: service
            .events
            .iter()
            .take(SERVICE_EVENTS_KEPT)
            .map(|e| ServiceEventStatus {
                created_at: e.created_at.clone(),
                message: e.message.clone(),
            })
            .collect(),
        restarted_at,
        applied_tag_keys: Vec::new(),
        managed_load_balancers: Vec::new(),
        retired_target_groups: Vec::new(),
        auto_scaling: None,
    }
}

/// The task definition `reference` (an ARN, or `family:revision`) as an ARN, the form ECS
/// reports back.
async fn task_definition_arn(reference: &str, cx: &AwsContext) -> Result<String, Error> {
    if reference.starts_with("arn:") {
        return Ok(reference.to_string());
    }
    cx.aws
        .ecs
        .describe_task_definition(reference)
        .await?
        .map(|t| t.arn)
        .ok_or_else(|| Error::InvalidSpec(format!("task definition {reference} does not exist")))
}

/// The ECS service as it is, read as cheaply as what asks allows: a resync of a converged
/// service takes what the last sweep saw, a new service is looked for in one listing of
/// its cluster, anything else is read directly (with rolling peers riding along).
async fn observe_service(
    cluster: &str,
    name: &str,
    never_created: bool,
    cx: &AwsContext,
) -> Result<Option<ServiceInfo>, Error> {
    let swept = cx
        .swept(|seen, age| seen.service(cluster, name, age))
        // A re-check of a rollout also takes what a sweep or another service's read
        // saw since it last looked: its own read would tell no more.
        .or_else(|| {
            cx.rechecking()
                .then(|| cx.seen.service_news(cluster, name, cx.seen_max_age))
                .flatten()
        })
        .filter(|s| s.status != "INACTIVE");
    if swept.is_some() {
        cx.seen.mark_looked(cluster, name);
    }
    // A service never created as far as status knows is looked for in a listing of
    // its cluster (one per cluster and resync period, shared by every new service)
    // instead of one read each; anything the listing cannot rule out is read.
    let known_absent = match cx.writer_since {
        Some(since) if swept.is_none() && never_created => {
            cx.seen
                .ensure_listed(cx.aws.ecs.as_ref(), cluster, since, cx.seen_max_age)
                .await?;
            cx.seen.known_absent(cluster, name, since, cx.seen_max_age)
        }
        _ => false,
    };
    Ok(match swept {
        Some(s) => Some(s),
        None if known_absent => None,
        None => {
            // Other services of the cluster still rolling ride along in the call, so
            // their own re-checks read what it saw.
            let mut names = vec![name.to_string()];
            names.extend(cx.seen.peers(
                cluster,
                name,
                DESCRIBE_SERVICES_MAX - 1,
                PEER_MIN_AGE,
                |s| s.status == "ACTIVE" && !matches!(rollout(s), Rollout::Steady),
            ));
            let mut found = None;
            for s in cx.aws.ecs.describe_services(cluster, &names).await? {
                // An INACTIVE one is the remains of a deleted service of the same name.
                if s.status == "INACTIVE" {
                    continue;
                }
                if s.name == name {
                    cx.seen.record_service(cluster, &s);
                    found = Some(s);
                } else {
                    cx.seen.record_read(cluster, &s);
                }
            }
            found
        }
    })
}

/// Readiness and the Progressing condition of a service in rollout `state`.
fn readiness(state: Rollout, service: &ServiceInfo) -> (Readiness, Cond) {
    match state {
        Rollout::Steady => (
            Readiness::Ready(format!(
                "{}/{} tasks running, deployment completed",
                service.running_count, service.desired_count
            )),
            Cond::no(
                PROGRESSING,
                "DeploymentCompleted",
                "no deployment in progress",
            ),
        ),
        Rollout::InProgress(m) => (
            Readiness::NotReady {
                reason: "DeploymentInProgress",
                message: m.clone(),
                recheck: Duration::from_secs(5),
            },
            Cond::yes(PROGRESSING, "DeploymentInProgress", m),
        ),
        Rollout::Failed(m) => (
            Readiness::NotReady {
                reason: "DeploymentFailed",
                message: m.clone(),
                recheck: Duration::from_secs(30),
            },
            Cond::no(PROGRESSING, "DeploymentFailed", m),
        ),
    }
}

#[async_trait]
impl ManagedResource for EcsService {
    type Status = EcsServiceStatus;
    type Deps = ServiceDeps;
    type CleanupDeps = ServiceCleanupDeps;
    const KIND: &'static str = "EcsService";

    fn common_spec(&self) -> &dyn CommonSpec {
        &self.spec
    }
    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }

    async fn dereference(&self, stores: &Stores) -> Result<ServiceDeps, Error> {
        let ns = self.namespace().unwrap_or_default();
        let cluster = match (&self.spec.cluster, &self.spec.cluster_ref) {
            (Some(c), _) => c.clone(),
            (None, Some(r)) => {
                let c = stores.cluster(&ns, &r.name)?.ok_or_else(|| {
                    Error::WaitingForObject(format!("EcsCluster {} not found", r.name))
                })?;
                // Only the ECS cluster itself counts, not its capacity: see cluster_usable.
                cluster_usable(&c).map_err(Error::WaitingForObject)?
            }
            (None, None) => return Err(Error::InvalidSpec("set clusterRef or cluster".into())),
        };
        let task_definition = match (&self.spec.task_definition, &self.spec.task_def_ref) {
            (Some(t), _) => t.clone(),
            (None, Some(r)) => {
                let td = stores.task_def(&ns, &r.name)?.ok_or_else(|| {
                    Error::WaitingForObject(format!("EcsTaskDef {} not found", r.name))
                })?;
                let status = td.status.as_ref();
                let ready = status.is_some_and(|s| is_ready(&s.common.conditions, td.as_ref()));
                match (
                    r.revision,
                    status.and_then(|s| s.task_definition_arn.clone()),
                ) {
                    (Some(rev), _) => format!("{}:{rev}", td.family()),
                    (None, Some(arn)) if ready => arn,
                    _ => {
                        return Err(Error::WaitingForObject(format!(
                            "EcsTaskDef {} has no Ready revision for its current spec yet",
                            r.name
                        )))
                    }
                }
            }
            (None, None) => {
                return Err(Error::InvalidSpec(
                    "set taskDefRef or taskDefinition".into(),
                ))
            }
        };
        Ok(ServiceDeps {
            cluster,
            task_definition,
        })
    }

    async fn sync(
        &self,
        deps: &ServiceDeps,
        cx: &AwsContext,
    ) -> Result<Synced<EcsServiceStatus>, Error> {
        let name = self.service_name();
        let tags = desired_tags(&cx.owner, &self.spec.tags);
        // User tag keys an earlier sync applied: the only ones this sync may take away.
        let applied = self
            .status
            .as_ref()
            .map(|s| s.applied_tag_keys.as_slice())
            .unwrap_or_default();
        let mut notes = Vec::new();
        let mut corrected = Vec::new();
        // Subnets, security groups and the role exist (and share a VPC) before the ELB and
        // the service are made.
        if preflight::due(self, cx) {
            preflight::check(&preflight_plan::service_checks(&self.spec), cx).await?;
        }

        let task_definition = task_definition_arn(&deps.task_definition, cx).await?;

        let (lb_status, service_lbs) = self
            .sync_load_balancing(&name, &tags, applied, cx, &mut notes, &mut corrected)
            .await?;

        let never_created = self
            .status
            .as_ref()
            .and_then(|s| s.service_arn.as_ref())
            .is_none();
        let observed = observe_service(&deps.cluster, &name, never_created, cx).await?;
        if let Some(s) = &observed {
            cx.claim(&format!("ECS service {name}"), &s.tags, &mut notes)?;
            let stale = tags_to_remove(&s.tags, &tags, applied);
            if !stale.is_empty() {
                cx.aws.ecs.untag_resource(&s.arn, &stale).await?;
            }
            let missing = tags_to_set(&s.tags, &tags);
            if !missing.is_empty() {
                cx.aws.ecs.tag_resource(&s.arn, &missing).await?;
            }
            corrected.extend(drift::tags(Resource::EcsService, &s.tags, &stale, &missing));
        }

        let restart = self.annotations().get(RESTARTED_AT_ANNOTATION).cloned();
        let acted_restart = self.status.as_ref().and_then(|s| s.restarted_at.clone());
        let restart_requested = restart.is_some() && restart != acted_restart;
        // A failed rollout of the wanted revision is remembered (ECS may roll back and drop
        // the failed deployment); a restart request retries it.
        let failed = observed
            .as_ref()
            .and_then(failed_task_definition)
            .or_else(|| {
                self.status
                    .as_ref()
                    .and_then(|s| s.failed_task_definition.clone())
            })
            .filter(|f| *f == task_definition && !restart_requested);
        // autoScaling left the spec: the scaler goes before desiredCount is managed again,
        // so it cannot undo the correction the plan below may make.
        let previous_scaling = self.status.as_ref().and_then(|s| s.auto_scaling.as_ref());
        if self.spec.auto_scaling.is_none() && previous_scaling.is_some() {
            remove_scaling(&name, Some(&deps.cluster), previous_scaling, cx, &mut notes).await?;
        }
        let desired = DesiredService {
            create: CreateServiceInput {
                cluster: deps.cluster.clone(),
                name: name.clone(),
                task_definition: task_definition.clone(),
                desired_count: initial_desired_count(
                    self.spec.desired_count,
                    self.spec.auto_scaling.as_ref(),
                ),
                launch_type: self.spec.launch_type,
                capacity_provider_strategy: crate::planning::capacity_provider::strategy(
                    &self.spec.capacity_provider_strategy,
                ),
                role: self.spec.role.clone(),
                deployment_configuration: self.spec.deployment_configuration.clone(),
                health_check_grace_period_seconds: self.spec.health_check_grace_period_seconds,
                network_configuration: self.spec.network_configuration.clone(),
                placement_strategy: self.spec.placement_strategy.clone(),
                placement_constraints: self.spec.placement_constraints.clone(),
                load_balancers: service_lbs,
                tags: tags.clone(),
                client_token: self.client_token(),
            },
            // With autoScaling the scaler owns desiredCount: it is only the count at creation.
            manage_desired_count: manages_desired_count(
                self.spec.desired_count,
                self.spec.auto_scaling.as_ref(),
            ),
            restart_requested,
            failed_task_definition: failed.clone(),
            last_task_definition: self
                .status
                .as_ref()
                .and_then(|s| s.task_definition_arn.clone()),
        };
        let (service, restarted_at) = match plan_service(&desired, observed.as_ref()) {
            ServicePlan::Create(input) => {
                cx.seen.mark_creating(&deps.cluster, &name);
                let s = cx.aws.ecs.create_service(&input).await?;
                cx.seen.record_service(&deps.cluster, &s);
                notes.push(Note::normal("Created", format!("created ECS service {name} running {task_definition}")));
                (s, restart)
            }
            ServicePlan::Update { input, drift } => {
                let s = cx.aws.ecs.update_service(&input).await?;
                cx.seen.record_service(&deps.cluster, &s);
                describe_update(&input, &mut notes);
                corrected.extend(drift);
                let restarted_at = if input.force_new_deployment { restart } else { acted_restart };
                (s, restarted_at)
            }
            ServicePlan::Immutable(changes) => {
                return Err(Error::InvalidSpec(format!(
                    "ECS service {name} differs from the spec in what ECS cannot change on a \
                     live service: {}; delete and recreate the EcsService, or create a new one \
                     under another serviceName",
                    describe_changes(&changes)
                )))
            }
            ServicePlan::WaitDraining => {
                return Err(Error::WaitingForDependency(format!(
                    "an ECS service named {name} is still draining; it will be created again once it is gone"
                )))
            }
            ServicePlan::InSync => {
                let s = observed.ok_or_else(|| Error::InvalidSpec("service vanished".into()))?;
                (s, acted_restart)
            }
        };
        let managed_load_balancers = settle_owned_elbs(
            self.owned_elb_candidates(),
            self.managed_elb().map(|(n, _)| n).as_deref(),
            Some(&service),
            cx,
            &mut notes,
        )
        .await?;
        // A managed target group the spec no longer wants: after the service moved off it.
        let previous_lb = self.status.as_ref().and_then(|s| s.load_balancer.as_ref());
        let retired = previous_lb
            .filter(|p| p.target_group_arn.is_some())
            .filter(|p| lb_status.as_ref().is_none_or(|now| now.name != p.name))
            .map(|p| (p.name.as_str(), p.listener_rule_arn.as_deref()));
        let pending_retired = self
            .status
            .as_ref()
            .map(|s| s.retired_target_groups.as_slice())
            .unwrap_or_default();
        let retired_target_groups = if retired.is_some() || !pending_retired.is_empty() {
            retire_target_groups(retired, pending_retired, cx, &mut notes).await?
        } else {
            Vec::new()
        };
        let managed_target_group_arn = lb_status.as_ref().and_then(|l| l.target_group_arn.clone());
        // A managed target group's listener names the ALB that ALBRequestCount is labelled with.
        let managed_alb_arn = self
            .spec
            .load_balancer
            .as_ref()
            .and_then(|l| l.managed_target_group.as_ref())
            .filter(|_| managed_target_group_arn.is_some())
            .and_then(|m| {
                crate::planning::target_group::load_balancer_arn_of_listener(&m.listener_arn)
            });
        let auto_scaling = match &self.spec.auto_scaling {
            Some(spec) => Some(
                sync_scaling(
                    &ScalingSync {
                        service: &name,
                        cluster: &deps.cluster,
                        spec,
                        target_group: ServiceTargetGroup {
                            arn: self
                                .spec
                                .load_balancer
                                .as_ref()
                                .and_then(|l| l.target_group_arn.as_deref())
                                .or(managed_target_group_arn.as_deref()),
                            load_balancer_arn: managed_alb_arn.as_deref(),
                        },
                        tags: &tags,
                        applied,
                        status: previous_scaling,
                        current_count: service.desired_count,
                    },
                    cx,
                    &mut notes,
                    &mut corrected,
                )
                .await?,
            ),
            None => None,
        };
        let cluster_name = service.cluster_arn.rsplit('/').next().map(str::to_string);
        let mut status = status_from(&service, cluster_name, lb_status, restarted_at);
        status.auto_scaling = auto_scaling;
        status.managed_load_balancers = managed_load_balancers;
        status.retired_target_groups = retired_target_groups;
        status.failed_task_definition = failed.clone();
        // Only reached when the ELB and the service got the tags (errors return early), so
        // this is what AWS carries now.
        status.applied_tag_keys = applied_tag_keys(&self.spec.tags);
        let rolled_back = failed.is_some() && service.task_definition != task_definition;
        let state = if rolled_back {
            Rollout::Failed(format!(
                "the deployment of {task_definition} failed and ECS rolled back to {}; change the \
                 task definition, or set ecsoperator.io/restartedAt to try it again",
                service.task_definition
            ))
        } else {
            rollout(&service)
        };
        let (readiness, progressing) = readiness(state, &service);
        Ok(Synced {
            status,
            readiness,
            conditions: vec![progressing],
            notes,
            drift: corrected,
        })
    }

    async fn cleanup_deps(&self, stores: &Stores) -> Result<ServiceCleanupDeps, Error> {
        let Some(r) = &self.spec.cluster_ref else {
            return Ok(ServiceCleanupDeps::default());
        };
        let ns = self.namespace().unwrap_or_default();
        // The EcsCluster may be gone already; its name is then the best guess (the default
        // clusterName is metadata.name).
        let cluster = match stores.cluster(&ns, &r.name)? {
            Some(c) => c
                .status
                .as_ref()
                .and_then(|s| s.cluster_arn.clone())
                .unwrap_or_else(|| c.cluster_name()),
            None => r.name.clone(),
        };
        Ok(ServiceCleanupDeps {
            cluster: Some(cluster),
        })
    }

    async fn cleanup(&self, deps: &ServiceCleanupDeps, cx: &AwsContext) -> Result<Cleanup, Error> {
        let name = self.service_name();
        let mut notes = Vec::new();
        // status.clusterArn is missing when the create's response never came back.
        let cluster = self
            .status
            .as_ref()
            .and_then(|s| s.cluster_arn.clone())
            .or_else(|| self.spec.cluster.clone())
            .or_else(|| deps.cluster.clone());
        // The scaler goes first: it would otherwise scale the service up again while it
        // is scaled to 0 and drained.
        let scaling = self.status.as_ref().and_then(|s| s.auto_scaling.as_ref());
        if scaling.is_some() || self.spec.auto_scaling.is_some() {
            remove_scaling(&name, cluster.as_deref(), scaling, cx, &mut notes).await?;
        }
        if let Some(cluster) = cluster {
            let found = match cx
                .aws
                .ecs
                .describe_services(&cluster, std::slice::from_ref(&name))
                .await
            {
                Ok(found) => found,
                Err(e) if e.is_not_found() => Vec::new(),
                Err(e) => return Err(e.into()),
            };
            let service = found
                .into_iter()
                .find(|s| s.status != "INACTIVE" && s.tags.get(OWNER_TAG) == Some(&cx.owner));
            if let Some(s) = service {
                if s.status == "ACTIVE" {
                    if s.desired_count > 0 {
                        let scale = UpdateServiceInput {
                            cluster: cluster.clone(),
                            name: name.clone(),
                            desired_count: Some(0),
                            ..Default::default()
                        };
                        cx.aws.ecs.update_service(&scale).await?;
                        notes.push(Note::normal(
                            "ScaledDown",
                            format!("scaled ECS service {name} to 0"),
                        ));
                    }
                    cx.aws.ecs.delete_service(&cluster, &name).await?;
                    cx.seen.forget_service(&cluster, &name);
                    notes.push(Note::normal(
                        "Deleting",
                        format!("deleting ECS service {name}"),
                    ));
                }
                return Ok(Cleanup::Waiting {
                    message: format!("waiting for ECS service {name} to become INACTIVE"),
                    notes,
                });
            }
        }
        // The service is gone: its managed target group goes (the rule first, which
        // would otherwise keep it in use).
        if let Some(spec) = self
            .spec
            .load_balancer
            .as_ref()
            .and_then(|l| l.managed_target_group.as_ref())
        {
            let tg_name = spec.name.clone().unwrap_or_else(|| name.clone());
            if tg_name.len() <= crate::planning::target_group::MAX_NAME {
                delete_target_group(&tg_name, &spec.listener_arn, cx, &mut notes).await?;
            }
        }
        let pending_retired = self
            .status
            .as_ref()
            .map(|s| s.retired_target_groups.as_slice())
            .unwrap_or_default();
        if !pending_retired.is_empty() {
            let still = retire_target_groups(None, pending_retired, cx, &mut notes).await?;
            if !still.is_empty() {
                return Err(Error::WaitingForDependency(format!(
                    "target groups {} are still in use",
                    still.join(", ")
                )));
            }
        }
        // The service is gone: every ELB this object owns goes, the spec's and earlier ones
        // (nothing is kept without a service to use it).
        settle_owned_elbs(self.owned_elb_candidates(), None, None, cx, &mut notes).await?;
        notes.push(Note::normal(
            "Deleted",
            format!("ECS service {name} is gone"),
        ));
        Ok(Cleanup::Done(notes))
    }
}

/// Events of an update that are not corrections: a rollout to another revision, a forced
/// deployment (the corrections themselves are reported by the generic reconciler).
fn describe_update(input: &UpdateServiceInput, notes: &mut Vec<Note>) {
    if let Some(td) = &input.task_definition {
        notes.push(Note::normal("RollingUpdate", format!("rolling to {td}")));
    }
    if input.capacity_provider_strategy.is_some() {
        // The strategy's own change is in the Updated / DriftCorrected Event.
        notes.push(Note::normal(
            "RollingUpdate",
            "new deployment for the new capacity provider strategy",
        ));
    } else if input.force_new_deployment {
        notes.push(Note::normal(
            "Restarted",
            "forced a new deployment (ecsoperator.io/restartedAt)",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_the_rollout() {
        let service = ServiceInfo {
            desired_count: 2,
            running_count: 2,
            ..Default::default()
        };
        let (ready, progressing) = readiness(Rollout::Steady, &service);
        assert!(
            matches!(ready, Readiness::Ready(m) if m == "2/2 tasks running, deployment completed")
        );
        assert!(!progressing.status);
        let (rolling, progressing) = readiness(Rollout::InProgress("1/2 new".into()), &service);
        assert!(matches!(
            rolling,
            Readiness::NotReady { reason: "DeploymentInProgress", recheck, .. } if recheck == Duration::from_secs(5)
        ));
        assert!(progressing.status);
        let (failed, progressing) = readiness(Rollout::Failed("broken".into()), &service);
        assert!(matches!(
            failed,
            Readiness::NotReady { reason: "DeploymentFailed", recheck, .. } if recheck == Duration::from_secs(30)
        ));
        assert_eq!(
            (progressing.status, progressing.reason),
            (false, "DeploymentFailed")
        );
    }
}
