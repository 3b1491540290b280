//! Preflight: the references a spec makes to things the operator does not own (subnets,
//! security groups, key pairs, instance profiles, IAM roles), what to look up before the
//! first write of a generation, and what is wrong with what was found.
//!
//! AWS would reject these late (the Auto Scaling group after the cluster and the launch
//! template exist) or confusingly (a service whose tasks never start); checked first, the
//! object is Stalled with a message naming every missing thing and nothing is created.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::cluster::ClusterCapacity;
use crate::api::service::EcsServiceSpec;
use crate::api::task_def::EcsTaskDefSpec;

/// Subnets and security groups that AWS wants in one VPC (one launch template, one set of
/// task network interfaces, one load balancer).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Network {
    /// Spec field of the subnets, e.g. `capacity.subnetIds`.
    pub subnets_field: &'static str,
    /// The subnet IDs.
    pub subnets: Vec<String>,
    /// Spec field of the security groups.
    pub security_groups_field: &'static str,
    /// The security group IDs.
    pub security_groups: Vec<String>,
}

/// A named IAM entity the spec refers to, by name or ARN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    /// Spec field, e.g. `executionRoleArn`.
    pub field: &'static str,
    /// The name (taken out of an ARN).
    pub name: String,
}

/// What to look up for one spec.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checks {
    /// Each set of subnets and security groups that must share a VPC.
    pub networks: Vec<Network>,
    /// Key pairs, with their field.
    pub key_pairs: Vec<Named>,
    /// Instance profiles, with their field.
    pub instance_profiles: Vec<Named>,
    /// IAM roles, with their field.
    pub roles: Vec<Named>,
}

impl Checks {
    /// Whether there is nothing to look up (no call to make).
    pub fn is_empty(&self) -> bool {
        self.networks
            .iter()
            .all(|n| n.subnets.is_empty() && n.security_groups.is_empty())
            && self.key_pairs.is_empty()
            && self.instance_profiles.is_empty()
            && self.roles.is_empty()
    }

    /// Every subnet ID, once (for one DescribeSubnets call).
    pub fn subnets(&self) -> Vec<String> {
        unique(self.networks.iter().flat_map(|n| n.subnets.iter()))
    }

    /// Every security group ID, once.
    pub fn security_groups(&self) -> Vec<String> {
        unique(self.networks.iter().flat_map(|n| n.security_groups.iter()))
    }

    /// Every key pair name, once.
    pub fn key_pair_names(&self) -> Vec<String> {
        unique(self.key_pairs.iter().map(|k| &k.name))
    }

    /// Every instance profile name, once.
    pub fn instance_profile_names(&self) -> Vec<String> {
        unique(self.instance_profiles.iter().map(|k| &k.name))
    }

    /// Every role name, once.
    pub fn role_names(&self) -> Vec<String> {
        unique(self.roles.iter().map(|k| &k.name))
    }
}

fn unique<'a>(values: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    values
        .filter(|v| seen.insert(v.as_str()))
        .cloned()
        .collect()
}

/// The name in an IAM name-or-ARN: `arn:aws:iam::123456789012:role/path/name` → `name`.
/// Names have no `/` (paths are only part of ARNs), so the last segment is the name.
pub fn iam_name(name_or_arn: &str) -> &str {
    name_or_arn.rsplit('/').next().unwrap_or(name_or_arn)
}

fn named(field: &'static str, value: Option<&String>) -> Option<Named> {
    value.filter(|v| !v.is_empty()).map(|v| Named {
        field,
        name: iam_name(v).to_string(),
    })
}

/// The references of an EcsCluster's capacity (none without capacity).
pub fn cluster_checks(capacity: Option<&ClusterCapacity>) -> Checks {
    let Some(cap) = capacity else {
        return Checks::default();
    };
    Checks {
        networks: vec![Network {
            subnets_field: "capacity.subnetIds",
            subnets: cap.subnet_ids.clone(),
            security_groups_field: "capacity.securityGroupIds",
            security_groups: cap.security_group_ids.clone(),
        }],
        // Key pair names are plain names, never ARNs.
        key_pairs: cap
            .key_name
            .iter()
            .filter(|k| !k.is_empty())
            .map(|k| Named {
                field: "capacity.keyName",
                name: k.clone(),
            })
            .collect(),
        instance_profiles: named("capacity.instanceProfile", cap.instance_profile.as_ref())
            .into_iter()
            .collect(),
        roles: Vec::new(),
    }
}

