//! metav1.Condition bookkeeping: lastTransitionTime moves only when a status flips.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The summary condition.
pub const READY: &str = "Ready";
/// The last reconcile reached AWS and converged.
pub const SYNCED: &str = "Synced";
/// No progress is possible without a change to the object.
pub const STALLED: &str = "Stalled";
/// Work is in progress (kstatus' abnormal-true condition): creating, rolling out,
/// retrying after an error on a new generation, deleting.
pub const RECONCILING: &str = "Reconciling";
/// A service deployment is rolling out.
pub const PROGRESSING: &str = "Progressing";

/// A desired condition, before timestamps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cond {
    /// Condition type.
    pub type_: &'static str,
    /// True or False.
    pub status: bool,
    /// CamelCase reason.
    pub reason: &'static str,
    /// Human-readable message.
    pub message: String,
}

impl Cond {
    /// A condition that is True.
    pub fn yes(type_: &'static str, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            type_,
            status: true,
            reason,
            message: message.into(),
        }
    }
    /// A condition that is False.
    pub fn no(type_: &'static str, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            type_,
            status: false,
            reason,
            message: message.into(),
        }
    }
}

/// Merge `desired` into `existing`: conditions of the same type keep their
/// lastTransitionTime unless their status flips; types not in `desired` are kept as they are.
pub fn merge(
    existing: &[Condition],
    desired: &[Cond],
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    let mut out: Vec<Condition> = existing.to_vec();
    for d in desired {
        let status = if d.status { "True" } else { "False" }.to_string();
        let message = truncate(&d.message, 1024);
        match out.iter_mut().find(|c| c.type_ == d.type_) {
            Some(c) => {
                if c.status != status {
                    c.last_transition_time = now.clone();
                }
                c.status = status;
                c.reason = d.reason.to_string();
                c.message = message;
                c.observed_generation = generation;
            }
            None => out.push(Condition {
                type_: d.type_.to_string(),
                status,
                reason: d.reason.to_string(),
                message,
                observed_generation: generation,
                last_transition_time: now.clone(),
            }),
        }
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Time {
        Time(jiff::Timestamp::from_second(s).unwrap())
    }

    #[test]
    fn new_conditions_get_now_and_generation() {
        let out = merge(
            &[],
            &[Cond::yes(READY, "ReconcileSuccess", "ok")],
            Some(3),
            &t(10),
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].status, "True");
        assert_eq!(out[0].observed_generation, Some(3));
        assert_eq!(out[0].last_transition_time, t(10));
    }

    #[test]
    fn transition_time_moves_only_on_flip() {
        let first = merge(&[], &[Cond::no(READY, "Creating", "a")], Some(1), &t(10));
        let same = merge(
            &first,
            &[Cond::no(READY, "WaitingForDependency", "b")],
            Some(2),
            &t(20),
        );
        assert_eq!(same[0].last_transition_time, t(10));
        assert_eq!(same[0].reason, "WaitingForDependency");
        assert_eq!(same[0].observed_generation, Some(2));
        let flipped = merge(
            &same,
            &[Cond::yes(READY, "ReconcileSuccess", "c")],
            Some(2),
            &t(30),
        );
        assert_eq!(flipped[0].last_transition_time, t(30));
    }

    #[test]
    fn other_types_are_kept_and_messages_bounded() {
        let first = merge(&[], &[Cond::yes(STALLED, "Conflict", "x")], None, &t(1));
        let long = "é".repeat(2000);
        let out = merge(
            &first,
            &[Cond::no(SYNCED, "ReconcileError", long)],
            None,
            &t(2),
        );
        assert_eq!(out.len(), 2);
        assert!(out[1].message.len() <= 1024 + "…".len());
    }
}
