//! Drift as a value: one field of one owned AWS resource whose live value differs from
//! what the spec wants, with both values, so Events and metrics can say what was corrected.

use std::fmt;

use serde::Serialize;

use crate::aws::types::Tags;

/// Longest value shown in an Event, in characters: a whole task definition or listener
/// list would crowd out the other fields of a message limited to 1 KiB.
const MAX_VALUE_CHARS: usize = 80;

/// An AWS resource that an object owns and corrects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    /// The ECS cluster of an EcsCluster.
    EcsCluster,
    /// The EC2 launch template of an EcsCluster's capacity.
    LaunchTemplate,
    /// The Auto Scaling group of an EcsCluster's capacity.
    AutoScalingGroup,
    /// The ECS capacity provider of an EcsCluster's Auto Scaling group.
    CapacityProvider,
    /// The managed classic ELB of an EcsService.
    LoadBalancer,
    /// The ECS service of an EcsService.
    EcsService,
    /// The latest revision of an EcsTaskDef's family.
    TaskDefinition,
    /// The Application Auto Scaling scalable target of an EcsService.
    ScalableTarget,
    /// A target tracking scaling policy of an EcsService.
    ScalingPolicy,
    /// The managed ELBv2 target group of an EcsService.
    TargetGroup,
    /// The ALB listener rule that forwards to an EcsService's managed target group.
    ListenerRule,
}

impl Resource {
    /// The name people use, for Event messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::EcsCluster => "ECS cluster",
            Resource::LaunchTemplate => "launch template",
            Resource::AutoScalingGroup => "Auto Scaling group",
            Resource::CapacityProvider => "capacity provider",
            Resource::LoadBalancer => "load balancer",
            Resource::EcsService => "ECS service",
            Resource::TaskDefinition => "task definition",
            Resource::ScalableTarget => "scalable target",
            Resource::ScalingPolicy => "scaling policy",
            Resource::TargetGroup => "target group",
            Resource::ListenerRule => "listener rule",
        }
    }

    /// The metric label value: without spaces or capitals, which PromQL users would have
    /// to quote and remember.
    pub fn label(self) -> &'static str {
        match self {
            Resource::EcsCluster => "ecs_cluster",
            Resource::LaunchTemplate => "launch_template",
            Resource::AutoScalingGroup => "auto_scaling_group",
            Resource::CapacityProvider => "capacity_provider",
            Resource::LoadBalancer => "load_balancer",
            Resource::EcsService => "ecs_service",
            Resource::TaskDefinition => "task_definition",
            Resource::ScalableTarget => "scalable_target",
            Resource::ScalingPolicy => "scaling_policy",
            Resource::TargetGroup => "target_group",
            Resource::ListenerRule => "listener_rule",
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One field of an owned AWS resource that differs from the spec and is being set to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift {
    /// Which owned resource.
    pub resource: Resource,
    /// The field as users know it from the spec or the AWS API, e.g. `desiredCount`.
    pub field: &'static str,
    /// What the spec wants (the value after the correction).
    pub desired: String,
    /// What AWS had (the value before the correction).
    pub observed: String,
}

impl Drift {
    /// A difference, `observed` in AWS and `desired` by the spec.
    pub fn new(
        resource: Resource,
        field: &'static str,
        observed: impl Into<String>,
        desired: impl Into<String>,
    ) -> Self {
        Self {
            resource,
            field,
            desired: desired.into(),
            observed: observed.into(),
        }
    }
}

/// `field old → new`, values shortened.
impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} → {}",
            self.field,
            shorten(&self.observed, MAX_VALUE_CHARS),
            shorten(&self.desired, MAX_VALUE_CHARS)
        )
    }
}

/// Push a drift of `field` when `observed` differs from `desired`; whether it did.
pub fn check<T: PartialEq + fmt::Display + ?Sized>(
    out: &mut Vec<Drift>,
    resource: Resource,
    field: &'static str,
    desired: &T,
    observed: &T,
) -> bool {
    if desired == observed {
        return false;
    }
    out.push(Drift::new(
        resource,
        field,
        observed.to_string(),
        desired.to_string(),
    ));
    true
}

/// `ECS service desiredCount 3 → 2, taskDefinition web:4 → web:5; load balancer …`: the
/// fields grouped by resource, resources in the order they first appear.
pub fn describe(drift: &[Drift]) -> String {
    let mut resources: Vec<Resource> = Vec::new();
    for d in drift {
        if !resources.contains(&d.resource) {
            resources.push(d.resource);
        }
    }
    resources
        .iter()
        .map(|r| {
            let fields: Vec<String> = drift
                .iter()
                .filter(|d| d.resource == *r)
                .map(ToString::to_string)
                .collect();
            format!("{r} {}", fields.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `s` cut to at most `max` characters, with `…` when cut.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `s` cut to at most `max` bytes on a character boundary, with `…` when cut (Kubernetes
/// limits an Event's note to 1 KiB, counted in bytes).
pub fn truncate_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let ellipsis = '…';
    let budget = max.saturating_sub(ellipsis.len_utf8());
    let mut end = budget.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = s[..end].to_string();
    out.push(ellipsis);
    out
}

/// `[a, b]`, sorted: lists whose order AWS does not keep.
pub fn sorted_list(items: &[String]) -> String {
    let mut v = items.to_vec();
    v.sort();
    v.dedup();
    format!("[{}]", v.join(", "))
}

/// An optional value, `none` when absent.
pub fn or_none<T: fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "none".into())
}

/// A spec value in the ECS API's JSON spelling, for structured settings.
pub fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "?".into())
}

