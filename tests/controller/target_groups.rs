//! loadBalancer.managedTargetGroup: an ALB target group and listener rule the service owns.

use ecs_operator::api::service::LoadBalancerScheme;
use ecs_operator::aws::fake::FakeAws;
use ecs_operator::aws::types::{
    CreateLoadBalancerInput, CreateServiceInput, RuleConditions, ServiceLoadBalancerRef, Tags,
    UpdateServiceInput,
};
use ecs_operator::aws::AwsProvider;
use ecs_operator::planning::drift::Resource as Owned;
use ecs_operator::planning::ownership::OWNER_TAG;
use ecs_operator::reconciler::error::Treatment;
use ecs_operator::reconciler::managed::{Cleanup, ManagedResource};

use super::support::{
    alb_service, alb_setup, assert_conflict, bump, cleanup, cx, deps_for, has_note, http_listener,
    is_ready, mtg_mut, owner, strings, sync, sync_ok, td_arn, waiting_message, CLUSTER, SERVICE,
    TG, VPC,
};

#[tokio::test]
async fn managed_target_group_and_rule_are_created_before_the_service_and_a_resync_writes_nothing()
{
    let fake = FakeAws::new();
    let (cluster, td, listener) = alb_setup(&fake).await;
    let mut svc = alb_service(&listener);
    let deps = deps_for(&cluster, &td);

    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    // Group, then the rule that associates it with the ALB (ECS refuses a group without
    // one), then the service.
    assert_eq!(
        fake.mutating_calls(),
        [
            "elasticloadbalancing:CreateTargetGroup",
            "elasticloadbalancing:CreateRule",
            "ecs:CreateService"
        ]
    );
    let tg = fake.target_group(TG).expect("target group");
    assert_eq!(tg.vpc_id, VPC, "the VPC of the listener's ALB");
    assert_eq!(tg.target_type, "instance", "bridge network mode");
    assert_eq!((tg.protocol.as_str(), tg.port), ("HTTP", 5000));
    assert_eq!(tg.health_check.path, "/health");
    assert_eq!(tg.health_check.port, "traffic-port");
    let tags = fake.target_group_tags(TG).unwrap();
    assert_eq!(
        tags.get(OWNER_TAG),
        Some(&owner("EcsService", SERVICE)),
        "{tags:?}"
    );
    let rules = fake.listener_rules(&listener);
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].priority, Some(10));
    assert_eq!(rules[0].conditions.path_patterns, strings(&["/hello/*"]));
    assert_eq!(rules[0].forward_to, std::slice::from_ref(&tg.arn));
    assert!(fake
        .rule_tags(&rules[0].arn)
        .unwrap()
        .contains_key(OWNER_TAG));
    let lb = s.status.load_balancer.as_ref().unwrap();
    assert_eq!(lb.name, TG);
    assert_eq!(lb.target_group_arn.as_deref(), Some(tg.arn.as_str()));
    assert_eq!(lb.listener_rule_arn.as_deref(), Some(rules[0].arn.as_str()));
    assert!(
        lb.dns_name
            .as_deref()
            .is_some_and(|d| d.ends_with(".elb.amazonaws.com")),
        "the ALB's DNS name for the URL column: {lb:?}"
    );
    let created = fake.service(CLUSTER, SERVICE).unwrap();
    assert_eq!(
        created.load_balancers[0].target_group_arn.as_deref(),
        Some(tg.arn.as_str())
    );
    assert_eq!(created.load_balancers[0].load_balancer_name, None);

    fake.tick();
    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert!(is_ready(&s), "{:?}", s.readiness);
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
    assert!(s.drift.is_empty(), "{:?}", s.drift);
    // Targets are ECS's: the operator has no call that touches them.
    assert!(
        !fake.calls().iter().any(|c| c.contains("Targets")),
        "{:?}",
        fake.calls()
    );
}

#[tokio::test]
async fn awsvpc_services_get_an_ip_target_group() {
    let fake = FakeAws::new();
    let (cluster, td, listener) = alb_setup(&fake).await;
    let mut svc = alb_service(&listener);
    // ECS requires a networkConfiguration exactly for awsvpc tasks: that is how the
    // operator tells the network mode without reading the task definition.
    svc.spec.network_configuration = Some(ecs_operator::api::service::NetworkConfiguration {
        awsvpc_configuration: Some(ecs_operator::api::service::AwsVpcConfiguration {
            subnets: strings(&["subnet-a"]),
            ..Default::default()
        }),
    });
    // Only the group is looked at here: the fake's ECS may refuse the bridge task
    // definition with a network configuration.
    let _ = sync(&fake, &mut svc, &deps_for(&cluster, &td), false).await;
    assert_eq!(fake.target_group(TG).unwrap().target_type, "ip");
}

