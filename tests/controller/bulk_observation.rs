//! Bulk observation: resyncs of converged objects read the sweep instead of AWS, and what
//! reading costs.

use kube::ResourceExt;

use ecs_operator::api::service::EcsService;
use ecs_operator::aws::fake::FakeAws;
use ecs_operator::aws::types::{CreateServiceInput, RuleConditions, UpdateServiceInput};
use ecs_operator::aws::AwsProvider;
use ecs_operator::planning::ownership::OWNER_TAG;
use ecs_operator::reconciler::managed::{AwsContext, ManagedResource};

use super::support::{
    alb_service, alb_setup, bare_cluster, bump, cx, deps_for, is_ready, mtg_mut, no_deps, owner,
    plain_service, provider_cluster, steady_plain, steady_tutorial, strings, sync_ok,
    tutorial_cluster, tutorial_task_def, Stored, CLUSTER, ELB, MC, PROVIDER, TG,
};

// ---------------------------------------------------------------------------------------
// Bulk observation
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn resyncs_of_converged_objects_read_the_sweep_instead_of_aws() {
    use ecs_operator::aws::observed::RegionCache;
    use std::sync::Arc;
    use std::time::Duration;

    let fake = FakeAws::new();
    let (cluster, mut td, svc) = steady_plain(&fake, Some(2)).await;
    let cluster_arn = cluster
        .status
        .as_ref()
        .and_then(|s| s.cluster_arn.clone())
        .expect("cluster arn");
    let seen = Arc::new(RegionCache::default());
    let ecs = fake.clients(None).ecs;
    let sweep = || async {
        seen.sweep(ecs.as_ref(), &cluster_arn, Duration::ZERO)
            .await
            .expect("sweep");
        seen.sweep_task_definitions(ecs.as_ref())
            .await
            .expect("sweep task definitions");
    };
    let trusting = |obj: &dyn Fn() -> String, kind: &str| {
        let mut cx = AwsContext::new(fake.clients(None), owner(kind, &obj()), false, MC.into());
        cx.seen = seen.clone();
        cx.trust_seen = true;
        cx.seen_max_age = Duration::from_secs(600);
        cx
    };
    sweep().await;

    fake.clear_calls();
    let svc_name = svc.name_any();
    let s = svc
        .sync(
            &deps_for(&cluster, &td),
            &trusting(&|| svc_name.clone(), "EcsService"),
        )
        .await
        .expect("service resync");
    assert!(is_ready(&s));
    let td_name = td.name_any();
    let t = td
        .sync(&no_deps(), &trusting(&|| td_name.clone(), "EcsTaskDef"))
        .await
        .expect("task definition resync");
    assert!(is_ready(&t));
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());

    // Drift made in AWS is seen by the next sweep and corrected at the next resync.
    fake.clients(None)
        .ecs
        .update_service(&UpdateServiceInput {
            cluster: cluster_arn.clone(),
            name: svc_name.clone(),
            desired_count: Some(5),
            ..Default::default()
        })
        .await
        .expect("drift");
    sweep().await;
    fake.clear_calls();
    svc.sync(
        &deps_for(&cluster, &td),
        &trusting(&|| svc_name.clone(), "EcsService"),
    )
    .await
    .expect("service resync");
    assert_eq!(fake.mutating_calls(), ["ecs:UpdateService"]);
    assert_eq!(fake.services()[0].desired_count, 2);

    // A new spec is never taken from the cache: the task definition reads AWS and registers.
    td.spec.container_definitions[0].image = "training/webapp:v2".into();
    bump(&mut td);
    fake.clear_calls();
    let mut plain = AwsContext::new(
        fake.clients(None),
        owner("EcsTaskDef", &td_name),
        false,
        MC.into(),
    );
    plain.seen = seen.clone();
    let t = td.sync(&no_deps(), &plain).await.expect("new revision");
    assert_eq!(t.status.latest_revision, Some(2));
    assert_eq!(fake.count("ecs:RegisterTaskDefinition"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_sweep_describes_only_services_not_seen_since_half_a_period() {
    use ecs_operator::aws::observed::RegionCache;
    use std::time::Duration;

    let fake = FakeAws::new();
    let (cluster, _, svc) = steady_plain(&fake, Some(1)).await;
    let cluster_arn = cluster
        .status
        .as_ref()
        .and_then(|s| s.cluster_arn.clone())
        .expect("cluster arn");
    let ecs = fake.clients(None).ecs;
    let seen = RegionCache::default();
    let half = Duration::from_secs(60);
    fake.clear_calls();
    let described = seen
        .sweep(ecs.as_ref(), &cluster_arn, half)
        .await
        .expect("sweep");
    assert_eq!(described.len(), 1, "never seen: described");
    assert_eq!(fake.calls(), ["ecs:ListServices", "ecs:DescribeServices"]);

    tokio::time::advance(Duration::from_secs(30)).await;
    fake.clear_calls();
    let described = seen
        .sweep(ecs.as_ref(), &cluster_arn, half)
        .await
        .expect("sweep");
    assert!(
        described.is_empty(),
        "seen 30 s ago: still valid at the next sweep"
    );
    assert_eq!(fake.calls(), ["ecs:ListServices"]);
    assert!(seen
        .service(&cluster_arn, &svc.service_name(), Duration::from_secs(180))
        .is_some());

    tokio::time::advance(Duration::from_secs(31)).await;
    fake.clear_calls();
    let described = seen
        .sweep(ecs.as_ref(), &cluster_arn, half)
        .await
        .expect("sweep");
    assert_eq!(described.len(), 1, "seen 61 s ago: described again");
    assert_eq!(fake.count("ecs:DescribeServices"), 1);
}

#[tokio::test(start_paused = true)]
async fn rolling_services_are_read_together_and_their_rechecks_reuse_that_read() {
    use ecs_operator::aws::observed::RegionCache;
    use std::sync::Arc;
    use std::time::Duration;

    let fake = FakeAws::new();
    let (cluster, td, _) = steady_plain(&fake, Some(1)).await;
    fake.set_auto_progress(false);
    let deps = deps_for(&cluster, &td);
    let seen = Arc::new(RegionCache::default());
    let context = |s: &EcsService, recheck: bool| {
        let mut c = cx(&fake, s, false);
        c.seen = seen.clone();
        if recheck {
            c.recheck_max_age = Duration::from_secs(5);
            c.seen_max_age = Duration::from_secs(180);
        }
        c
    };
    let mut services: Vec<EcsService> = (0..3)
        .map(|i| {
            let mut s = plain_service(Some(1));
            s.metadata.name = Some(format!("rolling-{i}"));
            s.spec.service_name = Some(format!("rolling-{i}"));
            s
        })
        .collect();
    for s in &mut services {
        let r = s.sync(&deps, &context(s, false)).await.expect("create");
        assert!(!is_ready(&r), "{:?}", r.readiness);
        s.store(r.status);
    }
    // ECS finishes the rollouts after the operator's first re-check is due.
    tokio::time::advance(Duration::from_secs(6)).await;
    fake.tick();
    fake.clear_calls();
    let r = services[0]
        .sync(&deps, &context(&services[0], true))
        .await
        .expect("re-check");
    assert!(is_ready(&r), "{:?}", r.readiness);
    assert_eq!(fake.count("ecs:DescribeServices"), 1, "{:?}", fake.calls());
    // A deep work queue delays the others' re-checks well past a poll interval: what
    // was read for them since they last looked is still news to them.
    tokio::time::advance(Duration::from_secs(20)).await;
    for s in &mut services[1..] {
        let r = s.sync(&deps, &context(s, true)).await.expect("re-check");
        assert!(
            is_ready(&r),
            "{} read what the first re-check saw",
            s.name_any()
        );
    }
    assert_eq!(
        fake.calls(),
        ["ecs:DescribeServices"],
        "the other two rode along in the first re-check's call"
    );
    // Nothing seen since a service last looked: its re-check reads.
    tokio::time::advance(Duration::from_secs(6)).await;
    services[1]
        .sync(&deps, &context(&services[1], true))
        .await
        .expect("re-check");
    assert_eq!(fake.count("ecs:DescribeServices"), 2);
}

#[tokio::test]
async fn a_resync_of_a_service_with_a_managed_elb_reads_the_swept_elb() {
    use ecs_operator::aws::observed::RegionCache;
    use std::sync::Arc;
    use std::time::Duration;

    let fake = FakeAws::new();
    let (cluster, td, svc) = steady_tutorial(&fake).await;
    let cluster_arn = cluster
        .status
        .as_ref()
        .and_then(|s| s.cluster_arn.clone())
        .expect("cluster arn");
    let managed = svc
        .status
        .as_ref()
        .map(|s| s.managed_load_balancers.clone())
        .unwrap_or_default();
    assert_eq!(managed, [ELB], "the managed ELB is recorded in status");
    let seen = Arc::new(RegionCache::default());
    let clients = fake.clients(None);
    seen.sweep(clients.ecs.as_ref(), &cluster_arn, Duration::ZERO)
        .await
        .expect("sweep services");
    seen.sweep_elbs(clients.elb.as_ref(), &managed)
        .await
        .expect("sweep ELBs");
    let mut cx = AwsContext::new(
        fake.clients(None),
        owner("EcsService", &svc.name_any()),
        false,
        MC.into(),
    );
    cx.seen = seen.clone();
    cx.trust_seen = true;
    cx.seen_max_age = Duration::from_secs(600);

    fake.clear_calls();
    let s = svc
        .sync(&deps_for(&cluster, &td), &cx)
        .await
        .expect("resync");
    assert!(is_ready(&s));
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());

    // Changed in AWS after the sweep: the next sweep sees it, the next resync corrects it.
    fake.clients(None)
        .elb
        .delete_listeners(ELB, &[80])
        .await
        .expect("drift");
    seen.sweep_elbs(clients.elb.as_ref(), &managed)
        .await
        .expect("sweep ELBs");
    fake.clear_calls();
    svc.sync(&deps_for(&cluster, &td), &cx)
        .await
        .expect("resync");
    assert_eq!(
        fake.mutating_calls(),
        ["elasticloadbalancing:CreateLoadBalancerListeners"]
    );
}

#[tokio::test]
async fn a_resync_of_a_cluster_with_capacity_reads_the_sweep_instead_of_aws() {
    use ecs_operator::aws::observed::RegionCache;
    use ecs_operator::planning::ownership::OWNER_TAG;
    use std::sync::Arc;
    use std::time::Duration;

    let fake = FakeAws::new();
    let mut cluster = tutorial_cluster();
    sync_ok(&fake, &mut cluster, &()).await;
    let s = sync_ok(&fake, &mut cluster, &()).await;
    assert!(is_ready(&s), "{:?}", s.readiness);
    let seen = Arc::new(RegionCache::default());
    let clients = fake.clients(None);
    let sweep = || async {
        seen.sweep_clusters(clients.ecs.as_ref(), &[CLUSTER.to_string()])
            .await
            .expect("sweep clusters");
        seen.sweep_capacity(
            clients.ec2.as_ref(),
            clients.autoscaling.as_ref(),
            OWNER_TAG,
        )
        .await
        .expect("sweep capacity");
    };
    let mut cx = AwsContext::new(
        fake.clients(None),
        owner("EcsCluster", &cluster.name_any()),
        false,
        MC.into(),
    );
    cx.seen = seen.clone();
    cx.trust_seen = true;
    cx.seen_max_age = Duration::from_secs(600);
    sweep().await;
    // The first resync reads the launch template version's description once: versions
    // never change, so it is kept for good.
    cluster.sync(&(), &cx).await.expect("resync");
    fake.clear_calls();
    let s = cluster.sync(&(), &cx).await.expect("resync");
    assert!(is_ready(&s), "{:?}", s.readiness);
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());

    // Changed in AWS after the sweep: the next sweep sees it, the next resync corrects it.
    let group = "my-ecs-cluster-ecs-capacity";
    fake.set_group_desired_capacity(group, 2);
    sweep().await;
    fake.clear_calls();
    cluster.sync(&(), &cx).await.expect("resync");
    assert_eq!(
        fake.mutating_calls(),
        ["autoscaling:UpdateAutoScalingGroup"]
    );
    assert_eq!(fake.group(group).expect("group").desired_capacity, 5);
    // What was corrected is read again, not taken from the sweep.
    fake.clear_calls();
    cluster.sync(&(), &cx).await.expect("resync");
    assert_eq!(fake.calls(), ["autoscaling:DescribeAutoScalingGroups"]);
}

