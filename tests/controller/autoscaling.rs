//! Application Auto Scaling (spec.autoScaling): the scalable target and its policies.

use ecs_operator::api::service::{
    EcsService, ScalingMetric, ServiceAutoScaling, TargetTrackingPolicy,
};
use ecs_operator::aws::fake::FakeAws;
use ecs_operator::aws::types::{
    PutScalingPolicyInput, RegisterScalableTargetInput, Tags, TargetTrackingConfig,
};
use ecs_operator::aws::{AwsErrorKind, AwsProvider};
use ecs_operator::planning::ownership::{MANAGED_BY_TAG, OWNER_TAG};
use ecs_operator::reconciler::error::{Error, Treatment};
use ecs_operator::reconciler::managed::Cleanup;
use ecs_operator::reconciler::service::ServiceDeps;

use super::support::{
    assert_conflict, bare_cluster, bump, cleanup, deps_for, has_note, is_ready, no_deps, owned_by,
    owner, plain_service, sync, sync_ok, tutorial_task_def, waiting_message, CLUSTER, SERVICE,
};

const RESOURCE: &str = "service/my-ecs-cluster/hello-world-service";
const CPU_POLICY: &str = "hello-world-service-cpu";
const MEMORY_POLICY: &str = "hello-world-service-memory";

fn policy(metric: ScalingMetric, target: f64) -> TargetTrackingPolicy {
    TargetTrackingPolicy {
        metric,
        target,
        scale_in_cooldown: Some(300),
        scale_out_cooldown: Some(60),
        load_balancer_arn: None,
    }
}

fn scaling(min: i32, max: i32, policies: Vec<TargetTrackingPolicy>) -> ServiceAutoScaling {
    ServiceAutoScaling {
        min_count: min,
        max_count: max,
        target_tracking: policies,
    }
}

/// Cluster, task definition and a plain service of `desired_count` scaled 1–6 on CPU,
/// synced until Ready.
async fn steady_autoscaled(
    fake: &FakeAws,
    desired_count: Option<i32>,
) -> (ServiceDeps, EcsService) {
    let mut cluster = bare_cluster();
    sync_ok(fake, &mut cluster, &()).await;
    let mut td = tutorial_task_def();
    sync_ok(fake, &mut td, &no_deps()).await;
    let mut svc = plain_service(desired_count);
    svc.spec.auto_scaling = Some(scaling(1, 6, vec![policy(ScalingMetric::Cpu, 60.0)]));
    let deps = deps_for(&cluster, &td);
    let first = sync_ok(fake, &mut svc, &deps).await;
    assert!(
        has_note(
            &first.notes,
            "Created",
            &format!("scalable target {RESOURCE}")
        ),
        "{:?}",
        first.notes
    );
    fake.tick();
    let s = sync_ok(fake, &mut svc, &deps).await;
    assert!(is_ready(&s), "{:?}", s.readiness);
    (deps, svc)
}

#[tokio::test]
async fn target_and_policy_are_registered_owned_and_recorded() {
    let fake = FakeAws::new();
    let (_deps, svc) = steady_autoscaled(&fake, None).await;
    // desiredCount left out: minCount at creation.
    assert_eq!(fake.service_creates()[0].desired_count, 1);
    let target = fake.scalable_target(RESOURCE).expect("registered");
    assert_eq!((target.min_capacity, target.max_capacity), (1, 6));
    let tags = fake.scalable_target_tags(RESOURCE).expect("tags");
    assert_eq!(tags.get(OWNER_TAG), Some(&owner("EcsService", SERVICE)));
    assert!(tags.contains_key(MANAGED_BY_TAG));
    let policies = fake.scaling_policies(RESOURCE);
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0].name, CPU_POLICY);
    let config = policies[0]
        .target_tracking
        .clone()
        .expect("target tracking");
    assert_eq!(config.predefined_metric, "ECSServiceAverageCPUUtilization");
    assert_eq!(config.target_value, 60.0);
    assert_eq!(config.scale_out_cooldown, Some(60));
    let status = svc.status.and_then(|s| s.auto_scaling).expect("status");
    assert_eq!(status.resource_id, RESOURCE);
    assert_eq!((status.min_count, status.max_count), (1, 6));
    assert_eq!(status.policies, [CPU_POLICY]);
    assert_eq!(status.current_count, Some(1));
    assert_eq!(status.scalable_target_arn, target.arn);
}

