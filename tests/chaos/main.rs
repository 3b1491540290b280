//! Chaos: about a hundred EcsClusters, EcsTaskDefs and EcsServices converge through a
//! fault-injecting AWS proxy (tools/aws-fault-proxy: throttling, 5xx, connection resets,
//! lost responses, AWS's token buckets) while the operator is SIGKILLed and restarted
//! every 5–15 s and the kube-apiserver restarts once. Then every object must be Ready,
//! every AWS resource must have been created exactly once, nothing the objects do not own
//! may have been written, the AWS calls must stay within a bound of a fault-free baseline,
//! and deletion (under faults and kills again) must leave nothing owned in AWS. Two
//! objects collide with resources another management cluster owns (created in moto
//! before the run): they must end Stalled (Conflict), and those resources must get no
//! write at all.
//!
//! Reproducible: the kill schedule and the proxy's fault decisions derive from one seed
//! (`CHAOS_SEED`, default [`DEFAULT_SEED`]; the fault sequence also depends on the order
//! calls reach the proxy, which timing varies). The report (faults per kind, calls
//! baseline vs chaos, restarts, duplicates, orphans, stuck objects, duration) goes to
//! stderr and to `<cargo target dir>/chaos-report.json`; the proxy's call records and the
//! operator logs stay in the sandbox directory (printed at the start).

#[path = "../e2e/fault_proxy.rs"]
mod fault_proxy;
#[allow(dead_code)] // the harness has more than this suite uses
#[path = "../e2e/harness.rs"]
mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fault_proxy::{proxy_binary, FaultProxy};
use harness::{http_get, stderr, Operator, Sandbox};
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::ApiResource;
use serde_json::{json, Value};

use ecs_operator::api::{EcsCluster, EcsService, EcsTaskDef};

const DEFAULT_SEED: u64 = 20_261_129;

// The object set (per phase; names carry the phase's prefix, AWS names are global).
const CLUSTERS: usize = 4;
/// The first clusters get EC2 capacity (launch template + Auto Scaling group, 1 instance).
const CAPACITY_CLUSTERS: usize = 2;
const TASK_DEFS: usize = 24;
const SERVICES: usize = 70;
/// The first services get a managed classic ELB.
const ELB_SERVICES: usize = 10;

/// How long the operator is killed and restarted under faults.
const CHAOS_WINDOW: Duration = Duration::from_secs(180);
/// When, in the window, the kube-apiserver restarts.
const APISERVER_RESTART_AT: Duration = Duration::from_secs(90);
/// Seconds between SIGKILLs (inclusive range).
const KILL_EVERY: (u64, u64) = (5, 15);
const BASELINE_TIMEOUT: Duration = Duration::from_secs(240);
/// After the faults stop and the operator starts one last time.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(300);
const DELETE_TIMEOUT: Duration = Duration::from_secs(240);
/// A wait gives up early when the number of objects still to go has not fallen for this
/// long (keeps a run with stuck objects within the time budget).
const NO_PROGRESS: Duration = Duration::from_secs(120);
/// Chaos may cost at most this many times the AWS calls of the fault-free baseline to
/// converge. The chaos figure counts every call from the first apply until every object is
/// Ready after the faults stopped: the 3-minute window (faulted calls, SDK retries, ~18
/// full re-reconciles after SIGKILLs, 30 s resyncs) and the final convergence. Measured on
/// a 2-core machine with seed 20261129 while the operator changed: 7.9×, 9.9×, 11.3×,
/// 12.1×, 12.7× (baseline ~290 calls in ~16 s). The ratio is mostly the ~18 restarts, each
/// a full re-reconcile; a retry storm would be far above.
const CONVERGE_CALL_BOUND: f64 = 18.0;
/// The same for deletion (under faults, with two SIGKILLs): measured 1.3×, 1.4×, 1.5×.
const DELETE_CALL_BOUND: f64 = 4.0;

/// Owner of the foreign resources: another management cluster's object.
const FOREIGN_OWNER: &str = "other-mgmt/default/EcsService/foreign";
const FOREIGN_ELB: &str = "c-foreign-elb";
const FOREIGN_CLUSTER: &str = "c-foreign-cluster";
const FOREIGN_TASK_DEF: &str = "c-foreign-td";
const FOREIGN_SERVICE: &str = "c-foreign-svc";
const OWNER_TAG: &str = "ecsoperator.io/owner";

/// The proxy rules of the chaos phase.
fn chaos_rules() -> Value {
    json!({
        "enforce_aws_limits": true,
        "faults": [
            {"kind": "throttle", "probability": 0.30},
            {"kind": "error500", "probability": 0.03},
            {"kind": "error503", "probability": 0.02},
            {"kind": "lost_response", "probability": 0.02, "mutating_only": true},
            {"kind": "reset", "probability": 0.01}
        ]
    })
}

fn calm_rules() -> Value {
    json!({"enforce_aws_limits": true, "faults": []})
}

/// SplitMix64: the kill schedule.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

// ------------------------------------------------------------------------ the objects

struct Network {
    subnets: [String; 2],
    security_group: String,
}

