//! Client-side token buckets that keep the operator under AWS's own API buckets, so a
//! burst of reconciles (a restart with hundreds of objects) slows down instead of being
//! throttled and retried.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The AWS token buckets the operator's calls fall into (per account and region).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// ECS CreateCluster, DeleteCluster.
    EcsClusterModify,
    /// ECS DescribeClusters.
    EcsClusterRead,
    /// ECS RegisterTaskDefinition, DeregisterTaskDefinition.
    EcsTaskDefModify,
    /// ECS DescribeTaskDefinition, ListTaskDefinitions.
    EcsTaskDefRead,
    /// ECS CreateService, UpdateService, DeleteService.
    EcsServiceModify,
    /// ECS DescribeServices.
    EcsServiceRead,
    /// ECS TagResource.
    EcsTagModify,
    /// Classic ELB describes.
    ElbRead,
    /// Classic ELB mutations other than CreateLoadBalancer.
    ElbModify,
    /// Classic ELB CreateLoadBalancer.
    ElbCreate,
    /// Auto Scaling (one shared bucket, no published numbers).
    AutoScaling,
    /// EC2 describes.
    Ec2Read,
    /// EC2 mutations.
    Ec2Modify,
}

impl Bucket {
    /// (burst, refill per second) of the AWS bucket, from the published limits.
    pub fn aws_limits(self) -> (f64, f64) {
        match self {
            Bucket::EcsClusterModify => (20.0, 1.0),
            Bucket::EcsClusterRead => (50.0, 20.0),
            Bucket::EcsTaskDefModify => (20.0, 1.0),
            Bucket::EcsTaskDefRead => (50.0, 20.0),
            Bucket::EcsServiceModify => (50.0, 5.0),
            Bucket::EcsServiceRead => (100.0, 20.0),
            Bucket::EcsTagModify => (20.0, 10.0),
            Bucket::ElbRead => (40.0, 10.0),
            Bucket::ElbModify => (20.0, 3.0),
            Bucket::ElbCreate => (10.0, 0.2),
            Bucket::AutoScaling => (20.0, 2.0),
            Bucket::Ec2Read => (100.0, 20.0),
            Bucket::Ec2Modify => (50.0, 5.0),
        }
    }
}

/// A token bucket that hands out reservations: asking for a token when none is left
/// returns how long to wait, and the token is taken from the future.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    capacity: f64,
    refill_per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(capacity: f64, refill_per_sec: f64, now: Instant) -> Self {
        Self {
            capacity,
            refill_per_sec,
            tokens: capacity,
            last: now,
        }
    }

    /// Take one token; returns how long the caller must wait before using it.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now.max(self.last);
        self.tokens = (self.tokens + elapsed * self.refill_per_sec).min(self.capacity);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.refill_per_sec)
        }
    }
}

/// One token bucket per [`Bucket`], sized at a fraction of AWS's bucket so other clients of
/// the account keep some room.
#[derive(Debug)]
pub struct RateLimiter {
    share: f64,
    buckets: Mutex<HashMap<Bucket, TokenBucket>>,
}

impl RateLimiter {
    /// A limiter using `share` (0 < share ≤ 1) of every AWS bucket.
    pub fn new(share: f64) -> Self {
        Self {
            share: share.clamp(0.01, 1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// How long a call in `bucket` has to wait, reserving its token.
    pub fn reserve(&self, bucket: Bucket, now: Instant) -> Duration {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let share = self.share;
        buckets
            .entry(bucket)
            .or_insert_with(|| {
                let (burst, refill) = bucket.aws_limits();
                TokenBucket::new((burst * share).max(1.0), refill * share, now)
            })
            .reserve(now)
    }

    /// Wait until a call in `bucket` may go; returns the time waited.
    pub async fn acquire(&self, bucket: Bucket) -> Duration {
        let wait = self.reserve(bucket, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        wait
    }
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new(0.8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_is_free_then_calls_are_spaced_by_the_refill_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3.0, 2.0, t0);
        for _ in 0..3 {
            assert_eq!(b.reserve(t0), Duration::ZERO);
        }
        assert_eq!(b.reserve(t0), Duration::from_millis(500));
        assert_eq!(b.reserve(t0), Duration::from_millis(1000));
    }

    #[test]
    fn tokens_refill_over_time_up_to_capacity() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(2.0, 1.0, t0);
        b.reserve(t0);
        b.reserve(t0);
        let later = t0 + Duration::from_secs(100);
        assert_eq!(b.reserve(later), Duration::ZERO);
        assert_eq!(b.reserve(later), Duration::ZERO);
        assert!(
            b.reserve(later) > Duration::ZERO,
            "capacity caps the refill"
        );
    }

    #[test]
    fn task_definition_registrations_are_held_under_one_per_second() {
        let limiter = RateLimiter::new(0.8);
        let t0 = Instant::now();
        let waits: Vec<Duration> = (0..40)
            .map(|_| limiter.reserve(Bucket::EcsTaskDefModify, t0))
            .collect();
        // 16 burst tokens (80% of 20), then 0.8 per second.
        assert!(waits[..16].iter().all(|w| w.is_zero()));
        assert_eq!(waits[16], Duration::from_secs_f64(1.0 / 0.8));
        let last = waits[39].as_secs_f64();
        assert!((last - 24.0 / 0.8).abs() < 1e-6, "{last}");
    }

    #[test]
    fn buckets_are_independent() {
        let limiter = RateLimiter::new(1.0);
        let t0 = Instant::now();
        for _ in 0..20 {
            limiter.reserve(Bucket::EcsTaskDefModify, t0);
        }
        assert!(limiter.reserve(Bucket::EcsTaskDefModify, t0) > Duration::ZERO);
        assert_eq!(limiter.reserve(Bucket::EcsServiceRead, t0), Duration::ZERO);
    }
}