#[tokio::test]
async fn the_scalers_count_is_never_reverted_even_with_desired_count_set() {
    let fake = FakeAws::new();
    let (deps, mut svc) = steady_autoscaled(&fake, Some(2)).await;
    assert_eq!(fake.service_creates()[0].desired_count, 2);

    assert_eq!(fake.autoscale(RESOURCE, 5), 5);
    for _ in 0..3 {
        fake.tick();
        fake.clear_calls();
        let s = sync_ok(&fake, &mut svc, &deps).await;
        assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
        // A converged target costs no tag read.
        assert_eq!(fake.count("application-autoscaling:ListTagsForResource"), 0);
        assert_eq!(s.status.desired_count, Some(5));
        assert!(is_ready(&s), "{:?}", s.readiness);
        let status = s.status.auto_scaling.expect("status");
        assert_eq!(status.current_count, Some(5));
        let activity = status.last_scaling_activity.expect("an activity");
        assert_eq!(activity.description, "Setting desired count to 5.");
        assert_eq!(activity.status_code, "Successful");
        assert!(activity.time.is_some());
    }
    assert_eq!(fake.service(CLUSTER, SERVICE).unwrap().desired_count, 5);
    assert!(
        fake.service_updates().is_empty(),
        "{:?}",
        fake.service_updates()
    );
}

#[tokio::test]
async fn spec_edits_are_applied_and_drift_is_corrected() {
    let fake = FakeAws::new();
    let (deps, mut svc) = steady_autoscaled(&fake, None).await;

    // An edit: a wider range and a second metric.
    let mut spec = svc.spec.auto_scaling.clone().expect("autoScaling");
    spec.max_count = 10;
    spec.target_tracking
        .push(policy(ScalingMetric::Memory, 75.0));
    svc.spec.auto_scaling = Some(spec);
    bump(&mut svc);
    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert_eq!(
        fake.mutating_calls(),
        [
            "application-autoscaling:RegisterScalableTarget",
            "application-autoscaling:PutScalingPolicy"
        ]
    );
    assert!(
        has_note(&s.notes, "Updated", "scalable target maxCapacity 6 → 10"),
        "{:?}",
        s.notes
    );
    assert_eq!(fake.scalable_target(RESOURCE).unwrap().max_capacity, 10);
    assert_eq!(
        s.status.auto_scaling.as_ref().map(|a| a.policies.clone()),
        Some(vec![CPU_POLICY.to_string(), MEMORY_POLICY.to_string()])
    );

    // Someone changes our CPU policy and the range behind our back.
    let aas = fake.clients(None).app_autoscaling;
    aas.put_scaling_policy(&PutScalingPolicyInput {
        name: CPU_POLICY.into(),
        resource_id: RESOURCE.into(),
        config: TargetTrackingConfig {
            predefined_metric: "ECSServiceAverageCPUUtilization".into(),
            target_value: 90.0,
            scale_in_cooldown: Some(300),
            scale_out_cooldown: Some(60),
            resource_label: None,
        },
    })
    .await
    .unwrap();
    aas.register_scalable_target(&RegisterScalableTargetInput {
        resource_id: RESOURCE.into(),
        min_capacity: 0,
        max_capacity: 10,
        tags: Tags::new(),
    })
    .await
    .unwrap();
    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert!(
        has_note(
            &s.notes,
            "DriftCorrected",
            "scalable target minCapacity 0 → 1; scaling policy targetValue hello-world-service-cpu: 90 → hello-world-service-cpu: 60"
        ),
        "{:?}",
        s.notes
    );
    assert_eq!(fake.scalable_target(RESOURCE).unwrap().min_capacity, 1);

    // Memory leaves the spec: its policy goes, CPU's stays.
    let mut spec = svc.spec.auto_scaling.clone().expect("autoScaling");
    spec.target_tracking
        .retain(|p| p.metric == ScalingMetric::Cpu);
    svc.spec.auto_scaling = Some(spec);
    bump(&mut svc);
    fake.clear_calls();
    sync_ok(&fake, &mut svc, &deps).await;
    assert_eq!(
        fake.mutating_calls(),
        ["application-autoscaling:DeleteScalingPolicy"]
    );
    let names: Vec<String> = fake
        .scaling_policies(RESOURCE)
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, [CPU_POLICY]);
}

