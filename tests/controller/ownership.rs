//! Ownership: an unowned service, cluster or ELB is a conflict unless adopted, and one of
//! another management cluster is never taken.

use ecs_operator::api::cluster::{EcsCluster, EcsClusterSpec};
use ecs_operator::api::service::LoadBalancerScheme;
use ecs_operator::aws::fake::FakeAws;
use ecs_operator::aws::types::{
    CreateLoadBalancerInput, CreateServiceInput, RegisterTaskDefinitionInput, Tags,
};
use ecs_operator::aws::AwsProvider;
use ecs_operator::planning::ownership::{owner_value, OWNER_TAG};
use ecs_operator::reconciler::service::ServiceDeps;

use super::support::{
    assert_conflict, bare_cluster, deps_for, has_note, health_check, http_listener, no_deps,
    owned_by, owner, plain_service, sync, sync_ok, td_arn, tutorial_service, tutorial_task_def,
    with_meta, CLUSTER, ELB, NS, SERVICE,
};

/// A service of the tutorial's name created by someone else with these tags.
async fn foreign_service(fake: &FakeAws, tags: Tags) {
    let ecs = fake.clients(None).ecs;
    ecs.create_cluster(CLUSTER, &Tags::new()).await.unwrap();
    let td = ecs
        .register_task_definition(&RegisterTaskDefinitionInput {
            family: "other".into(),
            definition: tutorial_task_def().spec,
            tags: Tags::new(),
        })
        .await
        .unwrap();
    ecs.create_service(&CreateServiceInput {
        cluster: CLUSTER.into(),
        name: SERVICE.into(),
        task_definition: td.arn,
        desired_count: 1,
        tags,
        client_token: "someone-else".into(),
        ..Default::default()
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn unowned_service_is_a_conflict_unless_adopted() {
    let fake = FakeAws::new();
    foreign_service(&fake, Tags::new()).await;
    let mut td = tutorial_task_def();
    sync_ok(&fake, &mut td, &no_deps()).await;
    let deps = ServiceDeps {
        cluster: CLUSTER.into(),
        task_definition: td_arn(1),
    };
    let mut svc = plain_service(Some(1));

    fake.clear_calls();
    assert_conflict(
        sync(&fake, &mut svc, &deps, false).await,
        "ecsoperator.io/adopt",
    );
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
    assert!(fake.service(CLUSTER, SERVICE).unwrap().tags.is_empty());

    let s = sync(&fake, &mut svc, &deps, true).await.unwrap();
    assert!(has_note(&s.notes, "Adopted", SERVICE));
    let tags = fake.service(CLUSTER, SERVICE).unwrap().tags;
    assert_eq!(tags.get(OWNER_TAG), Some(&owner("EcsService", SERVICE)));
    assert_eq!(fake.services().len(), 1);
    // Adopted, the service follows the spec: it runs our task definition now.
    assert_eq!(
        fake.service(CLUSTER, SERVICE).unwrap().task_definition,
        td_arn(1)
    );
}

#[tokio::test]
async fn service_owned_by_another_management_cluster_is_a_conflict_even_with_adopt() {
    let fake = FakeAws::new();
    let other = owner_value("other-mc", NS, "EcsService", SERVICE);
    foreign_service(&fake, owned_by(&other)).await;
    let mut td = tutorial_task_def();
    sync_ok(&fake, &mut td, &no_deps()).await;
    let deps = ServiceDeps {
        cluster: CLUSTER.into(),
        task_definition: td_arn(1),
    };
    let mut svc = plain_service(Some(3));
    fake.clear_calls();
    assert_conflict(sync(&fake, &mut svc, &deps, true).await, "other-mc/");
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
    let s = fake.service(CLUSTER, SERVICE).unwrap();
    assert_eq!(s.tags.get(OWNER_TAG), Some(&other));
    assert_eq!(s.desired_count, 1);
}

#[tokio::test]
async fn unowned_cluster_is_a_conflict_unless_adopted_and_never_taken_from_another_owner() {
    let fake = FakeAws::new();
    let ecs = fake.clients(None).ecs;
    ecs.create_cluster(CLUSTER, &Tags::new()).await.unwrap();
    let mut cluster = bare_cluster();
    assert_conflict(sync(&fake, &mut cluster, &(), false).await, CLUSTER);
    assert!(fake.cluster(CLUSTER).unwrap().tags.is_empty());
    let s = sync(&fake, &mut cluster, &(), true).await.unwrap();
    assert!(has_note(&s.notes, "Adopted", CLUSTER));
    assert_eq!(
        fake.cluster(CLUSTER).unwrap().tags.get(OWNER_TAG),
        Some(&owner("EcsCluster", CLUSTER))
    );

    let other = owner_value("other-mc", NS, "EcsCluster", "c2");
    ecs.create_cluster("c2", &owned_by(&other)).await.unwrap();
    let mut c2 = with_meta(EcsCluster::new("c2", EcsClusterSpec::default()), "uid-c2");
    fake.clear_calls();
    assert_conflict(sync(&fake, &mut c2, &(), true).await, "other-mc/");
    assert!(fake.mutating_calls().is_empty());
    assert_eq!(
        fake.cluster("c2").unwrap().tags.get(OWNER_TAG),
        Some(&other)
    );
}

#[tokio::test]
async fn unowned_elb_is_a_conflict_unless_adopted_and_never_taken_from_another_owner() {
    let fake = FakeAws::new();
    let elb_input = |tags: Tags| CreateLoadBalancerInput {
        name: ELB.into(),
        scheme: LoadBalancerScheme::InternetFacing,
        subnet_ids: vec!["subnet-a".into()],
        security_group_ids: vec![],
        listeners: vec![http_listener(80)],
        tags,
    };
    let elb = fake.clients(None).elb;
    elb.create_load_balancer(&elb_input(Tags::new()))
        .await
        .unwrap();
    let mut cluster = bare_cluster();
    sync_ok(&fake, &mut cluster, &()).await;
    let mut td = tutorial_task_def();
    sync_ok(&fake, &mut td, &no_deps()).await;
    let deps = deps_for(&cluster, &td);
    let mut svc = tutorial_service();

    fake.clear_calls();
    assert_conflict(sync(&fake, &mut svc, &deps, false).await, ELB);
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
    assert!(fake.services().is_empty());

    let s = sync(&fake, &mut svc, &deps, true).await.unwrap();
    assert!(has_note(&s.notes, "Adopted", ELB));
    assert_eq!(
        fake.load_balancer_tags(ELB).unwrap().get(OWNER_TAG),
        Some(&owner("EcsService", SERVICE))
    );
    assert_eq!(
        fake.load_balancer(ELB).unwrap().health_check,
        Some(health_check())
    );

    // Owned by another management cluster: untouched even with adopt.
    elb.delete_load_balancer(ELB).await.unwrap();
    let other = owner_value("other-mc", NS, "EcsService", SERVICE);
    elb.create_load_balancer(&elb_input(owned_by(&other)))
        .await
        .unwrap();
    fake.clear_calls();
    assert_conflict(sync(&fake, &mut svc, &deps, true).await, "other-mc/");
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
}
