//! AWS's request token buckets, one per operation group, as the operator meets them.
//!
//! AWS throttles per account and region with token buckets: a bucket holds up to
//! `capacity` tokens (the burst), each call takes one, and tokens come back at
//! `refill_per_sec`. The defaults are the published numbers recorded in
//! `shared/testing.md` ("AWS API limits").

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::identify::Service;

/// Size and refill rate of one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketSpec {
    /// Most tokens the bucket holds (the burst); it starts full.
    pub capacity: f64,
    /// Tokens added per second.
    pub refill_per_sec: f64,
}

impl BucketSpec {
    const fn new(capacity: f64, refill_per_sec: f64) -> Self {
        BucketSpec {
            capacity,
            refill_per_sec,
        }
    }
}

/// Every bucket, by name, with AWS's numbers.
pub const DEFAULT_BUCKETS: &[(&str, BucketSpec)] = &[
    ("ecs.cluster_modify", BucketSpec::new(20.0, 1.0)),
    ("ecs.cluster_read", BucketSpec::new(50.0, 20.0)),
    ("ecs.task_definition_modify", BucketSpec::new(20.0, 1.0)),
    ("ecs.task_definition_read", BucketSpec::new(50.0, 20.0)),
    ("ecs.service_modify", BucketSpec::new(50.0, 5.0)),
    ("ecs.service_read", BucketSpec::new(100.0, 20.0)),
    ("ecs.tag_modify", BucketSpec::new(20.0, 10.0)),
    ("ecs.other_read", BucketSpec::new(50.0, 20.0)),
    // Container instance and task calls have no number in our notes; the service
    // modify bucket's is a plausible middle (the operator itself does not make them).
    ("ecs.other_modify", BucketSpec::new(50.0, 5.0)),
    ("elasticloadbalancing.describe", BucketSpec::new(40.0, 10.0)),
    (
        "elasticloadbalancing.create_load_balancer",
        BucketSpec::new(10.0, 0.2),
    ),
    ("elasticloadbalancing.modify", BucketSpec::new(20.0, 3.0)),
    // Auto Scaling shares one bucket between all its calls and publishes no numbers:
    // 40/10 is our pick, in the range of its sibling services.
    ("autoscaling.shared", BucketSpec::new(40.0, 10.0)),
    ("ec2.describe", BucketSpec::new(100.0, 20.0)),
    ("ec2.modify", BucketSpec::new(200.0, 5.0)),
];

/// The default specs as a map, for rules to override entries of.
pub fn default_specs() -> BTreeMap<String, BucketSpec> {
    DEFAULT_BUCKETS
        .iter()
        .map(|(name, spec)| (name.to_string(), *spec))
        .collect()
}

/// The bucket a call draws from; `None` for calls that are never throttled
/// ([`Service::Other`]).
pub fn bucket_for(service: Service, operation: &str) -> Option<&'static str> {
    let read = !crate::identify::is_mutating(operation);
    Some(match service {
        Service::Ecs => match operation {
            "CreateCluster"
            | "DeleteCluster"
            | "UpdateCluster"
            | "PutClusterCapacityProviders"
            | "UpdateClusterSettings" => "ecs.cluster_modify",
            "DescribeClusters" | "ListClusters" => "ecs.cluster_read",
            "RegisterTaskDefinition" | "DeregisterTaskDefinition" => "ecs.task_definition_modify",
            "DescribeTaskDefinition" | "ListTaskDefinitions" | "ListTaskDefinitionFamilies" => {
                "ecs.task_definition_read"
            }
            "CreateService" | "UpdateService" | "DeleteService" => "ecs.service_modify",
            "DescribeServices" | "ListServices" => "ecs.service_read",
            "TagResource" | "UntagResource" => "ecs.tag_modify",
            _ if read => "ecs.other_read",
            _ => "ecs.other_modify",
        },
        Service::Elb => match operation {
            "CreateLoadBalancer" => "elasticloadbalancing.create_load_balancer",
            _ if read => "elasticloadbalancing.describe",
            _ => "elasticloadbalancing.modify",
        },
        Service::AutoScaling => "autoscaling.shared",
        Service::Ec2 if read => "ec2.describe",
        Service::Ec2 => "ec2.modify",
        Service::Other => return None,
    })
}

