//! Application Auto Scaling of an EcsService: the scalable target of the service's desired
//! count and one target tracking policy per metric, from `spec.autoScaling` and what AWS
//! has. Also who owns desiredCount: with autoScaling the scaler does, and the operator
//! sets it only when it creates the service.

use std::collections::BTreeSet;

use super::drift::{self, Drift, Resource};
use crate::api::service::{ScalingMetric, ServiceAutoScaling, TargetTrackingPolicy};
use crate::aws::types::{
    PutScalingPolicyInput, ScalableTarget, ScalingPolicy, TargetTrackingConfig,
};

/// Every metric, for the policy names this object may have made.
const METRICS: [ScalingMetric; 3] = [
    ScalingMetric::Cpu,
    ScalingMetric::Memory,
    ScalingMetric::AlbRequestCount,
];

/// The scalable target's resource ID, `service/<cluster-name>/<service-name>` (the
/// cluster may be given as an ARN).
pub fn resource_id(cluster: &str, service: &str) -> String {
    let cluster = cluster.rsplit('/').next().unwrap_or(cluster);
    format!("service/{cluster}/{service}")
}

/// The policy of a metric: `<service>-cpu`, `<service>-memory`, `<service>-alb-requests`.
pub fn policy_name(service: &str, metric: ScalingMetric) -> String {
    let suffix = match metric {
        ScalingMetric::Cpu => "cpu",
        ScalingMetric::Memory => "memory",
        ScalingMetric::AlbRequestCount => "alb-requests",
    };
    format!("{service}-{suffix}")
}

/// Application Auto Scaling's PredefinedMetricType of a metric.
pub fn predefined_metric(metric: ScalingMetric) -> &'static str {
    match metric {
        ScalingMetric::Cpu => "ECSServiceAverageCPUUtilization",
        ScalingMetric::Memory => "ECSServiceAverageMemoryUtilization",
        ScalingMetric::AlbRequestCount => "ALBRequestCountPerTarget",
    }
}

/// The ResourceLabel of ALBRequestCountPerTarget,
/// `app/<lb-name>/<lb-id>/targetgroup/<tg-name>/<tg-id>`, from the two ARNs.
pub fn alb_resource_label(
    load_balancer_arn: &str,
    target_group_arn: &str,
) -> Result<String, String> {
    let lb = load_balancer_arn
        .split_once(":loadbalancer/")
        .map(|(_, rest)| rest)
        .filter(|rest| rest.starts_with("app/") && rest.split('/').count() == 3)
        .ok_or_else(|| {
            format!("{load_balancer_arn} is not the ARN of an Application Load Balancer")
        })?;
    let tg = target_group_arn
        .rsplit_once(':')
        .map(|(_, rest)| rest)
        .filter(|rest| rest.starts_with("targetgroup/") && rest.split('/').count() == 3)
        .ok_or_else(|| format!("{target_group_arn} is not the ARN of a target group"))?;
    Ok(format!("{lb}/{tg}"))
}

/// Whether the operator keeps the service's desiredCount at the spec's: only when the
/// spec sets it and no scaler owns it.
pub fn manages_desired_count(
    desired_count: Option<i32>,
    auto: Option<&ServiceAutoScaling>,
) -> bool {
    desired_count.is_some() && auto.is_none()
}

/// The desired count CreateService sends: the spec's; else, with autoScaling, minCount
/// (at least 1, so a new service starts something) within maxCount; else 1.
pub fn initial_desired_count(desired_count: Option<i32>, auto: Option<&ServiceAutoScaling>) -> i32 {
    match (desired_count, auto) {
        (Some(n), _) => n,
        (None, Some(a)) => a.min_count.max(1).min(a.max_count),
        (None, None) => 1,
    }
}

/// The scalable target and policies the spec wants.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredScaling {
    /// `service/<cluster>/<service>`.
    pub resource_id: String,
    /// MinCapacity.
    pub min_count: i32,
    /// MaxCapacity.
    pub max_count: i32,
    /// One policy per metric, in spec order.
    pub policies: Vec<PutScalingPolicyInput>,
}

/// The target group a service's tasks register in, for ALBRequestCount.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServiceTargetGroup<'a> {
    /// Its ARN: spec.loadBalancer.targetGroupArn, or the managed target group's.
    pub arn: Option<&'a str>,
    /// The Application Load Balancer that forwards to it, when the operator knows it (a
    /// managed target group's listener names it).
    pub load_balancer_arn: Option<&'a str>,
}