#[tokio::test]
async fn new_services_are_looked_for_in_one_listing_of_their_cluster() {
    use ecs_operator::aws::observed::RegionCache;
    use std::sync::Arc;
    use std::time::Duration;

    let fake = FakeAws::new();
    let mut cluster = bare_cluster();
    sync_ok(&fake, &mut cluster, &()).await;
    let mut td = tutorial_task_def();
    sync_ok(&fake, &mut td, &no_deps()).await;
    let deps = deps_for(&cluster, &td);
    let seen = Arc::new(RegionCache::default());
    let writer_since = tokio::time::Instant::now();
    let cx_for = |svc: &EcsService| {
        let mut cx = AwsContext::new(
            fake.clients(None),
            owner("EcsService", &svc.name_any()),
            false,
            MC.into(),
        );
        cx.seen = seen.clone();
        cx.seen_max_age = Duration::from_secs(600);
        cx.writer_since = Some(writer_since);
        cx
    };
    let services: Vec<EcsService> = (0..5)
        .map(|i| {
            let mut s = plain_service(Some(1));
            s.metadata.name = Some(format!("web-{i}"));
            s
        })
        .collect();
    fake.clear_calls();
    for svc in &services {
        svc.sync(&deps, &cx_for(svc)).await.expect("create");
    }
    assert_eq!(fake.count("ecs:ListServices"), 1, "{:?}", fake.calls());
    assert_eq!(fake.count("ecs:DescribeServices"), 0, "{:?}", fake.calls());
    assert_eq!(fake.count("ecs:CreateService"), 5);

    // A create whose answer was lost is never taken for absent: the retry reads ECS and
    // finds the service instead of creating it twice.
    let mut lost = plain_service(Some(1));
    lost.metadata.name = Some("web-lost".into());
    fake.lose_response_next("ecs:CreateService", 1);
    assert!(lost.sync(&deps, &cx_for(&lost)).await.is_err());
    fake.clear_calls();
    lost.sync(&deps, &cx_for(&lost)).await.expect("retry");
    assert_eq!(fake.count("ecs:CreateService"), 0, "{:?}", fake.calls());
    assert_eq!(fake.count("ecs:DescribeServices"), 1, "{:?}", fake.calls());

    // A listing from before this process became the writer proves nothing: another
    // writer may have created the service since.
    let mut later = plain_service(Some(1));
    later.metadata.name = Some("web-later".into());
    let mut cx = cx_for(&later);
    cx.writer_since = Some(tokio::time::Instant::now());
    fake.clear_calls();
    later.sync(&deps, &cx).await.expect("create");
    assert_eq!(fake.count("ecs:ListServices"), 1, "{:?}", fake.calls());
    assert_eq!(fake.count("ecs:CreateService"), 1);
    // A service someone created by hand after the listing: ECS refuses the create (names
    // are unique in a cluster), no second service exists, and the retry reads it.
    fake.clients(None)
        .ecs
        .create_service(&CreateServiceInput {
            cluster: deps.cluster.clone(),
            name: "by-hand".into(),
            task_definition: deps.task_definition.clone(),
            desired_count: 1,
            ..Default::default()
        })
        .await
        .expect("by hand");
    let mut by_hand = plain_service(Some(1));
    by_hand.metadata.name = Some("by-hand".into());
    let err = by_hand
        .sync(&deps, &cx_for(&by_hand))
        .await
        .expect_err("ECS refuses a second service of that name");
    assert!(err.to_string().contains("not idempotent"), "{err}");
    fake.clear_calls();
    let err = by_hand
        .sync(&deps, &cx_for(&by_hand))
        .await
        .expect_err("the hand-made service is not ours");
    assert!(err.to_string().contains("by-hand"), "{err}");
    assert_eq!(fake.count("ecs:DescribeServices"), 1, "{:?}", fake.calls());
    assert_eq!(fake.count("ecs:CreateService"), 0, "{:?}", fake.calls());
}

