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
    CreateGroupInput, CreateLoadBalancerInput, CreateServiceInput, LaunchConfiguration,
    LaunchTemplateData, RegisterTaskDefinitionInput, ServiceLoadBalancerRef, Tags,
    UpdateGroupInput,
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

/// What the tutorial's Auto Scaling group launches from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Launch {
    /// A launch template, as the console offers today.
    Template,
    /// A launch configuration, as the tutorial itself makes.
    Configuration,
}

fn tutorial_launch_data() -> LaunchTemplateData {
    LaunchTemplateData {
        image_id: "ami-0123".into(),
        instance_type: "t2.micro".into(),
        instance_profile: Some("ecs-instance-role".into()),
        security_group_ids: vec!["sg-0123".into()],
        key_name: Some("my-ec2-key-pair".into()),
        user_data_base64: user_data(),
    }
}

/// The tutorial, as a person makes it in the console.
async fn by_hand(fake: &FakeAws, launch: Launch) {
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
    let group = CreateGroupInput {
        name: "ecs-auto-scaling-group".into(),
        launch_template_version: "$Default".into(),
        min_size: 2,
        max_size: 2,
        desired_capacity: 2,
        subnet_ids: vec!["subnet-a".into(), "subnet-b".into()],
        load_balancer_names: vec!["ecs-load-balancer".into()],
        tags: none.clone(),
        ..Default::default()
    };
    match launch {
        Launch::Template => {
            let lt = fake
                .create_launch_template(
                    "ecs-launch-template",
                    &tutorial_launch_data(),
                    "made in the console",
                    &none,
                )
                .await
                .unwrap();
            fake.create_group(&CreateGroupInput {
                launch_template_id: lt.id.clone(),
                ..group
            })
            .await
            .unwrap();
        }
        Launch::Configuration => {
            fake.create_launch_configuration(&LaunchConfiguration {
                name: "ecs-launch-configuration".into(),
                data: tutorial_launch_data(),
                ..Default::default()
            });
            fake.create_group_from_launch_configuration("ecs-launch-configuration", &group);
        }
    }
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

/// As `kubectl apply` and the operator would: the rendered objects, synced (clusters,
/// then task definitions, then services) until every one is Ready.
async fn adopt(fake: &FakeAws, yaml: &str) {
    let mut clusters: Vec<EcsCluster> = Vec::new();
    let mut task_defs: Vec<EcsTaskDef> = Vec::new();
    let mut services: Vec<EcsService> = Vec::new();
    for doc in yaml.split("---\n").filter(|d| !d.is_empty()) {
        let value: serde_yaml::Value = serde_yaml::from_str(doc).unwrap();
        match value["kind"].as_str() {
            Some("EcsCluster") => clusters.push(applied(serde_yaml::from_value(value).unwrap())),
            Some("EcsTaskDef") => task_defs.push(applied(serde_yaml::from_value(value).unwrap())),
            Some("EcsService") => services.push(applied(serde_yaml::from_value(value).unwrap())),
            other => panic!("unexpected kind {other:?}"),
        }
    }
    let ready = |r: &Readiness| matches!(r, Readiness::Ready(_));
    for _ in 0..20 {
        let mut all_ready = true;
        for c in &mut clusters {
            let synced = c.sync(&(), &cx(fake, c)).await.expect("cluster");
            all_ready &= ready(&synced.readiness);
            c.status = Some(synced.status);
        }
        for t in &mut task_defs {
            let synced = t
                .sync(&TaskDefDeps::default(), &cx(fake, t))
                .await
                .expect("task definition");
            all_ready &= ready(&synced.readiness);
            t.status = Some(synced.status);
        }
        for s in &mut services {
            let cluster = s.spec.cluster_ref.as_ref().unwrap().name.clone();
            let task_def = s.spec.task_def_ref.as_ref().unwrap().name.clone();
            let status_of = |name: &str| {
                clusters
                    .iter()
                    .find(|c| c.name_any() == name)
                    .and_then(|c| c.status.as_ref()?.cluster_arn.clone())
            };
            let deps = ServiceDeps {
                cluster: status_of(&cluster).expect("the cluster's ARN"),
                task_definition: task_defs
                    .iter()
                    .find(|t| t.name_any() == task_def)
                    .and_then(|t| t.status.as_ref()?.task_definition_arn.clone())
                    .expect("the task definition's ARN"),
            };
            let synced = s.sync(&deps, &cx(fake, s)).await.expect("service");
            all_ready &= ready(&synced.readiness);
            s.status = Some(synced.status);
        }
        if all_ready {
            return;
        }
        fake.tick();
    }
    panic!("the imported objects never became Ready");
}

#[tokio::test]
async fn an_imported_hand_built_tutorial_is_adopted_with_tag_writes_only() {
    let fake = FakeAws::new();
    by_hand(&fake, Launch::Template).await;
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

    adopt(&fake, &yaml).await;
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

/// The tutorial exactly as it is written: the group launches from a launch configuration.
/// Import describes it as the launch template the operator would make, says so, and
/// adopting it makes that template and moves the group onto it, and writes nothing else
/// but tags: no new instances, no other group setting.
#[tokio::test]
async fn a_tutorial_on_a_launch_configuration_is_moved_to_a_launch_template_on_adoption() {
    let fake = FakeAws::new();
    by_hand(&fake, Launch::Configuration).await;
    fake.tick();
    let instances_before = fake.instance_versions("ecs-auto-scaling-group");
    assert_eq!(instances_before.len(), 2);
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
    assert_eq!(imported.warnings.len(), 1, "{:?}", imported.warnings);
    let warning = &imported.warnings[0];
    for needle in [
        "ecs-auto-scaling-group",
        "launch configuration ecs-launch-configuration",
        "creates launch template my-ecs-cluster-ecs-capacity",
        "existing instances are not replaced",
    ] {
        assert!(warning.contains(needle), "{needle:?} not in {warning}");
    }
    let cap = imported.clusters[0]
        .spec
        .capacity
        .clone()
        .expect("capacity");
    assert_eq!(cap.launch_template_name, None);
    assert_eq!(
        cap.auto_scaling_group_name.as_deref(),
        Some("ecs-auto-scaling-group")
    );
    assert_eq!(cap.image_id.as_deref(), Some("ami-0123"));
    assert_eq!(cap.user_data_verbatim, Some(true));

    adopt(&fake, &render(&imported).expect("render")).await;
    let writes = fake.mutating_calls();
    let beyond: Vec<&String> = writes
        .iter()
        .filter(|c| !TAG_WRITES.contains(&c.as_str()))
        .collect();
    assert_eq!(
        beyond,
        [
            "ec2:CreateLaunchTemplate",
            "autoscaling:UpdateAutoScalingGroup"
        ],
        "adoption wrote more than the move and tags: {writes:?}"
    );
    let template = fake
        .describe_launch_template("my-ecs-cluster-ecs-capacity")
        .await
        .unwrap()
        .expect("the operator's launch template");
    assert_eq!(
        fake.launch_template_versions("my-ecs-cluster-ecs-capacity")
            .len(),
        1
    );
    // The update moved the group and changed nothing else.
    assert_eq!(
        fake.group_updates(),
        [UpdateGroupInput {
            name: "ecs-auto-scaling-group".into(),
            launch_template: Some((template.id.clone(), "1".into())),
            ..Default::default()
        }]
    );
    let group = fake.group("ecs-auto-scaling-group").unwrap();
    assert_eq!(group.launch_configuration_name, None);
    assert_eq!(group.launch_template_id, Some(template.id));
    assert_eq!(
        fake.instance_versions("ecs-auto-scaling-group"),
        instances_before,
        "instances were replaced"
    );
    assert!(group.tags.contains_key("ecsoperator.io/owner"));
}

/// A hand-built cluster with an EC2 capacity provider over the tutorial's group (named by
/// hand, with managed scaling), FARGATE and FARGATE_SPOT attached, a default strategy, and
/// a service placed by a strategy: imported into capacity.capacityProvider (with its name),
/// capacityProviders, defaultCapacityProviderStrategy and the service's
/// capacityProviderStrategy, and adopted with tag writes only.
#[tokio::test]
async fn capacity_providers_and_strategies_are_imported_and_adopted_with_tags_only() {
    use ecs_operator::api::cluster::{FargateCapacityProvider, ManagedScaling, Toggle};
    use ecs_operator::api::common::CapacityProviderStrategyItem;
    use ecs_operator::aws::types::{
        CapacityProviderSettings, CreateCapacityProviderInput, ManagedScalingSettings, StrategyItem,
    };

    let fake = FakeAws::new();
    by_hand(&fake, Launch::Template).await;
    let group = fake.group("ecs-auto-scaling-group").unwrap();
    let group_arn = group.arn.clone().unwrap();
    // A second group joins the cluster by its user data too: the provider says which one
    // is the cluster's.
    fake.create_group(&CreateGroupInput {
        name: "ecs-spare-group".into(),
        launch_template_id: group.launch_template_id.clone().unwrap(),
        launch_template_version: "$Default".into(),
        min_size: 0,
        max_size: 1,
        desired_capacity: 0,
        subnet_ids: vec!["subnet-a".into()],
        tags: Tags::new(),
        ..Default::default()
    })
    .await
    .unwrap();
    fake.create_capacity_provider(&CreateCapacityProviderInput {
        name: "tutorial-capacity".into(),
        auto_scaling_group_arn: group_arn,
        settings: CapacityProviderSettings {
            managed_scaling: Some(ManagedScalingSettings {
                target_capacity: 90,
                minimum_scaling_step_size: 1,
                maximum_scaling_step_size: 10,
                instance_warmup_period: 120,
            }),
            managed_termination_protection: false,
            managed_draining: true,
        },
        tags: Tags::new(),
    })
    .await
    .unwrap();
    let item = |p: &str, weight: i32, base: i32| StrategyItem {
        capacity_provider: p.into(),
        weight,
        base,
    };
    fake.put_cluster_capacity_providers(
        "my-ecs-cluster",
        &[
            "FARGATE".into(),
            "FARGATE_SPOT".into(),
            "tutorial-capacity".into(),
        ],
        &[item("tutorial-capacity", 1, 1), item("FARGATE_SPOT", 2, 0)],
    )
    .await
    .unwrap();
    let td_arn = fake.task_definition_revisions("hello-world-task")[0]
        .arn
        .clone();
    fake.create_service(&CreateServiceInput {
        cluster: "my-ecs-cluster".into(),
        name: "worker".into(),
        task_definition: td_arn,
        desired_count: 1,
        capacity_provider_strategy: vec![item("tutorial-capacity", 1, 0)],
        client_token: "console-worker".into(),
        ..Default::default()
    })
    .await
    .unwrap();
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
    let spec = &imported.clusters[0].spec;
    let cap = spec.capacity.as_ref().expect("capacity");
    let provider = cap.capacity_provider.as_ref().expect("capacityProvider");
    // Not the operator's default name (my-ecs-cluster-ec2): stated.
    assert_eq!(provider.name.as_deref(), Some("tutorial-capacity"));
    assert_eq!(
        provider.managed_scaling,
        Some(ManagedScaling {
            status: Toggle::Enabled,
            target_capacity: 90,
            minimum_scaling_step_size: 1,
            maximum_scaling_step_size: 10,
            instance_warmup_period: 120,
        })
    );
    assert_eq!(provider.managed_termination_protection, Toggle::Disabled);
    assert_eq!(provider.managed_draining, Toggle::Enabled);
    // ECS sets the group's desired capacity: not the operator's to state.
    assert_eq!(cap.desired_capacity, None);
    assert_eq!(
        spec.capacity_providers,
        [
            FargateCapacityProvider::Fargate,
            FargateCapacityProvider::FargateSpot
        ]
    );
    let stated = |p: &str, weight: i32, base: Option<i32>| CapacityProviderStrategyItem {
        capacity_provider: p.into(),
        weight: Some(weight),
        base,
    };
    assert_eq!(
        spec.default_capacity_provider_strategy,
        [
            stated("tutorial-capacity", 1, Some(1)),
            stated("FARGATE_SPOT", 2, None)
        ]
    );
    let worker = imported
        .services
        .iter()
        .find(|s| s.spec.service_name.as_deref() == Some("worker"))
        .expect("the worker service");
    assert_eq!(worker.spec.launch_type, None);
    assert_eq!(
        worker.spec.capacity_provider_strategy,
        [stated("tutorial-capacity", 1, None)]
    );

    adopt(&fake, &render(&imported).expect("render")).await;
    let writes = fake.mutating_calls();
    assert!(
        writes.iter().all(|w| TAG_WRITES.contains(&w.as_str())),
        "adoption wrote more than tags: {writes:?}"
    );
    let provider = fake.capacity_provider("tutorial-capacity").unwrap();
    assert!(
        provider.tags.contains_key("ecsoperator.io/owner"),
        "the provider was not adopted: {provider:?}"
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
    by_hand(&fake, Launch::Template).await;
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
