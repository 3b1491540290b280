//! An EcsService's Application Auto Scaling against AWS: the scalable target (owner tags)
//! and its target tracking policies (no tags: known by the names status records), synced
//! after the service exists, removed before it is deleted or when `autoScaling` leaves the
//! spec.

use sha2::{Digest, Sha256};

use super::error::Error;
use super::managed::{AwsContext, Note};
use crate::api::service::{AutoScalingStatus, ScalingActivityStatus, ServiceAutoScaling};
use crate::aws::types::{RegisterScalableTargetInput, ScalableTarget, Tags};
use crate::planning::autoscaling::{
    desired_scaling, plan_removal, plan_scaling, resource_id, ServiceTargetGroup,
};
use crate::planning::drift::{self, Drift, Resource};
use crate::planning::ownership::{tags_to_remove, tags_to_set, OWNER_TAG};

/// A short digest of the tags put on the scalable target (see `AutoScalingStatus.tagsHash`).
fn tags_hash(tags: &Tags) -> String {
    let mut hasher = Sha256::new();
    for (k, v) in tags {
        hasher.update(k.as_bytes());
        hasher.update([0]);
        hasher.update(v.as_bytes());
        hasher.update([0]);
    }
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `target` is the one this object registered, as status recorded it: its ARN
/// is new with every registration, so no tag read is needed to know it.
fn registered_by_us(target: &ScalableTarget, status: Option<&AutoScalingStatus>) -> bool {
    target.arn.is_some()
        && target.arn.as_deref() == status.and_then(|s| s.scalable_target_arn.as_deref())
}

/// What one sync of the service's auto scaling needs.
pub struct ScalingSync<'a> {
    /// The ECS service name.
    pub service: &'a str,
    /// Its cluster, name or ARN.
    pub cluster: &'a str,
    /// spec.autoScaling.
    pub spec: &'a ServiceAutoScaling,
    /// The target group the tasks register in (and its ALB when known), for
    /// ALBRequestCount.
    pub target_group: ServiceTargetGroup<'a>,
    /// The tags every owned resource gets (owner tags included).
    pub tags: &'a Tags,
    /// User tag keys an earlier sync applied.
    pub applied: &'a [String],
    /// status.autoScaling as the last sync left it.
    pub status: Option<&'a AutoScalingStatus>,
    /// The service's desired count now (the scaler's).
    pub current_count: i32,
}