#[tokio::test]
async fn the_first_revision_of_a_family_costs_two_calls() {
    let fake = FakeAws::new();
    let mut td = tutorial_task_def();
    let s = sync_ok(&fake, &mut td, &no_deps()).await;
    assert_eq!(s.status.active_revisions, [1]);
    assert_eq!(
        fake.calls(),
        ["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"]
    );
    // A later revision lists the family (older revisions may be pruned).
    td.spec.container_definitions[0].image = "training/webapp:v2".into();
    bump(&mut td);
    fake.clear_calls();
    let s = sync_ok(&fake, &mut td, &no_deps()).await;
    assert_eq!(s.status.active_revisions, [1, 2]);
    assert_eq!(fake.count("ecs:ListTaskDefinitions"), 1);
}

// ---------------------------------------------------------------------------------------
// Bulk observation of target groups and capacity providers
// ---------------------------------------------------------------------------------------

/// A context for a resync of a converged generation, reading `seen`.
fn trusting<K: ManagedResource>(
    fake: &FakeAws,
    obj: &K,
    seen: &std::sync::Arc<ecs_operator::aws::observed::RegionCache>,
) -> AwsContext {
    let mut c = cx(fake, obj, false);
    c.seen = seen.clone();
    c.trust_seen = true;
    c.seen_max_age = std::time::Duration::from_secs(600);
    c
}

