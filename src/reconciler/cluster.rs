//! EcsCluster against ECS, EC2 and Auto Scaling: the cluster, then its capacity.

use std::time::Duration;

use async_trait::async_trait;
use kube::ResourceExt;

use super::capacity_provider as cp;
use super::error::Error;
use super::managed::{
    AwsContext, Cleanup, HasCommonStatus, ManagedResource, Note, Readiness, Synced,
};
use super::preflight;
use super::stores::Stores;
use crate::api::cluster::{CapacityStatus, ClusterCapacity, EcsCluster, EcsClusterStatus};
use crate::api::common::{CommonSpec, CommonStatus};
use crate::aws::types::{AutoScalingGroup, ClusterInfo, LaunchTemplate, LaunchTemplateData, Tags};
use crate::aws::AwsErrorKind;
use crate::planning::capacity_provider as cp_plan;
use crate::planning::cluster as plan;
use crate::planning::drift::{self, Drift, Resource};
use crate::planning::ownership::{
    applied_tag_keys, desired_tags, tags_to_remove, tags_to_set, OWNER_TAG,
};
use crate::planning::preflight as preflight_plan;

/// What deleting an EcsCluster needs from Kubernetes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterCleanupDeps {
    /// EcsServices of the namespace that reference this cluster (still existing).
    pub services: Vec<String>,
}

impl HasCommonStatus for EcsClusterStatus {
    fn common_mut(&mut self) -> &mut CommonStatus {
        &mut self.common
    }
    fn common(&self) -> &CommonStatus {
        &self.common
    }
}

/// The ECS cluster `name`, from the last sweep on a resync of a converged generation.
async fn find_cluster(cx: &AwsContext, name: &str) -> Result<Option<ClusterInfo>, Error> {
    if let Some(c) = cx.swept(|seen, age| seen.cluster(name, age)) {
        if c.status != "INACTIVE" {
            return Ok(Some(c));
        }
    }
    let found = cx
        .aws
        .ecs
        .describe_clusters(&[name.to_string()])
        .await?
        .into_iter()
        .find(|c| c.name == name && c.status != "INACTIVE");
    if let Some(c) = &found {
        cx.seen.record_cluster(c);
    }
    Ok(found)
}

/// The launch template `name`, from the last sweep on a resync of a converged generation
/// (a template missing from it is read: it may be newer than the sweep).
async fn find_launch_template(
    cx: &AwsContext,
    name: &str,
) -> Result<Option<LaunchTemplate>, Error> {
    if let Some(lt) = cx.swept(|seen, age| seen.launch_template(name, age)) {
        return Ok(Some(lt));
    }
    Ok(cx.aws.ec2.describe_launch_template(name).await?)
}

/// The description of a launch template version: read once, since versions never change.
async fn version_description(
    cx: &AwsContext,
    id: &str,
    version: i64,
) -> Result<Option<String>, Error> {
    if let Some(known) = cx.seen.version_description(id, version) {
        return Ok(known);
    }
    let d = cx
        .aws
        .ec2
        .launch_template_version_description(id, version)
        .await?;
    cx.seen.record_version_description(id, version, d.clone());
    Ok(d)
}

/// The Auto Scaling group `name`, from the last sweep on a resync of a converged generation.
async fn find_group(cx: &AwsContext, name: &str) -> Result<Option<AutoScalingGroup>, Error> {
    if let Some(g) = cx.swept(|seen, age| seen.group(name, age)) {
        return Ok(Some(g));
    }
    Ok(cx.aws.autoscaling.describe_group(name).await?)
}

