//! Task definition revisions and the service's rollouts: new revisions, pruning, pinning,
//! restarts, rollouts that fail, and a cluster short of capacity that blocks none.

use std::collections::BTreeSet;

use kube::ResourceExt;

use ecs_operator::api::common::RESTARTED_AT_ANNOTATION;
use ecs_operator::api::service::{
    DeploymentCircuitBreaker, DeploymentConfiguration, DeploymentStatus, EcsServiceStatus,
};
use ecs_operator::aws::fake::FakeAws;
use ecs_operator::aws::AwsProvider;
use ecs_operator::planning::service::cluster_usable;
use ecs_operator::reconciler::error::Error;
use ecs_operator::reconciler::service::ServiceDeps;
use ecs_operator::reconciler::task_def::{revisions_in_use, TaskDefDeps};

use super::support::{
    bump, deps_for, env, has_note, is_ready, no_deps, not_ready_reason, plain_service, progressing,
    steady_plain, steady_tutorial, sync, sync_ok, td_arn, tutorial_cluster, tutorial_task_def,
    CLUSTER, FAMILY, SERVICE,
};

#[tokio::test]
async fn task_def_change_registers_revision_2_and_rolls_the_service() {
    let fake = FakeAws::new();
    fake.set_auto_progress(false);
    let (cluster, mut td, mut svc) = steady_plain(&fake, Some(2)).await;

    td.spec.container_definitions[0].environment = env(&[("PROVIDER", "ECS")]);
    bump(&mut td);
    let s = sync_ok(&fake, &mut td, &no_deps()).await;
    assert_eq!(s.status.latest_revision, Some(2));
    assert_eq!(s.status.task_definition_arn.as_deref(), Some(&*td_arn(2)));
    assert_eq!(s.status.active_revisions, [1, 2]);
    assert!(has_note(&s.notes, "Registered", "hello-world-task:2"));
    assert!(
        has_note(
            &s.notes,
            "Updated",
            "task definition revision hello-world-task:1 → hello-world-task:2"
        ),
        "{:?}",
        s.notes
    );
    assert_eq!(fake.count("ecs:RegisterTaskDefinition"), 2);
    assert_eq!(
        fake.registered_inputs()[1].definition.container_definitions[0].environment,
        env(&[("PROVIDER", "ECS")])
    );
    // Synced again: still revision 2.
    sync_ok(&fake, &mut td, &no_deps()).await;
    assert_eq!(fake.count("ecs:RegisterTaskDefinition"), 2);

    let deps = deps_for(&cluster, &td);
    assert_eq!(deps.task_definition, td_arn(2));
    let s = sync_ok(&fake, &mut svc, &deps).await;
    let update = fake.service_updates().pop().expect("an UpdateService call");
    assert_eq!(update.task_definition, Some(td_arn(2)));
    assert_eq!(update.desired_count, None);
    assert!(!update.force_new_deployment);
    assert!(has_note(&s.notes, "RollingUpdate", &td_arn(2)));
    assert!(
        s.drift.is_empty() && !s.notes.iter().any(|n| n.reason == "DriftCorrected"),
        "following the EcsTaskDef is a rollout, not drift: {:?}",
        s.notes
    );
    assert_eq!(not_ready_reason(&s).unwrap().0, "DeploymentInProgress");
    assert!(progressing(&s).status);
    assert_eq!(s.status.deployments.len(), 2);
    assert_eq!(s.status.deployments[0].status, "PRIMARY");
    assert_eq!(
        s.status.task_definition.as_deref(),
        Some("hello-world-task:2")
    );

    // Progressing until the fake completes the deployment, without further updates.
    fake.tick();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert!(is_ready(&s), "{:?}", s.readiness);
    assert!(!progressing(&s).status);
    assert_eq!(s.status.deployments.len(), 1);
    assert_eq!(fake.count("ecs:UpdateService"), 1);
}

