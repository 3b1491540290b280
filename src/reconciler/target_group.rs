//! The managed ALB target group of an EcsService and its listener rule: created before
//! the service (group, then the rule that associates it with the ALB, which ECS requires),
//! reconciled on every sync, deleted after the service is gone (rule, then group). Targets
//! are never touched: ECS registers and deregisters the tasks.

use super::error::Error;
use super::managed::{AwsContext, Note};
use crate::aws::observed::elbv2::DELAY_SWEEPS;
use crate::aws::types::{CreateRuleInput, CreateTargetGroupInput, ListenerRule, Tags};
use crate::aws::AwsErrorKind;
use crate::planning::drift::{self, Drift, Resource};
use crate::planning::ownership::{tags_to_remove, tags_to_set, OWNER_TAG};
use crate::planning::target_group::{
    listener_arn_of_rule, plan_deregistration_delay, plan_rule, plan_target_group,
    DesiredTargetGroup, RulePlan,
};

/// What a sync left in AWS, for the service and status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncedTargetGroup {
    /// Target group ARN (the service's loadBalancers entry).
    pub arn: String,
    /// ARN of the listener rule that forwards to it.
    pub rule_arn: String,
}

fn listener_gone(arn: &str) -> Error {
    Error::InvalidSpec(format!(
        "ALB listener {arn} not found: set loadBalancer.managedTargetGroup.listenerArn to an existing listener"
    ))
}

fn priority_taken(want: &DesiredTargetGroup, holder: &str) -> Error {
    Error::InvalidSpec(format!(
        "priority {} on listener {} is held by another rule ({holder}): choose another \
         loadBalancer.managedTargetGroup.rule.priority",
        want.priority, want.listener_arn
    ))
}

/// Every rule of the spec's listener, read directly.
async fn read_rules(
    cx: &AwsContext,
    want: &DesiredTargetGroup,
) -> Result<Vec<ListenerRule>, Error> {
    match cx.aws.elbv2.describe_rules(&want.listener_arn).await {
        Err(e) if e.is_not_found() => Err(listener_gone(&want.listener_arn)),
        other => Ok(other?),
    }
}