/// The tag correction of a resource: the keys set or removed, as AWS had them and as the
/// spec wants them; `None` when nothing changes.
pub fn tags(resource: Resource, current: &Tags, removed: &[String], set: &Tags) -> Option<Drift> {
    if removed.is_empty() && set.is_empty() {
        return None;
    }
    let mut keys: Vec<&String> = removed.iter().chain(set.keys()).collect();
    keys.sort();
    keys.dedup();
    let show = |tags: &Tags| {
        let pairs: Vec<String> = keys
            .iter()
            .filter_map(|k| tags.get(*k).map(|v| format!("{k}={v}")))
            .collect();
        format!("{{{}}}", pairs.join(", "))
    };
    Some(Drift::new(resource, "tags", show(current), show(set)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_old_then_new() {
        let d = Drift::new(Resource::EcsService, "desiredCount", "3", "5");
        assert_eq!(d.to_string(), "desiredCount 3 → 5");
        assert_eq!(d.observed, "3");
        assert_eq!(d.desired, "5");
    }

    #[test]
    fn check_pushes_only_differences() {
        let mut out = Vec::new();
        assert!(!check(
            &mut out,
            Resource::AutoScalingGroup,
            "minSize",
            &2,
            &2
        ));
        assert!(check(
            &mut out,
            Resource::AutoScalingGroup,
            "minSize",
            &2,
            &1
        ));
        assert!(check(
            &mut out,
            Resource::EcsService,
            "taskDefinition",
            "web:5",
            "web:4"
        ));
        assert_eq!(
            out,
            vec![
                Drift::new(Resource::AutoScalingGroup, "minSize", "1", "2"),
                Drift::new(Resource::EcsService, "taskDefinition", "web:4", "web:5"),
            ]
        );
    }

    #[test]
    fn describe_groups_fields_by_resource() {
        let drift = vec![
            Drift::new(Resource::EcsService, "desiredCount", "3", "2"),
            Drift::new(Resource::LoadBalancer, "subnetIds", "[a]", "[a, b]"),
            Drift::new(Resource::EcsService, "taskDefinition", "web:4", "web:5"),
        ];
        assert_eq!(
            describe(&drift),
            "ECS service desiredCount 3 → 2, taskDefinition web:4 → web:5; \
             load balancer subnetIds [a] → [a, b]"
        );
        assert_eq!(describe(&[]), "");
    }

    #[test]
    fn long_values_are_shortened() {
        let long = "x".repeat(500);
        let d = Drift::new(Resource::TaskDefinition, "revision", long.clone(), "b");
        let shown = d.to_string();
        assert!(shown.chars().count() < 100, "{shown}");
        assert!(shown.contains('…'));
        assert_eq!(d.observed, long, "the value itself is kept whole");
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcd", 3), "ab…");
    }

    #[test]
    fn byte_truncation_keeps_characters_whole() {
        assert_eq!(truncate_bytes("abc", 10), "abc");
        let arrows = "→".repeat(400);
        let cut = truncate_bytes(&arrows, 1024);
        assert!(cut.len() <= 1024);
        assert!(cut.ends_with('…'));
        assert!(cut.trim_end_matches('…').chars().all(|c| c == '→'));
    }

    #[test]
    fn helpers_format_lists_options_and_json() {
        assert_eq!(sorted_list(&["b".into(), "a".into(), "a".into()]), "[a, b]");
        assert_eq!(or_none(Some(3)), "3");
        assert_eq!(or_none(None::<i32>), "none");
        assert_eq!(json(&vec![1, 2]), "[1,2]");
    }

    #[test]
    fn tag_drift_names_the_keys_changed() {
        let current: Tags = [
            ("team".to_string(), "api".to_string()),
            ("old".to_string(), "x".to_string()),
            ("keep".to_string(), "y".to_string()),
        ]
        .into();
        let set: Tags = [("team".to_string(), "web".to_string())].into();
        assert_eq!(
            tags(Resource::EcsCluster, &current, &["old".into()], &set),
            Some(Drift::new(
                Resource::EcsCluster,
                "tags",
                "{old=x, team=api}",
                "{team=web}"
            ))
        );
        assert_eq!(
            tags(Resource::EcsCluster, &current, &[], &Tags::new()),
            None
        );
    }
}
