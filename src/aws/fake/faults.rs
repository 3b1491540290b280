//! Fault injection, the call gate and the call log: every operation goes through
//! `FakeAws::call`, which records it, asks the gate, and may fail it or lose its response.

use std::sync::Arc;

use super::{is_read_only, FakeAws, State, OPERATIONS};
use crate::aws::{AwsError, AwsErrorKind};

/// Asked before every operation (named as in [`OPERATIONS`]) whether AWS would refuse it,
/// e.g. because one of AWS's token buckets is empty: `Some(error)` fails the call without
/// effect. It runs with the fake's state locked, so it must not call the fake.
pub type CallGate = Arc<dyn Fn(&'static str) -> Option<AwsError> + Send + Sync>;

/// The installed [`CallGate`] (a closure has no `Debug`, `State` needs one).
pub(super) struct Gate(CallGate);

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallGate")
    }
}

/// The error AWS answers a throttled call of `operation` with (each service has its own
/// code), classified as the SDK adapters classify it.
pub fn throttling_error(operation: &'static str) -> AwsError {
    let (code, message) = match operation.split(':').next() {
        Some("ec2") => ("RequestLimitExceeded", "Request limit exceeded."),
        Some("ecs") => ("ThrottlingException", "Rate exceeded"),
        _ => ("Throttling", "Rate exceeded"),
    };
    AwsError::new(AwsErrorKind::Throttled, operation, code, message)
}

#[derive(Clone, Debug)]
enum FaultKind {
    Fail(AwsError),
    LoseResponse,
}

#[derive(Clone, Debug)]
pub(super) struct Fault {
    operation: &'static str,
    kind: FaultKind,
    remaining: usize,
}
// ---------------------------------------------------------------------------------------
// Test-facing API: faults and the call log.
// ---------------------------------------------------------------------------------------

impl FakeAws {
    /// The next `times` calls of `operation` fail with `err` (without doing anything).
    pub fn fail_next(&self, operation: &'static str, err: AwsError, times: usize) {
        check_operation(operation);
        self.lock().faults.push(Fault {
            operation,
            kind: FaultKind::Fail(err),
            remaining: times,
        });
    }

    /// The next `times` calls of `operation` are throttled.
    pub fn throttle_next(&self, operation: &'static str, times: usize) {
        self.fail_next(operation, throttling_error(operation), times);
    }

    /// Ask `gate` before every call from now on (`None` removes it). Injected faults apply
    /// only to calls the gate lets through.
    pub fn set_call_gate(&self, gate: Option<CallGate>) {
        self.lock().gate = gate.map(Gate);
    }

    /// Whether calls are recorded in the call log (default on). A long-running user that
    /// counts calls in its gate turns it off so the log does not grow without bound.
    pub fn set_call_log(&self, on: bool) {
        self.lock().record_calls = on;
    }

    /// The next `times` calls of `operation` take effect in AWS, but the caller gets a
    /// transient error instead of the answer (a crash or timeout after the request).
    pub fn lose_response_next(&self, operation: &'static str, times: usize) {
        check_operation(operation);
        self.lock().faults.push(Fault {
            operation,
            kind: FaultKind::LoseResponse,
            remaining: times,
        });
    }

    /// Every call so far, in order, by operation name (calls the SDK adapters would not
    /// send, such as tagging with no tags, are not recorded).
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// Calls so far other than Describe*/List*.
    pub fn mutating_calls(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| !is_read_only(c))
            .collect()
    }

    /// How many times `operation` was called.
    pub fn count(&self, operation: &str) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.as_str() == operation)
            .count()
    }

    /// Forget the call log.
    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }
}

fn check_operation(operation: &str) {
    assert!(
        OPERATIONS.contains(&operation),
        "unknown operation {operation}; use the names of src/aws/guard.rs"
    );
}
impl State {
    fn take_fault(&mut self, operation: &str) -> Option<FaultKind> {
        let f = self
            .faults
            .iter_mut()
            .find(|f| f.operation == operation && f.remaining > 0)?;
        f.remaining -= 1;
        let kind = f.kind.clone();
        self.faults.retain(|f| f.remaining > 0);
        Some(kind)
    }
}