#[tokio::test]
async fn a_resync_of_a_service_with_a_managed_target_group_reads_the_sweep() {
    use ecs_operator::aws::observed::RegionCache;
    use ecs_operator::reconciler::sweep::managed_target_groups;
    use std::sync::Arc;

    let fake = FakeAws::new();
    let (cluster, td, listener) = alb_setup(&fake).await;
    let deps = deps_for(&cluster, &td);
    let mut svc = alb_service(&listener);
    mtg_mut(&mut svc).deregistration_delay_seconds = Some(30);
    // A second service behind the same listener: its rules are read once for both.
    let mut other = alb_service(&listener);
    other.metadata.name = Some("other".into());
    other.metadata.uid = Some("uid-other".into());
    other.spec.service_name = Some("other".into());
    mtg_mut(&mut other).name = Some("other-tg".into());
    mtg_mut(&mut other).rule.priority = 20;
    mtg_mut(&mut other).rule.path_patterns = strings(&["/other/*"]);
    for s in [&mut svc, &mut other] {
        sync_ok(&fake, s, &deps).await;
        fake.tick();
        let r = sync_ok(&fake, s, &deps).await;
        assert!(is_ready(&r), "{:?}", r.readiness);
    }

    let services = [Arc::new(svc.clone()), Arc::new(other.clone())];
    let want = managed_target_groups(&services, "us-east-1")
        .remove("us-east-1")
        .expect("the default region");
    assert_eq!(want.names, [TG, "other-tg"]);
    assert_eq!(want.listeners, std::slice::from_ref(&listener));
    let seen = Arc::new(RegionCache::default());
    let v2 = fake.clients(None).elbv2;
    let sweep = || async {
        seen.sweep_target_groups(v2.as_ref(), &want)
            .await
            .expect("sweep target groups")
    };
    fake.clear_calls();
    assert_eq!(sweep().await, (2, 1));
    assert_eq!(
        fake.calls(),
        [
            "elasticloadbalancing:DescribeTargetGroups",
            "elasticloadbalancing:DescribeTags",
            "elasticloadbalancing:DescribeRules",
            "elasticloadbalancing:DescribeTags",
            "elasticloadbalancing:DescribeTargetGroupAttributes",
        ],
        "both groups in one call, their tags in one, the shared listener's rules once, \
         both rules' tags in one, and the one deregistration delay"
    );

    // Services are read from the sweep of their cluster: only ELBv2 is looked at here.
    let cluster_arn = deps.cluster.clone();
    seen.sweep(
        fake.clients(None).ecs.as_ref(),
        &cluster_arn,
        std::time::Duration::ZERO,
    )
    .await
    .expect("sweep services");
    fake.clear_calls();
    for s in [&svc, &other] {
        let r = s
            .sync(&deps, &trusting(&fake, s, &seen))
            .await
            .expect("resync");
        assert!(is_ready(&r), "{:?}", r.readiness);
        assert!(r.drift.is_empty(), "{:?}", r.drift);
    }
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());

    // Changed in AWS after the sweep: the next sweep sees it, the next resync corrects it.
    let mut hc = fake.target_group(TG).expect("group").health_check;
    hc.path = "/changed".into();
    fake.set_target_group_health_check(TG, hc);
    let rule = fake
        .listener_rules(&listener)
        .into_iter()
        .find(|r| r.priority == Some(20))
        .expect("other's rule");
    fake.set_rule(
        &rule.arn,
        20,
        RuleConditions {
            path_patterns: strings(&["/hijacked/*"]),
            host_headers: vec![],
        },
    );
    sweep().await;
    fake.clear_calls();
    for s in [&svc, &other] {
        s.sync(&deps, &trusting(&fake, s, &seen))
            .await
            .expect("resync");
    }
    assert_eq!(
        fake.mutating_calls(),
        [
            "elasticloadbalancing:ModifyTargetGroup",
            "elasticloadbalancing:ModifyRule"
        ]
    );
    assert_eq!(fake.target_group(TG).unwrap().health_check.path, "/health");
    assert_eq!(
        fake.listener_rules(&listener)[1].conditions.path_patterns,
        strings(&["/other/*"])
    );
    // What was corrected is read again, not taken from the sweep.
    fake.clear_calls();
    svc.sync(&deps, &trusting(&fake, &svc, &seen))
        .await
        .expect("resync");
    assert_eq!(
        fake.calls(),
        [
            "elasticloadbalancing:DescribeTargetGroups",
            "elasticloadbalancing:DescribeTags",
            "elasticloadbalancing:DescribeRules",
        ],
        "the group and the listener's rules (changed by the other service) are read; \
         the delay and the rule's tags still come from the sweep"
    );

    // A deregistration delay changed in AWS is seen by the sweep that re-reads it.
    fake.set_target_group_deregistration_delay(TG, 300);
    sweep().await;
    fake.clear_calls();
    svc.sync(&deps, &trusting(&fake, &svc, &seen))
        .await
        .expect("resync");
    assert_eq!(
        fake.mutating_calls(),
        ["elasticloadbalancing:ModifyTargetGroupAttributes"]
    );
    assert_eq!(fake.target_group_deregistration_delay(TG), Some(30));
}

