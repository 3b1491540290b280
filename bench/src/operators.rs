//! The operators under test: their Kubernetes kinds, what "ready" means for each, their
//! AWS call metric, and how each is started (flags and environment). ecs-operator runs
//! either as the shipped binary against moto, or as ecs-operator-on-fake (the same
//! controllers on the in-memory fake AWS, for N = 10,000).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::core::{ApiResource, GroupVersionKind};

/// Which operator a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
// "EcsOperator" is the product's name, not the enum's name repeated.
#[allow(clippy::enum_variant_names)]
pub enum Operator {
    /// This repository's operator.
    EcsOperator,
    /// This repository's operator's controllers on the in-memory fake AWS
    /// (ecs-operator-on-fake).
    EcsOperatorFake,
    /// ACK's ECS controller v1.2.1.
    Ack,
}

/// The role of an object in the workload (each operator has its own kind for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The ECS cluster.
    Cluster,
    /// A task definition family.
    TaskDef,
    /// An ECS service.
    Service,
}

impl Role {
    /// All roles, in creation order.
    pub const ALL: [Role; 3] = [Role::Cluster, Role::TaskDef, Role::Service];
}

/// A custom resource kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// API group.
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Plural (the resource name).
    pub plural: &'static str,
}

impl Kind {
    /// `group/version`.
    pub fn api_version(&self) -> String {
        format!("{}/{}", self.group, self.version)
    }

    /// The kube-rs description of the kind, for a dynamic API.
    pub fn api_resource(&self) -> ApiResource {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(self.group, self.version, self.kind),
            self.plural,
        )
    }
}

/// Everything an operator process needs to know about its surroundings.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    /// The operator's binary.
    pub binary: PathBuf,
    /// The sandbox's kubeconfig.
    pub kubeconfig: PathBuf,
    /// Where the operator sends AWS calls (the proxy; unused on the fake).
    pub aws_endpoint: String,
    /// Whether AWS's token buckets are enforced (on the fake: by the fake itself).
    pub enforce_aws_limits: bool,
    /// Namespace it watches.
    pub namespace: String,
    /// Reconciles at once per kind.
    pub concurrency: u32,
    /// Resync period.
    pub resync: Duration,
    /// Port of its metrics endpoint on 127.0.0.1.
    pub metrics_port: u16,
    /// Port of its health endpoint on 127.0.0.1.
    pub health_port: u16,
}

impl Operator {
    /// Parse the name used on the command line and in results.
    pub fn parse(s: &str) -> Result<Operator, String> {
        match s {
            "ecs-operator" => Ok(Operator::EcsOperator),
            "ecs-operator-fake" => Ok(Operator::EcsOperatorFake),
            "ack" => Ok(Operator::Ack),
            _ => Err(format!(
                "unknown operator {s:?} (ecs-operator, ecs-operator-fake or ack)"
            )),
        }
    }