/// Create or correct the target group and its rule. A resync of a converged service reads
/// what the last sweep saw of both (group, tags, the listener's rules, the rule's tags);
/// anything else, and what the sweep did not see, is read directly.
pub async fn sync_target_group(
    want: &DesiredTargetGroup,
    tags: &Tags,
    applied: &[String],
    cx: &AwsContext,
    notes: &mut Vec<Note>,
    corrected: &mut Vec<Drift>,
) -> Result<SyncedTargetGroup, Error> {
    let v2 = &cx.aws.elbv2;
    let swept = cx.swept(|seen, age| seen.target_group(&want.name, age));
    let (found, swept_tags) = match swept {
        Some((tg, tags)) => (Some(tg), Some(tags)),
        None => (v2.describe_target_group(&want.name).await?, None),
    };
    let tg = match found {
        None => {
            // The VPC comes from the listener's ALB: two reads, at creation only.
            let listener = v2
                .describe_listener(&want.listener_arn)
                .await?
                .ok_or_else(|| listener_gone(&want.listener_arn))?;
            let lb = v2
                .describe_load_balancer(&listener.load_balancer_arn)
                .await?
                .ok_or_else(|| listener_gone(&want.listener_arn))?;
            let vpc_id = lb.vpc_id.ok_or_else(|| {
                Error::WaitingForDependency(format!("load balancer {} reports no VPC yet", lb.arn))
            })?;
            // DuplicateTargetGroupName (a create whose answer was lost) is retried: the next
            // sync finds the group and claims it by its owner tag.
            let tg = v2
                .create_target_group(&CreateTargetGroupInput {
                    name: want.name.clone(),
                    protocol: want.protocol.clone(),
                    port: want.port,
                    vpc_id,
                    target_type: want.target_type.clone(),
                    health_check: want.health_check.clone(),
                    tags: tags.clone(),
                })
                .await?;
            if let Some(seconds) = want.deregistration_delay {
                v2.set_deregistration_delay(&tg.arn, seconds).await?;
                cx.seen.record_deregistration_delay(&tg.arn, Some(seconds));
            }
            notes.push(Note::normal(
                "Created",
                format!("created target group {} ({})", want.name, want.target_type),
            ));
            tg
        }
        Some(tg) => {
            let current = match swept_tags {
                Some(tags) => tags,
                None => v2.describe_tags(&tg.arn).await?,
            };
            cx.claim(&format!("target group {}", want.name), &current, notes)?;
            let stale = tags_to_remove(&current, tags, applied);
            if !stale.is_empty() {
                v2.remove_tags(&tg.arn, &stale).await?;
            }
            let missing = tags_to_set(&current, tags);
            if !missing.is_empty() {
                v2.add_tags(&tg.arn, &missing).await?;
            }
            corrected.extend(drift::tags(
                Resource::TargetGroup,
                &current,
                &stale,
                &missing,
            ));
            let plan = plan_target_group(want, None, &tg).map_err(|fixed| {
                Error::InvalidSpec(format!(
                    "target group {} differs from the spec in what ELBv2 cannot change: {fixed}; \
                     give loadBalancer.managedTargetGroup a new name to replace it",
                    want.name
                ))
            })?;
            if let Some(hc) = &plan.health_check {
                v2.modify_target_group(&tg.arn, hc).await?;
            }
            if !plan.is_empty() || !stale.is_empty() || !missing.is_empty() {
                // Changed just now: the next resync reads it again.
                cx.seen.forget_target_group(&want.name);
            }
            corrected.extend(plan.drift);
            if want.deregistration_delay.is_some() {
                // Read one group a call, so a sweep re-reads only a share of them each
                // period: a reading is trusted for as many periods.
                let swept = cx.swept(|seen, age| {
                    seen.deregistration_delay(&tg.arn, age.saturating_mul(DELAY_SWEEPS))
                });
                let observed = match swept {
                    Some(d) => d,
                    None => {
                        let d = v2.deregistration_delay(&tg.arn).await?;
                        cx.seen.record_deregistration_delay(&tg.arn, d);
                        d
                    }
                };
                if let Some(seconds) =
                    plan_deregistration_delay(want.deregistration_delay, observed, corrected)
                {
                    v2.set_deregistration_delay(&tg.arn, seconds).await?;
                    cx.seen.record_deregistration_delay(&tg.arn, Some(seconds));
                }
            }
            tg
        }
    };
    // A rule the sweep did not see may exist by now: only a direct read may lead to a
    // create (or to blaming another rule's priority).
    let swept_plan = cx
        .swept(|seen, age| seen.listener_rules(&want.listener_arn, age))
        .map(|rules| plan_rule(want, &tg.arn, &rules))
        .filter(|p| !matches!(p, RulePlan::Create | RulePlan::PriorityTaken { .. }));
    let plan = match swept_plan {
        Some(p) => p,
        None => plan_rule(want, &tg.arn, &read_rules(cx, want).await?),
    };
    let rule_arn = match plan {
        RulePlan::Create => {
            cx.seen.forget_listener_rules(&want.listener_arn);
            let created = v2
                .create_rule(&CreateRuleInput {
                    listener_arn: want.listener_arn.clone(),
                    priority: want.priority,
                    conditions: want.conditions.clone(),
                    target_group_arn: tg.arn.clone(),
                    tags: tags.clone(),
                })
                .await;
            let rule = match created {
                Err(e) if e.code == "PriorityInUse" => {
                    return Err(priority_taken(want, "created meanwhile"))
                }
                Err(e) if e.code == "ListenerNotFound" => {
                    return Err(listener_gone(&want.listener_arn))
                }
                other => other?,
            };
            notes.push(Note::normal(
                "Created",
                format!(
                    "created listener rule at priority {} forwarding to target group {}",
                    want.priority, want.name
                ),
            ));
            rule.arn
        }
        RulePlan::InSync { arn } => {
            sync_rule_tags(&arn, tags, applied, cx, corrected).await?;
            arn
        }
        RulePlan::Update {
            arn,
            conditions,
            priority,
            drift,
        } => {
            sync_rule_tags(&arn, tags, applied, cx, corrected).await?;
            cx.seen.forget_listener_rules(&want.listener_arn);
            if conditions {
                v2.modify_rule(&arn, &want.conditions, &tg.arn).await?;
            }
            if priority {
                match v2.set_rule_priority(&arn, want.priority).await {
                    Err(e) if e.code == "PriorityInUse" => {
                        return Err(priority_taken(want, "another rule"))
                    }
                    other => other?,
                }
            }
            corrected.extend(drift);
            arn
        }
        RulePlan::PriorityTaken { holder } => return Err(priority_taken(want, &holder)),
    };
    Ok(SyncedTargetGroup {
        arn: tg.arn,
        rule_arn,
    })
}

