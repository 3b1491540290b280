//! What the generic reconciler writes after each step and when it looks again, decided as
//! plain functions of the object's state and the step's result (no I/O), so every rule is
//! unit-tested without an API server.
//!
//! Conditions follow kstatus: `Reconciling` (abnormal-true) while work is in progress,
//! `Stalled` when no progress is possible without a change, `Ready` as the summary;
//! `observedGeneration` moves only when a generation was fully reconciled.

use std::time::Duration;

use super::backoff::MAX_DELAY;
use super::conditions::{Cond, READY, RECONCILING, STALLED, SYNCED};
use super::error::Treatment;
use super::managed::Readiness;

/// What the reconciler knows of the object before writing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObjectState {
    /// metadata.generation.
    pub generation: Option<i64>,
    /// status.observedGeneration.
    pub observed_generation: Option<i64>,
    /// Ready is True in status and was computed for the current generation.
    pub ready_for_generation: bool,
    /// Ready is present in status at all.
    pub has_ready: bool,
    /// The generation was synced (every call made) and AWS is still at work: not Ready.
    pub rechecking: bool,
}

/// When to reconcile the object again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requeue {
    /// After this delay.
    After(Duration),
    /// After the object's next backoff delay from `base` (the reconciler keeps the count).
    Backoff {
        /// First delay.
        base: Duration,
    },
    /// Only when the object changes.
    AwaitChange,
}

/// The writes and requeue one reconcile step ends with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Conditions to merge into status.
    pub conditions: Vec<Cond>,
    /// Set status.observedGeneration to the object's generation (else keep it).
    pub advance_generation: bool,
    /// When to look again.
    pub requeue: Requeue,
    /// A Warning event to publish (reason, message), if the state is new.
    pub warning: Option<(&'static str, String)>,
}

/// The object is paused: say so, keep Ready as it was (a paused object may well be
/// running fine), and say when the pause holds up a deletion.
pub fn paused(state: &ObjectState, deleting: bool) -> Outcome {
    let (reason, message) = if deleting {
        (
            "DeletionPaused",
            "deletion is waiting: reconciliation is paused by the annotation \
             ecsoperator.io/paused; remove it to delete the AWS resources (or set \
             deletionPolicy: Retain to leave them)",
        )
    } else {
        (
            "Paused",
            "reconciliation is paused by the annotation ecsoperator.io/paused",
        )
    };
    let mut conditions = vec![
        Cond::no(SYNCED, reason, message),
        Cond::no(RECONCILING, reason, ""),
        Cond::no(STALLED, reason, ""),
    ];
    if deleting || !state.has_ready {
        conditions.push(Cond::no(READY, reason, message));
    }
    Outcome {
        conditions,
        advance_generation: false,
        requeue: Requeue::AwaitChange,
        warning: None,
    }
}

/// When to look again at work AWS is doing (a rollout, a deletion) that has been going on
/// for `elapsed`: every `base` at first, when most such work finishes, then less often
/// (a quarter of the time it has taken so far, up to 12 × `base`), so slow rollouts do not
/// cost a steady stream of calls.
pub fn recheck_delay(elapsed: Duration, base: Duration) -> Duration {
    (elapsed / 4).clamp(base, base * 12)
}

/// A sync made every call the spec needs: this generation is reconciled. Ready when AWS
/// has converged, else Reconciling until it does, looked at again on the
/// [`recheck_delay`] schedule counted from when the work began (`working_for`).
pub fn synced(readiness: &Readiness, resync: Duration, working_for: Duration) -> Outcome {
    let (ready, reconciling, requeue) = match readiness {
        Readiness::Ready(msg) => (
            Cond::yes(READY, "ReconcileSuccess", msg.clone()),
            Cond::no(RECONCILING, "ReconcileSuccess", ""),
            resync,
        ),
        Readiness::NotReady {
            reason,
            message,
            recheck,
        } => (
            Cond::no(READY, reason, message.clone()),
            Cond::yes(RECONCILING, reason, message.clone()),
            recheck_delay(working_for, *recheck).min(resync),
        ),
    };
    Outcome {
        conditions: vec![
            ready,
            reconciling,
            Cond::yes(SYNCED, "ReconcileSuccess", "AWS matches the spec"),
            Cond::no(STALLED, "ReconcileSuccess", ""),
        ],
        advance_generation: true,
        requeue: Requeue::After(requeue),
        warning: None,
    }
}

