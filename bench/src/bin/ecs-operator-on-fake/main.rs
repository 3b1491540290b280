//! `ecs-operator-on-fake`: ecs-operator's controllers (the library's `controllers::run`,
//! with the same guard, rate limiter, batching and settings as the shipped binary) against
//! the Kubernetes API of `KUBECONFIG`, with the in-memory fake AWS
//! (`ecs_operator::aws::fake`) in place of the AWS SDK. ecs-bench runs it for the
//! 10,000-object benchmark, where moto is too slow. It is not a product: the fake is
//! compiled in only here and in the operator's tests, never into `ecs-operator`.
//!
//! Differences from the real binary, all for the benchmark:
//! - AWS lives in this process: the fake's state is lost when it exits, so a "restart"
//!   (`POST /fake/restart`) stops the controllers and starts new ones (new Kubernetes
//!   client, caches, rate limiter buckets and metrics), keeping the fake;
//! - the fake's call gate counts every AWS call, and with `--aws-limits` applies AWS's
//!   token buckets (aws-fault-proxy's), answering ThrottlingException as AWS would;
//! - `/fake/...` on the metrics address lets the harness read the fake (see `control`);
//! - `fake-only` measures the fake's memory holding the workload, without controllers.

mod control;
mod gate;
mod populate;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use futures::FutureExt;
use tokio::sync::{mpsc, Notify};
use tracing::info;

use ecs_operator::aws::fake::FakeAws;
use ecs_operator::aws::guard::GuardedProvider;
use ecs_operator::aws::AwsProvider;
use ecs_operator::cli::{parse_duration, parse_share};
use ecs_operator::reconciler::{controllers, Context, Settings};
use ecs_operator::telemetry::logging::{self, LogFormat};
use ecs_operator::telemetry::metrics::Metrics;
use ecs_operator::telemetry::server::Health;

use control::{RestartRequest, Shared};
use gate::CallCounter;

#[derive(Parser)]
#[command(
    name = "ecs-operator-on-fake",
    version,
    about = "ecs-operator's controllers on the in-memory fake AWS (benchmark only)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controllers on the fake.
    Run(Box<RunArgs>),
    /// Fill the fake with N services over T task definitions, print its memory as JSON.
    FakeOnly {
        /// Services.
        #[arg(long)]
        services: u32,
        /// Task definition families.
        #[arg(long)]
        task_defs: u32,
    },
    /// Print the three CRDs as YAML (the operator's).
    Crds,
    /// Print the version.
    Version,
}

/// The flags of `ecs-operator run` that matter on the fake (no region or endpoint: the
/// fake answers every region; no leader election: one process).
#[derive(clap::Args)]
struct RunArgs {
    /// Identity of this management cluster, written into every owner tag.
    #[arg(long, default_value = "bench")]
    cluster_id: String,
    /// Namespace to watch; repeat for several. Default: all namespaces.
    #[arg(long = "watch-namespace", value_delimiter = ',')]
    watch_namespaces: Vec<String>,
    /// Reconciles running at once per kind.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// How often Ready objects are compared with AWS.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    resync_period: Duration,
    /// Address of /metrics and the harness's /fake/ endpoints.
    #[arg(long, default_value = "127.0.0.1:8080")]
    metrics_addr: SocketAddr,
    /// Address of /healthz and /readyz.
    #[arg(long, default_value = "127.0.0.1:8081")]
    health_addr: SocketAddr,
    /// Log format.
    #[arg(long, value_enum, default_value = "json")]
    log_format: LogFormat,
    /// Log level or tracing filter.
    #[arg(long, default_value = "info")]
    log_level: String,
    /// Share (0–1] of every AWS API token bucket the operator may use (as `ecs-operator
    /// run`: spec changes, rollouts and deletions may use all of it).
    #[arg(long, default_value = "1", value_parser = parse_share)]
    aws_rate_share: f64,
    /// Share (0–1] of every bucket for resyncs, drift checks and sweeps (as `ecs-operator
    /// run`).
    #[arg(long, default_value = "0.5", value_parser = parse_share)]
    aws_background_share: f64,
    /// Enforce AWS's token buckets in the fake (an empty bucket answers a throttling
    /// error), as aws-fault-proxy's `enforce_aws_limits` does in front of moto.
    #[arg(long)]
    aws_limits: bool,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ecs-operator-on-fake: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = match cli.command {
        Command::Crds => ecs_operator::api::crds_yaml()
            .map(|yaml| print!("{yaml}"))
            .context("rendering the CRDs"),
        Command::Version => {
            println!("ecs-operator-on-fake {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::FakeOnly {
            services,
            task_defs,
        } => populate::run_alone(services, task_defs)
            .and_then(|r| serde_json::to_string(&r).context("serializing the report"))
            .map(|line| println!("{line}")),
        Command::Run(args) => runtime.block_on(run(*args)),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ecs-operator-on-fake: {e:#}");
            std::process::ExitCode::FAILURE
        }
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
    if rustls::crypto::ring::default_provider()
        .install_default()
        .is_err()
    {
        tracing::debug!("a rustls crypto provider was already installed");
    }
    let fake = FakeAws::new();
    // The gate counts every call; the fake's own log would grow for the whole run.
    fake.set_call_log(false);
    let counter = CallCounter::new(args.aws_limits);
    fake.set_call_gate(Some(counter.gate()));
    let (restart_tx, mut restart_rx) = mpsc::channel::<RestartRequest>(1);
    let shared = Arc::new(Shared {
        fake: fake.clone(),
        counter,
        metrics: RwLock::new(Metrics::default()),
        restart: restart_tx,
    });
    let health = Health::default();
    let shutdown = shutdown_signal().boxed().shared();
    let server = tokio::spawn(control::serve(
        args.metrics_addr,
        args.health_addr,
        shared.clone(),
        health.clone(),
        shutdown.clone(),
    ));
    info!(aws_limits = args.aws_limits, namespaces = ?args.watch_namespaces, "starting on the fake AWS");

    let mut answer: Option<RestartRequest> = None;
    loop {
        // What a fresh operator process builds: everything but the fake.
        let metrics = Metrics::default();
        shared.set_metrics(metrics.clone());
        let client = kube::Client::try_default()
            .await
            .context("connecting to Kubernetes")?;
        let aws: Arc<dyn AwsProvider> = Arc::new(
            GuardedProvider::new(Arc::new(fake.clone()), metrics.clone(), args.aws_rate_share)
                .with_background_share(args.aws_background_share),
        );
        let settings = Settings {
            cluster_id: args.cluster_id.clone(),
            resync_period: args.resync_period,
            ..Default::default()
        };
        let ctx = Arc::new(Context::new(client, aws, settings, metrics));
        health.set_ready(true);
        let stop = Arc::new(Notify::new());
        let stopped = {
            let (stop, shutdown) = (stop.clone(), shutdown.clone());
            async move {
                tokio::select! {
                    _ = stop.notified() => {},
                    _ = shutdown => {},
                }
            }
        };
        let controllers = controllers::run(
            ctx,
            args.watch_namespaces.clone(),
            args.concurrency,
            stopped,
        );
        tokio::pin!(controllers);
        if let Some(a) = answer.take() {
            let _ = a.send(());
        }
        tokio::select! {
            _ = &mut controllers => break,
            request = restart_rx.recv() => {
                info!("restarting the controllers (the fake AWS keeps its state)");
                // Stored before the controllers stop: `notify_one` keeps the permit.
                stop.notify_one();
                controllers.await;
                answer = request;
                if answer.is_none() {
                    break;
                }
            }
        }
    }
    server.await.context("HTTP server task")??;
    Ok(())
}
