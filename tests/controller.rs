//! Controller tests: the three kinds' AWS logic (`ManagedResource::sync` / `cleanup`)
//! against the in-memory [`FakeAws`], with hand-built objects and dependencies.
//!
//! The generic reconciler (Kubernetes reads and status writes) is not involved: each test
//! feeds the status a sync returns back into the object, as the reconciler's status write
//! would, adds the Event the reconciler reports for the sync's corrections to its notes,
//! and advances AWS time with `FakeAws::tick`.

use std::collections::BTreeSet;

use base64::Engine;
use kube::{Resource, ResourceExt};

use ecs_operator::api::cluster::{ClusterCapacity, EcsCluster, EcsClusterSpec, DEFAULT_IMAGE_ID};
use ecs_operator::api::common::RESTARTED_AT_ANNOTATION;
use ecs_operator::api::service::{
    DeploymentCircuitBreaker, DeploymentConfiguration, DeploymentStatus, EcsService,
    EcsServiceSpec, EcsServiceStatus, ElbHealthCheck, Listener, ListenerProtocol, ListenerRuleSpec,
    LoadBalancerScheme, LocalRef, ManagedLoadBalancer, ManagedTargetGroup, ServiceLoadBalancer,
    TargetGroupHealthCheckSpec, TaskDefRef,
};
use ecs_operator::api::task_def::{
    ContainerDefinition, EcsTaskDef, EcsTaskDefSpec, KeyValuePair, LaunchType, PortMapping,
    Protocol,
};
use ecs_operator::aws::fake::FakeAws;
use ecs_operator::aws::types::{
    CreateLoadBalancerInput, CreateServiceInput, RegisterTaskDefinitionInput, RuleConditions,
    ServiceLoadBalancerRef, Tags, UpdateServiceInput,
};
use ecs_operator::aws::{AwsErrorKind, AwsProvider};
use ecs_operator::planning::drift::{Drift, Resource as Owned};
use ecs_operator::planning::ownership::{owner_value, MANAGED_BY_TAG, OWNER_TAG};
use ecs_operator::planning::service::cluster_usable;
use ecs_operator::reconciler::cluster::ClusterCleanupDeps;
use ecs_operator::reconciler::conditions::{Cond, PROGRESSING};
use ecs_operator::reconciler::error::{Error, Treatment};
use ecs_operator::reconciler::managed::{
    spec_changed, AwsContext, Cleanup, HasCommonStatus, ManagedResource, Note, Readiness, Synced,
};
use ecs_operator::reconciler::report;
use ecs_operator::reconciler::service::{ServiceCleanupDeps, ServiceDeps};
use ecs_operator::reconciler::task_def::{revisions_in_use, TaskDefDeps};
use ecs_operator::telemetry::metrics::Metrics;

const MC: &str = "mc-test";
const NS: &str = "default";
const CLUSTER: &str = "my-ecs-cluster";
const FAMILY: &str = "hello-world-task";
const SERVICE: &str = "hello-world-service";
const ELB: &str = "ecs-load-balancer";
const ROLE: &str = "ecs-service-role";

// ---------------------------------------------------------------------------------------
// Objects
// ---------------------------------------------------------------------------------------

fn with_meta<K: Resource>(mut obj: K, uid: &str) -> K {
    let m = obj.meta_mut();
    m.namespace = Some(NS.into());
    m.uid = Some(uid.into());
    m.generation = Some(1);
    obj
}

/// A spec change: the API server bumps the generation.
fn bump<K: Resource>(obj: &mut K) {
    let m = obj.meta_mut();
    m.generation = Some(m.generation.unwrap_or(0) + 1);
}