/// Token arithmetic is done in millionths of a token, in integers, so that e.g. five
/// seconds at 0.2 tokens/s make exactly one token (floating point sums drift below).
const MICRO: u128 = 1_000_000;

/// One token bucket. Time is passed in (elapsed since an arbitrary origin) so the
/// arithmetic is testable without sleeping.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity_micro: u128,
    refill_micro_per_sec: u128,
    tokens_micro: u128,
    last: Duration,
}

impl TokenBucket {
    /// A full bucket as of `now`.
    pub fn new(spec: BucketSpec, now: Duration) -> Self {
        let capacity_micro = to_micro(spec.capacity);
        TokenBucket {
            capacity_micro,
            refill_micro_per_sec: to_micro(spec.refill_per_sec),
            tokens_micro: capacity_micro,
            last: now,
        }
    }

    /// Takes one token if there is one at `now`; `false` means the call is throttled.
    pub fn try_take(&mut self, now: Duration) -> bool {
        self.refill(now);
        if self.tokens_micro >= MICRO {
            self.tokens_micro -= MICRO;
            true
        } else {
            false
        }
    }

    /// Whole tokens available at `now` (for tests and diagnostics).
    pub fn available(&mut self, now: Duration) -> u64 {
        self.refill(now);
        u64::try_from(self.tokens_micro / MICRO).unwrap_or(u64::MAX)
    }

    fn refill(&mut self, now: Duration) {
        // Calls decided out of order by a few microseconds must not move time back.
        let Some(elapsed) = now.checked_sub(self.last) else {
            return;
        };
        let added = elapsed.as_nanos() * self.refill_micro_per_sec / 1_000_000_000;
        if added == 0 && self.tokens_micro < self.capacity_micro {
            // Keep `last` so fractions of a micro-token accumulate over many calls.
            return;
        }
        self.tokens_micro = (self.tokens_micro + added).min(self.capacity_micro);
        self.last = now;
    }
}

