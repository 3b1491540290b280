//! EcsTaskDef against ECS: register a revision only when the normalized spec changed,
//! prune old revisions, deregister all on deletion.

use std::collections::BTreeSet;

use async_trait::async_trait;
use kube::ResourceExt;

use super::error::Error;
use super::managed::{
    AwsContext, Cleanup, HasCommonStatus, ManagedResource, Note, Readiness, Synced,
};
use super::preflight;
use super::stores::Stores;
use crate::api::cluster::EcsCluster;
use crate::api::common::{CommonSpec, CommonStatus};
use crate::api::service::EcsService;
use crate::api::task_def::{EcsTaskDef, EcsTaskDefStatus};
use crate::aws::types::RegisterTaskDefinitionInput;
use crate::aws::DESCRIBE_SERVICES_MAX;
use crate::planning::drift::{self, Resource};
use crate::planning::ownership::{
    applied_tag_keys, desired_tags, tags_to_remove, tags_to_set, OWNER_TAG,
};
use crate::planning::preflight as preflight_plan;
use crate::planning::task_def::{
    family_of, observed_hash, plan_revision, revision_of, revisions_to_prune, revisions_used_by,
    spec_hash, RevisionPlan, SPEC_HASH_TAG,
};

/// What an EcsTaskDef needs from Kubernetes: the revisions EcsServices pin or report, and
/// the ECS clusters where services of the namespace run (to look for its revisions in use).
#[derive(Clone, Debug, Default)]
pub struct TaskDefDeps {
    /// Revisions pinned by services or run by their deployments.
    pub in_use: BTreeSet<i32>,
    /// ECS clusters (names or ARNs) of the namespace's EcsServices and EcsClusters.
    pub clusters: BTreeSet<String>,
}

impl HasCommonStatus for EcsTaskDefStatus {
    fn common_mut(&mut self) -> &mut CommonStatus {
        &mut self.common
    }
    fn common(&self) -> &CommonStatus {
        &self.common
    }
}

/// Revisions of `family` that services referencing `td_name` pin or run.
pub fn revisions_in_use(services: &[EcsService], td_name: &str, family: &str) -> BTreeSet<i32> {
    let mut in_use = BTreeSet::new();
    for s in services {
        if let Some(r) = s.spec.task_def_ref.as_ref().filter(|r| r.name == td_name) {
            if let Some(rev) = r.revision {
                in_use.insert(rev);
            }
        }
        let deployments = s.status.iter().flat_map(|st| st.deployments.iter());
        for d in deployments {
            if family_of(&d.task_definition) == Some(family) {
                in_use.extend(revision_of(&d.task_definition));
            }
        }
    }
    in_use
}

/// The ECS clusters the namespace's services run in, as Kubernetes knows them.
pub fn known_clusters(services: &[EcsService], clusters: &[EcsCluster]) -> BTreeSet<String> {
    let from_services = services.iter().filter_map(|s| {
        s.status
            .as_ref()
            .and_then(|st| st.cluster_arn.clone())
            .or_else(|| s.spec.cluster.clone())
    });
    let from_clusters = clusters
        .iter()
        .filter_map(|c| c.status.as_ref().and_then(|st| st.cluster_arn.clone()));
    from_services.chain(from_clusters).collect()
}

/// Revisions of `family` that ECS services in `clusters` run or may roll back to, as ECS
/// itself reports them (services created outside Kubernetes included).
async fn revisions_running_in_ecs(
    cx: &AwsContext,
    clusters: &BTreeSet<String>,
    family: &str,
) -> Result<BTreeSet<i32>, Error> {
    let ecs = &cx.aws.ecs;
    let mut used = BTreeSet::new();
    for cluster in clusters {
        let arns = match ecs.list_services(cluster).await {
            Ok(arns) => arns,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        };
        for chunk in arns.chunks(DESCRIBE_SERVICES_MAX) {
            let services = ecs.describe_services(cluster, chunk).await?;
            used.extend(revisions_used_by(&services, family));
        }
    }
    Ok(used)
}

fn read_deps(stores: &Stores, td: &EcsTaskDef) -> Result<TaskDefDeps, Error> {
    let ns = td.namespace().unwrap_or_default();
    let services: Vec<EcsService> = stores
        .services_in(&ns)?
        .iter()
        .map(|s| s.as_ref().clone())
        .collect();
    let clusters: Vec<EcsCluster> = stores
        .clusters_in(&ns)?
        .iter()
        .map(|c| c.as_ref().clone())
        .collect();
    Ok(TaskDefDeps {
        in_use: revisions_in_use(&services, &td.name_any(), &td.family()),
        clusters: known_clusters(&services, &clusters),
    })
}

