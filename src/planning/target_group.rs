//! The managed ALB target group of an EcsService and the listener rule that forwards to
//! it: what the spec wants, and what to change in what AWS has. No I/O.

use crate::api::service::ManagedTargetGroup;
use crate::aws::types::{ListenerRule, RuleConditions, TargetGroup, TargetGroupHealthCheck};
use crate::planning::drift::{self, Drift, Resource};

/// Longest target group name ELBv2 accepts.
pub const MAX_NAME: usize = 32;

/// The target group and rule the spec wants, defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredTargetGroup {
    /// Target group name.
    pub name: String,
    /// HTTP or HTTPS.
    pub protocol: String,
    /// Port.
    pub port: i32,
    /// `ip` for awsvpc tasks (each has its own network interface), `instance` otherwise.
    pub target_type: String,
    /// Health check with ELBv2's ALB defaults filled in.
    pub health_check: TargetGroupHealthCheck,
    /// Deregistration delay, when the spec sets one.
    pub deregistration_delay: Option<i32>,
    /// The listener the rule goes on.
    pub listener_arn: String,
    /// Rule priority.
    pub priority: i32,
    /// Rule conditions.
    pub conditions: RuleConditions,
}

/// The target type for a service: awsvpc tasks are registered by IP. ECS requires a
/// networkConfiguration exactly for awsvpc task definitions, so its presence tells the
/// network mode without reading the task definition.
pub fn target_type(awsvpc: bool) -> &'static str {
    if awsvpc {
        "ip"
    } else {
        "instance"
    }
}

/// What `spec` wants for a service named `service_name` whose container listens on
/// `container_port`. Err: a name ELBv2 cannot take (the default is the service name,
/// which may be longer than 32 characters).
pub fn desired(
    spec: &ManagedTargetGroup,
    service_name: &str,
    container_port: i32,
    awsvpc: bool,
) -> Result<DesiredTargetGroup, String> {
    let name = spec
        .name
        .clone()
        .unwrap_or_else(|| service_name.to_string());
    if name.len() > MAX_NAME {
        return Err(format!(
            "target group name {name} is longer than {MAX_NAME} characters; set loadBalancer.managedTargetGroup.name"
        ));
    }
    let protocol = spec.protocol.unwrap_or_default();
    let hc = spec.health_check.clone().unwrap_or_default();
    Ok(DesiredTargetGroup {
        name,
        protocol: protocol.as_str().to_string(),
        port: spec.port.unwrap_or(container_port),
        target_type: target_type(awsvpc).to_string(),
        health_check: TargetGroupHealthCheck {
            protocol: hc.protocol.unwrap_or(protocol).as_str().to_string(),
            port: hc.port.unwrap_or_else(|| "traffic-port".into()),
            path: hc.path.unwrap_or_else(|| "/".into()),
            interval_seconds: hc.interval_seconds.unwrap_or(30),
            timeout_seconds: hc.timeout_seconds.unwrap_or(5),
            healthy_threshold_count: hc.healthy_threshold_count.unwrap_or(5),
            unhealthy_threshold_count: hc.unhealthy_threshold_count.unwrap_or(2),
            matcher: hc.matcher.unwrap_or_else(|| "200".into()),
        },
        deregistration_delay: spec.deregistration_delay_seconds,
        listener_arn: spec.listener_arn.clone(),
        priority: spec.rule.priority,
        conditions: RuleConditions {
            path_patterns: spec.rule.path_patterns.clone(),
            host_headers: spec.rule.host_headers.clone(),
        },
    })
}

/// What to change on an existing target group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetGroupPlan {
    /// ModifyTargetGroup with this health check.
    pub health_check: Option<TargetGroupHealthCheck>,
    /// The fields corrected, old and new.
    pub drift: Vec<Drift>,
}

impl TargetGroupPlan {
    /// Nothing to change.
    pub fn is_empty(&self) -> bool {
        self.health_check.is_none()
    }
}

