//! ECS capacity providers of an EcsCluster: the managed EC2 provider of its Auto Scaling
//! group, the cluster's set of providers and its default strategy, and their removal.

use crate::api::cluster::{CapacityProviderSpec, EcsClusterSpec};
use crate::api::common::CapacityProviderStrategyItem;
use crate::aws::types::{
    CapacityProvider, CapacityProviderSettings, ClusterInfo, ManagedScalingSettings, StrategyItem,
    Tags,
};

use super::drift::{self, Drift, Resource};

/// Tag ECS wants on an Auto Scaling group that a capacity provider with managed scaling
/// scales (ECS adds it itself when missing; set by the operator so that its own tag sync
/// does not see it as foreign, and so the group says who scales it).
pub const ECS_MANAGED_TAG: &str = "AmazonECSManaged";

/// Providers AWS Fargate offers in every cluster; never created or deleted by anyone.
pub const FARGATE_PROVIDERS: [&str; 2] = ["FARGATE", "FARGATE_SPOT"];

/// Whether ECS refuses `name` for a capacity provider: it may not start with aws, ecs or
/// fargate, in any case.
pub fn reserved_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["aws", "ecs", "fargate"]
        .iter()
        .any(|p| lower.starts_with(p))
}

/// The settings the spec asks for.
pub fn settings(spec: &CapacityProviderSpec) -> CapacityProviderSettings {
    CapacityProviderSettings {
        managed_scaling: spec
            .managed_scaling
            .as_ref()
            .filter(|m| m.status.is_enabled())
            .map(|m| ManagedScalingSettings {
                target_capacity: m.target_capacity,
                minimum_scaling_step_size: m.minimum_scaling_step_size,
                maximum_scaling_step_size: m.maximum_scaling_step_size,
                instance_warmup_period: m.instance_warmup_period,
            }),
        managed_termination_protection: spec.managed_termination_protection.is_enabled(),
        managed_draining: spec.managed_draining.is_enabled(),
    }
}

fn scaling_str(m: Option<&ManagedScalingSettings>) -> String {
    match m {
        None => "DISABLED".into(),
        Some(m) => format!(
            "ENABLED (target {}%, steps {}–{}, warm-up {}s)",
            m.target_capacity,
            m.minimum_scaling_step_size,
            m.maximum_scaling_step_size,
            m.instance_warmup_period
        ),
    }
}

fn toggle_str(on: bool) -> &'static str {
    if on {
        "ENABLED"
    } else {
        "DISABLED"
    }
}

/// The fields of an existing provider that differ from the wanted settings. Empty: no
/// UpdateCapacityProvider (so a resync writes nothing).
pub fn plan_provider(want: &CapacityProviderSettings, observed: &CapacityProvider) -> Vec<Drift> {
    let have = &observed.settings;
    let r = Resource::CapacityProvider;
    let mut out = Vec::new();
    if want.managed_scaling != have.managed_scaling {
        out.push(Drift::new(
            r,
            "managedScaling",
            scaling_str(have.managed_scaling.as_ref()),
            scaling_str(want.managed_scaling.as_ref()),
        ));
    }
    drift::check(
        &mut out,
        r,
        "managedTerminationProtection",
        toggle_str(want.managed_termination_protection),
        toggle_str(have.managed_termination_protection),
    );
    drift::check(
        &mut out,
        r,
        "managedDraining",
        toggle_str(want.managed_draining),
        toggle_str(have.managed_draining),
    );
    out
}

/// Why an existing provider cannot serve the group: ECS never changes a provider's group,
/// so a provider left over from a group that was deleted and created again (a new ARN)
/// would scale nothing. `None` when it is the group's (or the group's ARN is not known).
pub fn group_mismatch(observed: &CapacityProvider, group_arn: Option<&str>) -> Option<String> {
    let arn = group_arn?;
    (observed.auto_scaling_group_arn != arn).then(|| {
        format!(
            "capacity provider {} serves Auto Scaling group {}, not {arn}, and ECS cannot \
             change that: delete the capacity provider (or set capacity.capacityProvider.name \
             to another name) so that one is created for this group",
            observed.name, observed.auto_scaling_group_arn
        )
    })
}

/// A strategy of the API with ECS's defaults (weight 0, base 0) filled in, as ECS reports it.
pub fn strategy(items: &[CapacityProviderStrategyItem]) -> Vec<StrategyItem> {
    items
        .iter()
        .map(|i| StrategyItem {
            capacity_provider: i.capacity_provider.clone(),
            weight: i.weight.unwrap_or(0),
            base: i.base.unwrap_or(0),
        })
        .collect()
}

/// Whether two strategies are the same, whatever their order (ECS places by weight and
/// base, not by position).
pub fn same_strategy(a: &[StrategyItem], b: &[StrategyItem]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}