/// A reconcile step failed with `treatment` and `message`.
///
/// Stalled objects are still looked at every resync period (the conflict may be gone, the
/// IAM role may exist by now). A retryable error on a generation that was Ready keeps Ready
/// (a passing AWS hiccup does not make a running resource unready); on a new generation it
/// leaves observedGeneration behind and says Reconciling, so GitOps tools see InProgress.
pub fn failed(
    state: &ObjectState,
    treatment: Treatment,
    message: &str,
    resync: Duration,
) -> Outcome {
    match treatment {
        Treatment::Stall { reason } => Outcome {
            conditions: vec![
                Cond::no(READY, reason, message),
                Cond::no(SYNCED, reason, message),
                Cond::yes(STALLED, reason, message),
                Cond::no(RECONCILING, reason, ""),
            ],
            // The attempt at this generation is over: it cannot work as written.
            advance_generation: true,
            requeue: Requeue::After(resync),
            warning: Some((reason, message.to_string())),
        },
        Treatment::Wait { reason } => Outcome {
            conditions: vec![
                Cond::no(SYNCED, reason, message),
                Cond::no(STALLED, reason, ""),
                Cond::no(READY, reason, message),
                Cond::yes(RECONCILING, reason, message),
            ],
            advance_generation: false,
            requeue: Requeue::After(resync),
            warning: Some((reason, message.to_string())),
        },
        Treatment::Retry { reason, base } => {
            let hiccup = state.ready_for_generation
                && state.observed_generation == state.generation
                && reason != "WaitingForDependency";
            let mut conditions = vec![
                Cond::no(SYNCED, reason, message),
                Cond::no(STALLED, reason, ""),
            ];
            if hiccup {
                conditions.push(Cond::no(RECONCILING, reason, ""));
            } else {
                conditions.push(Cond::no(READY, reason, message));
                conditions.push(Cond::yes(RECONCILING, reason, message));
            }
            Outcome {
                conditions,
                advance_generation: false,
                requeue: Requeue::Backoff { base },
                warning: Some((reason, message.to_string())),
            }
        }
    }
}

/// Deletion is under way and waits for AWS or other objects.
pub fn deletion_waiting(message: &str, poll: Duration) -> Outcome {
    Outcome {
        conditions: deleting_conditions("Deleting", message),
        advance_generation: false,
        requeue: Requeue::After(poll),
        warning: None,
    }
}

/// A deletion step failed. Deletion never stalls: even an error that would stall a spec
/// is retried with capped backoff, the reason in the conditions, since a finalizer that
/// never finishes blocks the namespace and the user's `kubectl delete`.
pub fn deletion_failed(treatment: Treatment, message: &str) -> Outcome {
    let (reason, base) = match treatment {
        Treatment::Stall { reason } | Treatment::Wait { reason } => {
            (reason, Duration::from_secs(30))
        }
        Treatment::Retry { reason, base } => (reason, base),
    };
    let message = format!("deletion is blocked, retrying: {message}");
    Outcome {
        conditions: deleting_conditions(reason, &message),
        advance_generation: false,
        requeue: Requeue::Backoff {
            base: base.min(MAX_DELAY),
        },
        warning: Some((reason, message)),
    }
}