#[tokio::test]
async fn aws_side_defaults_and_env_order_do_not_register_a_revision() {
    let fake = FakeAws::new();
    let mut td = tutorial_task_def();
    td.spec.container_definitions[0].environment = env(&[("A", "1"), ("B", "2")]);
    sync_ok(&fake, &mut td, &no_deps()).await;

    // What ECS reports back by default, spelled out; the environment reordered; settings
    // that are not part of the definition.
    let c = &mut td.spec.container_definitions[0];
    c.environment = env(&[("B", "2"), ("A", "1")]);
    c.essential = Some(true);
    c.port_mappings[0].protocol = None;
    td.spec.revision_history_limit = Some(10);
    td.spec.tags.insert("team".into(), "web".into());
    bump(&mut td);
    fake.clear_calls();
    let s = sync_ok(&fake, &mut td, &no_deps()).await;
    assert_eq!(s.status.latest_revision, Some(1));
    assert_eq!(fake.count("ecs:RegisterTaskDefinition"), 0);
    // Only the new user tag is written, on the existing revision.
    assert_eq!(fake.mutating_calls(), ["ecs:TagResource"]);
    let rev = &fake.task_definition_revisions(FAMILY)[0];
    assert_eq!(rev.tags.get("team").map(String::as_str), Some("web"));
}

#[tokio::test]
async fn revision_history_limit_prunes_old_revisions_but_keeps_those_in_use() {
    let fake = FakeAws::new();
    let mut td = tutorial_task_def();
    td.spec.revision_history_limit = Some(2);
    // A service still runs revision 1.
    let mut user = plain_service(Some(1));
    user.status = Some(EcsServiceStatus {
        deployments: vec![DeploymentStatus {
            id: "ecs-svc/1".into(),
            status: "PRIMARY".into(),
            task_definition: td_arn(1),
            ..Default::default()
        }],
        ..Default::default()
    });
    let deps = TaskDefDeps {
        in_use: revisions_in_use(&[user], FAMILY, FAMILY),
        ..Default::default()
    };
    assert_eq!(deps.in_use, BTreeSet::from([1]));

    for image in ["v1", "v2", "v3", "v4", "v5"] {
        td.spec.container_definitions[0].image = format!("training/webapp:{image}");
        bump(&mut td);
        sync_ok(&fake, &mut td, &deps).await;
    }
    let status = td.status.as_ref().unwrap();
    assert_eq!(status.latest_revision, Some(5));
    assert_eq!(status.active_revisions, [1, 4, 5]);
    let listed = fake
        .clients(None)
        .ecs
        .list_task_definitions(FAMILY)
        .await
        .unwrap();
    assert_eq!(listed, [td_arn(1), td_arn(4), td_arn(5)]);
    assert_eq!(fake.count("ecs:DeregisterTaskDefinition"), 2);
    let statuses: Vec<String> = fake
        .task_definition_revisions(FAMILY)
        .into_iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses,
        ["ACTIVE", "INACTIVE", "INACTIVE", "ACTIVE", "ACTIVE"]
    );
}

#[tokio::test]
async fn revision_history_keeps_the_rollback_target_of_a_running_deployment() {
    let fake = FakeAws::new();
    let (cluster, mut td, mut svc) = steady_tutorial(&fake).await;
    let cluster_arn = cluster
        .status
        .as_ref()
        .and_then(|s| s.cluster_arn.clone())
        .expect("cluster arn");
    td.spec.revision_history_limit = Some(1);
    fake.set_auto_progress(false);
    // Revision 2, and the service starts rolling to it: revision 1 is its rollback target.
    td.spec.container_definitions[0].image = "training/webapp:v2".into();
    bump(&mut td);
    let deps = TaskDefDeps {
        clusters: BTreeSet::from([cluster_arn]),
        ..Default::default()
    };
    sync_ok(&fake, &mut td, &deps).await;
    sync_ok(&fake, &mut svc, &deps_for(&cluster, &td)).await;
    // Revision 3 while the rollout from 1 to 2 runs; the EcsService status is not trusted.
    svc.status = None;
    td.spec.container_definitions[0].image = "training/webapp:v3".into();
    bump(&mut td);
    let s = sync_ok(&fake, &mut td, &deps).await;
    assert_eq!(s.status.latest_revision, Some(3));
    let statuses: Vec<String> = fake
        .task_definition_revisions(FAMILY)
        .into_iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses,
        ["ACTIVE", "ACTIVE", "ACTIVE"],
        "1 (rollback target) and 2 (rolling out) are kept although the limit is 1"
    );
}

