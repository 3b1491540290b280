//! Owner tags: who may touch an AWS resource.

use crate::api::common::GROUP;
use crate::aws::types::Tags;

/// Tag naming the object that owns an AWS resource.
pub const OWNER_TAG: &str = "ecsoperator.io/owner";
/// Tag marking every resource the operator manages.
pub const MANAGED_BY_TAG: &str = "ecsoperator.io/managed-by";
/// Value of [`MANAGED_BY_TAG`].
pub const MANAGED_BY_VALUE: &str = "ecs-operator";

/// `<cluster id>/<namespace>/<kind>/<name>`: the owner tag value of an object.
pub fn owner_value(cluster_id: &str, namespace: &str, kind: &str, name: &str) -> String {
    format!("{cluster_id}/{namespace}/{kind}/{name}")
}

/// The tags an owned resource must carry: the user's tags plus the ownership tags (which
/// win over user tags of the same key).
pub fn desired_tags(owner: &str, user_tags: &Tags) -> Tags {
    let mut tags: Tags = user_tags
        .iter()
        .filter(|(k, _)| !k.starts_with(&format!("{GROUP}/")))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    tags.insert(OWNER_TAG.to_string(), owner.to_string());
    tags.insert(MANAGED_BY_TAG.to_string(), MANAGED_BY_VALUE.to_string());
    tags
}

/// Whether the operator may manage a resource carrying `tags` for `owner`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// Our owner tag is on it.
    Owned,
    /// No owner tag, and the object allows adoption: take it over (tag it).
    Adopt,
    /// Owned by someone else, or unowned without the adopt annotation; the message says which.
    Conflict(String),
}

/// Decide [`Ownership`] of an existing resource.
pub fn ownership(what: &str, tags: &Tags, owner: &str, adopt: bool) -> Ownership {
    match tags.get(OWNER_TAG) {
        Some(o) if o == owner => Ownership::Owned,
        Some(other) => Ownership::Conflict(format!(
            "{what} already exists and is owned by {other}; choose another name"
        )),
        None if adopt => Ownership::Adopt,
        None => Ownership::Conflict(format!(
            "{what} already exists and is not managed by ecs-operator; set the annotation \
             ecsoperator.io/adopt: \"true\" to take it over, or choose another name"
        )),
    }
}

/// Prefix AWS reserves for its own tags (`aws:cloudformation:stack-name`, ...); they cannot be
/// set or removed by callers, and the operator never tries.
pub const AWS_RESERVED_PREFIX: &str = "aws:";

/// Whether a tag key is off limits for removal: the operator's own tags (ownership, spec
/// hash) are managed separately, and `aws:` tags belong to AWS.
fn is_protected_key(key: &str) -> bool {
    key.starts_with(&format!("{GROUP}/")) || key.starts_with(AWS_RESERVED_PREFIX)
}

/// The user tag keys [`desired_tags`] puts on the resources of an object, sorted: what the
/// status records as applied, so a later sync knows which keys it may take away again.
pub fn applied_tag_keys(user_tags: &Tags) -> Vec<String> {
    // Tags is a BTreeMap, so the keys come out sorted and unique.
    user_tags
        .keys()
        .filter(|k| !is_protected_key(k))
        .cloned()
        .collect()
}

/// Tag keys to remove from a resource carrying `current`: those the operator applied
/// earlier (`previously_applied`, from status) that `desired` no longer has and the
/// resource still carries. Keys the operator never applied are left alone, since people or
/// other tools put them there; so are `aws:` and `ecsoperator.io/` keys, even if a status
/// edited by hand listed them. Sorted and without duplicates.
pub fn tags_to_remove(
    current: &Tags,
    desired: &Tags,
    previously_applied: &[String],
) -> Vec<String> {
    let keys: std::collections::BTreeSet<&String> = previously_applied
        .iter()
        .filter(|k| !is_protected_key(k))
        .filter(|k| !desired.contains_key(*k) && current.contains_key(*k))
        .collect();
    keys.into_iter().cloned().collect()
}

