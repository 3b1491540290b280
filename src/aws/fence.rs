//! The write fence: AWS writes are allowed only while this replica's leadership is
//! certain, judged by the local monotonic clock.
//!
//! Leader election moves the deadline forward after each successful renewal (to the
//! instant the renewal was *sent* plus the renew deadline, which is shorter than the lease
//! duration); once it passes, every mutating call fails before it is sent, and calls
//! already running are cut off, so a partitioned or frozen leader never writes after
//! another replica could have taken the lease.
//!
//! With sharding (`--shards`) each shard has its own fence, and the provider's fence is
//! [`WriteFence::per_shard`]: a write passes only inside [`scoped`], under the fence of
//! the shard of the object being reconciled, so the rate limiter, batching and the
//! clients stay shared while permission to write follows the object.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::error::{AwsError, AwsErrorKind};

/// Whether `operation` (`service:Action`) only reads.
pub fn is_read_only(operation: &str) -> bool {
    let action = operation.rsplit(':').next().unwrap_or(operation);
    action.starts_with("Describe") || action.starts_with("List") || action.starts_with("Get")
}

#[derive(Debug)]
enum State {
    /// No leader election: writes always allowed.
    Open,
    /// Writes allowed until this instant (none yet: not leader).
    Until(Option<Instant>),
    /// Sharding: writes follow the fence of the shard in scope ([`scoped`]); none in
    /// scope refuses them, so a write path that forgot its shard fails loudly instead of
    /// writing unfenced.
    PerShard,
}

tokio::task_local! {
    /// The fence of the shard whose object the current task reconciles.
    static SHARD_FENCE: Arc<WriteFence>;
}

/// Run `fut` with writes fenced by `fence` (a shard's), or as it is when `None` (no
/// sharding). Applies to every call polled within `fut`, not to tasks it spawns.
pub async fn scoped<F: Future>(fence: Option<Arc<WriteFence>>, fut: F) -> F::Output {
    match fence {
        Some(fence) => SHARD_FENCE.scope(fence, fut).await,
        None => fut.await,
    }
}

/// Permission to write to AWS.
#[derive(Debug)]
pub struct WriteFence {
    state: Mutex<State>,
    /// When the fence last opened after being closed (a lease acquired).
    opened_at: Mutex<Option<Instant>>,
}

impl WriteFence {
    /// A fence that never closes (a single replica without leader election).
    pub fn open() -> Self {
        Self {
            state: Mutex::new(State::Open),
            opened_at: Mutex::new(None),
        }
    }

    /// A fence closed until leadership is acquired.
    pub fn closed() -> Self {
        Self {
            state: Mutex::new(State::Until(None)),
            opened_at: Mutex::new(None),
        }
    }

    /// A fence that defers to the shard fence in scope ([`scoped`]), refusing writes
    /// made outside one.
    pub fn per_shard() -> Self {
        Self {
            state: Mutex::new(State::PerShard),
            opened_at: Mutex::new(None),
        }
    }

    /// Whether writes are allowed now.
    pub fn is_open(&self) -> bool {
        self.remaining("check").is_ok()
    }

