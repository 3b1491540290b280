//! Elastic Load Balancing v2: target groups (with tags and health checks), existing ALBs
//! and listeners the tests set up, and listener rules, with the [`ElbV2Api`]
//! implementation. Semantics the operator depends on: target group names unique
//! (DuplicateTargetGroupName), rule priorities unique per listener (PriorityInUse), a
//! listener must exist (ListenerNotFound), a target group forwarded to by a rule or used
//! by an ECS service cannot be deleted (ResourceInUse), and a target group is associated
//! with a load balancer only through a rule (ECS refuses one without).

use async_trait::async_trait;

use super::{err, valid_name, FakeAws, State, ACCOUNT, REGION};
use crate::aws::types::*;
use crate::aws::{AwsError, ElbV2Api};

#[derive(Clone, Debug)]
pub(super) struct TargetGroupState {
    tg: TargetGroup,
    tags: Tags,
    deregistration_delay: i32,
}

#[derive(Clone, Debug)]
pub(super) struct RuleState {
    listener_arn: String,
    rule: ListenerRule,
    tags: Tags,
}

/// ELBv2 state: load balancers and listeners (by ARN), target groups (by name), rules
/// (by ARN).
#[derive(Clone, Debug, Default)]
pub(super) struct ElbV2State {
    load_balancers: std::collections::BTreeMap<String, ElbV2LoadBalancer>,
    listeners: std::collections::BTreeMap<String, ElbV2Listener>,
    target_groups: std::collections::BTreeMap<String, TargetGroupState>,
    rules: std::collections::BTreeMap<String, RuleState>,
}

// ---------------------------------------------------------------------------------------
// Test-facing API: ALBs to attach to, inspection and out-of-band changes.
// ---------------------------------------------------------------------------------------

impl FakeAws {
    /// An existing ALB `name` in `vpc_id` with one HTTP listener on port 80 (and its
    /// default rule); returns (load balancer ARN, listener ARN).
    pub fn add_alb(&self, name: &str, vpc_id: &str) -> (String, String) {
        let mut s = self.lock();
        let id = s.next();
        let lb_arn = format!(
            "arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/{name}/{id:016x}"
        );
        let listener_arn = format!(
            "arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/{name}/{id:016x}/{:016x}",
            s.next()
        );
        s.elbv2.load_balancers.insert(
            lb_arn.clone(),
            ElbV2LoadBalancer {
                arn: lb_arn.clone(),
                vpc_id: Some(vpc_id.to_string()),
                dns_name: Some(format!("{name}-{id}.{REGION}.elb.amazonaws.com")),
            },
        );
        s.elbv2.listeners.insert(
            listener_arn.clone(),
            ElbV2Listener {
                arn: listener_arn.clone(),
                load_balancer_arn: lb_arn.clone(),
                protocol: Some("HTTP".into()),
                port: Some(80),
            },
        );
        (lb_arn, listener_arn)
    }

    /// A rule not made by the operator (another team's) on a listener.
    pub fn add_foreign_rule(&self, listener_arn: &str, priority: i32, path: &str) -> String {
        let mut s = self.lock();
        let arn = s.rule_arn(listener_arn);
        s.elbv2.rules.insert(
            arn.clone(),
            RuleState {
                listener_arn: listener_arn.to_string(),
                rule: ListenerRule {
                    arn: arn.clone(),
                    priority: Some(priority),
                    conditions: RuleConditions {
                        path_patterns: vec![path.to_string()],
                        host_headers: Vec::new(),
                    },
                    other_conditions: false,
                    forward_to: Vec::new(),
                },
                tags: Tags::new(),
            },
        );
        arn
    }

    /// One target group, by name.
    pub fn target_group(&self, name: &str) -> Option<TargetGroup> {
        self.lock()
            .elbv2
            .target_groups
            .get(name)
            .map(|t| t.tg.clone())
    }

    /// Every target group.
    pub fn target_groups(&self) -> Vec<TargetGroup> {
        self.lock()
            .elbv2
            .target_groups
            .values()
            .map(|t| t.tg.clone())
            .collect()
    }

    /// Tags of a target group, by name.
    pub fn target_group_tags(&self, name: &str) -> Option<Tags> {
        self.lock()
            .elbv2
            .target_groups
            .get(name)
            .map(|t| t.tags.clone())
    }

    /// Deregistration delay of a target group, by name.
    pub fn target_group_deregistration_delay(&self, name: &str) -> Option<i32> {
        self.lock()
            .elbv2
            .target_groups
            .get(name)
            .map(|t| t.deregistration_delay)
    }

