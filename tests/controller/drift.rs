//! Drift: what changed in AWS behind the operator's back is corrected and reported (old and
//! new values, counted per field), unlike spec edits and an unmanaged desiredCount.

use ecs_operator::aws::fake::FakeAws;
use ecs_operator::aws::AwsProvider;
use ecs_operator::planning::drift::{Drift, Resource as Owned};
use ecs_operator::reconciler::error::Error;
use ecs_operator::reconciler::managed::Note;
use ecs_operator::telemetry::metrics::Metrics;

use super::support::{
    bump, deps_for, has_note, no_deps, steady_plain, sync, sync_counted, sync_ok, tags, td_arn,
    tutorial_task_def, CLUSTER, FAMILY, SERVICE,
};

#[tokio::test]
async fn absent_desired_count_is_1_at_creation_and_never_reverted() {
    let fake = FakeAws::new();
    let (cluster, td, mut svc) = steady_plain(&fake, None).await;
    assert_eq!(fake.service_creates()[0].desired_count, 1);

    fake.set_desired_count(CLUSTER, SERVICE, 3);
    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &deps_for(&cluster, &td)).await;
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
    assert_eq!(s.status.desired_count, Some(3));
    assert_eq!(fake.service(CLUSTER, SERVICE).unwrap().desired_count, 3);
}

#[tokio::test]
async fn managed_desired_count_drift_is_reverted_with_a_note() {
    let fake = FakeAws::new();
    let (cluster, td, mut svc) = steady_plain(&fake, Some(4)).await;

    fake.set_desired_count(CLUSTER, SERVICE, 7);
    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &deps_for(&cluster, &td)).await;
    assert_eq!(fake.mutating_calls(), ["ecs:UpdateService"]);
    let update = fake.service_updates().pop().unwrap();
    assert_eq!(update.desired_count, Some(4));
    assert_eq!(update.task_definition, None);
    assert!(!update.force_new_deployment);
    assert!(
        has_note(&s.notes, "DriftCorrected", "desiredCount 7 → 4"),
        "{:?}",
        s.notes
    );
    assert_eq!(fake.service(CLUSTER, SERVICE).unwrap().desired_count, 4);
}

#[tokio::test]
async fn drift_is_one_event_with_old_and_new_values_and_counted_per_field_but_spec_edits_are_not() {
    let fake = FakeAws::new();
    let metrics = Metrics::default();
    let (cluster, td, mut svc) = steady_plain(&fake, Some(4)).await;
    let deps = deps_for(&cluster, &td);
    let counted = |field: &str| {
        let series = format!(
            "ecs_operator_drift_corrections_total{{kind=\"EcsService\",resource=\"ecs_service\",field=\"{field}\"}}"
        );
        metrics
            .encode()
            .expect("metrics encode")
            .lines()
            .find_map(|l| {
                l.strip_prefix(series.as_str())
                    .map(|v| v.trim().to_string())
            })
    };

    // Changed behind the operator's back.
    fake.set_desired_count(CLUSTER, SERVICE, 7);
    let s = sync_counted(&fake, &mut svc, &deps, false, &metrics)
        .await
        .expect("sync");
    assert_eq!(
        s.drift,
        [Drift::new(Owned::EcsService, "desiredCount", "7", "4")]
    );
    let corrections: Vec<&Note> = s
        .notes
        .iter()
        .filter(|n| n.reason == "DriftCorrected" || n.reason == "Updated")
        .collect();
    assert_eq!(
        corrections,
        [&Note::normal(
            "DriftCorrected",
            "corrected drift: ECS service desiredCount 7 → 4"
        )]
    );
    assert_eq!(counted("desiredCount").as_deref(), Some("1"));

    // Converged: nothing to report, nothing counted.
    let s = sync_counted(&fake, &mut svc, &deps, false, &metrics)
        .await
        .expect("sync");
    assert!(s.drift.is_empty() && s.notes.is_empty(), "{:?}", s.notes);
    assert_eq!(counted("desiredCount").as_deref(), Some("1"));

    // The user's edit: Updated, with the same old → new wording, and not drift.
    svc.spec.desired_count = Some(2);
    bump(&mut svc);
    let s = sync_counted(&fake, &mut svc, &deps, false, &metrics)
        .await
        .expect("sync");
    assert!(
        has_note(
            &s.notes,
            "Updated",
            "applied the spec: ECS service desiredCount 4 → 2"
        ),
        "{:?}",
        s.notes
    );
    assert!(
        !s.notes.iter().any(|n| n.reason == "DriftCorrected"),
        "{:?}",
        s.notes
    );
    assert_eq!(counted("desiredCount").as_deref(), Some("1"));
    assert_eq!(fake.service(CLUSTER, SERVICE).unwrap().desired_count, 2);
}