/// One phase's objects and the AWS resources they own.
struct ObjectSet {
    namespace: String,
    yaml: String,
    /// (kind, metadata.name) of every object.
    objects: Vec<(&'static str, String)>,
    /// Objects that collide with a foreign resource: they must end Stalled (Conflict).
    conflicting: BTreeSet<String>,
    clusters: Vec<String>,
    /// Launch template = Auto Scaling group name of each cluster with capacity.
    capacity: Vec<String>,
    families: Vec<String>,
    services: Vec<String>,
    elbs: Vec<String>,
    /// AWS resource name → the object owning it (operator logs name objects).
    owners: BTreeMap<String, String>,
}

impl ObjectSet {
    fn generate(namespace: &str, prefix: &str, net: &Network, conflicts: bool) -> ObjectSet {
        let [subnet_a, subnet_b] = &net.subnets;
        let sg = &net.security_group;
        let mut set = ObjectSet {
            namespace: namespace.to_string(),
            yaml: String::new(),
            objects: Vec::new(),
            conflicting: BTreeSet::new(),
            clusters: Vec::new(),
            capacity: Vec::new(),
            families: Vec::new(),
            services: Vec::new(),
            elbs: Vec::new(),
            owners: BTreeMap::new(),
        };
        let head = |kind: &str, name: &str| {
            format!(
                "---\napiVersion: ecsoperator.io/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n"
            )
        };
        for i in 0..CLUSTERS {
            let name = format!("{prefix}-cl-{i}");
            set.yaml += &head("EcsCluster", &name);
            set.yaml += "  tags: {suite: chaos}\n";
            if i < CAPACITY_CLUSTERS {
                set.yaml += &format!(
                    "  capacity:\n    instanceType: t2.micro\n    instanceProfile: ecs-instance-role\n    \
                     keyName: my-ec2-key-pair\n    securityGroupIds: [{sg}]\n    \
                     subnetIds: [{subnet_a}, {subnet_b}]\n    minSize: 1\n    maxSize: 1\n    desiredCapacity: 1\n"
                );
                set.capacity.push(format!("{name}-ecs-capacity"));
                set.owners
                    .insert(format!("{name}-ecs-capacity"), name.clone());
            }
            set.objects.push(("EcsCluster", name.clone()));
            set.clusters.push(name);
        }
        for i in 0..TASK_DEFS {
            let name = format!("{prefix}-td-{i:02}");
            set.yaml += &head("EcsTaskDef", &name);
            set.yaml += &format!(
                "  revisionHistoryLimit: 5\n  containerDefinitions:\n  - name: web\n    \
                 image: training/webapp:v{i}\n    memory: {}\n    essential: true\n    \
                 command: [python, app.py]\n    portMappings:\n    - {{hostPort: 80, containerPort: 5000, protocol: tcp}}\n",
                64 + 8 * i
            );
            set.objects.push(("EcsTaskDef", name.clone()));
            set.families.push(name);
        }
        for i in 0..SERVICES {
            let name = format!("{prefix}-svc-{i:02}");
            set.yaml += &head("EcsService", &name);
            set.yaml += &format!(
                "  clusterRef: {{name: {prefix}-cl-{}}}\n  taskDefRef: {{name: {prefix}-td-{:02}}}\n  \
                 desiredCount: 4\n  launchType: EC2\n  tags: {{suite: chaos}}\n  \
                 deploymentConfiguration: {{minimumHealthyPercent: 50, maximumPercent: 100}}\n",
                i % CLUSTERS,
                i % TASK_DEFS
            );
            if i < ELB_SERVICES {
                let elb = format!("{prefix}-elb-{i:02}");
                set.yaml += &elb_spec(&elb, net);
                set.owners.insert(elb.clone(), name.clone());
                set.elbs.push(elb);
            }
            set.objects.push(("EcsService", name.clone()));
            set.services.push(name);
        }
        if conflicts {
            // A managed ELB whose name another management cluster's ELB already has.
            let name = format!("{prefix}-conflict-elb");
            set.yaml += &head("EcsService", &name);
            set.yaml += &format!(
                "  clusterRef: {{name: {prefix}-cl-0}}\n  taskDefRef: {{name: {prefix}-td-00}}\n  \
                 desiredCount: 4\n  launchType: EC2\n"
            );
            set.yaml += &elb_spec(FOREIGN_ELB, net);
            set.objects.push(("EcsService", name.clone()));
            set.conflicting.insert(name);
            // An ECS service another management cluster owns, in a cluster not managed here.
            let name = format!("{prefix}-conflict-svc");
            set.yaml += &head("EcsService", &name);
            set.yaml += &format!(
                "  serviceName: {FOREIGN_SERVICE}\n  cluster: {FOREIGN_CLUSTER}\n  \
                 taskDefinition: \"{FOREIGN_TASK_DEF}:1\"\n  desiredCount: 4\n  launchType: EC2\n"
            );
            set.objects.push(("EcsService", name.clone()));
            set.conflicting.insert(name);
        }
        set
    }

    /// Names (and launch template IDs, added later) of the AWS resources the objects own.
    fn owned_names(&self) -> BTreeSet<String> {
        self.clusters
            .iter()
            .chain(&self.capacity)
            .chain(&self.families)
            .chain(&self.services)
            .chain(&self.elbs)
            .cloned()
            .collect()
    }

    /// Per create operation, the resources it must have created exactly once.
    fn expected_creates(&self) -> Vec<(&'static str, &[String])> {
        vec![
            ("ecs:CreateCluster", &self.clusters),
            ("ec2:CreateLaunchTemplate", &self.capacity),
            ("autoscaling:CreateAutoScalingGroup", &self.capacity),
            ("ecs:RegisterTaskDefinition", &self.families),
            ("ecs:CreateService", &self.services),
            ("elasticloadbalancing:CreateLoadBalancer", &self.elbs),
        ]
    }
}

fn elb_spec(name: &str, net: &Network) -> String {
    let [subnet_a, subnet_b] = &net.subnets;
    let sg = &net.security_group;
    format!(
        "  role: ecs-service-role\n  loadBalancer:\n    containerName: web\n    containerPort: 5000\n    \
         managed:\n      name: {name}\n      scheme: internet-facing\n      \
         subnetIds: [{subnet_a}, {subnet_b}]\n      securityGroupIds: [{sg}]\n      \
         listeners:\n      - {{protocol: HTTP, loadBalancerPort: 80, instancePort: 80}}\n      \
         healthCheck: {{target: \"HTTP:80/\", intervalSeconds: 30, timeoutSeconds: 5, healthyThreshold: 10, unhealthyThreshold: 2}}\n"
    )
}

// ------------------------------------------------------------------------ AWS (moto, direct)

/// Key and value of a tag of any AWS SDK (each service has its own tag type).
trait TagKv {
    fn kv(&self) -> (Option<&str>, Option<&str>);
}

impl TagKv for aws_sdk_ecs::types::Tag {
    fn kv(&self) -> (Option<&str>, Option<&str>) {
        (self.key(), self.value())
    }
}

impl TagKv for aws_sdk_elasticloadbalancing::types::Tag {
    fn kv(&self) -> (Option<&str>, Option<&str>) {
        (Some(self.key()), self.value())
    }
}

impl TagKv for aws_sdk_autoscaling::types::TagDescription {
    fn kv(&self) -> (Option<&str>, Option<&str>) {
        (self.key(), self.value())
    }
}

impl TagKv for aws_sdk_ec2::types::Tag {
    fn kv(&self) -> (Option<&str>, Option<&str>) {
        (self.key(), self.value())
    }
}

/// The owner tag's value.
fn owner_of<T: TagKv>(tags: &[T]) -> Option<&str> {
    tags.iter()
        .map(TagKv::kv)
        .find(|(k, _)| *k == Some(OWNER_TAG))
        .and_then(|(_, v)| v)
}

struct Aws {
    ecs: aws_sdk_ecs::Client,
    asg: aws_sdk_autoscaling::Client,
    elb: aws_sdk_elasticloadbalancing::Client,
    ec2: aws_sdk_ec2::Client,
}

impl Aws {
    async fn new(sb: &Sandbox) -> Aws {
        let cfg = sb.aws_config().await;
        Aws {
            ecs: aws_sdk_ecs::Client::new(&cfg),
            asg: aws_sdk_autoscaling::Client::new(&cfg),
            elb: aws_sdk_elasticloadbalancing::Client::new(&cfg),
            ec2: aws_sdk_ec2::Client::new(&cfg),
        }
    }