#[tokio::test]
async fn target_group_and_rule_drift_is_corrected_and_reported() {
    let fake = FakeAws::new();
    let (cluster, td, listener) = alb_setup(&fake).await;
    let mut svc = alb_service(&listener);
    let deps = deps_for(&cluster, &td);
    sync_ok(&fake, &mut svc, &deps).await;

    let mut hc = fake.target_group(TG).unwrap().health_check;
    hc.path = "/".into();
    hc.interval_seconds = 10;
    fake.set_target_group_health_check(TG, hc);
    let rule = fake.listener_rules(&listener)[0].clone();
    fake.set_rule(
        &rule.arn,
        20,
        RuleConditions {
            path_patterns: strings(&["/other/*"]),
            host_headers: vec![],
        },
    );

    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert_eq!(
        fake.mutating_calls(),
        [
            "elasticloadbalancing:ModifyTargetGroup",
            "elasticloadbalancing:ModifyRule",
            "elasticloadbalancing:SetRulePriorities"
        ]
    );
    let fields: Vec<_> = s.drift.iter().map(|d| (d.resource, d.field)).collect();
    assert!(
        fields.contains(&(Owned::TargetGroup, "healthCheck.path")),
        "{fields:?}"
    );
    assert!(
        fields.contains(&(Owned::ListenerRule, "pathPatterns")),
        "{fields:?}"
    );
    assert!(
        fields.contains(&(Owned::ListenerRule, "priority")),
        "{fields:?}"
    );
    assert!(has_note(
        &s.notes,
        "DriftCorrected",
        "healthCheck.path / → /health"
    ));
    assert_eq!(fake.target_group(TG).unwrap().health_check.path, "/health");
    let rule = fake.listener_rules(&listener)[0].clone();
    assert_eq!(rule.priority, Some(10));
    assert_eq!(rule.conditions.path_patterns, strings(&["/hello/*"]));

    // A spec edit of the rule is applied (Updated, not drift).
    bump(&mut svc);
    mtg_mut(&mut svc).rule.host_headers = strings(&["www.example.com"]);
    mtg_mut(&mut svc).deregistration_delay_seconds = Some(30);
    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert_eq!(
        fake.mutating_calls(),
        [
            "elasticloadbalancing:ModifyTargetGroupAttributes",
            "elasticloadbalancing:ModifyRule"
        ]
    );
    assert!(has_note(&s.notes, "Updated", "hostHeaders"));
    assert_eq!(fake.target_group_deregistration_delay(TG), Some(30));

    // spec.tags reach the group and the rule, and leave both again.
    bump(&mut svc);
    svc.spec.tags = [("team".to_string(), "web".to_string())].into();
    sync_ok(&fake, &mut svc, &deps).await;
    let rule_arn = fake.listener_rules(&listener)[0].arn.clone();
    assert_eq!(
        fake.target_group_tags(TG)
            .unwrap()
            .get("team")
            .map(String::as_str),
        Some("web")
    );
    assert_eq!(
        fake.rule_tags(&rule_arn)
            .unwrap()
            .get("team")
            .map(String::as_str),
        Some("web")
    );
    bump(&mut svc);
    svc.spec.tags = Default::default();
    sync_ok(&fake, &mut svc, &deps).await;
    assert!(!fake.target_group_tags(TG).unwrap().contains_key("team"));
    assert!(!fake.rule_tags(&rule_arn).unwrap().contains_key("team"));
    assert!(fake.rule_tags(&rule_arn).unwrap().contains_key(OWNER_TAG));
}

#[tokio::test]
async fn rule_priority_held_by_another_rule_stalls_naming_it() {
    let fake = FakeAws::new();
    let (cluster, td, listener) = alb_setup(&fake).await;
    let theirs = fake.add_foreign_rule(&listener, 10, "/theirs/*");
    let mut svc = alb_service(&listener);
    let err = sync(&fake, &mut svc, &deps_for(&cluster, &td), false)
        .await
        .expect_err("priority taken");
    let msg = err.to_string();
    assert!(
        msg.contains("priority 10") && msg.contains(&theirs),
        "{msg}"
    );
    assert_eq!(
        err.treatment(),
        Treatment::Stall {
            reason: "InvalidSpec"
        }
    );
    assert!(
        fake.service(CLUSTER, SERVICE).is_none(),
        "no service without its rule"
    );

    // A free priority heals it.
    bump(&mut svc);
    mtg_mut(&mut svc).rule.priority = 11;
    sync_ok(&fake, &mut svc, &deps_for(&cluster, &td)).await;
    assert_eq!(fake.listener_rules(&listener).len(), 2);
}