#[tokio::test]
async fn a_user_tag_taken_off_in_aws_is_drift_of_the_tags_field() {
    let fake = FakeAws::new();
    let metrics = Metrics::default();
    let (cluster, td, mut svc) = steady_plain(&fake, Some(1)).await;
    svc.spec.tags = tags(&[("team", "web")]);
    bump(&mut svc);
    let deps = deps_for(&cluster, &td);
    let s = sync_counted(&fake, &mut svc, &deps, false, &metrics)
        .await
        .expect("sync");
    assert!(
        has_note(&s.notes, "Updated", "ECS service tags {} → {team=web}"),
        "{:?}",
        s.notes
    );

    let service_arn = fake.service(CLUSTER, SERVICE).unwrap().arn;
    fake.clients(None)
        .ecs
        .untag_resource(&service_arn, &["team".to_string()])
        .await
        .unwrap();
    let s = sync_counted(&fake, &mut svc, &deps, false, &metrics)
        .await
        .expect("sync");
    assert_eq!(
        s.drift,
        [Drift::new(Owned::EcsService, "tags", "{}", "{team=web}")]
    );
    assert!(
        has_note(
            &s.notes,
            "DriftCorrected",
            "corrected drift: ECS service tags {} → {team=web}"
        ),
        "{:?}",
        s.notes
    );
    let text = metrics.encode().expect("metrics encode");
    assert!(
        text.contains(
            "ecs_operator_drift_corrections_total{kind=\"EcsService\",resource=\"ecs_service\",field=\"tags\"} 1"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn a_latest_revision_deregistered_behind_our_back_is_drift_named_by_revision() {
    let fake = FakeAws::new();
    let mut td = tutorial_task_def();
    sync_ok(&fake, &mut td, &no_deps()).await;
    td.spec.container_definitions[0].image = "training/webapp:v2".into();
    bump(&mut td);
    sync_ok(&fake, &mut td, &no_deps()).await;

    fake.clients(None)
        .ecs
        .deregister_task_definition(&td_arn(2))
        .await
        .unwrap();
    let s = sync_ok(&fake, &mut td, &no_deps()).await;
    assert_eq!(s.status.latest_revision, Some(3));
    assert_eq!(
        s.drift,
        [Drift::new(
            Owned::TaskDefinition,
            "revision",
            format!("{FAMILY}:1"),
            format!("{FAMILY}:3")
        )]
    );
    assert!(
        has_note(
            &s.notes,
            "DriftCorrected",
            "corrected drift: task definition revision hello-world-task:1 → hello-world-task:3"
        ),
        "{:?}",
        s.notes
    );
    // Registered from the same spec: the next sync has nothing to correct.
    let s = sync_ok(&fake, &mut td, &no_deps()).await;
    assert!(s.drift.is_empty() && s.notes.is_empty(), "{:?}", s.notes);
}

#[tokio::test]
async fn service_waits_while_its_previous_incarnation_drains_then_is_created_again() {
    let fake = FakeAws::new();
    fake.set_auto_progress(false);
    let (cluster, td, mut svc) = steady_plain(&fake, Some(1)).await;
    let deps = deps_for(&cluster, &td);
    // Someone deletes the service behind the operator's back.
    fake.set_desired_count(CLUSTER, SERVICE, 0);
    fake.clients(None)
        .ecs
        .delete_service(CLUSTER, SERVICE)
        .await
        .unwrap();
    let e = sync(&fake, &mut svc, &deps, false).await.unwrap_err();
    assert!(matches!(e, Error::WaitingForDependency(_)), "{e}");
    fake.tick();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert!(has_note(&s.notes, "Created", SERVICE));
    assert_eq!(fake.services().len(), 2);
    assert_eq!(fake.service(CLUSTER, SERVICE).unwrap().status, "ACTIVE");
    assert_eq!(fake.service(CLUSTER, SERVICE).unwrap().desired_count, 1);
}