#[allow(clippy::too_many_arguments)] // each is a different input or output of one sync
async fn sync_capacity(
    cluster_name: &str,
    cap: &ClusterCapacity,
    tags: &Tags,
    applied: &[String],
    cx: &AwsContext,
    notes: &mut Vec<Note>,
    corrected: &mut Vec<Drift>,
) -> Result<(CapacityStatus, Option<String>), Error> {
    let names = plan::capacity_names(cluster_name, cap);
    let lt_name = names.launch_template.clone();
    let data = plan::launch_template_data(cluster_name, cap);
    let description = plan::version_description(&data);
    let (lt_id, version, default_version) = match find_launch_template(cx, &lt_name).await? {
        None => {
            let lt = cx
                .aws
                .ec2
                .create_launch_template(&lt_name, &data, &description, tags)
                .await?;
            cx.seen.record_version_description(
                &lt.id,
                lt.latest_version,
                Some(description.clone()),
            );
            notes.push(Note::normal(
                "Created",
                format!("created launch template {lt_name}"),
            ));
            (lt.id, lt.latest_version, lt.default_version)
        }
        Some(lt) => {
            cx.claim(&format!("launch template {lt_name}"), &lt.tags, notes)?;
            let stale = tags_to_remove(&lt.tags, tags, applied);
            if !stale.is_empty() {
                cx.seen.forget_launch_template(&lt_name);
                cx.aws.ec2.untag_launch_template(&lt.id, &stale).await?;
            }
            let missing = tags_to_set(&lt.tags, tags);
            if !missing.is_empty() {
                cx.seen.forget_launch_template(&lt_name);
                cx.aws.ec2.tag_launch_template(&lt.id, &missing).await?;
            }
            corrected.extend(drift::tags(
                Resource::LaunchTemplate,
                &lt.tags,
                &stale,
                &missing,
            ));
            let mut latest = version_description(cx, &lt.id, lt.latest_version).await?;
            if latest.as_deref() != Some(description.as_str())
                && !plan::described_by_operator(latest.as_deref())
                && holds_data(cx, &lt.id, lt.latest_version, &data).await?
            {
                // A version made by other means (an imported template) that holds exactly
                // the wanted data: a new version would change nothing. The cache remembers
                // which data a version holds by its description, so it is recorded as
                // holding this one and its data is not read again.
                cx.seen.record_version_description(
                    &lt.id,
                    lt.latest_version,
                    Some(description.clone()),
                );
                latest = Some(description.clone());
            }
            match plan::plan_version(lt.latest_version, latest.as_deref(), &description) {
                Some(mut new_version) => {
                    let v = cx
                        .aws
                        .ec2
                        .create_launch_template_version(&lt.id, &data, &description)
                        .await?;
                    cx.seen.forget_launch_template(&lt_name);
                    cx.seen
                        .record_version_description(&lt.id, v, Some(description.clone()));
                    new_version.desired = v.to_string();
                    corrected.push(new_version);
                    (lt.id, v, lt.default_version)
                }
                None => (lt.id, lt.latest_version, lt.default_version),
            }
        }
    };
    let group_name = names.group;
    let asg = &cx.aws.autoscaling;
    // A group scaled by a capacity provider carries ECS's marker tag.
    let group_tags = cp_plan::group_tags(tags, cap.capacity_provider.is_some());
    let tags = &group_tags;
    let (desired, in_service, group_arn) = match find_group(cx, &group_name).await? {
        None => {
            let input = plan::create_group(&group_name, cap, &lt_id, version, tags);
            cx.seen.forget_group(&group_name);
            asg.create_group(&input).await?;
            notes.push(Note::normal(
                "Created",
                format!("created Auto Scaling group {group_name}"),
            ));
            (input.desired_capacity, 0, None)
        }
        Some(g) if g.status.is_some() => {
            return Err(Error::WaitingForDependency(format!(
                "Auto Scaling group {group_name} is being deleted ({})",
                g.status.unwrap_or_default()
            )))
        }
        Some(g) => {
            cx.claim(&format!("Auto Scaling group {group_name}"), &g.tags, notes)?;
            let p = plan::plan_group(cap, &g, &lt_id, version, default_version);
            let stale = tags_to_remove(&g.tags, tags, applied);
            let missing = tags_to_set(&g.tags, tags);
            // Whatever is about to change is read again next time.
            if !(stale.is_empty()
                && missing.is_empty()
                && p.update.is_empty()
                && p.attach.is_empty()
                && p.detach.is_empty())
            {
                cx.seen.forget_group(&group_name);
            }
            if !stale.is_empty() {
                asg.untag_group(&group_name, &stale).await?;
            }
            if !missing.is_empty() {
                asg.tag_group(&group_name, &missing).await?;
            }
            corrected.extend(drift::tags(
                Resource::AutoScalingGroup,
                &g.tags,
                &stale,
                &missing,
            ));
            if !p.update.is_empty() {
                asg.update_group(&p.update).await?;
            }
            if !p.attach.is_empty() {
                asg.attach_load_balancers(&group_name, &p.attach).await?;
            }
            if !p.detach.is_empty() {
                asg.detach_load_balancers(&group_name, &p.detach).await?;
            }
            corrected.extend(p.drift.iter().cloned());
            let in_service = g
                .instances
                .iter()
                .filter(|i| i.lifecycle_state == "InService")
                .count() as i32;
            (
                p.update.desired_capacity.unwrap_or(g.desired_capacity),
                in_service,
                g.arn,
            )
        }
    };
    Ok((
        CapacityStatus {
            auto_scaling_group_name: group_name,
            launch_template_id: lt_id,
            launch_template_version: version.to_string(),
            desired_capacity: desired,
            in_service_instances: in_service,
            launch_template_name: Some(lt_name),
            ..Default::default()
        },
        group_arn,
    ))
}