/// Compare an existing target group with the spec. Err: what differs that ELBv2 cannot
/// change on a target group (protocol, port, target type, VPC), for the user to resolve
/// with a new name.
pub fn plan_target_group(
    want: &DesiredTargetGroup,
    vpc_id: Option<&str>,
    observed: &TargetGroup,
) -> Result<TargetGroupPlan, String> {
    let mut fixed = Vec::new();
    if observed.protocol != want.protocol {
        fixed.push(format!(
            "protocol {} (spec {})",
            observed.protocol, want.protocol
        ));
    }
    if observed.port != want.port {
        fixed.push(format!("port {} (spec {})", observed.port, want.port));
    }
    if observed.target_type != want.target_type {
        fixed.push(format!(
            "target type {} (the service's network mode wants {})",
            observed.target_type, want.target_type
        ));
    }
    if let Some(vpc) = vpc_id.filter(|v| *v != observed.vpc_id) {
        fixed.push(format!(
            "VPC {} (the listener's ALB is in {vpc})",
            observed.vpc_id
        ));
    }
    if !fixed.is_empty() {
        return Err(fixed.join(", "));
    }
    let mut plan = TargetGroupPlan::default();
    let (o, w) = (&observed.health_check, &want.health_check);
    let r = Resource::TargetGroup;
    let d = &mut plan.drift;
    let mut changed = drift::check(d, r, "healthCheck.protocol", &w.protocol, &o.protocol);
    changed |= drift::check(d, r, "healthCheck.port", &w.port, &o.port);
    changed |= drift::check(d, r, "healthCheck.path", &w.path, &o.path);
    changed |= drift::check(
        d,
        r,
        "healthCheck.intervalSeconds",
        &w.interval_seconds,
        &o.interval_seconds,
    );
    changed |= drift::check(
        d,
        r,
        "healthCheck.timeoutSeconds",
        &w.timeout_seconds,
        &o.timeout_seconds,
    );
    changed |= drift::check(
        d,
        r,
        "healthCheck.healthyThresholdCount",
        &w.healthy_threshold_count,
        &o.healthy_threshold_count,
    );
    changed |= drift::check(
        d,
        r,
        "healthCheck.unhealthyThresholdCount",
        &w.unhealthy_threshold_count,
        &o.unhealthy_threshold_count,
    );
    changed |= drift::check(d, r, "healthCheck.matcher", &w.matcher, &o.matcher);
    if changed {
        plan.health_check = Some(w.clone());
    }
    Ok(plan)
}

/// Whether the deregistration delay needs setting: only when the spec names one.
pub fn plan_deregistration_delay(
    want: Option<i32>,
    observed: Option<i32>,
    out: &mut Vec<Drift>,
) -> Option<i32> {
    let want = want?;
    let observed_text = observed.map_or_else(|| "unset".to_string(), |o| o.to_string());
    if observed == Some(want) {
        return None;
    }
    out.push(Drift::new(
        Resource::TargetGroup,
        "deregistrationDelaySeconds",
        observed_text,
        want.to_string(),
    ));
    Some(want)
}

/// What to do about the listener rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RulePlan {
    /// No rule forwards to the target group yet: create one.
    Create,
    /// The rule is as the spec wants it.
    InSync {
        /// Its ARN.
        arn: String,
    },
    /// The rule exists and differs.
    Update {
        /// Its ARN.
        arn: String,
        /// ModifyRule with the spec's conditions (and the forward action).
        conditions: bool,
        /// SetRulePriorities to the spec's priority.
        priority: bool,
        /// The fields corrected.
        drift: Vec<Drift>,
    },
    /// Another rule on the listener holds the spec's priority: only a spec change (or
    /// the other rule's owner) can free it.
    PriorityTaken {
        /// The rule that holds it.
        holder: String,
    },
}

