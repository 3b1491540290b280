//! The `ecs-operator` binary: `run`, `import`, `diff`, `crds`, `version` (also the kubectl
//! plugin `kubectl-ecs`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use futures::FutureExt;
use tracing::{error, info};

use ecs_operator::aws::fence::WriteFence;
use ecs_operator::aws::guard::GuardedProvider;
use ecs_operator::aws::sdk::SdkProvider;
use ecs_operator::aws::AwsProvider;
use ecs_operator::cli::{parse_duration, parse_share};
use ecs_operator::reconciler::leader::{LeaderElector, LeaseSettings};
use ecs_operator::reconciler::shards::{ShardManager, Shards};
use ecs_operator::reconciler::{controllers, Context, Settings};
use ecs_operator::telemetry::logging::{self, LogFormat};
use ecs_operator::telemetry::metrics::Metrics;
use ecs_operator::telemetry::server::{self, Health};

#[derive(Parser)]
#[command(
    name = "ecs-operator",
    version,
    about = "Runs Docker workloads on AWS ECS from Kubernetes objects"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controllers.
    Run(Box<RunArgs>),
    /// Print manifests (with the adopt annotation) describing an existing ECS cluster, its
    /// EC2 capacity and services: applied with the operator running, they change nothing
    /// in AWS but the owner tags.
    Import(Box<ImportArgs>),
    /// Print the AWS changes the operator would make for manifests; exit 0 (no changes),
    /// 1 (changes) or 2 (error). Read-only: no AWS or Kubernetes writes.
    Diff(Box<DiffArgs>),
    /// Print the three CRDs as YAML.
    Crds,
    /// Print the version.
    Version,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Default AWS region (objects may override it with spec.region).
    #[arg(long, env = "AWS_REGION")]
    region: Option<String>,
    /// AWS endpoint URL (moto, LocalStack); all services go there.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    aws_endpoint_url: Option<String>,
    /// Identity of this management cluster, written into every owner tag. Default: the
    /// UID of the `kube-system` namespace, unique per Kubernetes cluster (what many tools
    /// use as a cluster identity). Set it explicitly to keep ownership across a rebuilt
    /// management cluster; never give two management clusters the same one.
    #[arg(long, env = "ECS_OPERATOR_CLUSTER_ID")]
    cluster_id: Option<String>,
    /// Namespace to watch; repeat for several. Default: all namespaces.
    #[arg(
        long = "watch-namespace",
        env = "ECS_OPERATOR_WATCH_NAMESPACES",
        value_delimiter = ','
    )]
    watch_namespaces: Vec<String>,
    /// Reconciles running at once per kind.
    #[arg(long, env = "ECS_OPERATOR_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// How often Ready objects are compared with AWS to correct drift (e.g. 30s, 10m, 1h).
    #[arg(long, env = "ECS_OPERATOR_RESYNC_PERIOD", default_value = "10m", value_parser = parse_duration)]
    resync_period: Duration,
    /// Address of the Prometheus /metrics endpoint.
    #[arg(
        long,
        env = "ECS_OPERATOR_METRICS_ADDR",
        default_value = "0.0.0.0:8080"
    )]
    metrics_addr: SocketAddr,
    /// Address of /healthz and /readyz.
    #[arg(long, env = "ECS_OPERATOR_HEALTH_ADDR", default_value = "0.0.0.0:8081")]
    health_addr: SocketAddr,
    /// Log format.
    #[arg(
        long,
        env = "ECS_OPERATOR_LOG_FORMAT",
        value_enum,
        default_value = "json"
    )]
    log_format: LogFormat,
    /// Log level or tracing filter, e.g. info or ecs_operator=debug.
    #[arg(long, env = "ECS_OPERATOR_LOG_LEVEL", default_value = "info")]
    log_level: String,
    /// Share (0–1] of every AWS API token bucket this operator may use in all.
    #[arg(long, env = "ECS_OPERATOR_AWS_RATE_SHARE", default_value = "1", value_parser = parse_share)]
    aws_rate_share: f64,
    /// Share (0–1] of every AWS API token bucket for work nobody waits for (resyncs, drift
    /// checks, bulk sweeps); the rest is kept for spec changes and deletions and for the
    /// account's other clients.
    #[arg(long, env = "ECS_OPERATOR_AWS_BACKGROUND_SHARE", default_value = "0.5", value_parser = parse_share)]
    aws_background_share: f64,
    /// Only the holder of a Lease runs controllers (for several replicas).
    #[arg(long, env = "ECS_OPERATOR_LEADER_ELECTION", default_value_t = false)]
    leader_election: bool,
    /// Namespace of the leader election Lease, or of the shard Leases (default: the pod's
    /// namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    leader_election_namespace: String,
    /// Name of the leader election Lease; with --shards, the prefix of the shard and
    /// membership Leases.
    #[arg(
        long,
        env = "ECS_OPERATOR_LEADER_ELECTION_ID",
        default_value = "ecs-operator-leader"
    )]
    leader_election_id: String,
    /// Lease duration of the leader election: how long other replicas wait, from when they
    /// last saw the lease change, before taking it.
    #[arg(long, env = "ECS_OPERATOR_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    lease_duration: Duration,
    /// How long the leader keeps trying to renew before it stops writing to AWS and exits
    /// (shorter than the lease duration).
    #[arg(long, env = "ECS_OPERATOR_RENEW_DEADLINE", default_value = "10s", value_parser = parse_duration)]
    renew_deadline: Duration,
    /// Interval between attempts to acquire or renew the lease.
    #[arg(long, env = "ECS_OPERATOR_RETRY_PERIOD", default_value = "2s", value_parser = parse_duration)]
    retry_period: Duration,
    /// Split the objects into this many shards (by namespace), each a Lease
    /// `<leader-election-id>-shard-<i>`, shared fairly by the running replicas; replaces
    /// --leader-election and uses its lease timing. 1: no sharding.
    #[arg(long, env = "ECS_OPERATOR_SHARDS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    shards: u32,
}

