//! `aws-fault-proxy --listen ADDR --upstream URL [--rules FILE] [--seed N] [--record FILE]`

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use aws_fault_proxy::stats::render_table;
use aws_fault_proxy::{Proxy, ProxyConfig, Rules};
use clap::Parser;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

/// A fault-injecting proxy between the AWS SDK and moto (dev/test tool).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; port 0 picks a free one (printed as `listening on ADDR`).
    #[arg(long)]
    listen: SocketAddr,
    /// Where to forward calls, e.g. http://127.0.0.1:5000 (moto).
    #[arg(long)]
    upstream: String,
    /// Rules JSON file (faults, AWS limits); without it every call passes through.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Seed of the fault decisions: the same seed and request order give the same faults.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Append every call to this JSONL file (truncated at start).
    #[arg(long)]
    record: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    // Logs go to stderr: stdout carries only the `listening on` line and the summary,
    // which test harnesses parse.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AWS_FAULT_PROXY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aws-fault-proxy: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let rules = match &args.rules {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--rules {}: {e}", path.display()))?;
            Rules::from_json(&text).map_err(|e| format!("--rules {}: {e}", path.display()))?
        }
        None => Rules::default(),
    };
    let proxy = Proxy::new(ProxyConfig {
        upstream: args.upstream,
        rules,
        seed: args.seed,
        record_path: args.record,
    })?;
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("--listen {}: {e}", args.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("--listen {}: {e}", args.listen))?;
    // Install the handlers before announcing the port, so a harness that reads the line
    // and then sends SIGTERM always gets the summary.
    let mut term = signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM handler: {e}"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT handler: {e}"))?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {addr}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("stdout: {e}"))?;
    proxy
        .serve(listener, async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
        .await;
    write!(stdout, "{}", render_table(&proxy.summary()))
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("stdout: {e}"))?;
    Ok(())
}