fn policy_config(
    p: &TargetTrackingPolicy,
    target_group: ServiceTargetGroup<'_>,
) -> Result<TargetTrackingConfig, String> {
    let resource_label = match p.metric {
        ScalingMetric::AlbRequestCount => {
            let tg = target_group.arn.ok_or(
                "autoScaling metric ALBRequestCount needs a target group: set \
                 loadBalancer.targetGroupArn or loadBalancer.managedTargetGroup",
            )?;
            let lb = p
                .load_balancer_arn
                .as_deref()
                .or(target_group.load_balancer_arn)
                .ok_or(
                    "autoScaling metric ALBRequestCount needs loadBalancerArn: the Application \
                     Load Balancer that forwards to loadBalancer.targetGroupArn",
                )?;
            Some(alb_resource_label(lb, tg)?)
        }
        _ => None,
    };
    Ok(TargetTrackingConfig {
        predefined_metric: predefined_metric(p.metric).to_string(),
        resource_label,
        target_value: p.target,
        scale_in_cooldown: p.scale_in_cooldown,
        scale_out_cooldown: p.scale_out_cooldown,
    })
}

/// What `spec.autoScaling` asks for the service `service` of `cluster`; an error (for the
/// Stalled condition) when it cannot be built: ALBRequestCount without a target group or
/// its load balancer.
pub fn desired_scaling(
    cluster: &str,
    service: &str,
    auto: &ServiceAutoScaling,
    target_group: ServiceTargetGroup<'_>,
) -> Result<DesiredScaling, String> {
    let resource_id = resource_id(cluster, service);
    let policies = auto
        .target_tracking
        .iter()
        .map(|p| {
            Ok(PutScalingPolicyInput {
                name: policy_name(service, p.metric),
                resource_id: resource_id.clone(),
                config: policy_config(p, target_group)?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(DesiredScaling {
        resource_id,
        min_count: auto.min_count,
        max_count: auto.max_count,
        policies,
    })
}

/// The calls that bring Application Auto Scaling to the spec.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScalingPlan {
    /// RegisterScalableTarget (new, or its range differs).
    pub register: bool,
    /// PutScalingPolicy of these (new or different).
    pub put_policies: Vec<PutScalingPolicyInput>,
    /// DeleteScalingPolicy of these names (ours, no longer in the spec).
    pub delete_policies: Vec<String>,
    /// What differed on AWS's side, for Events (nothing for a target that is new).
    pub drift: Vec<Drift>,
}

impl ScalingPlan {
    /// Whether nothing is to be done.
    pub fn is_empty(&self) -> bool {
        !self.register && self.put_policies.is_empty() && self.delete_policies.is_empty()
    }
}

/// The names of policies on the target that this object owns: those status records
/// (`recorded`) and those named after the service's metrics (a policy put just before a
/// crash, before status could record it).
fn owned_policy_names(service: &str, recorded: &[String]) -> BTreeSet<String> {
    recorded
        .iter()
        .cloned()
        .chain(METRICS.iter().map(|m| policy_name(service, *m)))
        .collect()
}

fn cooldown(v: Option<i32>) -> String {
    drift::or_none(v)
}

/// Plan the scalable target and policies: `target` and `policies` as AWS has them,
/// `recorded` the policy names status lists.
pub fn plan_scaling(
    service: &str,
    desired: &DesiredScaling,
    target: Option<&ScalableTarget>,
    policies: &[ScalingPolicy],
    recorded: &[String],
) -> ScalingPlan {
    let mut plan = ScalingPlan::default();
    match target {
        None => plan.register = true,
        Some(t) => {
            let min = drift::check(
                &mut plan.drift,
                Resource::ScalableTarget,
                "minCapacity",
                &desired.min_count,
                &t.min_capacity,
            );
            let max = drift::check(
                &mut plan.drift,
                Resource::ScalableTarget,
                "maxCapacity",
                &desired.max_count,
                &t.max_capacity,
            );
            plan.register = min || max;
        }
    }
    // Without a target there are no policies (AWS deletes them with it): put them all.
    let observed: &[ScalingPolicy] = if target.is_some() { policies } else { &[] };
    for want in &desired.policies {
        let have = observed
            .iter()
            .find(|p| p.name == want.name)
            .and_then(|p| p.target_tracking.as_ref());
        let differs = match have {
            None => {
                if target.is_some() {
                    plan.drift.push(Drift::new(
                        Resource::ScalingPolicy,
                        "policy",
                        "none",
                        want.name.clone(),
                    ));
                }
                true
            }
            Some(have) => policy_drift(&want.name, &want.config, have, &mut plan.drift),
        };
        if differs {
            plan.put_policies.push(want.clone());
        }
    }
    let wanted: BTreeSet<&str> = desired.policies.iter().map(|p| p.name.as_str()).collect();
    let owned = owned_policy_names(service, recorded);
    for p in observed {
        if owned.contains(&p.name) && !wanted.contains(p.name.as_str()) {
            plan.drift.push(Drift::new(
                Resource::ScalingPolicy,
                "policy",
                p.name.clone(),
                "none",
            ));
            plan.delete_policies.push(p.name.clone());
        }
    }
    plan
}

/// Push the fields of policy `name` that differ; whether any did. A cooldown the spec
/// leaves out is AWS's to default.
fn policy_drift(
    name: &str,
    want: &TargetTrackingConfig,
    have: &TargetTrackingConfig,
    out: &mut Vec<Drift>,
) -> bool {
    let show = |v: String| format!("{name}: {v}");
    let mut differs = false;
    let mut field = |field: &'static str, have: String, want: String| {
        if have != want {
            out.push(Drift::new(
                Resource::ScalingPolicy,
                field,
                show(have),
                show(want),
            ));
            differs = true;
        }
    };
    field(
        "predefinedMetricType",
        have.predefined_metric.clone(),
        want.predefined_metric.clone(),
    );
    field(
        "resourceLabel",
        drift::or_none(have.resource_label.as_deref()),
        drift::or_none(want.resource_label.as_deref()),
    );
    field(
        "targetValue",
        have.target_value.to_string(),
        want.target_value.to_string(),
    );
    if want.scale_in_cooldown.is_some() {
        field(
            "scaleInCooldown",
            cooldown(have.scale_in_cooldown),
            cooldown(want.scale_in_cooldown),
        );
    }
    if want.scale_out_cooldown.is_some() {
        field(
            "scaleOutCooldown",
            cooldown(have.scale_out_cooldown),
            cooldown(want.scale_out_cooldown),
        );
    }
    differs
}

/// Removing Application Auto Scaling (autoScaling left the spec, or the object is being
/// deleted): the policies this object owns, then the scalable target.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScalingRemoval {
    /// DeleteScalingPolicy of these names.
    pub delete_policies: Vec<String>,
    /// DeregisterScalableTarget.
    pub deregister: bool,
}

/// Plan the removal; `target` is the scalable target if it exists and is ours.
pub fn plan_removal(
    service: &str,
    target: Option<&ScalableTarget>,
    policies: &[ScalingPolicy],
    recorded: &[String],
) -> ScalingRemoval {
    let Some(_) = target else {
        return ScalingRemoval::default();
    };
    let owned = owned_policy_names(service, recorded);
    ScalingRemoval {
        delete_policies: policies
            .iter()
            .filter(|p| owned.contains(&p.name))
            .map(|p| p.name.clone())
            .collect(),
        deregister: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TG: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef";
    const ALB: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/front/fedcba9876543210";

    fn cpu(target: f64) -> TargetTrackingPolicy {
        TargetTrackingPolicy {
            metric: ScalingMetric::Cpu,
            target,
            scale_in_cooldown: Some(300),
            scale_out_cooldown: Some(60),
            load_balancer_arn: None,
        }
    }

    fn auto(min: i32, max: i32, policies: Vec<TargetTrackingPolicy>) -> ServiceAutoScaling {
        ServiceAutoScaling {
            min_count: min,
            max_count: max,
            target_tracking: policies,
        }
    }

    fn tg(arn: &str) -> ServiceTargetGroup<'_> {
        ServiceTargetGroup {
            arn: Some(arn),
            load_balancer_arn: None,
        }
    }

    fn desired(a: &ServiceAutoScaling) -> DesiredScaling {
        desired_scaling("arn:aws:ecs:us-east-1:1:cluster/c", "web", a, tg(TG)).expect("valid")
    }

    fn observed_target(min: i32, max: i32) -> ScalableTarget {
        ScalableTarget {
            resource_id: "service/c/web".into(),
            arn: Some("arn:target".into()),
            min_capacity: min,
            max_capacity: max,
        }
    }

    fn as_observed(d: &DesiredScaling) -> Vec<ScalingPolicy> {
        d.policies
            .iter()
            .map(|p| ScalingPolicy {
                name: p.name.clone(),
                resource_id: p.resource_id.clone(),
                target_tracking: Some(p.config.clone()),
            })
            .collect()
    }

    #[test]
    fn names_and_ids_follow_the_service() {
        assert_eq!(
            resource_id("arn:aws:ecs:r:1:cluster/prod", "web"),
            "service/prod/web"
        );
        assert_eq!(resource_id("prod", "web"), "service/prod/web");
        assert_eq!(policy_name("web", ScalingMetric::Cpu), "web-cpu");
        assert_eq!(policy_name("web", ScalingMetric::Memory), "web-memory");
        assert_eq!(
            policy_name("web", ScalingMetric::AlbRequestCount),
            "web-alb-requests"
        );
        assert_eq!(
            predefined_metric(ScalingMetric::Memory),
            "ECSServiceAverageMemoryUtilization"
        );
    }

    #[test]
    fn the_alb_label_joins_load_balancer_and_target_group() {
        assert_eq!(
            alb_resource_label(ALB, TG).as_deref(),
            Ok("app/front/fedcba9876543210/targetgroup/web/0123456789abcdef")
        );
        assert!(
            alb_resource_label("arn:aws:elasticloadbalancing:r:1:loadbalancer/net/n/1", TG)
                .is_err()
        );
        assert!(alb_resource_label(ALB, "not-an-arn").is_err());
    }

    #[test]
    fn alb_request_count_needs_a_target_group_and_the_alb() {
        let mut alb = cpu(100.0);
        alb.metric = ScalingMetric::AlbRequestCount;
        let a = auto(1, 4, vec![alb.clone()]);
        let err = desired_scaling("c", "web", &a, ServiceTargetGroup::default())
            .expect_err("no target group");
        assert!(err.contains("loadBalancer.targetGroupArn"), "{err}");
        let err = desired_scaling("c", "web", &a, tg(TG)).expect_err("no ALB");
        assert!(err.contains("loadBalancerArn"), "{err}");
        // A managed target group's listener names the ALB: no loadBalancerArn needed.
        let managed = ServiceTargetGroup {
            arn: Some(TG),
            load_balancer_arn: Some(ALB),
        };
        let d = desired_scaling("c", "web", &a, managed).expect("the listener's ALB");
        assert_eq!(
            d.policies[0].config.resource_label,
            alb_resource_label(ALB, TG).ok()
        );
        alb.load_balancer_arn = Some(ALB.into());
        let d = desired_scaling("c", "web", &auto(1, 4, vec![alb]), tg(TG)).expect("valid");
        assert_eq!(
            d.policies[0].config.predefined_metric,
            "ALBRequestCountPerTarget"
        );
        assert!(d.policies[0].config.resource_label.is_some());
    }

    #[test]
    fn the_scaler_owns_desired_count_when_auto_scaling_is_set() {
        let a = auto(2, 6, vec![cpu(60.0)]);
        assert!(manages_desired_count(Some(3), None));
        assert!(!manages_desired_count(Some(3), Some(&a)));
        assert!(!manages_desired_count(None, None));
        assert_eq!(initial_desired_count(Some(3), Some(&a)), 3);
        assert_eq!(initial_desired_count(None, Some(&a)), 2);
        assert_eq!(initial_desired_count(None, Some(&auto(0, 6, vec![]))), 1);
        assert_eq!(initial_desired_count(None, None), 1);
    }

    #[test]
    fn a_new_target_is_registered_with_every_policy_and_no_drift() {
        let a = auto(1, 4, vec![cpu(60.0)]);
        let d = desired(&a);
        assert_eq!(d.resource_id, "service/c/web");
        let plan = plan_scaling("web", &d, None, &[], &[]);
        assert!(plan.register);
        assert_eq!(plan.put_policies, d.policies);
        assert!(plan.delete_policies.is_empty());
        assert!(plan.drift.is_empty());
    }

    #[test]
    fn a_converged_target_needs_nothing() {
        let d = desired(&auto(1, 4, vec![cpu(60.0)]));
        let plan = plan_scaling(
            "web",
            &d,
            Some(&observed_target(1, 4)),
            &as_observed(&d),
            &["web-cpu".into()],
        );
        assert!(plan.is_empty(), "{plan:?}");
        assert!(plan.drift.is_empty());
    }

    #[test]
    fn range_drift_re_registers_the_target() {
        let d = desired(&auto(1, 4, vec![cpu(60.0)]));
        let plan = plan_scaling(
            "web",
            &d,
            Some(&observed_target(1, 9)),
            &as_observed(&d),
            &[],
        );
        assert!(plan.register);
        assert!(plan.put_policies.is_empty());
        assert_eq!(
            plan.drift,
            vec![Drift::new(
                Resource::ScalableTarget,
                "maxCapacity",
                "9",
                "4"
            )]
        );
    }

    #[test]
    fn a_changed_policy_is_put_again_with_its_fields_as_drift() {
        let d = desired(&auto(1, 4, vec![cpu(60.0)]));
        let mut observed = as_observed(&d);
        if let Some(c) = observed[0].target_tracking.as_mut() {
            c.target_value = 75.0;
            c.scale_out_cooldown = Some(120);
        }
        let plan = plan_scaling("web", &d, Some(&observed_target(1, 4)), &observed, &[]);
        assert!(!plan.register);
        assert_eq!(plan.put_policies, d.policies);
        assert_eq!(
            plan.drift,
            vec![
                Drift::new(
                    Resource::ScalingPolicy,
                    "targetValue",
                    "web-cpu: 75",
                    "web-cpu: 60"
                ),
                Drift::new(
                    Resource::ScalingPolicy,
                    "scaleOutCooldown",
                    "web-cpu: 120",
                    "web-cpu: 60"
                ),
            ]
        );
    }

    #[test]
    fn cooldowns_left_out_are_aws_defaults() {
        let mut p = cpu(60.0);
        p.scale_in_cooldown = None;
        p.scale_out_cooldown = None;
        let d = desired(&auto(1, 4, vec![p]));
        let mut observed = as_observed(&d);
        if let Some(c) = observed[0].target_tracking.as_mut() {
            c.scale_in_cooldown = Some(300);
            c.scale_out_cooldown = Some(300);
        }
        let plan = plan_scaling("web", &d, Some(&observed_target(1, 4)), &observed, &[]);
        assert!(plan.is_empty(), "{plan:?}");
    }

    #[test]
    fn a_missing_policy_is_put_and_reported() {
        let d = desired(&auto(1, 4, vec![cpu(60.0)]));
        let plan = plan_scaling("web", &d, Some(&observed_target(1, 4)), &[], &[]);
        assert_eq!(plan.put_policies, d.policies);
        assert_eq!(
            plan.drift,
            vec![Drift::new(
                Resource::ScalingPolicy,
                "policy",
                "none",
                "web-cpu"
            )]
        );
    }

    #[test]
    fn only_our_policies_leaving_the_spec_are_deleted() {
        let mut memory = cpu(70.0);
        memory.metric = ScalingMetric::Memory;
        let before = desired(&auto(1, 4, vec![cpu(60.0), memory]));
        let mut observed = as_observed(&before);
        // Someone's own step scaling policy on the same target is left alone.
        observed.push(ScalingPolicy {
            name: "oncall-step".into(),
            resource_id: "service/c/web".into(),
            target_tracking: None,
        });
        let after = desired(&auto(1, 4, vec![cpu(60.0)]));
        let plan = plan_scaling(
            "web",
            &after,
            Some(&observed_target(1, 4)),
            &observed,
            &["web-cpu".into()],
        );
        assert_eq!(plan.delete_policies, vec!["web-memory".to_string()]);
        assert!(plan.put_policies.is_empty());
        assert_eq!(
            plan.drift,
            vec![Drift::new(
                Resource::ScalingPolicy,
                "policy",
                "web-memory",
                "none"
            )]
        );
    }

    #[test]
    fn removal_deletes_our_policies_then_the_target() {
        let d = desired(&auto(1, 4, vec![cpu(60.0)]));
        let mut observed = as_observed(&d);
        observed.push(ScalingPolicy {
            name: "oncall-step".into(),
            ..Default::default()
        });
        let r = plan_removal(
            "web",
            Some(&observed_target(1, 4)),
            &observed,
            &["web-cpu".into()],
        );
        assert_eq!(
            r,
            ScalingRemoval {
                delete_policies: vec!["web-cpu".into()],
                deregister: true
            }
        );
        assert_eq!(
            plan_removal("web", None, &observed, &[]),
            ScalingRemoval::default()
        );
    }
}