    async fn network(&self) -> Network {
        let subnets = self
            .ec2
            .describe_subnets()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("default-for-az")
                    .values("true")
                    .build(),
            )
            .send()
            .await
            .expect("describe subnets");
        let mut subnets: Vec<_> = subnets.subnets().to_vec();
        subnets.sort_by(|a, b| a.availability_zone().cmp(&b.availability_zone()));
        let sg = self
            .ec2
            .describe_security_groups()
            .group_names("default")
            .send()
            .await
            .expect("describe security groups");
        let id = |s: &aws_sdk_ec2::types::Subnet| s.subnet_id().unwrap_or_default().to_string();
        Network {
            subnets: [id(&subnets[0]), id(&subnets[1])],
            security_group: sg.security_groups()[0]
                .group_id()
                .unwrap_or_default()
                .to_string(),
        }
    }

    /// Resources of another management cluster, created before the run; objects of the
    /// chaos set collide with them.
    async fn create_foreign(&self, net: &Network) {
        let ecs_tag = aws_sdk_ecs::types::Tag::builder()
            .key(OWNER_TAG)
            .value(FOREIGN_OWNER)
            .build();
        self.elb
            .create_load_balancer()
            .load_balancer_name(FOREIGN_ELB)
            .listeners(
                aws_sdk_elasticloadbalancing::types::Listener::builder()
                    .protocol("HTTP")
                    .load_balancer_port(80)
                    .instance_port(80)
                    .build()
                    .expect("listener"),
            )
            .subnets(&net.subnets[0])
            .security_groups(&net.security_group)
            .tags(
                aws_sdk_elasticloadbalancing::types::Tag::builder()
                    .key(OWNER_TAG)
                    .value(FOREIGN_OWNER)
                    .build()
                    .expect("tag"),
            )
            .send()
            .await
            .expect("create the foreign ELB");
        self.ecs
            .create_cluster()
            .cluster_name(FOREIGN_CLUSTER)
            .tags(ecs_tag.clone())
            .send()
            .await
            .expect("create the foreign cluster");
        self.ecs
            .register_task_definition()
            .family(FOREIGN_TASK_DEF)
            .container_definitions(
                aws_sdk_ecs::types::ContainerDefinition::builder()
                    .name("web")
                    .image("nginx:latest")
                    .memory(64)
                    .build(),
            )
            .tags(ecs_tag.clone())
            .send()
            .await
            .expect("register the foreign task definition");
        self.ecs
            .create_service()
            .cluster(FOREIGN_CLUSTER)
            .service_name(FOREIGN_SERVICE)
            .task_definition(format!("{FOREIGN_TASK_DEF}:1"))
            .desired_count(1)
            .tags(ecs_tag)
            .send()
            .await
            .expect("create the foreign service");
    }