/// Tags of `desired` that `current` lacks or has with another value.
pub fn tags_to_set(current: &Tags, desired: &Tags) -> Tags {
    desired
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn ownership_tags_win_over_user_tags() {
        let user = tags(&[("team", "web"), (OWNER_TAG, "spoofed")]);
        let t = desired_tags("c1/ns/EcsService/a", &user);
        assert_eq!(t.get(OWNER_TAG).unwrap(), "c1/ns/EcsService/a");
        assert_eq!(t.get(MANAGED_BY_TAG).unwrap(), "ecs-operator");
        assert_eq!(t.get("team").unwrap(), "web");
    }

    #[test]
    fn ownership_decisions() {
        let me = "c1/ns/EcsCluster/a";
        assert_eq!(
            ownership("x", &tags(&[(OWNER_TAG, me)]), me, false),
            Ownership::Owned
        );
        assert_eq!(ownership("x", &tags(&[]), me, true), Ownership::Adopt);
        assert!(
            matches!(ownership("x", &tags(&[]), me, false), Ownership::Conflict(m) if m.contains("adopt"))
        );
        // Adoption never takes a resource from another owner, e.g. another management cluster.
        let other = tags(&[(OWNER_TAG, "c2/ns/EcsCluster/a")]);
        assert!(
            matches!(ownership("x", &other, me, true), Ownership::Conflict(m) if m.contains("c2/ns"))
        );
    }

    #[test]
    fn only_missing_or_changed_tags_are_set() {
        let current = tags(&[("a", "1"), ("b", "2")]);
        let desired = tags(&[("a", "1"), ("b", "3"), ("c", "4")]);
        assert_eq!(
            tags_to_set(&current, &desired),
            tags(&[("b", "3"), ("c", "4")])
        );
        assert!(tags_to_set(&desired, &desired).is_empty());
    }

    fn keys(ks: &[&str]) -> Vec<String> {
        ks.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn applied_keys_are_the_sorted_user_keys_without_reserved_ones() {
        let user = tags(&[("team", "web"), ("app", "x"), ("ecsoperator.io/owner", "x")]);
        assert_eq!(applied_tag_keys(&user), keys(&["app", "team"]));
        assert!(applied_tag_keys(&Tags::new()).is_empty());
    }

    #[test]
    fn only_previously_applied_keys_gone_from_the_spec_are_removed() {
        let me = "c1/ns/EcsCluster/a";
        let current = tags(&[
            ("team", "web"),
            ("cost-center", "42"),
            ("added-by-hand", "yes"),
            (OWNER_TAG, me),
            (MANAGED_BY_TAG, MANAGED_BY_VALUE),
        ]);
        // cost-center was removed from spec.tags; added-by-hand was never ours.
        let desired = desired_tags(me, &tags(&[("team", "web")]));
        let applied = keys(&["cost-center", "team"]);
        assert_eq!(
            tags_to_remove(&current, &desired, &applied),
            keys(&["cost-center"])
        );
        // Nothing recorded (an object from before appliedTagKeys): nothing is removed.
        assert!(tags_to_remove(&current, &desired, &[]).is_empty());
        // Nothing changed: nothing to remove.
        let same = desired_tags(me, &tags(&[("team", "web"), ("cost-center", "42")]));
        assert!(tags_to_remove(&current, &same, &applied).is_empty());
    }

    #[test]
    fn keys_the_resource_no_longer_carries_are_not_removed_again() {
        let current = tags(&[("team", "web")]);
        let desired = tags(&[("team", "web")]);
        assert!(tags_to_remove(&current, &desired, &keys(&["gone"])).is_empty());
    }

    #[test]
    fn reserved_keys_are_never_removed_even_if_status_lists_them() {
        let current = tags(&[
            (OWNER_TAG, "x"),
            ("ecsoperator.io/spec-hash", "v1"),
            ("aws:cloudformation:stack-name", "s"),
            ("team", "web"),
        ]);
        let applied = keys(&[
            OWNER_TAG,
            "ecsoperator.io/spec-hash",
            "aws:cloudformation:stack-name",
            "team",
            "team",
        ]);
        assert_eq!(
            tags_to_remove(&current, &Tags::new(), &applied),
            keys(&["team"])
        );
    }
}