#[tokio::test]
async fn missing_listener_stalls_with_its_arn() {
    let fake = FakeAws::new();
    let (cluster, td, listener) = alb_setup(&fake).await;
    let missing = listener.replace("/app/web/", "/app/gone/");
    let mut svc = alb_service(&missing);
    let err = sync(&fake, &mut svc, &deps_for(&cluster, &td), false)
        .await
        .expect_err("listener missing");
    assert!(err.to_string().contains(&missing), "{err}");
    assert_eq!(
        err.treatment(),
        Treatment::Stall {
            reason: "InvalidSpec"
        }
    );
    assert!(fake.target_groups().is_empty());
}

#[tokio::test]
async fn target_group_of_another_owner_is_a_conflict_unless_adopted() {
    let fake = FakeAws::new();
    let (cluster, td, listener) = alb_setup(&fake).await;
    let mut other = alb_service(&listener);
    other.metadata.name = Some("other".into());
    other.spec.service_name = Some("other".into());
    mtg_mut(&mut other).rule.priority = 20;
    sync_ok(&fake, &mut other, &deps_for(&cluster, &td)).await;

    let mut svc = alb_service(&listener);
    let result = sync(&fake, &mut svc, &deps_for(&cluster, &td), true).await;
    assert_conflict(result, TG);
}

#[tokio::test]
async fn cleanup_deletes_the_service_then_the_rule_then_the_target_group() {
    let fake = FakeAws::new();
    let (cluster, td, listener) = alb_setup(&fake).await;
    let mut svc = alb_service(&listener);
    let deps = deps_for(&cluster, &td);
    sync_ok(&fake, &mut svc, &deps).await;
    let tg_arn = fake.target_group(TG).unwrap().arn;
    fake.set_auto_progress(false);

    // The group cannot go while the rule and the service use it.
    let direct = fake.clients(None).elbv2.delete_target_group(&tg_arn).await;
    assert_eq!(direct.unwrap_err().code, "ResourceInUse");

    fake.clear_calls();
    let c = cleanup(&fake, &svc).await;
    assert!(waiting_message(&c).contains("INACTIVE"));
    assert_eq!(
        fake.mutating_calls(),
        ["ecs:UpdateService", "ecs:DeleteService"]
    );
    assert!(
        fake.target_group(TG).is_some(),
        "the group outlives the service"
    );

    fake.tick();
    fake.clear_calls();
    let c = cleanup(&fake, &svc).await;
    let Cleanup::Done(notes) = c else {
        panic!("expected Done, got {c:?}")
    };
    assert_eq!(
        fake.mutating_calls(),
        [
            "elasticloadbalancing:DeleteRule",
            "elasticloadbalancing:DeleteTargetGroup"
        ]
    );
    assert!(has_note(&notes, "Deleted", TG));
    assert!(fake.target_group(TG).is_none());
    assert!(fake.listener_rules(&listener).is_empty());
    // Again (a second reconcile before the finalizer is gone): still done, nothing to do.
    fake.clear_calls();
    assert!(matches!(cleanup(&fake, &svc).await, Cleanup::Done(_)));
    assert!(fake.mutating_calls().is_empty());
}

#[tokio::test]
async fn target_group_still_in_use_is_waited_for() {
    let fake = FakeAws::new();
    let (cluster, td, listener) = alb_setup(&fake).await;
    let mut svc = alb_service(&listener);
    sync_ok(&fake, &mut svc, &deps_for(&cluster, &td)).await;
    // Another ECS service (made by hand) still uses the group after ours is gone.
    let tg_arn = fake.target_group(TG).unwrap().arn;
    let ecs = fake.clients(None).ecs;
    let mut input = CreateServiceInput {
        cluster: CLUSTER.into(),
        name: "by-hand".into(),
        task_definition: td_arn(1),
        desired_count: 0,
        load_balancers: vec![ServiceLoadBalancerRef {
            load_balancer_name: None,
            target_group_arn: Some(tg_arn),
            container_name: "hello-world-container".into(),
            container_port: 5000,
        }],
        ..Default::default()
    };
    input.client_token = "by-hand".into();
    ecs.create_service(&input).await.expect("service by hand");

    cleanup(&fake, &svc).await;
    fake.tick();
    let err = svc
        .cleanup(&Default::default(), &cx(&fake, &svc, false))
        .await
        .expect_err("still in use");
    assert!(err.to_string().contains("still in use"), "{err}");
    assert!(matches!(err.treatment(), Treatment::Retry { .. }));
    assert!(fake.target_group(TG).is_some());
}

