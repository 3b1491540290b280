//! Deletion: each kind's cleanup, in order, waiting for what still runs.

use std::collections::BTreeSet;

use kube::ResourceExt;

use ecs_operator::aws::fake::FakeAws;
use ecs_operator::aws::types::RegisterTaskDefinitionInput;
use ecs_operator::aws::AwsProvider;
use ecs_operator::planning::ownership::owner_value;
use ecs_operator::reconciler::cluster::ClusterCleanupDeps;
use ecs_operator::reconciler::managed::{Cleanup, ManagedResource};
use ecs_operator::reconciler::service::ServiceCleanupDeps;
use ecs_operator::reconciler::task_def::TaskDefDeps;

use super::support::{
    bare_cluster, bump, cleanup, cleanup_with, cx, deps_for, has_note, no_deps, owned_by,
    steady_plain, steady_tutorial, sync, sync_ok, tutorial_service, tutorial_task_def,
    waiting_message, CLUSTER, ELB, FAMILY, NS, SERVICE,
};

#[tokio::test]
async fn service_cleanup_scales_to_zero_deletes_waits_for_inactive_then_deletes_the_elb() {
    let fake = FakeAws::new();
    let (_cluster, _td, svc) = steady_tutorial(&fake).await;
    fake.set_auto_progress(false);

    fake.clear_calls();
    let c = cleanup(&fake, &svc).await;
    assert!(waiting_message(&c).contains("INACTIVE"));
    assert_eq!(
        fake.mutating_calls(),
        ["ecs:UpdateService", "ecs:DeleteService"]
    );
    assert_eq!(fake.service_updates().pop().unwrap().desired_count, Some(0));
    assert_eq!(fake.service(CLUSTER, SERVICE).unwrap().status, "DRAINING");
    assert!(
        fake.load_balancer(ELB).is_some(),
        "the ELB outlives the service"
    );

    fake.clear_calls();
    let c = cleanup(&fake, &svc).await;
    assert!(waiting_message(&c).contains("INACTIVE"));
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());

    fake.tick();
    fake.clear_calls();
    let c = cleanup(&fake, &svc).await;
    let Cleanup::Done(notes) = c else {
        panic!("expected Done, got {c:?}")
    };
    assert!(has_note(&notes, "Deleted", ELB));
    assert_eq!(
        fake.mutating_calls(),
        ["elasticloadbalancing:DeleteLoadBalancer"]
    );
    assert!(fake.load_balancer(ELB).is_none());
    assert_eq!(fake.service(CLUSTER, SERVICE).unwrap().status, "INACTIVE");

    // Cleanup again (a second reconcile before the finalizer is gone): still done.
    assert!(matches!(cleanup(&fake, &svc).await, Cleanup::Done(_)));
}

#[tokio::test]
async fn cluster_cleanup_waits_for_services_then_deletes_group_template_and_cluster() {
    let fake = FakeAws::new();
    let (cluster, _td, svc) = steady_tutorial(&fake).await;
    fake.set_auto_progress(false);

    fake.clear_calls();
    let c = cleanup(&fake, &cluster).await;
    assert!(waiting_message(&c).contains("1 services"), "{c:?}");
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());

    // The service goes first.
    assert!(matches!(
        cleanup(&fake, &svc).await,
        Cleanup::Waiting { .. }
    ));
    fake.tick();
    assert!(matches!(cleanup(&fake, &svc).await, Cleanup::Done(_)));

    // Then the capacity, in order: scale in, await the instances, delete the group, await
    // it, delete the template, and the cluster last.
    fake.clear_calls();
    let mut steps = 0;
    loop {
        let c = cleanup(&fake, &cluster).await;
        if matches!(c, Cleanup::Done(_)) {
            break;
        }
        assert!(waiting_message(&c).contains("Auto Scaling group"), "{c:?}");
        if let Some(g) = fake.group("my-ecs-cluster-ecs-capacity") {
            let deleting = fake.count("autoscaling:DeleteAutoScalingGroup") > 0;
            assert!(
                deleting || g.status.is_none(),
                "the group is never force-deleted with its instances"
            );
        }
        fake.tick();
        steps += 1;
        assert!(
            steps < 20,
            "capacity removal did not finish: {:?}",
            fake.calls()
        );
    }
    assert_eq!(
        fake.mutating_calls(),
        [
            "autoscaling:UpdateAutoScalingGroup",
            "autoscaling:DeleteAutoScalingGroup",
            "ec2:DeleteLaunchTemplate",
            "ecs:DeleteCluster"
        ]
    );
    assert!(fake.groups().is_empty());
    assert!(fake.launch_templates().is_empty());
    assert_eq!(fake.cluster(CLUSTER).unwrap().status, "INACTIVE");
}

#[tokio::test]
async fn task_def_cleanup_deregisters_every_owned_revision_and_no_other() {
    let fake = FakeAws::new();
    let mut td = tutorial_task_def();
    sync_ok(&fake, &mut td, &no_deps()).await;
    td.spec.container_definitions[0].image = "training/webapp:v2".into();
    bump(&mut td);
    sync_ok(&fake, &mut td, &no_deps()).await;
    // Someone else registers revision 3 of the same family.
    let other = owner_value("other-mc", NS, "EcsTaskDef", FAMILY);
    fake.clients(None)
        .ecs
        .register_task_definition(&RegisterTaskDefinitionInput {
            family: FAMILY.into(),
            definition: tutorial_task_def().spec,
            tags: owned_by(&other),
        })
        .await
        .unwrap();

    fake.clear_calls();
    assert!(matches!(cleanup(&fake, &td).await, Cleanup::Done(_)));
    assert_eq!(fake.count("ecs:DeregisterTaskDefinition"), 2);
    let statuses: Vec<String> = fake
        .task_definition_revisions(FAMILY)
        .into_iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, ["INACTIVE", "INACTIVE", "ACTIVE"]);
}

