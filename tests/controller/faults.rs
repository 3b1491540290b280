//! AWS faults: throttling is retried, and after a lost response the retry creates nothing
//! twice.

use ecs_operator::aws::fake::FakeAws;
use ecs_operator::aws::AwsErrorKind;
use ecs_operator::reconciler::error::{Error, Treatment};

use super::support::{
    bare_cluster, capacity, deps_for, health_check, is_ready, no_deps, plain_service, steady_plain,
    sync, sync_ok, tutorial_cluster, tutorial_service, tutorial_task_def, ELB, FAMILY,
};

#[tokio::test]
async fn throttling_retries_with_reason_throttled() {
    let fake = FakeAws::new();
    let (cluster, td, mut svc) = steady_plain(&fake, Some(1)).await;
    let deps = deps_for(&cluster, &td);
    fake.throttle_next("ecs:DescribeServices", 1);
    let e = sync(&fake, &mut svc, &deps, false).await.unwrap_err();
    assert!(
        matches!(&e, Error::Aws(a) if a.kind == AwsErrorKind::Throttled),
        "{e}"
    );
    assert!(matches!(
        e.treatment(),
        Treatment::Retry {
            reason: "Throttled",
            ..
        }
    ));
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert!(is_ready(&s));

    let mut cluster = cluster;
    fake.throttle_next("ec2:DescribeLaunchTemplates", 1);
    cluster.spec.capacity = Some(capacity());
    let e = sync(&fake, &mut cluster, &(), false).await.unwrap_err();
    assert!(matches!(
        e.treatment(),
        Treatment::Retry {
            reason: "Throttled",
            ..
        }
    ));
}

// ---------------------------------------------------------------------------------------
// Crashes after a create: retries create nothing twice
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn create_service_retried_after_a_lost_response_makes_one_service() {
    let fake = FakeAws::new();
    let mut cluster = bare_cluster();
    sync_ok(&fake, &mut cluster, &()).await;
    let mut td = tutorial_task_def();
    sync_ok(&fake, &mut td, &no_deps()).await;
    let deps = deps_for(&cluster, &td);
    let mut svc = plain_service(Some(2));

    fake.lose_response_next("ecs:CreateService", 1);
    let e = sync(&fake, &mut svc, &deps, false).await.unwrap_err();
    assert!(matches!(e.treatment(), Treatment::Retry { .. }), "{e}");
    assert_eq!(fake.services().len(), 1, "the create took effect");

    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert_eq!(fake.services().len(), 1);
    assert_eq!(
        fake.count("ecs:CreateService"),
        1,
        "found, not created again"
    );
    assert_eq!(s.status.desired_count, Some(2));
}

#[tokio::test]
async fn create_service_retried_before_describe_sees_it_is_idempotent() {
    let fake = FakeAws::new();
    let mut cluster = bare_cluster();
    sync_ok(&fake, &mut cluster, &()).await;
    let mut td = tutorial_task_def();
    sync_ok(&fake, &mut td, &no_deps()).await;
    let deps = deps_for(&cluster, &td);
    let mut svc = plain_service(Some(2));

    // The response is lost and ECS's read side lags: the retry creates again, with the
    // same client token.
    fake.set_describe_lag(1);
    fake.lose_response_next("ecs:CreateService", 1);
    sync(&fake, &mut svc, &deps, false).await.unwrap_err();
    let s = sync(&fake, &mut svc, &deps, false)
        .await
        .expect("the second create is answered with the first service");
    assert_eq!(fake.count("ecs:CreateService"), 2);
    assert_eq!(fake.services().len(), 1);
    assert_eq!(
        s.status.service_arn.as_deref(),
        Some("arn:aws:ecs:us-east-1:123456789012:service/my-ecs-cluster/hello-world-service")
    );
    let creates = fake.service_creates();
    assert_eq!(creates.len(), 2);
    assert_eq!(creates[0].client_token, creates[1].client_token);
    assert!(!creates[0].client_token.is_empty());
}

#[tokio::test]
async fn lost_responses_of_other_creates_heal_on_the_next_sync() {
    let fake = FakeAws::new();
    fake.set_auto_progress(false);

    // Cluster, launch template and group: each create's response lost once.
    let mut cluster = tutorial_cluster();
    for op in [
        "ecs:CreateCluster",
        "ec2:CreateLaunchTemplate",
        "autoscaling:CreateAutoScalingGroup",
    ] {
        fake.lose_response_next(op, 1);
        assert!(sync(&fake, &mut cluster, &(), false).await.is_err(), "{op}");
    }
    sync_ok(&fake, &mut cluster, &()).await;
    assert_eq!(fake.clusters().len(), 1);
    assert_eq!(fake.launch_templates().len(), 1);
    assert_eq!(
        fake.launch_template_versions("my-ecs-cluster-ecs-capacity")
            .len(),
        1
    );
    assert_eq!(fake.groups().len(), 1);
    for op in [
        "ecs:CreateCluster",
        "ec2:CreateLaunchTemplate",
        "autoscaling:CreateAutoScalingGroup",
    ] {
        assert_eq!(fake.count(op), 1, "{op}");
    }

    // Task definition: no second revision.
    let mut td = tutorial_task_def();
    fake.lose_response_next("ecs:RegisterTaskDefinition", 1);
    assert!(sync(&fake, &mut td, &no_deps(), false).await.is_err());
    let s = sync_ok(&fake, &mut td, &no_deps()).await;
    assert_eq!(s.status.latest_revision, Some(1));
    assert_eq!(fake.task_definition_revisions(FAMILY).len(), 1);

    // ELB: created, but the health check was never configured; the next sync does it.
    let mut svc = tutorial_service();
    let deps = deps_for(&cluster, &td);
    fake.lose_response_next("elasticloadbalancing:CreateLoadBalancer", 1);
    assert!(sync(&fake, &mut svc, &deps, false).await.is_err());
    assert_eq!(
        fake.load_balancer(ELB)
            .unwrap()
            .health_check
            .unwrap()
            .target,
        "TCP:80",
        "ELB's default health check"
    );
    sync_ok(&fake, &mut svc, &deps).await;
    assert_eq!(
        fake.load_balancer(ELB).unwrap().health_check,
        Some(health_check())
    );
    assert_eq!(fake.count("elasticloadbalancing:CreateLoadBalancer"), 1);
    assert_eq!(fake.services().len(), 1);
}

#[tokio::test]
async fn register_after_a_lost_response_finds_the_revision_even_when_the_listing_lags() {
    let fake = FakeAws::new();
    fake.set_list_lag(3);
    let mut td = tutorial_task_def();
    fake.lose_response_next("ecs:RegisterTaskDefinition", 1);
    assert!(sync(&fake, &mut td, &no_deps(), false).await.is_err());
    // A crash and restart: nothing in status; the listing does not show revision 1 yet.
    td.status = None;
    let s = sync_ok(&fake, &mut td, &no_deps()).await;
    assert_eq!(s.status.latest_revision, Some(1));
    assert_eq!(fake.task_definition_revisions(FAMILY).len(), 1);
    assert_eq!(fake.count("ecs:RegisterTaskDefinition"), 1);
}
