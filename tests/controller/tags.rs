//! Tags removed from spec.tags: taken off every owned resource, and only the tags the
//! operator applied.

use ecs_operator::aws::fake::FakeAws;
use ecs_operator::aws::types::Tags;
use ecs_operator::aws::AwsProvider;
use ecs_operator::planning::ownership::{MANAGED_BY_TAG, OWNER_TAG};

use super::support::{
    bare_cluster, bump, deps_for, is_ready, no_deps, owner, sync, sync_ok, tags, td_arn,
    tutorial_cluster, tutorial_service, tutorial_task_def, CLUSTER, ELB, FAMILY, SERVICE,
};

/// The Auto Scaling group and launch template of the tutorial cluster share this name.
fn capacity_name() -> String {
    format!("{CLUSTER}-ecs-capacity")
}

/// Tags of every resource the tutorial owns, by what it is.
fn tutorial_tags(fake: &FakeAws) -> Vec<(&'static str, Tags)> {
    let revisions = fake.task_definition_revisions(FAMILY);
    let latest = revisions.last().expect("a revision");
    let lt = fake
        .launch_templates()
        .into_iter()
        .find(|t| t.name == capacity_name())
        .expect("launch template");
    vec![
        ("cluster", fake.cluster(CLUSTER).expect("cluster").tags),
        ("launch template", lt.tags),
        ("group", fake.group(&capacity_name()).expect("group").tags),
        ("latest revision", latest.tags.clone()),
        (
            "service",
            fake.service(CLUSTER, SERVICE).expect("service").tags,
        ),
        ("elb", fake.load_balancer_tags(ELB).expect("elb")),
    ]
}

const UNTAG_CALLS: &[&str] = &[
    "ecs:UntagResource",
    "ec2:DeleteTags",
    "autoscaling:DeleteTags",
    "elasticloadbalancing:RemoveTags",
];

fn untag_calls(fake: &FakeAws) -> Vec<String> {
    fake.calls()
        .into_iter()
        .filter(|c| UNTAG_CALLS.contains(&c.as_str()))
        .collect()
}

#[tokio::test]
async fn tag_removed_from_spec_is_removed_from_every_owned_resource_and_no_other_tag() {
    let fake = FakeAws::new();
    let user_tags = tags(&[("team", "web"), ("cost-center", "42")]);
    let mut cluster = tutorial_cluster();
    cluster.spec.tags = user_tags.clone();
    sync_ok(&fake, &mut cluster, &()).await;
    sync_ok(&fake, &mut cluster, &()).await;
    let mut td = tutorial_task_def();
    td.spec.tags = user_tags.clone();
    sync_ok(&fake, &mut td, &no_deps()).await;
    let mut svc = tutorial_service();
    svc.spec.tags = user_tags.clone();
    let deps = deps_for(&cluster, &td);
    sync_ok(&fake, &mut svc, &deps).await;
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert!(is_ready(&s), "{:?}", s.readiness);
    let both = vec!["cost-center".to_string(), "team".to_string()];
    for applied in [
        &cluster.status.as_ref().unwrap().applied_tag_keys,
        &td.status.as_ref().unwrap().applied_tag_keys,
        &svc.status.as_ref().unwrap().applied_tag_keys,
    ] {
        assert_eq!(applied, &both);
    }

    // Revision 2 (registered with the tags), so revision 1 is history.
    td.spec.container_definitions[0].image = "training/webapp:v2".into();
    bump(&mut td);
    sync_ok(&fake, &mut td, &no_deps()).await;
    assert_eq!(fake.task_definition_revisions(FAMILY).len(), 2);

    // Someone else tags every resource: the operator did not put that tag there.
    let aws = fake.clients(None);
    let by_hand = tags(&[("added-by-hand", "yes")]);
    let cluster_arn = fake.cluster(CLUSTER).unwrap().arn;
    aws.ecs.tag_resource(&cluster_arn, &by_hand).await.unwrap();
    aws.ecs.tag_resource(&td_arn(2), &by_hand).await.unwrap();
    let service_arn = fake.service(CLUSTER, SERVICE).unwrap().arn;
    aws.ecs.tag_resource(&service_arn, &by_hand).await.unwrap();
    let lt_id = cluster.status.as_ref().unwrap().capacity.as_ref().unwrap();
    aws.ec2
        .tag_launch_template(&lt_id.launch_template_id, &by_hand)
        .await
        .unwrap();
    aws.autoscaling
        .tag_group(&capacity_name(), &by_hand)
        .await
        .unwrap();
    aws.elb.add_tags(ELB, &by_hand).await.unwrap();

    // cost-center leaves the spec of all three.
    let fewer = tags(&[("team", "web")]);
    for spec_tags in [
        &mut cluster.spec.tags,
        &mut td.spec.tags,
        &mut svc.spec.tags,
    ] {
        *spec_tags = fewer.clone();
    }
    bump(&mut cluster);
    bump(&mut td);
    bump(&mut svc);
    fake.clear_calls();
    sync_ok(&fake, &mut cluster, &()).await;
    sync_ok(&fake, &mut td, &no_deps()).await;
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert!(is_ready(&s), "{:?}", s.readiness);
    let mut untags = untag_calls(&fake);
    untags.sort();
    assert_eq!(
        untags,
        [
            "autoscaling:DeleteTags",
            "ec2:DeleteTags",
            "ecs:UntagResource",
            "ecs:UntagResource",
            "ecs:UntagResource",
            "elasticloadbalancing:RemoveTags",
        ],
        "{:?}",
        fake.calls()
    );
    assert_eq!(
        fake.task_definition_revisions(FAMILY).len(),
        2,
        "a tag change registers no revision"
    );
    for (what, t) in tutorial_tags(&fake) {
        assert_eq!(t.get("cost-center"), None, "{what}: {t:?}");
        assert_eq!(t.get("team").map(String::as_str), Some("web"), "{what}");
        assert_eq!(
            t.get("added-by-hand").map(String::as_str),
            Some("yes"),
            "{what}"
        );
        assert!(
            t.contains_key(OWNER_TAG) && t.contains_key(MANAGED_BY_TAG),
            "{what}"
        );
    }
    // Revision 1 is history: it keeps the tags it was registered with.
    let rev1 = &fake.task_definition_revisions(FAMILY)[0];
    assert_eq!(rev1.revision, 1);
    assert_eq!(rev1.tags.get("cost-center").map(String::as_str), Some("42"));
    let team = vec!["team".to_string()];
    assert_eq!(cluster.status.as_ref().unwrap().applied_tag_keys, team);
    assert_eq!(td.status.as_ref().unwrap().applied_tag_keys, team);
    assert_eq!(svc.status.as_ref().unwrap().applied_tag_keys, team);

    // A resync without changes removes nothing (and changes nothing).
    fake.clear_calls();
    sync_ok(&fake, &mut cluster, &()).await;
    sync_ok(&fake, &mut td, &no_deps()).await;
    sync_ok(&fake, &mut svc, &deps).await;
    assert!(untag_calls(&fake).is_empty(), "{:?}", fake.calls());
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());

    // Removing the last user tag empties appliedTagKeys; owner tags stay.
    svc.spec.tags.clear();
    bump(&mut svc);
    sync_ok(&fake, &mut svc, &deps).await;
    assert!(svc.status.as_ref().unwrap().applied_tag_keys.is_empty());
    let t = fake.service(CLUSTER, SERVICE).unwrap().tags;
    assert_eq!(t.get("team"), None);
    assert_eq!(t.get(OWNER_TAG), Some(&owner("EcsService", SERVICE)));
    assert_eq!(t.get("added-by-hand").map(String::as_str), Some("yes"));
}

