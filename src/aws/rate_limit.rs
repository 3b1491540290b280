//! Client-side token buckets that keep the operator under AWS's own API buckets, so a
//! burst of reconciles (a restart with hundreds of objects) slows down instead of being
//! throttled and retried.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::priority::Priority;

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
    /// Application Auto Scaling (one bucket: AWS publishes no API rate limits for it).
    AppAutoScaling,
    /// IAM reads (GetRole, GetInstanceProfile) of the preflight checks.
    IamRead,
    /// ELBv2 (ALB/NLB API) describes: a bucket of its own, apart from the classic ELB's.
    ElbV2Read,
    /// ELBv2 mutations: target groups, rules, tags.
    ElbV2Modify,
}

impl Bucket {
    /// Every bucket.
    pub const ALL: [Bucket; 17] = [
        Bucket::EcsClusterModify,
        Bucket::EcsClusterRead,
        Bucket::EcsTaskDefModify,
        Bucket::EcsTaskDefRead,
        Bucket::EcsServiceModify,
        Bucket::EcsServiceRead,
        Bucket::EcsTagModify,
        Bucket::ElbRead,
        Bucket::ElbModify,
        Bucket::ElbCreate,
        Bucket::AutoScaling,
        Bucket::Ec2Read,
        Bucket::Ec2Modify,
        Bucket::AppAutoScaling,
        Bucket::IamRead,
        Bucket::ElbV2Read,
        Bucket::ElbV2Modify,
    ];

    /// The bucket's name in metrics, e.g. `ecs_service_read`.
    pub fn name(self) -> &'static str {
        match self {
            Bucket::EcsClusterModify => "ecs_cluster_modify",
            Bucket::EcsClusterRead => "ecs_cluster_read",
            Bucket::EcsTaskDefModify => "ecs_task_def_modify",
            Bucket::EcsTaskDefRead => "ecs_task_def_read",
            Bucket::EcsServiceModify => "ecs_service_modify",
            Bucket::EcsServiceRead => "ecs_service_read",
            Bucket::EcsTagModify => "ecs_tag_modify",
            Bucket::ElbRead => "elb_read",
            Bucket::ElbModify => "elb_modify",
            Bucket::ElbCreate => "elb_create",
            Bucket::AutoScaling => "autoscaling",
            Bucket::Ec2Read => "ec2_read",
            Bucket::Ec2Modify => "ec2_modify",
            Bucket::AppAutoScaling => "app_autoscaling",
            Bucket::IamRead => "iam_read",
            Bucket::ElbV2Read => "elbv2_read",
            Bucket::ElbV2Modify => "elbv2_modify",
        }
    }

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
            // No published numbers (its quotas page lists only resource counts): a
            // conservative guess, like Auto Scaling's.
            Bucket::AppAutoScaling => (20.0, 10.0),
            // IAM publishes no per-API request rates either, and its quota is per account,
            // not per region (IAM is global): conservative, and preflight reads are few.
            Bucket::IamRead => (10.0, 5.0),
            // AWS's throttling page says each ELB API version has its own buckets and
            // gives the classic numbers (describe 40/10, mutate 20/3); the same numbers are
            // used for version 2 until its own are known. Target group and rule creation
            // are ordinary mutations here (no separate create bucket like classic's).
            Bucket::ElbV2Read => (40.0, 10.0),
            Bucket::ElbV2Modify => (20.0, 3.0),
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
        self.tokens = self.tokens_at(now);
        self.last = now.max(self.last);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.refill_per_sec)
        }
    }

    /// Tokens left at `now` (refilled up to capacity, nothing taken). Negative when calls
    /// hold reservations on tokens not refilled yet: that many calls are waiting.
    pub fn tokens_at(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        (self.tokens + elapsed * self.refill_per_sec).min(self.capacity)
    }
}

/// One bucket of a [`RateLimiter`] as the metrics see it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BucketSnapshot {
    /// Which bucket.
    pub bucket: Bucket,
    /// Tokens left now (see [`TokenBucket::tokens_at`]); a bucket not used yet is full.
    pub tokens: f64,
    /// Burst size of the client-side bucket.
    pub capacity: f64,
    /// Refill per second of the client-side bucket.
    pub refill_per_sec: f64,
    /// Tokens taken so far: calls charged to the bucket.
    pub calls: u64,
}

/// One bucket's client-side state: every call charges `all`; background calls must also
/// fit in `background`, a smaller bucket, so work nobody waits for never uses the tokens
/// kept for the user's own changes.
#[derive(Debug)]
struct BucketState {
    all: TokenBucket,
    background: TokenBucket,
    calls: u64,
}