/// A strategy for Events: `[FARGATE 1/0, my-ec2 3/2]` (weight/base), sorted.
pub fn describe_strategy(items: &[StrategyItem]) -> String {
    let mut parts: Vec<String> = items
        .iter()
        .map(|i| format!("{} {}/{}", i.capacity_provider, i.weight, i.base))
        .collect();
    parts.sort();
    format!("[{}]", parts.join(", "))
}

/// What the cluster should have attached: the managed provider (when the spec has one) and
/// the Fargate providers of the spec, and the default strategy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Association {
    /// Providers, sorted.
    pub providers: Vec<String>,
    /// Default strategy.
    pub strategy: Vec<StrategyItem>,
}

/// The association the spec asks for; `managed` is the managed provider's name, if any.
///
/// Err when the default strategy names a provider the cluster will not have (the CRD's
/// rules catch this, except for a default provider name derived from metadata.name).
pub fn desired_association(
    spec: &EcsClusterSpec,
    managed: Option<&str>,
) -> Result<Association, String> {
    let mut providers: Vec<String> = spec
        .capacity_providers
        .iter()
        .map(|p| p.as_str().to_string())
        .collect();
    providers.extend(managed.map(str::to_string));
    providers.sort();
    providers.dedup();
    let strategy = strategy(&spec.default_capacity_provider_strategy);
    if let Some(bad) = strategy
        .iter()
        .find(|i| !providers.contains(&i.capacity_provider))
    {
        return Err(format!(
            "defaultCapacityProviderStrategy names capacity provider {}, which the cluster \
             does not have: the providers are {}",
            bad.capacity_provider,
            drift::sorted_list(&providers)
        ));
    }
    Ok(Association {
        providers,
        strategy,
    })
}

/// The PutClusterCapacityProviders call to make, with what it corrects; `None` when the
/// cluster already has this set and strategy (the usual resync: no write).
pub fn plan_association(want: &Association, cluster: &ClusterInfo) -> Option<Vec<Drift>> {
    let r = Resource::EcsCluster;
    let mut out = Vec::new();
    drift::check(
        &mut out,
        r,
        "capacityProviders",
        &drift::sorted_list(&want.providers),
        &drift::sorted_list(&cluster.capacity_providers),
    );
    if !same_strategy(&want.strategy, &cluster.default_capacity_provider_strategy) {
        out.push(Drift::new(
            r,
            "defaultCapacityProviderStrategy",
            describe_strategy(&cluster.default_capacity_provider_strategy),
            describe_strategy(&want.strategy),
        ));
    }
    (!out.is_empty()).then_some(out)
}

/// The cluster's association without `provider` (and without the strategy entries that
/// name it); `None` when it is not attached.
pub fn without(cluster: &ClusterInfo, provider: &str) -> Option<Association> {
    let attached = cluster.capacity_providers.iter().any(|p| p == provider)
        || cluster
            .default_capacity_provider_strategy
            .iter()
            .any(|i| i.capacity_provider == provider);
    attached.then(|| Association {
        providers: cluster
            .capacity_providers
            .iter()
            .filter(|p| *p != provider)
            .cloned()
            .collect(),
        strategy: cluster
            .default_capacity_provider_strategy
            .iter()
            .filter(|i| i.capacity_provider != provider)
            .cloned()
            .collect(),
    })
}

