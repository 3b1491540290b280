//! The rules file: which faults to inject, how often, into which calls, and whether
//! AWS's token buckets are enforced. Format documented in the crate's README.md.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::buckets::{default_specs, BucketSpec, DEFAULT_BUCKETS};
use crate::identify::{Call, Service};
use crate::prng::SplitMix64;

/// The kinds of injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer the service's throttling error without forwarding.
    Throttle,
    /// Answer the service's HTTP 500 error without forwarding.
    Error500,
    /// Answer the service's HTTP 503 error without forwarding.
    Error503,
    /// Close the client connection (TCP RST) without answering or forwarding.
    Reset,
    /// Delay the call by `latency_ms`, then go on (combines with the other kinds).
    Latency,
    /// Forward, wait for the upstream's answer, then reset the client connection: the
    /// write happened, the client never learns.
    LostResponse,
}

impl FaultKind {
    /// Every kind, in summary order.
    pub const ALL: [FaultKind; 6] = [
        FaultKind::Throttle,
        FaultKind::Error500,
        FaultKind::Error503,
        FaultKind::Reset,
        FaultKind::Latency,
        FaultKind::LostResponse,
    ];

    /// The name used in rules, records and summaries.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Throttle => "throttle",
            FaultKind::Error500 => "error500",
            FaultKind::Error503 => "error503",
            FaultKind::Reset => "reset",
            FaultKind::Latency => "latency",
            FaultKind::LostResponse => "lost_response",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One fault rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// What to do.
    pub kind: FaultKind,
    /// Chance in `[0, 1]` that a matching call gets this fault.
    pub probability: f64,
    /// Service names the rule applies to (`ecs`, `autoscaling`,
    /// `elasticloadbalancing`, `ec2`); absent means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<String>>,
    /// Operation names the rule applies to (`CreateService`); absent means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operations: Option<Vec<String>>,
    /// Apply only to mutating calls (not Describe*/List*/Get*).
    #[serde(default)]
    pub mutating_only: bool,
    /// The delay of a `latency` rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Free text for people reading the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl FaultRule {
    /// Whether the rule applies to `call`.
    pub fn matches(&self, call: &Call) -> bool {
        if call.service == Service::Other {
            return false;
        }
        if self.mutating_only && !call.mutating {
            return false;
        }
        if let Some(services) = &self.services {
            if !services.iter().any(|s| s == call.service.name()) {
                return false;
            }
        }
        if let Some(ops) = &self.operations {
            if !ops.contains(&call.operation) {
                return false;
            }
        }
        true
    }
}

/// The whole rule set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Enforce AWS's per-operation token buckets (answer throttling when one is empty).
    #[serde(default)]
    pub enforce_aws_limits: bool,
    /// Bucket overrides by name (`ecs.service_modify`); the rest keep AWS's numbers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub buckets: BTreeMap<String, BucketSpec>,
    /// Fault rules, in order.
    #[serde(default)]
    pub faults: Vec<FaultRule>,
    /// Free text for people reading the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// What to do with one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decision {
    /// The fault other than latency, if one fires.
    pub fault: Option<FaultKind>,
    /// Total injected delay in milliseconds (0 for none).
    pub latency_ms: u64,
}

impl Rules {
    /// Parses and validates a rules document.
    pub fn from_json(text: &str) -> Result<Rules, String> {
        let rules: Rules = serde_json::from_str(text).map_err(|e| format!("rules: {e}"))?;
        rules.validate()?;
        Ok(rules)
    }

