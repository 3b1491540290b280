//! The record of every call and the counters the summary is made of.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::identify::Service;
use crate::rules::FaultKind;

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Forwarded to the upstream, its answer passed back.
    Forwarded,
    /// An injected throttling error, not forwarded.
    Throttled,
    /// Throttled because the operation's AWS token bucket was empty, not forwarded.
    ThrottledBucket,
    /// An injected HTTP 500, not forwarded.
    Error500,
    /// An injected HTTP 503, not forwarded.
    Error503,
    /// Connection reset before forwarding.
    Reset,
    /// Forwarded, the upstream answered, then the client connection was reset.
    LostResponse,
    /// The upstream could not be reached; the client got HTTP 502.
    UpstreamError,
}

impl Outcome {
    /// Every outcome, in table order.
    pub const ALL: [Outcome; 8] = [
        Outcome::Forwarded,
        Outcome::Throttled,
        Outcome::ThrottledBucket,
        Outcome::Error500,
        Outcome::Error503,
        Outcome::Reset,
        Outcome::LostResponse,
        Outcome::UpstreamError,
    ];

    /// The name used in records and summaries.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Forwarded => "forwarded",
            Outcome::Throttled => "throttled",
            Outcome::ThrottledBucket => "throttled_bucket",
            Outcome::Error500 => "error500",
            Outcome::Error503 => "error503",
            Outcome::Reset => "reset",
            Outcome::LostResponse => "lost_response",
            Outcome::UpstreamError => "upstream_error",
        }
    }

    /// The injected fault this outcome is, if any.
    pub fn fault(self) -> Option<FaultKind> {
        match self {
            Outcome::Throttled => Some(FaultKind::Throttle),
            Outcome::Error500 => Some(FaultKind::Error500),
            Outcome::Error503 => Some(FaultKind::Error503),
            Outcome::Reset => Some(FaultKind::Reset),
            Outcome::LostResponse => Some(FaultKind::LostResponse),
            Outcome::Forwarded | Outcome::ThrottledBucket | Outcome::UpstreamError => None,
        }
    }
}

/// One line of the JSONL record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordEntry {
    /// When the request arrived, in milliseconds since the Unix epoch (to line up with
    /// the operator's logs).
    pub t_ms: u64,
    /// Service name (`ecs`, …, `other`).
    pub service: String,
    /// Operation name.
    pub operation: String,
    /// The resource named by the request, if any.
    pub resource: Option<String>,
    /// Whether the operation writes.
    pub mutating: bool,
    /// How it ended.
    pub outcome: Outcome,
    /// The upstream's HTTP status, when it was asked.
    pub upstream_status: Option<u16>,
    /// Extra detail (the spec-hash tag of a RegisterTaskDefinition).
    pub detail: Option<String>,
    /// Injected delay in milliseconds (0 when none).
    pub latency_ms: u64,
}

/// Whether a successful call of `operation` creates a resource that should exist once,
/// so a second success for the same name is a duplicate worth showing. Calls that
/// legitimately repeat for one name (tags, launch template versions, instance and
/// listener registration) are not creates in this sense.
pub fn is_create(operation: &str) -> bool {
    const REPEATABLE: &[&str] = &[
        "CreateTags",
        "CreateOrUpdateTags",
        "CreateLaunchTemplateVersion",
        "CreateLoadBalancerListeners",
        "CreateLoadBalancerPolicy",
        "RegisterInstancesWithLoadBalancer",
        "RegisterContainerInstance",
    ];
    (operation.starts_with("Create")
        || operation.starts_with("Register")
        || operation == "RunInstances")
        && !REPEATABLE.contains(&operation)
}

/// Counters of one `service:Operation`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallCounts {
    /// Calls seen.
    pub total: u64,
    /// Calls per outcome name.
    pub outcomes: BTreeMap<&'static str, u64>,
}

/// A resource created successfully more than once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicateCreate {
    /// `service:Operation`.
    pub call: String,
    /// The resource name.
    pub resource: String,
    /// For RegisterTaskDefinition the spec hash: new revisions of a family are normal,
    /// two with the same hash are the bug.
    pub detail: Option<String>,
    /// Successful creates.
    pub count: u64,
}

/// The summary served at `/__proxy/summary` and printed at exit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Per `service:Operation`.
    pub calls: BTreeMap<String, CallCounts>,
    /// Injected faults per kind (every kind present, 0 when none).
    pub faults: BTreeMap<&'static str, u64>,
    /// Calls refused because an AWS token bucket was empty.
    pub throttled_bucket: u64,
    /// Mutating calls the upstream answered 2xx (lost responses included: the write
    /// happened), per `service:Operation` and resource name (`-` when none).
    pub successful_mutations: BTreeMap<String, BTreeMap<String, u64>>,
    /// Resources created successfully more than once (see [`is_create`]).
    pub duplicate_creates: Vec<DuplicateCreate>,
    /// All calls, `other` included.
    pub total_calls: u64,
}

