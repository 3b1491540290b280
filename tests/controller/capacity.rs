//! A cluster's EC2 capacity: launch template versions and the Auto Scaling group, capacity
//! removed in order, and the capacity provider that scales the group.

use ecs_operator::aws::fake::FakeAws;
use ecs_operator::aws::{AwsErrorKind, AwsProvider};
use ecs_operator::planning::ownership::OWNER_TAG;
use ecs_operator::reconciler::error::{Error, Treatment};
use ecs_operator::reconciler::managed::Cleanup;

use super::support::{
    assert_conflict, bump, cleanup, deps_for, has_note, is_ready, no_deps, not_ready_reason,
    owned_by, owner, plain_service, provider_cluster, strategy_item, sync, sync_ok,
    tutorial_cluster, tutorial_task_def, CLUSTER, PROVIDER,
};

// ---------------------------------------------------------------------------------------
// Capacity changes
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn instance_type_change_creates_launch_template_version_2_and_moves_the_group() {
    let fake = FakeAws::new();
    let mut cluster = tutorial_cluster();
    sync_ok(&fake, &mut cluster, &()).await;
    sync_ok(&fake, &mut cluster, &()).await;
    let lt_id = fake.launch_templates()[0].id.clone();

    cluster.spec.capacity.as_mut().unwrap().instance_type = "t3.small".into();
    bump(&mut cluster);
    fake.clear_calls();
    let s = sync_ok(&fake, &mut cluster, &()).await;
    assert_eq!(
        fake.mutating_calls(),
        [
            "ec2:CreateLaunchTemplateVersion",
            "autoscaling:UpdateAutoScalingGroup"
        ]
    );
    let versions = fake.launch_template_versions("my-ecs-cluster-ecs-capacity");
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1].0.instance_type, "t3.small");
    assert_eq!(
        versions[0].0.user_data_base64,
        versions[1].0.user_data_base64
    );
    let update = fake.group_updates().pop().unwrap();
    assert_eq!(update.launch_template, Some((lt_id.clone(), "2".into())));
    assert_eq!(update.desired_capacity, None);
    let group = fake.group("my-ecs-cluster-ecs-capacity").unwrap();
    assert_eq!(group.launch_template_version.as_deref(), Some("2"));
    let cap = s.status.capacity.as_ref().unwrap();
    assert_eq!(
        (
            cap.launch_template_id.as_str(),
            cap.launch_template_version.as_str()
        ),
        (lt_id.as_str(), "2")
    );
    assert!(
        has_note(&s.notes, "Updated", "launch template version 1 → 2"),
        "{:?}",
        s.notes
    );
    assert!(
        has_note(
            &s.notes,
            "Updated",
            &format!("Auto Scaling group launchTemplate {lt_id}:1 → {lt_id}:2")
        ),
        "{:?}",
        s.notes
    );

    // And only once.
    fake.clear_calls();
    sync_ok(&fake, &mut cluster, &()).await;
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
}

#[tokio::test]
async fn unmanaged_desired_capacity_is_set_once_and_managed_one_is_reverted() {
    let fake = FakeAws::new();
    let mut cluster = tutorial_cluster();
    cluster.spec.capacity.as_mut().unwrap().desired_capacity = None;
    cluster.spec.capacity.as_mut().unwrap().max_size = 8;
    sync_ok(&fake, &mut cluster, &()).await;
    let group = "my-ecs-cluster-ecs-capacity";
    assert_eq!(fake.group(group).unwrap().desired_capacity, 5);

    fake.set_group_desired_capacity(group, 7);
    fake.clear_calls();
    let s = sync_ok(&fake, &mut cluster, &()).await;
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
    assert_eq!(s.status.capacity.unwrap().desired_capacity, 7);

    cluster.spec.capacity.as_mut().unwrap().desired_capacity = Some(6);
    bump(&mut cluster);
    sync_ok(&fake, &mut cluster, &()).await;
    assert_eq!(fake.group(group).unwrap().desired_capacity, 6);
    fake.set_group_desired_capacity(group, 2);
    let s = sync_ok(&fake, &mut cluster, &()).await;
    assert_eq!(fake.group(group).unwrap().desired_capacity, 6);
    assert!(
        has_note(
            &s.notes,
            "DriftCorrected",
            "Auto Scaling group desiredCapacity 2 → 6"
        ),
        "{:?}",
        s.notes
    );
}

