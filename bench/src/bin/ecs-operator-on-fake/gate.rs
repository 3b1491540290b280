//! The fake AWS's call gate: counts every call the operator makes (what aws-fault-proxy
//! counts in front of moto), and with AWS's limits on refuses calls whose token bucket is
//! empty, with the proxy's own bucket specs and operation-to-bucket mapping, so "with
//! buckets" means the same buckets in both setups.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aws_fault_proxy::buckets::{bucket_for, default_specs, TokenBucket};
use aws_fault_proxy::identify::Service;
use ecs_operator::aws::fake::{throttling_error, CallGate};
use ecs_operator::aws::AwsError;
use serde::Serialize;

/// Calls per operation, in the shape of aws-fault-proxy's `GET /__proxy/summary` (the
/// fields ecs-bench reads), so the harness measures both setups with the same code.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Every call so far, throttled ones included.
    pub total_calls: u64,
    /// Calls refused because an AWS bucket was empty.
    pub throttled_bucket: u64,
    /// Per `service:Operation`.
    pub calls: BTreeMap<&'static str, OperationCount>,
}

/// Counters of one operation.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct OperationCount {
    /// Calls seen.
    pub total: u64,
    /// Of which refused by a bucket.
    pub throttled: u64,
}

#[derive(Default)]
struct State {
    summary: Summary,
    /// AWS's buckets by name, created full at their first use; empty when not enforced.
    buckets: BTreeMap<&'static str, TokenBucket>,
}

/// Counts calls and, when `enforce` is set, applies AWS's token buckets.
pub struct CallCounter {
    enforce: bool,
    origin: Instant,
    state: Mutex<State>,
}

impl CallCounter {
    /// A counter; `enforce` turns AWS's buckets on.
    pub fn new(enforce: bool) -> Arc<CallCounter> {
        Arc::new(CallCounter {
            enforce,
            origin: Instant::now(),
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The gate to install in the fake.
    pub fn gate(self: &Arc<Self>) -> CallGate {
        let me = self.clone();
        Arc::new(move |operation| me.admit(operation, me.origin.elapsed()))
    }

    /// Counts `operation` at `now` (since the counter's origin); `Some(error)` when its
    /// bucket is empty.
    fn admit(&self, operation: &'static str, now: Duration) -> Option<AwsError> {
        let mut s = self.lock();
        s.summary.total_calls += 1;
        s.summary.calls.entry(operation).or_default().total += 1;
        if !self.enforce {
            return None;
        }
        let (service, action) = operation.split_once(':').unwrap_or(("", operation));
        let bucket = bucket_for(service_of(service), action)?;
        let taken = match s.buckets.get_mut(bucket) {
            Some(b) => b.try_take(now),
            None => {
                let spec = default_specs().get(bucket).copied()?;
                let mut b = TokenBucket::new(spec, now);
                let taken = b.try_take(now);
                s.buckets.insert(bucket, b);
                taken
            }
        };
        if taken {
            return None;
        }
        s.summary.throttled_bucket += 1;
        if let Some(c) = s.summary.calls.get_mut(operation) {
            c.throttled += 1;
        }
        Some(throttling_error(operation))
    }

    /// The counts so far.
    pub fn summary(&self) -> Summary {
        self.lock().summary.clone()
    }
}

/// The proxy's service for the prefix of a fake operation name (the SigV4 signing name).
fn service_of(prefix: &str) -> Service {
    match prefix {
        "ecs" => Service::Ecs,
        "ec2" => Service::Ec2,
        "autoscaling" => Service::AutoScaling,
        "elasticloadbalancing" => Service::Elb,
        _ => Service::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_without_limits() {
        let c = CallCounter::new(false);
        for _ in 0..500 {
            assert!(c.admit("ecs:CreateService", Duration::ZERO).is_none());
        }
        let s = c.summary();
        assert_eq!(s.total_calls, 500);
        assert_eq!(s.throttled_bucket, 0);
        assert_eq!(s.calls["ecs:CreateService"].total, 500);
    }

    #[test]
    fn aws_buckets_throttle_and_refill() {
        let c = CallCounter::new(true);
        // CreateService: burst 50, 5 a second, shared with UpdateService.
        for _ in 0..40 {
            assert!(c.admit("ecs:CreateService", Duration::ZERO).is_none());
        }
        for _ in 0..10 {
            assert!(c.admit("ecs:UpdateService", Duration::ZERO).is_none());
        }
        let e = c.admit("ecs:CreateService", Duration::ZERO);
        assert_eq!(e.map(|e| e.code), Some("ThrottlingException".to_string()));
        // Reads have their own bucket.
        assert!(c.admit("ecs:DescribeServices", Duration::ZERO).is_none());
        assert!(c
            .admit("ecs:CreateService", Duration::from_millis(200))
            .is_none());
        assert!(c
            .admit("ecs:CreateService", Duration::from_millis(200))
            .is_some());
        let s = c.summary();
        assert_eq!(s.total_calls, 54);
        assert_eq!(s.throttled_bucket, 2);
        assert_eq!(s.calls["ecs:CreateService"].throttled, 2);
        let ec2 = service_of("ec2");
        assert_eq!(
            bucket_for(ec2, "DescribeLaunchTemplates"),
            Some("ec2.describe")
        );
    }
}