impl EcsTaskDef {
    /// On the resync of a converged generation: when the last sweep listed the revision
    /// status names as the family's latest ACTIVE one (revisions are immutable, and this
    /// generation's spec was checked against it by hash) and nothing is to be pruned, the
    /// status stands without a call to AWS.
    fn unchanged_since_sweep(
        &self,
        deps: &TaskDefDeps,
        cx: &AwsContext,
    ) -> Option<Synced<EcsTaskDefStatus>> {
        let status = self.status.as_ref()?;
        let revision = status.latest_revision?;
        let family = self.family();
        let active = cx.swept(|seen, age| seen.family_revisions(&family, age))?;
        if active.last() != Some(&revision) || status.family.as_deref() != Some(family.as_str()) {
            return None;
        }
        let limit = self.spec.revision_history_limit;
        if !revisions_to_prune(&active, revision, limit, &deps.in_use).is_empty() {
            return None;
        }
        let mut status = status.clone();
        status.active_revisions = active;
        Some(Synced {
            status,
            readiness: Readiness::Ready(format!("{family}:{revision} is registered")),
            conditions: Vec::new(),
            notes: Vec::new(),
            drift: Vec::new(),
        })
    }
}

#[async_trait]
impl ManagedResource for EcsTaskDef {
    type Status = EcsTaskDefStatus;
    type Deps = TaskDefDeps;
    type CleanupDeps = TaskDefDeps;
    const KIND: &'static str = "EcsTaskDef";

