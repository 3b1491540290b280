//! The harness's own view of AWS: moto read directly (not through the proxy, so these
//! reads are never counted against an operator) with the AWS SDK.

use std::collections::{BTreeSet, HashMap};

use anyhow::{Context, Result};
use aws_sdk_ecs::Client;

/// An ECS client for moto.
pub struct Moto {
    ecs: Client,
}

impl Moto {
    /// A client for moto at `endpoint` with static test credentials.
    pub async fn new(endpoint: &str) -> Moto {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                "testing", "testing", None, None, "bench",
            ))
            .load()
            .await;
        Moto {
            ecs: Client::new(&config),
        }
    }

    /// Whether the cluster exists and is ACTIVE.
    pub async fn cluster_active(&self, cluster: &str) -> Result<bool> {
        let out = self
            .ecs
            .describe_clusters()
            .clusters(cluster)
            .send()
            .await
            .context("DescribeClusters")?;
        Ok(out
            .clusters()
            .iter()
            .any(|c| c.cluster_name() == Some(cluster) && c.status() == Some("ACTIVE")))
    }

    /// Names of the services in `cluster`.
    pub async fn service_names(&self, cluster: &str) -> Result<BTreeSet<String>> {
        let mut names = BTreeSet::new();
        let mut token = None;
        loop {
            let out = self
                .ecs
                .list_services()
                .cluster(cluster)
                .max_results(100)
                .set_next_token(token)
                .send()
                .await
                .context("ListServices")?;
            names.extend(
                out.service_arns()
                    .iter()
                    .map(|a| last_segment(a).to_string()),
            );
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(names);
            }
        }
    }

    /// Task definition families with an ACTIVE revision.
    pub async fn families(&self) -> Result<BTreeSet<String>> {
        let mut names = BTreeSet::new();
        let mut token = None;
        loop {
            let out = self
                .ecs
                .list_task_definition_families()
                .status(aws_sdk_ecs::types::TaskDefinitionFamilyStatus::Active)
                .set_next_token(token)
                .send()
                .await
                .context("ListTaskDefinitionFamilies")?;
            names.extend(out.families().iter().cloned());
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(names);
            }
        }
    }

    /// The task definition each of `services` runs, as ECS reports it (an ARN, or what
    /// the last UpdateService said).
    pub async fn task_definitions(
        &self,
        cluster: &str,
        services: &[String],
    ) -> Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        for chunk in services.chunks(10) {
            let resp = self
                .ecs
                .describe_services()
                .cluster(cluster)
                .set_services(Some(chunk.to_vec()))
                .send()
                .await
                .context("DescribeServices")?;
            for s in resp.services() {
                if let (Some(name), Some(td)) = (s.service_name(), s.task_definition()) {
                    out.insert(name.to_string(), td.to_string());
                }
            }
        }
        Ok(out)
    }

    /// The newest revision number of `family`.
    pub async fn latest_revision(&self, family: &str) -> Result<u32> {
        let out = self
            .ecs
            .describe_task_definition()
            .task_definition(family)
            .send()
            .await
            .context("DescribeTaskDefinition")?;
        let rev = out.task_definition().map_or(0, |t| t.revision());
        Ok(u32::try_from(rev).unwrap_or(0))
    }
}

/// The part after the last `/` of an ARN (a service's or cluster's name).
pub fn last_segment(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The family of a task definition reference: `fam`, `fam:3` or
/// `arn:aws:ecs:us-east-1:123:task-definition/fam:3`.
pub fn family_of(reference: &str) -> &str {
    let name = last_segment(reference);
    name.split(':').next().unwrap_or(name)
}

/// The revision of a task definition reference (`None` for a bare family).
pub fn revision_of(reference: &str) -> Option<u32> {
    last_segment(reference).split_once(':')?.1.parse().ok()
}

/// Whether a service whose task definition was `before` the edit runs a revision at least
/// `new_revision` now. A bare family (what ACK sends) counts only when it differs from
/// before: ECS resolves it to the latest ACTIVE revision at UpdateService time.
pub fn on_new_revision(before: &str, now: &str, new_revision: u32) -> bool {
    if now == before {
        return false;
    }
    match revision_of(now) {
        Some(rev) => rev >= new_revision,
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_definition_references() {
        let arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/td-00003:7";
        assert_eq!(family_of(arn), "td-00003");
        assert_eq!(family_of("td-00003:7"), "td-00003");
        assert_eq!(family_of("td-00003"), "td-00003");
        assert_eq!(revision_of(arn), Some(7));
        assert_eq!(revision_of("td-00003"), None);
        assert_eq!(
            last_segment("arn:aws:ecs:us-east-1:1:service/bench/svc-00001"),
            "svc-00001"
        );
    }

    #[test]
    fn rolled_to_the_new_revision() {
        let old = "arn:aws:ecs:us-east-1:1:task-definition/td-00000:1";
        let new = "arn:aws:ecs:us-east-1:1:task-definition/td-00000:2";
        assert!(!on_new_revision(old, old, 2));
        assert!(on_new_revision(old, new, 2));
        assert!(on_new_revision(old, "td-00000:3", 2));
        assert!(!on_new_revision(old, "td-00000:1", 2));
        // A bare family after an UpdateService: the latest revision at that time.
        assert!(on_new_revision(old, "td-00000", 2));
        assert!(!on_new_revision("td-00000", "td-00000", 2));
    }
}