#[tokio::test]
async fn a_target_group_deleted_in_aws_is_dropped_by_the_sweep_and_recreated() {
    use ecs_operator::aws::observed::elbv2::TargetGroupSweep;
    use ecs_operator::aws::observed::RegionCache;
    use std::sync::Arc;

    let fake = FakeAws::new();
    let (cluster, td, listener) = alb_setup(&fake).await;
    let deps = deps_for(&cluster, &td);
    let mut svc = alb_service(&listener);
    sync_ok(&fake, &mut svc, &deps).await;
    fake.tick();
    sync_ok(&fake, &mut svc, &deps).await;
    let seen = Arc::new(RegionCache::default());
    seen.sweep(
        fake.clients(None).ecs.as_ref(),
        &deps.cluster,
        std::time::Duration::ZERO,
    )
    .await
    .expect("sweep services");
    let v2 = fake.clients(None).elbv2;
    let want = TargetGroupSweep {
        names: vec![TG.to_string(), "never-made".to_string()],
        listeners: vec![listener.clone()],
        with_delay: vec![],
    };
    fake.clear_calls();
    assert_eq!(
        seen.sweep_target_groups(v2.as_ref(), &want)
            .await
            .expect("sweep"),
        (1, 1),
        "a name that does not exist costs only itself"
    );
    assert_eq!(fake.count("elasticloadbalancing:DescribeTargetGroups"), 3);

    fake.remove_target_group(TG);
    seen.sweep_target_groups(v2.as_ref(), &want)
        .await
        .expect("sweep");
    fake.clear_calls();
    svc.sync(&deps, &trusting(&fake, &svc, &seen))
        .await
        .expect("resync");
    let created = fake.mutating_calls();
    assert_eq!(
        &created[..2],
        [
            "elasticloadbalancing:CreateTargetGroup",
            "elasticloadbalancing:CreateRule"
        ],
        "not taken from the older sweep: {created:?}"
    );
}