/// Find our rule among the listener's `rules` (the one forwarding to `target_group_arn`;
/// the target group is ours by its owner tag, so the rule that forwards to it is ours)
/// and compare it with the spec.
pub fn plan_rule(
    want: &DesiredTargetGroup,
    target_group_arn: &str,
    rules: &[ListenerRule],
) -> RulePlan {
    let ours = rules
        .iter()
        .find(|r| r.priority.is_some() && r.forward_to.iter().any(|t| t == target_group_arn));
    let holder = rules
        .iter()
        .find(|r| r.priority == Some(want.priority) && ours.is_none_or(|o| o.arn != r.arn));
    let Some(rule) = ours else {
        return match holder {
            Some(h) => RulePlan::PriorityTaken {
                holder: h.arn.clone(),
            },
            None => RulePlan::Create,
        };
    };
    let mut drift = Vec::new();
    let mut conditions = drift::check(
        &mut drift,
        Resource::ListenerRule,
        "pathPatterns",
        &want.conditions.path_patterns.join(", "),
        &rule.conditions.path_patterns.join(", "),
    );
    conditions |= drift::check(
        &mut drift,
        Resource::ListenerRule,
        "hostHeaders",
        &want.conditions.host_headers.join(", "),
        &rule.conditions.host_headers.join(", "),
    );
    if rule.other_conditions {
        // Conditions the spec cannot express were added by hand: ModifyRule replaces the
        // whole list with the spec's.
        drift.push(Drift::new(
            Resource::ListenerRule,
            "conditions",
            "other conditions",
            "only pathPatterns and hostHeaders",
        ));
        conditions = true;
    }
    if rule.forward_to != [target_group_arn.to_string()] {
        drift.push(Drift::new(
            Resource::ListenerRule,
            "actions",
            rule.forward_to.join(", "),
            target_group_arn,
        ));
        conditions = true;
    }
    let observed_priority = rule.priority.unwrap_or_default();
    let priority = drift::check(
        &mut drift,
        Resource::ListenerRule,
        "priority",
        &want.priority,
        &observed_priority,
    );
    if priority {
        if let Some(h) = holder {
            return RulePlan::PriorityTaken {
                holder: h.arn.clone(),
            };
        }
    }
    if !conditions && !priority {
        return RulePlan::InSync {
            arn: rule.arn.clone(),
        };
    }
    RulePlan::Update {
        arn: rule.arn.clone(),
        conditions,
        priority,
        drift,
    }
}

/// The ALB's ARN from a listener ARN (`…:listener/app/<name>/<lb-id>/<listener-id>` →
/// `…:loadbalancer/app/<name>/<lb-id>`), without a read.
pub fn load_balancer_arn_of_listener(listener_arn: &str) -> Option<String> {
    let (head, tail) = listener_arn.split_once(":listener/")?;
    let (lb_path, _listener_id) = tail.rsplit_once('/')?;
    Some(format!("{head}:loadbalancer/{lb_path}"))
}

