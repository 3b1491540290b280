//! State shared by all reconciles.

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::events::{Recorder, Reporter};

use super::backoff::Backoff;
use super::shards::Shards;
use super::stores::Stores;
use crate::aws::observed::Observed;
use crate::aws::AwsProvider;
use crate::telemetry::metrics::Metrics;

/// Field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "ecs-operator";

/// Settings of the controllers.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Identity of this management cluster in owner tags.
    pub cluster_id: String,
    /// Interval of the AWS drift check for Ready objects.
    pub resync_period: Duration,
    /// How often objects still converging (rollouts, deletions) are looked at.
    pub poll_interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            cluster_id: "default".into(),
            resync_period: Duration::from_secs(600),
            poll_interval: Duration::from_secs(5),
        }
    }
}

/// Shared by every reconcile of every kind.
#[derive(Clone)]
pub struct Context {
    /// Kubernetes client.
    pub client: kube::Client,
    /// AWS clients per region.
    pub aws: Arc<dyn AwsProvider>,
    /// Settings.
    pub settings: Settings,
    /// Metrics.
    pub metrics: Metrics,
    /// Per-object failure counts.
    pub backoff: Arc<Backoff>,
    /// Kubernetes Events.
    pub recorder: Recorder,
    /// The controllers' caches, where reconciles read their dependencies.
    pub stores: Arc<Stores>,
    /// What bulk sweeps and writes saw in AWS, per region.
    pub observed: Arc<Observed>,
    /// When the controllers started: after leader election, if any, so no other replica
    /// of this operator writes to AWS from then on.
    pub writer_since: Arc<std::sync::OnceLock<tokio::time::Instant>>,
    /// The shards this replica holds (everything without `--shards`).
    pub shards: Arc<Shards>,
}

impl Context {
    /// A context for the controllers.
    pub fn new(
        client: kube::Client,
        aws: Arc<dyn AwsProvider>,
        settings: Settings,
        metrics: Metrics,
    ) -> Self {
        let reporter = Reporter {
            controller: "ecs-operator".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            aws,
            settings,
            metrics,
            backoff: Arc::new(Backoff::default()),
            stores: Arc::new(Stores::default()),
            observed: Arc::new(Observed::default()),
            writer_since: Arc::default(),
            shards: Arc::new(Shards::default()),
        }
    }

    /// Reconcile only the objects of the shards held in `shards`.
    pub fn with_shards(mut self, shards: Arc<Shards>) -> Self {
        self.shards = shards;
        self
    }
}