#[tokio::test]
async fn a_resync_of_a_cluster_with_a_capacity_provider_reads_the_swept_provider() {
    use ecs_operator::aws::observed::RegionCache;
    use ecs_operator::aws::types::CapacityProviderSettings;
    use ecs_operator::reconciler::sweep::cluster_sweeps;
    use std::sync::Arc;

    let fake = FakeAws::new();
    let mut cluster = provider_cluster();
    sync_ok(&fake, &mut cluster, &()).await;
    fake.tick();
    let s = sync_ok(&fake, &mut cluster, &()).await;
    assert!(is_ready(&s), "{:?}", s.readiness);
    let want = cluster_sweeps(&[Arc::new(cluster.clone())], "us-east-1")
        .remove("us-east-1")
        .expect("the default region");
    assert_eq!(want.providers, [PROVIDER]);
    let seen = Arc::new(RegionCache::default());
    let clients = fake.clients(None);
    let sweep = || async {
        seen.sweep_clusters(clients.ecs.as_ref(), &want.names)
            .await
            .expect("sweep clusters");
        seen.sweep_capacity(
            clients.ec2.as_ref(),
            clients.autoscaling.as_ref(),
            OWNER_TAG,
        )
        .await
        .expect("sweep capacity");
        seen.sweep_capacity_providers(clients.ecs.as_ref(), &want.providers)
            .await
            .expect("sweep capacity providers");
    };
    sweep().await;
    // The first resync reads the launch template version's description once (kept for
    // good: versions never change).
    cluster
        .sync(&(), &trusting(&fake, &cluster, &seen))
        .await
        .expect("resync");
    fake.clear_calls();
    let s = cluster
        .sync(&(), &trusting(&fake, &cluster, &seen))
        .await
        .expect("resync");
    assert!(is_ready(&s), "{:?}", s.readiness);
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());

    // Changed in AWS after the sweep: the next sweep sees it, the next resync corrects it.
    fake.set_capacity_provider_settings(
        PROVIDER,
        CapacityProviderSettings {
            managed_scaling: None,
            managed_termination_protection: false,
            managed_draining: true,
        },
    );
    sweep().await;
    fake.clear_calls();
    cluster
        .sync(&(), &trusting(&fake, &cluster, &seen))
        .await
        .expect("resync");
    assert_eq!(fake.mutating_calls(), ["ecs:UpdateCapacityProvider"]);
    assert!(
        fake.capacity_provider(PROVIDER)
            .unwrap()
            .settings
            .managed_termination_protection
    );
    // What was corrected is read again, not taken from the sweep.
    fake.clear_calls();
    cluster
        .sync(&(), &trusting(&fake, &cluster, &seen))
        .await
        .expect("resync");
    assert_eq!(fake.calls(), ["ecs:DescribeCapacityProviders"]);
}
