//! `ecs-operator import` against the in-memory [`FakeAws`]: the tutorial built by hand
//! (no owner tags, no spec hash, a launch template version without the operator's
//! description, user data typed by a person), imported, then synced as the operator would:
//! every object becomes Ready and the only writes are owner tags.

use kube::{Resource, ResourceExt};

use ecs_operator::api::cluster::EcsCluster;
use ecs_operator::api::service::{
    EcsService, ElbHealthCheck, Listener, ListenerProtocol, LoadBalancerScheme,
};
use ecs_operator::api::task_def::{
    ContainerDefinition, EcsTaskDef, EcsTaskDefSpec, LaunchType, PortMapping, Protocol,
};
use ecs_operator::aws::fake::FakeAws;
use ecs_operator::aws::types::{
    CreateGroupInput, CreateLoadBalancerInput, CreateServiceInput, LaunchTemplateData,
    RegisterTaskDefinitionInput, ServiceLoadBalancerRef, Tags,
};
use ecs_operator::aws::{AutoScalingApi, AwsProvider, Ec2Api, EcsApi, ElbApi};
use ecs_operator::commands::import::{import, render, ImportOptions};
use ecs_operator::planning::ownership::owner_value;
use ecs_operator::reconciler::managed::{AwsContext, ManagedResource, Readiness};
use ecs_operator::reconciler::service::ServiceDeps;
use ecs_operator::reconciler::task_def::TaskDefDeps;

const MC: &str = "mc-test";
const NS: &str = "imported";
const TAG_WRITES: [&str; 4] = [
    "ecs:TagResource",
    "ec2:CreateTags",
    "autoscaling:CreateOrUpdateTags",
    "elasticloadbalancing:AddTags",
];

fn user_data() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .encode("#!/bin/bash\n\necho ECS_CLUSTER=my-ecs-cluster > /etc/ecs/ecs.config\n")
}