    /// Out-of-band change of a target group's health check (drift).
    pub fn set_target_group_health_check(&self, name: &str, hc: TargetGroupHealthCheck) {
        if let Some(t) = self.lock().elbv2.target_groups.get_mut(name) {
            t.tg.health_check = hc;
        }
    }

    /// Out-of-band change of a target group's deregistration delay (drift).
    pub fn set_target_group_deregistration_delay(&self, name: &str, seconds: i32) {
        if let Some(t) = self.lock().elbv2.target_groups.get_mut(name) {
            t.deregistration_delay = seconds;
        }
    }

    /// Out-of-band deletion of a target group and the rules forwarding to it.
    pub fn remove_target_group(&self, name: &str) {
        let mut s = self.lock();
        if let Some(t) = s.elbv2.target_groups.remove(name) {
            s.elbv2
                .rules
                .retain(|_, r| !r.rule.forward_to.contains(&t.tg.arn));
        }
    }

    /// Out-of-band change of a rule (drift): its priority and conditions.
    pub fn set_rule(&self, arn: &str, priority: i32, conditions: RuleConditions) {
        if let Some(r) = self.lock().elbv2.rules.get_mut(arn) {
            r.rule.priority = Some(priority);
            r.rule.conditions = conditions;
        }
    }

    /// The non-default rules of a listener, by priority.
    pub fn listener_rules(&self, listener_arn: &str) -> Vec<ListenerRule> {
        let s = self.lock();
        let mut rules: Vec<ListenerRule> = s
            .elbv2
            .rules
            .values()
            .filter(|r| r.listener_arn == listener_arn)
            .map(|r| r.rule.clone())
            .collect();
        rules.sort_by_key(|r| r.priority);
        rules
    }

    /// Tags of a rule.
    pub fn rule_tags(&self, arn: &str) -> Option<Tags> {
        self.lock().elbv2.rules.get(arn).map(|r| r.tags.clone())
    }
}

// ---------------------------------------------------------------------------------------
// ELBv2
// ---------------------------------------------------------------------------------------

impl State {
    fn rule_arn(&mut self, listener_arn: &str) -> String {
        let id = self.next();
        format!(
            "{}/{id:016x}",
            listener_arn.replacen(":listener/", ":listener-rule/", 1)
        )
    }

    /// The tags of the listener rule or target group `arn` names, as AddTags and
    /// RemoveTags find them.
    fn elbv2_tags(&mut self, op: &'static str, arn: &str) -> Result<&mut Tags, AwsError> {
        // Checked before borrowing: returning a borrow from one branch holds it in the other.
        if self.elbv2.rules.contains_key(arn) {
            return self
                .elbv2
                .rules
                .get_mut(arn)
                .map(|r| &mut r.tags)
                .ok_or_else(|| tg_not_found(op, arn));
        }
        self.target_group_by_arn(arn)
            .map(|t| &mut t.tags)
            .ok_or_else(|| tg_not_found(op, arn))
    }

    fn target_group_by_arn(&mut self, arn: &str) -> Option<&mut TargetGroupState> {
        self.elbv2
            .target_groups
            .values_mut()
            .find(|t| t.tg.arn == arn)
    }

    /// Recompute which load balancers forward to each target group (through rules).
    fn associate_target_groups(&mut self) {
        let mut by_tg: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for r in self.elbv2.rules.values() {
            if let Some(l) = self.elbv2.listeners.get(&r.listener_arn) {
                for tg in &r.rule.forward_to {
                    let lbs = by_tg.entry(tg.clone()).or_default();
                    if !lbs.contains(&l.load_balancer_arn) {
                        lbs.push(l.load_balancer_arn.clone());
                    }
                }
            }
        }
        for t in self.elbv2.target_groups.values_mut() {
            t.tg.load_balancer_arns = by_tg.remove(&t.tg.arn).unwrap_or_default();
        }
    }

    /// For ECS CreateService/UpdateService: a target group this fake knows must be
    /// associated with a load balancer (ECS says so otherwise); unknown ARNs pass (tests
    /// that name a target group nobody created).
    pub(super) fn check_service_target_group(
        &self,
        op: &'static str,
        arn: &str,
    ) -> Result<(), AwsError> {
        match self.elbv2.target_groups.values().find(|t| t.tg.arn == arn) {
            Some(t) if t.tg.load_balancer_arns.is_empty() => Err(err(
                op,
                "InvalidParameterException",
                format!(
                    "The target group with targetGroupArn {arn} does not have an associated load balancer."
                ),
            )),
            _ => Ok(()),
        }
    }
}

