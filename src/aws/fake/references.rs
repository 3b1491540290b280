//! What specs refer to without the operator owning it: subnets, security groups and
//! their VPCs, key pairs, IAM roles and instance profiles, with the [`IamApi`]
//! implementation and the EC2 reads of the preflight checks.
//!
//! By default everything exists, so tests may use any ID: a subnet or security group is in
//! [`DEFAULT_VPC`], every key pair, instance profile and role exists (roles: unless
//! [`FakeAws::set_known_roles`] narrowed them). Tests take things away or move them to
//! another VPC.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;

use super::{last_segment, FakeAws, ACCOUNT};
use crate::aws::types::*;
use crate::aws::{AwsError, IamApi};

/// The VPC of every subnet and security group not placed elsewhere.
pub const DEFAULT_VPC: &str = "vpc-default";

/// Exceptions to "everything exists".
#[derive(Debug, Default)]
pub(super) struct References {
    /// Subnets and security groups (by ID) in another VPC than [`DEFAULT_VPC`].
    vpc_of: BTreeMap<String, String>,
    /// IDs and names that do not exist.
    missing: BTreeSet<String>,
}

impl References {
    fn vpc(&self, id: &str) -> Option<String> {
        if self.missing.contains(id) {
            return None;
        }
        Some(
            self.vpc_of
                .get(id)
                .cloned()
                .unwrap_or_else(|| DEFAULT_VPC.to_string()),
        )
    }
}

// ---------------------------------------------------------------------------------------
// Test-facing API
// ---------------------------------------------------------------------------------------

impl FakeAws {
    /// Subnets, security groups, key pairs, instance profiles or roles (by ID or name)
    /// that do not exist.
    pub fn remove_references(&self, ids: &[&str]) {
        let mut s = self.lock();
        s.references
            .missing
            .extend(ids.iter().map(|i| i.to_string()));
    }

    /// Make a subnet or security group exist in `vpc`.
    pub fn put_in_vpc(&self, id: &str, vpc: &str) {
        let mut s = self.lock();
        s.references.missing.remove(id);
        s.references.vpc_of.insert(id.to_string(), vpc.to_string());
    }

    /// Make a removed reference exist again (created by someone else meanwhile).
    pub fn restore_reference(&self, id: &str) {
        self.lock().references.missing.remove(id);
    }
}

// ---------------------------------------------------------------------------------------
// The reads (the EC2 ones are called from the `Ec2Api` implementation)
// ---------------------------------------------------------------------------------------

impl FakeAws {
    pub(super) fn fake_describe_subnets(&self, ids: &[String]) -> Result<Vec<Subnet>, AwsError> {
        self.call("ec2:DescribeSubnets", |s| {
            Ok(unique(ids)
                .filter_map(|id| {
                    s.references.vpc(id).map(|vpc_id| Subnet {
                        id: id.to_string(),
                        vpc_id,
                    })
                })
                .collect())
        })
    }

    pub(super) fn fake_describe_security_groups(
        &self,
        ids: &[String],
    ) -> Result<Vec<SecurityGroup>, AwsError> {
        self.call("ec2:DescribeSecurityGroups", |s| {
            Ok(unique(ids)
                .filter_map(|id| {
                    s.references.vpc(id).map(|vpc_id| SecurityGroup {
                        id: id.to_string(),
                        vpc_id,
                    })
                })
                .collect())
        })
    }

    pub(super) fn fake_existing_key_pairs(
        &self,
        names: &[String],
    ) -> Result<Vec<String>, AwsError> {
        self.call("ec2:DescribeKeyPairs", |s| {
            Ok(unique(names)
                .filter(|n| !s.references.missing.contains(*n))
                .map(str::to_string)
                .collect())
        })
    }
}

/// Each value once, in order (the filters of the real API match each resource once).
fn unique(values: &[String]) -> impl Iterator<Item = &str> {
    let mut seen = BTreeSet::new();
    values
        .iter()
        .map(String::as_str)
        .filter(move |v| seen.insert(*v))
}

#[async_trait]
impl IamApi for FakeAws {
    async fn get_role(&self, name: &str) -> Result<Option<String>, AwsError> {
        self.call("iam:GetRole", |s| {
            let known = s
                .known_roles
                .as_ref()
                .is_none_or(|k| k.iter().any(|r| last_segment(r) == name));
            Ok((known && !s.references.missing.contains(name))
                .then(|| format!("arn:aws:iam::{ACCOUNT}:role/{name}")))
        })
    }

    async fn get_instance_profile(&self, name: &str) -> Result<Option<String>, AwsError> {
        self.call("iam:GetInstanceProfile", |s| {
            Ok((!s.references.missing.contains(name))
                .then(|| format!("arn:aws:iam::{ACCOUNT}:instance-profile/{name}")))
        })
    }
}
