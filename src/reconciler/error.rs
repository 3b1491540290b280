//! Reconcile errors, and how each is reported and retried.

use std::time::Duration;

use crate::aws::{AwsError, AwsErrorKind};

/// Everything a reconcile can fail with.
#[derive(thiserror::Error, Debug)]
pub enum Error {
    /// An AWS call failed.
    #[error("{0}")]
    Aws(#[from] AwsError),
    /// A Kubernetes API call failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The spec cannot work; the message says what to change.
    #[error("{0}")]
    InvalidSpec(String),
    /// An AWS resource of that name belongs to someone else.
    #[error("{0}")]
    Conflict(String),
    /// Something the object needs is not there or not ready yet (an AWS resource, the
    /// operator's caches): looked at again with backoff.
    #[error("{0}")]
    WaitingForDependency(String),
    /// A referenced Kubernetes object (EcsCluster, EcsTaskDef) is missing or not Ready
    /// yet. Its change wakes this object through the controllers' watches, so it is not
    /// polled: during a bulk apply thousands of services wait for their task definitions.
    #[error("{0}")]
    WaitingForObject(String),
    /// (De)serialization of an object failed.
    #[error("serialization: {0}")]
    Serialization(#[from] serde_json::Error),
}

/// How the generic reconciler treats an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Treatment {
    /// Stalled: no retry until the object changes.
    Stall {
        /// Condition reason.
        reason: &'static str,
    },
    /// Retry with per-object exponential backoff starting at `base`.
    Retry {
        /// Condition reason.
        reason: &'static str,
        /// First delay.
        base: Duration,
    },
    /// Wait for a watched object to change, which reconciles this one; looked at again at
    /// the resync period in case a change was missed.
    Wait {
        /// Condition reason.
        reason: &'static str,
    },
}

impl Error {
    /// Label of the error in the reconcile error metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Aws(e) => match e.kind {
                AwsErrorKind::Throttled => "aws_throttled",
                AwsErrorKind::NotFound => "aws_not_found",
                AwsErrorKind::InvalidInput => "aws_invalid_input",
                AwsErrorKind::Dependency => "aws_dependency",
                AwsErrorKind::Transient => "aws_transient",
                AwsErrorKind::AccessDenied => "aws_access_denied",
                AwsErrorKind::AlreadyExists => "aws_already_exists",
                AwsErrorKind::LimitExceeded => "aws_limit_exceeded",
                AwsErrorKind::Unrecognized => "aws_unrecognized",
            },
            Error::Kube(_) => "kube",
            Error::InvalidSpec(_) => "invalid_spec",
            Error::Conflict(_) => "conflict",
            // One label for waiting: the treatment differs, not what the user sees.
            Error::WaitingForDependency(_) | Error::WaitingForObject(_) => "waiting_for_dependency",
            Error::Serialization(_) => "serialization",
        }
    }

    /// Stall or retry, and with which condition reason.
    pub fn treatment(&self) -> Treatment {
        let secs = Duration::from_secs;
        match self {
            Error::Aws(e) => match e.kind {
                AwsErrorKind::InvalidInput => Treatment::Stall {
                    reason: "InvalidSpec",
                },
                AwsErrorKind::Throttled => Treatment::Retry {
                    reason: "Throttled",
                    base: secs(10),
                },
                // The fix is outside the object (IAM, a quota, a code we do not know):
                // retried slowly, so it heals by itself once the outside is fixed.
                AwsErrorKind::AccessDenied
                | AwsErrorKind::LimitExceeded
                | AwsErrorKind::Unrecognized => Treatment::Retry {
                    reason: "ReconcileError",
                    base: secs(30),
                },
                // A create that did succeed although its answer was lost: look again soon.
                AwsErrorKind::AlreadyExists => Treatment::Retry {
                    reason: "ReconcileError",
                    base: secs(1),
                },
                AwsErrorKind::Dependency => Treatment::Retry {
                    reason: "ReconcileError",
                    base: secs(5),
                },
                AwsErrorKind::NotFound | AwsErrorKind::Transient => Treatment::Retry {
                    reason: "ReconcileError",
                    base: secs(2),
                },
            },
            Error::InvalidSpec(_) | Error::Serialization(_) => Treatment::Stall {
                reason: "InvalidSpec",
            },
            Error::Conflict(_) => Treatment::Stall { reason: "Conflict" },
            Error::WaitingForDependency(_) => Treatment::Retry {
                reason: "WaitingForDependency",
                base: secs(5),
            },
            Error::WaitingForObject(_) => Treatment::Wait {
                reason: "WaitingForDependency",
            },
            Error::Kube(_) => Treatment::Retry {
                reason: "ReconcileError",
                base: secs(2),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_bad_input_stalls_and_throttling_retries_slower() {
        let bad = Error::Aws(AwsError::new(
            AwsErrorKind::InvalidInput,
            "op",
            "c",
            "bad type",
        ));
        assert_eq!(
            bad.treatment(),
            Treatment::Stall {
                reason: "InvalidSpec"
            }
        );
        let thr = Error::Aws(AwsError::new(
            AwsErrorKind::Throttled,
            "op",
            "c",
            "slow down",
        ));
        let tr = Error::Aws(AwsError::new(AwsErrorKind::Transient, "op", "c", "500"));
        match (thr.treatment(), tr.treatment()) {
            (
                Treatment::Retry {
                    reason: "Throttled",
                    base: a,
                },
                Treatment::Retry { base: b, .. },
            ) => assert!(a > b),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            Error::Conflict("x".into()).treatment(),
            Treatment::Stall { reason: "Conflict" }
        );
        assert_eq!(thr.metric_label(), "aws_throttled");
    }
}