#[tokio::test]
async fn pinned_family_revision_is_resolved_to_its_arn() {
    let fake = FakeAws::new();
    let (cluster, mut td, mut svc) = steady_plain(&fake, Some(1)).await;
    td.spec.container_definitions[0].image = "training/webapp:v2".into();
    bump(&mut td);
    sync_ok(&fake, &mut td, &no_deps()).await;

    // Pinned to revision 1 (what dereference makes of `taskDefRef.revision: 1`).
    let pinned = ServiceDeps {
        cluster: deps_for(&cluster, &td).cluster,
        task_definition: format!("{FAMILY}:1"),
    };
    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &pinned).await;
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
    assert_eq!(
        s.status.task_definition.as_deref(),
        Some("hello-world-task:1")
    );

    // A revision that does not exist: the spec must change.
    let missing = ServiceDeps {
        task_definition: format!("{FAMILY}:9"),
        ..pinned
    };
    let e = sync(&fake, &mut svc, &missing, false).await.unwrap_err();
    assert!(matches!(e, Error::InvalidSpec(_)), "{e}");
}

#[tokio::test]
async fn restarted_at_annotation_forces_exactly_one_deployment() {
    let fake = FakeAws::new();
    fake.set_auto_progress(false);
    let (cluster, td, mut svc) = steady_plain(&fake, Some(2)).await;
    let deps = deps_for(&cluster, &td);

    svc.annotations_mut().insert(
        RESTARTED_AT_ANNOTATION.into(),
        "2024-05-01T10:00:00Z".into(),
    );
    let s = sync_ok(&fake, &mut svc, &deps).await;
    let update = fake.service_updates().pop().unwrap();
    assert!(update.force_new_deployment);
    assert_eq!(update.task_definition, None);
    assert!(has_note(&s.notes, "Restarted", "forced a new deployment"));
    assert_eq!(
        s.status.restarted_at.as_deref(),
        Some("2024-05-01T10:00:00Z")
    );
    assert_eq!(s.status.deployments.len(), 2);
    assert!(progressing(&s).status);

    // The same annotation value again (resyncs, a restart of the operator): nothing.
    fake.tick();
    for _ in 0..3 {
        let s = sync_ok(&fake, &mut svc, &deps).await;
        assert!(is_ready(&s), "{:?}", s.readiness);
    }
    assert_eq!(fake.count("ecs:UpdateService"), 1);
    assert_eq!(fake.service(CLUSTER, SERVICE).unwrap().deployments.len(), 1);

    // A new value: one more.
    svc.annotations_mut().insert(
        RESTARTED_AT_ANNOTATION.into(),
        "2024-05-02T10:00:00Z".into(),
    );
    sync_ok(&fake, &mut svc, &deps).await;
    sync_ok(&fake, &mut svc, &deps).await;
    assert_eq!(fake.count("ecs:UpdateService"), 2);
}

// ---------------------------------------------------------------------------------------
// Rollouts that fail
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn failed_deployment_without_rollback_reports_deployment_failed() {
    let fake = FakeAws::new();
    fake.set_auto_progress(false);
    let (cluster, mut td, mut svc) = steady_plain(&fake, Some(2)).await;
    svc.spec.deployment_configuration = Some(DeploymentConfiguration {
        deployment_circuit_breaker: Some(DeploymentCircuitBreaker {
            enable: true,
            rollback: false,
        }),
        ..Default::default()
    });
    bump(&mut svc);
    sync_ok(&fake, &mut svc, &deps_for(&cluster, &td)).await;

    td.spec.container_definitions[0].image = "training/webapp:broken".into();
    bump(&mut td);
    sync_ok(&fake, &mut td, &no_deps()).await;
    fake.break_task_definition(&td_arn(2));
    let deps = deps_for(&cluster, &td);
    sync_ok(&fake, &mut svc, &deps).await;
    fake.tick();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    let (reason, message) = not_ready_reason(&s).unwrap();
    assert_eq!(reason, "DeploymentFailed");
    assert!(message.contains("circuit breaker"), "{message}");
    let p = progressing(&s);
    assert!(!p.status);
    assert_eq!(p.reason, "DeploymentFailed");
    // The spec is unchanged: the failed revision is not deployed again.
    fake.tick();
    sync_ok(&fake, &mut svc, &deps).await;
    assert_eq!(
        fake.service_updates()
            .iter()
            .filter(|u| u.task_definition.is_some())
            .count(),
        1
    );
}