/// One token bucket per [`Bucket`], sized at a fraction of AWS's bucket so other clients of
/// the account keep some room, with a smaller share of it for background work.
#[derive(Debug)]
pub struct RateLimiter {
    share: f64,
    background_share: f64,
    buckets: Mutex<HashMap<Bucket, BucketState>>,
    tracked: AtomicBool,
}

impl RateLimiter {
    /// A limiter using `share` (0 < share ≤ 1) of every AWS bucket, for all work alike.
    pub fn new(share: f64) -> Self {
        let share = share.clamp(0.01, 1.0);
        Self {
            share,
            background_share: share,
            buckets: Mutex::new(HashMap::new()),
            tracked: AtomicBool::new(false),
        }
    }

    /// Limit background work (resyncs, sweeps) to `share` of every AWS bucket (at most the
    /// limiter's own share): the rest stays free for spec changes and deletions.
    pub fn with_background_share(mut self, share: f64) -> Self {
        self.background_share = share.clamp(0.01, self.share);
        self
    }

    /// (burst, refill per second) of the client-side `bucket` at `share` of AWS's.
    fn limits(bucket: Bucket, share: f64) -> (f64, f64) {
        let (burst, refill) = bucket.aws_limits();
        ((burst * share).max(1.0), refill * share)
    }

