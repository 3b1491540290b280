//! The write fence: AWS writes are allowed only while this replica's leadership is
//! certain, judged by the local monotonic clock.
//!
//! Leader election moves the deadline forward after each successful renewal (to the
//! instant the renewal was *sent* plus the renew deadline, which is shorter than the lease
//! duration); once it passes, every mutating call fails before it is sent, and calls
//! already running are cut off, so a partitioned or frozen leader never writes after
//! another replica could have taken the lease.

use std::sync::Mutex;
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
}

/// Permission to write to AWS.
#[derive(Debug)]
pub struct WriteFence {
    state: Mutex<State>,
}

impl WriteFence {
    /// A fence that never closes (a single replica without leader election).
    pub fn open() -> Self {
        Self {
            state: Mutex::new(State::Open),
        }
    }

    /// A fence closed until leadership is acquired.
    pub fn closed() -> Self {
        Self {
            state: Mutex::new(State::Until(None)),
        }
    }

    /// Allow writes until `deadline` (never moves an open fence).
    pub fn extend_until(&self, deadline: Instant) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let State::Until(current) = &mut *state {
            *current = Some(current.map_or(deadline, |c| c.max(deadline)));
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
        }
    }

    /// The error of a write refused or cut off by the fence.
    pub fn fenced(operation: &'static str) -> AwsError {
        AwsError::new(
            AwsErrorKind::Transient,
            operation,
            "NotLeader",
            "this replica could not renew its leader lease within the renew deadline; AWS \
             writes are fenced until it leads again",
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

    #[test]
    fn open_fence_never_closes_and_reads_are_reads() {
        let fence = WriteFence::open();
        fence.close();
        assert_eq!(fence.remaining("ecs:CreateService").ok(), Some(None));
        assert!(is_read_only("ecs:DescribeServices"));
        assert!(is_read_only("ecs:ListServices"));
        assert!(!is_read_only("ecs:UpdateService"));
    }
}