/// Register or update the scalable target and put the policies the spec asks for; delete
/// ours it no longer does. Returns the new status.autoScaling.
pub async fn sync_scaling(
    s: &ScalingSync<'_>,
    cx: &AwsContext,
    notes: &mut Vec<Note>,
    corrected: &mut Vec<Drift>,
) -> Result<AutoScalingStatus, Error> {
    let aas = &cx.aws.app_autoscaling;
    let desired = desired_scaling(s.cluster, s.service, s.spec, s.target_group)
        .map_err(Error::InvalidSpec)?;
    let id = desired.resource_id.clone();
    let what = format!("scalable target {id}");
    let observed = aas.describe_scalable_target(&id).await?;
    let hash = tags_hash(s.tags);
    if let Some(t) = &observed {
        let ours = registered_by_us(t, s.status);
        let tags_current = s.status.and_then(|st| st.tags_hash.as_deref()) == Some(hash.as_str());
        // Tags are read to claim a target status does not know, and to correct its tags
        // after spec.tags changed; a converged target costs no read.
        if t.arn.is_none() && !ours {
            // No ARN, no tags to read: only adoption may take it.
            cx.claim(&what, &Tags::new(), notes)?;
        }
        if let (Some(arn), false) = (&t.arn, ours && tags_current) {
            let current = aas.target_tags(arn).await?;
            if !ours {
                cx.claim(&what, &current, notes)?;
            }
            let stale = tags_to_remove(&current, s.tags, s.applied);
            if !stale.is_empty() {
                aas.untag_target(arn, &stale).await?;
            }
            let missing = tags_to_set(&current, s.tags);
            if !missing.is_empty() {
                aas.tag_target(arn, &missing).await?;
            }
            corrected.extend(drift::tags(
                Resource::ScalableTarget,
                &current,
                &stale,
                &missing,
            ));
        }
    }
    let policies = match &observed {
        Some(_) => aas.describe_scaling_policies(&id).await?,
        None => Vec::new(),
    };
    let recorded = s
        .status
        .map(|st| st.policies.as_slice())
        .unwrap_or_default();
    let plan = plan_scaling(s.service, &desired, observed.as_ref(), &policies, recorded);
    let mut arn = observed.as_ref().and_then(|t| t.arn.clone());
    if plan.register {
        let registered = aas
            .register_scalable_target(&RegisterScalableTargetInput {
                resource_id: id.clone(),
                min_capacity: desired.min_count,
                max_capacity: desired.max_count,
                tags: s.tags.clone(),
            })
            .await?;
        arn = registered.or(arn);
        if observed.is_none() {
            notes.push(Note::normal(
                "Created",
                format!(
                    "registered {what} ({}–{} tasks)",
                    desired.min_count, desired.max_count
                ),
            ));
        }
    }
    for name in &plan.delete_policies {
        match aas.delete_scaling_policy(name, &id).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    for p in &plan.put_policies {
        aas.put_scaling_policy(p).await?;
    }
    corrected.extend(plan.drift);
    // The last activity is only shown in status: a failed read of it (a policy without
    // DescribeScalingActivities, an emulator without it) keeps the last one seen rather
    // than failing a sync that reconciled everything else.
    let last_scaling_activity = match aas.latest_scaling_activity(&id).await {
        Ok(activity) => activity.map(|a| ScalingActivityStatus {
            time: a.start_time,
            description: a.description,
            status_code: a.status_code,
        }),
        Err(e) => {
            tracing::warn!(resource_id = %id, error = %e, "cannot read the latest scaling activity");
            s.status.and_then(|st| st.last_scaling_activity.clone())
        }
    };
    let mut names: Vec<String> = desired.policies.iter().map(|p| p.name.clone()).collect();
    names.sort();
    Ok(AutoScalingStatus {
        resource_id: id,
        scalable_target_arn: arn,
        min_count: desired.min_count,
        max_count: desired.max_count,
        current_count: Some(s.current_count),
        policies: names,
        last_scaling_activity,
        tags_hash: Some(hash),
    })
}

/// Remove the policies this object owns and its scalable target (deregistering deletes
/// any policy left). A target this object does not own is left alone. `status` is
/// status.autoScaling; without it the resource ID comes from `cluster` and `service`.
pub async fn remove_scaling(
    service: &str,
    cluster: Option<&str>,
    status: Option<&AutoScalingStatus>,
    cx: &AwsContext,
    notes: &mut Vec<Note>,
) -> Result<(), Error> {
    let aas = &cx.aws.app_autoscaling;
    let id = match (status, cluster) {
        (Some(st), _) => st.resource_id.clone(),
        (None, Some(c)) => resource_id(c, service),
        (None, None) => return Ok(()),
    };
    let Some(target) = aas.describe_scalable_target(&id).await? else {
        return Ok(());
    };
    if !registered_by_us(&target, status) {
        let tags = match &target.arn {
            Some(arn) => aas.target_tags(arn).await?,
            None => Tags::new(),
        };
        if tags.get(OWNER_TAG) != Some(&cx.owner) {
            notes.push(Note::normal(
                "Released",
                format!("scalable target {id} is not owned by this object: left in place"),
            ));
            return Ok(());
        }
    }
    let policies = aas.describe_scaling_policies(&id).await?;
    let recorded = status.map(|s| s.policies.as_slice()).unwrap_or_default();
    let removal = plan_removal(service, Some(&target), &policies, recorded);
    for name in &removal.delete_policies {
        match aas.delete_scaling_policy(name, &id).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    if removal.deregister {
        match aas.deregister_scalable_target(&id).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        notes.push(Note::normal(
            "Deleted",
            format!("deregistered scalable target {id} and its scaling policies"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tags_hash_changes_with_any_tag() {
        let a: Tags = [("k".to_string(), "v".to_string())].into();
        let b: Tags = [("k".to_string(), "w".to_string())].into();
        assert_eq!(tags_hash(&a), tags_hash(&a.clone()));
        assert_ne!(tags_hash(&a), tags_hash(&b));
        assert_eq!(tags_hash(&a).len(), 16);
    }

    #[test]
    fn only_the_recorded_arn_is_ours_without_a_tag_read() {
        let t = ScalableTarget {
            arn: Some("arn:1".into()),
            ..Default::default()
        };
        let st = AutoScalingStatus {
            scalable_target_arn: Some("arn:1".into()),
            ..Default::default()
        };
        assert!(registered_by_us(&t, Some(&st)));
        assert!(!registered_by_us(&t, None));
        let anonymous = ScalableTarget::default();
        assert!(!registered_by_us(
            &anonymous,
            Some(&AutoScalingStatus::default())
        ));
    }
}