#[tokio::test]
async fn capacity_removed_from_the_spec_is_drained_in_order_even_when_status_forgot_it() {
    let fake = FakeAws::new();
    fake.set_auto_progress(false);
    let mut cluster = tutorial_cluster();
    sync_ok(&fake, &mut cluster, &()).await;
    fake.tick();
    sync_ok(&fake, &mut cluster, &()).await;

    cluster.spec.capacity = None;
    bump(&mut cluster);
    // A lost status write: the group and template are found by name and owner tag.
    if let Some(st) = cluster.status.as_mut() {
        st.capacity = None;
    }
    fake.clear_calls();
    let s = sync_ok(&fake, &mut cluster, &()).await;
    assert_eq!(
        not_ready_reason(&s).map(|r| r.0),
        Some("RemovingCapacity"),
        "a capacity removal is reported, not an error"
    );
    assert_eq!(
        fake.mutating_calls(),
        ["autoscaling:UpdateAutoScalingGroup"],
        "scaled in first, not force-deleted"
    );
    let g = fake
        .group("my-ecs-cluster-ecs-capacity")
        .expect("group kept");
    assert_eq!((g.min_size, g.max_size, g.desired_capacity), (0, 0, 0));

    let mut steps = 0;
    let s = loop {
        fake.tick();
        let s = sync_ok(&fake, &mut cluster, &()).await;
        if is_ready(&s) {
            break s;
        }
        steps += 1;
        assert!(
            steps < 20,
            "capacity removal did not finish: {:?}",
            fake.calls()
        );
    };
    assert_eq!(
        fake.mutating_calls(),
        [
            "autoscaling:UpdateAutoScalingGroup",
            "autoscaling:DeleteAutoScalingGroup",
            "ec2:DeleteLaunchTemplate"
        ]
    );
    assert!(s.status.capacity.is_none());
    assert!(fake.groups().is_empty() && fake.launch_templates().is_empty());
    assert_eq!(fake.cluster(CLUSTER).unwrap().status, "ACTIVE");

    fake.clear_calls();
    sync_ok(&fake, &mut cluster, &()).await;
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
}

// ---------------------------------------------------------------------------------------
// Capacity providers
// ---------------------------------------------------------------------------------------

const GROUP: &str = "my-ecs-cluster-ecs-capacity";

#[tokio::test]
async fn capacity_provider_cluster_is_created_in_order_and_a_resync_writes_nothing() {
    let fake = FakeAws::new();
    let mut cluster = provider_cluster();
    let s = sync_ok(&fake, &mut cluster, &()).await;
    assert_eq!(
        fake.mutating_calls(),
        [
            "ecs:CreateCluster",
            "ec2:CreateLaunchTemplate",
            "autoscaling:CreateAutoScalingGroup",
            "ecs:CreateCapacityProvider",
            "ecs:PutClusterCapacityProviders",
        ]
    );
    let group = fake.group(GROUP).expect("group");
    assert!(group.new_instances_protected_from_scale_in);
    assert_eq!(
        group.tags.get("AmazonECSManaged").map(String::as_str),
        Some("true")
    );
    let p = fake.capacity_provider(PROVIDER).expect("provider");
    assert_eq!(Some(&p.auto_scaling_group_arn), group.arn.as_ref());
    assert_eq!(p.status, "ACTIVE");
    assert!(p.settings.managed_termination_protection && p.settings.managed_draining);
    assert_eq!(
        p.settings
            .managed_scaling
            .as_ref()
            .map(|m| m.target_capacity),
        Some(100)
    );
    assert_eq!(
        p.tags.get(OWNER_TAG),
        Some(&owner("EcsCluster", CLUSTER)),
        "claimed like every other owned resource"
    );
    let c = fake.cluster(CLUSTER).unwrap();
    assert_eq!(c.capacity_providers, ["FARGATE", PROVIDER]);
    assert_eq!(c.default_capacity_provider_strategy.len(), 2);
    let cap = s.status.capacity.as_ref().unwrap();
    assert_eq!(cap.capacity_provider_name.as_deref(), Some(PROVIDER));
    assert_eq!(cap.capacity_provider_arn.as_deref(), Some(p.arn.as_str()));
    assert_eq!(cap.capacity_provider_status.as_deref(), Some("ACTIVE"));
    assert_eq!(s.status.capacity_providers, ["FARGATE", PROVIDER]);

    // Resyncs write nothing; ECS scaling the group (managed scaling) is not fought.
    fake.tick();
    fake.clear_calls();
    sync_ok(&fake, &mut cluster, &()).await;
    fake.set_group_desired_capacity(GROUP, 3);
    sync_ok(&fake, &mut cluster, &()).await;
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
    assert_eq!(fake.group(GROUP).unwrap().desired_capacity, 3);
}