/// The service was created but the sync that created it never returned (response lost,
/// operator restarted), so the object has no status. Deleting the object must not leave
/// the ECS service running (nor delete the ELB under it).
#[tokio::test]
async fn cleanup_of_a_service_whose_create_response_was_lost_deletes_it() {
    let fake = FakeAws::new();
    let mut cluster = bare_cluster();
    sync_ok(&fake, &mut cluster, &()).await;
    let mut td = tutorial_task_def();
    sync_ok(&fake, &mut td, &no_deps()).await;
    let mut svc = tutorial_service();
    fake.lose_response_next("ecs:CreateService", 1);
    sync(&fake, &mut svc, &deps_for(&cluster, &td), false)
        .await
        .unwrap_err();
    assert!(svc.status.is_none());
    // The cluster comes from the clusterRef, resolved through Kubernetes.
    let deps = ServiceCleanupDeps {
        cluster: Some(CLUSTER.to_string()),
    };
    let c = cleanup_with(&fake, &svc, &deps).await;
    assert!(
        matches!(c, Cleanup::Waiting { .. }),
        "cleanup finished with the ECS service still {}",
        fake.service(CLUSTER, SERVICE).unwrap().status
    );
    assert!(fake.load_balancer(ELB).is_some());
}

/// Cluster deletion while a deleted service still drains: the contract says deletion waits
/// "(condition says why) while ECS services still run in the cluster".
#[tokio::test]
async fn cluster_cleanup_waits_while_a_service_drains() {
    let fake = FakeAws::new();
    let (cluster, _td, svc) = steady_tutorial(&fake).await;
    // Tasks stop one per step from now on: the service drains for four steps.
    fake.set_tasks_per_step(Some(1));
    fake.set_auto_progress(false);
    assert!(matches!(
        cleanup(&fake, &svc).await,
        Cleanup::Waiting { .. }
    ));
    assert_eq!(fake.service(CLUSTER, SERVICE).unwrap().status, "DRAINING");
    // The EcsService keeps its finalizer until ECS reports it INACTIVE: the cluster waits
    // for it and deletes nothing.
    let deps = ClusterCleanupDeps {
        services: vec![svc.name_any()],
    };
    let before = fake.mutating_calls().len();
    match cleanup_with(&fake, &cluster, &deps).await {
        Cleanup::Waiting { message, .. } => assert!(message.contains(&svc.name_any()), "{message}"),
        other => panic!("expected Waiting, got {other:?}"),
    }
    assert_eq!(
        fake.mutating_calls().len(),
        before,
        "nothing may be deleted yet"
    );
}

/// Without an EcsService in Kubernetes (a service made by hand, already deleted and
/// draining), DeleteCluster's dependency error is a reason to wait, not a failure.
#[tokio::test]
async fn cluster_deletion_refused_by_ecs_waits() {
    let fake = FakeAws::new();
    let (cluster, _td, svc) = steady_plain(&fake, Some(2)).await;
    fake.set_tasks_per_step(Some(1));
    fake.set_auto_progress(false);
    assert!(matches!(
        cleanup(&fake, &svc).await,
        Cleanup::Waiting { .. }
    ));
    assert_eq!(fake.service(CLUSTER, SERVICE).unwrap().status, "DRAINING");
    let result = cluster
        .cleanup(&ClusterCleanupDeps::default(), &cx(&fake, &cluster, false))
        .await;
    match result {
        Ok(Cleanup::Waiting { message, .. }) => assert!(message.contains("not empty"), "{message}"),
        other => panic!("expected Waiting, got {other:?}"),
    }
    assert_eq!(fake.count("ecs:DeleteCluster"), 1);
}

#[tokio::test]
async fn task_def_deletion_waits_while_ecs_still_runs_one_of_its_revisions() {
    let fake = FakeAws::new();
    let (cluster, td, svc) = steady_tutorial(&fake).await;
    let cluster_arn = cluster
        .status
        .as_ref()
        .and_then(|s| s.cluster_arn.clone())
        .expect("cluster arn");
    // Kubernetes knows nothing of the service (its EcsService status is gone): ECS does.
    let deps = TaskDefDeps {
        clusters: BTreeSet::from([cluster_arn]),
        ..Default::default()
    };
    fake.clear_calls();
    let c = cleanup_with(&fake, &td, &deps).await;
    assert!(
        waiting_message(&c).contains(&format!("{FAMILY}:1")),
        "{c:?}"
    );
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());

    // Once the service is gone, the revisions go.
    fake.set_auto_progress(false);
    let mut steps = 0;
    while !matches!(cleanup(&fake, &svc).await, Cleanup::Done(_)) {
        fake.tick();
        steps += 1;
        assert!(steps < 10, "service cleanup did not finish");
    }
    assert!(matches!(
        cleanup_with(&fake, &td, &deps).await,
        Cleanup::Done(_)
    ));
    assert_eq!(fake.task_definition_revisions(FAMILY)[0].status, "INACTIVE");
}