/// Refuse flag combinations that cannot mean what they say.
fn check_flags(args: &RunArgs, lease: &LeaseSettings) -> anyhow::Result<()> {
    if args.shards > 1 && args.leader_election {
        anyhow::bail!(
            "--shards {} and --leader-election exclude each other: with shards every replica \
             runs the controllers and each shard's Lease elects the one that reconciles its \
             objects (drop --leader-election; the lease timing flags still apply)",
            args.shards
        );
    }
    if args.shards > 1 || args.leader_election {
        lease.validate().map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

/// The AWS flags `import` and `diff` share with `run`.
#[derive(clap::Args)]
struct AwsArgs {
    /// AWS region (default: the SDK's, e.g. AWS_REGION).
    #[arg(long, env = "AWS_REGION")]
    region: Option<String>,
    /// AWS endpoint URL (moto, LocalStack); all services go there.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    aws_endpoint_url: Option<String>,
}

impl AwsArgs {
    /// Clients of the default region, behind the client-side rate limiter (a one-off
    /// command still shares the account's API budget with the operator).
    async fn clients(&self) -> anyhow::Result<(ecs_operator::aws::AwsClients, String)> {
        let sdk = SdkProvider::new(self.region.clone(), self.aws_endpoint_url.clone())
            .await
            .context("configuring the AWS SDK")?;
        let guarded = GuardedProvider::new(Arc::new(sdk), Metrics::default(), 1.0);
        Ok((guarded.clients(None), guarded.default_region()))
    }
}

#[derive(clap::Args)]
struct ImportArgs {
    #[command(flatten)]
    aws: AwsArgs,
    /// The ECS cluster (name or ARN).
    #[arg(long)]
    cluster: String,
    /// A service of the cluster to import; repeat for several. Default: all of them.
    #[arg(long = "service")]
    services: Vec<String>,
    /// Namespace written into the manifests (default: none, kubectl apply's).
    #[arg(long, short = 'n')]
    namespace: Option<String>,
    /// The Auto Scaling group of the cluster's instances. Default: the one whose launch
    /// template's user data sets ECS_CLUSTER to the cluster.
    #[arg(long)]
    auto_scaling_group: Option<String>,
    /// deletionPolicy of the objects: Retain (default: deleting an object leaves what it
    /// imported in place) or Delete.
    #[arg(long, default_value = "Retain", value_parser = ["Retain", "Delete"])]
    deletion_policy: String,
}

#[derive(clap::Args)]
struct DiffArgs {
    #[command(flatten)]
    aws: AwsArgs,
    /// Manifests: a YAML file, a directory of them, or - for stdin.
    #[arg(long = "filename", short = 'f')]
    filename: String,
    /// The operator's --cluster-id (it is in every owner tag). Default: the kube-system
    /// namespace's UID, read from the current kubeconfig's cluster.
    #[arg(long, env = "ECS_OPERATOR_CLUSTER_ID")]
    cluster_id: Option<String>,
    /// Namespace of objects that name none (default: the kubeconfig's, else default).
    #[arg(long, short = 'n')]
    namespace: Option<String>,
    /// Never read Kubernetes: dependencies must all be in the input, and --cluster-id set.
    #[arg(long)]
    offline: bool,
}

/// The management cluster's identity: the flag, or the `kube-system` namespace's UID.
async fn cluster_id(client: &kube::Client, flag: Option<String>) -> anyhow::Result<String> {
    if let Some(id) = flag.filter(|id| !id.trim().is_empty()) {
        return Ok(id);
    }
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(client.clone());
    let ns = namespaces.get("kube-system").await.context(
        "reading the kube-system namespace's UID for the default --cluster-id (allow `get` \
         on namespaces/kube-system, or set --cluster-id)",
    )?;
    ns.metadata
        .uid
        .ok_or_else(|| anyhow::anyhow!("the kube-system namespace has no UID; set --cluster-id"))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn install_crypto() {
    // kube and the AWS SDK pull in different rustls backends; pick one for the process.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

async fn import(args: ImportArgs) -> anyhow::Result<()> {
    install_crypto();
    let (aws, region) = args.aws.clients().await?;
    let opts = ecs_operator::commands::import::ImportOptions {
        cluster: args.cluster,
        services: args.services,
        namespace: args.namespace,
        region: Some(region),
        auto_scaling_group: args.auto_scaling_group,
        deletion_policy: if args.deletion_policy == "Delete" {
            ecs_operator::api::common::DeletionPolicy::Delete
        } else {
            ecs_operator::api::common::DeletionPolicy::Retain
        },
    };
    let imported = ecs_operator::commands::import::import(&aws, &opts).await?;
    for w in &imported.warnings {
        eprintln!("warning: {w}");
    }
    print!("{}", ecs_operator::commands::import::render(&imported)?);
    Ok(())
}

fn main() -> std::process::ExitCode {
    let (argv, plugin_name) =
        ecs_operator::commands::plugin::plugin_argv(std::env::args_os().collect());
    let mut command = <Cli as clap::CommandFactory>::command();
    if let Some(name) = plugin_name {
        command = command.name(name).bin_name(name);
    }
    let cli = match command
        .try_get_matches_from(argv)
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap's own code for help and version (0), 2 for usage errors: diff's "error".
            return std::process::ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    match cli.command {
        Command::Import(args) => match runtime().and_then(|rt| rt.block_on(import(*args))) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ecs-operator import: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
        Command::Diff(args) => match runtime().and_then(|rt| rt.block_on(diff(*args))) {
            Ok(changes) => std::process::ExitCode::from(u8::from(changes)),
            Err(e) => {
                eprintln!("ecs-operator diff: {e:#}");
                std::process::ExitCode::from(2)
            }
        },
        Command::Crds => match ecs_operator::api::crds_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ecs-operator: cannot render the CRDs: {e}");
                std::process::ExitCode::FAILURE
            }
        },
        Command::Version => {
            println!("ecs-operator {}", env!("CARGO_PKG_VERSION"));
            std::process::ExitCode::SUCCESS
        }
        Command::Run(args) => {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("ecs-operator: cannot start the async runtime: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            };
            match runtime.block_on(run(*args)) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    error!(error = %format!("{e:#}"), "ecs-operator stopped");
                    eprintln!("ecs-operator: {e:#}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}

/// Diff: `Ok(true)` when the operator would change something.
async fn diff(args: DiffArgs) -> anyhow::Result<bool> {
    use ecs_operator::commands::diff as d;
    install_crypto();
    let text =
        d::read_input(&args.filename).with_context(|| format!("reading {}", args.filename))?;
    let client = if args.offline {
        None
    } else {
        Some(
            kube::Client::try_default()
                .await
                .context("connecting to Kubernetes (or pass --offline)")?,
        )
    };
    let namespace = args
        .namespace
        .clone()
        .or_else(|| client.as_ref().map(|c| c.default_namespace().to_string()))
        .unwrap_or_else(|| "default".into());
    let manifests = d::parse_manifests(&text, &namespace).map_err(anyhow::Error::msg)?;
    let cluster_id = match (&client, args.cluster_id.clone()) {
        (_, Some(id)) if !id.trim().is_empty() => id,
        (Some(c), _) => cluster_id(c, None).await?,
        (None, _) => anyhow::bail!("--offline needs --cluster-id (it is in every owner tag)"),
    };
    let sdk = SdkProvider::new(args.aws.region.clone(), args.aws.aws_endpoint_url.clone())
        .await
        .context("configuring the AWS SDK")?;
    let provider = GuardedProvider::new(Arc::new(sdk), Metrics::default(), 1.0);
    let live = match client {
        Some(c) => d::Live::kubernetes(c),
        None => d::Live::offline(),
    };
    let diffs = d::diff(&manifests, &provider, &cluster_id, &live).await;
    print!("{}", d::format_report(&diffs));
    match d::exit_code(&diffs) {
        0 => Ok(false),
        1 => Ok(true),
        _ => anyhow::bail!("some objects could not be previewed"),
    }
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
    info!("shutdown signal received");
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    logging::init(args.log_format, &args.log_level)?;
    let lease = LeaseSettings {
        namespace: args.leader_election_namespace.clone(),
        name: args.leader_election_id.clone(),
        identity: std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| format!("ecs-operator-{}", std::process::id())),
        lease_duration: args.lease_duration,
        renew_deadline: args.renew_deadline,
        retry_period: args.retry_period,
    };
    check_flags(&args, &lease)?;
    // kube and the AWS SDK pull in different rustls backends; pick one for the process.
    if rustls::crypto::ring::default_provider()
        .install_default()
        .is_err()
    {
        tracing::debug!("a rustls crypto provider was already installed");
    }
    let metrics = Metrics::default();
    let health = Health::default();
    let shutdown = shutdown_signal().boxed().shared();

    let server = tokio::spawn(server::serve(
        args.metrics_addr,
        args.health_addr,
        metrics.clone(),
        health.clone(),
        shutdown.clone(),
    ));

    let client = kube::Client::try_default()
        .await
        .context("connecting to Kubernetes")?;
    let cluster_id = cluster_id(&client, args.cluster_id.clone()).await?;
    // Without leader election this is the only writer; with it, writes wait for the lease;
    // with shards, each object's writes wait for its shard's lease.
    let fence = Arc::new(if args.shards > 1 {
        WriteFence::per_shard()
    } else if args.leader_election {
        WriteFence::closed()
    } else {
        WriteFence::open()
    });
    let shards = Arc::new(if args.shards > 1 {
        Shards::sharded(args.shards)
    } else {
        Shards::default()
    });
    let sdk = SdkProvider::new(args.region.clone(), args.aws_endpoint_url.clone())
        .await
        .context("configuring the AWS SDK")?;
    let aws: Arc<dyn AwsProvider> = Arc::new(
        GuardedProvider::new(Arc::new(sdk), metrics.clone(), args.aws_rate_share)
            .with_background_share(args.aws_background_share)
            .with_fence(fence.clone()),
    );
    info!(region = %aws.default_region(), cluster_id = %cluster_id, namespaces = ?args.watch_namespaces, shards = args.shards, "starting");
    let settings = Settings {
        cluster_id,
        resync_period: args.resync_period,
        ..Default::default()
    };
    let ctx = Arc::new(
        Context::new(client.clone(), aws, settings, metrics.clone()).with_shards(shards.clone()),
    );
    health.set_ready(true);

    if shards.is_sharded() {
        let manager = ShardManager::new(client, lease, shards, metrics);
        tokio::select! {
            _ = controllers::run(ctx, args.watch_namespaces, args.concurrency, shutdown.clone()) => {},
            _ = manager.run() => {},
        }
        manager.release_all().await;
    } else if args.leader_election {
        let elector = LeaderElector::new(client, lease, fence);
        tokio::select! {
            _ = elector.acquire() => {},
            _ = shutdown.clone() => {
                let _ = server.await;
                return Ok(());
            }
        }
        let lost = tokio::select! {
            _ = controllers::run(ctx, args.watch_namespaces, args.concurrency, shutdown.clone()) => false,
            _ = elector.hold() => true,
        };
        if lost {
            anyhow::bail!("lost the leader lease; exiting so that only the new leader writes");
        }
        elector.release().await;
    } else {
        controllers::run(
            ctx,
            args.watch_namespaces,
            args.concurrency,
            shutdown.clone(),
        )
        .await;
    }
    server.await.context("HTTP server task")??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(flags: &[&str]) -> Result<(), String> {
        let cli = Cli::try_parse_from(["ecs-operator", "run"].iter().chain(flags).copied())
            .map_err(|e| e.to_string())?;
        let Command::Run(args) = cli.command else {
            return Err("not run".into());
        };
        let lease = LeaseSettings {
            namespace: args.leader_election_namespace.clone(),
            name: args.leader_election_id.clone(),
            identity: "me".into(),
            lease_duration: args.lease_duration,
            renew_deadline: args.renew_deadline,
            retry_period: args.retry_period,
        };
        check_flags(&args, &lease).map_err(|e| e.to_string())
    }

    #[test]
    fn shard_flags_are_checked() {
        assert!(checked(&[]).is_ok());
        assert!(checked(&["--shards", "6"]).is_ok());
        let both = checked(&["--shards", "6", "--leader-election"]).expect_err("exclusive");
        assert!(both.contains("exclude each other"), "{both}");
        let timing = checked(&["--shards", "2", "--renew-deadline", "20s"]).expect_err("timing");
        assert!(timing.contains("renew deadline"), "{timing}");
        assert!(checked(&["--shards", "0"]).is_err());
        // One shard is no sharding: the lease timing is not used, hence not checked.
        assert!(checked(&["--shards", "1", "--renew-deadline", "20s"]).is_ok());
    }
}