fn tg_not_found(op: &'static str, what: &str) -> AwsError {
    err(
        op,
        "TargetGroupNotFound",
        format!("Target groups '{what}' not found"),
    )
}

fn listener_not_found(op: &'static str, arn: &str) -> AwsError {
    err(
        op,
        "ListenerNotFound",
        format!("Listener '{arn}' not found"),
    )
}

fn validate_health_check(op: &'static str, hc: &TargetGroupHealthCheck) -> Result<(), AwsError> {
    let bad = |m: &str| Err(err(op, "ValidationError", m.to_string()));
    if !(5..=300).contains(&hc.interval_seconds) {
        return bad("Health check interval must be between 5 and 300 seconds");
    }
    if !(2..=120).contains(&hc.timeout_seconds) || hc.timeout_seconds >= hc.interval_seconds {
        return bad("Health check timeout must be smaller than the interval");
    }
    if !(2..=10).contains(&hc.healthy_threshold_count)
        || !(2..=10).contains(&hc.unhealthy_threshold_count)
    {
        return bad("Health check thresholds must be between 2 and 10");
    }
    if !hc.path.starts_with('/') {
        return bad("Health check path must begin with a '/' character");
    }
    Ok(())
}

fn validate_conditions(op: &'static str, c: &RuleConditions) -> Result<(), AwsError> {
    if c.path_patterns.is_empty() && c.host_headers.is_empty() {
        return Err(err(
            op,
            "ValidationError",
            "A rule needs at least one condition",
        ));
    }
    Ok(())
}

#[async_trait]
impl ElbV2Api for FakeAws {
    async fn describe_target_group(&self, name: &str) -> Result<Option<TargetGroup>, AwsError> {
        self.call("elasticloadbalancing:DescribeTargetGroups", |s| {
            Ok(s.elbv2.target_groups.get(name).map(|t| t.tg.clone()))
        })
    }

    async fn describe_target_groups(&self, names: &[String]) -> Result<Vec<TargetGroup>, AwsError> {
        const OP: &str = "elasticloadbalancing:DescribeTargetGroups";
        self.call(OP, |s| {
            if names.len() > crate::aws::DESCRIBE_TARGET_GROUPS_MAX {
                return Err(err(
                    OP,
                    "ValidationError",
                    "You cannot describe more than '20' target groups at a time",
                ));
            }
            // As AWS: one missing name fails the whole call.
            names
                .iter()
                .map(|n| {
                    s.elbv2
                        .target_groups
                        .get(n)
                        .map(|t| t.tg.clone())
                        .ok_or_else(|| tg_not_found(OP, n))
                })
                .collect()
        })
    }

    async fn create_target_group(
        &self,
        input: &CreateTargetGroupInput,
    ) -> Result<TargetGroup, AwsError> {
        const OP: &str = "elasticloadbalancing:CreateTargetGroup";
        self.call(OP, |s| {
            if !valid_name(&input.name, 32, &['-']) || input.name.starts_with('-') {
                return Err(err(OP, "ValidationError", "Target group name is invalid"));
            }
            if !matches!(input.target_type.as_str(), "ip" | "instance") {
                return Err(err(OP, "ValidationError", "Invalid target type"));
            }
            validate_health_check(OP, &input.health_check)?;
            if s.elbv2.target_groups.contains_key(&input.name) {
                return Err(err(
                    OP,
                    "DuplicateTargetGroupName",
                    "A target group with the same name exists, but with different settings",
                ));
            }
            let id = s.next();
            let tg = TargetGroup {
                arn: format!(
                    "arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/{}/{id:016x}",
                    input.name
                ),
                name: input.name.clone(),
                protocol: input.protocol.clone(),
                port: input.port,
                vpc_id: input.vpc_id.clone(),
                target_type: input.target_type.clone(),
                health_check: input.health_check.clone(),
                load_balancer_arns: Vec::new(),
            };
            s.elbv2.target_groups.insert(
                input.name.clone(),
                TargetGroupState {
                    tg: tg.clone(),
                    tags: input.tags.clone(),
                    deregistration_delay: 300,
                },
            );
            Ok(tg)
        })
    }