/// Running counters and the in-memory record.
#[derive(Debug, Default)]
pub struct Stats {
    summary: Summary,
    creates: BTreeMap<(String, String, Option<String>), u64>,
    record: Vec<RecordEntry>,
}

impl Stats {
    /// Empty counters.
    pub fn new() -> Self {
        Stats::default()
    }

    /// Counts one finished call and keeps its record line.
    pub fn add(&mut self, entry: RecordEntry) {
        let s = &mut self.summary;
        let key = format!("{}:{}", entry.service, entry.operation);
        s.total_calls += 1;
        let counts = s.calls.entry(key.clone()).or_default();
        counts.total += 1;
        *counts.outcomes.entry(entry.outcome.name()).or_default() += 1;
        if let Some(kind) = entry.outcome.fault() {
            *s.faults.entry(kind.name()).or_default() += 1;
        }
        if entry.latency_ms > 0 {
            *s.faults.entry(FaultKind::Latency.name()).or_default() += 1;
        }
        if entry.outcome == Outcome::ThrottledBucket {
            s.throttled_bucket += 1;
        }
        let succeeded = matches!(entry.upstream_status, Some(200..=299));
        if succeeded && entry.mutating && entry.service != Service::Other.name() {
            let resource = entry.resource.clone().unwrap_or_else(|| "-".to_string());
            *s.successful_mutations
                .entry(key.clone())
                .or_default()
                .entry(resource.clone())
                .or_default() += 1;
            if is_create(&entry.operation) {
                let detail = (entry.operation == "RegisterTaskDefinition")
                    .then(|| entry.detail.clone())
                    .flatten();
                *self.creates.entry((key, resource, detail)).or_default() += 1;
            }
        }
        self.record.push(entry);
    }

    /// The summary as of now.
    pub fn summary(&self) -> Summary {
        let mut s = self.summary.clone();
        for kind in FaultKind::ALL {
            s.faults.entry(kind.name()).or_default();
        }
        s.duplicate_creates = self
            .creates
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|((call, resource, detail), n)| DuplicateCreate {
                call: call.clone(),
                resource: resource.clone(),
                detail: detail.clone(),
                count: *n,
            })
            .collect();
        s
    }

    /// Every call recorded since the start or the last reset, in completion order.
    pub fn record(&self) -> &[RecordEntry] {
        &self.record
    }
}