fn deleting_conditions(reason: &'static str, message: &str) -> Vec<Cond> {
    vec![
        Cond::no(READY, reason, message),
        Cond::no(SYNCED, reason, message),
        Cond::yes(RECONCILING, reason, message),
        Cond::no(STALLED, reason, ""),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(generation: i64, observed: i64, ready: bool) -> ObjectState {
        ObjectState {
            generation: Some(generation),
            observed_generation: Some(observed),
            ready_for_generation: ready,
            has_ready: true,
            rechecking: false,
        }
    }

    fn cond<'a>(o: &'a Outcome, type_: &str) -> Option<&'a Cond> {
        o.conditions.iter().find(|c| c.type_ == type_)
    }

    const RESYNC: Duration = Duration::from_secs(600);

    #[test]
    fn converged_sync_is_ready_and_advances_generation() {
        let o = synced(&Readiness::Ready("ok".into()), RESYNC, Duration::ZERO);
        assert!(o.advance_generation);
        assert!(cond(&o, READY).is_some_and(|c| c.status));
        assert!(cond(&o, RECONCILING).is_some_and(|c| !c.status));
        assert!(cond(&o, STALLED).is_some_and(|c| !c.status));
        assert_eq!(o.requeue, Requeue::After(RESYNC));
    }

    #[test]
    fn rollout_in_progress_is_reconciling_and_rechecked_sooner() {
        let o = synced(
            &Readiness::NotReady {
                reason: "DeploymentInProgress",
                message: "1/4".into(),
                recheck: Duration::from_secs(5),
            },
            RESYNC,
            Duration::from_secs(2),
        );
        assert!(o.advance_generation);
        assert!(cond(&o, READY).is_some_and(|c| !c.status));
        assert!(cond(&o, RECONCILING).is_some_and(|c| c.status));
        assert_eq!(o.requeue, Requeue::After(Duration::from_secs(5)));
    }

    #[test]
    fn long_running_work_is_looked_at_less_and_less_often() {
        let base = Duration::from_secs(5);
        assert_eq!(recheck_delay(Duration::ZERO, base), base);
        assert_eq!(recheck_delay(Duration::from_secs(20), base), base);
        assert_eq!(
            recheck_delay(Duration::from_secs(120), base),
            Duration::from_secs(30)
        );
        assert_eq!(
            recheck_delay(Duration::from_secs(3600), base),
            Duration::from_secs(60)
        );
        let o = synced(
            &Readiness::NotReady {
                reason: "DeploymentInProgress",
                message: "1/4".into(),
                recheck: base,
            },
            Duration::from_secs(30),
            Duration::from_secs(3600),
        );
        assert_eq!(
            o.requeue,
            Requeue::After(Duration::from_secs(30)),
            "never later than the resync period"
        );
    }

    #[test]
    fn stalled_objects_are_rechecked_at_resync_and_not_reconciling() {
        let o = failed(
            &state(2, 1, false),
            Treatment::Stall { reason: "Conflict" },
            "owned by someone else",
            RESYNC,
        );
        assert_eq!(o.requeue, Requeue::After(RESYNC));
        assert!(cond(&o, STALLED).is_some_and(|c| c.status));
        assert!(cond(&o, RECONCILING).is_some_and(|c| !c.status));
        assert!(cond(&o, READY).is_some_and(|c| !c.status));
        assert_eq!(o.warning.as_ref().map(|w| w.0), Some("Conflict"));
    }

    #[test]
    fn waiting_for_a_watched_object_is_reconciling_and_not_polled() {
        let o = failed(
            &state(1, 1, true),
            Treatment::Wait {
                reason: "WaitingForDependency",
            },
            "EcsTaskDef web has no Ready revision for its current spec yet",
            RESYNC,
        );
        assert_eq!(o.requeue, Requeue::After(RESYNC), "its change wakes it");
        assert!(cond(&o, RECONCILING).is_some_and(|c| c.status));
        assert!(cond(&o, READY).is_some_and(|c| !c.status));
        assert!(cond(&o, STALLED).is_some_and(|c| !c.status));
        assert!(!o.advance_generation);
        assert_eq!(
            o.warning.as_ref().map(|w| w.0),
            Some("WaitingForDependency")
        );
    }

    #[test]
    fn retryable_error_on_new_generation_keeps_observed_generation() {
        let o = failed(
            &state(3, 2, false),
            Treatment::Retry {
                reason: "Throttled",
                base: Duration::from_secs(10),
            },
            "slow down",
            RESYNC,
        );
        assert!(!o.advance_generation);
        assert!(cond(&o, RECONCILING).is_some_and(|c| c.status));
        assert!(cond(&o, READY).is_some_and(|c| !c.status));
        assert_eq!(
            o.requeue,
            Requeue::Backoff {
                base: Duration::from_secs(10)
            }
        );
    }

    #[test]
    fn hiccup_on_a_ready_generation_keeps_ready() {
        let o = failed(
            &state(2, 2, true),
            Treatment::Retry {
                reason: "ReconcileError",
                base: Duration::from_secs(2),
            },
            "500",
            RESYNC,
        );
        assert!(cond(&o, READY).is_none(), "Ready left as it was");
        assert!(cond(&o, RECONCILING).is_some_and(|c| !c.status));
        assert!(cond(&o, SYNCED).is_some_and(|c| !c.status));
        // A missing dependency is not a hiccup even for a Ready object.
        let o = failed(
            &state(2, 2, true),
            Treatment::Retry {
                reason: "WaitingForDependency",
                base: Duration::from_secs(5),
            },
            "EcsCluster gone",
            RESYNC,
        );
        assert!(cond(&o, READY).is_some_and(|c| !c.status));
    }

    #[test]
    fn pause_never_moves_generation_and_says_when_it_blocks_deletion() {
        let s = state(2, 1, true);
        let o = paused(&s, false);
        assert!(!o.advance_generation);
        assert_eq!(o.requeue, Requeue::AwaitChange);
        assert!(cond(&o, READY).is_none(), "Ready kept while paused");
        let o = paused(&s, true);
        let ready = cond(&o, READY).expect("Ready");
        assert!(!ready.status);
        assert_eq!(ready.reason, "DeletionPaused");
        assert!(ready.message.contains("deletion is waiting"));
        let fresh = ObjectState::default();
        assert!(cond(&paused(&fresh, false), READY).is_some());
    }

    #[test]
    fn deletion_never_stalls_and_never_moves_generation() {
        let o = deletion_failed(
            Treatment::Stall {
                reason: "InvalidSpec",
            },
            "bad",
        );
        assert!(cond(&o, STALLED).is_some_and(|c| !c.status));
        assert!(cond(&o, RECONCILING).is_some_and(|c| c.status));
        assert!(matches!(o.requeue, Requeue::Backoff { .. }));
        assert!(!o.advance_generation);
        let w = deletion_waiting("waiting for services", Duration::from_secs(5));
        assert!(!w.advance_generation);
        assert_eq!(w.requeue, Requeue::After(Duration::from_secs(5)));
    }
}