#[tokio::test]
async fn a_tags_edit_reaches_the_scalable_target() {
    let fake = FakeAws::new();
    let (deps, mut svc) = steady_autoscaled(&fake, None).await;
    svc.spec.tags = [("team".to_string(), "web".to_string())].into();
    bump(&mut svc);
    sync_ok(&fake, &mut svc, &deps).await;
    let tags = fake.scalable_target_tags(RESOURCE).expect("tags");
    assert_eq!(tags.get("team").map(String::as_str), Some("web"));
    svc.spec.tags.clear();
    bump(&mut svc);
    sync_ok(&fake, &mut svc, &deps).await;
    let tags = fake.scalable_target_tags(RESOURCE).expect("tags");
    assert!(!tags.contains_key("team"), "{tags:?}");
    assert!(tags.contains_key(OWNER_TAG));
}

#[tokio::test]
async fn removing_auto_scaling_removes_the_scaler_before_desired_count_is_managed_again() {
    let fake = FakeAws::new();
    let (deps, mut svc) = steady_autoscaled(&fake, Some(2)).await;
    fake.autoscale(RESOURCE, 5);

    svc.spec.auto_scaling = None;
    bump(&mut svc);
    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert_eq!(
        fake.mutating_calls(),
        [
            "application-autoscaling:DeleteScalingPolicy",
            "application-autoscaling:DeregisterScalableTarget",
            "ecs:UpdateService"
        ]
    );
    assert!(
        has_note(&s.notes, "Deleted", "deregistered scalable target"),
        "{:?}",
        s.notes
    );
    assert_eq!(fake.service_updates().pop().unwrap().desired_count, Some(2));
    assert!(fake.scalable_target(RESOURCE).is_none());
    assert!(fake.scaling_policies(RESOURCE).is_empty());
    assert_eq!(s.status.auto_scaling, None);

    // Next sync: nothing about auto scaling is read any more.
    fake.clear_calls();
    sync_ok(&fake, &mut svc, &deps).await;
    assert!(
        fake.calls()
            .iter()
            .all(|c| !c.starts_with("application-autoscaling:")),
        "{:?}",
        fake.calls()
    );
}

#[tokio::test]
async fn deletion_deregisters_the_scaler_before_scaling_the_service_to_zero() {
    let fake = FakeAws::new();
    let (_deps, svc) = steady_autoscaled(&fake, None).await;
    fake.set_auto_progress(false);
    fake.clear_calls();
    let c = cleanup(&fake, &svc).await;
    assert!(waiting_message(&c).contains("INACTIVE"));
    assert_eq!(
        fake.mutating_calls(),
        [
            "application-autoscaling:DeleteScalingPolicy",
            "application-autoscaling:DeregisterScalableTarget",
            "ecs:UpdateService",
            "ecs:DeleteService"
        ]
    );
    assert!(fake.scalable_target(RESOURCE).is_none());
    fake.tick();
    fake.clear_calls();
    assert!(matches!(cleanup(&fake, &svc).await, Cleanup::Done(_)));
    assert!(
        fake.mutating_calls().is_empty(),
        "the target is not deregistered twice: {:?}",
        fake.calls()
    );
}

/// A scalable target registered for the service by someone else, with these tags.
async fn foreign_target(fake: &FakeAws, deps: &ServiceDeps, tags: Tags) -> EcsService {
    // The service exists (ours, without auto scaling yet).
    let mut svc = plain_service(Some(2));
    sync_ok(fake, &mut svc, deps).await;
    fake.clients(None)
        .app_autoscaling
        .register_scalable_target(&RegisterScalableTargetInput {
            resource_id: RESOURCE.into(),
            min_capacity: 1,
            max_capacity: 3,
            tags,
        })
        .await
        .unwrap();
    svc.spec.auto_scaling = Some(scaling(1, 6, vec![policy(ScalingMetric::Cpu, 60.0)]));
    bump(&mut svc);
    svc
}

async fn plain_deps(fake: &FakeAws) -> ServiceDeps {
    let mut cluster = bare_cluster();
    sync_ok(fake, &mut cluster, &()).await;
    let mut td = tutorial_task_def();
    sync_ok(fake, &mut td, &no_deps()).await;
    deps_for(&cluster, &td)
}