/// The summary as a table for people (printed at exit).
pub fn render_table(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "aws-fault-proxy: {} calls", s.total_calls);
    let width = s
        .calls
        .keys()
        .map(String::len)
        .chain(std::iter::once("call".len()))
        .max()
        .unwrap_or(4);
    let columns: Vec<Outcome> = Outcome::ALL
        .into_iter()
        .filter(|o| {
            *o == Outcome::Forwarded
                || s.calls
                    .values()
                    .any(|c| c.outcomes.get(o.name()).copied().unwrap_or(0) > 0)
        })
        .collect();
    let _ = write!(out, "{:<width$} {:>7}", "call", "total");
    for o in &columns {
        let _ = write!(out, " {:>w$}", o.name(), w = o.name().len().max(5));
    }
    out.push('\n');
    for (key, counts) in &s.calls {
        let _ = write!(out, "{key:<width$} {:>7}", counts.total);
        for o in &columns {
            let n = counts.outcomes.get(o.name()).copied().unwrap_or(0);
            let _ = write!(out, " {:>w$}", n, w = o.name().len().max(5));
        }
        out.push('\n');
    }
    let faults: Vec<String> = s.faults.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let _ = writeln!(out, "faults injected: {}", faults.join(" "));
    let _ = writeln!(out, "throttled by AWS limits: {}", s.throttled_bucket);
    if s.duplicate_creates.is_empty() {
        let _ = writeln!(out, "resources created more than once: none");
    } else {
        let _ = writeln!(out, "resources created more than once:");
        for d in &s.duplicate_creates {
            let detail = d
                .detail
                .as_deref()
                .map(|h| format!(" (spec-hash {h})"))
                .unwrap_or_default();
            let _ = writeln!(out, "  {} {}{}: {}", d.call, d.resource, detail, d.count);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        op: &str,
        resource: Option<&str>,
        outcome: Outcome,
        status: Option<u16>,
    ) -> RecordEntry {
        RecordEntry {
            t_ms: 1,
            service: "ecs".into(),
            operation: op.into(),
            resource: resource.map(Into::into),
            mutating: crate::identify::is_mutating(op),
            outcome,
            upstream_status: status,
            detail: None,
            latency_ms: 0,
        }
    }

    #[test]
    fn counts_outcomes_faults_and_mutations() {
        let mut st = Stats::new();
        st.add(entry(
            "CreateService",
            Some("web"),
            Outcome::Throttled,
            None,
        ));
        st.add(entry(
            "CreateService",
            Some("web"),
            Outcome::LostResponse,
            Some(200),
        ));
        st.add(entry(
            "CreateService",
            Some("web"),
            Outcome::Forwarded,
            Some(200),
        ));
        st.add(entry(
            "CreateService",
            Some("api"),
            Outcome::Forwarded,
            Some(400),
        ));
        st.add(entry(
            "DescribeServices",
            Some("web"),
            Outcome::Forwarded,
            Some(200),
        ));
        st.add(entry(
            "DescribeServices",
            Some("web"),
            Outcome::ThrottledBucket,
            None,
        ));
        let mut slow = entry("ListServices", None, Outcome::Forwarded, Some(200));
        slow.latency_ms = 50;
        st.add(slow);
        let s = st.summary();
        assert_eq!(s.total_calls, 7);
        let cs = &s.calls["ecs:CreateService"];
        assert_eq!(cs.total, 4);
        assert_eq!(cs.outcomes["forwarded"], 2);
        assert_eq!(cs.outcomes["throttled"], 1);
        assert_eq!(cs.outcomes["lost_response"], 1);
        assert_eq!(s.faults["throttle"], 1);
        assert_eq!(s.faults["lost_response"], 1);
        assert_eq!(s.faults["latency"], 1);
        assert_eq!(s.faults["reset"], 0);
        assert_eq!(s.throttled_bucket, 1);
        // The 400 is not a success; reads are not mutations.
        assert_eq!(s.successful_mutations.len(), 1);
        assert_eq!(s.successful_mutations["ecs:CreateService"]["web"], 2);
        assert_eq!(
            s.duplicate_creates,
            vec![DuplicateCreate {
                call: "ecs:CreateService".into(),
                resource: "web".into(),
                detail: None,
                count: 2
            }]
        );
        assert_eq!(st.record().len(), 7);
        let table = render_table(&s);
        assert!(table.contains("ecs:CreateService"), "{table}");
        assert!(table.contains("ecs:CreateService web: 2"), "{table}");
        assert!(table.contains("throttle=1"), "{table}");
    }

    #[test]
    fn task_definition_duplicates_are_by_spec_hash() {
        let mut st = Stats::new();
        for hash in ["h1", "h2", "h2"] {
            let mut e = entry(
                "RegisterTaskDefinition",
                Some("webapp"),
                Outcome::Forwarded,
                Some(200),
            );
            e.detail = Some(hash.into());
            st.add(e);
        }
        let s = st.summary();
        assert_eq!(
            s.successful_mutations["ecs:RegisterTaskDefinition"]["webapp"],
            3
        );
        assert_eq!(s.duplicate_creates.len(), 1);
        assert_eq!(s.duplicate_creates[0].detail.as_deref(), Some("h2"));
        assert_eq!(s.duplicate_creates[0].count, 2);
        assert!(render_table(&s).contains("webapp (spec-hash h2): 2"));
    }

    #[test]
    fn other_calls_are_counted_but_not_mutations() {
        let mut st = Stats::new();
        let mut e = entry("POST /moto-api/reset", None, Outcome::Forwarded, Some(200));
        e.service = "other".into();
        st.add(e);
        let s = st.summary();
        assert_eq!(s.total_calls, 1);
        assert!(s.calls.contains_key("other:POST /moto-api/reset"));
        assert!(s.successful_mutations.is_empty());
    }

    #[test]
    fn creates() {
        assert!(is_create("CreateService"));
        assert!(is_create("CreateLoadBalancer"));
        assert!(is_create("RegisterTaskDefinition"));
        assert!(is_create("RunInstances"));
        assert!(!is_create("CreateTags"));
        assert!(!is_create("CreateLaunchTemplateVersion"));
        assert!(!is_create("UpdateService"));
    }

    #[test]
    fn record_line_shape() {
        let line = serde_json::to_value(entry(
            "CreateService",
            Some("web"),
            Outcome::Forwarded,
            Some(200),
        ))
        .unwrap();
        assert_eq!(
            line,
            serde_json::json!({"t_ms":1,"service":"ecs","operation":"CreateService","resource":"web",
                "mutating":true,"outcome":"forwarded","upstream_status":200,"detail":null,"latency_ms":0})
        );
    }
}