/// With the circuit breaker's rollback, ECS puts the previous task definition back on the
/// service; the operator must not roll the failed revision out again and again.
#[tokio::test]
async fn circuit_breaker_rollback_is_not_fought() {
    let fake = FakeAws::new();
    fake.set_auto_progress(false);
    let (cluster, mut td, mut svc) = steady_plain(&fake, Some(2)).await;
    svc.spec.deployment_configuration = Some(DeploymentConfiguration {
        deployment_circuit_breaker: Some(DeploymentCircuitBreaker {
            enable: true,
            rollback: true,
        }),
        ..Default::default()
    });
    bump(&mut svc);
    sync_ok(&fake, &mut svc, &deps_for(&cluster, &td)).await;
    td.spec.container_definitions[0].image = "training/webapp:broken".into();
    bump(&mut td);
    sync_ok(&fake, &mut td, &no_deps()).await;
    fake.break_task_definition(&td_arn(2));
    let deps = deps_for(&cluster, &td);
    for _ in 0..4 {
        sync(&fake, &mut svc, &deps, false).await.unwrap();
        fake.tick();
    }
    let rollouts = fake
        .service_updates()
        .iter()
        .filter(|u| u.task_definition.as_deref() == Some(td_arn(2).as_str()))
        .count();
    assert_eq!(
        rollouts, 1,
        "the failed revision was rolled out {rollouts} times"
    );
}

// ---------------------------------------------------------------------------------------
// A capacity problem never blocks a deploy
// ---------------------------------------------------------------------------------------

/// The Ready condition the generic reconciler writes for a sync's readiness.
fn ready_condition(
    status: &str,
    reason: &str,
    generation: Option<i64>,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
        type_: "Ready".into(),
        status: status.into(),
        reason: reason.into(),
        message: String::new(),
        observed_generation: generation,
        last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            jiff::Timestamp::UNIX_EPOCH,
        ),
    }
}

#[tokio::test]
async fn a_cluster_short_of_capacity_does_not_block_a_service_update() {
    let fake = FakeAws::new();
    fake.set_auto_progress(false);
    fake.set_require_capacity(true);

    // Its instances are not in service (replacement, scale-out, no such instance type
    // available): the EcsCluster is not Ready, but its ECS cluster is ACTIVE.
    let mut cluster = tutorial_cluster();
    let s = sync_ok(&fake, &mut cluster, &()).await;
    assert_eq!(not_ready_reason(&s).unwrap().0, "ScalingCapacity");
    assert_eq!(s.status.cluster_status.as_deref(), Some("ACTIVE"));
    let gen = cluster.metadata.generation;
    cluster.status.as_mut().unwrap().common.conditions =
        vec![ready_condition("False", "ScalingCapacity", gen)];
    let arn = cluster_usable(&cluster).expect("an ACTIVE ECS cluster takes deploys");
    assert_eq!(
        Some(&arn),
        cluster.status.as_ref().unwrap().cluster_arn.as_ref()
    );

    let mut td = tutorial_task_def();
    sync_ok(&fake, &mut td, &no_deps()).await;
    let mut svc = plain_service(Some(2));
    sync_ok(&fake, &mut svc, &deps_for(&cluster, &td)).await;

    // A new revision while the cluster is still short: the service rolls to it.
    td.spec.container_definitions[0].environment = env(&[("PROVIDER", "ECS")]);
    bump(&mut td);
    sync_ok(&fake, &mut td, &no_deps()).await;
    assert!(cluster_usable(&cluster).is_ok());
    let s = sync_ok(&fake, &mut svc, &deps_for(&cluster, &td)).await;
    assert!(
        has_note(&s.notes, "RollingUpdate", &td_arn(2)),
        "{:?}",
        s.notes
    );
    assert_eq!(
        fake.service_updates().pop().unwrap().task_definition,
        Some(td_arn(2))
    );

    // What does block: an ECS cluster that is not ACTIVE, or an EcsCluster being deleted.
    cluster.status.as_mut().unwrap().cluster_status = Some("PROVISIONING".into());
    assert!(cluster_usable(&cluster)
        .unwrap_err()
        .contains("PROVISIONING"));
    cluster.status.as_mut().unwrap().cluster_status = Some("ACTIVE".into());
    cluster.metadata.deletion_timestamp = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH),
    );
    assert!(cluster_usable(&cluster)
        .unwrap_err()
        .contains("being deleted"));
}
