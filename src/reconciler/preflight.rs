//! The reads of the preflight checks (see [`crate::planning::preflight`]), and when a
//! kind's sync makes them.
//!
//! When: once per generation, before its first write — the object has no status yet, its
//! spec changed since the last reconciled generation (`observedGeneration` behind), or it
//! is Stalled (a missing role may have been created since: Stalled objects are looked at
//! again every resync period, and this checks again then). Never on a resync of a
//! converged generation (`trust_seen`), nor on the rechecks of a generation that already
//! synced and is only waiting for AWS: zero extra calls at rest.

use std::collections::{BTreeMap, BTreeSet};

use tracing::warn;

use super::error::Error;
use super::managed::{AwsContext, ManagedResource};
use crate::aws::{AwsError, AwsErrorKind};
use crate::planning::preflight::{message, problems, Checks, Found};

/// Whether this sync of `obj` checks its references first (see the module documentation).
pub fn due<K: ManagedResource>(obj: &K, cx: &AwsContext) -> bool {
    if cx.trust_seen {
        return false;
    }
    let Some(status) = obj.status() else {
        return true;
    };
    let common = super::managed::HasCommonStatus::common(status);
    let stalled = common
        .conditions
        .iter()
        .any(|c| c.type_ == "Stalled" && c.status == "True");
    stalled || common.observed_generation != obj.meta().generation
}

/// Look up everything `checks` names; `Err(InvalidSpec)` naming each missing reference
/// and each VPC mismatch, before anything is created. Makes no call when there is
/// nothing to check.
pub async fn check(checks: &Checks, cx: &AwsContext) -> Result<(), Error> {
    if checks.is_empty() {
        return Ok(());
    }
    let aws = &cx.aws;
    let mut found = Found::default();
    let subnets = checks.subnets();
    if !subnets.is_empty() {
        found.subnets = readable(aws.ec2.describe_subnets(&subnets).await)?.map(|list| {
            list.into_iter()
                .map(|s| (s.id, s.vpc_id))
                .collect::<BTreeMap<_, _>>()
        });
    }
    let groups = checks.security_groups();
    if !groups.is_empty() {
        found.security_groups =
            readable(aws.ec2.describe_security_groups(&groups).await)?.map(|list| {
                list.into_iter()
                    .map(|g| (g.id, g.vpc_id))
                    .collect::<BTreeMap<_, _>>()
            });
    }
    let keys = checks.key_pair_names();
    if !keys.is_empty() {
        found.key_pairs = readable(aws.ec2.existing_key_pairs(&keys).await)?
            .map(|k| k.into_iter().collect::<BTreeSet<_>>());
    }
    let profiles = checks.instance_profile_names();
    if !profiles.is_empty() {
        found.instance_profiles = existing_iam(cx, Iam::InstanceProfile, profiles).await?;
    }
    let roles = checks.role_names();
    if !roles.is_empty() {
        found.roles = existing_iam(cx, Iam::Role, roles).await?;
    }
    let wrong = problems(checks, &found);
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(Error::InvalidSpec(message(&wrong)))
    }
}

/// The kinds of IAM entity a spec names.
#[derive(Clone, Copy)]
enum Iam {
    Role,
    InstanceProfile,
}

/// Which of `names` exist (IAM has no batch read: one call each); `None` when IAM may
/// not be read.
async fn existing_iam(
    cx: &AwsContext,
    kind: Iam,
    names: Vec<String>,
) -> Result<Option<BTreeSet<String>>, Error> {
    let mut existing = BTreeSet::new();
    for name in names {
        let answer = match kind {
            Iam::Role => cx.aws.iam.get_role(&name).await,
            Iam::InstanceProfile => cx.aws.iam.get_instance_profile(&name).await,
        };
        match readable(answer)? {
            Some(Some(_arn)) => {
                existing.insert(name);
            }
            Some(None) => {}
            None => return Ok(None),
        }
    }
    Ok(Some(existing))
}

/// A read's answer; `Ok(None)` when the operator may not make it (an install whose IAM
/// policy predates these checks): the check is skipped, and AWS still refuses a bad
/// reference when it is used, as before. Other errors (throttling, 5xx) are the sync's.
fn readable<T>(result: Result<T, AwsError>) -> Result<Option<T>, Error> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind == AwsErrorKind::AccessDenied => {
            warn!(error = %e, "preflight check skipped: not allowed to read");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::cluster::{EcsCluster, EcsClusterSpec, EcsClusterStatus};
    use crate::aws::fake::FakeAws;
    use crate::aws::AwsProvider;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    fn cx(trust_seen: bool) -> AwsContext {
        let mut cx = AwsContext::new(FakeAws::new().clients(None), "o".into(), false, "c".into());
        cx.trust_seen = trust_seen;
        cx
    }

    fn cluster(observed: Option<i64>, stalled: bool) -> EcsCluster {
        let mut c = EcsCluster::new("c", EcsClusterSpec::default());
        c.metadata.generation = Some(2);
        if let Some(observed) = observed {
            let mut status = EcsClusterStatus::default();
            status.common.observed_generation = Some(observed);
            if stalled {
                status.common.conditions.push(Condition {
                    type_: "Stalled".into(),
                    status: "True".into(),
                    reason: "InvalidSpec".into(),
                    message: String::new(),
                    observed_generation: Some(observed),
                    last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
                });
            }
            c.status = Some(status);
        }
        c
    }

    #[test]
    fn due_once_per_generation_and_while_stalled_never_at_rest() {
        // First sync, and a spec change.
        assert!(due(&cluster(None, false), &cx(false)));
        assert!(due(&cluster(Some(1), false), &cx(false)));
        // The generation synced (converging or converged): no checks.
        assert!(!due(&cluster(Some(2), false), &cx(false)));
        // Stalled (on a missing reference, say): checked again at each resync.
        assert!(due(&cluster(Some(2), true), &cx(false)));
        // A resync of a converged generation never checks.
        assert!(!due(&cluster(None, false), &cx(true)));
    }
}
