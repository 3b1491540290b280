//! Task definitions: when a new revision is needed, and which old ones to deregister.

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sha2::{Digest, Sha256};

use super::drift::{Drift, Resource};
use crate::api::task_def::{EcsTaskDefSpec, Protocol};
use crate::aws::types::ServiceInfo;

/// Tag on every revision holding the hash of the normalized spec it was registered from.
pub const SPEC_HASH_TAG: &str = "ecsoperator.io/spec-hash";

/// The definition part of a spec with defaults made explicit and order-insensitive lists
/// sorted, so equivalent specs compare (and hash) equal.
pub fn normalize(spec: &EcsTaskDefSpec) -> EcsTaskDefSpec {
    let mut def = spec.clone();
    // Fields that never reach RegisterTaskDefinition.
    def.region = None;
    def.tags.clear();
    def.deletion_policy = Default::default();
    def.revision_history_limit = None;
    def.family = None;
    for c in &mut def.container_definitions {
        if c.essential == Some(true) {
            c.essential = None;
        }
        c.environment.sort();
        c.secrets.sort();
        for p in &mut c.port_mappings {
            if p.protocol == Some(Protocol::Tcp) {
                p.protocol = None;
            }
        }
    }
    def.requires_compatibilities.sort();
    def.requires_compatibilities.dedup();
    def.cpu = def.cpu.map(int_or_string_to_string);
    def.memory = def.memory.map(int_or_string_to_string);
    def
}

fn int_or_string_to_string(v: IntOrString) -> IntOrString {
    match v {
        IntOrString::Int(i) => IntOrString::String(i.to_string()),
        s => s,
    }
}

/// Hash of the normalized definition (hex SHA-256, prefixed by a format version).
pub fn spec_hash(spec: &EcsTaskDefSpec) -> String {
    // serde_json writes struct fields in declaration order and maps sorted: stable output.
    let json = serde_json::to_vec(&normalize(spec)).unwrap_or_default();
    let digest = Sha256::digest(&json);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("v1-{}", &hex[..40])
}

/// A registered definition as a spec would state it: ECS's defaults dropped (0 container
/// CPU units, a dynamic host port reported as 0 in bridge mode, `essential: true`, the TCP
/// protocol), so that a spec written from it — by `ecs-operator import`, or by hand from
/// `aws ecs describe-task-definition` — hashes as the revision does.
pub fn spec_from_registered(registered: &EcsTaskDefSpec) -> EcsTaskDefSpec {
    let mut spec = registered.clone();
    spec.region = None;
    spec.tags.clear();
    spec.deletion_policy = Default::default();
    spec.revision_history_limit = None;
    for c in &mut spec.container_definitions {
        if c.cpu == Some(0) {
            c.cpu = None;
        }
        if c.essential == Some(true) {
            c.essential = None;
        }
        for p in &mut c.port_mappings {
            if p.protocol == Some(Protocol::Tcp) {
                p.protocol = None;
            }
            if p.host_port == Some(0) {
                p.host_port = None;
            }
        }
    }
    spec
}

/// The spec hash a revision stands for: its hash tag, or for a revision registered by
/// other means (no tag) the hash of its definition as a spec. `None` when neither is known.
pub fn observed_hash(tag: Option<&str>, registered: Option<&EcsTaskDefSpec>) -> Option<String> {
    tag.map(str::to_string)
        .or_else(|| registered.map(|d| spec_hash(&spec_from_registered(d))))
}

/// What to do about revisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RevisionPlan {
    /// The latest ACTIVE revision was registered from this spec: nothing to register.
    UpToDate,
    /// Register a new revision. When it replaces one the family had, or one status says
    /// this object registered, the drift names both (the next number is expected; the
    /// caller puts in the one ECS gives). The revisions only carry the hash of their spec,
    /// so which fields differ is not known.
    Register(Option<Drift>),
}

/// Compare the desired hash with the hash tag of the family's latest ACTIVE revision,
/// `latest`: its number and spec hash tag, if any. `recorded`: the latest revision status
/// records, which tells a first registration from one whose revisions were all
/// deregistered behind our back.
pub fn plan_revision(
    family: &str,
    desired_hash: &str,
    latest: Option<(i32, Option<&str>)>,
    recorded: Option<i32>,
) -> RevisionPlan {
    let replaced = |observed: String, next: i32| {
        Drift::new(
            Resource::TaskDefinition,
            "revision",
            observed,
            format!("{family}:{next}"),
        )
    };
    match (latest, recorded) {
        (Some((_, hash)), _) if hash == Some(desired_hash) => RevisionPlan::UpToDate,
        (Some((revision, _)), _) => {
            RevisionPlan::Register(Some(replaced(format!("{family}:{revision}"), revision + 1)))
        }
        (None, Some(revision)) => {
            RevisionPlan::Register(Some(replaced("none".into(), revision + 1)))
        }
        (None, None) => RevisionPlan::Register(None),
    }
}