#[tokio::test]
async fn capacity_provider_and_cluster_association_drift_are_corrected() {
    use ecs_operator::aws::types::{CapacityProviderSettings, StrategyItem};
    let fake = FakeAws::new();
    let mut cluster = provider_cluster();
    sync_ok(&fake, &mut cluster, &()).await;

    fake.set_capacity_provider_settings(
        PROVIDER,
        CapacityProviderSettings {
            managed_scaling: None,
            managed_termination_protection: false,
            managed_draining: true,
        },
    );
    // Someone detaches FARGATE and rewrites the default strategy.
    let ecs = fake.clients(None).ecs;
    ecs.put_cluster_capacity_providers(
        CLUSTER,
        &[PROVIDER.to_string()],
        &[StrategyItem {
            capacity_provider: PROVIDER.into(),
            weight: 1,
            base: 0,
        }],
    )
    .await
    .unwrap();
    fake.clear_calls();
    let s = sync_ok(&fake, &mut cluster, &()).await;
    assert_eq!(
        fake.mutating_calls(),
        [
            "ecs:UpdateCapacityProvider",
            "ecs:PutClusterCapacityProviders"
        ]
    );
    let p = fake.capacity_provider(PROVIDER).unwrap();
    assert!(p.settings.managed_scaling.is_some() && p.settings.managed_termination_protection);
    assert_eq!(
        fake.cluster(CLUSTER).unwrap().capacity_providers,
        ["FARGATE", PROVIDER]
    );
    for text in [
        "capacity provider managedScaling DISABLED → ENABLED",
        "managedTerminationProtection DISABLED → ENABLED",
        "ECS cluster capacityProviders [my-ecs-cluster-ec2] → [FARGATE, my-ecs-cluster-ec2]",
        "defaultCapacityProviderStrategy [my-ecs-cluster-ec2 1/0] → [FARGATE 1/0, my-ecs-cluster-ec2 1/1]",
    ] {
        assert!(has_note(&s.notes, "DriftCorrected", text), "{text}: {:?}", s.notes);
    }

    // A spec edit of the scaling settings is an update too.
    cluster
        .spec
        .capacity
        .as_mut()
        .and_then(|c| c.capacity_provider.as_mut())
        .and_then(|p| p.managed_scaling.as_mut())
        .unwrap()
        .target_capacity = 80;
    bump(&mut cluster);
    fake.clear_calls();
    let s = sync_ok(&fake, &mut cluster, &()).await;
    assert_eq!(fake.mutating_calls(), ["ecs:UpdateCapacityProvider"]);
    assert!(
        has_note(
            &s.notes,
            "Updated",
            "(target 100%, steps 1–10000, warm-up 300s) → ENABLED (target 80%"
        ),
        "{:?}",
        s.notes
    );
    assert_eq!(
        fake.capacity_provider(PROVIDER)
            .unwrap()
            .settings
            .managed_scaling
            .unwrap()
            .target_capacity,
        80
    );
}