#[tokio::test]
async fn tags_the_operator_did_not_apply_are_never_removed() {
    let fake = FakeAws::new();
    let ecs = fake.clients(None).ecs;
    // An unowned cluster someone tagged, adopted by an object whose spec never had `env`.
    ecs.create_cluster(CLUSTER, &tags(&[("env", "prod"), ("team", "ops")]))
        .await
        .unwrap();
    let mut cluster = bare_cluster();
    cluster.spec.tags = tags(&[("team", "web")]);
    sync(&fake, &mut cluster, &(), true).await.unwrap();
    assert_eq!(
        cluster.status.as_ref().unwrap().applied_tag_keys,
        vec!["team".to_string()]
    );

    // `team` (which the operator did set, overwriting the old value) leaves the spec; `env`
    // was never applied by the operator and stays.
    cluster.spec.tags.clear();
    bump(&mut cluster);
    fake.clear_calls();
    sync(&fake, &mut cluster, &(), true).await.unwrap();
    assert_eq!(fake.count("ecs:UntagResource"), 1, "{:?}", fake.calls());
    let t = fake.cluster(CLUSTER).unwrap().tags;
    assert_eq!(t.get("team"), None);
    assert_eq!(t.get("env").map(String::as_str), Some("prod"));

    // An object whose status predates appliedTagKeys records nothing: a key that is on
    // the resource but not in the spec is left alone, as the operator cannot know who put
    // it there.
    let arn = fake.cluster(CLUSTER).unwrap().arn;
    ecs.tag_resource(&arn, &tags(&[("legacy", "1")]))
        .await
        .unwrap();
    cluster.status.as_mut().unwrap().applied_tag_keys.clear();
    fake.clear_calls();
    sync_ok(&fake, &mut cluster, &()).await;
    assert!(untag_calls(&fake).is_empty(), "{:?}", fake.calls());
    assert_eq!(
        fake.cluster(CLUSTER)
            .unwrap()
            .tags
            .get("legacy")
            .map(String::as_str),
        Some("1")
    );

    // A key removed from the spec that someone already took off: no call.
    cluster.spec.tags = tags(&[("gone", "1")]);
    bump(&mut cluster);
    sync_ok(&fake, &mut cluster, &()).await;
    ecs.untag_resource(&arn, &["gone".to_string()])
        .await
        .unwrap();
    cluster.spec.tags.clear();
    bump(&mut cluster);
    fake.clear_calls();
    sync_ok(&fake, &mut cluster, &()).await;
    assert!(untag_calls(&fake).is_empty(), "{:?}", fake.calls());
    assert!(cluster.status.as_ref().unwrap().applied_tag_keys.is_empty());
}