    /// Rejects what would silently do something else than meant: typos in names,
    /// probabilities out of range, a latency rule without a delay.
    pub fn validate(&self) -> Result<(), String> {
        for (i, rule) in self.faults.iter().enumerate() {
            let at = format!("rules: faults[{i}] ({})", rule.kind);
            if !(0.0..=1.0).contains(&rule.probability) {
                return Err(format!(
                    "{at}: probability {} is not within 0..=1",
                    rule.probability
                ));
            }
            match (rule.kind, rule.latency_ms) {
                (FaultKind::Latency, None) => {
                    return Err(format!("{at}: a latency rule needs latency_ms"))
                }
                (FaultKind::Latency, Some(_)) | (_, None) => {}
                (_, Some(_)) => return Err(format!("{at}: latency_ms is only for latency rules")),
            }
            for s in rule.services.iter().flatten() {
                if !Service::RULE_NAMES.contains(&s.as_str()) {
                    return Err(format!(
                        "{at}: unknown service {s:?} (known: {})",
                        Service::RULE_NAMES.join(", ")
                    ));
                }
            }
        }
        for (name, spec) in &self.buckets {
            if !DEFAULT_BUCKETS.iter().any(|(n, _)| n == name) {
                let known: Vec<&str> = DEFAULT_BUCKETS.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "rules: unknown bucket {name:?} (known: {})",
                    known.join(", ")
                ));
            }
            if !(spec.capacity.is_finite() && spec.capacity >= 1.0) {
                return Err(format!("rules: bucket {name}: capacity must be at least 1"));
            }
            if !(spec.refill_per_sec.is_finite() && spec.refill_per_sec >= 0.0) {
                return Err(format!(
                    "rules: bucket {name}: refill_per_sec must be 0 or more"
                ));
            }
        }
        Ok(())
    }

    /// AWS's buckets with this rule set's overrides applied.
    pub fn bucket_specs(&self) -> BTreeMap<String, BucketSpec> {
        let mut specs = default_specs();
        specs.extend(self.buckets.iter().map(|(k, v)| (k.clone(), *v)));
        specs
    }

    /// Decides the faults for one call, drawing from `rng`.
    ///
    /// Each matching latency rule draws once and adds its delay when it fires. All
    /// other matching rules share one draw `r`, laid end to end in file order: the first
    /// rule fires when `r < p1`, the second when `p1 <= r < p1 + p2`, and so on. So
    /// each rule's probability is exactly what the file says (as long as the matching
    /// rules' sum is at most 1), instead of later rules being thinned by earlier ones.
    /// Calls of [`Service::Other`] draw nothing, so passing traffic (STS, moto's API)
    /// does not shift the sequence.
    pub fn decide(&self, call: &Call, rng: &mut SplitMix64) -> Decision {
        let mut decision = Decision::default();
        if call.service == Service::Other {
            return decision;
        }
        for rule in self.faults.iter().filter(|r| r.kind == FaultKind::Latency) {
            if rule.matches(call) && rng.next_f64() < rule.probability {
                decision.latency_ms += rule.latency_ms.unwrap_or(0);
            }
        }
        let r = rng.next_f64();
        let mut upper = 0.0;
        for rule in self.faults.iter().filter(|r| r.kind != FaultKind::Latency) {
            if !rule.matches(call) {
                continue;
            }
            upper += rule.probability;
            if r < upper {
                decision.fault = Some(rule.kind);
                break;
            }
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(service: Service, op: &str) -> Call {
        Call {
            service,
            operation: op.to_string(),
            resource: None,
            detail: None,
            mutating: crate::identify::is_mutating(op),
            api_version: None,
        }
    }

    #[test]
    fn parses_the_example_file() {
        let text = include_str!("../examples/chaos.json");
        let rules = Rules::from_json(text).unwrap();
        assert!(rules.enforce_aws_limits);
        let p = |k: FaultKind| -> f64 {
            rules
                .faults
                .iter()
                .filter(|r| r.kind == k)
                .map(|r| r.probability)
                .sum()
        };
        assert_eq!(p(FaultKind::Throttle), 0.30);
        assert!((p(FaultKind::Error500) + p(FaultKind::Error503) - 0.05).abs() < 1e-12);
        assert_eq!(p(FaultKind::LostResponse), 0.02);
        assert_eq!(p(FaultKind::Reset), 0.01);
        let lost = rules
            .faults
            .iter()
            .find(|r| r.kind == FaultKind::LostResponse)
            .unwrap();
        assert!(lost.mutating_only);
    }

    #[test]
    fn parses_a_full_rule() {
        let rules = Rules::from_json(
            r#"{
              "enforce_aws_limits": false,
              "buckets": {"ecs.service_modify": {"capacity": 2, "refill_per_sec": 0.5}},
              "faults": [
                {"kind": "latency", "probability": 1, "latency_ms": 200},
                {"kind": "lost_response", "probability": 0.5, "services": ["ecs"],
                 "operations": ["CreateService"], "mutating_only": true, "comment": "dup creates"}
              ]
            }"#,
        )
        .unwrap();
        assert_eq!(rules.faults.len(), 2);
        assert_eq!(rules.faults[0].latency_ms, Some(200));
        assert_eq!(rules.faults[1].kind, FaultKind::LostResponse);
        assert_eq!(
            rules.faults[1].operations.as_deref(),
            Some(&["CreateService".to_string()][..])
        );
        let specs = rules.bucket_specs();
        assert_eq!(specs["ecs.service_modify"].capacity, 2.0);
        assert_eq!(specs["ecs.service_read"].capacity, 100.0);
        // Round trip: GET /__proxy/rules answers what PUT took.
        let again = Rules::from_json(&serde_json::to_string(&rules).unwrap()).unwrap();
        assert_eq!(again, rules);
    }

    #[test]
    fn empty_document_is_pass_through() {
        let rules = Rules::from_json("{}").unwrap();
        assert!(!rules.enforce_aws_limits);
        assert!(rules.faults.is_empty());
    }

    #[test]
    fn rejects_mistakes() {
        for (text, expect) in [
            (
                r#"{"faults":[{"kind":"throttle","probability":1.5}]}"#,
                "within 0..=1",
            ),
            (
                r#"{"faults":[{"kind":"throttle","probability":-0.1}]}"#,
                "within 0..=1",
            ),
            (
                r#"{"faults":[{"kind":"latency","probability":1}]}"#,
                "needs latency_ms",
            ),
            (
                r#"{"faults":[{"kind":"reset","probability":1,"latency_ms":5}]}"#,
                "only for latency",
            ),
            (
                r#"{"faults":[{"kind":"throttle","probability":1,"services":["elb"]}]}"#,
                "unknown service",
            ),
            (
                r#"{"faults":[{"kind":"explode","probability":1}]}"#,
                "unknown variant",
            ),
            (
                r#"{"faults":[{"kind":"throttle","probabilty":1}]}"#,
                "unknown field",
            ),
            (r#"{"enforce_limits":true}"#, "unknown field"),
            (
                r#"{"buckets":{"ecs.services":{"capacity":1,"refill_per_sec":1}}}"#,
                "unknown bucket",
            ),
            (
                r#"{"buckets":{"ecs.service_read":{"capacity":0,"refill_per_sec":1}}}"#,
                "at least 1",
            ),
            ("[1,2]", "rules:"),
        ] {
            let err = Rules::from_json(text).unwrap_err();
            assert!(err.contains(expect), "{text}: {err}");
        }
    }

    #[test]
    fn matching() {
        let rule = FaultRule {
            kind: FaultKind::Throttle,
            probability: 1.0,
            services: Some(vec!["ecs".into()]),
            operations: Some(vec!["CreateService".into(), "UpdateService".into()]),
            mutating_only: false,
            latency_ms: None,
            comment: None,
        };
        assert!(rule.matches(&call(Service::Ecs, "CreateService")));
        assert!(!rule.matches(&call(Service::Ecs, "DescribeServices")));
        assert!(!rule.matches(&call(Service::Elb, "CreateService")));
        let all_mutating = FaultRule {
            services: None,
            operations: None,
            mutating_only: true,
            ..rule
        };
        assert!(all_mutating.matches(&call(Service::Ec2, "CreateTags")));
        assert!(!all_mutating.matches(&call(Service::Ec2, "DescribeTags")));
        assert!(!all_mutating.matches(&call(Service::Other, "AssumeRole")));
    }

    #[test]
    fn decisions_are_reproducible_and_near_the_probabilities() {
        let rules = Rules::from_json(
            r#"{"faults":[
                {"kind":"throttle","probability":0.3},
                {"kind":"error500","probability":0.1},
                {"kind":"latency","probability":0.5,"latency_ms":10}
            ]}"#,
        )
        .unwrap();
        let c = call(Service::Ecs, "DescribeServices");
        let run = |seed| {
            let mut rng = SplitMix64::new(seed);
            (0..10_000)
                .map(|_| rules.decide(&c, &mut rng))
                .collect::<Vec<_>>()
        };
        let a = run(1);
        assert_eq!(a, run(1));
        assert_ne!(a, run(2));
        let count = |k| a.iter().filter(|d| d.fault == Some(k)).count();
        // Laid end to end, each rule gets its own share (not 0.1 * 0.7).
        assert!((2800..3200).contains(&count(FaultKind::Throttle)));
        assert!((850..1150).contains(&count(FaultKind::Error500)));
        let slow = a.iter().filter(|d| d.latency_ms == 10).count();
        assert!((4800..5200).contains(&slow));
    }

    #[test]
    fn certain_and_impossible_rules() {
        let mut rng = SplitMix64::new(9);
        let always = Rules::from_json(r#"{"faults":[{"kind":"reset","probability":1}]}"#).unwrap();
        let never = Rules::from_json(r#"{"faults":[{"kind":"reset","probability":0}]}"#).unwrap();
        let c = call(Service::AutoScaling, "CreateAutoScalingGroup");
        for _ in 0..1000 {
            assert_eq!(always.decide(&c, &mut rng).fault, Some(FaultKind::Reset));
            assert_eq!(never.decide(&c, &mut rng).fault, None);
        }
        // Other traffic is never faulted and does not consume draws.
        let before = rng.clone().next_u64();
        assert_eq!(
            always.decide(&call(Service::Other, "GetCallerIdentity"), &mut rng),
            Decision::default()
        );
        assert_eq!(rng.next_u64(), before);
    }
}
