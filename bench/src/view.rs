//! Where the harness reads AWS: the state the operator created (moto, read directly, or
//! the fake inside ecs-operator-on-fake) and the count of the operator's calls
//! (aws-fault-proxy in front of moto, or the fake's call gate).

use std::collections::HashMap;

use anyhow::Result;

use crate::fake::FakeControl;
use crate::moto::Moto;
use crate::proxy::{Proxy, Summary};

/// AWS's state, as the harness reads it (never counted against the operator).
pub enum AwsView {
    /// moto, read directly.
    Moto(Moto),
    /// The fake AWS of ecs-operator-on-fake.
    Fake(FakeControl),
}

impl AwsView {
    /// Whether the ECS cluster exists and is ACTIVE.
    pub async fn cluster_active(&self, cluster: &str) -> Result<bool> {
        match self {
            AwsView::Moto(m) => m.cluster_active(cluster).await,
            AwsView::Fake(f) => f.cluster_active(cluster).await,
        }
    }

    /// Whether every service of `names` exists in the cluster.
    pub async fn services_exist(&self, cluster: &str, names: &[String]) -> Result<bool> {
        match self {
            AwsView::Moto(m) => {
                let have = m.service_names(cluster).await?;
                Ok(names.iter().all(|n| have.contains(n)))
            }
            AwsView::Fake(f) => Ok(f.task_definitions(cluster, names).await?.len() == names.len()),
        }
    }

    /// Whether every family of `names` has an ACTIVE revision.
    pub async fn families_exist(&self, names: &[String]) -> Result<bool> {
        match self {
            AwsView::Moto(m) => {
                let have = m.families().await?;
                Ok(names.iter().all(|n| have.contains(n)))
            }
            AwsView::Fake(f) => {
                let have = f.families(names).await?;
                Ok(names
                    .iter()
                    .all(|n| have.get(n).is_some_and(|fam| fam.active)))
            }
        }
    }

    /// The task definition each of `services` runs.
    pub async fn task_definitions(
        &self,
        cluster: &str,
        services: &[String],
    ) -> Result<HashMap<String, String>> {
        match self {
            AwsView::Moto(m) => m.task_definitions(cluster, services).await,
            AwsView::Fake(f) => f.task_definitions(cluster, services).await,
        }
    }

    /// The newest revision number of `family` (0 when it has none).
    pub async fn latest_revision(&self, family: &str) -> Result<u32> {
        match self {
            AwsView::Moto(m) => m.latest_revision(family).await,
            AwsView::Fake(f) => {
                let have = f.families(&[family.to_string()]).await?;
                Ok(have.get(family).map_or(0, |fam| fam.latest))
            }
        }
    }
}

/// The counter of the operator's AWS calls.
pub enum Calls {
    /// The proxy in front of moto (every HTTP request).
    Proxy(Proxy),
    /// The fake's call gate (every operation).
    Fake(FakeControl),
}

impl Calls {
    /// The counts so far.
    pub async fn summary(&mut self) -> Result<Summary> {
        match self {
            Calls::Proxy(p) => p.summary().await,
            Calls::Fake(f) => f.summary().await,
        }
    }

    /// Where the operator sends its AWS calls (nowhere for the fake: it is in the process).
    pub fn endpoint(&self) -> String {
        match self {
            Calls::Proxy(p) => p.url(),
            Calls::Fake(_) => String::new(),
        }
    }

    /// Stops the proxy, if there is one.
    pub async fn stop(&mut self) -> Result<()> {
        match self {
            Calls::Proxy(p) => p.stop().await,
            Calls::Fake(_) => Ok(()),
        }
    }
}