#[tokio::test]
async fn renamed_target_group_replaces_the_old_one_which_goes_once_free() {
    let fake = FakeAws::new();
    let (cluster, td, listener) = alb_setup(&fake).await;
    let mut svc = alb_service(&listener);
    let deps = deps_for(&cluster, &td);
    sync_ok(&fake, &mut svc, &deps).await;
    let old_arn = fake.target_group(TG).unwrap().arn;

    bump(&mut svc);
    mtg_mut(&mut svc).name = Some("hello-world-tg-2".into());
    mtg_mut(&mut svc).rule.priority = 11;
    // A hand-made service keeps the old group busy for a while (as a draining deployment
    // would).
    let ecs = fake.clients(None).ecs;
    let input = CreateServiceInput {
        cluster: CLUSTER.into(),
        name: "by-hand".into(),
        task_definition: td_arn(1),
        desired_count: 0,
        client_token: "by-hand".into(),
        load_balancers: vec![ServiceLoadBalancerRef {
            load_balancer_name: None,
            target_group_arn: Some(old_arn.clone()),
            container_name: "hello-world-container".into(),
            container_port: 5000,
        }],
        ..Default::default()
    };
    ecs.create_service(&input).await.expect("service by hand");

    let s = sync_ok(&fake, &mut svc, &deps).await;
    let new = fake.target_group("hello-world-tg-2").expect("new group");
    assert_eq!(
        fake.service(CLUSTER, SERVICE).unwrap().load_balancers[0]
            .target_group_arn
            .as_deref(),
        Some(new.arn.as_str())
    );
    // The old rule is gone at once; the old group stays while in use, and is recorded.
    let rules = fake.listener_rules(&listener);
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(rules[0].forward_to, std::slice::from_ref(&new.arn));
    assert!(fake.target_group(TG).is_some());
    assert_eq!(s.status.retired_target_groups, strings(&[TG]));

    // Once free, the next sync deletes it.
    ecs.update_service(&UpdateServiceInput {
        cluster: CLUSTER.into(),
        name: "by-hand".into(),
        load_balancers: Some(vec![]),
        ..Default::default()
    })
    .await
    .expect("free the group");
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert!(fake.target_group(TG).is_none());
    assert!(s.status.retired_target_groups.is_empty());
    assert!(has_note(&s.notes, "Deleted", TG));

    // managedTargetGroup leaving the spec for an existing classic ELB: rule and group go.
    fake.clients(None)
        .elb
        .create_load_balancer(&CreateLoadBalancerInput {
            name: "existing-elb".into(),
            scheme: LoadBalancerScheme::InternetFacing,
            subnet_ids: strings(&["subnet-a"]),
            security_group_ids: vec![],
            listeners: vec![http_listener(80)],
            tags: Tags::new(),
        })
        .await
        .expect("classic ELB");
    bump(&mut svc);
    let lb = svc.spec.load_balancer.as_mut().unwrap();
    lb.managed_target_group = None;
    lb.load_balancer_name = Some("existing-elb".into());
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert!(fake.target_group("hello-world-tg-2").is_none());
    assert!(fake.listener_rules(&listener).is_empty());
    assert!(s.status.retired_target_groups.is_empty());
}

#[tokio::test]
async fn alb_request_scaling_of_a_managed_target_group_needs_no_load_balancer_arn() {
    use ecs_operator::api::service::{ScalingMetric, ServiceAutoScaling, TargetTrackingPolicy};
    let fake = FakeAws::new();
    let (cluster, td, listener) = alb_setup(&fake).await;
    let mut svc = alb_service(&listener);
    svc.spec.auto_scaling = Some(ServiceAutoScaling {
        min_count: 1,
        max_count: 4,
        target_tracking: vec![TargetTrackingPolicy {
            metric: ScalingMetric::AlbRequestCount,
            target: 500.0,
            scale_in_cooldown: None,
            scale_out_cooldown: None,
            load_balancer_arn: None,
        }],
    });
    let deps = deps_for(&cluster, &td);
    let s = sync_ok(&fake, &mut svc, &deps).await;
    let tg = fake.target_group(TG).expect("target group");
    let policies = fake.scaling_policies(&format!("service/{CLUSTER}/{SERVICE}"));
    assert_eq!(policies.len(), 1, "{policies:?}");
    let label = policies[0]
        .target_tracking
        .as_ref()
        .and_then(|t| t.resource_label.clone())
        .expect("a resource label");
    // app/<alb>/<id>/targetgroup/<group>/<id>: the ALB read off the listener's ARN.
    let tg_path = tg.arn.split(":targetgroup/").nth(1).expect("group path");
    assert!(
        label.starts_with("app/web/") && label.ends_with(&format!("/targetgroup/{tg_path}")),
        "{label}"
    );
    assert!(s.status.auto_scaling.is_some());
}