#[tokio::test]
async fn removing_the_capacity_provider_detaches_and_deletes_it_and_keeps_the_group() {
    let fake = FakeAws::new();
    let mut cluster = provider_cluster();
    sync_ok(&fake, &mut cluster, &()).await;
    fake.set_auto_progress(false);

    let spec = &mut cluster.spec;
    spec.capacity.as_mut().unwrap().capacity_provider = None;
    spec.default_capacity_provider_strategy = vec![strategy_item("FARGATE", 1, 0)];
    bump(&mut cluster);
    fake.clear_calls();
    let s = sync_ok(&fake, &mut cluster, &()).await;
    assert_eq!(
        fake.mutating_calls(),
        [
            "autoscaling:UpdateAutoScalingGroup",
            "ecs:PutClusterCapacityProviders",
            "ecs:DeleteCapacityProvider"
        ],
        "the group stops protecting new instances, the cluster lets the provider go, then \
         it is deleted"
    );
    assert_eq!(
        fake.cluster(CLUSTER).unwrap().capacity_providers,
        ["FARGATE"]
    );
    assert_eq!(
        fake.capacity_provider(PROVIDER)
            .unwrap()
            .update_status
            .as_deref(),
        Some("DELETE_IN_PROGRESS")
    );
    let (reason, message) = not_ready_reason(&s).expect("not ready while deleting");
    assert_eq!(reason, "RemovingCapacity");
    assert!(message.contains(PROVIDER), "{message}");

    let cap = s.status.capacity.as_ref().unwrap();
    assert_eq!(cap.capacity_provider_name.as_deref(), Some(PROVIDER));
    assert_eq!(
        cap.capacity_provider_update_status.as_deref(),
        Some("DELETE_IN_PROGRESS")
    );

    // Still deleting (the cluster no longer lists it; status does): awaited, nothing more
    // to do.
    fake.clear_calls();
    let s = sync_ok(&fake, &mut cluster, &()).await;
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
    assert_eq!(not_ready_reason(&s).map(|r| r.0), Some("RemovingCapacity"));

    fake.tick();
    let s = sync_ok(&fake, &mut cluster, &()).await;
    assert!(is_ready(&s), "{:?}", s.readiness);
    assert!(fake.capacity_provider(PROVIDER).is_none());
    let group = fake.group(GROUP).expect("the group stays");
    assert!(!group.new_instances_protected_from_scale_in);
    assert_eq!(s.status.capacity.unwrap().capacity_provider_name, None);
}

#[tokio::test]
async fn cluster_cleanup_detaches_and_deletes_the_provider_before_the_protected_group() {
    let fake = FakeAws::new();
    let mut cluster = provider_cluster();
    sync_ok(&fake, &mut cluster, &()).await;
    fake.tick();
    sync_ok(&fake, &mut cluster, &()).await;
    let group = fake.group(GROUP).unwrap();
    assert!(!group.instances.is_empty());
    assert!(group.instances.iter().all(|i| i.protected_from_scale_in));
    fake.set_auto_progress(false);

    fake.clear_calls();
    let mut steps = 0;
    loop {
        let c = cleanup(&fake, &cluster).await;
        if matches!(c, Cleanup::Done(_)) {
            break;
        }
        fake.tick();
        steps += 1;
        assert!(steps < 20, "cleanup did not finish: {:?}", fake.calls());
    }
    assert_eq!(
        fake.mutating_calls(),
        [
            "ecs:PutClusterCapacityProviders",
            "ecs:DeleteCapacityProvider",
            "autoscaling:UpdateAutoScalingGroup",
            // Instances protected from scale-in never terminate by scaling in: the group is
            // force-deleted once only they are left.
            "autoscaling:DeleteAutoScalingGroup",
            "ec2:DeleteLaunchTemplate",
            "ecs:DeleteCluster"
        ]
    );
    assert!(fake.capacity_providers().is_empty());
    assert!(fake.groups().is_empty());
    assert_eq!(fake.cluster(CLUSTER).unwrap().status, "INACTIVE");
}

