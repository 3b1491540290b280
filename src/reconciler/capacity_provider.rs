//! The ECS capacity provider of an EcsCluster's Auto Scaling group, the cluster's set of
//! providers and default strategy, and the removal of providers no longer wanted.

use super::error::Error;
use super::managed::{AwsContext, Note};
use crate::api::cluster::CapacityProviderSpec;
use crate::aws::types::{CapacityProvider, ClusterInfo, CreateCapacityProviderInput, Tags};
use crate::planning::capacity_provider::{self as plan, Association, ProviderRemoval};
use crate::planning::drift::{self, Drift, Resource};
use crate::planning::ownership::{tags_to_remove, tags_to_set, OWNER_TAG};

/// Create the managed provider `name` of the group, or bring its settings and tags to
/// the spec. `group_arn` is the group's ARN when the caller has it (a group it just created
/// is read again for it).
#[allow(clippy::too_many_arguments)] // each is a different input or output of one sync
pub async fn sync_provider(
    name: &str,
    spec: &CapacityProviderSpec,
    group_name: &str,
    group_arn: Option<String>,
    tags: &Tags,
    applied: &[String],
    cx: &AwsContext,
    notes: &mut Vec<Note>,
    corrected: &mut Vec<Drift>,
) -> Result<CapacityProvider, Error> {
    let want = plan::settings(spec);
    // A resync of a converged cluster reads what the last sweep saw; anything else, and a
    // provider the sweep did not see (or saw deleted), is read directly.
    let swept = cx
        .swept(|seen, age| seen.capacity_provider(name, age))
        .filter(|p| p.status != "INACTIVE");
    let observed = match swept {
        Some(p) => Some(p),
        None => cx
            .aws
            .ecs
            .describe_capacity_providers(&[name.to_string()])
            .await?
            .into_iter()
            // A deleted (INACTIVE) provider's name can be used again.
            .find(|p| p.name == name && p.status != "INACTIVE"),
    };
    match observed {
        Some(p) if p.is_deleting() => Err(Error::WaitingForDependency(format!(
            "capacity provider {name} is being deleted ({}); it is created again once gone",
            p.update_status.as_deref().unwrap_or("DELETE_IN_PROGRESS")
        ))),
        None => {
            let arn = match group_arn {
                Some(arn) => arn,
                None => cx
                    .aws
                    .autoscaling
                    .describe_group(group_name)
                    .await?
                    .and_then(|g| g.arn)
                    .ok_or_else(|| {
                        Error::WaitingForDependency(format!(
                            "Auto Scaling group {group_name} is not visible yet"
                        ))
                    })?,
            };
            let p = cx
                .aws
                .ecs
                .create_capacity_provider(&CreateCapacityProviderInput {
                    name: name.to_string(),
                    auto_scaling_group_arn: arn,
                    settings: want,
                    tags: tags.clone(),
                })
                .await?;
            notes.push(Note::normal(
                "Created",
                format!("created capacity provider {name} for Auto Scaling group {group_name}"),
            ));
            Ok(p)
        }
        Some(p) => {
            cx.claim(&format!("capacity provider {name}"), &p.tags, notes)?;
            if let Some(why) = plan::group_mismatch(&p, group_arn.as_deref()) {
                return Err(Error::Conflict(why));
            }
            let stale = tags_to_remove(&p.tags, tags, applied);
            if !stale.is_empty() {
                cx.seen.forget_capacity_provider(name);
                cx.aws.ecs.untag_resource(&p.arn, &stale).await?;
            }
            let missing = tags_to_set(&p.tags, tags);
            if !missing.is_empty() {
                cx.seen.forget_capacity_provider(name);
                cx.aws.ecs.tag_resource(&p.arn, &missing).await?;
            }
            corrected.extend(drift::tags(
                Resource::CapacityProvider,
                &p.tags,
                &stale,
                &missing,
            ));
            let changed = plan::plan_provider(&want, &p);
            if changed.is_empty() {
                return Ok(p);
            }
            cx.seen.forget_capacity_provider(name);
            let mut updated = cx.aws.ecs.update_capacity_provider(name, &want).await?;
            corrected.extend(changed);
            // UpdateCapacityProvider does not echo the tags.
            updated.tags = p.tags;
            Ok(updated)
        }
    }
}

/// Attach the wanted providers and default strategy to the cluster, only when they differ
/// from what it has (a resync writes nothing); returns the cluster as it is now.
pub async fn sync_association(
    name: &str,
    want: &Association,
    mut cluster: ClusterInfo,
    cx: &AwsContext,
    corrected: &mut Vec<Drift>,
) -> Result<ClusterInfo, Error> {
    let Some(changed) = plan::plan_association(want, &cluster) else {
        return Ok(cluster);
    };
    cx.seen.forget_cluster(name);
    let after = cx
        .aws
        .ecs
        .put_cluster_capacity_providers(name, &want.providers, &want.strategy)
        .await?;
    corrected.extend(changed);
    // The answer carries no tags: keep the ones read before.
    cluster.capacity_providers = after.capacity_providers;
    cluster.default_capacity_provider_strategy = after.default_capacity_provider_strategy;
    Ok(cluster)
}