/// Whether version `version` of template `id` holds `data` (read from EC2; only asked
/// when its description does not say so).
async fn holds_data(
    cx: &AwsContext,
    id: &str,
    version: i64,
    data: &LaunchTemplateData,
) -> Result<bool, Error> {
    let observed = cx.aws.ec2.launch_template_version_data(id, version).await?;
    Ok(observed.is_some_and(|o| plan::same_data(&o.data, data)))
}

/// Remove the capacity in order, one step per call; `Some(message)` while waiting.
///
/// The group and template are found by their names and kept only when they carry this
/// object's owner tag, so capacity created by a reconcile whose status write was lost is
/// found too. The group is scaled in to zero and its instances awaited before it is
/// deleted, instead of force-deleting it with its instances at once; the template goes
/// last, once no group can launch from it.
async fn delete_capacity(
    names: &plan::CapacityNames,
    cx: &AwsContext,
    notes: &mut Vec<Note>,
) -> Result<Option<String>, Error> {
    let group_name = names.group.clone();
    if let Some(g) = cx.aws.autoscaling.describe_group(&group_name).await? {
        if g.tags.get(OWNER_TAG) == Some(&cx.owner) {
            cx.seen.forget_group(&group_name);
            match plan::capacity_removal_step(&g) {
                plan::RemovalStep::ScaleIn => {
                    cx.aws.autoscaling.update_group(&plan::scale_in(&g)).await?;
                    notes.push(Note::normal(
                        "ScalingIn",
                        format!(
                            "scaling Auto Scaling group {group_name} in to 0 before deleting it"
                        ),
                    ));
                }
                plan::RemovalStep::Delete => {
                    cx.aws.autoscaling.delete_group(&group_name).await?;
                    notes.push(Note::normal(
                        "Deleting",
                        format!("deleting Auto Scaling group {group_name}"),
                    ));
                }
                plan::RemovalStep::Wait => {}
            }
            return Ok(Some(plan::capacity_removal_message(&g)));
        }
    }
    let lt_name = names.launch_template.clone();
    if let Some(lt) = cx.aws.ec2.describe_launch_template(&lt_name).await? {
        if lt.tags.get(OWNER_TAG) == Some(&cx.owner) {
            cx.seen.forget_launch_template(&lt_name);
            match cx.aws.ec2.delete_launch_template(&lt.id).await {
                Ok(()) => notes.push(Note::normal(
                    "Deleted",
                    format!("deleted launch template {lt_name}"),
                )),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(None)
}

#[async_trait]
impl ManagedResource for EcsCluster {
    type Status = EcsClusterStatus;
    type Deps = ();
    type CleanupDeps = ClusterCleanupDeps;
    const KIND: &'static str = "EcsCluster";

    fn common_spec(&self) -> &dyn CommonSpec {
        &self.spec
    }
    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }

    async fn dereference(&self, _stores: &Stores) -> Result<(), Error> {
        Ok(())
    }

    async fn sync(&self, _deps: &(), cx: &AwsContext) -> Result<Synced<EcsClusterStatus>, Error> {
        let name = self.cluster_name();
        // Checked before any write: what the CRD's rules cannot see.
        let managed = self.capacity_provider_name();
        if let Some(n) = managed.as_deref().filter(|n| cp_plan::reserved_name(n)) {
            return Err(Error::InvalidSpec(format!(
                "capacity provider name {n} starts with aws, ecs or fargate, which ECS refuses: \
                 set capacity.capacityProvider.name"
            )));
        }
        let association = cp_plan::desired_association(&self.spec, managed.as_deref())
            .map_err(Error::InvalidSpec)?;
        // Subnets, security groups, key pair and instance profile exist (and share a VPC)
        // before the cluster and the template are made, not when the group is refused.
        if preflight::due(self, cx) {
            preflight::check(
                &preflight_plan::cluster_checks(self.spec.capacity.as_ref()),
                cx,
            )
            .await?;
        }
        let tags = desired_tags(&cx.owner, &self.spec.tags);
        // User tag keys an earlier sync applied: the only ones this sync may take away.
        let applied = self
            .status
            .as_ref()
            .map(|s| s.applied_tag_keys.as_slice())
            .unwrap_or_default();
        let mut notes = Vec::new();
        let mut corrected = Vec::new();
        let cluster = match find_cluster(cx, &name).await? {
            Some(c) => {
                cx.claim(&format!("ECS cluster {name}"), &c.tags, &mut notes)?;
                // Removals first: a replaced key must not count against a tag limit.
                let stale = tags_to_remove(&c.tags, &tags, applied);
                if !stale.is_empty() {
                    cx.seen.forget_cluster(&name);
                    cx.aws.ecs.untag_resource(&c.arn, &stale).await?;
                }
                let missing = tags_to_set(&c.tags, &tags);
                if !missing.is_empty() {
                    cx.seen.forget_cluster(&name);
                    cx.aws.ecs.tag_resource(&c.arn, &missing).await?;
                }
                corrected.extend(drift::tags(Resource::EcsCluster, &c.tags, &stale, &missing));
                c
            }
            None => {
                let c = cx.aws.ecs.create_cluster(&name, &tags).await?;
                cx.seen.record_cluster(&c);
                notes.push(Note::normal(
                    "Created",
                    format!("created ECS cluster {name}"),
                ));
                c
            }
        };
        let mut capacity = match &self.spec.capacity {
            Some(cap) => {
                let (mut st, group_arn) =
                    sync_capacity(&name, cap, &tags, applied, cx, &mut notes, &mut corrected)
                        .await?;
                // Cluster, template and group first: the provider needs the group's ARN.
                if let (Some(spec), Some(n)) = (&cap.capacity_provider, managed.as_deref()) {
                    let p = cp::sync_provider(
                        n,
                        spec,
                        &st.auto_scaling_group_name,
                        group_arn,
                        &tags,
                        applied,
                        cx,
                        &mut notes,
                        &mut corrected,
                    )
                    .await?;
                    st.capacity_provider_name = Some(p.name);
                    st.capacity_provider_arn = Some(p.arn);
                    st.capacity_provider_status = Some(p.status);
                    st.capacity_provider_update_status = p.update_status;
                }
                Some(st)
            }
            None => None,
        };
        // Then the cluster's set of providers (which detaches one no longer wanted).
        let cluster =
            cp::sync_association(&name, &association, cluster, cx, &mut corrected).await?;
        // A converged generation already removed what an earlier spec created: nothing to
        // look for on its resyncs.
        let mut removing = None;
        if !cx.trust_seen {
            // Providers an earlier spec created, whether or not status remembers them;
            // then, without capacity in the spec, the group and template.
            let remembered = self
                .status
                .as_ref()
                .and_then(|s| s.capacity.as_ref())
                .and_then(|c| c.capacity_provider_name.as_deref());
            // Without capacity in the spec the group goes next: look for a provider of the
            // default name too, so the group never goes before its provider.
            let names = cp::candidates(
                &name,
                remembered,
                None,
                Some(&cluster),
                managed.as_deref(),
                self.spec.capacity.is_none(),
            );
            let removal =
                cp::remove_providers(&name, &names, Some(&cluster), cx, &mut notes).await?;
            removing = removal.waiting;
            // Status names the provider being deleted, so the next sync awaits it too.
            if let (Some(st), Some(p)) = (capacity.as_mut(), removal.pending) {
                if st.capacity_provider_name.is_none() {
                    st.capacity_provider_name = Some(p.name);
                    st.capacity_provider_arn = Some(p.arn);
                    st.capacity_provider_status = Some(p.status);
                    st.capacity_provider_update_status = p.update_status;
                }
            }
            if removing.is_none() && self.spec.capacity.is_none() {
                // Whether or not status remembers the group and template.
                let recorded = self.status.as_ref().and_then(|s| s.capacity.as_ref());
                let capacity_names = plan::removal_names(&name, None, recorded);
                removing = delete_capacity(&capacity_names, cx, &mut notes).await?;
            }
        }
        let readiness = match (&cluster.status[..], &capacity) {
            ("ACTIVE", _) if removing.is_some() => Readiness::NotReady {
                reason: "RemovingCapacity",
                message: removing.clone().unwrap_or_default(),
                recheck: Duration::from_secs(10),
            },
            ("ACTIVE", Some(c)) if c.in_service_instances < c.desired_capacity => {
                Readiness::NotReady {
                    reason: "ScalingCapacity",
                    message: format!(
                        "{}/{} instances in service",
                        c.in_service_instances, c.desired_capacity
                    ),
                    recheck: Duration::from_secs(10),
                }
            }
            ("ACTIVE", _) => Readiness::Ready(format!("cluster {name} is ACTIVE")),
            (other, _) => Readiness::NotReady {
                reason: "Provisioning",
                message: format!("cluster {name} is {other}"),
                recheck: Duration::from_secs(5),
            },
        };
        Ok(Synced {
            status: EcsClusterStatus {
                common: Default::default(),
                cluster_arn: Some(cluster.arn),
                cluster_name: Some(name),
                cluster_status: Some(cluster.status),
                registered_container_instances: Some(cluster.registered_container_instances),
                running_tasks: Some(cluster.running_tasks),
                pending_tasks: Some(cluster.pending_tasks),
                active_services: Some(cluster.active_services),
                capacity_providers: cluster.capacity_providers.clone(),
                capacity,
                // Only reached when every resource got the tags (errors return early), so
                // this is what AWS carries now.
                applied_tag_keys: applied_tag_keys(&self.spec.tags),
            },
            readiness,
            conditions: Vec::new(),
            notes,
            drift: corrected,
        })
    }

    async fn cleanup_deps(&self, stores: &Stores) -> Result<ClusterCleanupDeps, Error> {
        let ns = self.namespace().unwrap_or_default();
        let name = self.name_any();
        let services = stores
            .services_in(&ns)?
            .iter()
            .filter(|s| s.spec.cluster_ref.as_ref().is_some_and(|r| r.name == name))
            .map(|s| s.name_any())
            .collect();
        Ok(ClusterCleanupDeps { services })
    }

    async fn cleanup(&self, deps: &ClusterCleanupDeps, cx: &AwsContext) -> Result<Cleanup, Error> {
        let name = self.cluster_name();
        let mut notes = Vec::new();
        // EcsServices keep their finalizer until ECS reports them INACTIVE, so this also
        // covers services that are still draining (ECS does not count those as active).
        if !deps.services.is_empty() {
            return Ok(Cleanup::Waiting {
                message: format!(
                    "EcsServices still use cluster {name}: {}; delete them first",
                    deps.services.join(", ")
                ),
                notes,
            });
        }
        let cluster = find_cluster(cx, &name)
            .await?
            .filter(|c| c.tags.get(OWNER_TAG) == Some(&cx.owner));
        if let Some(c) = &cluster {
            if c.active_services > 0 {
                return Ok(Cleanup::Waiting {
                    message: format!(
                        "{} services still run in cluster {name}; delete them first",
                        c.active_services
                    ),
                    notes,
                });
            }
        }
        // Capacity providers before their group: detached from the cluster, deleted, gone.
        let remembered = self
            .status
            .as_ref()
            .and_then(|s| s.capacity.as_ref())
            .and_then(|c| c.capacity_provider_name.as_deref());
        let managed = self.capacity_provider_name();
        let names = cp::candidates(
            &name,
            remembered,
            managed.as_deref(),
            cluster.as_ref(),
            None,
            true,
        );
        if let Some(waiting) = cp::remove_providers(&name, &names, cluster.as_ref(), cx, &mut notes)
            .await?
            .waiting
        {
            return Ok(Cleanup::Waiting {
                message: waiting,
                notes,
            });
        }
        let recorded = self.status.as_ref().and_then(|s| s.capacity.as_ref());
        let capacity_names = plan::removal_names(&name, self.spec.capacity.as_ref(), recorded);
        if let Some(waiting) = delete_capacity(&capacity_names, cx, &mut notes).await? {
            return Ok(Cleanup::Waiting {
                message: waiting,
                notes,
            });
        }
        if let Some(c) = cluster {
            cx.seen.forget_cluster(&name);
            match cx.aws.ecs.delete_cluster(&c.arn).await {
                Ok(()) => notes.push(Note::normal(
                    "Deleted",
                    format!("deleted ECS cluster {name}"),
                )),
                Err(e) if e.is_not_found() => {}
                // Draining services, tasks or instances still in the cluster: wait for them.
                Err(e) if e.kind == AwsErrorKind::Dependency => {
                    return Ok(Cleanup::Waiting {
                        message: format!("cluster {name} is not empty yet: {}", e.message),
                        notes,
                    })
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Cleanup::Done(notes))
    }
}