/// The references of an EcsService: awsvpc subnets and security groups, the managed
/// classic ELB's, and the service role.
pub fn service_checks(spec: &EcsServiceSpec) -> Checks {
    let mut networks = Vec::new();
    if let Some(v) = spec
        .network_configuration
        .as_ref()
        .and_then(|n| n.awsvpc_configuration.as_ref())
    {
        networks.push(Network {
            subnets_field: "networkConfiguration.awsvpcConfiguration.subnets",
            subnets: v.subnets.clone(),
            security_groups_field: "networkConfiguration.awsvpcConfiguration.securityGroups",
            security_groups: v.security_groups.clone(),
        });
    }
    if let Some(m) = spec
        .load_balancer
        .as_ref()
        .and_then(|lb| lb.managed.as_ref())
    {
        networks.push(Network {
            subnets_field: "loadBalancer.managed.subnetIds",
            subnets: m.subnet_ids.clone(),
            security_groups_field: "loadBalancer.managed.securityGroupIds",
            security_groups: m.security_group_ids.clone(),
        });
    }
    Checks {
        networks,
        key_pairs: Vec::new(),
        instance_profiles: Vec::new(),
        roles: named("role", spec.role.as_ref()).into_iter().collect(),
    }
}

/// The references of an EcsTaskDef: its execution and task roles.
pub fn task_def_checks(spec: &EcsTaskDefSpec) -> Checks {
    Checks {
        roles: [
            named("executionRoleArn", spec.execution_role_arn.as_ref()),
            named("taskRoleArn", spec.task_role_arn.as_ref()),
        ]
        .into_iter()
        .flatten()
        .collect(),
        ..Checks::default()
    }
}

/// What the reads found. `None`: not checked (the operator may not read it; AWS will
/// still refuse a bad reference when it is used).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// Existing subnets: ID → VPC.
    pub subnets: Option<BTreeMap<String, String>>,
    /// Existing security groups: ID → VPC.
    pub security_groups: Option<BTreeMap<String, String>>,
    /// Existing key pair names.
    pub key_pairs: Option<BTreeSet<String>>,
    /// Existing instance profile names.
    pub instance_profiles: Option<BTreeSet<String>>,
    /// Existing role names.
    pub roles: Option<BTreeSet<String>>,
}

/// What is wrong, one sentence each, in the order of the spec: missing references, then
/// subnets and security groups of one network in different VPCs.
pub fn problems(checks: &Checks, found: &Found) -> Vec<String> {
    let mut out = Vec::new();
    let mut reported = BTreeSet::new();
    let mut once = |out: &mut Vec<String>, line: String| {
        if reported.insert(line.clone()) {
            out.push(line);
        }
    };
    for n in &checks.networks {
        if let Some(subnets) = &found.subnets {
            for s in n.subnets.iter().filter(|s| !subnets.contains_key(*s)) {
                once(
                    &mut out,
                    format!("subnet {s} ({}) does not exist", n.subnets_field),
                );
            }
        }
        if let Some(groups) = &found.security_groups {
            for g in n
                .security_groups
                .iter()
                .filter(|g| !groups.contains_key(*g))
            {
                once(
                    &mut out,
                    format!(
                        "security group {g} ({}) does not exist",
                        n.security_groups_field
                    ),
                );
            }
        }
        if let Some(line) = vpc_mismatch(n, found) {
            once(&mut out, line);
        }
    }
    let missing = |what: &str, list: &[Named], existing: &Option<BTreeSet<String>>| {
        let Some(existing) = existing else {
            return Vec::new();
        };
        list.iter()
            .filter(|n| !existing.contains(&n.name))
            .map(|n| format!("{what} {} ({}) does not exist", n.name, n.field))
            .collect::<Vec<_>>()
    };
    for line in missing("key pair", &checks.key_pairs, &found.key_pairs)
        .into_iter()
        .chain(missing(
            "instance profile",
            &checks.instance_profiles,
            &found.instance_profiles,
        ))
        .chain(missing("IAM role", &checks.roles, &found.roles))
    {
        once(&mut out, line);
    }
    out
}