    /// Allow writes until `deadline` (never moves an open fence).
    pub fn extend_until(&self, deadline: Instant) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let State::Until(current) = &mut *state {
            let now = Instant::now();
            if current.is_none_or(|c| c <= now) {
                *self.opened_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(now);
            }
            *current = Some(current.map_or(deadline, |c| c.max(deadline)));
        }
    }

    /// Since when writes have been allowed without a break (the lease held since), for a
    /// fence opened by a lease; `None` when closed or never closing.
    pub fn open_since(&self) -> Option<Instant> {
        let open = matches!(self.deadline(), Some(d) if d > Instant::now());
        if open {
            *self.opened_at.lock().unwrap_or_else(|p| p.into_inner())
        } else {
            None
        }
    }

    /// Until when writes are allowed: `None` when closed (or never closing, or per shard).
    /// A write started before it may still be in flight until then.
    pub fn deadline(&self) -> Option<Instant> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match &*state {
            State::Until(deadline) => *deadline,
            State::Open | State::PerShard => None,
        }
    }

    /// Stop all writes now (leadership lost or given up).
    pub fn close(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let State::Until(current) = &mut *state {
            *current = None;
        }
    }

    /// How long writes stay allowed from `now`: `Ok(None)` when unbounded, an error
    /// (never retried within this reconcile's budget) when the fence is closed.
    pub fn remaining(&self, operation: &'static str) -> Result<Option<Duration>, AwsError> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match &*state {
            State::Open => Ok(None),
            State::Until(Some(deadline)) if *deadline > Instant::now() => {
                Ok(Some(*deadline - Instant::now()))
            }
            State::Until(_) => Err(Self::fenced(operation)),
            State::PerShard => SHARD_FENCE
                .try_with(|f| f.remaining(operation))
                .unwrap_or_else(|_| Err(Self::no_shard(operation))),
        }
    }

    /// The error of a write made outside any shard's scope.
    fn no_shard(operation: &'static str) -> AwsError {
        AwsError::new(
            AwsErrorKind::Transient,
            operation,
            "NotShardOwner",
            "AWS writes are sharded and this write was made outside the scope of a shard \
             this replica holds",
        )
    }

    /// The error of a write refused or cut off by the fence.
    pub fn fenced(operation: &'static str) -> AwsError {
        AwsError::new(
            AwsErrorKind::Transient,
            operation,
            "NotLeader",
            "this replica could not renew its leader (or shard) lease within the renew \
             deadline, or gave it up; AWS writes are fenced until it holds it again",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn writes_stop_at_the_deadline() {
        let fence = WriteFence::closed();
        assert!(fence.remaining("ecs:CreateService").is_err());
        fence.extend_until(Instant::now() + Duration::from_secs(10));
        assert_eq!(
            fence.remaining("ecs:CreateService").ok().flatten(),
            Some(Duration::from_secs(10))
        );
        // An older deadline never shortens a newer one.
        fence.extend_until(Instant::now() + Duration::from_secs(1));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(fence.remaining("ecs:CreateService").is_ok());
        tokio::time::advance(Duration::from_secs(5)).await;
        let e = fence.remaining("ecs:CreateService").expect_err("fenced");
        assert_eq!(e.code, "NotLeader");
        fence.extend_until(Instant::now() + Duration::from_secs(10));
        fence.close();
        assert!(fence.remaining("ecs:CreateService").is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn per_shard_writes_follow_the_fence_in_scope() {
        let provider = WriteFence::per_shard();
        let e = provider
            .remaining("ecs:CreateService")
            .expect_err("no shard");
        assert_eq!(e.code, "NotShardOwner");
        let held = Arc::new(WriteFence::closed());
        held.extend_until(Instant::now() + Duration::from_secs(3));
        let not_held = Arc::new(WriteFence::closed());
        let ok = scoped(Some(held), async {
            provider.remaining("ecs:CreateService")
        })
        .await;
        assert_eq!(ok.ok().flatten(), Some(Duration::from_secs(3)));
        let refused = scoped(Some(not_held), async {
            provider.remaining("ecs:CreateService")
        })
        .await;
        assert_eq!(refused.expect_err("fenced").code, "NotLeader");
        // Without sharding, a scope changes nothing.
        let open = WriteFence::open();
        let closed = Arc::new(WriteFence::closed());
        let r = scoped(Some(closed), async { open.remaining("ecs:CreateService") }).await;
        assert_eq!(r.ok(), Some(None));
    }

    #[test]
    fn open_fence_never_closes_and_reads_are_reads() {
        let fence = WriteFence::open();
        fence.close();
        assert_eq!(fence.remaining("ecs:CreateService").ok(), Some(None));
        assert!(is_read_only("ecs:DescribeServices"));
        assert!(is_read_only("ecs:ListServices"));
        assert!(!is_read_only("ecs:UpdateService"));
    }

    #[tokio::test(start_paused = true)]
    async fn open_since_is_when_the_lease_was_acquired_not_renewed() {
        let fence = WriteFence::closed();
        assert_eq!(fence.open_since(), None);
        let acquired = Instant::now();
        fence.extend_until(acquired + Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(5)).await;
        fence.extend_until(Instant::now() + Duration::from_secs(10));
        assert_eq!(fence.open_since(), Some(acquired));
        fence.close();
        assert_eq!(fence.open_since(), None);
        tokio::time::advance(Duration::from_secs(1)).await;
        let again = Instant::now();
        fence.extend_until(again + Duration::from_secs(10));
        assert_eq!(fence.open_since(), Some(again));
        assert_eq!(WriteFence::open().open_since(), None);
    }
}