    fn common_spec(&self) -> &dyn CommonSpec {
        &self.spec
    }
    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }

    async fn dereference(&self, stores: &Stores) -> Result<TaskDefDeps, Error> {
        if self.spec.revision_history_limit.is_none() {
            return Ok(TaskDefDeps::default());
        }
        read_deps(stores, self)
    }

    async fn sync(
        &self,
        deps: &TaskDefDeps,
        cx: &AwsContext,
    ) -> Result<Synced<EcsTaskDefStatus>, Error> {
        let ecs = &cx.aws.ecs;
        let family = self.family();
        if let Some(synced) = self.unchanged_since_sweep(deps, cx) {
            return Ok(synced);
        }
        // The roles exist before a revision naming them is registered (ECS accepts any
        // role ARN there; tasks would fail to start much later).
        if preflight::due(self, cx) {
            preflight::check(&preflight_plan::task_def_checks(&self.spec), cx).await?;
        }
        let hash = spec_hash(&self.spec);
        let mut tags = desired_tags(&cx.owner, &self.spec.tags);
        tags.insert(SPEC_HASH_TAG.to_string(), hash.clone());
        // The family's latest ACTIVE revision, read directly: unlike the listing, this read
        // cannot miss a revision registered a moment ago whose response was lost, so a
        // retry or a restart never registers the same spec twice.
        let latest = ecs.describe_task_definition(&family).await?;
        let mut notes = Vec::new();
        let mut corrected = Vec::new();
        if let Some(l) = &latest {
            cx.claim(
                &format!("task definition family {family}"),
                &l.tags,
                &mut notes,
            )?;
        }
        // A revision registered by other means (adopted, imported) carries no hash tag: its
        // definition is compared instead, so an identical one is kept and tagged, not
        // registered again.
        let latest_hash = latest.as_ref().and_then(|l| {
            observed_hash(
                l.tags.get(SPEC_HASH_TAG).map(String::as_str),
                l.definition.as_ref(),
            )
        });
        let latest_seen = latest
            .as_ref()
            .map(|l| (l.revision, latest_hash.as_deref()));
        let recorded = self.status.as_ref().and_then(|s| s.latest_revision);
        let plan = plan_revision(&family, &hash, latest_seen, recorded);
        // A family without any ACTIVE revision has just the one registered below: nothing
        // to list, nothing to prune (the next resync reads the family again anyway).
        let first_revision = latest.is_none();
        let (arn, revision) = match (plan, latest) {
            (RevisionPlan::UpToDate, Some(l)) => {
                // Only the latest revision follows spec.tags: older revisions are immutable
                // history (what a rollback or a pinned service runs) and keep the tags they
                // were registered with. A new revision is registered with the current tags,
                // so it has nothing to remove.
                let applied = self
                    .status
                    .as_ref()
                    .map(|s| s.applied_tag_keys.as_slice())
                    .unwrap_or_default();
                let stale = tags_to_remove(&l.tags, &tags, applied);
                if !stale.is_empty() {
                    ecs.untag_resource(&l.arn, &stale).await?;
                }
                let missing = tags_to_set(&l.tags, &tags);
                if !missing.is_empty() {
                    ecs.tag_resource(&l.arn, &missing).await?;
                }
                corrected.extend(drift::tags(
                    Resource::TaskDefinition,
                    &l.tags,
                    &stale,
                    &missing,
                ));
                (l.arn, l.revision)
            }
            (plan, _) => {
                let input = RegisterTaskDefinitionInput {
                    family: family.clone(),
                    definition: self.spec.clone(),
                    tags: tags.clone(),
                };
                let r = ecs.register_task_definition(&input).await?;
                notes.push(Note::normal(
                    "Registered",
                    format!("registered {family}:{}", r.revision),
                ));
                if let RevisionPlan::Register(Some(mut replaced)) = plan {
                    replaced.desired = format!("{family}:{}", r.revision);
                    corrected.push(replaced);
                }
                (r.arn, r.revision)
            }
        };
        let arns = if first_revision {
            Vec::new()
        } else {
            ecs.list_task_definitions(&family).await?
        };
        let mut active: Vec<i32> = arns.iter().filter_map(|a| revision_of(a)).collect();
        if !active.contains(&revision) {
            active.push(revision);
        }
        let limit = self.spec.revision_history_limit;
        let mut in_use = deps.in_use.clone();
        // Ask ECS only when something would be pruned: services outside Kubernetes, and
        // rollback targets of running deployments, keep their revisions too.
        if !revisions_to_prune(&active, revision, limit, &in_use).is_empty() {
            in_use.extend(revisions_running_in_ecs(cx, &deps.clusters, &family).await?);
        }
        for old in revisions_to_prune(&active, revision, limit, &in_use) {
            let name = format!("{family}:{old}");
            let owned = ecs
                .describe_task_definition(&name)
                .await?
                .is_some_and(|t| t.tags.get(OWNER_TAG) == Some(&cx.owner));
            if owned {
                ecs.deregister_task_definition(&name).await?;
                active.retain(|r| *r != old);
                notes.push(Note::normal(
                    "Deregistered",
                    format!("deregistered {name} (revisionHistoryLimit)"),
                ));
            }
        }
        active.sort_unstable();
        // The listing is stale now: the next resync reads AWS, not the last sweep.
        cx.seen.forget_family(&family);
        Ok(Synced {
            status: EcsTaskDefStatus {
                common: Default::default(),
                family: Some(family.clone()),
                latest_revision: Some(revision),
                task_definition_arn: Some(arn),
                active_revisions: active,
                applied_tag_keys: applied_tag_keys(&self.spec.tags),
            },
            readiness: Readiness::Ready(format!("{family}:{revision} is registered")),
            conditions: Vec::new(),
            notes,
            drift: corrected,
        })
    }

    async fn cleanup_deps(&self, stores: &Stores) -> Result<TaskDefDeps, Error> {
        read_deps(stores, self)
    }

    async fn cleanup(&self, deps: &TaskDefDeps, cx: &AwsContext) -> Result<Cleanup, Error> {
        let ecs = &cx.aws.ecs;
        let family = self.family();
        let mut running = deps.in_use.clone();
        running.extend(revisions_running_in_ecs(cx, &deps.clusters, &family).await?);
        if !running.is_empty() {
            let list: Vec<String> = running.iter().map(|r| format!("{family}:{r}")).collect();
            return Ok(Cleanup::Waiting {
                message: format!(
                    "ECS services still run or may roll back to {}; waiting for them to move \
                     to another task definition or be deleted",
                    list.join(", ")
                ),
                notes: Vec::new(),
            });
        }
        let mut deregistered = 0;
        for arn in ecs.list_task_definitions(&family).await? {
            let owned = ecs
                .describe_task_definition(&arn)
                .await?
                .is_some_and(|t| t.tags.get(OWNER_TAG) == Some(&cx.owner));
            if owned {
                match ecs.deregister_task_definition(&arn).await {
                    Ok(()) => deregistered += 1,
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(Cleanup::Done(vec![Note::normal(
            "Deleted",
            format!("deregistered {deregistered} revisions of {family}"),
        )]))
    }
}