/// The VPC problem of one network, if any: subnets in several VPCs, or security groups
/// in another VPC than the subnets. Only what exists is compared (missing IDs are
/// reported on their own).
fn vpc_mismatch(n: &Network, found: &Found) -> Option<String> {
    let subnets = found.subnets.as_ref()?;
    let located: Vec<(&String, &String)> = n
        .subnets
        .iter()
        .filter_map(|s| subnets.get(s).map(|v| (s, v)))
        .collect();
    let vpcs: BTreeSet<&String> = located.iter().map(|(_, v)| *v).collect();
    if vpcs.len() > 1 {
        let each: Vec<String> = located.iter().map(|(s, v)| format!("{s} in {v}")).collect();
        return Some(format!(
            "the subnets of {} are in different VPCs: {}",
            n.subnets_field,
            each.join(", ")
        ));
    }
    let vpc = vpcs.into_iter().next()?;
    let groups = found.security_groups.as_ref()?;
    let elsewhere: Vec<String> = n
        .security_groups
        .iter()
        .filter_map(|g| groups.get(g).filter(|v| *v != vpc).map(|v| (g, v)))
        .map(|(g, v)| format!("security group {g} is in {v}"))
        .collect();
    (!elsewhere.is_empty()).then(|| {
        format!(
            "{} ({}), the subnets ({}) in {vpc}",
            elsewhere.join(", "),
            n.security_groups_field,
            n.subnets_field
        )
    })
}