/// Revisions to deregister: all but the newest `limit` ACTIVE ones, never the latest and
/// never one still in use.
pub fn revisions_to_prune(
    active: &[i32],
    latest: i32,
    limit: Option<i32>,
    in_use: &BTreeSet<i32>,
) -> Vec<i32> {
    let Some(limit) = limit else {
        return Vec::new();
    };
    let mut sorted: Vec<i32> = active.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted
        .into_iter()
        .skip(limit.max(1) as usize)
        .filter(|r| *r != latest && !in_use.contains(r))
        .collect()
}

/// The family of a task definition ARN or `family:revision`.
pub fn family_of(task_definition: &str) -> Option<&str> {
    task_definition
        .rsplit('/')
        .next()
        .and_then(|fr| fr.split(':').next())
}

/// Revisions of `family` that these ECS services run or may roll back to: the service's
/// task definition and every deployment's (a running deployment's ACTIVE one is the
/// rollback target).
pub fn revisions_used_by(services: &[ServiceInfo], family: &str) -> BTreeSet<i32> {
    services
        .iter()
        .filter(|s| s.status != "INACTIVE")
        .flat_map(|s| {
            std::iter::once(s.task_definition.as_str())
                .chain(s.deployments.iter().map(|d| d.task_definition.as_str()))
        })
        .filter(|td| family_of(td) == Some(family))
        .filter_map(revision_of)
        .collect()
}