/// Tags of our rule follow spec.tags like the group's (the rule is ours because it
/// forwards to our group, so no claim here).
async fn sync_rule_tags(
    arn: &str,
    tags: &Tags,
    applied: &[String],
    cx: &AwsContext,
    corrected: &mut Vec<Drift>,
) -> Result<(), Error> {
    let v2 = &cx.aws.elbv2;
    let current = match cx.swept(|seen, age| seen.rule_tags(arn, age)) {
        Some(tags) => tags,
        None => v2.describe_tags(arn).await?,
    };
    let stale = tags_to_remove(&current, tags, applied);
    if !stale.is_empty() {
        cx.seen.forget_rule_tags(arn);
        v2.remove_tags(arn, &stale).await?;
    }
    let missing = tags_to_set(&current, tags);
    if !missing.is_empty() {
        cx.seen.forget_rule_tags(arn);
        v2.add_tags(arn, &missing).await?;
    }
    corrected.extend(drift::tags(
        Resource::ListenerRule,
        &current,
        &stale,
        &missing,
    ));
    Ok(())
}

/// After the service is gone: delete the rules on `listener_arn` that forward to the
/// target group `name`, then the group, if it carries this object's owner tag. A group
/// still in use (ECS has not let go of it yet) is waited for.
pub async fn delete_target_group(
    name: &str,
    listener_arn: &str,
    cx: &AwsContext,
    notes: &mut Vec<Note>,
) -> Result<(), Error> {
    let v2 = &cx.aws.elbv2;
    let Some(tg) = v2.describe_target_group(name).await? else {
        return Ok(());
    };
    let tags = match v2.describe_tags(&tg.arn).await {
        Ok(t) => t,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if tags.get(OWNER_TAG) != Some(&cx.owner) {
        notes.push(Note::normal(
            "Released",
            format!("target group {name} is not owned by this object: left in place"),
        ));
        return Ok(());
    }
    let rules = match v2.describe_rules(listener_arn).await {
        Ok(r) => r,
        // The listener (or its ALB) is gone, and its rules with it.
        Err(e) if e.is_not_found() => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    for rule in rules
        .iter()
        .filter(|r| r.priority.is_some() && r.forward_to.contains(&tg.arn))
    {
        cx.seen.forget_listener_rules(listener_arn);
        match v2.delete_rule(&rule.arn).await {
            Err(e) if e.is_not_found() => {}
            other => other?,
        }
        notes.push(Note::normal(
            "Deleted",
            format!("deleted the listener rule forwarding to target group {name}"),
        ));
    }
    cx.seen.forget_target_group(name);
    match v2.delete_target_group(&tg.arn).await {
        Err(e) if e.kind == AwsErrorKind::Dependency => {
            return Err(Error::WaitingForDependency(format!(
                "target group {name} is still in use: {}",
                e.message
            )))
        }
        other => other?,
    }
    notes.push(Note::normal(
        "Deleted",
        format!("deleted target group {name}"),
    ));
    Ok(())
}

/// Retire target groups this object no longer wants (renamed, or managedTargetGroup left
/// the spec): `previous` is the one status recorded last (its rule is deleted by ARN
/// first, which stops its traffic), `pending` those an earlier sync could not delete yet.
/// A group ECS still uses (the old deployment is draining) stays pending; one that is
/// gone or not ours is dropped. Returns the names still pending, for status.
pub async fn retire_target_groups(
    previous: Option<(&str, Option<&str>)>,
    pending: &[String],
    cx: &AwsContext,
    notes: &mut Vec<Note>,
) -> Result<Vec<String>, Error> {
    let v2 = &cx.aws.elbv2;
    let mut names: Vec<String> = pending.to_vec();
    if let Some((name, rule_arn)) = previous {
        if let Some(rule_arn) = rule_arn {
            let owned = match v2.describe_tags(rule_arn).await {
                Ok(tags) => tags.get(OWNER_TAG) == Some(&cx.owner),
                Err(e) if e.is_not_found() => false,
                Err(e) => return Err(e.into()),
            };
            if owned {
                if let Some(listener) = listener_arn_of_rule(rule_arn) {
                    cx.seen.forget_listener_rules(&listener);
                }
                match v2.delete_rule(rule_arn).await {
                    Err(e) if e.is_not_found() => {}
                    other => other?,
                }
                notes.push(Note::normal(
                    "Deleted",
                    format!("deleted the listener rule forwarding to target group {name}"),
                ));
            }
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    let mut still = Vec::new();
    for name in names {
        let Some(tg) = v2.describe_target_group(&name).await? else {
            continue;
        };
        let tags = match v2.describe_tags(&tg.arn).await {
            Ok(t) => t,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        };
        if tags.get(OWNER_TAG) != Some(&cx.owner) {
            continue;
        }
        cx.seen.forget_target_group(&name);
        match v2.delete_target_group(&tg.arn).await {
            Ok(()) => notes.push(Note::normal(
                "Deleted",
                format!("deleted target group {name}, which the service no longer uses"),
            )),
            Err(e) if e.kind == AwsErrorKind::Dependency => still.push(name),
            Err(e) => return Err(e.into()),
        }
    }
    still.sort();
    Ok(still)
}