/// The Stalled message for `problems` (not empty).
pub fn message(problems: &[String]) -> String {
    format!(
        "{}; fix the spec or create them (checked again every resync period)",
        problems.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::service::{AwsVpcConfiguration, ManagedLoadBalancer, NetworkConfiguration};

    fn capacity() -> ClusterCapacity {
        ClusterCapacity {
            instance_type: "t2.micro".into(),
            instance_profile: Some(
                "arn:aws:iam::123456789012:instance-profile/ecs-instance".into(),
            ),
            security_group_ids: vec!["sg-1".into()],
            subnet_ids: vec!["subnet-a".into(), "subnet-b".into()],
            key_name: Some("my-key".into()),
            ..Default::default()
        }
    }

    fn all_found(checks: &Checks, vpc: &str) -> Found {
        let located = |ids: Vec<String>| Some(ids.into_iter().map(|i| (i, vpc.into())).collect());
        Found {
            subnets: located(checks.subnets()),
            security_groups: located(checks.security_groups()),
            key_pairs: Some(checks.key_pair_names().into_iter().collect()),
            instance_profiles: Some(checks.instance_profile_names().into_iter().collect()),
            roles: Some(checks.role_names().into_iter().collect()),
        }
    }

    #[test]
    fn iam_names_come_out_of_arns() {
        assert_eq!(iam_name("ecsServiceRole"), "ecsServiceRole");
        assert_eq!(
            iam_name("arn:aws:iam::123456789012:role/service-role/ecsTaskExecutionRole"),
            "ecsTaskExecutionRole"
        );
        assert_eq!(
            iam_name("arn:aws:iam::123456789012:instance-profile/ecs"),
            "ecs"
        );
    }

    #[test]
    fn cluster_checks_name_every_reference_and_nothing_without_capacity() {
        assert!(cluster_checks(None).is_empty());
        let c = cluster_checks(Some(&capacity()));
        assert_eq!(c.subnets(), ["subnet-a", "subnet-b"]);
        assert_eq!(c.security_groups(), ["sg-1"]);
        assert_eq!(c.key_pair_names(), ["my-key"]);
        assert_eq!(c.instance_profile_names(), ["ecs-instance"]);
        assert!(c.role_names().is_empty());
        assert!(problems(&c, &all_found(&c, "vpc-1")).is_empty());
    }

    #[test]
    fn missing_references_are_each_named_with_their_field() {
        let c = cluster_checks(Some(&capacity()));
        let mut found = all_found(&c, "vpc-1");
        found.subnets.as_mut().unwrap().remove("subnet-b");
        found.security_groups = Some(BTreeMap::new());
        found.key_pairs = Some(BTreeSet::new());
        found.instance_profiles = Some(BTreeSet::new());
        assert_eq!(
            problems(&c, &found),
            [
                "subnet subnet-b (capacity.subnetIds) does not exist",
                "security group sg-1 (capacity.securityGroupIds) does not exist",
                "key pair my-key (capacity.keyName) does not exist",
                "instance profile ecs-instance (capacity.instanceProfile) does not exist",
            ]
        );
    }

    #[test]
    fn security_groups_and_subnets_must_share_a_vpc() {
        let c = cluster_checks(Some(&capacity()));
        let mut found = all_found(&c, "vpc-1");
        found
            .security_groups
            .as_mut()
            .unwrap()
            .insert("sg-1".into(), "vpc-2".into());
        assert_eq!(
            problems(&c, &found),
            [
                "security group sg-1 is in vpc-2 (capacity.securityGroupIds), the subnets \
              (capacity.subnetIds) in vpc-1"
            ]
        );
        let mut found = all_found(&c, "vpc-1");
        found
            .subnets
            .as_mut()
            .unwrap()
            .insert("subnet-b".into(), "vpc-2".into());
        assert_eq!(
            problems(&c, &found),
            [
                "the subnets of capacity.subnetIds are in different VPCs: subnet-a in vpc-1, \
              subnet-b in vpc-2"
            ]
        );
    }

    #[test]
    fn unchecked_kinds_report_nothing() {
        let c = cluster_checks(Some(&capacity()));
        assert!(problems(&c, &Found::default()).is_empty());
    }

    #[test]
    fn service_checks_cover_awsvpc_the_managed_elb_and_the_role() {
        let spec = EcsServiceSpec {
            role: Some("arn:aws:iam::123456789012:role/ecs-service-role".into()),
            network_configuration: Some(NetworkConfiguration {
                awsvpc_configuration: Some(AwsVpcConfiguration {
                    subnets: vec!["subnet-a".into()],
                    security_groups: vec!["sg-1".into()],
                    assign_public_ip: None,
                }),
            }),
            load_balancer: Some(crate::api::service::ServiceLoadBalancer {
                container_name: "web".into(),
                container_port: 80,
                managed: Some(ManagedLoadBalancer {
                    subnet_ids: vec!["subnet-a".into(), "subnet-c".into()],
                    security_group_ids: vec!["sg-2".into()],
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let c = service_checks(&spec);
        assert_eq!(c.subnets(), ["subnet-a", "subnet-c"]);
        assert_eq!(c.security_groups(), ["sg-1", "sg-2"]);
        assert_eq!(c.role_names(), ["ecs-service-role"]);
        let mut found = all_found(&c, "vpc-1");
        found.roles = Some(BTreeSet::new());
        found.subnets.as_mut().unwrap().remove("subnet-a");
        // A subnet missing from both networks is named once per field.
        assert_eq!(
            problems(&c, &found),
            [
                "subnet subnet-a (networkConfiguration.awsvpcConfiguration.subnets) does not \
                 exist",
                "subnet subnet-a (loadBalancer.managed.subnetIds) does not exist",
                "IAM role ecs-service-role (role) does not exist",
            ]
        );
        assert!(service_checks(&EcsServiceSpec::default()).is_empty());
    }

    #[test]
    fn task_def_checks_both_roles() {
        let spec = EcsTaskDefSpec {
            execution_role_arn: Some("arn:aws:iam::123456789012:role/ecsTaskExecutionRole".into()),
            task_role_arn: Some("app".into()),
            ..Default::default()
        };
        let c = task_def_checks(&spec);
        let mut found = all_found(&c, "vpc-1");
        found.roles = Some(["app".to_string()].into());
        assert_eq!(
            problems(&c, &found),
            ["IAM role ecsTaskExecutionRole (executionRoleArn) does not exist"]
        );
        assert_eq!(
            message(&problems(&c, &found)),
            "IAM role ecsTaskExecutionRole (executionRoleArn) does not exist; fix the spec or \
             create them (checked again every resync period)"
        );
    }
}
