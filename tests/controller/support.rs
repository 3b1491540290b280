//! Fixtures and helpers shared by the topic modules: the tutorial's objects, and the harness
//! that syncs and cleans them up against the fake.

use kube::{Resource, ResourceExt};

use ecs_operator::api::cluster::{ClusterCapacity, EcsCluster, EcsClusterSpec};
use ecs_operator::api::service::{
    DeploymentConfiguration, EcsService, EcsServiceSpec, ElbHealthCheck, Listener,
    ListenerProtocol, ListenerRuleSpec, LoadBalancerScheme, LocalRef, ManagedLoadBalancer,
    ManagedTargetGroup, ServiceLoadBalancer, TargetGroupHealthCheckSpec, TaskDefRef,
};
use ecs_operator::api::task_def::{
    ContainerDefinition, EcsTaskDef, EcsTaskDefSpec, KeyValuePair, LaunchType, PortMapping,
    Protocol,
};
use ecs_operator::aws::fake::FakeAws;
use ecs_operator::aws::types::Tags;
use ecs_operator::aws::AwsProvider;
use ecs_operator::planning::ownership::{owner_value, OWNER_TAG};
use ecs_operator::reconciler::conditions::{Cond, PROGRESSING};
use ecs_operator::reconciler::error::{Error, Treatment};
use ecs_operator::reconciler::managed::{
    spec_changed, AwsContext, Cleanup, HasCommonStatus, ManagedResource, Note, Readiness, Synced,
};
use ecs_operator::reconciler::report;
use ecs_operator::reconciler::service::ServiceDeps;
use ecs_operator::reconciler::task_def::TaskDefDeps;
use ecs_operator::telemetry::metrics::Metrics;

pub(crate) const MC: &str = "mc-test";
pub(crate) const NS: &str = "default";
pub(crate) const CLUSTER: &str = "my-ecs-cluster";
pub(crate) const FAMILY: &str = "hello-world-task";
pub(crate) const SERVICE: &str = "hello-world-service";
pub(crate) const ELB: &str = "ecs-load-balancer";
pub(crate) const ROLE: &str = "ecs-service-role";

// ---------------------------------------------------------------------------------------
// Objects
// ---------------------------------------------------------------------------------------

pub(crate) fn with_meta<K: Resource>(mut obj: K, uid: &str) -> K {
    let m = obj.meta_mut();
    m.namespace = Some(NS.into());
    m.uid = Some(uid.into());
    m.generation = Some(1);
    obj
}

/// A spec change: the API server bumps the generation.
pub(crate) fn bump<K: Resource>(obj: &mut K) {
    let m = obj.meta_mut();
    m.generation = Some(m.generation.unwrap_or(0) + 1);
}

pub(crate) fn capacity() -> ClusterCapacity {
    ClusterCapacity {
        instance_type: "t2.micro".into(),
        instance_profile: Some("ecs-instance-role".into()),
        security_group_ids: vec!["sg-0123".into()],
        subnet_ids: vec!["subnet-a".into(), "subnet-b".into()],
        key_name: Some("my-ec2-key-pair".into()),
        min_size: 5,
        max_size: 5,
        desired_capacity: Some(5),
        ..Default::default()
    }
}

/// The tutorial's cluster: 5 t2.micro instances.
pub(crate) fn tutorial_cluster() -> EcsCluster {
    with_meta(
        EcsCluster::new(
            CLUSTER,
            EcsClusterSpec {
                capacity: Some(capacity()),
                ..Default::default()
            },
        ),
        "uid-cluster",
    )
}

/// A cluster without EC2 capacity.
pub(crate) fn bare_cluster() -> EcsCluster {
    with_meta(
        EcsCluster::new(CLUSTER, EcsClusterSpec::default()),
        "uid-cluster",
    )
}

pub(crate) fn container() -> ContainerDefinition {
    ContainerDefinition {
        name: "hello-world-container".into(),
        image: "training/webapp:latest".into(),
        memory: Some(128),
        command: vec!["python".into(), "app.py".into()],
        port_mappings: vec![PortMapping {
            container_port: 5000,
            host_port: Some(80),
            protocol: Some(Protocol::Tcp),
            name: None,
        }],
        ..Default::default()
    }
}