    /// What the foreign resources look like now (to compare before and after).
    async fn foreign_state(&self) -> String {
        let elb = self
            .elb
            .describe_load_balancers()
            .load_balancer_names(FOREIGN_ELB)
            .send()
            .await
            .map(|o| {
                o.load_balancer_descriptions()
                    .iter()
                    .map(|d| {
                        format!(
                            "ELB {FOREIGN_ELB}: listeners {:?}, health check {:?}, subnets {:?}, instances {}",
                            d.listener_descriptions().len(),
                            d.health_check().map(|h| h.target()),
                            d.subnets(),
                            d.instances().len()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_else(|e| format!("ELB {FOREIGN_ELB}: {e}"));
        let elb_tags = self
            .elb
            .describe_tags()
            .load_balancer_names(FOREIGN_ELB)
            .send()
            .await
            .map(|o| {
                let mut t: Vec<String> = o
                    .tag_descriptions()
                    .iter()
                    .flat_map(|d| d.tags())
                    .map(|t| format!("{}={}", t.key(), t.value().unwrap_or_default()))
                    .collect();
                t.sort();
                t.join(",")
            })
            .unwrap_or_else(|e| format!("{e}"));
        let svc = self
            .ecs
            .describe_services()
            .cluster(FOREIGN_CLUSTER)
            .services(FOREIGN_SERVICE)
            .include(aws_sdk_ecs::types::ServiceField::Tags)
            .send()
            .await
            .map(|o| {
                o.services()
                    .iter()
                    .map(|s| {
                        let mut tags: Vec<String> = s
                            .tags()
                            .iter()
                            .map(|t| {
                                format!(
                                    "{}={}",
                                    t.key().unwrap_or_default(),
                                    t.value().unwrap_or_default()
                                )
                            })
                            .collect();
                        tags.sort();
                        format!(
                            "service {FOREIGN_SERVICE}: {} desired {} task definition {} tags {}",
                            s.status().unwrap_or_default(),
                            s.desired_count(),
                            s.task_definition().unwrap_or_default(),
                            tags.join(",")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_else(|e| format!("service {FOREIGN_SERVICE}: {e}"));
        format!("{elb} tags {elb_tags}; {svc}")
    }

    /// Every AWS resource left whose owner tag starts with `owner_prefix`.
    async fn owned_leftovers(&self, owner_prefix: &str) -> Vec<String> {
        let owned = |owner: Option<&str>| owner.is_some_and(|o| o.starts_with(owner_prefix));
        let mut left = Vec::new();

        // ECS clusters and their services.
        let mut cluster_arns = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .ecs
                .list_clusters()
                .set_next_token(token)
                .send()
                .await
                .expect("list clusters");
            cluster_arns.extend(out.cluster_arns().iter().cloned());
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        for chunk in cluster_arns.chunks(100) {
            let out = self
                .ecs
                .describe_clusters()
                .set_clusters(Some(chunk.to_vec()))
                .include(aws_sdk_ecs::types::ClusterField::Tags)
                .send()
                .await
                .expect("describe clusters");
            for c in out.clusters() {
                let name = c.cluster_name().unwrap_or_default();
                if c.status() != Some("INACTIVE") && owned(owner_of(c.tags())) {
                    left.push(format!(
                        "ECS cluster {name} ({})",
                        c.status().unwrap_or("?")
                    ));
                }
            }
        }
        for cluster in &cluster_arns {
            let mut service_arns = Vec::new();
            let mut token = None;
            loop {
                let Ok(out) = self
                    .ecs
                    .list_services()
                    .cluster(cluster)
                    .set_next_token(token)
                    .send()
                    .await
                else {
                    break;
                };
                service_arns.extend(out.service_arns().iter().cloned());
                token = out.next_token().map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
            for chunk in service_arns.chunks(10) {
                let out = self
                    .ecs
                    .describe_services()
                    .cluster(cluster)
                    .set_services(Some(chunk.to_vec()))
                    .include(aws_sdk_ecs::types::ServiceField::Tags)
                    .send()
                    .await
                    .expect("describe services");
                for s in out.services() {
                    if s.status() != Some("INACTIVE") && owned(owner_of(s.tags())) {
                        left.push(format!(
                            "ECS service {} in {} ({})",
                            s.service_name().unwrap_or_default(),
                            cluster.rsplit('/').next().unwrap_or_default(),
                            s.status().unwrap_or("?")
                        ));
                    }
                }
            }
        }

        // Classic ELBs.
        let elbs: Vec<String> = self
            .elb
            .describe_load_balancers()
            .send()
            .await
            .expect("describe ELBs")
            .load_balancer_descriptions()
            .iter()
            .filter_map(|d| d.load_balancer_name().map(str::to_string))
            .collect();
        for chunk in elbs.chunks(20) {
            let out = self
                .elb
                .describe_tags()
                .set_load_balancer_names(Some(chunk.to_vec()))
                .send()
                .await
                .expect("describe ELB tags");
            for d in out.tag_descriptions() {
                if owned(owner_of(d.tags())) {
                    left.push(format!(
                        "classic ELB {}",
                        d.load_balancer_name().unwrap_or_default()
                    ));
                }
            }
        }

        // Auto Scaling groups.
        let groups = self
            .asg
            .describe_auto_scaling_groups()
            .send()
            .await
            .expect("describe Auto Scaling groups");
        for g in groups.auto_scaling_groups() {
            if owned(owner_of(g.tags())) {
                left.push(format!(
                    "Auto Scaling group {}",
                    g.auto_scaling_group_name().unwrap_or_default()
                ));
            }
        }

        // Launch templates.
        let lts = self
            .ec2
            .describe_launch_templates()
            .send()
            .await
            .expect("describe launch templates");
        for lt in lts.launch_templates() {
            if owned(owner_of(lt.tags())) {
                left.push(format!(
                    "launch template {}",
                    lt.launch_template_name().unwrap_or_default()
                ));
            }
        }

        // ACTIVE task definition revisions.
        let mut arns = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .ecs
                .list_task_definitions()
                .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
                .set_next_token(token)
                .send()
                .await
                .expect("list task definitions");
            arns.extend(out.task_definition_arns().iter().cloned());
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        for arn in arns {
            let out = self
                .ecs
                .describe_task_definition()
                .task_definition(&arn)
                .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
                .send()
                .await
                .expect("describe task definition");
            if owned(owner_of(out.tags())) {
                left.push(format!(
                    "task definition {}",
                    arn.rsplit('/').next().unwrap_or_default()
                ));
            }
        }
        left
    }

    /// IDs of the launch templates with these names (the EC2 calls name them by ID).
    async fn launch_template_ids(&self, names: &[String]) -> Vec<String> {
        let Ok(out) = self.ec2.describe_launch_templates().send().await else {
            return Vec::new();
        };
        out.launch_templates()
            .iter()
            .filter(|lt| {
                names
                    .iter()
                    .any(|n| Some(n.as_str()) == lt.launch_template_name())
            })
            .filter_map(|lt| lt.launch_template_id().map(str::to_string))
            .collect()
    }
}

// ------------------------------------------------------------------------ object states

#[derive(Clone, Debug)]
struct ObjState {
    kind: &'static str,
    name: String,
    ready: bool,
    /// (reason, message) of a Stalled=True condition.
    stalled: Option<(String, String)>,
    deleting: bool,
    /// The conditions, one line.
    conditions: String,
}

/// Every object of the three kinds in `namespace`; Err when the apiserver does not answer.
async fn states(client: &kube::Client, namespace: &str) -> Result<Vec<ObjState>, String> {
    let kinds = [
        ("EcsCluster", ApiResource::erase::<EcsCluster>(&())),
        ("EcsTaskDef", ApiResource::erase::<EcsTaskDef>(&())),
        ("EcsService", ApiResource::erase::<EcsService>(&())),
    ];
    let mut out = Vec::new();
    for (kind, ar) in kinds {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &ar);
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|e| format!("list {kind}: {e}"))?;
        for o in list {
            let generation = o.metadata.generation;
            let conds: Vec<Value> = o
                .data
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let cond = |t: &str| conds.iter().find(|c| c["type"] == t);
            let ready = cond("Ready").is_some_and(|c| {
                c["status"] == "True"
                    && c["observedGeneration"]
                        .as_i64()
                        .is_none_or(|g| Some(g) == generation)
            });
            let stalled = cond("Stalled").filter(|c| c["status"] == "True").map(|c| {
                (
                    c["reason"].as_str().unwrap_or_default().to_string(),
                    c["message"].as_str().unwrap_or_default().to_string(),
                )
            });
            let conditions = conds
                .iter()
                .map(|c| {
                    format!(
                        "{}={} ({}: {})",
                        c["type"].as_str().unwrap_or_default(),
                        c["status"].as_str().unwrap_or_default(),
                        c["reason"].as_str().unwrap_or_default(),
                        c["message"].as_str().unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            out.push(ObjState {
                kind,
                name: o.metadata.name.clone().unwrap_or_default(),
                ready,
                stalled,
                deleting: o.metadata.deletion_timestamp.is_some(),
                conditions,
            });
        }
    }
    Ok(out)
}

/// What is wrong with the set now: objects missing, not Ready, or (the conflicting ones)
/// not Stalled with reason Conflict. Empty when converged.
fn not_converged(set: &ObjectSet, now: &[ObjState]) -> Vec<String> {
    let mut problems = Vec::new();
    for (kind, name) in &set.objects {
        let Some(s) = now.iter().find(|s| s.kind == *kind && s.name == *name) else {
            problems.push(format!("{kind} {}/{name}: missing", set.namespace));
            continue;
        };
        let ok = if set.conflicting.contains(name) {
            s.stalled.as_ref().is_some_and(|(r, _)| r == "Conflict")
        } else {
            s.ready && s.stalled.is_none()
        };
        if !ok {
            problems.push(format!(
                "{kind} {}/{name}: {}",
                set.namespace,
                if s.conditions.is_empty() {
                    "no conditions"
                } else {
                    &s.conditions
                }
            ));
        }
    }
    problems
}

/// Non-conflicting objects seen Stalled at any time: kind/name → (reason, message).
type StallLog = BTreeMap<String, (String, String)>;

fn note_stalls(set: &ObjectSet, now: &[ObjState], log: &mut StallLog) {
    for s in now {
        if let Some(st) = &s.stalled {
            if !set.conflicting.contains(&s.name) {
                log.entry(format!("{} {}", s.kind, s.name))
                    .or_insert_with(|| st.clone());
            }
        }
    }
}

/// Poll until the set has converged, `timeout` passed, or nothing improved for
/// [`NO_PROGRESS`]; Ok(time taken) or Err(the problems).
async fn wait_converged(
    client: &kube::Client,
    set: &ObjectSet,
    timeout: Duration,
    stalls: &mut StallLog,
) -> Result<Duration, Vec<String>> {
    let start = Instant::now();
    let mut last = vec!["never listed".to_string()];
    let mut progress = Progress::new();
    while start.elapsed() < timeout {
        match states(client, &set.namespace).await {
            Ok(now) => {
                note_stalls(set, &now, stalls);
                last = not_converged(set, &now);
                if last.is_empty() {
                    return Ok(start.elapsed());
                }
                if progress.stuck(last.len()) {
                    last.push(format!(
                        "(gave up: no object converged for {NO_PROGRESS:?})"
                    ));
                    return Err(last);
                }
            }
            Err(e) => last = vec![e],
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Err(last)
}

/// Poll until no object is left in the namespace, `timeout` passed, or none went for
/// [`NO_PROGRESS`]; Ok(time) or Err(the ones left).
async fn wait_gone(
    client: &kube::Client,
    namespace: &str,
    timeout: Duration,
) -> Result<Duration, Vec<String>> {
    let start = Instant::now();
    let mut last = vec!["never listed".to_string()];
    let mut progress = Progress::new();
    while start.elapsed() < timeout {
        match states(client, namespace).await {
            Ok(now) if now.is_empty() => return Ok(start.elapsed()),
            Ok(now) => {
                last = now
                    .iter()
                    .map(|s| {
                        format!(
                            "{} {namespace}/{}{}: {}",
                            s.kind,
                            s.name,
                            if s.deleting { " (deleting)" } else { "" },
                            s.conditions
                        )
                    })
                    .collect();
                if progress.stuck(last.len()) {
                    last.push(format!("(gave up: no object went for {NO_PROGRESS:?})"));
                    return Err(last);
                }
            }
            Err(e) => last = vec![e],
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Err(last)
}

/// Whether a count of objects still to go stopped falling for [`NO_PROGRESS`].
struct Progress {
    best: usize,
    since: Instant,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            best: usize::MAX,
            since: Instant::now(),
        }
    }

    fn stuck(&mut self, left: usize) -> bool {
        if left < self.best {
            self.best = left;
            self.since = Instant::now();
        }
        self.since.elapsed() > NO_PROGRESS
    }
}

/// What the operator process looks like now, for a report on objects that do not move:
/// alive or not, its health endpoints, and its reconcile and work-queue metrics.
fn operator_diagnosis(operator: &mut Operator) -> String {
    if !operator.is_running() {
        return "the operator process has exited".to_string();
    }
    let status = |path: &str| {
        http_get(operator.health_port, path)
            .map(|(s, _)| s)
            .unwrap_or_else(|| "no answer".to_string())
    };
    let mut out = format!(
        "operator running; /healthz: {}, /readyz: {}",
        status("/healthz"),
        status("/readyz")
    );
    let metrics = http_get(operator.metrics_port, "/metrics")
        .map(|(_, body)| body)
        .unwrap_or_default();
    for line in metrics.lines().filter(|l| {
        l.starts_with("ecs_operator_reconciles_total")
            || l.starts_with("workqueue_depth")
            || l.starts_with("workqueue_adds_total")
            || l.starts_with("workqueue_longest_running_processor_seconds")
            || l.starts_with("ecs_operator_reconcile_errors_total")
    }) {
        out += &format!("\n    {line}");
    }
    out
}

fn apply(sb: &Sandbox, set: &ObjectSet) {
    sb.kubectl_ok(&["create", "namespace", &set.namespace]);
    let out = sb.kubectl_stdin(&["apply", "-f", "-"], &set.yaml);
    assert!(
        out.status.success(),
        "kubectl apply of the {} objects: {}",
        set.namespace,
        stderr(&out)
    );
}

fn delete_all(sb: &Sandbox, namespace: &str) {
    sb.kubectl_ok(&[
        "delete",
        "ecsservices,ecstaskdefs,ecsclusters",
        "--all",
        "-n",
        namespace,
        "--wait=false",
    ]);
}

// ------------------------------------------------------------------------ call analysis

/// The resource names a recorded call's `resource` stands for: ARNs reduced to the name
/// (`…:service/cluster/web` → `web`, `…:task-definition/fam:3` → `fam`), `fam:3` → `fam`,
/// lists (`a,b`) split.
fn resource_names(resource: &str) -> Vec<String> {
    resource
        .split(',')
        .filter(|r| !r.is_empty())
        .map(|r| {
            let last = r.rsplit('/').next().unwrap_or(r);
            let last = if r.starts_with("arn:") && !r.contains('/') {
                r.rsplit(':').next().unwrap_or(r)
            } else {
                last
            };
            match last.rsplit_once(':') {
                Some((name, rev)) if rev.chars().all(|c| c.is_ascii_digit()) => name.to_string(),
                _ => last.to_string(),
            }
        })
        .collect()
}

fn count(summary: &Value, op: &str, resource: &str) -> u64 {
    summary["successful_mutations"][op][resource]
        .as_u64()
        .unwrap_or(0)
}

/// A resource created other than exactly once.
#[derive(Clone, Debug, PartialEq)]
struct BadCreate {
    /// `service:Operation`.
    op: String,
    name: String,
    count: u64,
    /// Whether one of the objects owns the resource.
    owned: bool,
}

impl std::fmt::Display for BadCreate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.owned {
            write!(
                f,
                "{} {}: {} successful creates (expected exactly 1)",
                self.op, self.name, self.count
            )
        } else {
            write!(
                f,
                "{} {}: {} successful creates of a resource no object owns",
                self.op, self.name, self.count
            )
        }
    }
}

/// Every resource created other than exactly once, per the proxy's summary.
fn bad_creates(set: &ObjectSet, summary: &Value) -> Vec<BadCreate> {
    let mut out = Vec::new();
    for (op, names) in set.expected_creates() {
        for name in names {
            let count = count(summary, op, name);
            if count != 1 {
                out.push(BadCreate {
                    op: op.to_string(),
                    name: name.clone(),
                    count,
                    owned: true,
                });
            }
        }
        if let Some(all) = summary["successful_mutations"][op].as_object() {
            for (name, n) in all {
                if !names.contains(name) {
                    out.push(BadCreate {
                        op: op.to_string(),
                        name: name.clone(),
                        count: n.as_u64().unwrap_or(0),
                        owned: false,
                    });
                }
            }
        }
    }
    out
}

/// Recorded writes (whatever their outcome) on resources not in `owned`.
fn foreign_writes(record: &[Value], owned: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    for e in record {
        if e["mutating"] != true || e["service"] == "other" {
            continue;
        }
        let resource = e["resource"].as_str().unwrap_or("-");
        let names = resource_names(resource);
        if names.is_empty() || names.iter().any(|n| !owned.contains(n)) {
            out.push(format!(
                "{}:{} on {resource} ({}, upstream {})",
                e["service"].as_str().unwrap_or_default(),
                e["operation"].as_str().unwrap_or_default(),
                e["outcome"].as_str().unwrap_or_default(),
                e["upstream_status"]
            ));
        }
    }
    out
}

fn utc(t_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(t_ms)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| t_ms.to_string())
}

/// Evidence for a bad create: the proxy's record of the writes on `name` (and every lost
/// response among its calls), and the operator log lines naming it or its owning `object`
/// from 5 s before the first to 5 s after the last of its creates.
fn evidence(record: &[Value], log: &str, bad: &BadCreate, object: &str) -> String {
    let operation = bad.op.split(':').nth(1).unwrap_or_default();
    let about = |e: &Value| {
        e["resource"]
            .as_str()
            .is_some_and(|r| resource_names(r).contains(&bad.name))
    };
    let calls: Vec<&Value> = record
        .iter()
        .filter(|e| {
            about(e)
                && (e["operation"] == operation
                    || e["outcome"] == "lost_response"
                    || (e["mutating"] == true && e["outcome"] == "forwarded"))
        })
        .collect();
    let mut out = String::from("    proxy record (writes on it):\n");
    for e in calls.iter().take(16) {
        out += &format!(
            "      {} {}:{} {} → {} (upstream {}){}\n",
            utc(e["t_ms"].as_i64().unwrap_or(0)),
            e["service"].as_str().unwrap_or_default(),
            e["operation"].as_str().unwrap_or_default(),
            e["resource"].as_str().unwrap_or_default(),
            e["outcome"].as_str().unwrap_or_default(),
            e["upstream_status"],
            e["detail"]
                .as_str()
                .map(|d| format!(" detail {d}"))
                .unwrap_or_default()
        );
    }
    let times: Vec<i64> = calls
        .iter()
        .filter(|e| e["operation"] == operation)
        .filter_map(|e| e["t_ms"].as_i64())
        .collect();
    let (Some(first), Some(last)) = (times.iter().min(), times.iter().max()) else {
        return out;
    };
    let (from, to) = (first - 5_000, last + 5_000);
    out += "    operator log (lines naming it, around those calls):\n";
    let mut shown = 0;
    for line in log.lines() {
        let at = line
            .split_whitespace()
            .next()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_millisecond());
        let about = line.contains(bad.name.as_str()) || line.contains(&format!("\"{object}\""));
        if at.is_some_and(|t| (from..=to).contains(&t)) && about {
            out += &format!("      {line}\n");
            shown += 1;
            if shown == 20 {
                break;
            }
        }
    }
    out
}

fn calls(summary: &Value) -> u64 {
    summary["total_calls"].as_u64().unwrap_or(0)
}

fn faults(summary: &Value) -> BTreeMap<String, u64> {
    summary["faults"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        f64::INFINITY
    } else {
        a as f64 / b as f64
    }
}

// ------------------------------------------------------------------------ the test

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos() {
    let started = Instant::now();
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let mut rng = Rng(seed);
    let proxy_bin = proxy_binary();
    eprintln!("chaos: seed {seed}, proxy {}", proxy_bin.display());

    let sb = Sandbox::up("chaos");
    eprintln!("chaos: sandbox in {}", sb.dir.display());
    // The CRDs of the binary under test (tests/crds.rs checks crds/ against them).
    let crds = Command::new(env!("CARGO_BIN_EXE_ecs-operator"))
        .arg("crds")
        .output()
        .expect("ecs-operator crds");
    assert!(
        crds.status.success(),
        "ecs-operator crds: {}",
        stderr(&crds)
    );
    let out = sb.kubectl_stdin(
        &["apply", "--server-side", "-f", "-"],
        &String::from_utf8_lossy(&crds.stdout),
    );
    assert!(out.status.success(), "apply the CRDs: {}", stderr(&out));
    sb.kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd",
        "--all",
    ]);
    let prereqs = sb
        .python("tutorial-prereqs.py", &[])
        .output()
        .expect("prereqs");
    assert!(
        prereqs.status.success(),
        "tutorial prerequisites: {}",
        stderr(&prereqs)
    );
    let aws = Aws::new(&sb).await;
    let client = sb.kube_client().await;
    let net = aws.network().await;
    let mut violations: Vec<String> = Vec::new();

    // ---- 1. Baseline: the same objects, no faults, no kills.
    let base = ObjectSet::generate("baseline", "b", &net, false);
    let proxy = FaultProxy::start(&sb, "baseline", &json!({}), seed);
    apply(&sb, &base);
    let t = Instant::now();
    let mut operator = Operator::start_as(
        &sb,
        "baseline",
        "chaos-baseline",
        &[
            "--watch-namespace",
            "baseline",
            "--resync-period",
            "30s",
            "--aws-endpoint-url",
            &proxy.url(),
        ],
        &[("AWS_ENDPOINT_URL", &proxy.url())],
    );
    let mut base_stalls = StallLog::new();
    if let Err(problems) = wait_converged(&client, &base, BASELINE_TIMEOUT, &mut base_stalls).await
    {
        panic!(
            "baseline: not every object Ready after {BASELINE_TIMEOUT:?} without faults \
             (fix this first, chaos means nothing otherwise):\n  {}\n{}",
            problems.join("\n  "),
            operator_diagnosis(&mut operator)
        );
    }
    let base_converge_time = t.elapsed();
    let base_converge = proxy.summary();
    let base_creates: Vec<String> = bad_creates(&base, &base_converge)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        base_creates.is_empty(),
        "baseline (no faults): resources not created exactly once:\n  {}",
        base_creates.join("\n  ")
    );
    let t = Instant::now();
    delete_all(&sb, "baseline");
    if let Err(left) = wait_gone(&client, "baseline", DELETE_TIMEOUT).await {
        panic!(
            "baseline: objects not gone {DELETE_TIMEOUT:?} after deletion without faults:\n  {}\n{}",
            left.join("\n  "),
            operator_diagnosis(&mut operator)
        );
    }
    let base_delete_time = t.elapsed();
    let base_total = proxy.summary();
    let base_left = aws.owned_leftovers("chaos-baseline/").await;
    assert!(
        base_left.is_empty(),
        "baseline: AWS resources left after deletion without faults:\n  {}",
        base_left.join("\n  ")
    );
    drop(operator);
    drop(proxy);
    let base_converge_calls = calls(&base_converge);
    let base_delete_calls = calls(&base_total) - base_converge_calls;
    eprintln!(
        "chaos: baseline converged in {base_converge_time:?} with {base_converge_calls} AWS calls, \
         deleted in {base_delete_time:?} with {base_delete_calls}"
    );

    // ---- 2. Chaos.
    aws.create_foreign(&net).await;
    let foreign_before = aws.foreign_state().await;
    let set = ObjectSet::generate("chaos", "c", &net, true);
    let proxy = FaultProxy::start(&sb, "chaos", &chaos_rules(), seed);
    let proxy_url = proxy.url();
    let args = [
        "--watch-namespace",
        "chaos",
        "--resync-period",
        "30s",
        "--aws-endpoint-url",
        &proxy_url,
    ];
    let env = [("AWS_ENDPOINT_URL", proxy_url.as_str())];
    let start_operator = || Operator::start_as(&sb, "chaos", "chaos", &args, &env);
    apply(&sb, &set);
    let chaos_start = Instant::now();
    let mut operator = start_operator();
    let mut restarts = 0u32;
    let mut stalls = StallLog::new();
    let mut apiserver_restarted = None;
    let mut first_converged = None;
    let mut next_kill = Duration::from_secs(rng.between(KILL_EVERY.0, KILL_EVERY.1));
    let mut next_poll = Duration::ZERO;
    while chaos_start.elapsed() < CHAOS_WINDOW {
        let now = chaos_start.elapsed();
        if now >= next_kill {
            operator.kill();
            operator = start_operator();
            restarts += 1;
            next_kill = now + Duration::from_secs(rng.between(KILL_EVERY.0, KILL_EVERY.1));
        }
        if apiserver_restarted.is_none() && now >= APISERVER_RESTART_AT {
            let t = Instant::now();
            sb.restart("kube-apiserver");
            apiserver_restarted = Some(t.elapsed());
            eprintln!("chaos: kube-apiserver restarted in {:?}", t.elapsed());
        }
        if now >= next_poll {
            if let Ok(objects) = states(&client, "chaos").await {
                note_stalls(&set, &objects, &mut stalls);
                if first_converged.is_none() && not_converged(&set, &objects).is_empty() {
                    first_converged = Some(chaos_start.elapsed());
                    eprintln!(
                        "chaos: every object converged under faults after {:?}",
                        chaos_start.elapsed()
                    );
                }
            }
            next_poll = now + Duration::from_secs(5);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!(
        "chaos: {restarts} SIGKILLs in {CHAOS_WINDOW:?}; faults off, operator started a last time"
    );
    proxy.set_rules(&calm_rules());
    operator.kill();
    operator = start_operator();
    restarts += 1;
    let t = Instant::now();
    let converged = wait_converged(&client, &set, CONVERGE_TIMEOUT, &mut stalls).await;
    let final_converge_time = t.elapsed();
    let chaos_converge_time = chaos_start.elapsed();
    let converge = proxy.summary();
    let stuck: Vec<String> = match &converged {
        Ok(_) => Vec::new(),
        // Without the "(gave up …)" note.
        Err(problems) => problems
            .iter()
            .filter(|p| !p.starts_with('('))
            .cloned()
            .collect(),
    };
    if converged.is_err() {
        violations.push(format!(
            "while not converged: {}",
            operator_diagnosis(&mut operator)
        ));
    }
    let lt_ids = aws.launch_template_ids(&set.capacity).await;
    let conflicts_ok = match states(&client, "chaos").await {
        Ok(now) => set.conflicting.iter().all(|c| {
            now.iter()
                .any(|s| &s.name == c && s.stalled.as_ref().is_some_and(|(r, _)| r == "Conflict"))
        }),
        Err(_) => converged.is_ok(),
    };
    for s in &stuck {
        violations.push(format!(
            "not converged {CONVERGE_TIMEOUT:?} after the faults stopped: {s}"
        ));
    }
    let stalled_during: Vec<String> = stalls
        .iter()
        .map(|(k, (r, m))| format!("{k}: Stalled ({r}): {m}"))
        .collect();
    for s in &stalled_during {
        violations.push(format!("Stalled although it does not conflict: {s}"));
    }
    let converge_dups = bad_creates(&set, &converge);

    // ---- 3. Deletion under faults, with two SIGKILLs.
    proxy.set_rules(&chaos_rules());
    let t = Instant::now();
    delete_all(&sb, "chaos");
    for at in [10, 25] {
        let wait = Duration::from_secs(at).saturating_sub(t.elapsed());
        tokio::time::sleep(wait).await;
        operator.kill();
        operator = start_operator();
        restarts += 1;
    }
    let gone = wait_gone(&client, "chaos", DELETE_TIMEOUT).await;
    let chaos_delete_time = t.elapsed();
    if gone.is_err() {
        let now_ms = jiff::Timestamp::now().as_millisecond();
        let last_call = proxy
            .record()
            .last()
            .and_then(|e| e["t_ms"].as_i64())
            .map(|t| format!("{:.0} s ago", (now_ms - t) as f64 / 1000.0))
            .unwrap_or_else(|| "never".to_string());
        let log = operator.log_text();
        let last_log = log.lines().last().unwrap_or_default().to_string();
        violations.push(format!(
            "while objects were not deleted: last AWS call {last_call}; {}\n    last operator log line: {last_log}",
            operator_diagnosis(&mut operator)
        ));
    }
    let total = proxy.summary();
    if let Err(left) = &gone {
        for l in left {
            violations.push(format!(
                "not deleted {DELETE_TIMEOUT:?} after kubectl delete (under faults): {l}"
            ));
        }
    }
    let orphans = aws.owned_leftovers("chaos/").await;
    for o in &orphans {
        violations.push(format!("left in AWS after deletion: {o}"));
    }
    let foreign_after = aws.foreign_state().await;
    if foreign_after != foreign_before {
        violations.push(format!(
            "the foreign resources changed:\n    before: {foreign_before}\n    after:  {foreign_after}"
        ));
    }
    let operator_log = operator.log_text();
    drop(operator);

    // ---- 4. Assertions on the calls.
    let record = proxy.record();
    let mut duplicates = bad_creates(&set, &total);
    for d in converge_dups {
        if !duplicates.contains(&d) {
            duplicates.push(d);
        }
    }
    for d in &duplicates {
        let object = set.owners.get(&d.name).unwrap_or(&d.name);
        violations.push(format!(
            "{d}\n{}",
            evidence(&record, &operator_log, d, object)
        ));
    }
    let mut owned = set.owned_names();
    owned.extend(lt_ids.iter().cloned());
    let unowned = foreign_writes(&record, &owned);
    let foreign_names = [
        FOREIGN_ELB,
        FOREIGN_CLUSTER,
        FOREIGN_TASK_DEF,
        FOREIGN_SERVICE,
    ];
    let foreign_hits: Vec<&String> = unowned
        .iter()
        .filter(|w| foreign_names.iter().any(|f| w.contains(f)))
        .collect();
    for w in unowned.iter().take(20) {
        violations.push(format!("write on a resource no object owns: {w}"));
    }
    if unowned.len() > 20 {
        violations.push(format!(
            "… and {} more writes on resources no object owns",
            unowned.len() - 20
        ));
    }
    let chaos_converge_calls = calls(&converge);
    let chaos_delete_calls = calls(&total) - chaos_converge_calls;
    let converge_ratio = ratio(chaos_converge_calls, base_converge_calls);
    let delete_ratio = ratio(chaos_delete_calls, base_delete_calls);
    if converge_ratio > CONVERGE_CALL_BOUND {
        violations.push(format!(
            "{chaos_converge_calls} AWS calls to converge under chaos, {converge_ratio:.2}× the \
             baseline's {base_converge_calls} (bound {CONVERGE_CALL_BOUND}×)"
        ));
    }
    if delete_ratio > DELETE_CALL_BOUND {
        violations.push(format!(
            "{chaos_delete_calls} AWS calls to delete under chaos, {delete_ratio:.2}× the \
             baseline's {base_delete_calls} (bound {DELETE_CALL_BOUND}×)"
        ));
    }
    // ---- 5. The report.
    let fault_counts = faults(&total);
    let report = json!({
        "seed": seed,
        "objects": set.objects.len(),
        "object_set": {
            "EcsCluster": CLUSTERS, "with_capacity": CAPACITY_CLUSTERS,
            "EcsTaskDef": TASK_DEFS, "EcsService": SERVICES, "with_managed_elb": ELB_SERVICES,
            "conflicting": set.conflicting.len(),
        },
        "faults_injected": fault_counts,
        "throttled_by_aws_limits": total["throttled_bucket"],
        "aws_calls": {
            "baseline_converge": base_converge_calls,
            "chaos_converge": chaos_converge_calls,
            "converge_ratio": converge_ratio,
            "converge_bound": CONVERGE_CALL_BOUND,
            "baseline_delete": base_delete_calls,
            "chaos_delete": chaos_delete_calls,
            "delete_ratio": delete_ratio,
            "delete_bound": DELETE_CALL_BOUND,
        },
        "operator_restarts": restarts,
        "apiserver_restart_secs": apiserver_restarted.map(|d| d.as_secs_f64()),
        "duplicates": duplicates.iter().filter(|d| d.count > 1).count(),
        "bad_creates": duplicates.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "orphans": orphans.len(),
        "unowned_writes": unowned.len(),
        "foreign_resource_writes": foreign_hits.len(),
        "stuck": stuck.len(),
        "stalled_without_conflict": stalled_during.len(),
        "conflicts_stalled": conflicts_ok,
        "durations_secs": {
            "baseline_converge": base_converge_time.as_secs_f64(),
            "baseline_delete": base_delete_time.as_secs_f64(),
            "chaos_window": CHAOS_WINDOW.as_secs_f64(),
            "chaos_converge_total": chaos_converge_time.as_secs_f64(),
            "first_converged_under_faults": first_converged.map(|d| d.as_secs_f64()),
            "converge_after_faults_stopped": final_converge_time.as_secs_f64(),
            "chaos_delete": chaos_delete_time.as_secs_f64(),
            "whole_test": started.elapsed().as_secs_f64(),
        },
        "violations": violations,
        "sandbox": sb.dir.display().to_string(),
    });
    let table = render_report(&report);
    eprintln!("{table}");
    let report_path = report_dir().join("chaos-report.json");
    let _ = std::fs::write(
        &report_path,
        serde_json::to_string_pretty(&report).unwrap_or_default(),
    );
    let _ = std::fs::write(sb.dir.join("chaos-report.json"), report.to_string());
    eprintln!("chaos: report in {}", report_path.display());

    assert!(
        violations.is_empty(),
        "chaos: {} violation(s) (seed {seed}; records and logs in {}):\n- {}",
        violations.len(),
        sb.dir.display(),
        violations.join("\n- ")
    );
}

/// Where the JSON report goes: $CARGO_TARGET_DIR, else the target dir this test runs from.
fn report_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("current_exe");
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir)
}

fn render_report(r: &Value) -> String {
    let c = &r["aws_calls"];
    let d = &r["durations_secs"];
    let mut faults: Vec<String> = r["faults_injected"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k} {v}")).collect())
        .unwrap_or_default();
    faults.push(format!(
        "AWS-limit throttles {}",
        r["throttled_by_aws_limits"]
    ));
    let rows = [
        ("objects", format!("{}", r["objects"])),
        ("faults injected", faults.join(", ")),
        (
            "AWS calls to converge",
            format!(
                "baseline {} / chaos {} = {:.2}× (bound {}×)",
                c["baseline_converge"],
                c["chaos_converge"],
                c["converge_ratio"].as_f64().unwrap_or(f64::NAN),
                c["converge_bound"]
            ),
        ),
        (
            "AWS calls to delete",
            format!(
                "baseline {} / chaos {} = {:.2}× (bound {}×)",
                c["baseline_delete"],
                c["chaos_delete"],
                c["delete_ratio"].as_f64().unwrap_or(f64::NAN),
                c["delete_bound"]
            ),
        ),
        (
            "operator restarts",
            format!(
                "{} SIGKILLs; kube-apiserver restarted once ({:.1} s)",
                r["operator_restarts"],
                r["apiserver_restart_secs"].as_f64().unwrap_or(f64::NAN)
            ),
        ),
        ("duplicate creates", format!("{}", r["duplicates"])),
        ("orphans in AWS", format!("{}", r["orphans"])),
        (
            "writes not owned",
            format!(
                "{} (on the foreign resources: {})",
                r["unowned_writes"], r["foreign_resource_writes"]
            ),
        ),
        ("stuck objects", format!("{}", r["stuck"])),
        (
            "conflicting objects",
            format!(
                "{} Stalled (Conflict): {}",
                r["object_set"]["conflicting"], r["conflicts_stalled"]
            ),
        ),
        (
            "Stalled w/o conflict",
            format!("{}", r["stalled_without_conflict"]),
        ),
        (
            "duration",
            format!(
                "baseline {:.0} s to converge + {:.0} s to delete; chaos: all converged under faults after {}, \
                 {:.0} s window + {:.0} s after faults stopped, {:.0} s to delete; whole test {:.0} s",
                d["baseline_converge"].as_f64().unwrap_or(0.0),
                d["baseline_delete"].as_f64().unwrap_or(0.0),
                d["first_converged_under_faults"]
                    .as_f64()
                    .map(|t| format!("{t:.0} s"))
                    .unwrap_or_else(|| "— (not within the window)".to_string()),
                d["chaos_window"].as_f64().unwrap_or(0.0),
                d["converge_after_faults_stopped"].as_f64().unwrap_or(0.0),
                d["chaos_delete"].as_f64().unwrap_or(0.0),
                d["whole_test"].as_f64().unwrap_or(0.0)
            ),
        ),
    ];
    let mut out = format!("\n==== chaos report (seed {}) ====\n", r["seed"]);
    for (k, v) in rows {
        out += &format!("| {k:<22} | {v}\n");
    }
    out
}