    fn state<'a>(
        &self,
        buckets: &'a mut HashMap<Bucket, BucketState>,
        bucket: Bucket,
        now: Instant,
    ) -> &'a mut BucketState {
        buckets.entry(bucket).or_insert_with(|| {
            let (capacity, refill) = Self::limits(bucket, self.share);
            let (bg_capacity, bg_refill) = Self::limits(bucket, self.background_share);
            BucketState {
                all: TokenBucket::new(capacity, refill, now),
                background: TokenBucket::new(bg_capacity, bg_refill, now),
                calls: 0,
            }
        })
    }

    /// How long a call in `bucket` has to wait, reserving its token (or `requests` tokens:
    /// a call is charged for every HTTP request it made, pages and retries included).
    pub fn reserve_n(
        &self,
        bucket: Bucket,
        priority: Priority,
        requests: u32,
        now: Instant,
    ) -> Duration {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let state = self.state(&mut buckets, bucket, now);
        let mut wait = Duration::ZERO;
        for _ in 0..requests {
            state.calls += 1;
            let all = state.all.reserve(now);
            wait = match priority {
                Priority::UserInitiated => all,
                Priority::Background => all.max(state.background.reserve(now)),
            };
        }
        wait
    }

    /// How long one call in `bucket` has to wait, reserving its token.
    pub fn reserve(&self, bucket: Bucket, priority: Priority, now: Instant) -> Duration {
        self.reserve_n(bucket, priority, 1, now)
    }

    /// Every bucket's tokens left at `now` and calls so far.
    pub fn snapshot(&self, now: Instant) -> Vec<BucketSnapshot> {
        let buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Bucket::ALL
            .iter()
            .map(|&bucket| {
                let (capacity, refill_per_sec) = Self::limits(bucket, self.share);
                let (tokens, calls) = buckets
                    .get(&bucket)
                    .map_or((capacity, 0), |s| (s.all.tokens_at(now), s.calls));
                BucketSnapshot {
                    bucket,
                    tokens,
                    capacity,
                    refill_per_sec,
                    calls,
                }
            })
            .collect()
    }

    /// True the first time it is called: whoever gets true registers the limiter with
    /// the metrics (once, however many guards share it).
    pub fn start_tracking(&self) -> bool {
        !self.tracked.swap(true, Ordering::SeqCst)
    }

    /// Wait until a call in `bucket` may go; returns the time waited.
    pub async fn acquire(&self, bucket: Bucket, priority: Priority) -> Duration {
        let wait = self.reserve(bucket, priority, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        wait
    }

    /// Charge requests a call made beyond the one it waited for (more pages, SDK retries):
    /// they went out already, so later calls wait for them instead.
    pub fn charge_extra(&self, bucket: Bucket, priority: Priority, requests: u32) {
        if requests > 0 {
            self.reserve_n(bucket, priority, requests, Instant::now());
        }
    }
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new(1.0).with_background_share(0.5)
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
            .map(|_| limiter.reserve(Bucket::EcsTaskDefModify, Priority::UserInitiated, t0))
            .collect();
        // 16 burst tokens (80% of 20), then 0.8 per second.
        assert!(waits[..16].iter().all(|w| w.is_zero()));
        assert_eq!(waits[16], Duration::from_secs_f64(1.0 / 0.8));
        let last = waits[39].as_secs_f64();
        assert!((last - 24.0 / 0.8).abs() < 1e-6, "{last}");
    }

    #[test]
    fn snapshot_shows_tokens_left_and_calls_per_bucket() {
        let limiter = RateLimiter::new(0.5);
        let t0 = Instant::now();
        for _ in 0..12 {
            limiter.reserve(Bucket::EcsTaskDefModify, Priority::UserInitiated, t0);
        }
        let snap = limiter.snapshot(t0);
        assert_eq!(snap.len(), Bucket::ALL.len());
        let td = snap
            .iter()
            .find(|s| s.bucket == Bucket::EcsTaskDefModify)
            .unwrap();
        // 10 burst tokens (half of 20), 12 taken: 2 calls wait for the refill.
        assert_eq!((td.capacity, td.refill_per_sec), (10.0, 0.5));
        assert_eq!((td.tokens, td.calls), (-2.0, 12));
        let later = limiter.snapshot(t0 + Duration::from_secs(6));
        let td = later
            .iter()
            .find(|s| s.bucket == Bucket::EcsTaskDefModify)
            .unwrap();
        assert_eq!(td.tokens, 1.0);
        // Unused buckets are full and have no calls.
        let read = snap
            .iter()
            .find(|s| s.bucket == Bucket::EcsServiceRead)
            .unwrap();
        assert_eq!((read.tokens, read.calls), (50.0, 0));
        let mut names: Vec<_> = Bucket::ALL.iter().map(|b| b.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Bucket::ALL.len());
        assert!(limiter.start_tracking());
        assert!(!limiter.start_tracking());
    }

    #[test]
    fn buckets_are_independent() {
        let limiter = RateLimiter::new(1.0);
        let t0 = Instant::now();
        for _ in 0..20 {
            limiter.reserve(Bucket::EcsTaskDefModify, Priority::UserInitiated, t0);
        }
        assert!(
            limiter.reserve(Bucket::EcsTaskDefModify, Priority::UserInitiated, t0) > Duration::ZERO
        );
        assert_eq!(
            limiter.reserve(Bucket::EcsServiceRead, Priority::UserInitiated, t0),
            Duration::ZERO
        );
    }

    #[test]
    fn background_work_keeps_to_its_share_and_leaves_the_rest_to_the_user() {
        let limiter = RateLimiter::new(1.0).with_background_share(0.5);
        let t0 = Instant::now();
        // CreateService's bucket: 50 burst, 5/s. Background gets 25 burst, 2.5/s.
        let background: Vec<Duration> = (0..26)
            .map(|_| limiter.reserve(Bucket::EcsServiceModify, Priority::Background, t0))
            .collect();
        assert!(background[..25].iter().all(|w| w.is_zero()));
        assert_eq!(background[25], Duration::from_secs_f64(1.0 / 2.5));
        // The user's changes still find the other half of the burst at once.
        let user: Vec<Duration> = (0..24)
            .map(|_| limiter.reserve(Bucket::EcsServiceModify, Priority::UserInitiated, t0))
            .collect();
        assert!(user.iter().all(|w| w.is_zero()), "{user:?}");
        assert!(
            limiter.reserve(Bucket::EcsServiceModify, Priority::UserInitiated, t0) > Duration::ZERO
        );
    }

    #[test]
    fn user_initiated_work_may_use_the_whole_share_background_never_more_than_its_own() {
        let limiter = RateLimiter::new(1.0).with_background_share(0.5);
        let t0 = Instant::now();
        for _ in 0..50 {
            assert_eq!(
                limiter.reserve(Bucket::EcsServiceModify, Priority::UserInitiated, t0),
                Duration::ZERO
            );
        }
        // The bucket is empty: background work waits as long as anyone (the overall bucket).
        let bg = limiter.reserve(Bucket::EcsServiceModify, Priority::Background, t0);
        assert_eq!(bg, Duration::from_secs_f64(1.0 / 5.0));
        // The background share can never exceed the overall one.
        let capped = RateLimiter::new(0.5).with_background_share(0.9);
        assert_eq!(capped.background_share, 0.5);
    }

    #[test]
    fn extra_requests_of_a_call_are_charged_to_whoever_comes_next() {
        let limiter = RateLimiter::new(1.0);
        let t0 = Instant::now();
        // One DescribeLoadBalancers call that went through 45 pages of a 40-token bucket.
        assert_eq!(
            limiter.reserve(Bucket::ElbRead, Priority::UserInitiated, t0),
            Duration::ZERO
        );
        limiter.charge_extra(Bucket::ElbRead, Priority::UserInitiated, 44);
        let snap = limiter.snapshot(Instant::now());
        let elb = snap.iter().find(|s| s.bucket == Bucket::ElbRead).unwrap();
        assert_eq!(elb.calls, 45);
        assert!(elb.tokens < -4.0, "{}", elb.tokens);
        assert!(
            limiter.reserve(Bucket::ElbRead, Priority::UserInitiated, Instant::now())
                > Duration::from_millis(400)
        );
        limiter.charge_extra(Bucket::ElbRead, Priority::UserInitiated, 0);
    }
}