    async fn modify_target_group(
        &self,
        arn: &str,
        health_check: &TargetGroupHealthCheck,
    ) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:ModifyTargetGroup";
        self.call(OP, |s| {
            validate_health_check(OP, health_check)?;
            let t = s
                .target_group_by_arn(arn)
                .ok_or_else(|| tg_not_found(OP, arn))?;
            t.tg.health_check = health_check.clone();
            Ok(())
        })
    }

    async fn set_deregistration_delay(&self, arn: &str, seconds: i32) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:ModifyTargetGroupAttributes";
        self.call(OP, |s| {
            if !(0..=3600).contains(&seconds) {
                return Err(err(
                    OP,
                    "ValidationError",
                    "deregistration delay out of range",
                ));
            }
            let t = s
                .target_group_by_arn(arn)
                .ok_or_else(|| tg_not_found(OP, arn))?;
            t.deregistration_delay = seconds;
            Ok(())
        })
    }

    async fn deregistration_delay(&self, arn: &str) -> Result<Option<i32>, AwsError> {
        const OP: &str = "elasticloadbalancing:DescribeTargetGroupAttributes";
        self.call(OP, |s| {
            let t = s
                .target_group_by_arn(arn)
                .ok_or_else(|| tg_not_found(OP, arn))?;
            Ok(Some(t.deregistration_delay))
        })
    }

    async fn delete_target_group(&self, arn: &str) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:DeleteTargetGroup";
        self.call(OP, |s| {
            let Some(name) = s
                .elbv2
                .target_groups
                .values()
                .find(|t| t.tg.arn == arn)
                .map(|t| t.tg.name.clone())
            else {
                // AWS answers success for a target group that is already gone.
                return Ok(());
            };
            let in_rule = s
                .elbv2
                .rules
                .values()
                .any(|r| r.rule.forward_to.iter().any(|t| t == arn));
            let in_service = s.services.iter().any(|svc| {
                svc.info.status != "INACTIVE"
                    && svc
                        .info
                        .load_balancers
                        .iter()
                        .any(|l| l.target_group_arn.as_deref() == Some(arn))
            });
            if in_rule || in_service {
                return Err(err(
                    OP,
                    "ResourceInUse",
                    format!("Target group '{arn}' is currently in use by a listener or a rule"),
                ));
            }
            s.elbv2.target_groups.remove(&name);
            Ok(())
        })
    }

    async fn describe_tags(&self, arn: &str) -> Result<Tags, AwsError> {
        const OP: &str = "elasticloadbalancing:DescribeTags";
        self.call(OP, |s| {
            if let Some(r) = s.elbv2.rules.get(arn) {
                return Ok(r.tags.clone());
            }
            s.target_group_by_arn(arn)
                .map(|t| t.tags.clone())
                .ok_or_else(|| tg_not_found(OP, arn))
        })
    }

    async fn describe_tags_of(&self, arns: &[String]) -> Result<Vec<(String, Tags)>, AwsError> {
        const OP: &str = "elasticloadbalancing:DescribeTags";
        self.call(OP, |s| {
            if arns.len() > crate::aws::DESCRIBE_ELBV2_TAGS_MAX {
                return Err(err(
                    OP,
                    "ValidationError",
                    "You can specify up to 20 resources",
                ));
            }
            let mut out = Vec::with_capacity(arns.len());
            for arn in arns {
                let tags = match s.elbv2.rules.get(arn) {
                    Some(r) => r.tags.clone(),
                    None if arn.contains(":listener-rule/") => {
                        return Err(err(OP, "RuleNotFound", format!("Rule '{arn}' not found")))
                    }
                    None => s
                        .target_group_by_arn(arn)
                        .map(|t| t.tags.clone())
                        .ok_or_else(|| tg_not_found(OP, arn))?,
                };
                out.push((arn.clone(), tags));
            }
            Ok(out)
        })
    }

    async fn add_tags(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:AddTags";
        self.call(OP, |s| {
            let target = s.elbv2_tags(OP, arn)?;
            target.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
            Ok(())
        })
    }

    async fn remove_tags(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:RemoveTags";
        self.call(OP, |s| {
            let target = s.elbv2_tags(OP, arn)?;
            for k in keys {
                target.remove(k);
            }
            Ok(())
        })
    }

    async fn describe_listener(&self, arn: &str) -> Result<Option<ElbV2Listener>, AwsError> {
        self.call("elasticloadbalancing:DescribeListeners", |s| {
            Ok(s.elbv2.listeners.get(arn).cloned())
        })
    }

    async fn describe_load_balancer(
        &self,
        arn: &str,
    ) -> Result<Option<ElbV2LoadBalancer>, AwsError> {
        self.call("elasticloadbalancing:DescribeLoadBalancers", |s| {
            Ok(s.elbv2.load_balancers.get(arn).cloned())
        })
    }

    async fn describe_rules(&self, listener_arn: &str) -> Result<Vec<ListenerRule>, AwsError> {
        const OP: &str = "elasticloadbalancing:DescribeRules";
        self.call(OP, |s| {
            if !s.elbv2.listeners.contains_key(listener_arn) {
                return Err(listener_not_found(OP, listener_arn));
            }
            let mut rules: Vec<ListenerRule> = s
                .elbv2
                .rules
                .values()
                .filter(|r| r.listener_arn == listener_arn)
                .map(|r| r.rule.clone())
                .collect();
            rules.sort_by_key(|r| r.priority);
            Ok(rules)
        })
    }

    async fn create_rule(&self, input: &CreateRuleInput) -> Result<ListenerRule, AwsError> {
        const OP: &str = "elasticloadbalancing:CreateRule";
        self.call(OP, |s| {
            if !s.elbv2.listeners.contains_key(&input.listener_arn) {
                return Err(listener_not_found(OP, &input.listener_arn));
            }
            if !(1..=50000).contains(&input.priority) {
                return Err(err(
                    OP,
                    "ValidationError",
                    "Priority must be between 1 and 50000",
                ));
            }
            validate_conditions(OP, &input.conditions)?;
            if s.target_group_by_arn(&input.target_group_arn).is_none() {
                return Err(tg_not_found(OP, &input.target_group_arn));
            }
            if s.elbv2.rules.values().any(|r| {
                r.listener_arn == input.listener_arn && r.rule.priority == Some(input.priority)
            }) {
                return Err(err(
                    OP,
                    "PriorityInUse",
                    format!("Priority '{}' is currently in use", input.priority),
                ));
            }
            let arn = s.rule_arn(&input.listener_arn);
            let rule = ListenerRule {
                arn: arn.clone(),
                priority: Some(input.priority),
                conditions: input.conditions.clone(),
                other_conditions: false,
                forward_to: vec![input.target_group_arn.clone()],
            };
            s.elbv2.rules.insert(
                arn,
                RuleState {
                    listener_arn: input.listener_arn.clone(),
                    rule: rule.clone(),
                    tags: input.tags.clone(),
                },
            );
            s.associate_target_groups();
            Ok(rule)
        })
    }

    async fn modify_rule(
        &self,
        arn: &str,
        conditions: &RuleConditions,
        target_group_arn: &str,
    ) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:ModifyRule";
        self.call(OP, |s| {
            validate_conditions(OP, conditions)?;
            if s.target_group_by_arn(target_group_arn).is_none() {
                return Err(tg_not_found(OP, target_group_arn));
            }
            let r = s
                .elbv2
                .rules
                .get_mut(arn)
                .ok_or_else(|| err(OP, "RuleNotFound", "One or more rules not found"))?;
            r.rule.conditions = conditions.clone();
            r.rule.other_conditions = false;
            r.rule.forward_to = vec![target_group_arn.to_string()];
            s.associate_target_groups();
            Ok(())
        })
    }

    async fn set_rule_priority(&self, arn: &str, priority: i32) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:SetRulePriorities";
        self.call(OP, |s| {
            let listener = s
                .elbv2
                .rules
                .get(arn)
                .map(|r| r.listener_arn.clone())
                .ok_or_else(|| err(OP, "RuleNotFound", "One or more rules not found"))?;
            if s.elbv2.rules.values().any(|r| {
                r.listener_arn == listener && r.rule.arn != arn && r.rule.priority == Some(priority)
            }) {
                return Err(err(
                    OP,
                    "PriorityInUse",
                    format!("Priority '{priority}' is currently in use"),
                ));
            }
            if let Some(r) = s.elbv2.rules.get_mut(arn) {
                r.rule.priority = Some(priority);
            }
            Ok(())
        })
    }

    async fn delete_rule(&self, arn: &str) -> Result<(), AwsError> {
        const OP: &str = "elasticloadbalancing:DeleteRule";
        self.call(OP, |s| {
            if s.elbv2.rules.remove(arn).is_none() {
                return Err(err(OP, "RuleNotFound", "One or more rules not found"));
            }
            s.associate_target_groups();
            Ok(())
        })
    }
}