fn capacity() -> ClusterCapacity {
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
fn tutorial_cluster() -> EcsCluster {
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
fn bare_cluster() -> EcsCluster {
    with_meta(
        EcsCluster::new(CLUSTER, EcsClusterSpec::default()),
        "uid-cluster",
    )
}

fn container() -> ContainerDefinition {
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
fn tutorial_task_def() -> EcsTaskDef {
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

fn health_check() -> ElbHealthCheck {
    ElbHealthCheck {
        target: "HTTP:80/".into(),
        interval_seconds: 30,
        timeout_seconds: 5,
        healthy_threshold: 10,
        unhealthy_threshold: 2,
    }
}

fn http_listener(port: i32) -> Listener {
    Listener {
        protocol: ListenerProtocol::Http,
        load_balancer_port: port,
        instance_port: port,
        instance_protocol: None,
    }
}

/// The tutorial's service: 4 tasks behind a managed classic ELB.
fn tutorial_service() -> EcsService {
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
fn plain_service(desired_count: Option<i32>) -> EcsService {
    let mut s = tutorial_service();
    s.spec.load_balancer = None;
    s.spec.role = None;
    s.spec.desired_count = desired_count;
    s
}

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

fn cx<K: ManagedResource>(fake: &FakeAws, obj: &K, adopt: bool) -> AwsContext {
    AwsContext::new(
        fake.clients(None),
        owner(K::KIND, &obj.name_any()),
        adopt,
        MC.into(),
    )
}

fn owner(kind: &str, name: &str) -> String {
    owner_value(MC, NS, kind, name)
}

/// Objects whose status the test keeps, as the generic reconciler's status write would.
trait Stored: ManagedResource {
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

async fn sync<K: Stored>(
    fake: &FakeAws,
    obj: &mut K,
    deps: &K::Deps,
    adopt: bool,
) -> Result<Synced<K::Status>, Error> {
    sync_counted(fake, obj, deps, adopt, &Metrics::default()).await
}

/// A sync, with its corrections reported as the generic reconciler does: the Event joins
/// the notes, drift is counted in `metrics`.
async fn sync_counted<K: Stored>(
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

async fn sync_ok<K: Stored>(fake: &FakeAws, obj: &mut K, deps: &K::Deps) -> Synced<K::Status> {
    sync(fake, obj, deps, false)
        .await
        .unwrap_or_else(|e| panic!("sync of {} failed: {e}", obj.name_any()))
}

async fn cleanup<K: ManagedResource>(fake: &FakeAws, obj: &K) -> Cleanup {
    cleanup_with(fake, obj, &Default::default()).await
}

async fn cleanup_with<K: ManagedResource>(
    fake: &FakeAws,
    obj: &K,
    deps: &K::CleanupDeps,
) -> Cleanup {
    obj.cleanup(deps, &cx(fake, obj, false))
        .await
        .unwrap_or_else(|e| panic!("cleanup of {} failed: {e}", obj.name_any()))
}

fn deps_for(cluster: &EcsCluster, td: &EcsTaskDef) -> ServiceDeps {
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

fn no_deps() -> TaskDefDeps {
    TaskDefDeps::default()
}

/// Whether a call is one of the preflight checks' reads.
fn is_preflight_read(call: &str) -> bool {
    matches!(
        call,
        "ec2:DescribeSubnets"
            | "ec2:DescribeSecurityGroups"
            | "ec2:DescribeKeyPairs"
            | "iam:GetRole"
            | "iam:GetInstanceProfile"
    )
}

fn is_ready<S>(s: &Synced<S>) -> bool {
    matches!(s.readiness, Readiness::Ready(_))
}

fn not_ready_reason<S>(s: &Synced<S>) -> Option<(&'static str, String)> {
    match &s.readiness {
        Readiness::NotReady {
            reason, message, ..
        } => Some((*reason, message.clone())),
        Readiness::Ready(_) => None,
    }
}

fn progressing<S>(s: &Synced<S>) -> &Cond {
    s.conditions
        .iter()
        .find(|c| c.type_ == PROGRESSING)
        .expect("a Progressing condition")
}

fn has_note(notes: &[Note], reason: &str, text: &str) -> bool {
    notes
        .iter()
        .any(|n| n.reason == reason && n.message.contains(text))
}

fn td_arn(revision: i32) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{FAMILY}:{revision}")
}

/// Cluster (no capacity), task definition revision 1 and the plain service, all synced;
/// the service's deployment completed.
async fn steady_plain(
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
async fn steady_tutorial(fake: &FakeAws) -> (EcsCluster, EcsTaskDef, EcsService) {
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

// ---------------------------------------------------------------------------------------
// The tutorial, end to end
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// Task definition revisions
// ---------------------------------------------------------------------------------------

fn env(pairs: &[(&str, &str)]) -> Vec<KeyValuePair> {
    pairs
        .iter()
        .map(|(n, v)| KeyValuePair {
            name: n.to_string(),
            value: v.to_string(),
        })
        .collect()
}

#[tokio::test]
async fn task_def_change_registers_revision_2_and_rolls_the_service() {
    let fake = FakeAws::new();
    fake.set_auto_progress(false);
    let (cluster, mut td, mut svc) = steady_plain(&fake, Some(2)).await;

    td.spec.container_definitions[0].environment = env(&[("PROVIDER", "ECS")]);
    bump(&mut td);
    let s = sync_ok(&fake, &mut td, &no_deps()).await;
    assert_eq!(s.status.latest_revision, Some(2));
    assert_eq!(s.status.task_definition_arn.as_deref(), Some(&*td_arn(2)));
    assert_eq!(s.status.active_revisions, [1, 2]);
    assert!(has_note(&s.notes, "Registered", "hello-world-task:2"));
    assert!(
        has_note(
            &s.notes,
            "Updated",
            "task definition revision hello-world-task:1 → hello-world-task:2"
        ),
        "{:?}",
        s.notes
    );
    assert_eq!(fake.count("ecs:RegisterTaskDefinition"), 2);
    assert_eq!(
        fake.registered_inputs()[1].definition.container_definitions[0].environment,
        env(&[("PROVIDER", "ECS")])
    );
    // Synced again: still revision 2.
    sync_ok(&fake, &mut td, &no_deps()).await;
    assert_eq!(fake.count("ecs:RegisterTaskDefinition"), 2);

    let deps = deps_for(&cluster, &td);
    assert_eq!(deps.task_definition, td_arn(2));
    let s = sync_ok(&fake, &mut svc, &deps).await;
    let update = fake.service_updates().pop().expect("an UpdateService call");
    assert_eq!(update.task_definition, Some(td_arn(2)));
    assert_eq!(update.desired_count, None);
    assert!(!update.force_new_deployment);
    assert!(has_note(&s.notes, "RollingUpdate", &td_arn(2)));
    assert!(
        s.drift.is_empty() && !s.notes.iter().any(|n| n.reason == "DriftCorrected"),
        "following the EcsTaskDef is a rollout, not drift: {:?}",
        s.notes
    );
    assert_eq!(not_ready_reason(&s).unwrap().0, "DeploymentInProgress");
    assert!(progressing(&s).status);
    assert_eq!(s.status.deployments.len(), 2);
    assert_eq!(s.status.deployments[0].status, "PRIMARY");
    assert_eq!(
        s.status.task_definition.as_deref(),
        Some("hello-world-task:2")
    );

    // Progressing until the fake completes the deployment, without further updates.
    fake.tick();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert!(is_ready(&s), "{:?}", s.readiness);
    assert!(!progressing(&s).status);
    assert_eq!(s.status.deployments.len(), 1);
    assert_eq!(fake.count("ecs:UpdateService"), 1);
}

#[tokio::test]
async fn aws_side_defaults_and_env_order_do_not_register_a_revision() {
    let fake = FakeAws::new();
    let mut td = tutorial_task_def();
    td.spec.container_definitions[0].environment = env(&[("A", "1"), ("B", "2")]);
    sync_ok(&fake, &mut td, &no_deps()).await;

    // What ECS reports back by default, spelled out; the environment reordered; settings
    // that are not part of the definition.
    let c = &mut td.spec.container_definitions[0];
    c.environment = env(&[("B", "2"), ("A", "1")]);
    c.essential = Some(true);
    c.port_mappings[0].protocol = None;
    td.spec.revision_history_limit = Some(10);
    td.spec.tags.insert("team".into(), "web".into());
    bump(&mut td);
    fake.clear_calls();
    let s = sync_ok(&fake, &mut td, &no_deps()).await;
    assert_eq!(s.status.latest_revision, Some(1));
    assert_eq!(fake.count("ecs:RegisterTaskDefinition"), 0);
    // Only the new user tag is written, on the existing revision.
    assert_eq!(fake.mutating_calls(), ["ecs:TagResource"]);
    let rev = &fake.task_definition_revisions(FAMILY)[0];
    assert_eq!(rev.tags.get("team").map(String::as_str), Some("web"));
}

#[tokio::test]
async fn revision_history_limit_prunes_old_revisions_but_keeps_those_in_use() {
    let fake = FakeAws::new();
    let mut td = tutorial_task_def();
    td.spec.revision_history_limit = Some(2);
    // A service still runs revision 1.
    let mut user = plain_service(Some(1));
    user.status = Some(EcsServiceStatus {
        deployments: vec![DeploymentStatus {
            id: "ecs-svc/1".into(),
            status: "PRIMARY".into(),
            task_definition: td_arn(1),
            ..Default::default()
        }],
        ..Default::default()
    });
    let deps = TaskDefDeps {
        in_use: revisions_in_use(&[user], FAMILY, FAMILY),
        ..Default::default()
    };
    assert_eq!(deps.in_use, BTreeSet::from([1]));

    for image in ["v1", "v2", "v3", "v4", "v5"] {
        td.spec.container_definitions[0].image = format!("training/webapp:{image}");
        bump(&mut td);
        sync_ok(&fake, &mut td, &deps).await;
    }
    let status = td.status.as_ref().unwrap();
    assert_eq!(status.latest_revision, Some(5));
    assert_eq!(status.active_revisions, [1, 4, 5]);
    let listed = fake
        .clients(None)
        .ecs
        .list_task_definitions(FAMILY)
        .await
        .unwrap();
    assert_eq!(listed, [td_arn(1), td_arn(4), td_arn(5)]);
    assert_eq!(fake.count("ecs:DeregisterTaskDefinition"), 2);
    let statuses: Vec<String> = fake
        .task_definition_revisions(FAMILY)
        .into_iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses,
        ["ACTIVE", "INACTIVE", "INACTIVE", "ACTIVE", "ACTIVE"]
    );
}

// ---------------------------------------------------------------------------------------
// Service settings: desiredCount, drift, restarts
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn absent_desired_count_is_1_at_creation_and_never_reverted() {
    let fake = FakeAws::new();
    let (cluster, td, mut svc) = steady_plain(&fake, None).await;
    assert_eq!(fake.service_creates()[0].desired_count, 1);

    fake.set_desired_count(CLUSTER, SERVICE, 3);
    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &deps_for(&cluster, &td)).await;
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
    assert_eq!(s.status.desired_count, Some(3));
    assert_eq!(fake.service(CLUSTER, SERVICE).unwrap().desired_count, 3);
}

#[tokio::test]
async fn managed_desired_count_drift_is_reverted_with_a_note() {
    let fake = FakeAws::new();
    let (cluster, td, mut svc) = steady_plain(&fake, Some(4)).await;

    fake.set_desired_count(CLUSTER, SERVICE, 7);
    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &deps_for(&cluster, &td)).await;
    assert_eq!(fake.mutating_calls(), ["ecs:UpdateService"]);
    let update = fake.service_updates().pop().unwrap();
    assert_eq!(update.desired_count, Some(4));
    assert_eq!(update.task_definition, None);
    assert!(!update.force_new_deployment);
    assert!(
        has_note(&s.notes, "DriftCorrected", "desiredCount 7 → 4"),
        "{:?}",
        s.notes
    );
    assert_eq!(fake.service(CLUSTER, SERVICE).unwrap().desired_count, 4);
}

#[tokio::test]
async fn drift_is_one_event_with_old_and_new_values_and_counted_per_field_but_spec_edits_are_not() {
    let fake = FakeAws::new();
    let metrics = Metrics::default();
    let (cluster, td, mut svc) = steady_plain(&fake, Some(4)).await;
    let deps = deps_for(&cluster, &td);
    let counted = |field: &str| {
        let series = format!(
            "ecs_operator_drift_corrections_total{{kind=\"EcsService\",resource=\"ecs_service\",field=\"{field}\"}}"
        );
        metrics
            .encode()
            .expect("metrics encode")
            .lines()
            .find_map(|l| {
                l.strip_prefix(series.as_str())
                    .map(|v| v.trim().to_string())
            })
    };

    // Changed behind the operator's back.
    fake.set_desired_count(CLUSTER, SERVICE, 7);
    let s = sync_counted(&fake, &mut svc, &deps, false, &metrics)
        .await
        .expect("sync");
    assert_eq!(
        s.drift,
        [Drift::new(Owned::EcsService, "desiredCount", "7", "4")]
    );
    let corrections: Vec<&Note> = s
        .notes
        .iter()
        .filter(|n| n.reason == "DriftCorrected" || n.reason == "Updated")
        .collect();
    assert_eq!(
        corrections,
        [&Note::normal(
            "DriftCorrected",
            "corrected drift: ECS service desiredCount 7 → 4"
        )]
    );
    assert_eq!(counted("desiredCount").as_deref(), Some("1"));

    // Converged: nothing to report, nothing counted.
    let s = sync_counted(&fake, &mut svc, &deps, false, &metrics)
        .await
        .expect("sync");
    assert!(s.drift.is_empty() && s.notes.is_empty(), "{:?}", s.notes);
    assert_eq!(counted("desiredCount").as_deref(), Some("1"));

    // The user's edit: Updated, with the same old → new wording, and not drift.
    svc.spec.desired_count = Some(2);
    bump(&mut svc);
    let s = sync_counted(&fake, &mut svc, &deps, false, &metrics)
        .await
        .expect("sync");
    assert!(
        has_note(
            &s.notes,
            "Updated",
            "applied the spec: ECS service desiredCount 4 → 2"
        ),
        "{:?}",
        s.notes
    );
    assert!(
        !s.notes.iter().any(|n| n.reason == "DriftCorrected"),
        "{:?}",
        s.notes
    );
    assert_eq!(counted("desiredCount").as_deref(), Some("1"));
    assert_eq!(fake.service(CLUSTER, SERVICE).unwrap().desired_count, 2);
}

#[tokio::test]
async fn restarted_at_annotation_forces_exactly_one_deployment() {
    let fake = FakeAws::new();
    fake.set_auto_progress(false);
    let (cluster, td, mut svc) = steady_plain(&fake, Some(2)).await;
    let deps = deps_for(&cluster, &td);

    svc.annotations_mut().insert(
        RESTARTED_AT_ANNOTATION.into(),
        "2024-05-01T10:00:00Z".into(),
    );
    let s = sync_ok(&fake, &mut svc, &deps).await;
    let update = fake.service_updates().pop().unwrap();
    assert!(update.force_new_deployment);
    assert_eq!(update.task_definition, None);
    assert!(has_note(&s.notes, "Restarted", "forced a new deployment"));
    assert_eq!(
        s.status.restarted_at.as_deref(),
        Some("2024-05-01T10:00:00Z")
    );
    assert_eq!(s.status.deployments.len(), 2);
    assert!(progressing(&s).status);

    // The same annotation value again (resyncs, a restart of the operator): nothing.
    fake.tick();
    for _ in 0..3 {
        let s = sync_ok(&fake, &mut svc, &deps).await;
        assert!(is_ready(&s), "{:?}", s.readiness);
    }
    assert_eq!(fake.count("ecs:UpdateService"), 1);
    assert_eq!(fake.service(CLUSTER, SERVICE).unwrap().deployments.len(), 1);

    // A new value: one more.
    svc.annotations_mut().insert(
        RESTARTED_AT_ANNOTATION.into(),
        "2024-05-02T10:00:00Z".into(),
    );
    sync_ok(&fake, &mut svc, &deps).await;
    sync_ok(&fake, &mut svc, &deps).await;
    assert_eq!(fake.count("ecs:UpdateService"), 2);
}

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
// Ownership
// ---------------------------------------------------------------------------------------

fn assert_conflict<S: std::fmt::Debug>(result: Result<Synced<S>, Error>, text: &str) {
    match result {
        Err(e @ Error::Conflict(_)) => {
            assert!(e.to_string().contains(text), "{e}");
            assert_eq!(e.treatment(), Treatment::Stall { reason: "Conflict" });
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn owned_by(owner: &str) -> Tags {
    [(OWNER_TAG.to_string(), owner.to_string())].into()
}

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

// ---------------------------------------------------------------------------------------
// Errors: stall or retry
// ---------------------------------------------------------------------------------------

fn assert_stalls_on_invalid_input<S: std::fmt::Debug>(result: Result<Synced<S>, Error>) {
    match result {
        Err(e @ Error::Aws(_)) => {
            let Error::Aws(aws) = &e else { unreachable!() };
            assert_eq!(aws.kind, AwsErrorKind::InvalidInput, "{e}");
            assert_eq!(
                e.treatment(),
                Treatment::Stall {
                    reason: "InvalidSpec"
                }
            );
        }
        other => panic!("expected an AWS invalid input error, got {other:?}"),
    }
}

#[tokio::test]
async fn aws_invalid_input_stalls() {
    let fake = FakeAws::new();
    fake.set_known_roles(&["some-other-role"]);
    let mut cluster = bare_cluster();
    sync_ok(&fake, &mut cluster, &()).await;
    let mut td = tutorial_task_def();
    sync_ok(&fake, &mut td, &no_deps()).await;

    // A role IAM does not know, where the preflight check may not read IAM (a policy from
    // before it): CreateService refuses it.
    let mut svc = tutorial_service();
    fake.fail_next(
        "iam:GetRole",
        ecs_operator::aws::AwsError::new(
            AwsErrorKind::AccessDenied,
            "iam:GetRole",
            "AccessDenied",
            "not allowed",
        ),
        1,
    );
    assert_stalls_on_invalid_input(sync(&fake, &mut svc, &deps_for(&cluster, &td), false).await);
    assert!(fake.services().is_empty());

    // A container memory ECS refuses.
    let mut bad_td = tutorial_task_def();
    bad_td.spec.container_definitions[0].memory = Some(2);
    bump(&mut bad_td);
    assert_stalls_on_invalid_input(sync(&fake, &mut bad_td, &no_deps(), false).await);
    assert_eq!(fake.task_definition_revisions(FAMILY).len(), 1);

    // An instance type EC2 does not know.
    let mut bad_cluster = tutorial_cluster();
    bad_cluster.spec.capacity.as_mut().unwrap().instance_type = "bogus".into();
    assert_stalls_on_invalid_input(sync(&fake, &mut bad_cluster, &(), false).await);
    assert!(fake.groups().is_empty());
}

// ---------------------------------------------------------------------------------------
// Preflight: references checked before the first write of a generation
// ---------------------------------------------------------------------------------------

/// The sync fails with a Stalled InvalidSpec whose message contains each of `expected`,
/// and made no mutating call.
fn assert_preflight_stall<S: std::fmt::Debug>(
    fake: &FakeAws,
    result: Result<Synced<S>, Error>,
    expected: &[&str],
) -> String {
    let e = result.expect_err("preflight must refuse the spec");
    assert_eq!(
        e.treatment(),
        Treatment::Stall {
            reason: "InvalidSpec"
        },
        "{e}"
    );
    let Error::InvalidSpec(message) = &e else {
        panic!("expected InvalidSpec, got {e:?}");
    };
    for x in expected {
        assert!(message.contains(x), "{message:?} does not name {x:?}");
    }
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
    message.clone()
}

#[tokio::test]
async fn preflight_unknown_subnet_stalls_the_cluster_before_any_write() {
    let fake = FakeAws::new();
    fake.remove_references(&["subnet-b"]);
    let mut cluster = tutorial_cluster();
    let message = assert_preflight_stall(
        &fake,
        sync(&fake, &mut cluster, &(), false).await,
        &["subnet subnet-b (capacity.subnetIds) does not exist"],
    );
    assert!(!message.contains("subnet-a"), "{message}");
    assert!(fake.clusters().is_empty() && fake.launch_templates().is_empty());

    // The subnet is created meanwhile (Terraform in parallel): the next look (every
    // resync period for a Stalled object) goes through.
    fake.restore_reference("subnet-b");
    sync_ok(&fake, &mut cluster, &()).await;
    assert!(fake.group("my-ecs-cluster-ecs-capacity").is_some());
}

#[tokio::test]
async fn preflight_names_every_missing_capacity_reference() {
    let fake = FakeAws::new();
    fake.remove_references(&["sg-0123", "my-ec2-key-pair", "ecs-instance-role"]);
    let mut cluster = tutorial_cluster();
    cluster.spec.capacity.as_mut().unwrap().instance_profile =
        Some("arn:aws:iam::123456789012:instance-profile/ecs-instance-role".into());
    assert_preflight_stall(
        &fake,
        sync(&fake, &mut cluster, &(), false).await,
        &[
            "security group sg-0123 (capacity.securityGroupIds) does not exist",
            "key pair my-ec2-key-pair (capacity.keyName) does not exist",
            "instance profile ecs-instance-role (capacity.instanceProfile) does not exist",
        ],
    );
}

#[tokio::test]
async fn preflight_security_group_in_another_vpc_stalls() {
    let fake = FakeAws::new();
    fake.put_in_vpc("subnet-a", "vpc-1");
    fake.put_in_vpc("subnet-b", "vpc-1");
    fake.put_in_vpc("sg-0123", "vpc-2");
    let mut cluster = tutorial_cluster();
    assert_preflight_stall(
        &fake,
        sync(&fake, &mut cluster, &(), false).await,
        &[
            "security group sg-0123 is in vpc-2 (capacity.securityGroupIds), the subnets \
           (capacity.subnetIds) in vpc-1",
        ],
    );

    // Subnets of two VPCs for the managed ELB of a service.
    fake.put_in_vpc("sg-0123", "vpc-1");
    sync_ok(&fake, &mut cluster, &()).await;
    let mut td = tutorial_task_def();
    sync_ok(&fake, &mut td, &no_deps()).await;
    fake.put_in_vpc("subnet-b", "vpc-2");
    fake.clear_calls();
    let mut svc = tutorial_service();
    assert_preflight_stall(
        &fake,
        sync(&fake, &mut svc, &deps_for(&cluster, &td), false).await,
        &[
            "the subnets of loadBalancer.managed.subnetIds are in different VPCs: subnet-a in \
           vpc-1, subnet-b in vpc-2",
        ],
    );
    assert!(fake.load_balancer(ELB).is_none() && fake.services().is_empty());
}

#[tokio::test]
async fn preflight_missing_service_role_and_awsvpc_subnet_stall_the_service() {
    let fake = FakeAws::new();
    let mut cluster = bare_cluster();
    sync_ok(&fake, &mut cluster, &()).await;
    let mut td = tutorial_task_def();
    sync_ok(&fake, &mut td, &no_deps()).await;
    fake.remove_references(&[ROLE, "subnet-x"]);
    fake.clear_calls();
    let mut svc = tutorial_service();
    svc.spec.network_configuration = Some(ecs_operator::api::service::NetworkConfiguration {
        awsvpc_configuration: Some(ecs_operator::api::service::AwsVpcConfiguration {
            subnets: vec!["subnet-x".into()],
            security_groups: vec!["sg-0123".into()],
            assign_public_ip: None,
        }),
    });
    svc.spec.role = Some(format!("arn:aws:iam::123456789012:role/{ROLE}"));
    assert_preflight_stall(
        &fake,
        sync(&fake, &mut svc, &deps_for(&cluster, &td), false).await,
        &[
            "subnet subnet-x (networkConfiguration.awsvpcConfiguration.subnets) does not exist",
            "IAM role ecs-service-role (role) does not exist",
        ],
    );
}

#[tokio::test]
async fn preflight_missing_execution_role_stalls_the_task_def_before_registering() {
    let fake = FakeAws::new();
    fake.remove_references(&["ecsTaskExecutionRole"]);
    let mut td = tutorial_task_def();
    td.spec.execution_role_arn = Some("arn:aws:iam::123456789012:role/ecsTaskExecutionRole".into());
    td.spec.task_role_arn = Some("arn:aws:iam::123456789012:role/app".into());
    assert_preflight_stall(
        &fake,
        sync(&fake, &mut td, &no_deps(), false).await,
        &["IAM role ecsTaskExecutionRole (executionRoleArn) does not exist"],
    );
    assert_eq!(fake.count("ecs:RegisterTaskDefinition"), 0);
    assert_eq!(fake.count("iam:GetRole"), 2);
}

#[tokio::test]
async fn preflight_runs_once_per_generation_and_not_on_a_converged_resync() {
    let fake = FakeAws::new();
    let (mut cluster, mut td, mut svc) = steady_tutorial(&fake).await;
    // Each kind checked its references on its first sync only.
    assert_eq!(fake.count("ec2:DescribeSubnets"), 2, "{:?}", fake.calls());
    assert_eq!(fake.count("iam:GetInstanceProfile"), 1);
    assert_eq!(fake.count("iam:GetRole"), 1);
    let deps = deps_for(&cluster, &td);
    // Resyncs of converged generations, as the reconciler runs them (and without the
    // sweep's view, reading AWS): no preflight read.
    fake.clear_calls();
    sync_ok(&fake, &mut cluster, &()).await;
    sync_ok(&fake, &mut td, &no_deps()).await;
    sync_ok(&fake, &mut svc, &deps).await;
    assert!(
        !fake.calls().iter().any(|c| is_preflight_read(c)),
        "{:?}",
        fake.calls()
    );
    // A new generation checks again, once.
    bump(&mut cluster);
    fake.clear_calls();
    sync_ok(&fake, &mut cluster, &()).await;
    assert_eq!(fake.count("ec2:DescribeSubnets"), 1, "{:?}", fake.calls());
    fake.clear_calls();
    sync_ok(&fake, &mut cluster, &()).await;
    assert_eq!(fake.count("ec2:DescribeSubnets"), 0, "{:?}", fake.calls());
}

#[tokio::test]
async fn throttling_retries_with_reason_throttled() {
    let fake = FakeAws::new();
    let (cluster, td, mut svc) = steady_plain(&fake, Some(1)).await;
    let deps = deps_for(&cluster, &td);
    fake.throttle_next("ecs:DescribeServices", 1);
    let e = sync(&fake, &mut svc, &deps, false).await.unwrap_err();
    assert!(
        matches!(&e, Error::Aws(a) if a.kind == AwsErrorKind::Throttled),
        "{e}"
    );
    assert!(matches!(
        e.treatment(),
        Treatment::Retry {
            reason: "Throttled",
            ..
        }
    ));
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert!(is_ready(&s));

    let mut cluster = cluster;
    fake.throttle_next("ec2:DescribeLaunchTemplates", 1);
    cluster.spec.capacity = Some(capacity());
    let e = sync(&fake, &mut cluster, &(), false).await.unwrap_err();
    assert!(matches!(
        e.treatment(),
        Treatment::Retry {
            reason: "Throttled",
            ..
        }
    ));
}

// ---------------------------------------------------------------------------------------
// Crashes after a create: retries create nothing twice
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn create_service_retried_after_a_lost_response_makes_one_service() {
    let fake = FakeAws::new();
    let mut cluster = bare_cluster();
    sync_ok(&fake, &mut cluster, &()).await;
    let mut td = tutorial_task_def();
    sync_ok(&fake, &mut td, &no_deps()).await;
    let deps = deps_for(&cluster, &td);
    let mut svc = plain_service(Some(2));

    fake.lose_response_next("ecs:CreateService", 1);
    let e = sync(&fake, &mut svc, &deps, false).await.unwrap_err();
    assert!(matches!(e.treatment(), Treatment::Retry { .. }), "{e}");
    assert_eq!(fake.services().len(), 1, "the create took effect");

    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert_eq!(fake.services().len(), 1);
    assert_eq!(
        fake.count("ecs:CreateService"),
        1,
        "found, not created again"
    );
    assert_eq!(s.status.desired_count, Some(2));
}

#[tokio::test]
async fn create_service_retried_before_describe_sees_it_is_idempotent() {
    let fake = FakeAws::new();
    let mut cluster = bare_cluster();
    sync_ok(&fake, &mut cluster, &()).await;
    let mut td = tutorial_task_def();
    sync_ok(&fake, &mut td, &no_deps()).await;
    let deps = deps_for(&cluster, &td);
    let mut svc = plain_service(Some(2));

    // The response is lost and ECS's read side lags: the retry creates again, with the
    // same client token.
    fake.set_describe_lag(1);
    fake.lose_response_next("ecs:CreateService", 1);
    sync(&fake, &mut svc, &deps, false).await.unwrap_err();
    let s = sync(&fake, &mut svc, &deps, false)
        .await
        .expect("the second create is answered with the first service");
    assert_eq!(fake.count("ecs:CreateService"), 2);
    assert_eq!(fake.services().len(), 1);
    assert_eq!(
        s.status.service_arn.as_deref(),
        Some("arn:aws:ecs:us-east-1:123456789012:service/my-ecs-cluster/hello-world-service")
    );
    let creates = fake.service_creates();
    assert_eq!(creates.len(), 2);
    assert_eq!(creates[0].client_token, creates[1].client_token);
    assert!(!creates[0].client_token.is_empty());
}

#[tokio::test]
async fn lost_responses_of_other_creates_heal_on_the_next_sync() {
    let fake = FakeAws::new();
    fake.set_auto_progress(false);

    // Cluster, launch template and group: each create's response lost once.
    let mut cluster = tutorial_cluster();
    for op in [
        "ecs:CreateCluster",
        "ec2:CreateLaunchTemplate",
        "autoscaling:CreateAutoScalingGroup",
    ] {
        fake.lose_response_next(op, 1);
        assert!(sync(&fake, &mut cluster, &(), false).await.is_err(), "{op}");
    }
    sync_ok(&fake, &mut cluster, &()).await;
    assert_eq!(fake.clusters().len(), 1);
    assert_eq!(fake.launch_templates().len(), 1);
    assert_eq!(
        fake.launch_template_versions("my-ecs-cluster-ecs-capacity")
            .len(),
        1
    );
    assert_eq!(fake.groups().len(), 1);
    for op in [
        "ecs:CreateCluster",
        "ec2:CreateLaunchTemplate",
        "autoscaling:CreateAutoScalingGroup",
    ] {
        assert_eq!(fake.count(op), 1, "{op}");
    }

    // Task definition: no second revision.
    let mut td = tutorial_task_def();
    fake.lose_response_next("ecs:RegisterTaskDefinition", 1);
    assert!(sync(&fake, &mut td, &no_deps(), false).await.is_err());
    let s = sync_ok(&fake, &mut td, &no_deps()).await;
    assert_eq!(s.status.latest_revision, Some(1));
    assert_eq!(fake.task_definition_revisions(FAMILY).len(), 1);

    // ELB: created, but the health check was never configured; the next sync does it.
    let mut svc = tutorial_service();
    let deps = deps_for(&cluster, &td);
    fake.lose_response_next("elasticloadbalancing:CreateLoadBalancer", 1);
    assert!(sync(&fake, &mut svc, &deps, false).await.is_err());
    assert_eq!(
        fake.load_balancer(ELB)
            .unwrap()
            .health_check
            .unwrap()
            .target,
        "TCP:80",
        "ELB's default health check"
    );
    sync_ok(&fake, &mut svc, &deps).await;
    assert_eq!(
        fake.load_balancer(ELB).unwrap().health_check,
        Some(health_check())
    );
    assert_eq!(fake.count("elasticloadbalancing:CreateLoadBalancer"), 1);
    assert_eq!(fake.services().len(), 1);
}

// ---------------------------------------------------------------------------------------
// Deletion
// ---------------------------------------------------------------------------------------

fn waiting_message(c: &Cleanup) -> &str {
    match c {
        Cleanup::Waiting { message, .. } => message,
        Cleanup::Done(_) => panic!("expected Waiting, got Done"),
    }
}

#[tokio::test]
async fn service_cleanup_scales_to_zero_deletes_waits_for_inactive_then_deletes_the_elb() {
    let fake = FakeAws::new();
    let (_cluster, _td, svc) = steady_tutorial(&fake).await;
    fake.set_auto_progress(false);

    fake.clear_calls();
    let c = cleanup(&fake, &svc).await;
    assert!(waiting_message(&c).contains("INACTIVE"));
    assert_eq!(
        fake.mutating_calls(),
        ["ecs:UpdateService", "ecs:DeleteService"]
    );
    assert_eq!(fake.service_updates().pop().unwrap().desired_count, Some(0));
    assert_eq!(fake.service(CLUSTER, SERVICE).unwrap().status, "DRAINING");
    assert!(
        fake.load_balancer(ELB).is_some(),
        "the ELB outlives the service"
    );

    fake.clear_calls();
    let c = cleanup(&fake, &svc).await;
    assert!(waiting_message(&c).contains("INACTIVE"));
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());

    fake.tick();
    fake.clear_calls();
    let c = cleanup(&fake, &svc).await;
    let Cleanup::Done(notes) = c else {
        panic!("expected Done, got {c:?}")
    };
    assert!(has_note(&notes, "Deleted", ELB));
    assert_eq!(
        fake.mutating_calls(),
        ["elasticloadbalancing:DeleteLoadBalancer"]
    );
    assert!(fake.load_balancer(ELB).is_none());
    assert_eq!(fake.service(CLUSTER, SERVICE).unwrap().status, "INACTIVE");

    // Cleanup again (a second reconcile before the finalizer is gone): still done.
    assert!(matches!(cleanup(&fake, &svc).await, Cleanup::Done(_)));
}

#[tokio::test]
async fn cluster_cleanup_waits_for_services_then_deletes_group_template_and_cluster() {
    let fake = FakeAws::new();
    let (cluster, _td, svc) = steady_tutorial(&fake).await;
    fake.set_auto_progress(false);

    fake.clear_calls();
    let c = cleanup(&fake, &cluster).await;
    assert!(waiting_message(&c).contains("1 services"), "{c:?}");
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());

    // The service goes first.
    assert!(matches!(
        cleanup(&fake, &svc).await,
        Cleanup::Waiting { .. }
    ));
    fake.tick();
    assert!(matches!(cleanup(&fake, &svc).await, Cleanup::Done(_)));

    // Then the capacity, in order: scale in, await the instances, delete the group, await
    // it, delete the template, and the cluster last.
    fake.clear_calls();
    let mut steps = 0;
    loop {
        let c = cleanup(&fake, &cluster).await;
        if matches!(c, Cleanup::Done(_)) {
            break;
        }
        assert!(waiting_message(&c).contains("Auto Scaling group"), "{c:?}");
        if let Some(g) = fake.group("my-ecs-cluster-ecs-capacity") {
            let deleting = fake.count("autoscaling:DeleteAutoScalingGroup") > 0;
            assert!(
                deleting || g.status.is_none(),
                "the group is never force-deleted with its instances"
            );
        }
        fake.tick();
        steps += 1;
        assert!(
            steps < 20,
            "capacity removal did not finish: {:?}",
            fake.calls()
        );
    }
    assert_eq!(
        fake.mutating_calls(),
        [
            "autoscaling:UpdateAutoScalingGroup",
            "autoscaling:DeleteAutoScalingGroup",
            "ec2:DeleteLaunchTemplate",
            "ecs:DeleteCluster"
        ]
    );
    assert!(fake.groups().is_empty());
    assert!(fake.launch_templates().is_empty());
    assert_eq!(fake.cluster(CLUSTER).unwrap().status, "INACTIVE");
}

#[tokio::test]
async fn task_def_cleanup_deregisters_every_owned_revision_and_no_other() {
    let fake = FakeAws::new();
    let mut td = tutorial_task_def();
    sync_ok(&fake, &mut td, &no_deps()).await;
    td.spec.container_definitions[0].image = "training/webapp:v2".into();
    bump(&mut td);
    sync_ok(&fake, &mut td, &no_deps()).await;
    // Someone else registers revision 3 of the same family.
    let other = owner_value("other-mc", NS, "EcsTaskDef", FAMILY);
    fake.clients(None)
        .ecs
        .register_task_definition(&RegisterTaskDefinitionInput {
            family: FAMILY.into(),
            definition: tutorial_task_def().spec,
            tags: owned_by(&other),
        })
        .await
        .unwrap();

    fake.clear_calls();
    assert!(matches!(cleanup(&fake, &td).await, Cleanup::Done(_)));
    assert_eq!(fake.count("ecs:DeregisterTaskDefinition"), 2);
    let statuses: Vec<String> = fake
        .task_definition_revisions(FAMILY)
        .into_iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, ["INACTIVE", "INACTIVE", "ACTIVE"]);
}

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

// ---------------------------------------------------------------------------------------
// Rollouts that fail
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn failed_deployment_without_rollback_reports_deployment_failed() {
    let fake = FakeAws::new();
    fake.set_auto_progress(false);
    let (cluster, mut td, mut svc) = steady_plain(&fake, Some(2)).await;
    svc.spec.deployment_configuration = Some(DeploymentConfiguration {
        deployment_circuit_breaker: Some(DeploymentCircuitBreaker {
            enable: true,
            rollback: false,
        }),
        ..Default::default()
    });
    bump(&mut svc);
    sync_ok(&fake, &mut svc, &deps_for(&cluster, &td)).await;

    td.spec.container_definitions[0].image = "training/webapp:broken".into();
    bump(&mut td);
    sync_ok(&fake, &mut td, &no_deps()).await;
    fake.break_task_definition(&td_arn(2));
    let deps = deps_for(&cluster, &td);
    sync_ok(&fake, &mut svc, &deps).await;
    fake.tick();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    let (reason, message) = not_ready_reason(&s).unwrap();
    assert_eq!(reason, "DeploymentFailed");
    assert!(message.contains("circuit breaker"), "{message}");
    let p = progressing(&s);
    assert!(!p.status);
    assert_eq!(p.reason, "DeploymentFailed");
    // The spec is unchanged: the failed revision is not deployed again.
    fake.tick();
    sync_ok(&fake, &mut svc, &deps).await;
    assert_eq!(
        fake.service_updates()
            .iter()
            .filter(|u| u.task_definition.is_some())
            .count(),
        1
    );
}

/// With the circuit breaker's rollback, ECS puts the previous task definition back on the
/// service; the operator must not roll the failed revision out again and again.
#[tokio::test]
async fn circuit_breaker_rollback_is_not_fought() {
    let fake = FakeAws::new();
    fake.set_auto_progress(false);
    let (cluster, mut td, mut svc) = steady_plain(&fake, Some(2)).await;
    svc.spec.deployment_configuration = Some(DeploymentConfiguration {
        deployment_circuit_breaker: Some(DeploymentCircuitBreaker {
            enable: true,
            rollback: true,
        }),
        ..Default::default()
    });
    bump(&mut svc);
    sync_ok(&fake, &mut svc, &deps_for(&cluster, &td)).await;
    td.spec.container_definitions[0].image = "training/webapp:broken".into();
    bump(&mut td);
    sync_ok(&fake, &mut td, &no_deps()).await;
    fake.break_task_definition(&td_arn(2));
    let deps = deps_for(&cluster, &td);
    for _ in 0..4 {
        sync(&fake, &mut svc, &deps, false).await.unwrap();
        fake.tick();
    }
    let rollouts = fake
        .service_updates()
        .iter()
        .filter(|u| u.task_definition.as_deref() == Some(td_arn(2).as_str()))
        .count();
    assert_eq!(
        rollouts, 1,
        "the failed revision was rolled out {rollouts} times"
    );
}

/// The service was created but the sync that created it never returned (response lost,
/// operator restarted), so the object has no status. Deleting the object must not leave
/// the ECS service running (nor delete the ELB under it).
#[tokio::test]
async fn cleanup_of_a_service_whose_create_response_was_lost_deletes_it() {
    let fake = FakeAws::new();
    let mut cluster = bare_cluster();
    sync_ok(&fake, &mut cluster, &()).await;
    let mut td = tutorial_task_def();
    sync_ok(&fake, &mut td, &no_deps()).await;
    let mut svc = tutorial_service();
    fake.lose_response_next("ecs:CreateService", 1);
    sync(&fake, &mut svc, &deps_for(&cluster, &td), false)
        .await
        .unwrap_err();
    assert!(svc.status.is_none());
    // The cluster comes from the clusterRef, resolved through Kubernetes.
    let deps = ServiceCleanupDeps {
        cluster: Some(CLUSTER.to_string()),
    };
    let c = cleanup_with(&fake, &svc, &deps).await;
    assert!(
        matches!(c, Cleanup::Waiting { .. }),
        "cleanup finished with the ECS service still {}",
        fake.service(CLUSTER, SERVICE).unwrap().status
    );
    assert!(fake.load_balancer(ELB).is_some());
}

/// Cluster deletion while a deleted service still drains: the contract says deletion waits
/// "(condition says why) while ECS services still run in the cluster".
#[tokio::test]
async fn cluster_cleanup_waits_while_a_service_drains() {
    let fake = FakeAws::new();
    let (cluster, _td, svc) = steady_tutorial(&fake).await;
    // Tasks stop one per step from now on: the service drains for four steps.
    fake.set_tasks_per_step(Some(1));
    fake.set_auto_progress(false);
    assert!(matches!(
        cleanup(&fake, &svc).await,
        Cleanup::Waiting { .. }
    ));
    assert_eq!(fake.service(CLUSTER, SERVICE).unwrap().status, "DRAINING");
    // The EcsService keeps its finalizer until ECS reports it INACTIVE: the cluster waits
    // for it and deletes nothing.
    let deps = ClusterCleanupDeps {
        services: vec![svc.name_any()],
    };
    let before = fake.mutating_calls().len();
    match cleanup_with(&fake, &cluster, &deps).await {
        Cleanup::Waiting { message, .. } => assert!(message.contains(&svc.name_any()), "{message}"),
        other => panic!("expected Waiting, got {other:?}"),
    }
    assert_eq!(
        fake.mutating_calls().len(),
        before,
        "nothing may be deleted yet"
    );
}

/// Without an EcsService in Kubernetes (a service made by hand, already deleted and
/// draining), DeleteCluster's dependency error is a reason to wait, not a failure.
#[tokio::test]
async fn cluster_deletion_refused_by_ecs_waits() {
    let fake = FakeAws::new();
    let (cluster, _td, svc) = steady_plain(&fake, Some(2)).await;
    fake.set_tasks_per_step(Some(1));
    fake.set_auto_progress(false);
    assert!(matches!(
        cleanup(&fake, &svc).await,
        Cleanup::Waiting { .. }
    ));
    assert_eq!(fake.service(CLUSTER, SERVICE).unwrap().status, "DRAINING");
    let result = cluster
        .cleanup(&ClusterCleanupDeps::default(), &cx(&fake, &cluster, false))
        .await;
    match result {
        Ok(Cleanup::Waiting { message, .. }) => assert!(message.contains("not empty"), "{message}"),
        other => panic!("expected Waiting, got {other:?}"),
    }
    assert_eq!(fake.count("ecs:DeleteCluster"), 1);
}

#[tokio::test]
async fn service_waits_while_its_previous_incarnation_drains_then_is_created_again() {
    let fake = FakeAws::new();
    fake.set_auto_progress(false);
    let (cluster, td, mut svc) = steady_plain(&fake, Some(1)).await;
    let deps = deps_for(&cluster, &td);
    // Someone deletes the service behind the operator's back.
    fake.set_desired_count(CLUSTER, SERVICE, 0);
    fake.clients(None)
        .ecs
        .delete_service(CLUSTER, SERVICE)
        .await
        .unwrap();
    let e = sync(&fake, &mut svc, &deps, false).await.unwrap_err();
    assert!(matches!(e, Error::WaitingForDependency(_)), "{e}");
    fake.tick();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert!(has_note(&s.notes, "Created", SERVICE));
    assert_eq!(fake.services().len(), 2);
    assert_eq!(fake.service(CLUSTER, SERVICE).unwrap().status, "ACTIVE");
    assert_eq!(fake.service(CLUSTER, SERVICE).unwrap().desired_count, 1);
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

#[tokio::test]
async fn register_after_a_lost_response_finds_the_revision_even_when_the_listing_lags() {
    let fake = FakeAws::new();
    fake.set_list_lag(3);
    let mut td = tutorial_task_def();
    fake.lose_response_next("ecs:RegisterTaskDefinition", 1);
    assert!(sync(&fake, &mut td, &no_deps(), false).await.is_err());
    // A crash and restart: nothing in status; the listing does not show revision 1 yet.
    td.status = None;
    let s = sync_ok(&fake, &mut td, &no_deps()).await;
    assert_eq!(s.status.latest_revision, Some(1));
    assert_eq!(fake.task_definition_revisions(FAMILY).len(), 1);
    assert_eq!(fake.count("ecs:RegisterTaskDefinition"), 1);
}

#[tokio::test]
async fn task_def_deletion_waits_while_ecs_still_runs_one_of_its_revisions() {
    let fake = FakeAws::new();
    let (cluster, td, svc) = steady_tutorial(&fake).await;
    let cluster_arn = cluster
        .status
        .as_ref()
        .and_then(|s| s.cluster_arn.clone())
        .expect("cluster arn");
    // Kubernetes knows nothing of the service (its EcsService status is gone): ECS does.
    let deps = TaskDefDeps {
        clusters: BTreeSet::from([cluster_arn]),
        ..Default::default()
    };
    fake.clear_calls();
    let c = cleanup_with(&fake, &td, &deps).await;
    assert!(
        waiting_message(&c).contains(&format!("{FAMILY}:1")),
        "{c:?}"
    );
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());

    // Once the service is gone, the revisions go.
    fake.set_auto_progress(false);
    let mut steps = 0;
    while !matches!(cleanup(&fake, &svc).await, Cleanup::Done(_)) {
        fake.tick();
        steps += 1;
        assert!(steps < 10, "service cleanup did not finish");
    }
    assert!(matches!(
        cleanup_with(&fake, &td, &deps).await,
        Cleanup::Done(_)
    ));
    assert_eq!(fake.task_definition_revisions(FAMILY)[0].status, "INACTIVE");
}

#[tokio::test]
async fn revision_history_keeps_the_rollback_target_of_a_running_deployment() {
    let fake = FakeAws::new();
    let (cluster, mut td, mut svc) = steady_tutorial(&fake).await;
    let cluster_arn = cluster
        .status
        .as_ref()
        .and_then(|s| s.cluster_arn.clone())
        .expect("cluster arn");
    td.spec.revision_history_limit = Some(1);
    fake.set_auto_progress(false);
    // Revision 2, and the service starts rolling to it: revision 1 is its rollback target.
    td.spec.container_definitions[0].image = "training/webapp:v2".into();
    bump(&mut td);
    let deps = TaskDefDeps {
        clusters: BTreeSet::from([cluster_arn]),
        ..Default::default()
    };
    sync_ok(&fake, &mut td, &deps).await;
    sync_ok(&fake, &mut svc, &deps_for(&cluster, &td)).await;
    // Revision 3 while the rollout from 1 to 2 runs; the EcsService status is not trusted.
    svc.status = None;
    td.spec.container_definitions[0].image = "training/webapp:v3".into();
    bump(&mut td);
    let s = sync_ok(&fake, &mut td, &deps).await;
    assert_eq!(s.status.latest_revision, Some(3));
    let statuses: Vec<String> = fake
        .task_definition_revisions(FAMILY)
        .into_iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses,
        ["ACTIVE", "ACTIVE", "ACTIVE"],
        "1 (rollback target) and 2 (rolling out) are kept although the limit is 1"
    );
}

#[tokio::test]
async fn pinned_family_revision_is_resolved_to_its_arn() {
    let fake = FakeAws::new();
    let (cluster, mut td, mut svc) = steady_plain(&fake, Some(1)).await;
    td.spec.container_definitions[0].image = "training/webapp:v2".into();
    bump(&mut td);
    sync_ok(&fake, &mut td, &no_deps()).await;

    // Pinned to revision 1 (what dereference makes of `taskDefRef.revision: 1`).
    let pinned = ServiceDeps {
        cluster: deps_for(&cluster, &td).cluster,
        task_definition: format!("{FAMILY}:1"),
    };
    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &pinned).await;
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
    assert_eq!(
        s.status.task_definition.as_deref(),
        Some("hello-world-task:1")
    );

    // A revision that does not exist: the spec must change.
    let missing = ServiceDeps {
        task_definition: format!("{FAMILY}:9"),
        ..pinned
    };
    let e = sync(&fake, &mut svc, &missing, false).await.unwrap_err();
    assert!(matches!(e, Error::InvalidSpec(_)), "{e}");
}

// ---------------------------------------------------------------------------------------
// Tags removed from spec.tags
// ---------------------------------------------------------------------------------------

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

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

// ---------------------------------------------------------------------------------------
// A capacity problem never blocks a deploy
// ---------------------------------------------------------------------------------------

/// The Ready condition the generic reconciler writes for a sync's readiness.
fn ready_condition(
    status: &str,
    reason: &str,
    generation: Option<i64>,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
        type_: "Ready".into(),
        status: status.into(),
        reason: reason.into(),
        message: String::new(),
        observed_generation: generation,
        last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            jiff::Timestamp::UNIX_EPOCH,
        ),
    }
}

#[tokio::test]
async fn a_cluster_short_of_capacity_does_not_block_a_service_update() {
    let fake = FakeAws::new();
    fake.set_auto_progress(false);
    fake.set_require_capacity(true);

    // Its instances are not in service (replacement, scale-out, no such instance type
    // available): the EcsCluster is not Ready, but its ECS cluster is ACTIVE.
    let mut cluster = tutorial_cluster();
    let s = sync_ok(&fake, &mut cluster, &()).await;
    assert_eq!(not_ready_reason(&s).unwrap().0, "ScalingCapacity");
    assert_eq!(s.status.cluster_status.as_deref(), Some("ACTIVE"));
    let gen = cluster.metadata.generation;
    cluster.status.as_mut().unwrap().common.conditions =
        vec![ready_condition("False", "ScalingCapacity", gen)];
    let arn = cluster_usable(&cluster).expect("an ACTIVE ECS cluster takes deploys");
    assert_eq!(
        Some(&arn),
        cluster.status.as_ref().unwrap().cluster_arn.as_ref()
    );

    let mut td = tutorial_task_def();
    sync_ok(&fake, &mut td, &no_deps()).await;
    let mut svc = plain_service(Some(2));
    sync_ok(&fake, &mut svc, &deps_for(&cluster, &td)).await;

    // A new revision while the cluster is still short: the service rolls to it.
    td.spec.container_definitions[0].environment = env(&[("PROVIDER", "ECS")]);
    bump(&mut td);
    sync_ok(&fake, &mut td, &no_deps()).await;
    assert!(cluster_usable(&cluster).is_ok());
    let s = sync_ok(&fake, &mut svc, &deps_for(&cluster, &td)).await;
    assert!(
        has_note(&s.notes, "RollingUpdate", &td_arn(2)),
        "{:?}",
        s.notes
    );
    assert_eq!(
        fake.service_updates().pop().unwrap().task_definition,
        Some(td_arn(2))
    );

    // What does block: an ECS cluster that is not ACTIVE, or an EcsCluster being deleted.
    cluster.status.as_mut().unwrap().cluster_status = Some("PROVISIONING".into());
    assert!(cluster_usable(&cluster)
        .unwrap_err()
        .contains("PROVISIONING"));
    cluster.status.as_mut().unwrap().cluster_status = Some("ACTIVE".into());
    cluster.metadata.deletion_timestamp = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH),
    );
    assert!(cluster_usable(&cluster)
        .unwrap_err()
        .contains("being deleted"));
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

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
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
async fn a_user_tag_taken_off_in_aws_is_drift_of_the_tags_field() {
    let fake = FakeAws::new();
    let metrics = Metrics::default();
    let (cluster, td, mut svc) = steady_plain(&fake, Some(1)).await;
    svc.spec.tags = tags(&[("team", "web")]);
    bump(&mut svc);
    let deps = deps_for(&cluster, &td);
    let s = sync_counted(&fake, &mut svc, &deps, false, &metrics)
        .await
        .expect("sync");
    assert!(
        has_note(&s.notes, "Updated", "ECS service tags {} → {team=web}"),
        "{:?}",
        s.notes
    );

    let service_arn = fake.service(CLUSTER, SERVICE).unwrap().arn;
    fake.clients(None)
        .ecs
        .untag_resource(&service_arn, &["team".to_string()])
        .await
        .unwrap();
    let s = sync_counted(&fake, &mut svc, &deps, false, &metrics)
        .await
        .expect("sync");
    assert_eq!(
        s.drift,
        [Drift::new(Owned::EcsService, "tags", "{}", "{team=web}")]
    );
    assert!(
        has_note(
            &s.notes,
            "DriftCorrected",
            "corrected drift: ECS service tags {} → {team=web}"
        ),
        "{:?}",
        s.notes
    );
    let text = metrics.encode().expect("metrics encode");
    assert!(
        text.contains(
            "ecs_operator_drift_corrections_total{kind=\"EcsService\",resource=\"ecs_service\",field=\"tags\"} 1"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn a_latest_revision_deregistered_behind_our_back_is_drift_named_by_revision() {
    let fake = FakeAws::new();
    let mut td = tutorial_task_def();
    sync_ok(&fake, &mut td, &no_deps()).await;
    td.spec.container_definitions[0].image = "training/webapp:v2".into();
    bump(&mut td);
    sync_ok(&fake, &mut td, &no_deps()).await;

    fake.clients(None)
        .ecs
        .deregister_task_definition(&td_arn(2))
        .await
        .unwrap();
    let s = sync_ok(&fake, &mut td, &no_deps()).await;
    assert_eq!(s.status.latest_revision, Some(3));
    assert_eq!(
        s.drift,
        [Drift::new(
            Owned::TaskDefinition,
            "revision",
            format!("{FAMILY}:1"),
            format!("{FAMILY}:3")
        )]
    );
    assert!(
        has_note(
            &s.notes,
            "DriftCorrected",
            "corrected drift: task definition revision hello-world-task:1 → hello-world-task:3"
        ),
        "{:?}",
        s.notes
    );
    // Registered from the same spec: the next sync has nothing to correct.
    let s = sync_ok(&fake, &mut td, &no_deps()).await;
    assert!(s.drift.is_empty() && s.notes.is_empty(), "{:?}", s.notes);
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
// Capacity providers
// ---------------------------------------------------------------------------------------

const PROVIDER: &str = "my-ecs-cluster-ec2";
const GROUP: &str = "my-ecs-cluster-ecs-capacity";

fn strategy_item(
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
fn provider_cluster() -> EcsCluster {
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

// ---------------------------------------------------------------------------------------
// Application Auto Scaling (spec.autoScaling)
// ---------------------------------------------------------------------------------------

mod autoscaling {
    use super::*;
    use ecs_operator::api::service::{ScalingMetric, ServiceAutoScaling, TargetTrackingPolicy};
    use ecs_operator::aws::types::{
        PutScalingPolicyInput, RegisterScalableTargetInput, TargetTrackingConfig,
    };

    const RESOURCE: &str = "service/my-ecs-cluster/hello-world-service";
    const CPU_POLICY: &str = "hello-world-service-cpu";
    const MEMORY_POLICY: &str = "hello-world-service-memory";

    fn policy(metric: ScalingMetric, target: f64) -> TargetTrackingPolicy {
        TargetTrackingPolicy {
            metric,
            target,
            scale_in_cooldown: Some(300),
            scale_out_cooldown: Some(60),
            load_balancer_arn: None,
        }
    }

    fn scaling(min: i32, max: i32, policies: Vec<TargetTrackingPolicy>) -> ServiceAutoScaling {
        ServiceAutoScaling {
            min_count: min,
            max_count: max,
            target_tracking: policies,
        }
    }

    /// Cluster, task definition and a plain service of `desired_count` scaled 1–6 on CPU,
    /// synced until Ready.
    async fn steady_autoscaled(
        fake: &FakeAws,
        desired_count: Option<i32>,
    ) -> (ServiceDeps, EcsService) {
        let mut cluster = bare_cluster();
        sync_ok(fake, &mut cluster, &()).await;
        let mut td = tutorial_task_def();
        sync_ok(fake, &mut td, &no_deps()).await;
        let mut svc = plain_service(desired_count);
        svc.spec.auto_scaling = Some(scaling(1, 6, vec![policy(ScalingMetric::Cpu, 60.0)]));
        let deps = deps_for(&cluster, &td);
        let first = sync_ok(fake, &mut svc, &deps).await;
        assert!(
            has_note(
                &first.notes,
                "Created",
                &format!("scalable target {RESOURCE}")
            ),
            "{:?}",
            first.notes
        );
        fake.tick();
        let s = sync_ok(fake, &mut svc, &deps).await;
        assert!(is_ready(&s), "{:?}", s.readiness);
        (deps, svc)
    }

    #[tokio::test]
    async fn target_and_policy_are_registered_owned_and_recorded() {
        let fake = FakeAws::new();
        let (_deps, svc) = steady_autoscaled(&fake, None).await;
        // desiredCount left out: minCount at creation.
        assert_eq!(fake.service_creates()[0].desired_count, 1);
        let target = fake.scalable_target(RESOURCE).expect("registered");
        assert_eq!((target.min_capacity, target.max_capacity), (1, 6));
        let tags = fake.scalable_target_tags(RESOURCE).expect("tags");
        assert_eq!(tags.get(OWNER_TAG), Some(&owner("EcsService", SERVICE)));
        assert!(tags.contains_key(MANAGED_BY_TAG));
        let policies = fake.scaling_policies(RESOURCE);
        assert_eq!(policies.len(), 1);
        assert_eq!(policies[0].name, CPU_POLICY);
        let config = policies[0]
            .target_tracking
            .clone()
            .expect("target tracking");
        assert_eq!(config.predefined_metric, "ECSServiceAverageCPUUtilization");
        assert_eq!(config.target_value, 60.0);
        assert_eq!(config.scale_out_cooldown, Some(60));
        let status = svc.status.and_then(|s| s.auto_scaling).expect("status");
        assert_eq!(status.resource_id, RESOURCE);
        assert_eq!((status.min_count, status.max_count), (1, 6));
        assert_eq!(status.policies, [CPU_POLICY]);
        assert_eq!(status.current_count, Some(1));
        assert_eq!(status.scalable_target_arn, target.arn);
    }

    #[tokio::test]
    async fn the_scalers_count_is_never_reverted_even_with_desired_count_set() {
        let fake = FakeAws::new();
        let (deps, mut svc) = steady_autoscaled(&fake, Some(2)).await;
        assert_eq!(fake.service_creates()[0].desired_count, 2);

        assert_eq!(fake.autoscale(RESOURCE, 5), 5);
        for _ in 0..3 {
            fake.tick();
            fake.clear_calls();
            let s = sync_ok(&fake, &mut svc, &deps).await;
            assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
            // A converged target costs no tag read.
            assert_eq!(fake.count("application-autoscaling:ListTagsForResource"), 0);
            assert_eq!(s.status.desired_count, Some(5));
            assert!(is_ready(&s), "{:?}", s.readiness);
            let status = s.status.auto_scaling.expect("status");
            assert_eq!(status.current_count, Some(5));
            let activity = status.last_scaling_activity.expect("an activity");
            assert_eq!(activity.description, "Setting desired count to 5.");
            assert_eq!(activity.status_code, "Successful");
            assert!(activity.time.is_some());
        }
        assert_eq!(fake.service(CLUSTER, SERVICE).unwrap().desired_count, 5);
        assert!(
            fake.service_updates().is_empty(),
            "{:?}",
            fake.service_updates()
        );
    }

    #[tokio::test]
    async fn spec_edits_are_applied_and_drift_is_corrected() {
        let fake = FakeAws::new();
        let (deps, mut svc) = steady_autoscaled(&fake, None).await;

        // An edit: a wider range and a second metric.
        let mut spec = svc.spec.auto_scaling.clone().expect("autoScaling");
        spec.max_count = 10;
        spec.target_tracking
            .push(policy(ScalingMetric::Memory, 75.0));
        svc.spec.auto_scaling = Some(spec);
        bump(&mut svc);
        fake.clear_calls();
        let s = sync_ok(&fake, &mut svc, &deps).await;
        assert_eq!(
            fake.mutating_calls(),
            [
                "application-autoscaling:RegisterScalableTarget",
                "application-autoscaling:PutScalingPolicy"
            ]
        );
        assert!(
            has_note(&s.notes, "Updated", "scalable target maxCapacity 6 → 10"),
            "{:?}",
            s.notes
        );
        assert_eq!(fake.scalable_target(RESOURCE).unwrap().max_capacity, 10);
        assert_eq!(
            s.status.auto_scaling.as_ref().map(|a| a.policies.clone()),
            Some(vec![CPU_POLICY.to_string(), MEMORY_POLICY.to_string()])
        );

        // Someone changes our CPU policy and the range behind our back.
        let aas = fake.clients(None).app_autoscaling;
        aas.put_scaling_policy(&PutScalingPolicyInput {
            name: CPU_POLICY.into(),
            resource_id: RESOURCE.into(),
            config: TargetTrackingConfig {
                predefined_metric: "ECSServiceAverageCPUUtilization".into(),
                target_value: 90.0,
                scale_in_cooldown: Some(300),
                scale_out_cooldown: Some(60),
                resource_label: None,
            },
        })
        .await
        .unwrap();
        aas.register_scalable_target(&RegisterScalableTargetInput {
            resource_id: RESOURCE.into(),
            min_capacity: 0,
            max_capacity: 10,
            tags: Tags::new(),
        })
        .await
        .unwrap();
        fake.clear_calls();
        let s = sync_ok(&fake, &mut svc, &deps).await;
        assert!(
            has_note(
                &s.notes,
                "DriftCorrected",
                "scalable target minCapacity 0 → 1; scaling policy targetValue hello-world-service-cpu: 90 → hello-world-service-cpu: 60"
            ),
            "{:?}",
            s.notes
        );
        assert_eq!(fake.scalable_target(RESOURCE).unwrap().min_capacity, 1);

        // Memory leaves the spec: its policy goes, CPU's stays.
        let mut spec = svc.spec.auto_scaling.clone().expect("autoScaling");
        spec.target_tracking
            .retain(|p| p.metric == ScalingMetric::Cpu);
        svc.spec.auto_scaling = Some(spec);
        bump(&mut svc);
        fake.clear_calls();
        sync_ok(&fake, &mut svc, &deps).await;
        assert_eq!(
            fake.mutating_calls(),
            ["application-autoscaling:DeleteScalingPolicy"]
        );
        let names: Vec<String> = fake
            .scaling_policies(RESOURCE)
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, [CPU_POLICY]);
    }

    #[tokio::test]
    async fn a_tags_edit_reaches_the_scalable_target() {
        let fake = FakeAws::new();
        let (deps, mut svc) = steady_autoscaled(&fake, None).await;
        svc.spec.tags = [("team".to_string(), "web".to_string())].into();
        bump(&mut svc);
        sync_ok(&fake, &mut svc, &deps).await;
        let tags = fake.scalable_target_tags(RESOURCE).expect("tags");
        assert_eq!(tags.get("team").map(String::as_str), Some("web"));
        svc.spec.tags.clear();
        bump(&mut svc);
        sync_ok(&fake, &mut svc, &deps).await;
        let tags = fake.scalable_target_tags(RESOURCE).expect("tags");
        assert!(!tags.contains_key("team"), "{tags:?}");
        assert!(tags.contains_key(OWNER_TAG));
    }

    #[tokio::test]
    async fn removing_auto_scaling_removes_the_scaler_before_desired_count_is_managed_again() {
        let fake = FakeAws::new();
        let (deps, mut svc) = steady_autoscaled(&fake, Some(2)).await;
        fake.autoscale(RESOURCE, 5);

        svc.spec.auto_scaling = None;
        bump(&mut svc);
        fake.clear_calls();
        let s = sync_ok(&fake, &mut svc, &deps).await;
        assert_eq!(
            fake.mutating_calls(),
            [
                "application-autoscaling:DeleteScalingPolicy",
                "application-autoscaling:DeregisterScalableTarget",
                "ecs:UpdateService"
            ]
        );
        assert!(
            has_note(&s.notes, "Deleted", "deregistered scalable target"),
            "{:?}",
            s.notes
        );
        assert_eq!(fake.service_updates().pop().unwrap().desired_count, Some(2));
        assert!(fake.scalable_target(RESOURCE).is_none());
        assert!(fake.scaling_policies(RESOURCE).is_empty());
        assert_eq!(s.status.auto_scaling, None);

        // Next sync: nothing about auto scaling is read any more.
        fake.clear_calls();
        sync_ok(&fake, &mut svc, &deps).await;
        assert!(
            fake.calls()
                .iter()
                .all(|c| !c.starts_with("application-autoscaling:")),
            "{:?}",
            fake.calls()
        );
    }

    #[tokio::test]
    async fn deletion_deregisters_the_scaler_before_scaling_the_service_to_zero() {
        let fake = FakeAws::new();
        let (_deps, svc) = steady_autoscaled(&fake, None).await;
        fake.set_auto_progress(false);
        fake.clear_calls();
        let c = cleanup(&fake, &svc).await;
        assert!(waiting_message(&c).contains("INACTIVE"));
        assert_eq!(
            fake.mutating_calls(),
            [
                "application-autoscaling:DeleteScalingPolicy",
                "application-autoscaling:DeregisterScalableTarget",
                "ecs:UpdateService",
                "ecs:DeleteService"
            ]
        );
        assert!(fake.scalable_target(RESOURCE).is_none());
        fake.tick();
        fake.clear_calls();
        assert!(matches!(cleanup(&fake, &svc).await, Cleanup::Done(_)));
        assert!(
            fake.mutating_calls().is_empty(),
            "the target is not deregistered twice: {:?}",
            fake.calls()
        );
    }

    /// A scalable target registered for the service by someone else, with these tags.
    async fn foreign_target(fake: &FakeAws, deps: &ServiceDeps, tags: Tags) -> EcsService {
        // The service exists (ours, without auto scaling yet).
        let mut svc = plain_service(Some(2));
        sync_ok(fake, &mut svc, deps).await;
        fake.clients(None)
            .app_autoscaling
            .register_scalable_target(&RegisterScalableTargetInput {
                resource_id: RESOURCE.into(),
                min_capacity: 1,
                max_capacity: 3,
                tags,
            })
            .await
            .unwrap();
        svc.spec.auto_scaling = Some(scaling(1, 6, vec![policy(ScalingMetric::Cpu, 60.0)]));
        bump(&mut svc);
        svc
    }

    async fn plain_deps(fake: &FakeAws) -> ServiceDeps {
        let mut cluster = bare_cluster();
        sync_ok(fake, &mut cluster, &()).await;
        let mut td = tutorial_task_def();
        sync_ok(fake, &mut td, &no_deps()).await;
        deps_for(&cluster, &td)
    }

    #[tokio::test]
    async fn a_scalable_target_of_another_owner_is_a_conflict_and_an_untagged_one_adoptable() {
        let fake = FakeAws::new();
        let deps = plain_deps(&fake).await;
        let mut svc = foreign_target(&fake, &deps, owned_by("mc-other/default/EcsService/x")).await;
        assert_conflict(sync(&fake, &mut svc, &deps, true).await, RESOURCE);
        assert_eq!(fake.scalable_target(RESOURCE).unwrap().max_capacity, 3);
        // Deleting the object leaves the other owner's target alone.
        fake.clear_calls();
        cleanup(&fake, &svc).await;
        assert!(fake.scalable_target(RESOURCE).is_some());

        let fake = FakeAws::new();
        let deps = plain_deps(&fake).await;
        let mut svc = foreign_target(&fake, &deps, Tags::new()).await;
        assert_conflict(sync(&fake, &mut svc, &deps, false).await, RESOURCE);
        let s = sync(&fake, &mut svc, &deps, true).await.expect("adopted");
        assert!(has_note(&s.notes, "Adopted", RESOURCE), "{:?}", s.notes);
        let tags = fake.scalable_target_tags(RESOURCE).expect("tags");
        assert_eq!(tags.get(OWNER_TAG), Some(&owner("EcsService", SERVICE)));
        assert_eq!(fake.scalable_target(RESOURCE).unwrap().max_capacity, 6);
    }

    #[tokio::test]
    async fn alb_request_count_without_a_target_group_stalls_with_a_clear_message() {
        let fake = FakeAws::new();
        let deps = plain_deps(&fake).await;
        let mut svc = plain_service(None);
        let mut alb = policy(ScalingMetric::AlbRequestCount, 500.0);
        alb.load_balancer_arn = Some(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/front/0123456789abcdef"
                .into(),
        );
        svc.spec.auto_scaling = Some(scaling(1, 6, vec![alb]));
        match sync(&fake, &mut svc, &deps, false).await {
            Err(e @ Error::InvalidSpec(_)) => {
                assert!(e.to_string().contains("loadBalancer.targetGroupArn"), "{e}");
                assert_eq!(
                    e.treatment(),
                    Treatment::Stall {
                        reason: "InvalidSpec"
                    }
                );
            }
            other => panic!("expected InvalidSpec, got {other:?}"),
        }
        assert!(fake.scalable_target(RESOURCE).is_none());
    }

    #[tokio::test]
    async fn throttled_policy_writes_retry_and_converge() {
        let fake = FakeAws::new();
        let deps = plain_deps(&fake).await;
        let mut svc = plain_service(None);
        svc.spec.auto_scaling = Some(scaling(1, 6, vec![policy(ScalingMetric::Cpu, 60.0)]));
        fake.throttle_next("application-autoscaling:PutScalingPolicy", 1);
        let err = sync(&fake, &mut svc, &deps, false)
            .await
            .expect_err("throttled");
        assert!(err.to_string().contains("PutScalingPolicy"), "{err}");
        // The target was registered but status was not written: the retry finds it by
        // its owner tag and puts the policy.
        let s = sync_ok(&fake, &mut svc, &deps).await;
        assert_eq!(fake.scaling_policies(RESOURCE).len(), 1);
        assert_eq!(
            s.status.auto_scaling.map(|a| a.policies),
            Some(vec![CPU_POLICY.to_string()])
        );
    }

    #[tokio::test]
    async fn a_failed_activity_read_keeps_the_last_activity_and_the_sync_succeeds() {
        let fake = FakeAws::new();
        let (deps, mut svc) = steady_autoscaled(&fake, None).await;
        fake.autoscale(RESOURCE, 4);
        let s = sync_ok(&fake, &mut svc, &deps).await;
        let before = s.status.auto_scaling.and_then(|a| a.last_scaling_activity);
        assert!(before.is_some());
        fake.fail_next(
            "application-autoscaling:DescribeScalingActivities",
            ecs_operator::aws::AwsError::new(
                AwsErrorKind::AccessDenied,
                "application-autoscaling:DescribeScalingActivities",
                "AccessDeniedException",
                "not allowed",
            ),
            1,
        );
        let s = sync_ok(&fake, &mut svc, &deps).await;
        assert_eq!(
            s.status.auto_scaling.and_then(|a| a.last_scaling_activity),
            before
        );
    }
}

// ---------------------------------------------------------------------------------------
// loadBalancer.managedTargetGroup: an ALB target group and listener rule the service owns
// ---------------------------------------------------------------------------------------

const TG: &str = "hello-world-tg";
const VPC: &str = "vpc-0abc";

/// The tutorial service behind a managed target group on `listener` instead of a classic ELB.
fn alb_service(listener: &str) -> EcsService {
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

fn mtg_mut(svc: &mut EcsService) -> &mut ManagedTargetGroup {
    svc.spec
        .load_balancer
        .as_mut()
        .and_then(|l| l.managed_target_group.as_mut())
        .expect("managedTargetGroup")
}

/// Cluster, task definition and an ALB; returns them with the listener ARN.
async fn alb_setup(fake: &FakeAws) -> (EcsCluster, EcsTaskDef, String) {
    let mut cluster = bare_cluster();
    sync_ok(fake, &mut cluster, &()).await;
    let mut td = tutorial_task_def();
    sync_ok(fake, &mut td, &no_deps()).await;
    let (_lb, listener) = fake.add_alb("web", VPC);
    (cluster, td, listener)
}

#[tokio::test]
async fn managed_target_group_and_rule_are_created_before_the_service_and_a_resync_writes_nothing()
{
    let fake = FakeAws::new();
    let (cluster, td, listener) = alb_setup(&fake).await;
    let mut svc = alb_service(&listener);
    let deps = deps_for(&cluster, &td);

    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    // Group, then the rule that associates it with the ALB (ECS refuses a group without
    // one), then the service.
    assert_eq!(
        fake.mutating_calls(),
        [
            "elasticloadbalancing:CreateTargetGroup",
            "elasticloadbalancing:CreateRule",
            "ecs:CreateService"
        ]
    );
    let tg = fake.target_group(TG).expect("target group");
    assert_eq!(tg.vpc_id, VPC, "the VPC of the listener's ALB");
    assert_eq!(tg.target_type, "instance", "bridge network mode");
    assert_eq!((tg.protocol.as_str(), tg.port), ("HTTP", 5000));
    assert_eq!(tg.health_check.path, "/health");
    assert_eq!(tg.health_check.port, "traffic-port");
    let tags = fake.target_group_tags(TG).unwrap();
    assert_eq!(
        tags.get(OWNER_TAG),
        Some(&owner("EcsService", SERVICE)),
        "{tags:?}"
    );
    let rules = fake.listener_rules(&listener);
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].priority, Some(10));
    assert_eq!(rules[0].conditions.path_patterns, strings(&["/hello/*"]));
    assert_eq!(rules[0].forward_to, std::slice::from_ref(&tg.arn));
    assert!(fake
        .rule_tags(&rules[0].arn)
        .unwrap()
        .contains_key(OWNER_TAG));
    let lb = s.status.load_balancer.as_ref().unwrap();
    assert_eq!(lb.name, TG);
    assert_eq!(lb.target_group_arn.as_deref(), Some(tg.arn.as_str()));
    assert_eq!(lb.listener_rule_arn.as_deref(), Some(rules[0].arn.as_str()));
    assert!(
        lb.dns_name
            .as_deref()
            .is_some_and(|d| d.ends_with(".elb.amazonaws.com")),
        "the ALB's DNS name for the URL column: {lb:?}"
    );
    let created = fake.service(CLUSTER, SERVICE).unwrap();
    assert_eq!(
        created.load_balancers[0].target_group_arn.as_deref(),
        Some(tg.arn.as_str())
    );
    assert_eq!(created.load_balancers[0].load_balancer_name, None);

    fake.tick();
    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert!(is_ready(&s), "{:?}", s.readiness);
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.calls());
    assert!(s.drift.is_empty(), "{:?}", s.drift);
    // Targets are ECS's: the operator has no call that touches them.
    assert!(
        !fake.calls().iter().any(|c| c.contains("Targets")),
        "{:?}",
        fake.calls()
    );
}

#[tokio::test]
async fn awsvpc_services_get_an_ip_target_group() {
    let fake = FakeAws::new();
    let (cluster, td, listener) = alb_setup(&fake).await;
    let mut svc = alb_service(&listener);
    // ECS requires a networkConfiguration exactly for awsvpc tasks: that is how the
    // operator tells the network mode without reading the task definition.
    svc.spec.network_configuration = Some(ecs_operator::api::service::NetworkConfiguration {
        awsvpc_configuration: Some(ecs_operator::api::service::AwsVpcConfiguration {
            subnets: strings(&["subnet-a"]),
            ..Default::default()
        }),
    });
    // Only the group is looked at here: the fake's ECS may refuse the bridge task
    // definition with a network configuration.
    let _ = sync(&fake, &mut svc, &deps_for(&cluster, &td), false).await;
    assert_eq!(fake.target_group(TG).unwrap().target_type, "ip");
}

#[tokio::test]
async fn target_group_and_rule_drift_is_corrected_and_reported() {
    let fake = FakeAws::new();
    let (cluster, td, listener) = alb_setup(&fake).await;
    let mut svc = alb_service(&listener);
    let deps = deps_for(&cluster, &td);
    sync_ok(&fake, &mut svc, &deps).await;

    let mut hc = fake.target_group(TG).unwrap().health_check;
    hc.path = "/".into();
    hc.interval_seconds = 10;
    fake.set_target_group_health_check(TG, hc);
    let rule = fake.listener_rules(&listener)[0].clone();
    fake.set_rule(
        &rule.arn,
        20,
        RuleConditions {
            path_patterns: strings(&["/other/*"]),
            host_headers: vec![],
        },
    );

    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert_eq!(
        fake.mutating_calls(),
        [
            "elasticloadbalancing:ModifyTargetGroup",
            "elasticloadbalancing:ModifyRule",
            "elasticloadbalancing:SetRulePriorities"
        ]
    );
    let fields: Vec<_> = s.drift.iter().map(|d| (d.resource, d.field)).collect();
    assert!(
        fields.contains(&(Owned::TargetGroup, "healthCheck.path")),
        "{fields:?}"
    );
    assert!(
        fields.contains(&(Owned::ListenerRule, "pathPatterns")),
        "{fields:?}"
    );
    assert!(
        fields.contains(&(Owned::ListenerRule, "priority")),
        "{fields:?}"
    );
    assert!(has_note(
        &s.notes,
        "DriftCorrected",
        "healthCheck.path / → /health"
    ));
    assert_eq!(fake.target_group(TG).unwrap().health_check.path, "/health");
    let rule = fake.listener_rules(&listener)[0].clone();
    assert_eq!(rule.priority, Some(10));
    assert_eq!(rule.conditions.path_patterns, strings(&["/hello/*"]));

    // A spec edit of the rule is applied (Updated, not drift).
    bump(&mut svc);
    mtg_mut(&mut svc).rule.host_headers = strings(&["www.example.com"]);
    mtg_mut(&mut svc).deregistration_delay_seconds = Some(30);
    fake.clear_calls();
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert_eq!(
        fake.mutating_calls(),
        [
            "elasticloadbalancing:ModifyTargetGroupAttributes",
            "elasticloadbalancing:ModifyRule"
        ]
    );
    assert!(has_note(&s.notes, "Updated", "hostHeaders"));
    assert_eq!(fake.target_group_deregistration_delay(TG), Some(30));

    // spec.tags reach the group and the rule, and leave both again.
    bump(&mut svc);
    svc.spec.tags = [("team".to_string(), "web".to_string())].into();
    sync_ok(&fake, &mut svc, &deps).await;
    let rule_arn = fake.listener_rules(&listener)[0].arn.clone();
    assert_eq!(
        fake.target_group_tags(TG)
            .unwrap()
            .get("team")
            .map(String::as_str),
        Some("web")
    );
    assert_eq!(
        fake.rule_tags(&rule_arn)
            .unwrap()
            .get("team")
            .map(String::as_str),
        Some("web")
    );
    bump(&mut svc);
    svc.spec.tags = Default::default();
    sync_ok(&fake, &mut svc, &deps).await;
    assert!(!fake.target_group_tags(TG).unwrap().contains_key("team"));
    assert!(!fake.rule_tags(&rule_arn).unwrap().contains_key("team"));
    assert!(fake.rule_tags(&rule_arn).unwrap().contains_key(OWNER_TAG));
}

#[tokio::test]
async fn rule_priority_held_by_another_rule_stalls_naming_it() {
    let fake = FakeAws::new();
    let (cluster, td, listener) = alb_setup(&fake).await;
    let theirs = fake.add_foreign_rule(&listener, 10, "/theirs/*");
    let mut svc = alb_service(&listener);
    let err = sync(&fake, &mut svc, &deps_for(&cluster, &td), false)
        .await
        .expect_err("priority taken");
    let msg = err.to_string();
    assert!(
        msg.contains("priority 10") && msg.contains(&theirs),
        "{msg}"
    );
    assert_eq!(
        err.treatment(),
        Treatment::Stall {
            reason: "InvalidSpec"
        }
    );
    assert!(
        fake.service(CLUSTER, SERVICE).is_none(),
        "no service without its rule"
    );

    // A free priority heals it.
    bump(&mut svc);
    mtg_mut(&mut svc).rule.priority = 11;
    sync_ok(&fake, &mut svc, &deps_for(&cluster, &td)).await;
    assert_eq!(fake.listener_rules(&listener).len(), 2);
}

#[tokio::test]
async fn missing_listener_stalls_with_its_arn() {
    let fake = FakeAws::new();
    let (cluster, td, listener) = alb_setup(&fake).await;
    let missing = listener.replace("/app/web/", "/app/gone/");
    let mut svc = alb_service(&missing);
    let err = sync(&fake, &mut svc, &deps_for(&cluster, &td), false)
        .await
        .expect_err("listener missing");
    assert!(err.to_string().contains(&missing), "{err}");
    assert_eq!(
        err.treatment(),
        Treatment::Stall {
            reason: "InvalidSpec"
        }
    );
    assert!(fake.target_groups().is_empty());
}

#[tokio::test]
async fn target_group_of_another_owner_is_a_conflict_unless_adopted() {
    let fake = FakeAws::new();
    let (cluster, td, listener) = alb_setup(&fake).await;
    let mut other = alb_service(&listener);
    other.metadata.name = Some("other".into());
    other.spec.service_name = Some("other".into());
    mtg_mut(&mut other).rule.priority = 20;
    sync_ok(&fake, &mut other, &deps_for(&cluster, &td)).await;

    let mut svc = alb_service(&listener);
    let result = sync(&fake, &mut svc, &deps_for(&cluster, &td), true).await;
    assert_conflict(result, TG);
}

#[tokio::test]
async fn cleanup_deletes_the_service_then_the_rule_then_the_target_group() {
    let fake = FakeAws::new();
    let (cluster, td, listener) = alb_setup(&fake).await;
    let mut svc = alb_service(&listener);
    let deps = deps_for(&cluster, &td);
    sync_ok(&fake, &mut svc, &deps).await;
    let tg_arn = fake.target_group(TG).unwrap().arn;
    fake.set_auto_progress(false);

    // The group cannot go while the rule and the service use it.
    let direct = fake.clients(None).elbv2.delete_target_group(&tg_arn).await;
    assert_eq!(direct.unwrap_err().code, "ResourceInUse");

    fake.clear_calls();
    let c = cleanup(&fake, &svc).await;
    assert!(waiting_message(&c).contains("INACTIVE"));
    assert_eq!(
        fake.mutating_calls(),
        ["ecs:UpdateService", "ecs:DeleteService"]
    );
    assert!(
        fake.target_group(TG).is_some(),
        "the group outlives the service"
    );

    fake.tick();
    fake.clear_calls();
    let c = cleanup(&fake, &svc).await;
    let Cleanup::Done(notes) = c else {
        panic!("expected Done, got {c:?}")
    };
    assert_eq!(
        fake.mutating_calls(),
        [
            "elasticloadbalancing:DeleteRule",
            "elasticloadbalancing:DeleteTargetGroup"
        ]
    );
    assert!(has_note(&notes, "Deleted", TG));
    assert!(fake.target_group(TG).is_none());
    assert!(fake.listener_rules(&listener).is_empty());
    // Again (a second reconcile before the finalizer is gone): still done, nothing to do.
    fake.clear_calls();
    assert!(matches!(cleanup(&fake, &svc).await, Cleanup::Done(_)));
    assert!(fake.mutating_calls().is_empty());
}

#[tokio::test]
async fn target_group_still_in_use_is_waited_for() {
    let fake = FakeAws::new();
    let (cluster, td, listener) = alb_setup(&fake).await;
    let mut svc = alb_service(&listener);
    sync_ok(&fake, &mut svc, &deps_for(&cluster, &td)).await;
    // Another ECS service (made by hand) still uses the group after ours is gone.
    let tg_arn = fake.target_group(TG).unwrap().arn;
    let ecs = fake.clients(None).ecs;
    let mut input = CreateServiceInput {
        cluster: CLUSTER.into(),
        name: "by-hand".into(),
        task_definition: td_arn(1),
        desired_count: 0,
        load_balancers: vec![ServiceLoadBalancerRef {
            load_balancer_name: None,
            target_group_arn: Some(tg_arn),
            container_name: "hello-world-container".into(),
            container_port: 5000,
        }],
        ..Default::default()
    };
    input.client_token = "by-hand".into();
    ecs.create_service(&input).await.expect("service by hand");

    cleanup(&fake, &svc).await;
    fake.tick();
    let err = svc
        .cleanup(&Default::default(), &cx(&fake, &svc, false))
        .await
        .expect_err("still in use");
    assert!(err.to_string().contains("still in use"), "{err}");
    assert!(matches!(err.treatment(), Treatment::Retry { .. }));
    assert!(fake.target_group(TG).is_some());
}

#[tokio::test]
async fn renamed_target_group_replaces_the_old_one_which_goes_once_free() {
    let fake = FakeAws::new();
    let (cluster, td, listener) = alb_setup(&fake).await;
    let mut svc = alb_service(&listener);
    let deps = deps_for(&cluster, &td);
    sync_ok(&fake, &mut svc, &deps).await;
    let old_arn = fake.target_group(TG).unwrap().arn;

    bump(&mut svc);
    mtg_mut(&mut svc).name = Some("hello-world-tg-2".into());
    mtg_mut(&mut svc).rule.priority = 11;
    // A hand-made service keeps the old group busy for a while (as a draining deployment
    // would).
    let ecs = fake.clients(None).ecs;
    let input = CreateServiceInput {
        cluster: CLUSTER.into(),
        name: "by-hand".into(),
        task_definition: td_arn(1),
        desired_count: 0,
        client_token: "by-hand".into(),
        load_balancers: vec![ServiceLoadBalancerRef {
            load_balancer_name: None,
            target_group_arn: Some(old_arn.clone()),
            container_name: "hello-world-container".into(),
            container_port: 5000,
        }],
        ..Default::default()
    };
    ecs.create_service(&input).await.expect("service by hand");

    let s = sync_ok(&fake, &mut svc, &deps).await;
    let new = fake.target_group("hello-world-tg-2").expect("new group");
    assert_eq!(
        fake.service(CLUSTER, SERVICE).unwrap().load_balancers[0]
            .target_group_arn
            .as_deref(),
        Some(new.arn.as_str())
    );
    // The old rule is gone at once; the old group stays while in use, and is recorded.
    let rules = fake.listener_rules(&listener);
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(rules[0].forward_to, std::slice::from_ref(&new.arn));
    assert!(fake.target_group(TG).is_some());
    assert_eq!(s.status.retired_target_groups, strings(&[TG]));

    // Once free, the next sync deletes it.
    ecs.update_service(&UpdateServiceInput {
        cluster: CLUSTER.into(),
        name: "by-hand".into(),
        load_balancers: Some(vec![]),
        ..Default::default()
    })
    .await
    .expect("free the group");
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert!(fake.target_group(TG).is_none());
    assert!(s.status.retired_target_groups.is_empty());
    assert!(has_note(&s.notes, "Deleted", TG));

    // managedTargetGroup leaving the spec for an existing classic ELB: rule and group go.
    fake.clients(None)
        .elb
        .create_load_balancer(&CreateLoadBalancerInput {
            name: "existing-elb".into(),
            scheme: LoadBalancerScheme::InternetFacing,
            subnet_ids: strings(&["subnet-a"]),
            security_group_ids: vec![],
            listeners: vec![http_listener(80)],
            tags: Tags::new(),
        })
        .await
        .expect("classic ELB");
    bump(&mut svc);
    let lb = svc.spec.load_balancer.as_mut().unwrap();
    lb.managed_target_group = None;
    lb.load_balancer_name = Some("existing-elb".into());
    let s = sync_ok(&fake, &mut svc, &deps).await;
    assert!(fake.target_group("hello-world-tg-2").is_none());
    assert!(fake.listener_rules(&listener).is_empty());
    assert!(s.status.retired_target_groups.is_empty());
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