/// The revision number at the end of a task definition ARN or `family:revision`.
pub fn revision_of(arn: &str) -> Option<i32> {
    arn.rsplit(':').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::task_def::{ContainerDefinition, KeyValuePair, PortMapping};
    use crate::aws::types::Deployment;

    fn tutorial() -> EcsTaskDefSpec {
        EcsTaskDefSpec {
            container_definitions: vec![ContainerDefinition {
                name: "hello-world-container".into(),
                image: "training/webapp:latest".into(),
                memory: Some(128),
                command: vec!["python".into(), "app.py".into()],
                port_mappings: vec![PortMapping {
                    host_port: Some(80),
                    container_port: 5000,
                    protocol: Some(Protocol::Tcp),
                    name: None,
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn same_spec_same_hash() {
        assert_eq!(spec_hash(&tutorial()), spec_hash(&tutorial()));
    }

    #[test]
    fn defaults_and_order_do_not_change_the_hash() {
        let a = tutorial();
        let mut b = tutorial();
        b.container_definitions[0].essential = Some(true);
        b.container_definitions[0].port_mappings[0].protocol = None;
        assert_eq!(spec_hash(&a), spec_hash(&b));

        let env = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(n, v)| KeyValuePair {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect::<Vec<_>>()
        };
        let mut c = tutorial();
        c.container_definitions[0].environment = env(&[("A", "1"), ("B", "2")]);
        let mut d = tutorial();
        d.container_definitions[0].environment = env(&[("B", "2"), ("A", "1")]);
        assert_eq!(spec_hash(&c), spec_hash(&d));

        let mut e = tutorial();
        e.memory = Some(IntOrString::Int(512));
        let mut f = tutorial();
        f.memory = Some(IntOrString::String("512".into()));
        assert_eq!(spec_hash(&e), spec_hash(&f));
    }

    #[test]
    fn non_definition_fields_do_not_change_the_hash() {
        let mut b = tutorial();
        b.tags.insert("team".into(), "web".into());
        b.revision_history_limit = Some(3);
        b.region = Some("eu-west-1".into());
        assert_eq!(spec_hash(&tutorial()), spec_hash(&b));
    }

    #[test]
    fn real_changes_change_the_hash() {
        let mut b = tutorial();
        b.container_definitions[0].environment = vec![KeyValuePair {
            name: "PROVIDER".into(),
            value: "ECS".into(),
        }];
        assert_ne!(spec_hash(&tutorial()), spec_hash(&b));
        let mut c = tutorial();
        c.container_definitions[0].essential = Some(false);
        assert_ne!(spec_hash(&tutorial()), spec_hash(&c));
        let mut d = tutorial();
        d.container_definitions[0].image = "training/webapp:v2".into();
        assert_ne!(spec_hash(&tutorial()), spec_hash(&d));
    }

    #[test]
    fn register_only_when_latest_differs() {
        let h = spec_hash(&tutorial());
        assert_eq!(
            plan_revision("web", &h, Some((3, Some(&h))), Some(3)),
            RevisionPlan::UpToDate
        );
        assert_eq!(
            plan_revision("web", &h, Some((3, Some("v1-other"))), Some(3)),
            RevisionPlan::Register(Some(Drift::new(
                Resource::TaskDefinition,
                "revision",
                "web:3",
                "web:4"
            )))
        );
        // Registered outside the operator: no hash tag.
        assert!(matches!(
            plan_revision("web", &h, Some((3, None)), Some(3)),
            RevisionPlan::Register(Some(_))
        ));
        // Every revision deregistered behind our back.
        assert_eq!(
            plan_revision("web", &h, None, Some(3)),
            RevisionPlan::Register(Some(Drift::new(
                Resource::TaskDefinition,
                "revision",
                "none",
                "web:4"
            )))
        );
        // The first revision replaces nothing.
        assert_eq!(
            plan_revision("web", &h, None, None),
            RevisionPlan::Register(None)
        );
    }

    #[test]
    fn a_revision_without_a_hash_tag_stands_for_its_definition() {
        let h = spec_hash(&tutorial());
        // As ECS describes what was registered by hand: its defaults filled in.
        let mut registered = tutorial();
        registered.family = Some("web".into());
        registered.container_definitions[0].cpu = Some(0);
        registered.container_definitions[0].essential = Some(true);
        assert_eq!(
            observed_hash(None, Some(&registered)).as_deref(),
            Some(h.as_str())
        );
        let latest = observed_hash(None, Some(&registered));
        assert_eq!(
            plan_revision("web", &h, Some((1, latest.as_deref())), None),
            RevisionPlan::UpToDate
        );
        // The tag wins over the content; neither known: no hash.
        assert_eq!(
            observed_hash(Some("v1-x"), Some(&registered)).as_deref(),
            Some("v1-x")
        );
        assert_eq!(observed_hash(None, None), None);
        let mut other = registered.clone();
        other.container_definitions[0].memory = Some(256);
        assert_ne!(
            observed_hash(None, Some(&other)).as_deref(),
            Some(h.as_str())
        );
    }

    #[test]
    fn prune_keeps_limit_latest_and_in_use() {
        let active = [1, 2, 3, 4, 5, 6];
        let in_use: BTreeSet<i32> = [2].into();
        assert_eq!(revisions_to_prune(&active, 6, Some(3), &in_use), vec![3, 1]);
        assert!(revisions_to_prune(&active, 6, None, &in_use).is_empty());
        assert!(revisions_to_prune(&active, 6, Some(10), &in_use).is_empty());
        // The latest survives even if it is not the highest ACTIVE number.
        assert_eq!(
            revisions_to_prune(&[1, 2, 9], 1, Some(1), &BTreeSet::new()),
            vec![2]
        );
    }

    #[test]
    fn revision_from_arn() {
        let arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/hello:12";
        assert_eq!(revision_of(arn), Some(12));
        assert_eq!(revision_of("hello:3"), Some(3));
        assert_eq!(revision_of("hello"), None);
    }

    #[test]
    fn revisions_used_include_rollback_targets_of_running_deployments() {
        let arn = |f: &str, r: i32| format!("arn:aws:ecs:us-east-1:1:task-definition/{f}:{r}");
        let service = |td: String, deployments: Vec<String>, status: &str| ServiceInfo {
            status: status.into(),
            task_definition: td,
            deployments: deployments
                .into_iter()
                .map(|task_definition| Deployment {
                    task_definition,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let services = vec![
            // Rolling from 3 to 5: 3 is the rollback target.
            service(arn("web", 5), vec![arn("web", 5), arn("web", 3)], "ACTIVE"),
            service(arn("web2", 9), vec![arn("web2", 9)], "ACTIVE"),
            service(arn("web", 1), vec![arn("web", 1)], "INACTIVE"),
            service("web:7".into(), vec![], "DRAINING"),
        ];
        assert_eq!(
            revisions_used_by(&services, "web"),
            BTreeSet::from([3, 5, 7])
        );
        assert_eq!(family_of(&arn("web2", 9)), Some("web2"));
    }
}