/// The tutorial, as a person makes it in the console.
async fn by_hand(fake: &FakeAws) {
    let none = Tags::new();
    fake.create_cluster("my-ecs-cluster", &none).await.unwrap();
    fake.create_load_balancer(&CreateLoadBalancerInput {
        name: "ecs-load-balancer".into(),
        scheme: LoadBalancerScheme::InternetFacing,
        subnet_ids: vec!["subnet-a".into(), "subnet-b".into()],
        security_group_ids: vec!["sg-0123".into()],
        listeners: vec![Listener {
            protocol: ListenerProtocol::Http,
            load_balancer_port: 80,
            instance_port: 80,
            instance_protocol: Some(ListenerProtocol::Http),
        }],
        tags: none.clone(),
    })
    .await
    .unwrap();
    fake.configure_health_check(
        "ecs-load-balancer",
        &ElbHealthCheck {
            target: "HTTP:80/".into(),
            interval_seconds: 30,
            timeout_seconds: 5,
            healthy_threshold: 10,
            unhealthy_threshold: 2,
        },
    )
    .await
    .unwrap();
    let lt = fake
        .create_launch_template(
            "ecs-launch-template",
            &LaunchTemplateData {
                image_id: "ami-0123".into(),
                instance_type: "t2.micro".into(),
                instance_profile: Some("ecs-instance-role".into()),
                security_group_ids: vec!["sg-0123".into()],
                key_name: Some("my-ec2-key-pair".into()),
                user_data_base64: user_data(),
            },
            "made in the console",
            &none,
        )
        .await
        .unwrap();
    fake.create_group(&CreateGroupInput {
        name: "ecs-auto-scaling-group".into(),
        launch_template_id: lt.id.clone(),
        launch_template_version: "$Default".into(),
        min_size: 2,
        max_size: 2,
        desired_capacity: 2,
        subnet_ids: vec!["subnet-a".into(), "subnet-b".into()],
        load_balancer_names: vec!["ecs-load-balancer".into()],
        tags: none.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    let td = fake
        .register_task_definition(&RegisterTaskDefinitionInput {
            family: "hello-world-task".into(),
            definition: EcsTaskDefSpec {
                container_definitions: vec![ContainerDefinition {
                    name: "hello-world-container".into(),
                    image: "training/webapp:latest".into(),
                    memory: Some(128),
                    essential: Some(true),
                    port_mappings: vec![PortMapping {
                        container_port: 5000,
                        host_port: Some(80),
                        protocol: Some(Protocol::Tcp),
                        name: None,
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            },
            tags: none.clone(),
        })
        .await
        .unwrap();
    fake.create_service(&CreateServiceInput {
        cluster: "my-ecs-cluster".into(),
        name: "hello-world-service".into(),
        task_definition: td.arn,
        desired_count: 2,
        launch_type: Some(LaunchType::Ec2),
        load_balancers: vec![ServiceLoadBalancerRef {
            load_balancer_name: Some("ecs-load-balancer".into()),
            target_group_arn: None,
            container_name: "hello-world-container".into(),
            container_port: 5000,
        }],
        tags: none,
        client_token: "console".into(),
        ..Default::default()
    })
    .await
    .unwrap();
}

fn cx<K: ManagedResource>(fake: &FakeAws, obj: &K) -> AwsContext {
    let adopt = obj
        .annotations()
        .get("ecsoperator.io/adopt")
        .is_some_and(|v| v == "true");
    AwsContext::new(
        fake.clients(None),
        owner_value(MC, NS, K::KIND, &obj.name_any()),
        adopt,
        MC.into(),
    )
}

fn applied<K: Resource>(mut obj: K) -> K {
    obj.meta_mut().uid = Some(format!(
        "uid-{}",
        obj.meta().name.clone().unwrap_or_default()
    ));
    obj.meta_mut().generation = Some(1);
    obj
}

#[tokio::test]
async fn an_imported_hand_built_tutorial_is_adopted_with_tag_writes_only() {
    let fake = FakeAws::new();
    by_hand(&fake).await;
    fake.clear_calls();

    let imported = import(
        &fake.clients(None),
        &ImportOptions {
            cluster: "my-ecs-cluster".into(),
            namespace: Some(NS.into()),
            ..Default::default()
        },
    )
    .await
    .expect("import");
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
    assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
    let yaml = render(&imported).expect("render");
    assert_eq!(yaml.matches("\nkind: ").count(), 3, "{yaml}");

    // As `kubectl apply` and the operator would: the rendered objects, synced until Ready.
    let docs: Vec<&str> = yaml.split("---\n").filter(|d| !d.is_empty()).collect();
    let mut cluster: EcsCluster = applied(serde_yaml::from_str(docs[0]).unwrap());
    let mut td: EcsTaskDef = applied(serde_yaml::from_str(docs[1]).unwrap());
    let mut service: EcsService = applied(serde_yaml::from_str(docs[2]).unwrap());
    let ready = |r: &Readiness| matches!(r, Readiness::Ready(_));
    let mut all_ready = false;
    for _ in 0..20 {
        let c = cluster
            .sync(&(), &cx(&fake, &cluster))
            .await
            .expect("cluster");
        cluster.status = Some(c.status.clone());
        let t = td
            .sync(&TaskDefDeps::default(), &cx(&fake, &td))
            .await
            .expect("task definition");
        td.status = Some(t.status.clone());
        let deps = ServiceDeps {
            cluster: c.status.cluster_arn.clone().unwrap(),
            task_definition: t.status.task_definition_arn.clone().unwrap(),
        };
        let s = service
            .sync(&deps, &cx(&fake, &service))
            .await
            .expect("service");
        service.status = Some(s.status.clone());
        if ready(&c.readiness) && ready(&t.readiness) && ready(&s.readiness) {
            all_ready = true;
            break;
        }
        fake.tick();
    }
    assert!(all_ready, "the imported objects never became Ready");
    let writes = fake.mutating_calls();
    let beyond: Vec<&String> = writes
        .iter()
        .filter(|c| !TAG_WRITES.contains(&c.as_str()))
        .collect();
    assert!(
        beyond.is_empty(),
        "adoption wrote more than tags: {writes:?}"
    );
    for op in TAG_WRITES {
        assert!(writes.iter().any(|w| w == op), "no {op} in {writes:?}");
    }
    // Revision 1 is kept (and now carries the spec hash), no version 2 was made.
    assert_eq!(fake.task_definition_revisions("hello-world-task").len(), 1);
    assert_eq!(
        fake.launch_template_versions("ecs-launch-template").len(),
        1
    );
}

/// A hand-built service scaled by Application Auto Scaling is imported with its
/// autoScaling and without desiredCount, and adopting it writes only tags: the scaler's
/// count stays.
#[tokio::test]
async fn an_autoscaled_service_is_imported_without_desired_count_and_adopted_with_tags_only() {
    use ecs_operator::api::service::ScalingMetric;
    use ecs_operator::aws::types::{
        PutScalingPolicyInput, RegisterScalableTargetInput, TargetTrackingConfig,
    };
    use ecs_operator::aws::AppAutoScalingApi;

    let fake = FakeAws::new();
    by_hand(&fake).await;
    let id = "service/my-ecs-cluster/hello-world-service";
    fake.register_scalable_target(&RegisterScalableTargetInput {
        resource_id: id.into(),
        min_capacity: 1,
        max_capacity: 5,
        tags: Tags::new(),
    })
    .await
    .unwrap();
    fake.put_scaling_policy(&PutScalingPolicyInput {
        name: "hello-world-service-cpu".into(),
        resource_id: id.into(),
        config: TargetTrackingConfig {
            predefined_metric: "ECSServiceAverageCPUUtilization".into(),
            target_value: 55.0,
            ..Default::default()
        },
    })
    .await
    .unwrap();
    fake.autoscale(id, 3);

    let imported = import(
        &fake.clients(None),
        &ImportOptions {
            cluster: "my-ecs-cluster".into(),
            namespace: Some(NS.into()),
            ..Default::default()
        },
    )
    .await
    .expect("import");
    assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
    let spec = &imported.services[0].spec;
    assert_eq!(spec.desired_count, None);
    let auto = spec.auto_scaling.as_ref().expect("autoScaling");
    assert_eq!((auto.min_count, auto.max_count), (1, 5));
    assert_eq!(auto.target_tracking[0].metric, ScalingMetric::Cpu);
    assert_eq!(auto.target_tracking[0].target, 55.0);

    let cluster_arn = fake.cluster("my-ecs-cluster").unwrap().arn;
    let td_arn = fake.task_definition_revisions("hello-world-task")[0]
        .arn
        .clone();
    let mut service: EcsService = applied(imported.services[0].clone());
    fake.clear_calls();
    let deps = ServiceDeps {
        cluster: cluster_arn,
        task_definition: td_arn,
    };
    for _ in 0..3 {
        let s = service
            .sync(&deps, &cx(&fake, &service))
            .await
            .expect("service");
        service.status = Some(s.status.clone());
        fake.tick();
    }
    let writes = fake.mutating_calls();
    assert!(
        writes
            .iter()
            .all(|w| TAG_WRITES.contains(&w.as_str()) || w == "application-autoscaling:TagResource"),
        "adoption wrote more than tags: {writes:?}"
    );
    assert!(writes
        .iter()
        .any(|w| w == "application-autoscaling:TagResource"));
    assert_eq!(
        fake.service("my-ecs-cluster", "hello-world-service")
            .unwrap()
            .desired_count,
        3
    );
}