fn to_micro(x: f64) -> u128 {
    if x.is_finite() && x > 0.0 {
        (x * MICRO as f64).round() as u128
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn burst_then_empty() {
        let mut b = TokenBucket::new(BucketSpec::new(20.0, 1.0), secs(0.0));
        for i in 0..20 {
            assert!(b.try_take(secs(0.0)), "token {i}");
        }
        assert!(!b.try_take(secs(0.0)));
        assert!(!b.try_take(secs(0.999)));
        assert!(b.try_take(secs(1.0)));
        assert!(!b.try_take(secs(1.0)));
    }

    #[test]
    fn slow_refill_is_exact() {
        // CreateLoadBalancer: 10 burst, one token every 5 s.
        let mut b = TokenBucket::new(BucketSpec::new(10.0, 0.2), secs(100.0));
        for _ in 0..10 {
            assert!(b.try_take(secs(100.0)));
        }
        assert!(!b.try_take(secs(104.9)));
        assert!(b.try_take(secs(105.0)));
        assert!(!b.try_take(secs(109.0)));
        assert!(b.try_take(secs(110.0)));
    }

    #[test]
    fn refill_caps_at_capacity() {
        let mut b = TokenBucket::new(BucketSpec::new(5.0, 10.0), secs(0.0));
        assert_eq!(b.available(secs(0.0)), 5);
        for _ in 0..5 {
            assert!(b.try_take(secs(0.0)));
        }
        assert_eq!(b.available(secs(0.3)), 3);
        assert_eq!(b.available(secs(3600.0)), 5);
    }

    #[test]
    fn many_small_steps_add_up() {
        // 1 token/s polled every microsecond-ish: fractions must not be lost.
        let mut b = TokenBucket::new(BucketSpec::new(1.0, 1.0), Duration::ZERO);
        assert!(b.try_take(Duration::ZERO));
        let mut t = Duration::ZERO;
        let mut got = false;
        for _ in 0..1_000 {
            t += Duration::from_micros(999);
            got |= b.try_take(t);
        }
        // 999 ms: not yet; one more millisecond: yes.
        assert!(!got);
        assert!(b.try_take(t + Duration::from_millis(1)));
    }

    #[test]
    fn time_going_back_is_ignored() {
        let mut b = TokenBucket::new(BucketSpec::new(1.0, 1.0), secs(10.0));
        assert!(b.try_take(secs(10.0)));
        assert!(!b.try_take(secs(9.0)));
        assert!(b.try_take(secs(11.0)));
    }

    #[test]
    fn zero_refill_never_refills() {
        let mut b = TokenBucket::new(BucketSpec::new(2.0, 0.0), secs(0.0));
        assert!(b.try_take(secs(0.0)));
        assert!(b.try_take(secs(0.0)));
        assert!(!b.try_take(secs(1e6)));
    }

    #[test]
    fn operations_map_to_the_published_groups() {
        let cases = [
            (Service::Ecs, "CreateCluster", "ecs.cluster_modify"),
            (
                Service::Ecs,
                "PutClusterCapacityProviders",
                "ecs.cluster_modify",
            ),
            (Service::Ecs, "DescribeClusters", "ecs.cluster_read"),
            (
                Service::Ecs,
                "RegisterTaskDefinition",
                "ecs.task_definition_modify",
            ),
            (
                Service::Ecs,
                "DeregisterTaskDefinition",
                "ecs.task_definition_modify",
            ),
            (
                Service::Ecs,
                "ListTaskDefinitionFamilies",
                "ecs.task_definition_read",
            ),
            (Service::Ecs, "UpdateService", "ecs.service_modify"),
            (Service::Ecs, "ListServices", "ecs.service_read"),
            (Service::Ecs, "UntagResource", "ecs.tag_modify"),
            (Service::Ecs, "ListTagsForResource", "ecs.other_read"),
            (
                Service::Ecs,
                "RegisterContainerInstance",
                "ecs.other_modify",
            ),
            (
                Service::Elb,
                "DescribeLoadBalancers",
                "elasticloadbalancing.describe",
            ),
            (
                Service::Elb,
                "CreateLoadBalancer",
                "elasticloadbalancing.create_load_balancer",
            ),
            (
                Service::Elb,
                "ConfigureHealthCheck",
                "elasticloadbalancing.modify",
            ),
            (
                Service::AutoScaling,
                "DescribeAutoScalingGroups",
                "autoscaling.shared",
            ),
            (
                Service::AutoScaling,
                "UpdateAutoScalingGroup",
                "autoscaling.shared",
            ),
            (Service::Ec2, "DescribeLaunchTemplates", "ec2.describe"),
            (Service::Ec2, "CreateLaunchTemplateVersion", "ec2.modify"),
        ];
        for (svc, op, bucket) in cases {
            assert_eq!(bucket_for(svc, op), Some(bucket), "{svc}:{op}");
            assert!(default_specs().contains_key(bucket), "{bucket}");
        }
        assert_eq!(bucket_for(Service::Other, "GetCallerIdentity"), None);
    }

    #[test]
    fn published_numbers() {
        let specs = default_specs();
        assert_eq!(
            specs["ecs.task_definition_modify"],
            BucketSpec::new(20.0, 1.0)
        );
        assert_eq!(specs["ecs.service_read"], BucketSpec::new(100.0, 20.0));
        assert_eq!(
            specs["elasticloadbalancing.create_load_balancer"],
            BucketSpec::new(10.0, 0.2)
        );
        assert_eq!(specs["ec2.modify"], BucketSpec::new(200.0, 5.0));
    }
}