#[tokio::test]
async fn a_provider_used_by_a_service_strategy_stays_attached_and_is_retried() {
    let fake = FakeAws::new();
    let mut cluster = provider_cluster();
    sync_ok(&fake, &mut cluster, &()).await;
    let mut td = tutorial_task_def();
    sync_ok(&fake, &mut td, &no_deps()).await;
    let mut svc = plain_service(Some(2));
    svc.spec.launch_type = None;
    svc.spec.capacity_provider_strategy = vec![strategy_item(PROVIDER, 1, 0)];
    sync_ok(&fake, &mut svc, &deps_for(&cluster, &td)).await;
    let created = fake.service_creates().pop().unwrap();
    assert_eq!(created.launch_type, None);
    assert_eq!(
        created.capacity_provider_strategy[0].capacity_provider,
        PROVIDER
    );

    cluster.spec.capacity.as_mut().unwrap().capacity_provider = None;
    cluster.spec.default_capacity_provider_strategy.clear();
    bump(&mut cluster);
    let e = sync(&fake, &mut cluster, &(), false)
        .await
        .expect_err("ECS refuses to drop a provider a service uses");
    match &e {
        Error::Aws(a) => assert_eq!(a.kind, AwsErrorKind::Dependency, "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(e.treatment(), Treatment::Retry { .. }), "{e}");
    assert_eq!(fake.count("ecs:DeleteCapacityProvider"), 0);
    assert!(fake
        .cluster(CLUSTER)
        .unwrap()
        .capacity_providers
        .contains(&PROVIDER.to_string()));
}

#[tokio::test]
async fn a_changed_service_strategy_is_a_new_deployment() {
    let fake = FakeAws::new();
    let mut cluster = provider_cluster();
    sync_ok(&fake, &mut cluster, &()).await;
    let mut td = tutorial_task_def();
    sync_ok(&fake, &mut td, &no_deps()).await;
    let deps = deps_for(&cluster, &td);
    let mut svc = plain_service(Some(2));
    svc.spec.launch_type = None;
    svc.spec.capacity_provider_strategy = vec![strategy_item(PROVIDER, 1, 0)];
    sync_ok(&fake, &mut svc, &deps).await;
    sync_ok(&fake, &mut svc, &deps).await;

    svc.spec.capacity_provider_strategy = vec![
        strategy_item(PROVIDER, 1, 1),
        strategy_item("FARGATE", 3, 0),
    ];
    bump(&mut svc);
    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert_eq!(fake.mutating_calls(), ["ecs:UpdateService"]);
    let u = fake.service_updates().pop().unwrap();
    assert!(
        u.force_new_deployment,
        "ECS needs a new deployment for a new strategy"
    );
    assert_eq!(u.capacity_provider_strategy.map(|s| s.len()), Some(2));
    assert!(
        has_note(
            &s.notes,
            "Updated",
            "capacityProviderStrategy [my-ecs-cluster-ec2 1/0] → [FARGATE 3/0, my-ecs-cluster-ec2 1/1]"
        ),
        "{:?}",
        s.notes
    );
    fake.clear_calls();
    sync_ok(&fake, &mut svc, &deps).await;
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
}

#[tokio::test]
async fn a_default_provider_name_ecs_refuses_is_an_invalid_spec() {
    let fake = FakeAws::new();
    let mut cluster = provider_cluster();
    // clusterName ecs-demo: the default provider name ecs-demo-ec2 starts with "ecs".
    cluster.spec.cluster_name = Some("ecs-demo".into());
    cluster.spec.default_capacity_provider_strategy.clear();
    let e = sync(&fake, &mut cluster, &(), false)
        .await
        .expect_err("refused before any write");
    assert!(
        matches!(e, Error::InvalidSpec(ref m) if m.contains("ecs-demo-ec2")),
        "{e}"
    );
    assert!(fake.mutating_calls().is_empty());
    // A default strategy naming a provider the cluster will not have.
    let mut cluster = provider_cluster();
    cluster.spec.capacity_providers.clear();
    let e = sync(&fake, &mut cluster, &(), false)
        .await
        .expect_err("invalid");
    assert!(
        matches!(e, Error::InvalidSpec(ref m) if m.contains("FARGATE")),
        "{e}"
    );
}

#[tokio::test]
async fn removing_all_capacity_removes_the_provider_before_the_group() {
    let fake = FakeAws::new();
    let mut cluster = provider_cluster();
    sync_ok(&fake, &mut cluster, &()).await;
    fake.tick();
    sync_ok(&fake, &mut cluster, &()).await;
    fake.set_auto_progress(false);

    cluster.spec.capacity = None;
    cluster.spec.default_capacity_provider_strategy.clear();
    bump(&mut cluster);
    fake.clear_calls();
    let mut steps = 0;
    loop {
        let s = sync_ok(&fake, &mut cluster, &()).await;
        if is_ready(&s) {
            break;
        }
        assert_eq!(not_ready_reason(&s).map(|r| r.0), Some("RemovingCapacity"));
        fake.tick();
        steps += 1;
        assert!(steps < 20, "removal did not finish: {:?}", fake.calls());
    }
    assert_eq!(
        fake.mutating_calls(),
        [
            "ecs:PutClusterCapacityProviders",
            "ecs:DeleteCapacityProvider",
            "autoscaling:UpdateAutoScalingGroup",
            "autoscaling:DeleteAutoScalingGroup",
            "ec2:DeleteLaunchTemplate",
        ]
    );
    assert!(fake.capacity_providers().is_empty());
    assert!(fake.groups().is_empty());
    assert_eq!(
        fake.cluster(CLUSTER).unwrap().capacity_providers,
        ["FARGATE"]
    );
    assert_eq!(fake.cluster(CLUSTER).unwrap().status, "ACTIVE");
}

#[tokio::test]
async fn lost_answers_of_capacity_provider_writes_heal_without_a_second_provider() {
    let fake = FakeAws::new();
    let mut cluster = provider_cluster();
    fake.lose_response_next("ecs:CreateCapacityProvider", 1);
    fake.lose_response_next("ecs:PutClusterCapacityProviders", 1);
    // The create's answer is lost, then the attachment's: each sync fails once.
    assert!(sync(&fake, &mut cluster, &(), false).await.is_err());
    assert!(sync(&fake, &mut cluster, &(), false).await.is_err());
    // The provider was created: found again by name and owner tag, not created twice.
    let s = sync_ok(&fake, &mut cluster, &()).await;
    assert_eq!(fake.count("ecs:CreateCapacityProvider"), 1);
    assert_eq!(fake.capacity_providers().len(), 1);
    assert_eq!(
        fake.cluster(CLUSTER).unwrap().capacity_providers,
        ["FARGATE", PROVIDER]
    );
    assert!(is_ready(&s), "{:?}", s.readiness);
    // Owned by someone else: a conflict, never touched.
    let other = FakeAws::new();
    let mut theirs = provider_cluster();
    sync_ok(&other, &mut theirs, &()).await;
    let arn = other.capacity_provider(PROVIDER).unwrap().arn;
    other
        .clients(None)
        .ecs
        .tag_resource(&arn, &owned_by("other-mc/default/EcsCluster/x"))
        .await
        .unwrap();
    other.clear_calls();
    assert_conflict(sync(&other, &mut theirs, &(), false).await, PROVIDER);
    assert!(other.mutating_calls().is_empty(), "{:?}", other.calls());
}

#[tokio::test]
async fn a_provider_left_from_a_deleted_group_is_a_conflict_with_what_to_do() {
    let fake = FakeAws::new();
    let mut cluster = provider_cluster();
    sync_ok(&fake, &mut cluster, &()).await;
    // Someone deletes the group; the operator creates it again, under a new ARN.
    fake.clients(None)
        .autoscaling
        .delete_group(GROUP)
        .await
        .unwrap();
    fake.ticks(2);
    assert!(fake.group(GROUP).is_none());
    let _ = sync(&fake, &mut cluster, &(), false).await;
    assert!(fake.group(GROUP).is_some());
    let e = sync(&fake, &mut cluster, &(), false)
        .await
        .expect_err("the provider scales the old group");
    assert!(matches!(e, Error::Conflict(_)), "{e}");
    assert!(
        e.to_string().contains("delete the capacity provider"),
        "{e}"
    );
}