/// Names of EC2 capacity providers that may be this object's and are no longer wanted:
/// the one status remembers, the default name, and those attached to the cluster (status
/// may have been lost with a failed write). Fargate's and the wanted one are left out; the
/// caller keeps only those carrying its owner tag.
pub fn removal_candidates(
    remembered: Option<&str>,
    default_name: &str,
    attached: &[String],
    wanted: Option<&str>,
) -> Vec<String> {
    let mut out: Vec<String> = remembered
        .into_iter()
        .chain(std::iter::once(default_name))
        .chain(attached.iter().map(String::as_str))
        .filter(|n| !FARGATE_PROVIDERS.contains(n) && Some(*n) != wanted)
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The next step in removing an owned capacity provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderRemoval {
    /// Still attached to the cluster: PutClusterCapacityProviders without it first (ECS
    /// refuses to delete an attached provider).
    Detach,
    /// Detached: DeleteCapacityProvider.
    Delete,
    /// Deletion under way: look again later.
    Wait,
    /// Gone: the group can go next.
    Gone,
}

/// Where removing `provider` stands; `attached` whether the cluster still lists it.
pub fn provider_removal(provider: Option<&CapacityProvider>, attached: bool) -> ProviderRemoval {
    match provider {
        None => ProviderRemoval::Gone,
        Some(p) if p.status == "INACTIVE" => ProviderRemoval::Gone,
        Some(p) if p.is_deleting() => ProviderRemoval::Wait,
        Some(_) if attached => ProviderRemoval::Detach,
        Some(_) => ProviderRemoval::Delete,
    }
}

/// The group's tags when a capacity provider scales it: ECS's marker tag besides ours.
pub fn group_tags(tags: &Tags, with_provider: bool) -> Tags {
    let mut out = tags.clone();
    if with_provider {
        out.insert(ECS_MANAGED_TAG.to_string(), "true".to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::cluster::{FargateCapacityProvider, ManagedScaling, Toggle};

    fn spec() -> CapacityProviderSpec {
        CapacityProviderSpec {
            name: None,
            managed_scaling: Some(ManagedScaling::default()),
            managed_termination_protection: Toggle::Enabled,
            managed_draining: Toggle::Enabled,
        }
    }

    fn observed(settings: CapacityProviderSettings) -> CapacityProvider {
        CapacityProvider {
            arn: "arn:aws:ecs:us-east-1:1:capacity-provider/c-ec2".into(),
            name: "c-ec2".into(),
            status: "ACTIVE".into(),
            settings,
            ..Default::default()
        }
    }

    fn item(p: &str, weight: Option<i32>, base: Option<i32>) -> CapacityProviderStrategyItem {
        CapacityProviderStrategyItem {
            capacity_provider: p.into(),
            weight,
            base,
        }
    }

    #[test]
    fn reserved_prefixes_in_any_case() {
        for bad in ["aws-x", "ECS_x", "Fargate2", "awsome"] {
            assert!(reserved_name(bad), "{bad}");
        }
        for ok in ["my-ecs", "c-ec2", "prod_capacity"] {
            assert!(!reserved_name(ok), "{ok}");
        }
    }

    #[test]
    fn settings_follow_the_spec_and_disabled_scaling_is_none() {
        let s = settings(&spec());
        assert_eq!(
            s.managed_scaling,
            Some(ManagedScalingSettings {
                target_capacity: 100,
                minimum_scaling_step_size: 1,
                maximum_scaling_step_size: 10000,
                instance_warmup_period: 300,
            })
        );
        assert!(s.managed_termination_protection && s.managed_draining);
        let mut off = spec();
        off.managed_scaling = Some(ManagedScaling {
            status: Toggle::Disabled,
            ..Default::default()
        });
        off.managed_termination_protection = Toggle::Disabled;
        assert_eq!(settings(&off).managed_scaling, None);
        off.managed_scaling = None;
        assert_eq!(settings(&off).managed_scaling, None);
    }

    #[test]
    fn a_matching_provider_needs_no_update() {
        let want = settings(&spec());
        assert!(plan_provider(&want, &observed(want.clone())).is_empty());
    }

    #[test]
    fn differing_scaling_protection_and_draining_are_drift() {
        let want = settings(&spec());
        let mut have = want.clone();
        have.managed_scaling = Some(ManagedScalingSettings {
            target_capacity: 80,
            ..want.managed_scaling.clone().unwrap_or_default()
        });
        have.managed_termination_protection = false;
        have.managed_draining = false;
        let r = Resource::CapacityProvider;
        assert_eq!(
            plan_provider(&want, &observed(have)),
            vec![
                Drift::new(
                    r,
                    "managedScaling",
                    "ENABLED (target 80%, steps 1–10000, warm-up 300s)",
                    "ENABLED (target 100%, steps 1–10000, warm-up 300s)"
                ),
                Drift::new(r, "managedTerminationProtection", "DISABLED", "ENABLED"),
                Drift::new(r, "managedDraining", "DISABLED", "ENABLED"),
            ]
        );
    }

    #[test]
    fn a_provider_of_another_group_is_reported() {
        let mut p = observed(CapacityProviderSettings::default());
        p.auto_scaling_group_arn = "arn:group/old".into();
        assert_eq!(group_mismatch(&p, Some("arn:group/old")), None);
        assert_eq!(group_mismatch(&p, None), None);
        let m = group_mismatch(&p, Some("arn:group/new")).expect("mismatch");
        assert!(
            m.contains("arn:group/old") && m.contains("arn:group/new"),
            "{m}"
        );
    }

    #[test]
    fn strategies_get_ecs_defaults_and_compare_unordered() {
        let s = strategy(&[item("FARGATE", Some(1), None), item("c-ec2", None, Some(2))]);
        assert_eq!(
            s,
            vec![
                StrategyItem {
                    capacity_provider: "FARGATE".into(),
                    weight: 1,
                    base: 0
                },
                StrategyItem {
                    capacity_provider: "c-ec2".into(),
                    weight: 0,
                    base: 2
                },
            ]
        );
        let mut reversed = s.clone();
        reversed.reverse();
        assert!(same_strategy(&s, &reversed));
        assert!(!same_strategy(&s, &s[..1]));
        assert_eq!(describe_strategy(&s), "[FARGATE 1/0, c-ec2 0/2]");
    }

    fn cluster_spec() -> EcsClusterSpec {
        EcsClusterSpec {
            capacity_providers: vec![FargateCapacityProvider::FargateSpot],
            default_capacity_provider_strategy: vec![
                item("c-ec2", Some(1), Some(1)),
                item("FARGATE_SPOT", Some(3), None),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn the_association_has_the_managed_and_fargate_providers() {
        let a = desired_association(&cluster_spec(), Some("c-ec2")).expect("valid");
        assert_eq!(a.providers, vec!["FARGATE_SPOT", "c-ec2"]);
        assert_eq!(a.strategy.len(), 2);
        // Without the managed provider, the strategy names one the cluster lacks.
        let e = desired_association(&cluster_spec(), None).expect_err("invalid");
        assert!(e.contains("c-ec2"), "{e}");
        // Nothing asked: nothing attached.
        assert_eq!(
            desired_association(&EcsClusterSpec::default(), None),
            Ok(Association::default())
        );
    }

    #[test]
    fn the_cluster_is_written_only_when_set_or_strategy_differ() {
        let want = desired_association(&cluster_spec(), Some("c-ec2")).expect("valid");
        let mut c = ClusterInfo {
            capacity_providers: vec!["c-ec2".into(), "FARGATE_SPOT".into()],
            default_capacity_provider_strategy: want.strategy.iter().rev().cloned().collect(),
            ..Default::default()
        };
        assert_eq!(plan_association(&want, &c), None);
        c.capacity_providers.push("FARGATE".into());
        c.default_capacity_provider_strategy.pop();
        let r = Resource::EcsCluster;
        assert_eq!(
            plan_association(&want, &c),
            Some(vec![
                Drift::new(
                    r,
                    "capacityProviders",
                    "[FARGATE, FARGATE_SPOT, c-ec2]",
                    "[FARGATE_SPOT, c-ec2]"
                ),
                Drift::new(
                    r,
                    "defaultCapacityProviderStrategy",
                    "[FARGATE_SPOT 3/0]",
                    "[FARGATE_SPOT 3/0, c-ec2 1/1]"
                ),
            ])
        );
        // A cluster from before capacity providers, and a spec without any: no write.
        assert_eq!(
            plan_association(&Association::default(), &ClusterInfo::default()),
            None
        );
    }

    #[test]
    fn detaching_drops_the_provider_and_its_strategy_entries() {
        let c = ClusterInfo {
            capacity_providers: vec!["c-ec2".into(), "FARGATE".into()],
            default_capacity_provider_strategy: strategy(&[
                item("c-ec2", Some(1), None),
                item("FARGATE", Some(1), None),
            ]),
            ..Default::default()
        };
        let a = without(&c, "c-ec2").expect("attached");
        assert_eq!(a.providers, vec!["FARGATE"]);
        assert_eq!(a.strategy, strategy(&[item("FARGATE", Some(1), None)]));
        assert_eq!(without(&c, "other"), None);
    }

    #[test]
    fn removal_candidates_skip_fargate_and_the_wanted_provider() {
        let attached = vec!["FARGATE".to_string(), "old-name".into(), "c-ec2".into()];
        assert_eq!(
            removal_candidates(Some("remembered"), "c-ec2", &attached, None),
            vec!["c-ec2", "old-name", "remembered"]
        );
        assert_eq!(
            removal_candidates(None, "c-ec2", &attached, Some("c-ec2")),
            vec!["old-name"]
        );
    }

    #[test]
    fn a_provider_is_detached_then_deleted_then_awaited() {
        let p = observed(CapacityProviderSettings::default());
        assert_eq!(provider_removal(Some(&p), true), ProviderRemoval::Detach);
        assert_eq!(provider_removal(Some(&p), false), ProviderRemoval::Delete);
        let mut deleting = p.clone();
        deleting.update_status = Some("DELETE_IN_PROGRESS".into());
        assert_eq!(
            provider_removal(Some(&deleting), false),
            ProviderRemoval::Wait
        );
        let mut inactive = p;
        inactive.status = "INACTIVE".into();
        inactive.update_status = Some("DELETE_COMPLETE".into());
        assert_eq!(
            provider_removal(Some(&inactive), false),
            ProviderRemoval::Gone
        );
        assert_eq!(provider_removal(None, true), ProviderRemoval::Gone);
    }

    #[test]
    fn the_group_carries_ecs_marker_tag_only_with_a_provider() {
        let tags = Tags::from([("team".to_string(), "a".to_string())]);
        assert_eq!(group_tags(&tags, false), tags);
        assert_eq!(
            group_tags(&tags, true)
                .get(ECS_MANAGED_TAG)
                .map(String::as_str),
            Some("true")
        );
    }
}