/// The listener's ARN from one of its rules' ARNs (`…:listener-rule/app/<name>/<lb-id>/
/// <listener-id>/<rule-id>` → `…:listener/app/<name>/<lb-id>/<listener-id>`), without a
/// read.
pub fn listener_arn_of_rule(rule_arn: &str) -> Option<String> {
    let (head, tail) = rule_arn.split_once(":listener-rule/")?;
    let (listener_path, _rule_id) = tail.rsplit_once('/')?;
    Some(format!("{head}:listener/{listener_path}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::service::{ListenerRuleSpec, TargetGroupHealthCheckSpec, TargetGroupProtocol};

    const LISTENER: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2";

    fn spec() -> ManagedTargetGroup {
        ManagedTargetGroup {
            name: None,
            listener_arn: LISTENER.into(),
            rule: ListenerRuleSpec {
                priority: 10,
                path_patterns: vec!["/hello/*".into()],
                host_headers: vec![],
            },
            ..Default::default()
        }
    }

    fn observed(want: &DesiredTargetGroup) -> TargetGroup {
        TargetGroup {
            arn: "tg-arn".into(),
            name: want.name.clone(),
            protocol: want.protocol.clone(),
            port: want.port,
            vpc_id: "vpc-1".into(),
            target_type: want.target_type.clone(),
            health_check: want.health_check.clone(),
            load_balancer_arns: vec![],
        }
    }

    fn rule(arn: &str, priority: i32, path: &str, to: &str) -> ListenerRule {
        ListenerRule {
            arn: arn.into(),
            priority: Some(priority),
            conditions: RuleConditions {
                path_patterns: vec![path.into()],
                host_headers: vec![],
            },
            other_conditions: false,
            forward_to: if to.is_empty() {
                vec![]
            } else {
                vec![to.into()]
            },
        }
    }

    #[test]
    fn defaults_fill_in_alb_defaults_and_the_container_port() {
        let d = desired(&spec(), "web", 5000, false).unwrap();
        assert_eq!(d.name, "web");
        assert_eq!((d.protocol.as_str(), d.port), ("HTTP", 5000));
        assert_eq!(d.target_type, "instance");
        let hc = &d.health_check;
        assert_eq!(
            (hc.path.as_str(), hc.port.as_str(), hc.matcher.as_str()),
            ("/", "traffic-port", "200")
        );
        assert_eq!((hc.interval_seconds, hc.timeout_seconds), (30, 5));
        assert_eq!(
            (hc.healthy_threshold_count, hc.unhealthy_threshold_count),
            (5, 2)
        );
        assert_eq!(d.deregistration_delay, None);
    }

    #[test]
    fn awsvpc_services_register_by_ip() {
        assert_eq!(desired(&spec(), "web", 80, true).unwrap().target_type, "ip");
    }

    #[test]
    fn https_protocol_is_the_health_check_default() {
        let mut s = spec();
        s.protocol = Some(TargetGroupProtocol::Https);
        s.port = Some(443);
        let d = desired(&s, "web", 80, false).unwrap();
        assert_eq!((d.protocol.as_str(), d.port), ("HTTPS", 443));
        assert_eq!(d.health_check.protocol, "HTTPS");
    }

    #[test]
    fn long_default_name_is_refused() {
        let long = "a".repeat(33);
        assert!(desired(&spec(), &long, 80, false)
            .unwrap_err()
            .contains("longer than 32"));
        let mut s = spec();
        s.name = Some("short".into());
        assert_eq!(desired(&s, &long, 80, false).unwrap().name, "short");
    }

    #[test]
    fn in_sync_target_group_plans_nothing() {
        let want = desired(&spec(), "web", 80, false).unwrap();
        let p = plan_target_group(&want, Some("vpc-1"), &observed(&want)).unwrap();
        assert!(p.is_empty() && p.drift.is_empty());
    }

    #[test]
    fn health_check_drift_is_corrected_as_a_whole() {
        let mut s = spec();
        s.health_check = Some(TargetGroupHealthCheckSpec {
            path: Some("/health".into()),
            ..Default::default()
        });
        let want = desired(&s, "web", 80, false).unwrap();
        let mut o = observed(&want);
        o.health_check.path = "/".into();
        o.health_check.interval_seconds = 10;
        let p = plan_target_group(&want, None, &o).unwrap();
        assert_eq!(p.health_check.as_ref(), Some(&want.health_check));
        let fields: Vec<_> = p.drift.iter().map(|d| d.field).collect();
        assert_eq!(fields, ["healthCheck.path", "healthCheck.intervalSeconds"]);
        assert_eq!(p.drift[0].observed, "/");
        assert_eq!(p.drift[0].desired, "/health");
    }

    #[test]
    fn immutable_differences_are_refused_with_what_differs() {
        let want = desired(&spec(), "web", 80, true).unwrap();
        let mut o = observed(&want);
        o.port = 8080;
        o.target_type = "instance".into();
        let e = plan_target_group(&want, Some("vpc-2"), &o).unwrap_err();
        assert!(e.contains("port 8080 (spec 80)"), "{e}");
        assert!(e.contains("target type instance"), "{e}");
        assert!(e.contains("VPC vpc-1"), "{e}");
    }

    #[test]
    fn deregistration_delay_only_when_set() {
        let mut d = Vec::new();
        assert_eq!(plan_deregistration_delay(None, Some(300), &mut d), None);
        assert_eq!(plan_deregistration_delay(Some(30), Some(30), &mut d), None);
        assert!(d.is_empty());
        assert_eq!(
            plan_deregistration_delay(Some(30), Some(300), &mut d),
            Some(30)
        );
        assert_eq!(
            (d[0].observed.as_str(), d[0].desired.as_str()),
            ("300", "30")
        );
    }

    #[test]
    fn rule_is_created_when_none_forwards_to_the_group() {
        let want = desired(&spec(), "web", 80, false).unwrap();
        let rules = [rule("other", 5, "/x", "other-tg")];
        assert_eq!(plan_rule(&want, "tg", &rules), RulePlan::Create);
    }

    #[test]
    fn rule_priority_held_by_another_rule_is_reported() {
        let want = desired(&spec(), "web", 80, false).unwrap();
        let rules = [rule("theirs", 10, "/x", "other-tg")];
        assert_eq!(
            plan_rule(&want, "tg", &rules),
            RulePlan::PriorityTaken {
                holder: "theirs".into()
            }
        );
        // Also when our rule exists and the spec moves it onto the other's priority.
        let rules = [
            rule("ours", 20, "/hello/*", "tg"),
            rule("theirs", 10, "/x", "o"),
        ];
        assert_eq!(
            plan_rule(&want, "tg", &rules),
            RulePlan::PriorityTaken {
                holder: "theirs".into()
            }
        );
    }

    #[test]
    fn rule_in_sync_and_its_drift() {
        let want = desired(&spec(), "web", 80, false).unwrap();
        let rules = [rule("ours", 10, "/hello/*", "tg")];
        assert_eq!(
            plan_rule(&want, "tg", &rules),
            RulePlan::InSync { arn: "ours".into() }
        );
        let rules = [rule("ours", 12, "/old/*", "tg")];
        match plan_rule(&want, "tg", &rules) {
            RulePlan::Update {
                arn,
                conditions,
                priority,
                drift,
            } => {
                assert_eq!(arn, "ours");
                assert!(conditions && priority);
                let fields: Vec<_> = drift.iter().map(|d| d.field).collect();
                assert_eq!(fields, ["pathPatterns", "priority"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hand_added_conditions_are_replaced() {
        let want = desired(&spec(), "web", 80, false).unwrap();
        let mut r = rule("ours", 10, "/hello/*", "tg");
        r.other_conditions = true;
        assert!(matches!(
            plan_rule(&want, "tg", &[r]),
            RulePlan::Update {
                conditions: true,
                priority: false,
                ..
            }
        ));
    }

    #[test]
    fn load_balancer_arn_comes_from_the_listener_arn() {
        assert_eq!(
            load_balancer_arn_of_listener(LISTENER).as_deref(),
            Some("arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188")
        );
        assert_eq!(load_balancer_arn_of_listener("nope"), None);
    }

    #[test]
    fn a_rule_arn_names_its_listener() {
        let rule = format!(
            "{}/9683b2d02a6cabee",
            LISTENER.replacen(":listener/", ":listener-rule/", 1)
        );
        assert_eq!(listener_arn_of_rule(&rule).as_deref(), Some(LISTENER));
        assert_eq!(listener_arn_of_rule(LISTENER), None);
    }
}