/// The tutorial's task definition.
pub(crate) fn tutorial_task_def() -> EcsTaskDef {
    with_meta(
        EcsTaskDef::new(
            FAMILY,
            EcsTaskDefSpec {
                container_definitions: vec![container()],
                ..Default::default()
            },
        ),
        "uid-taskdef",
    )
}

pub(crate) fn health_check() -> ElbHealthCheck {
    ElbHealthCheck {
        target: "HTTP:80/".into(),
        interval_seconds: 30,
        timeout_seconds: 5,
        healthy_threshold: 10,
        unhealthy_threshold: 2,
    }
}

pub(crate) fn http_listener(port: i32) -> Listener {
    Listener {
        protocol: ListenerProtocol::Http,
        load_balancer_port: port,
        instance_port: port,
        instance_protocol: None,
    }
}

/// The tutorial's service: 4 tasks behind a managed classic ELB.
pub(crate) fn tutorial_service() -> EcsService {
    with_meta(
        EcsService::new(
            SERVICE,
            EcsServiceSpec {
                cluster_ref: Some(LocalRef {
                    name: CLUSTER.into(),
                }),
                task_def_ref: Some(TaskDefRef {
                    name: FAMILY.into(),
                    revision: None,
                }),
                desired_count: Some(4),
                launch_type: Some(LaunchType::Ec2),
                role: Some(ROLE.into()),
                deployment_configuration: Some(DeploymentConfiguration {
                    minimum_healthy_percent: Some(50),
                    maximum_percent: Some(100),
                    deployment_circuit_breaker: None,
                }),
                load_balancer: Some(ServiceLoadBalancer {
                    container_name: "hello-world-container".into(),
                    container_port: 5000,
                    managed: Some(ManagedLoadBalancer {
                        name: Some(ELB.into()),
                        scheme: Some(LoadBalancerScheme::InternetFacing),
                        subnet_ids: vec!["subnet-a".into(), "subnet-b".into()],
                        security_group_ids: vec!["sg-0123".into()],
                        listeners: vec![http_listener(80)],
                        health_check: Some(health_check()),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ),
        "uid-service",
    )
}

/// A service without load balancer or role.
pub(crate) fn plain_service(desired_count: Option<i32>) -> EcsService {
    let mut s = tutorial_service();
    s.spec.load_balancer = None;
    s.spec.role = None;
    s.spec.desired_count = desired_count;
    s
}

pub(crate) fn env(pairs: &[(&str, &str)]) -> Vec<KeyValuePair> {
    pairs
        .iter()
        .map(|(n, v)| KeyValuePair {
            name: n.to_string(),
            value: v.to_string(),
        })
        .collect()
}

pub(crate) fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(crate) fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

pub(crate) const PROVIDER: &str = "my-ecs-cluster-ec2";

pub(crate) fn strategy_item(
    provider: &str,
    weight: i32,
    base: i32,
) -> ecs_operator::api::common::CapacityProviderStrategyItem {
    ecs_operator::api::common::CapacityProviderStrategyItem {
        capacity_provider: provider.into(),
        weight: Some(weight),
        base: Some(base),
    }
}

/// A cluster whose group is scaled by its capacity provider (managed scaling, termination
/// protection), with FARGATE attached too and a default strategy over both.
pub(crate) fn provider_cluster() -> EcsCluster {
    use ecs_operator::api::cluster::{
        CapacityProviderSpec, FargateCapacityProvider, ManagedScaling, Toggle,
    };
    let mut cap = capacity();
    cap.min_size = 1;
    cap.max_size = 5;
    cap.desired_capacity = None;
    cap.capacity_provider = Some(CapacityProviderSpec {
        name: None,
        managed_scaling: Some(ManagedScaling::default()),
        managed_termination_protection: Toggle::Enabled,
        managed_draining: Toggle::Enabled,
    });
    with_meta(
        EcsCluster::new(
            CLUSTER,
            EcsClusterSpec {
                capacity: Some(cap),
                capacity_providers: vec![FargateCapacityProvider::Fargate],
                default_capacity_provider_strategy: vec![
                    strategy_item(PROVIDER, 1, 1),
                    strategy_item("FARGATE", 1, 0),
                ],
                ..Default::default()
            },
        ),
        "uid-cluster",
    )
}

pub(crate) const TG: &str = "hello-world-tg";
pub(crate) const VPC: &str = "vpc-0abc";

/// The tutorial service behind a managed target group on `listener` instead of a classic ELB.
pub(crate) fn alb_service(listener: &str) -> EcsService {
    let mut svc = tutorial_service();
    svc.spec.role = None;
    svc.spec.load_balancer = Some(ServiceLoadBalancer {
        container_name: "hello-world-container".into(),
        container_port: 5000,
        managed_target_group: Some(ManagedTargetGroup {
            name: Some(TG.into()),
            listener_arn: listener.into(),
            rule: ListenerRuleSpec {
                priority: 10,
                path_patterns: strings(&["/hello/*"]),
                host_headers: vec![],
            },
            health_check: Some(TargetGroupHealthCheckSpec {
                path: Some("/health".into()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    svc
}

pub(crate) fn mtg_mut(svc: &mut EcsService) -> &mut ManagedTargetGroup {
    svc.spec
        .load_balancer
        .as_mut()
        .and_then(|l| l.managed_target_group.as_mut())
        .expect("managedTargetGroup")
}

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

pub(crate) fn cx<K: ManagedResource>(fake: &FakeAws, obj: &K, adopt: bool) -> AwsContext {
    AwsContext::new(
        fake.clients(None),
        owner(K::KIND, &obj.name_any()),
        adopt,
        MC.into(),
    )
}

pub(crate) fn owner(kind: &str, name: &str) -> String {
    owner_value(MC, NS, kind, name)
}

/// Objects whose status the test keeps, as the generic reconciler's status write would.
pub(crate) trait Stored: ManagedResource {
    fn store(&mut self, status: Self::Status);
}
impl Stored for EcsCluster {
    fn store(&mut self, mut status: Self::Status) {
        // As the reconciler's write after a successful sync: this generation is reconciled.
        status.common.observed_generation = self.metadata.generation;
        self.status = Some(status);
    }
}
impl Stored for EcsTaskDef {
    fn store(&mut self, mut status: Self::Status) {
        // As the reconciler's write after a successful sync: this generation is reconciled.
        status.common.observed_generation = self.metadata.generation;
        self.status = Some(status);
    }
}
impl Stored for EcsService {
    fn store(&mut self, mut status: Self::Status) {
        // As the reconciler's write after a successful sync: this generation is reconciled.
        status.common.observed_generation = self.metadata.generation;
        self.status = Some(status);
    }
}

pub(crate) async fn sync<K: Stored>(
    fake: &FakeAws,
    obj: &mut K,
    deps: &K::Deps,
    adopt: bool,
) -> Result<Synced<K::Status>, Error> {
    sync_counted(fake, obj, deps, adopt, &Metrics::default()).await
}

/// A sync, with its corrections reported as the generic reconciler does: the Event joins
/// the notes, drift is counted in `metrics`.
pub(crate) async fn sync_counted<K: Stored>(
    fake: &FakeAws,
    obj: &mut K,
    deps: &K::Deps,
    adopt: bool,
    metrics: &Metrics,
) -> Result<Synced<K::Status>, Error> {
    let observed_generation =
        ManagedResource::status(obj).and_then(|s| s.common().observed_generation);
    let edited = spec_changed(obj, observed_generation);
    let mut result = obj.sync(deps, &cx(fake, obj, adopt)).await;
    if let Ok(s) = &mut result {
        s.notes
            .extend(report::report(metrics, K::KIND, edited, &s.drift));
        obj.store(s.status.clone());
    }
    result
}

pub(crate) async fn sync_ok<K: Stored>(
    fake: &FakeAws,
    obj: &mut K,
    deps: &K::Deps,
) -> Synced<K::Status> {
    sync(fake, obj, deps, false)
        .await
        .unwrap_or_else(|e| panic!("sync of {} failed: {e}", obj.name_any()))
}

pub(crate) async fn cleanup<K: ManagedResource>(fake: &FakeAws, obj: &K) -> Cleanup {
    cleanup_with(fake, obj, &Default::default()).await
}

pub(crate) async fn cleanup_with<K: ManagedResource>(
    fake: &FakeAws,
    obj: &K,
    deps: &K::CleanupDeps,
) -> Cleanup {
    obj.cleanup(deps, &cx(fake, obj, false))
        .await
        .unwrap_or_else(|e| panic!("cleanup of {} failed: {e}", obj.name_any()))
}

pub(crate) fn deps_for(cluster: &EcsCluster, td: &EcsTaskDef) -> ServiceDeps {
    ServiceDeps {
        cluster: cluster
            .status
            .as_ref()
            .and_then(|s| s.cluster_arn.clone())
            .expect("cluster synced"),
        task_definition: td
            .status
            .as_ref()
            .and_then(|s| s.task_definition_arn.clone())
            .expect("task definition synced"),
    }
}

pub(crate) fn no_deps() -> TaskDefDeps {
    TaskDefDeps::default()
}

/// Whether a call is one of the preflight checks' reads.
pub(crate) fn is_preflight_read(call: &str) -> bool {
    matches!(
        call,
        "ec2:DescribeSubnets"
            | "ec2:DescribeSecurityGroups"
            | "ec2:DescribeKeyPairs"
            | "iam:GetRole"
            | "iam:GetInstanceProfile"
    )
}

pub(crate) fn is_ready<S>(s: &Synced<S>) -> bool {
    matches!(s.readiness, Readiness::Ready(_))
}

pub(crate) fn not_ready_reason<S>(s: &Synced<S>) -> Option<(&'static str, String)> {
    match &s.readiness {
        Readiness::NotReady {
            reason, message, ..
        } => Some((*reason, message.clone())),
        Readiness::Ready(_) => None,
    }
}

pub(crate) fn progressing<S>(s: &Synced<S>) -> &Cond {
    s.conditions
        .iter()
        .find(|c| c.type_ == PROGRESSING)
        .expect("a Progressing condition")
}

pub(crate) fn has_note(notes: &[Note], reason: &str, text: &str) -> bool {
    notes
        .iter()
        .any(|n| n.reason == reason && n.message.contains(text))
}

pub(crate) fn td_arn(revision: i32) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{FAMILY}:{revision}")
}

/// Cluster (no capacity), task definition revision 1 and the plain service, all synced;
/// the service's deployment completed.
pub(crate) async fn steady_plain(
    fake: &FakeAws,
    desired_count: Option<i32>,
) -> (EcsCluster, EcsTaskDef, EcsService) {
    let mut cluster = bare_cluster();
    sync_ok(fake, &mut cluster, &()).await;
    let mut td = tutorial_task_def();
    sync_ok(fake, &mut td, &no_deps()).await;
    let mut svc = plain_service(desired_count);
    sync_ok(fake, &mut svc, &deps_for(&cluster, &td)).await;
    fake.tick();
    let s = sync_ok(fake, &mut svc, &deps_for(&cluster, &td)).await;
    assert!(is_ready(&s), "{:?}", s.readiness);
    (cluster, td, svc)
}

/// The tutorial, synced to steady state (auto progress on).
pub(crate) async fn steady_tutorial(fake: &FakeAws) -> (EcsCluster, EcsTaskDef, EcsService) {
    let mut cluster = tutorial_cluster();
    sync_ok(fake, &mut cluster, &()).await;
    sync_ok(fake, &mut cluster, &()).await;
    let mut td = tutorial_task_def();
    sync_ok(fake, &mut td, &no_deps()).await;
    let mut svc = tutorial_service();
    let deps = deps_for(&cluster, &td);
    sync_ok(fake, &mut svc, &deps).await;
    let s = sync_ok(fake, &mut svc, &deps).await;
    assert!(is_ready(&s), "{:?}", s.readiness);
    (cluster, td, svc)
}

/// Cluster, task definition and an ALB; returns them with the listener ARN.
pub(crate) async fn alb_setup(fake: &FakeAws) -> (EcsCluster, EcsTaskDef, String) {
    let mut cluster = bare_cluster();
    sync_ok(fake, &mut cluster, &()).await;
    let mut td = tutorial_task_def();
    sync_ok(fake, &mut td, &no_deps()).await;
    let (_lb, listener) = fake.add_alb("web", VPC);
    (cluster, td, listener)
}

pub(crate) fn owned_by(owner: &str) -> Tags {
    [(OWNER_TAG.to_string(), owner.to_string())].into()
}

pub(crate) fn assert_conflict<S: std::fmt::Debug>(result: Result<Synced<S>, Error>, text: &str) {
    match result {
        Err(e @ Error::Conflict(_)) => {
            assert!(e.to_string().contains(text), "{e}");
            assert_eq!(e.treatment(), Treatment::Stall { reason: "Conflict" });
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}

pub(crate) fn waiting_message(c: &Cleanup) -> &str {
    match c {
        Cleanup::Waiting { message, .. } => message,
        Cleanup::Done(_) => panic!("expected Waiting, got Done"),
    }
}
