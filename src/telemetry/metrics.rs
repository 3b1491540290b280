//! Prometheus metrics of the controllers and of the AWS calls.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of the per-kind reconcile metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// EcsCluster, EcsTaskDef or EcsService.
    pub kind: &'static str,
}

/// Labels of the reconcile error counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// The kind.
    pub kind: &'static str,
    /// The error's metric label.
    pub error: &'static str,
}

/// Labels of the AWS call counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsCallLabels {
    /// e.g. `ecs:CreateService`.
    pub operation: &'static str,
    /// success, throttled, not_found, invalid_input, dependency, transient, access_denied.
    pub outcome: &'static str,
}

/// Labels of the AWS throttle counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    /// e.g. `ecs:CreateService`.
    pub operation: &'static str,
}

/// All metrics of the operator, registered in one registry.
#[derive(Clone)]
pub struct Metrics {
    /// Reconciles started per kind.
    pub reconciles: Family<KindLabels, Counter>,
    /// Reconcile errors per kind and error.
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    /// Reconcile durations per kind.
    pub reconcile_duration: Family<KindLabels, Histogram>,
    /// AWS calls per operation and outcome.
    pub aws_calls: Family<AwsCallLabels, Counter>,
    /// Throttled AWS calls per operation (AWS said so).
    pub aws_throttles: Family<OperationLabels, Counter>,
    /// Time spent waiting on the client-side rate limiter.
    pub rate_limit_wait: Family<OperationLabels, Histogram>,
    registry: Arc<Registry>,
}

impl Default for Metrics {
    fn default() -> Self {
        let reconciles = Family::<KindLabels, Counter>::default();
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        let reconcile_duration = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.01, 2.0, 12))
        });
        let aws_calls = Family::<AwsCallLabels, Counter>::default();
        let aws_throttles = Family::<OperationLabels, Counter>::default();
        let rate_limit_wait = Family::<OperationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 4.0, 8))
        });
        let mut registry = Registry::with_prefix("ecs_operator");
        registry.register("reconciles", "Reconciles started", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Reconciles that failed",
            reconcile_errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of reconciles",
            reconcile_duration.clone(),
        );
        registry.register("aws_calls", "AWS API calls by outcome", aws_calls.clone());
        registry.register(
            "aws_throttles",
            "AWS API calls throttled by AWS",
            aws_throttles.clone(),
        );
        registry.register(
            "aws_rate_limit_wait_seconds",
            "Time AWS calls waited on the client-side rate limiter",
            rate_limit_wait.clone(),
        );
        Self {
            reconciles,
            reconcile_errors,
            reconcile_duration,
            aws_calls,
            aws_throttles,
            rate_limit_wait,
            registry: Arc::new(registry),
        }
    }
}

impl Metrics {
    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_counters_with_labels() {
        let m = Metrics::default();
        m.reconciles
            .get_or_create(&KindLabels { kind: "EcsService" })
            .inc();
        m.aws_calls
            .get_or_create(&AwsCallLabels {
                operation: "ecs:CreateService",
                outcome: "success",
            })
            .inc();
        let text = m.encode().unwrap();
        assert!(
            text.contains(r#"ecs_operator_reconciles_total{kind="EcsService"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"operation="ecs:CreateService",outcome="success""#),
            "{text}"
        );
    }
}
