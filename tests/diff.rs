//! `ecs-operator diff` against the in-memory [`FakeAws`]: it makes no mutating call, it
//! names what would change, and the writes it predicts are exactly the writes the real
//! syncs then make (both run the kinds' own `sync`; only the clients differ).

use kube::{Resource, ResourceExt};

use ecs_operator::api::cluster::{ClusterCapacity, EcsCluster, EcsClusterSpec};
use ecs_operator::api::common::ADOPT_ANNOTATION;
use ecs_operator::api::service::{
    EcsService, EcsServiceSpec, ElbHealthCheck, Listener, ListenerProtocol, LocalRef,
    ManagedLoadBalancer, ServiceLoadBalancer, TaskDefRef,
};
use ecs_operator::api::task_def::{
    ContainerDefinition, EcsTaskDef, EcsTaskDefSpec, KeyValuePair, LaunchType, PortMapping,
};
use ecs_operator::aws::fake::FakeAws;
use ecs_operator::aws::types::Tags;
use ecs_operator::aws::AwsProvider;
use ecs_operator::commands::diff::{diff, exit_code, format_report, Live, Manifests, ObjectDiff};
use ecs_operator::planning::ownership::owner_value;
use ecs_operator::reconciler::managed::{AwsContext, ManagedResource, Readiness, Synced};
use ecs_operator::reconciler::service::ServiceDeps;
use ecs_operator::reconciler::task_def::TaskDefDeps;

const MC: &str = "mc-test";
const NS: &str = "default";

fn with_meta<K: Resource>(mut obj: K) -> K {
    let m = obj.meta_mut();
    m.namespace = Some(NS.into());
    m.uid = Some(format!("uid-{}", m.name.clone().unwrap_or_default()));
    m.generation = Some(1);
    obj
}

fn cluster() -> EcsCluster {
    with_meta(EcsCluster::new(
        "my-ecs-cluster",
        EcsClusterSpec {
            capacity: Some(ClusterCapacity {
                instance_type: "t2.micro".into(),
                subnet_ids: vec!["subnet-a".into(), "subnet-b".into()],
                security_group_ids: vec!["sg-0123".into()],
                min_size: 2,
                max_size: 2,
                desired_capacity: Some(2),
                ..Default::default()
            }),
            ..Default::default()
        },
    ))
}