    /// The name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            Operator::EcsOperator => "ecs-operator",
            Operator::EcsOperatorFake => "ecs-operator-fake",
            Operator::Ack => "ack",
        }
    }

    /// Whether it runs on the in-memory fake AWS (no moto, no proxy).
    pub fn on_fake(self) -> bool {
        self == Operator::EcsOperatorFake
    }

    /// The operator's kind for a role.
    pub fn kind(self, role: Role) -> Kind {
        match (self, role) {
            (Operator::EcsOperator | Operator::EcsOperatorFake, role) => Kind {
                group: "ecsoperator.io",
                version: "v1alpha1",
                kind: match role {
                    Role::Cluster => "EcsCluster",
                    Role::TaskDef => "EcsTaskDef",
                    Role::Service => "EcsService",
                },
                plural: match role {
                    Role::Cluster => "ecsclusters",
                    Role::TaskDef => "ecstaskdefs",
                    Role::Service => "ecsservices",
                },
            },
            (Operator::Ack, role) => Kind {
                group: "ecs.services.k8s.aws",
                version: "v1alpha1",
                kind: match role {
                    Role::Cluster => "Cluster",
                    Role::TaskDef => "TaskDefinition",
                    Role::Service => "Service",
                },
                plural: match role {
                    Role::Cluster => "clusters",
                    Role::TaskDef => "taskdefinitions",
                    Role::Service => "services",
                },
            },
        }
    }

    /// The condition that says an object is done: ours `Ready` (which for a service
    /// includes its tasks running), ACK's `ACK.ResourceSynced` (a Service is synced right
    /// after its create call).
    pub fn ready_condition(self) -> &'static str {
        match self {
            Operator::EcsOperator | Operator::EcsOperatorFake => "Ready",
            Operator::Ack => "ACK.ResourceSynced",
        }
    }

    /// The operator's own counter of AWS calls (summed over its labels), the cross-check
    /// of the proxy's count.
    pub fn calls_metric(self) -> &'static str {
        match self {
            Operator::EcsOperator | Operator::EcsOperatorFake => "ecs_operator_aws_calls_total",
            Operator::Ack => "ack_outbound_api_requests_total",
        }
    }

    /// Path of the readiness endpoint on the health port.
    pub fn readiness_path(self) -> &'static str {
        "/readyz"
    }

    /// Command-line arguments: equal concurrency and resync for both.
    pub fn args(self, spec: &LaunchSpec) -> Vec<String> {
        let metrics = format!("127.0.0.1:{}", spec.metrics_port);
        let health = format!("127.0.0.1:{}", spec.health_port);
        match self {
            Operator::EcsOperator => vec![
                "run".into(),
                "--cluster-id=bench".into(),
                "--region=us-east-1".into(),
                format!("--aws-endpoint-url={}", spec.aws_endpoint),
                format!("--watch-namespace={}", spec.namespace),
                format!("--concurrency={}", spec.concurrency),
                format!("--resync-period={}s", spec.resync.as_secs().max(1)),
                format!("--metrics-addr={metrics}"),
                format!("--health-addr={health}"),
                "--log-format=json".into(),
                "--log-level=info".into(),
            ],
            Operator::EcsOperatorFake => {
                let mut args = vec![
                    "run".into(),
                    "--cluster-id=bench".into(),
                    format!("--watch-namespace={}", spec.namespace),
                    format!("--concurrency={}", spec.concurrency),
                    format!("--resync-period={}s", spec.resync.as_secs().max(1)),
                    format!("--metrics-addr={metrics}"),
                    format!("--health-addr={health}"),
                    "--log-format=json".into(),
                    "--log-level=info".into(),
                ];
                if spec.enforce_aws_limits {
                    args.push("--aws-limits".into());
                }
                args
            }
            Operator::Ack => vec![
                "--aws-region=us-east-1".into(),
                format!("--aws-endpoint-url={}", spec.aws_endpoint),
                format!("--aws-identity-endpoint-url={}", spec.aws_endpoint),
                "--allow-unsafe-aws-endpoint-urls".into(),
                "--enable-carm=false".into(),
                "--enable-field-export-reconciler=false".into(),
                format!("--watch-namespace={}", spec.namespace),
                format!("--metrics-addr={metrics}"),
                format!("--healthz-addr={health}"),
                format!(
                    "--reconcile-default-resync-seconds={}",
                    spec.resync.as_secs().max(1)
                ),
                format!(
                    "--reconcile-default-max-concurrent-syncs={}",
                    spec.concurrency
                ),
                "--log-level=info".into(),
            ],
        }
    }

    /// The whole environment of the process (it starts from an empty one): the same static
    /// test credentials for both, the kubeconfig through `KUBECONFIG` (ACK reads it only
    /// there), and no `AWS_CA_BUNDLE` (ACK fails every call with it; moto is plain HTTP).
    pub fn env(self, spec: &LaunchSpec) -> Vec<(String, String)> {
        let mut env = vec![
            ("KUBECONFIG".to_string(), path_string(&spec.kubeconfig)),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ];
        for keep in ["PATH", "HOME", "TMPDIR"] {
            if let Ok(v) = std::env::var(keep) {
                env.push((keep.to_string(), v));
            }
        }
        env
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn path_string(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> LaunchSpec {
        LaunchSpec {
            binary: PathBuf::from("/bin/op"),
            kubeconfig: PathBuf::from("/k/kubeconfig"),
            aws_endpoint: "http://127.0.0.1:9".into(),
            enforce_aws_limits: true,
            namespace: "bench".into(),
            concurrency: 4,
            resync: Duration::from_secs(30),
            metrics_port: 1,
            health_port: 2,
        }
    }

    #[test]
    fn equal_concurrency_and_resync() {
        let ours = Operator::EcsOperator.args(&spec());
        assert!(ours.contains(&"--concurrency=4".to_string()));
        assert!(ours.contains(&"--resync-period=30s".to_string()));
        let ack = Operator::Ack.args(&spec());
        assert!(ack.contains(&"--reconcile-default-max-concurrent-syncs=4".to_string()));
        assert!(ack.contains(&"--reconcile-default-resync-seconds=30".to_string()));
        assert!(ack.contains(&"--aws-endpoint-url=http://127.0.0.1:9".to_string()));
    }

    #[test]
    fn the_fake_gets_the_same_flags_and_the_limits() {
        let args = Operator::EcsOperatorFake.args(&spec());
        assert!(args.contains(&"--concurrency=4".to_string()));
        assert!(args.contains(&"--resync-period=30s".to_string()));
        assert!(args.contains(&"--watch-namespace=bench".to_string()));
        assert!(args.contains(&"--aws-limits".to_string()));
        assert!(!args.iter().any(|a| a.starts_with("--aws-endpoint-url")));
        let unlimited = LaunchSpec {
            enforce_aws_limits: false,
            ..spec()
        };
        assert!(!Operator::EcsOperatorFake
            .args(&unlimited)
            .contains(&"--aws-limits".to_string()));
        assert!(Operator::EcsOperatorFake.on_fake());
        assert!(!Operator::EcsOperator.on_fake());
    }

    #[test]
    fn no_ca_bundle() {
        for op in [Operator::EcsOperator, Operator::Ack] {
            let env = op.env(&spec());
            assert!(env.iter().all(|(k, _)| k != "AWS_CA_BUNDLE"));
            assert!(env
                .iter()
                .any(|(k, v)| k == "KUBECONFIG" && v == "/k/kubeconfig"));
        }
    }

    #[test]
    fn names_round_trip() {
        for op in [
            Operator::EcsOperator,
            Operator::EcsOperatorFake,
            Operator::Ack,
        ] {
            assert_eq!(Operator::parse(op.name()), Ok(op));
        }
        assert!(Operator::parse("flux").is_err());
    }
}
