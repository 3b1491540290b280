//! ecs-operator-on-fake from the harness's side: the fake AWS's call counts (in the
//! proxy's summary shape), restarts inside the process, the fake's state where moto is
//! read otherwise, and the fake's own memory (`fake-only`, a separate process).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::http;
use crate::process;
use crate::proxy::Summary;
use crate::report::FakeState;
use crate::workload::Workload;

/// Names per request to the `/fake/` endpoints (they go in the query string).
const NAMES_PER_REQUEST: usize = 100;

/// The `/fake/` endpoints on ecs-operator-on-fake's metrics port.
#[derive(Debug, Clone)]
pub struct FakeControl {
    base: String,
}

/// A task definition family in the fake.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Family {
    /// Highest revision number registered.
    pub latest: u32,
    /// Whether any revision is ACTIVE.
    pub active: bool,
}

#[derive(Deserialize)]
struct ClusterView {
    active: bool,
}

#[derive(Deserialize)]
struct Revisions {
    registered: u64,
}

impl FakeControl {
    /// The endpoints of the process whose metrics port is `port`.
    pub fn new(port: u16) -> FakeControl {
        FakeControl {
            base: format!("http://127.0.0.1:{port}/fake"),
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let url = format!("{}/{path}", self.base);
        match http::get(&url, Duration::from_secs(30)).await? {
            (200, body) => serde_json::from_str(&body).with_context(|| format!("parsing {url}")),
            (status, body) => bail!("GET {url}: {status} {body}"),
        }
    }

    /// Every AWS call so far, per operation.
    pub async fn summary(&self) -> Result<Summary> {
        self.get("summary").await
    }

    /// Stops the controllers and starts new ones (the fake keeps its state); returns when
    /// the new ones run.
    pub async fn restart(&self) -> Result<()> {
        let url = format!("{}/restart", self.base);
        match http::post(&url, Duration::from_secs(120)).await? {
            (200, _) => Ok(()),
            (status, body) => bail!("POST {url}: {status} {body}"),
        }
    }

    /// Whether the ECS cluster exists and is ACTIVE.
    pub async fn cluster_active(&self, cluster: &str) -> Result<bool> {
        let v: ClusterView = self.get(&format!("cluster?name={cluster}")).await?;
        Ok(v.active)
    }

    /// The task definition each of `services` that exists runs.
    pub async fn task_definitions(
        &self,
        cluster: &str,
        services: &[String],
    ) -> Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        for chunk in services.chunks(NAMES_PER_REQUEST) {
            let part: HashMap<String, String> = self
                .get(&format!(
                    "services?cluster={cluster}&names={}",
                    chunk.join(",")
                ))
                .await?;
            out.extend(part);
        }
        Ok(out)
    }

    /// Each of `families` that has revisions.
    pub async fn families(&self, families: &[String]) -> Result<HashMap<String, Family>> {
        let mut out = HashMap::new();
        for chunk in families.chunks(NAMES_PER_REQUEST) {
            let part: HashMap<String, Family> = self
                .get(&format!("families?names={}", chunk.join(",")))
                .await?;
            out.extend(part);
        }
        Ok(out)
    }

    /// Task definition revisions registered so far.
    pub async fn revisions_registered(&self) -> Result<u64> {
        let r: Revisions = self.get("revisions").await?;
        Ok(r.registered)
    }
}

/// Runs `binary fake-only` for the workload: the fake's memory holding it, alone.
pub async fn measure_state(binary: &Path, w: &Workload) -> Result<FakeState> {
    let mut cmd = Command::new(binary);
    cmd.args([
        "fake-only",
        "--services",
        &w.services.to_string(),
        "--task-defs",
        &w.task_defs.to_string(),
    ]);
    let out = process::run(cmd).await?;
    serde_json::from_str(out.trim()).context("parsing the fake-only report")
}