fn task_def() -> EcsTaskDef {
    with_meta(EcsTaskDef::new(
        "hello-world-task",
        EcsTaskDefSpec {
            container_definitions: vec![ContainerDefinition {
                name: "web".into(),
                image: "training/webapp:latest".into(),
                memory: Some(128),
                port_mappings: vec![PortMapping {
                    container_port: 5000,
                    host_port: Some(80),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        },
    ))
}

fn service() -> EcsService {
    with_meta(EcsService::new(
        "hello-world-service",
        EcsServiceSpec {
            cluster_ref: Some(LocalRef {
                name: "my-ecs-cluster".into(),
            }),
            task_def_ref: Some(TaskDefRef {
                name: "hello-world-task".into(),
                revision: None,
            }),
            desired_count: Some(2),
            launch_type: Some(LaunchType::Ec2),
            load_balancer: Some(ServiceLoadBalancer {
                container_name: "web".into(),
                container_port: 5000,
                managed: Some(ManagedLoadBalancer {
                    name: Some("ecs-load-balancer".into()),
                    subnet_ids: vec!["subnet-a".into(), "subnet-b".into()],
                    listeners: vec![Listener {
                        protocol: ListenerProtocol::Http,
                        load_balancer_port: 80,
                        instance_port: 80,
                        instance_protocol: None,
                    }],
                    health_check: Some(ElbHealthCheck {
                        target: "HTTP:80/".into(),
                        interval_seconds: 30,
                        timeout_seconds: 5,
                        healthy_threshold: 10,
                        unhealthy_threshold: 2,
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        },
    ))
}

fn cx<K: ManagedResource>(fake: &FakeAws, obj: &K) -> AwsContext {
    let adopt = obj
        .annotations()
        .get(ADOPT_ANNOTATION)
        .is_some_and(|v| v == "true");
    AwsContext::new(
        fake.clients(None),
        owner_value(MC, NS, K::KIND, &obj.name_any()),
        adopt,
        MC.into(),
    )
}

/// A real sync; its status is written back as the reconciler would.
async fn sync<K>(fake: &FakeAws, obj: &mut K, deps: &K::Deps) -> Synced<K::Status>
where
    K: ManagedResource + HasStatus,
{
    let s = obj
        .sync(deps, &cx(fake, obj))
        .await
        .unwrap_or_else(|e| panic!("sync of {} failed: {e}", obj.name_any()));
    obj.set_status(s.status.clone());
    s
}

trait HasStatus: ManagedResource {
    fn set_status(&mut self, status: Self::Status);
}
impl HasStatus for EcsCluster {
    fn set_status(&mut self, status: Self::Status) {
        self.status = Some(status);
    }
}
impl HasStatus for EcsTaskDef {
    fn set_status(&mut self, status: Self::Status) {
        self.status = Some(status);
    }
}
impl HasStatus for EcsService {
    fn set_status(&mut self, status: Self::Status) {
        self.status = Some(status);
    }
}

fn service_deps(c: &EcsCluster, t: &EcsTaskDef) -> ServiceDeps {
    ServiceDeps {
        cluster: c
            .status
            .as_ref()
            .and_then(|s| s.cluster_arn.clone())
            .expect("cluster synced"),
        task_definition: t
            .status
            .as_ref()
            .and_then(|s| s.task_definition_arn.clone())
            .expect("task definition synced"),
    }
}

/// Sync all three until every one is Ready (the fake moves on at each call).
async fn converge(fake: &FakeAws) -> (EcsCluster, EcsTaskDef, EcsService) {
    let (mut c, mut t, mut s) = (cluster(), task_def(), service());
    for _ in 0..20 {
        let cs = sync(fake, &mut c, &()).await;
        let ts = sync(fake, &mut t, &TaskDefDeps::default()).await;
        let deps = service_deps(&c, &t);
        let ss = sync(fake, &mut s, &deps).await;
        let ready = |r: &Readiness| matches!(r, Readiness::Ready(_));
        if ready(&cs.readiness) && ready(&ts.readiness) && ready(&ss.readiness) {
            return (c, t, s);
        }
        fake.tick();
    }
    panic!("the fake never converged");
}

fn operations(d: &ObjectDiff) -> Vec<String> {
    d.outcome
        .as_ref()
        .unwrap_or_else(|e| panic!("{} {} not previewed: {e}", d.kind, d.name))
        .writes
        .iter()
        .map(|w| w.operation.to_string())
        .collect()
}

fn by_kind<'a>(diffs: &'a [ObjectDiff], kind: &str) -> &'a ObjectDiff {
    diffs
        .iter()
        .find(|d| d.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} in the diff"))
}

#[tokio::test]
async fn diff_of_a_new_setup_predicts_every_creation_without_a_write() {
    let fake = FakeAws::new();
    let manifests = Manifests {
        clusters: vec![cluster()],
        task_defs: vec![task_def()],
        services: vec![service()],
    };
    let diffs = diff(&manifests, &fake, MC, &Live::offline()).await;
    assert!(
        fake.mutating_calls().is_empty(),
        "diff wrote: {:?}",
        fake.mutating_calls()
    );
    assert_eq!(
        operations(by_kind(&diffs, "EcsCluster")),
        [
            "ecs:CreateCluster",
            "ec2:CreateLaunchTemplate",
            "autoscaling:CreateAutoScalingGroup"
        ]
    );
    assert_eq!(
        operations(by_kind(&diffs, "EcsTaskDef")),
        ["ecs:RegisterTaskDefinition"]
    );
    assert_eq!(
        operations(by_kind(&diffs, "EcsService")),
        [
            "elasticloadbalancing:CreateLoadBalancer",
            "elasticloadbalancing:ConfigureHealthCheck",
            "ecs:CreateService"
        ]
    );
    assert_eq!(exit_code(&diffs), 1);
    let report = format_report(&diffs);
    assert!(
        report.contains("register task definition hello-world-task:1"),
        "{report}"
    );
    assert!(
        report.contains(
            "create ECS service hello-world-service in cluster my-ecs-cluster: 2 tasks of \
             hello-world-task:1"
        ),
        "{report}"
    );
}

#[tokio::test]
async fn diff_of_a_converged_setup_is_empty() {
    let fake = FakeAws::new();
    let (c, t, s) = converge(&fake).await;
    fake.clear_calls();
    let manifests = Manifests {
        clusters: vec![c],
        task_defs: vec![t],
        services: vec![s],
    };
    let diffs = diff(&manifests, &fake, MC, &Live::offline()).await;
    assert_eq!(exit_code(&diffs), 0, "{}", format_report(&diffs));
    assert!(fake.mutating_calls().is_empty());
}

#[tokio::test]
async fn the_predicted_writes_are_the_writes_the_real_syncs_make() {
    let fake = FakeAws::new();
    let (mut c, mut t, mut s) = converge(&fake).await;
    // Edits of all three, and drift behind the operator's back.
    if let Some(cap) = c.spec.capacity.as_mut() {
        cap.max_size = 4;
        cap.desired_capacity = Some(3);
        cap.instance_type = "t3.small".into();
    }
    c.spec.tags = Tags::from([("team".to_string(), "web".to_string())]);
    t.spec.container_definitions[0].environment = vec![KeyValuePair {
        name: "PROVIDER".into(),
        value: "ECS".into(),
    }];
    s.spec.desired_count = Some(3);
    let manifests = Manifests {
        clusters: vec![c.clone()],
        task_defs: vec![t.clone()],
        services: vec![s.clone()],
    };
    fake.clear_calls();
    let diffs = diff(&manifests, &fake, MC, &Live::offline()).await;
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
    assert_eq!(exit_code(&diffs), 1);
    let report = format_report(&diffs);
    for needle in [
        "~ Auto Scaling group maxSize 2 → 4",
        "~ Auto Scaling group desiredCapacity 2 → 3",
        "~ ECS cluster tags {} → {team=web}",
        "~ task definition revision hello-world-task:1 → hello-world-task:2",
        "> ecs:RegisterTaskDefinition: register task definition hello-world-task:2",
        "~ ECS service desiredCount 2 → 3",
        "roll to hello-world-task:2",
    ] {
        assert!(report.contains(needle), "{needle:?} not in\n{report}");
    }

    // The real syncs, in the same order, make exactly the predicted writes.
    let predicted: Vec<Vec<String>> = diffs.iter().map(operations).collect();
    let mut made = Vec::new();
    fake.clear_calls();
    sync(&fake, &mut c, &()).await;
    made.push(fake.mutating_calls());
    fake.clear_calls();
    sync(&fake, &mut t, &TaskDefDeps::default()).await;
    made.push(fake.mutating_calls());
    fake.clear_calls();
    let deps = service_deps(&c, &t);
    sync(&fake, &mut s, &deps).await;
    made.push(fake.mutating_calls());
    assert_eq!(predicted, made, "{report}");
}

#[tokio::test]
async fn a_service_whose_dependencies_are_missing_is_an_error() {
    let fake = FakeAws::new();
    let manifests = Manifests {
        services: vec![service()],
        ..Default::default()
    };
    let diffs = diff(&manifests, &fake, MC, &Live::offline()).await;
    assert_eq!(exit_code(&diffs), 2);
    let report = format_report(&diffs);
    assert!(
        report.contains("EcsCluster my-ecs-cluster is neither in the input"),
        "{report}"
    );
}

/// Adding autoScaling to a converged service: the diff predicts the scalable target and
/// its policy, names no desiredCount change, and the real sync makes exactly those writes.
#[tokio::test]
async fn adding_auto_scaling_predicts_the_target_and_policy() {
    use ecs_operator::api::service::{ScalingMetric, ServiceAutoScaling, TargetTrackingPolicy};

    let fake = FakeAws::new();
    let (c, t, mut s) = converge(&fake).await;
    s.spec.auto_scaling = Some(ServiceAutoScaling {
        min_count: 1,
        max_count: 4,
        target_tracking: vec![TargetTrackingPolicy {
            metric: ScalingMetric::Cpu,
            target: 60.0,
            scale_in_cooldown: None,
            scale_out_cooldown: None,
            load_balancer_arn: None,
        }],
    });
    let manifests = Manifests {
        clusters: vec![c.clone()],
        task_defs: vec![t.clone()],
        services: vec![s.clone()],
    };
    fake.clear_calls();
    let diffs = diff(&manifests, &fake, MC, &Live::offline()).await;
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
    let service_writes = operations(by_kind(&diffs, "EcsService"));
    assert_eq!(
        service_writes,
        [
            "application-autoscaling:RegisterScalableTarget",
            "application-autoscaling:PutScalingPolicy"
        ]
    );
    let report = format_report(&diffs);
    assert!(
        report.contains(
            "register scalable target service/my-ecs-cluster/hello-world-service: 1–4 tasks"
        ),
        "{report}"
    );
    assert!(!report.contains("desiredCount"), "{report}");

    fake.clear_calls();
    sync(&fake, &mut s, &service_deps(&c, &t)).await;
    assert_eq!(fake.mutating_calls(), service_writes);
}

#[tokio::test]
async fn a_missing_reference_is_an_error_naming_it_and_predicts_no_write() {
    let fake = FakeAws::new();
    fake.remove_references(&["subnet-b"]);
    let manifests = Manifests {
        clusters: vec![cluster()],
        task_defs: vec![],
        services: vec![],
    };
    let diffs = diff(&manifests, &fake, MC, &Live::offline()).await;
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
    assert_eq!(exit_code(&diffs), 2);
    let report = format_report(&diffs);
    assert!(
        report.contains("subnet subnet-b (capacity.subnetIds) does not exist"),
        "{report}"
    );
}

/// Moving a converged service behind a managed ALB target group: the diff predicts the
/// group, the rule forwarding to it (with the pretended group's name) and the service
/// update, writes nothing, and the real sync makes exactly those writes.
#[tokio::test]
async fn adding_a_managed_target_group_predicts_group_rule_and_service_update() {
    use ecs_operator::api::service::{ListenerRuleSpec, ManagedTargetGroup, ServiceLoadBalancer};

    let fake = FakeAws::new();
    let (c, t, mut s) = converge(&fake).await;
    let (_lb, listener) = fake.add_alb("web", "vpc-0abc");
    s.spec.load_balancer = Some(ServiceLoadBalancer {
        container_name: "web".into(),
        container_port: 5000,
        managed_target_group: Some(ManagedTargetGroup {
            name: Some("hello-tg".into()),
            listener_arn: listener.clone(),
            rule: ListenerRuleSpec {
                priority: 10,
                path_patterns: vec!["/hello/*".into()],
                host_headers: vec![],
            },
            ..Default::default()
        }),
        ..Default::default()
    });
    s.spec.role = None;
    let manifests = Manifests {
        clusters: vec![c.clone()],
        task_defs: vec![t.clone()],
        services: vec![s.clone()],
    };
    fake.clear_calls();
    let diffs = diff(&manifests, &fake, MC, &Live::offline()).await;
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
    let report = format_report(&diffs);
    let service_writes = operations(by_kind(&diffs, "EcsService"));
    assert_eq!(
        &service_writes[..2],
        [
            "elasticloadbalancing:CreateTargetGroup",
            "elasticloadbalancing:CreateRule"
        ],
        "{report}"
    );
    assert!(
        report.contains("create target group hello-tg (vpc-0abc HTTP:5000, target type instance"),
        "{report}"
    );
    assert!(
        report.contains("priority 10") && report.contains("path /hello/* → target group hello-tg"),
        "{report}"
    );

    fake.clear_calls();
    sync(&fake, &mut s, &service_deps(&c, &t)).await;
    // The dry run's pretended UpdateService answers the service as moved off the old
    // managed classic ELB, so it also predicts the ELB's deletion; the real sync deletes it
    // a sync later, once the old deployment is gone (the order is the same, not the sync).
    assert_eq!(
        service_writes.last().map(String::as_str),
        Some("elasticloadbalancing:DeleteLoadBalancer")
    );
    let expected = &service_writes[..service_writes.len() - 1];
    assert_eq!(fake.mutating_calls(), expected);
}
