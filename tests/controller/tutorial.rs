//! The tutorial, end to end: cluster, task definition and service converge to Ready, and a
//! resync makes no mutating call.

use base64::Engine;

use ecs_operator::api::cluster::DEFAULT_IMAGE_ID;
use ecs_operator::aws::fake::FakeAws;
use ecs_operator::aws::types::ServiceLoadBalancerRef;
use ecs_operator::planning::ownership::{MANAGED_BY_TAG, OWNER_TAG};

use super::support::{
    container, deps_for, health_check, is_preflight_read, is_ready, no_deps, not_ready_reason,
    owner, progressing, sync_ok, td_arn, tutorial_cluster, tutorial_service, tutorial_task_def,
    CLUSTER, ELB, FAMILY, ROLE, SERVICE,
};

#[tokio::test]
async fn tutorial_converges_to_ready_and_a_resync_makes_no_mutating_call() {
    let fake = FakeAws::new();
    fake.set_auto_progress(false);
    fake.set_tasks_per_step(Some(2));
    fake.set_known_roles(&[ROLE]);

    // The cluster with capacity 5.
    let mut cluster = tutorial_cluster();
    let s = sync_ok(&fake, &mut cluster, &()).await;
    assert_eq!(
        fake.calls(),
        [
            // Preflight: what the capacity refers to exists, before any write.
            "ec2:DescribeSubnets",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeKeyPairs",
            "iam:GetInstanceProfile",
            "ecs:DescribeClusters",
            "ecs:CreateCluster",
            "ec2:DescribeLaunchTemplates",
            "ec2:CreateLaunchTemplate",
            "autoscaling:DescribeAutoScalingGroups",
            "autoscaling:CreateAutoScalingGroup",
        ]
    );
    assert_eq!(
        not_ready_reason(&s),
        Some(("ScalingCapacity", "0/5 instances in service".into()))
    );
    let versions = fake.launch_template_versions("my-ecs-cluster-ecs-capacity");
    assert_eq!(versions.len(), 1);
    let data = &versions[0].0;
    assert_eq!(data.instance_type, "t2.micro");
    assert_eq!(data.image_id, DEFAULT_IMAGE_ID);
    assert_eq!(data.instance_profile.as_deref(), Some("ecs-instance-role"));
    assert_eq!(data.key_name.as_deref(), Some("my-ec2-key-pair"));
    let user_data = base64::engine::general_purpose::STANDARD
        .decode(&data.user_data_base64)
        .unwrap();
    assert_eq!(
        String::from_utf8(user_data).unwrap(),
        "#!/bin/bash\necho ECS_CLUSTER=my-ecs-cluster >> /etc/ecs/ecs.config\n"
    );
    let lt = &fake.launch_templates()[0];
    let group = fake.group("my-ecs-cluster-ecs-capacity").expect("group");
    assert_eq!(
        (group.min_size, group.max_size, group.desired_capacity),
        (5, 5, 5)
    );
    assert_eq!(group.launch_template_id.as_deref(), Some(lt.id.as_str()));
    assert_eq!(group.launch_template_version.as_deref(), Some("1"));
    assert_eq!(group.subnet_ids, ["subnet-a", "subnet-b"]);
    let cluster_owner = owner("EcsCluster", CLUSTER);
    for tags in [&group.tags, &lt.tags, &fake.cluster(CLUSTER).unwrap().tags] {
        assert_eq!(tags.get(OWNER_TAG), Some(&cluster_owner));
        assert_eq!(
            tags.get(MANAGED_BY_TAG).map(String::as_str),
            Some("ecs-operator")
        );
    }

    // The instances come up and join the cluster through their user data.
    fake.tick();
    fake.clear_calls();
    let s = sync_ok(&fake, &mut cluster, &()).await;
    assert!(is_ready(&s), "{:?}", s.readiness);
    assert_eq!(s.status.registered_container_instances, Some(5));
    let cap = s.status.capacity.as_ref().unwrap();
    assert_eq!((cap.in_service_instances, cap.desired_capacity), (5, 5));
    assert_eq!(cap.launch_template_version, "1");
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
    // The generation synced already: no preflight again while it converges.
    assert!(
        !fake.calls().iter().any(|c| is_preflight_read(c)),
        "{:?}",
        fake.calls()
    );

    // The task definition: revision 1.
    let mut td = tutorial_task_def();
    let s = sync_ok(&fake, &mut td, &no_deps()).await;
    assert_eq!(s.status.latest_revision, Some(1));
    assert_eq!(s.status.task_definition_arn.as_deref(), Some(&*td_arn(1)));
    assert_eq!(s.status.active_revisions, [1]);
    assert!(is_ready(&s));
    let sent = fake.registered_inputs();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].family, FAMILY);
    assert_eq!(sent[0].definition.container_definitions, [container()]);
    assert_eq!(
        sent[0].tags.get(OWNER_TAG),
        Some(&owner("EcsTaskDef", FAMILY))
    );

    // The service: the ELB first, then the service.
    let deps = deps_for(&cluster, &td);
    fake.clear_calls();
    let mut svc = tutorial_service();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert_eq!(
        fake.calls(),
        [
            "ec2:DescribeSubnets",
            "ec2:DescribeSecurityGroups",
            "iam:GetRole",
            "elasticloadbalancing:DescribeLoadBalancers",
            "elasticloadbalancing:CreateLoadBalancer",
            "elasticloadbalancing:ConfigureHealthCheck",
            "ecs:DescribeServices",
            "ecs:CreateService",
        ]
    );
    let elb = fake.load_balancer(ELB).expect("managed ELB");
    assert_eq!(elb.health_check, Some(health_check()));
    assert_eq!(elb.scheme.as_deref(), Some("internet-facing"));
    assert_eq!(elb.listeners.len(), 1);
    assert_eq!(elb.listeners[0].load_balancer_port, 80);
    assert_eq!(
        fake.load_balancer_tags(ELB).unwrap().get(OWNER_TAG),
        Some(&owner("EcsService", SERVICE))
    );
    let created = &fake.service_creates()[0];
    assert_eq!(created.desired_count, 4);
    assert_eq!(created.task_definition, td_arn(1));
    assert_eq!(created.role.as_deref(), Some(ROLE));
    assert_eq!(
        created.load_balancers,
        [ServiceLoadBalancerRef {
            load_balancer_name: Some(ELB.into()),
            target_group_arn: None,
            container_name: "hello-world-container".into(),
            container_port: 5000,
        }]
    );
    assert_eq!(
        s.status.load_balancer.as_ref().unwrap().dns_name.as_deref(),
        Some("ecs-load-balancer-123456.us-east-1.elb.amazonaws.com")
    );
    assert_eq!(not_ready_reason(&s).unwrap().0, "DeploymentInProgress");
    assert!(progressing(&s).status);

    // Rolling out, two tasks per step.
    fake.tick();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    let (reason, message) = not_ready_reason(&s).unwrap();
    assert_eq!(reason, "DeploymentInProgress");
    assert!(message.contains("2/4"), "{message}");
    assert_eq!(s.status.running_count, Some(2));
    assert!(progressing(&s).status);

    fake.tick();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert!(is_ready(&s), "{:?}", s.readiness);
    let p = progressing(&s);
    assert!(!p.status);
    assert_eq!(p.reason, "DeploymentCompleted");
    assert_eq!(s.status.running_count, Some(4));
    assert_eq!(s.status.rollout_state.as_deref(), Some("COMPLETED"));
    assert_eq!(
        s.status.task_definition.as_deref(),
        Some("hello-world-task:1")
    );
    assert_eq!(
        s.status.events[0].message,
        "(service hello-world-service) has reached a steady state."
    );

    let s = sync_ok(&fake, &mut cluster, &()).await;
    assert_eq!(s.status.active_services, Some(1));
    assert_eq!(s.status.running_tasks, Some(4));

    // Resync of all three without changes: reads only.
    fake.clear_calls();
    sync_ok(&fake, &mut cluster, &()).await;
    sync_ok(&fake, &mut td, &no_deps()).await;
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert!(is_ready(&s));
    assert!(s.notes.is_empty(), "{:?}", s.notes);
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
    assert_eq!(fake.count("ecs:DescribeServices"), 1);
    assert_eq!(fake.count("ecs:ListTaskDefinitions"), 1);
    assert_eq!(fake.task_definition_revisions(FAMILY).len(), 1);
}