// ---------------------------------------------------------------------------------------
// The call wrapper: log, faults, then the operation.
// ---------------------------------------------------------------------------------------

impl FakeAws {
    pub(super) fn call<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&mut State) -> Result<T, AwsError>,
    ) -> Result<T, AwsError> {
        let mut s = self.lock();
        if s.record_calls {
            s.calls.push(operation.to_string());
        }
        if let Some(Gate(gate)) = &s.gate {
            if let Some(mut e) = gate(operation) {
                e.operation = operation;
                return Err(e);
            }
        }
        match s.take_fault(operation) {
            Some(FaultKind::Fail(mut e)) => {
                e.operation = operation;
                Err(e)
            }
            Some(FaultKind::LoseResponse) => {
                f(&mut s)?;
                Err(AwsError::new(
                    AwsErrorKind::Transient,
                    operation,
                    "RequestTimeout",
                    "the connection closed before the response was read",
                ))
            }
            None => f(&mut s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::types::Tags;
    use crate::aws::EcsApi;

    #[tokio::test]
    async fn faults_and_call_log() {
        let fake = FakeAws::new();
        fake.throttle_next("ecs:CreateCluster", 2);
        for _ in 0..2 {
            let e = fake.create_cluster("c", &Tags::new()).await.unwrap_err();
            assert_eq!(e.kind, AwsErrorKind::Throttled);
        }
        assert!(fake.clusters().is_empty(), "a throttled call does nothing");
        fake.create_cluster("c", &Tags::new()).await.unwrap();
        fake.lose_response_next("ecs:DeleteCluster", 1);
        let e = fake.delete_cluster("c").await.unwrap_err();
        assert_eq!(e.kind, AwsErrorKind::Transient);
        assert_eq!(
            fake.cluster("c").unwrap().status,
            "INACTIVE",
            "it took effect"
        );
        fake.fail_next(
            "ecs:DescribeClusters",
            AwsError::new(AwsErrorKind::Transient, "x", "ServerException", "boom"),
            1,
        );
        let e = fake.describe_clusters(&["c".into()]).await.unwrap_err();
        assert_eq!(e.operation, "ecs:DescribeClusters");
        assert_eq!(
            fake.calls(),
            vec![
                "ecs:CreateCluster",
                "ecs:CreateCluster",
                "ecs:CreateCluster",
                "ecs:DeleteCluster",
                "ecs:DescribeClusters"
            ]
        );
        assert_eq!(fake.count("ecs:CreateCluster"), 3);
        assert_eq!(fake.mutating_calls().len(), 4);
        fake.clear_calls();
        assert!(fake.calls().is_empty());
    }

    #[tokio::test]
    async fn the_gate_refuses_calls_before_they_take_effect() {
        let fake = FakeAws::new();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        fake.set_call_gate(Some(Arc::new(move |op| {
            log.lock().unwrap().push(op);
            (op == "ecs:CreateCluster").then(|| throttling_error(op))
        })));
        let e = fake.create_cluster("c", &Tags::new()).await.unwrap_err();
        assert_eq!(e.kind, AwsErrorKind::Throttled);
        assert_eq!(e.code, "ThrottlingException");
        assert!(fake.clusters().is_empty(), "a refused call does nothing");
        assert!(fake.describe_clusters(&["c".into()]).await.is_ok());
        assert_eq!(
            *seen.lock().unwrap(),
            vec!["ecs:CreateCluster", "ecs:DescribeClusters"]
        );
        fake.set_call_log(false);
        fake.set_call_gate(None);
        fake.create_cluster("c", &Tags::new()).await.unwrap();
        assert_eq!(fake.calls().len(), 2, "not recorded with the log off");
        assert_eq!(fake.clusters().len(), 1);
    }

    #[test]
    #[should_panic(expected = "unknown operation")]
    fn fault_injection_rejects_unknown_operations() {
        FakeAws::new().throttle_next("ecs:CreateServices", 1);
    }
}
