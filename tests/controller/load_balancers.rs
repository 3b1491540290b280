//! The managed classic ELB: drift corrected, spec changes applied, renamed or dropped ELBs
//! deleted once free (never one owned by someone else), and immutable fields.

use ecs_operator::api::service::{EcsService, LoadBalancerScheme, ManagedLoadBalancer};
use ecs_operator::api::task_def::LaunchType;
use ecs_operator::aws::fake::FakeAws;
use ecs_operator::aws::types::{CreateLoadBalancerInput, ServiceLoadBalancerRef};
use ecs_operator::aws::AwsProvider;
use ecs_operator::planning::ownership::OWNER_TAG;
use ecs_operator::reconciler::error::Treatment;
use ecs_operator::reconciler::managed::Cleanup;

use super::support::{
    bare_cluster, bump, cleanup, deps_for, has_note, health_check, http_listener, is_ready,
    no_deps, not_ready_reason, owned_by, owner, steady_tutorial, strings, sync, sync_ok,
    tutorial_service, tutorial_task_def, waiting_message, CLUSTER, ELB, SERVICE,
};

#[tokio::test]
async fn deleted_listener_and_health_check_drift_on_the_managed_elb_are_corrected() {
    let fake = FakeAws::new();
    let (cluster, td, mut svc) = steady_tutorial(&fake).await;
    let elb = fake.clients(None).elb;
    elb.delete_listeners(ELB, &[80]).await.unwrap();
    elb.create_listeners(ELB, &[http_listener(8080)])
        .await
        .unwrap();
    let mut changed = health_check();
    changed.target = "TCP:80".into();
    elb.configure_health_check(ELB, &changed).await.unwrap();

    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &deps_for(&cluster, &td)).await;
    for change in [
        "load balancer listeners [HTTP:8080→HTTP:8080] → [HTTP:80→HTTP:80]",
        "healthCheck TCP:80 (interval 30s, timeout 5s, healthy 10, unhealthy 2) → HTTP:80/",
    ] {
        assert!(
            has_note(&s.notes, "DriftCorrected", change),
            "{change}: {:?}",
            s.notes
        );
    }
    let lb = fake.load_balancer(ELB).unwrap();
    assert_eq!(lb.listeners.len(), 1);
    assert_eq!(lb.listeners[0].load_balancer_port, 80);
    assert_eq!(lb.health_check, Some(health_check()));
    assert_eq!(
        fake.mutating_calls(),
        [
            "elasticloadbalancing:DeleteLoadBalancerListeners",
            "elasticloadbalancing:CreateLoadBalancerListeners",
            "elasticloadbalancing:ConfigureHealthCheck",
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Every spec field of a service is reconciled or immutable
// ---------------------------------------------------------------------------------------

fn managed_mut(svc: &mut EcsService) -> &mut ManagedLoadBalancer {
    svc.spec
        .load_balancer
        .as_mut()
        .and_then(|l| l.managed.as_mut())
        .expect("a managed ELB")
}

fn sorted_subnets(fake: &FakeAws, name: &str) -> Vec<String> {
    let mut s = fake.load_balancer(name).expect("the ELB").subnet_ids;
    s.sort();
    s
}

#[tokio::test]
async fn managed_elb_subnet_and_security_group_drift_is_corrected_and_spec_changes_applied() {
    let fake = FakeAws::new();
    let (cluster, td, mut svc) = steady_tutorial(&fake).await;
    let deps = deps_for(&cluster, &td);
    let elb = fake.clients(None).elb;
    elb.detach_subnets(ELB, &strings(&["subnet-b"]))
        .await
        .unwrap();
    elb.attach_subnets(ELB, &strings(&["subnet-c"]))
        .await
        .unwrap();
    elb.apply_security_groups(ELB, &strings(&["sg-other"]))
        .await
        .unwrap();

    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    for change in [
        "load balancer subnetIds [subnet-a, subnet-c] → [subnet-a, subnet-b]",
        "securityGroupIds [sg-other] → [sg-0123]",
    ] {
        assert!(
            has_note(&s.notes, "DriftCorrected", change),
            "{change}: {:?}",
            s.notes
        );
    }
    assert_eq!(
        fake.mutating_calls(),
        [
            "elasticloadbalancing:DetachLoadBalancerFromSubnets",
            "elasticloadbalancing:AttachLoadBalancerToSubnets",
            "elasticloadbalancing:ApplySecurityGroupsToLoadBalancer",
        ]
    );
    assert_eq!(sorted_subnets(&fake, ELB), ["subnet-a", "subnet-b"]);
    assert_eq!(
        fake.load_balancer(ELB).unwrap().security_group_ids,
        ["sg-0123"]
    );

    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert!(s.notes.is_empty(), "{:?}", s.notes);
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());

    // The spec moves the ELB to other subnets entirely: ELB keeps at least one subnet, so
    // one old subnet stays until the new ones are attached.
    managed_mut(&mut svc).subnet_ids = strings(&["subnet-c", "subnet-d"]);
    managed_mut(&mut svc).security_group_ids = strings(&["sg-1", "sg-2"]);
    bump(&mut svc);
    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert_eq!(
        fake.mutating_calls(),
        [
            "elasticloadbalancing:DetachLoadBalancerFromSubnets",
            "elasticloadbalancing:AttachLoadBalancerToSubnets",
            "elasticloadbalancing:DetachLoadBalancerFromSubnets",
            "elasticloadbalancing:ApplySecurityGroupsToLoadBalancer",
        ]
    );
    assert_eq!(sorted_subnets(&fake, ELB), ["subnet-c", "subnet-d"]);
    assert_eq!(
        fake.load_balancer(ELB).unwrap().security_group_ids,
        ["sg-1", "sg-2"]
    );
    assert!(
        has_note(
            &s.notes,
            "Updated",
            "subnetIds [subnet-a, subnet-b] → [subnet-c, subnet-d]"
        ),
        "{:?}",
        s.notes
    );
    assert!(is_ready(&s));
}

const NEW_ELB: &str = "ecs-load-balancer-2";

fn elb_ref(name: &str) -> ServiceLoadBalancerRef {
    ServiceLoadBalancerRef {
        load_balancer_name: Some(name.into()),
        target_group_arn: None,
        container_name: "hello-world-container".into(),
        container_port: 5000,
    }
}

#[tokio::test]
async fn renaming_the_managed_elb_moves_the_service_then_deletes_the_old_one() {
    let fake = FakeAws::new();
    let (cluster, td, mut svc) = steady_tutorial(&fake).await;
    fake.set_auto_progress(false);
    let deps = deps_for(&cluster, &td);
    assert_eq!(
        svc.status.as_ref().unwrap().managed_load_balancers,
        [ELB],
        "status records the ELB the object owns"
    );

    managed_mut(&mut svc).name = Some(NEW_ELB.into());
    bump(&mut svc);
    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    // The new ELB first, then the service moves to it in a new deployment.
    assert_eq!(
        fake.mutating_calls(),
        [
            "elasticloadbalancing:CreateLoadBalancer",
            "elasticloadbalancing:ConfigureHealthCheck",
            "ecs:UpdateService",
        ]
    );
    assert_eq!(
        fake.service_updates().pop().unwrap().load_balancers,
        Some(vec![elb_ref(NEW_ELB)])
    );
    assert!(
        has_note(
            &s.notes,
            "Updated",
            "loadBalancers [ecs-load-balancer → hello-world-container:5000] → \
             [ecs-load-balancer-2 → hello-world-container:5000]"
        ),
        "{:?}",
        s.notes
    );
    assert_eq!(s.status.managed_load_balancers, [ELB, NEW_ELB]);
    assert_eq!(s.status.load_balancer.as_ref().unwrap().name, NEW_ELB);
    assert_eq!(not_ready_reason(&s).unwrap().0, "DeploymentInProgress");
    assert!(
        fake.load_balancer(ELB).is_some(),
        "the old ELB stays while tasks of the old deployment use it"
    );

    // Synced again before the deployment is done: nothing changes.
    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
    assert_eq!(s.status.managed_load_balancers, [ELB, NEW_ELB]);

    // The deployment completes: the old ELB goes.
    fake.tick();
    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert!(is_ready(&s), "{:?}", s.readiness);
    assert_eq!(
        fake.mutating_calls(),
        ["elasticloadbalancing:DeleteLoadBalancer"]
    );
    assert!(has_note(&s.notes, "Deleted", ELB), "{:?}", s.notes);
    assert!(fake.load_balancer(ELB).is_none());
    assert!(fake.load_balancer(NEW_ELB).is_some());
    assert_eq!(s.status.managed_load_balancers, [NEW_ELB]);
    assert_eq!(
        fake.service(CLUSTER, SERVICE).unwrap().load_balancers,
        [elb_ref(NEW_ELB)]
    );

    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert!(s.notes.is_empty(), "{:?}", s.notes);
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
}

#[tokio::test]
async fn dropping_the_managed_elb_detaches_the_service_then_deletes_it() {
    let fake = FakeAws::new();
    let (cluster, td, mut svc) = steady_tutorial(&fake).await;
    fake.set_auto_progress(false);
    let deps = deps_for(&cluster, &td);

    svc.spec.load_balancer = None;
    bump(&mut svc);
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert_eq!(
        fake.service_updates().pop().unwrap().load_balancers,
        Some(vec![])
    );
    assert_eq!(s.status.managed_load_balancers, [ELB]);
    assert!(fake.load_balancer(ELB).is_some());

    fake.tick();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert!(fake.load_balancer(ELB).is_none());
    assert!(s.status.managed_load_balancers.is_empty());
    assert_eq!(s.status.load_balancer, None);
    assert!(fake
        .service(CLUSTER, SERVICE)
        .unwrap()
        .load_balancers
        .is_empty());
}

#[tokio::test]
async fn moving_off_an_elb_never_deletes_one_owned_by_someone_else() {
    let fake = FakeAws::new();
    fake.set_auto_progress(false);
    const SHARED: &str = "shared-elb";
    let other = owner("EcsService", "someone-else");
    fake.clients(None)
        .elb
        .create_load_balancer(&CreateLoadBalancerInput {
            name: SHARED.into(),
            scheme: LoadBalancerScheme::InternetFacing,
            subnet_ids: vec!["subnet-a".into()],
            security_group_ids: vec![],
            listeners: vec![http_listener(80)],
            tags: owned_by(&other),
        })
        .await
        .unwrap();
    let mut cluster = bare_cluster();
    sync_ok(&fake, &mut cluster, &()).await;
    let mut td = tutorial_task_def();
    sync_ok(&fake, &mut td, &no_deps()).await;
    let deps = deps_for(&cluster, &td);

    // The service first uses the existing ELB by name ...
    let mut svc = tutorial_service();
    let lb = svc.spec.load_balancer.as_mut().unwrap();
    let managed = lb.managed.take();
    lb.load_balancer_name = Some(SHARED.into());
    sync_ok(&fake, &mut svc, &deps).await;
    fake.tick();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert!(is_ready(&s));
    assert_eq!(s.status.load_balancer.as_ref().unwrap().name, SHARED);
    assert!(s.status.managed_load_balancers.is_empty());

    // ... then a managed one. Even a status that records the shared ELB as its own (an
    // older operator's status.loadBalancer.name, or a record that went stale) never gets
    // it deleted: it carries someone else's owner tag.
    let lb = svc.spec.load_balancer.as_mut().unwrap();
    lb.load_balancer_name = None;
    lb.managed = managed;
    bump(&mut svc);
    svc.status.as_mut().unwrap().managed_load_balancers = vec![SHARED.into()];
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert!(has_note(&s.notes, "Released", SHARED), "{:?}", s.notes);
    assert_eq!(s.status.managed_load_balancers, [ELB]);
    fake.tick();
    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert!(is_ready(&s));
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
    assert_eq!(
        fake.service(CLUSTER, SERVICE).unwrap().load_balancers,
        [elb_ref(ELB)]
    );
    assert_eq!(
        fake.load_balancer_tags(SHARED).unwrap().get(OWNER_TAG),
        Some(&other)
    );

    // Deletion takes the object's ELB and leaves the other one alone.
    svc.status.as_mut().unwrap().managed_load_balancers = vec![ELB.into(), SHARED.into()];
    cleanup(&fake, &svc).await;
    fake.tick();
    let c = cleanup(&fake, &svc).await;
    assert!(matches!(c, Cleanup::Done(_)), "{c:?}");
    assert!(fake.load_balancer(ELB).is_none());
    assert!(fake.load_balancer(SHARED).is_some());
    assert_eq!(fake.count("elasticloadbalancing:DeleteLoadBalancer"), 1);
}

#[tokio::test]
async fn deletion_deletes_every_elb_the_object_owns() {
    let fake = FakeAws::new();
    let (cluster, td, mut svc) = steady_tutorial(&fake).await;
    fake.set_auto_progress(false);
    // Renamed, and deleted before the old ELB could go.
    managed_mut(&mut svc).name = Some(NEW_ELB.into());
    bump(&mut svc);
    let s = sync_ok(&fake, &mut svc, &deps_for(&cluster, &td)).await;
    assert_eq!(s.status.managed_load_balancers, [ELB, NEW_ELB]);

    let c = cleanup(&fake, &svc).await;
    assert!(waiting_message(&c).contains("INACTIVE"));
    assert!(fake.load_balancer(ELB).is_some() && fake.load_balancer(NEW_ELB).is_some());
    fake.tick();
    fake.clear_calls();
    let Cleanup::Done(notes) = cleanup(&fake, &svc).await else {
        panic!("expected Done")
    };
    assert!(has_note(&notes, "Deleted", ELB) && has_note(&notes, "Deleted", NEW_ELB));
    assert_eq!(
        fake.mutating_calls(),
        [
            "elasticloadbalancing:DeleteLoadBalancer",
            "elasticloadbalancing:DeleteLoadBalancer",
        ]
    );
    assert!(fake.load_balancers().is_empty());
}

#[tokio::test]
async fn immutable_fields_that_differ_from_the_live_service_stall_with_what_to_do() {
    let fake = FakeAws::new();
    let (cluster, td, mut svc) = steady_tutorial(&fake).await;
    let deps = deps_for(&cluster, &td);

    // The API server refuses these changes (CEL); a service adopted with other settings,
    // or an API server without the rules, gets here.
    svc.spec.launch_type = Some(LaunchType::External);
    svc.spec.role = Some("other-role".into());
    bump(&mut svc);
    fake.clear_calls();
    let err = sync(&fake, &mut svc, &deps, false).await.unwrap_err();
    let message = err.to_string();
    for needle in [
        "launchType EC2 → EXTERNAL",
        "role arn:aws:iam::123456789012:role/ecs-service-role → other-role",
        "delete and recreate the EcsService, or create a new one under another serviceName",
    ] {
        assert!(message.contains(needle), "{needle}: {message}");
    }
    assert_eq!(
        err.treatment(),
        Treatment::Stall {
            reason: "InvalidSpec"
        }
    );
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());

    // A classic ELB cannot change its scheme either (the API server allows it only together
    // with a new name, that is a new ELB).
    let mut svc = tutorial_service();
    sync_ok(&fake, &mut svc, &deps).await;
    managed_mut(&mut svc).scheme = Some(LoadBalancerScheme::Internal);
    bump(&mut svc);
    let err = sync(&fake, &mut svc, &deps, false).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("loadBalancer.managed.scheme internet-facing → internal"),
        "{err}"
    );
    assert!(err.to_string().contains("new name"), "{err}");
}