/// Names of providers this object may own and no longer wants: see
/// [`plan::removal_candidates`]; `also` adds one more (the spec's, when deleting).
///
/// `deleting`: the object is going away, so the default name is looked for too even
/// when neither status nor the cluster names a provider. A sync looks only at what status
/// remembers and what the cluster has attached, so that clusters that never had a
/// provider (most) pay no extra read.
pub fn candidates(
    cluster_name: &str,
    remembered: Option<&str>,
    also: Option<&str>,
    cluster: Option<&ClusterInfo>,
    wanted: Option<&str>,
    deleting: bool,
) -> Vec<String> {
    let attached = cluster
        .map(|c| c.capacity_providers.as_slice())
        .unwrap_or_default();
    let default_name = crate::api::cluster::default_capacity_provider_name(cluster_name);
    let mut out = plan::removal_candidates(remembered, &default_name, attached, wanted);
    if !deleting && remembered != Some(default_name.as_str()) {
        out.retain(|n| *n != default_name || attached.contains(n));
    }
    if let Some(n) = also.filter(|n| Some(*n) != wanted) {
        out.push(n.to_string());
        out.sort();
        out.dedup();
    }
    out
}

/// Where removing providers stands.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Removal {
    /// What the removal waits for; `None` when nothing is left to remove.
    pub waiting: Option<String>,
    /// A provider still being removed, for status: the next sync looks for it again even
    /// once the cluster no longer lists it.
    pub pending: Option<CapacityProvider>,
}

/// Remove the owned providers among `names`, one step per call: detach them from the
/// cluster, delete them, wait until ECS has deleted them.
///
/// Providers are kept only when they carry this object's owner tag: a provider of that
/// name made by someone else is left alone.
pub async fn remove_providers(
    cluster_name: &str,
    names: &[String],
    cluster: Option<&ClusterInfo>,
    cx: &AwsContext,
    notes: &mut Vec<Note>,
) -> Result<Removal, Error> {
    if names.is_empty() {
        return Ok(Removal::default());
    }
    let owned: Vec<CapacityProvider> = cx
        .aws
        .ecs
        .describe_capacity_providers(names)
        .await?
        .into_iter()
        .filter(|p| names.contains(&p.name) && p.tags.get(OWNER_TAG) == Some(&cx.owner))
        .collect();
    let attached = |p: &CapacityProvider| {
        cluster.is_some_and(|c| {
            c.capacity_providers.contains(&p.name)
                || c.default_capacity_provider_strategy
                    .iter()
                    .any(|i| i.capacity_provider == p.name)
        })
    };
    // ECS refuses to delete an attached provider: detach all of ours in one write first.
    if let Some(c) = cluster {
        let detach: Vec<&CapacityProvider> = owned
            .iter()
            .filter(|p| plan::provider_removal(Some(p), attached(p)) == ProviderRemoval::Detach)
            .collect();
        if !detach.is_empty() {
            let mut rest = c.clone();
            for p in &detach {
                if let Some(a) = plan::without(&rest, &p.name) {
                    rest.capacity_providers = a.providers;
                    rest.default_capacity_provider_strategy = a.strategy;
                }
            }
            cx.seen.forget_cluster(cluster_name);
            cx.aws
                .ecs
                .put_cluster_capacity_providers(
                    cluster_name,
                    &rest.capacity_providers,
                    &rest.default_capacity_provider_strategy,
                )
                .await?;
            let names: Vec<String> = detach.iter().map(|p| p.name.clone()).collect();
            notes.push(Note::normal(
                "Detached",
                format!(
                    "detached capacity provider {} from ECS cluster {cluster_name}",
                    names.join(", ")
                ),
            ));
            return Ok(Removal {
                waiting: Some(format!(
                    "removing capacity provider {}: detached from the cluster",
                    names.join(", ")
                )),
                pending: detach.first().map(|p| (*p).clone()),
            });
        }
    }
    let mut waiting = Vec::new();
    let mut pending = None;
    for p in &owned {
        match plan::provider_removal(Some(p), attached(p)) {
            ProviderRemoval::Gone => continue,
            ProviderRemoval::Wait | ProviderRemoval::Detach => {}
            ProviderRemoval::Delete => {
                cx.seen.forget_capacity_provider(&p.name);
                match cx.aws.ecs.delete_capacity_provider(&p.name).await {
                    Ok(()) => notes.push(Note::normal(
                        "Deleting",
                        format!("deleting capacity provider {}", p.name),
                    )),
                    Err(e) if e.is_not_found() => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        waiting.push(p.name.clone());
        if pending.is_none() {
            let mut shown = p.clone();
            // What DeleteCapacityProvider just started, as the next describe will show it.
            if !shown.is_deleting() {
                shown.update_status = Some("DELETE_IN_PROGRESS".into());
            }
            pending = Some(shown);
        }
    }
    Ok(Removal {
        waiting: (!waiting.is_empty()).then(|| {
            format!(
                "removing capacity: waiting for capacity provider {} to be deleted",
                waiting.join(", ")
            )
        }),
        pending,
    })
}