#[tokio::test]
async fn a_scalable_target_of_another_owner_is_a_conflict_and_an_untagged_one_adoptable() {
    let fake = FakeAws::new();
    let deps = plain_deps(&fake).await;
    let mut svc = foreign_target(&fake, &deps, owned_by("mc-other/default/EcsService/x")).await;
    assert_conflict(sync(&fake, &mut svc, &deps, true).await, RESOURCE);
    assert_eq!(fake.scalable_target(RESOURCE).unwrap().max_capacity, 3);
    // Deleting the object leaves the other owner's target alone.
    fake.clear_calls();
    cleanup(&fake, &svc).await;
    assert!(fake.scalable_target(RESOURCE).is_some());

    let fake = FakeAws::new();
    let deps = plain_deps(&fake).await;
    let mut svc = foreign_target(&fake, &deps, Tags::new()).await;
    assert_conflict(sync(&fake, &mut svc, &deps, false).await, RESOURCE);
    let s = sync(&fake, &mut svc, &deps, true).await.expect("adopted");
    assert!(has_note(&s.notes, "Adopted", RESOURCE), "{:?}", s.notes);
    let tags = fake.scalable_target_tags(RESOURCE).expect("tags");
    assert_eq!(tags.get(OWNER_TAG), Some(&owner("EcsService", SERVICE)));
    assert_eq!(fake.scalable_target(RESOURCE).unwrap().max_capacity, 6);
}

#[tokio::test]
async fn alb_request_count_without_a_target_group_stalls_with_a_clear_message() {
    let fake = FakeAws::new();
    let deps = plain_deps(&fake).await;
    let mut svc = plain_service(None);
    let mut alb = policy(ScalingMetric::AlbRequestCount, 500.0);
    alb.load_balancer_arn = Some(
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/front/0123456789abcdef"
            .into(),
    );
    svc.spec.auto_scaling = Some(scaling(1, 6, vec![alb]));
    match sync(&fake, &mut svc, &deps, false).await {
        Err(e @ Error::InvalidSpec(_)) => {
            assert!(e.to_string().contains("loadBalancer.targetGroupArn"), "{e}");
            assert_eq!(
                e.treatment(),
                Treatment::Stall {
                    reason: "InvalidSpec"
                }
            );
        }
        other => panic!("expected InvalidSpec, got {other:?}"),
    }
    assert!(fake.scalable_target(RESOURCE).is_none());
}

#[tokio::test]
async fn throttled_policy_writes_retry_and_converge() {
    let fake = FakeAws::new();
    let deps = plain_deps(&fake).await;
    let mut svc = plain_service(None);
    svc.spec.auto_scaling = Some(scaling(1, 6, vec![policy(ScalingMetric::Cpu, 60.0)]));
    fake.throttle_next("application-autoscaling:PutScalingPolicy", 1);
    let err = sync(&fake, &mut svc, &deps, false)
        .await
        .expect_err("throttled");
    assert!(err.to_string().contains("PutScalingPolicy"), "{err}");
    // The target was registered but status was not written: the retry finds it by
    // its owner tag and puts the policy.
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert_eq!(fake.scaling_policies(RESOURCE).len(), 1);
    assert_eq!(
        s.status.auto_scaling.map(|a| a.policies),
        Some(vec![CPU_POLICY.to_string()])
    );
}

#[tokio::test]
async fn a_failed_activity_read_keeps_the_last_activity_and_the_sync_succeeds() {
    let fake = FakeAws::new();
    let (deps, mut svc) = steady_autoscaled(&fake, None).await;
    fake.autoscale(RESOURCE, 4);
    let s = sync_ok(&fake, &mut svc, &deps).await;
    let before = s.status.auto_scaling.and_then(|a| a.last_scaling_activity);
    assert!(before.is_some());
    fake.fail_next(
        "application-autoscaling:DescribeScalingActivities",
        ecs_operator::aws::AwsError::new(
            AwsErrorKind::AccessDenied,
            "application-autoscaling:DescribeScalingActivities",
            "AccessDeniedException",
            "not allowed",
        ),
        1,
    );
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert_eq!(
        s.status.auto_scaling.and_then(|a| a.last_scaling_activity),
        before
    );
}
