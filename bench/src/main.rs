//! `ecs-bench`: ecs-operator and ACK's ECS controller v1.2.1 side by side, one after the
//! other, each on a fresh kube-apiserver + moto (hack/sandbox.sh) behind its own
//! aws-fault-proxy, with equal concurrency and resync; and ecs-operator alone on the
//! in-memory fake AWS (ecs-operator-on-fake) for N = 10,000. Prints Markdown tables and
//! writes JSON to bench/results/. See bench/README.md.

mod fake;
mod http;
mod measure;
mod moto;
mod operators;
mod process;
mod proxy;
mod report;
mod run;
mod sandbox;
mod view;
mod workload;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;

use operators::Operator;
use proxy::Limits;
use report::{Config, Machine, Results};
use run::{progress, Settings, Tools};

/// Benchmark ecs-operator against ACK's ECS controller v1.2.1.
#[derive(Parser, Debug)]
#[command(name = "ecs-bench")]
struct Args {
    /// Numbers of services (over N/10 task definitions, one cluster).
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    n: Vec<u32>,
    /// Operators to run: ecs-operator, ack, ecs-operator-fake (ecs-operator's controllers
    /// on the in-memory fake AWS instead of moto, for N = 10,000).
    #[arg(long, value_delimiter = ',', default_value = "ecs-operator,ack", value_parser = Operator::parse)]
    operators: Vec<Operator>,
    /// Bucket modes: unlimited (moto never throttles), aws-limits (the proxy enforces
    /// AWS's token buckets).
    #[arg(long, value_delimiter = ',', default_value = "unlimited,aws-limits", value_parser = Limits::parse)]
    modes: Vec<Limits>,
    /// Reconciles at once per kind, for both operators.
    #[arg(long, default_value_t = 4)]
    concurrency: u32,
    /// Resync period in seconds, for both operators.
    #[arg(long, default_value_t = 30)]
    resync_seconds: u64,
    /// Resync periods the steady state is measured over.
    #[arg(long, default_value_t = 3)]
    steady_periods: u32,
    /// Seconds between convergence and the steady window.
    #[arg(long, default_value_t = 5)]
    settle_seconds: u64,
    /// Task definitions edited, one after the other (each is used by 10 services).
    #[arg(long, default_value_t = 3)]
    edits: u32,
    /// Seconds an edit's services may take to reach the new revision.
    #[arg(long, default_value_t = 60)]
    edit_timeout_seconds: u64,
    /// Operator restarts over which RegisterTaskDefinition calls are counted.
    #[arg(long, default_value_t = 10)]
    restarts: u32,
    /// desiredCount of every service (moto reports this many running tasks).
    #[arg(long, default_value_t = 1)]
    desired_count: u32,
    /// Seconds allowed for apply → all ready (default 300 + N).
    #[arg(long)]
    converge_timeout_seconds: Option<u64>,
    /// Results file (default bench/results/<date>-<machine>.json; a .md with the tables
    /// is written beside it).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Machine name in the results (default: the host name).
    #[arg(long)]
    machine: Option<String>,
    /// Where sandboxes, logs and proxy records go (default: a new directory in $TMPDIR).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Where ACK is built and cached.
    #[arg(long, default_value = "~/.cache/ecs-operator/ack-v1.2.1")]
    ack_dir: String,
    /// The script that builds ACK (default ../shared/peers/build-ack.sh from the
    /// repository root).
    #[arg(long)]
    ack_build_script: Option<PathBuf>,
    /// Do not build ecs-operator and aws-fault-proxy (use the ones beside this binary).
    #[arg(long)]
    no_build: bool,
    /// A quick check that the harness works: N=10, ecs-operator only, no limits, 5 s
    /// resync, one steady period, one edit, two restarts; results in the work dir. Exits
    /// non-zero when the run fails or does not converge.
    #[arg(long)]
    smoke: bool,
    /// The same quick check on the in-memory fake AWS: N=20, ecs-operator-fake only, AWS's
    /// buckets enforced by the fake, the same short phases.
    #[arg(long)]
    smoke_fake: bool,
    /// Print the tables of an earlier results file and exit.
    #[arg(long)]
    render: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let outcome = tokio::select! {
        r = main_inner(args) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    // Returning drops every sandbox and process guard first.
    if let Err(e) = outcome {
        eprintln!("ecs-bench: {e:#}");
        std::process::exit(1);
    }
}

async fn main_inner(mut args: Args) -> Result<()> {
    if let Some(path) = &args.render {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let results: Results = serde_json::from_str(&text).context("parsing the results")?;
        print!("{}", report::render(&results));
        return Ok(());
    }
    if args.smoke || args.smoke_fake {
        if args.smoke_fake {
            args.n = vec![20];
            args.operators = vec![Operator::EcsOperatorFake];
            args.modes = vec![Limits::AwsBuckets];
        } else {
            args.n = vec![10];
            args.operators = vec![Operator::EcsOperator];
            args.modes = vec![Limits::Unlimited];
        }
        args.smoke = true;
        args.resync_seconds = 5;
        args.steady_periods = 1;
        args.settle_seconds = 1;
        args.edits = 1;
        args.restarts = 2;
    }
    let root = repo_root();
    let exe_dir = std::env::current_exe()
        .context("locating ecs-bench")?
        .parent()
        .context("ecs-bench has no directory")?
        .to_path_buf();
    let profile = profile_of(&exe_dir);
    let wants_fake = args.operators.iter().any(|o| o.on_fake());
    let wants_moto = args.operators.iter().any(|o| !o.on_fake());
    if !args.no_build {
        // <target dir>/<profile>/ecs-bench
        let target_dir = exe_dir.parent().unwrap_or(&exe_dir);
        if wants_moto {
            build(&root, &profile, target_dir).await?;
        }
        if wants_fake {
            build_fake(&root, &profile, target_dir).await?;
        }
    }
    let wants_ack = args.operators.contains(&Operator::Ack);
    let ack_dir = if wants_ack {
        Some(build_ack(&root, &args).await?)
    } else {
        None
    };
    let tools = Tools {
        root: root.clone(),
        ecs_operator: exe_dir.join("ecs-operator"),
        proxy: exe_dir.join("aws-fault-proxy"),
        ecs_operator_fake: exe_dir.join("ecs-operator-on-fake"),
        ack_dir,
    };
    let mut needed = Vec::new();
    if wants_moto {
        needed.extend([&tools.ecs_operator, &tools.proxy]);
    }
    if wants_fake {
        needed.push(&tools.ecs_operator_fake);
    }
    for bin in needed {
        if !bin.exists() {
            bail!("{} is missing (drop --no-build?)", bin.display());
        }
    }
    let settings = Settings {
        concurrency: args.concurrency,
        resync: Duration::from_secs(args.resync_seconds.max(1)),
        steady_periods: args.steady_periods.max(1),
        settle: Duration::from_secs(args.settle_seconds),
        edits: args.edits,
        edit_timeout: Duration::from_secs(args.edit_timeout_seconds),
        restarts: args.restarts,
        desired_count: args.desired_count.max(1),
        converge_timeout: args.converge_timeout_seconds.map(Duration::from_secs),
    };
    let now = jiff::Timestamp::now();
    let work_dir = match &args.work_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("ecs-bench-{}", now.strftime("%Y%m%d-%H%M%S"))),
    };
    let machine = Machine::detect(args.machine.clone());
    let (git_commit, git_dirty) = git_state(&root).await;
    let mut results = Results {
        started_at: now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        git_commit,
        git_dirty,
        profile: profile.clone(),
        machine,
        config: Config {
            concurrency: settings.concurrency,
            resync_seconds: settings.resync.as_secs(),
            steady_periods: settings.steady_periods,
            settle_seconds: args.settle_seconds,
            edits: settings.edits,
            edit_timeout_seconds: args.edit_timeout_seconds,
            restarts: settings.restarts,
            desired_count: settings.desired_count,
        },
        runs: Vec::new(),
    };
    let out = match &args.out {
        Some(p) => p.clone(),
        None if args.smoke => work_dir.join("results.json"),
        None => root.join("bench/results").join(format!(
            "{}-{}.json",
            now.strftime("%Y-%m-%d"),
            sanitize(&results.machine.name)
        )),
    };
    progress(&format!(
        "work dir {}; results {}; machine {}",
        work_dir.display(),
        out.display(),
        results.machine.describe()
    ));
    for &n in &args.n {
        let sweep = report::sweep_read_seconds(n);
        if args.operators.iter().any(|o| *o != Operator::Ack)
            && sweep > settings.resync.as_secs_f64()
        {
            progress(&format!(
                "warning: at N={n} ecs-operator's bulk sweep needs {sweep:.0} s of the \
                 DescribeServices bucket per resync period of {} s: reads stay throttled \
                 client-side and creation crawls (raise --resync-seconds)",
                settings.resync.as_secs()
            ));
        }
        for &limits in &args.modes {
            for &op in &args.operators {
                let dir = work_dir.join(format!("{n}-{}-{}", limits.name(), op.name()));
                let r = run::run(&tools, &settings, op, n, limits, &dir).await;
                results.runs.push(r);
                // Written after every run: a long benchmark interrupted keeps what it has.
                write_results(&results, &out)?;
            }
        }
    }
    let tables = report::render(&results);
    println!("{tables}");
    progress(&format!("results written to {}", out.display()));
    let failed: Vec<String> = results
        .runs
        .iter()
        .filter(|r| r.error.is_some() || !r.converge.as_ref().is_some_and(|c| c.converged))
        .map(|r| format!("{} N={} {}", r.operator, r.n, r.mode))
        .collect();
    if !failed.is_empty() {
        bail!("runs failed or did not converge: {}", failed.join(", "));
    }
    Ok(())
}

/// The repository root (this crate's parent directory).
fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map_or(manifest.clone(), Path::to_path_buf)
}

/// The cargo profile a binary in `dir` was built with (`target/debug` is `dev`).
fn profile_of(dir: &Path) -> String {
    match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".into(),
        Some(other) => other.into(),
    }
}

/// Builds ecs-operator and aws-fault-proxy with this binary's profile (they land beside it).
async fn build(root: &Path, profile: &str, target_dir: &Path) -> Result<()> {
    progress(&format!(
        "building ecs-operator and aws-fault-proxy (profile {profile})"
    ));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--profile", profile])
        .args(["-p", "ecs-operator", "-p", "aws-fault-proxy", "--bins"]);
    scrub_cargo_run_env(&mut cmd, target_dir);
    let status = tokio::task::spawn_blocking(move || cmd.status())
        .await
        .context("joining a blocking task")?
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build of ecs-operator and aws-fault-proxy failed");
    }
    Ok(())
}

/// Builds ecs-operator-on-fake with this binary's profile, in a cargo invocation of its
/// own: built together with `-p ecs-operator`, cargo would unify the operator library's
/// `test-support` feature (the fake) into the shipped binary as well.
async fn build_fake(root: &Path, profile: &str, target_dir: &Path) -> Result<()> {
    progress(&format!(
        "building ecs-operator-on-fake (profile {profile})"
    ));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--profile", profile])
        .args(["-p", "bench", "--bin", "ecs-operator-on-fake"]);
    scrub_cargo_run_env(&mut cmd, target_dir);
    let status = tokio::task::spawn_blocking(move || cmd.status())
        .await
        .context("joining a blocking task")?
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build of ecs-operator-on-fake failed");
    }
    Ok(())
}

/// Removes what `cargo run` / `cargo test` put into this process's environment for the
/// benchmark itself (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, the target dir in
/// `LD_LIBRARY_PATH`, ...). Build scripts such as ring's declare
/// `rerun-if-env-changed=CARGO_MANIFEST_DIR`: a nested cargo that inherited them would see
/// a changed environment and rebuild half the dependency tree, and the next plain build
/// would rebuild it back.
fn scrub_cargo_run_env(cmd: &mut Command, target_dir: &Path) {
    for (key, value) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if is_cargo_run_var(key) {
            cmd.env_remove(key);
        } else if key == "LD_LIBRARY_PATH" {
            let kept: Vec<PathBuf> = std::env::split_paths(&value)
                .filter(|p| !p.starts_with(target_dir))
                .collect();
            match std::env::join_paths(kept) {
                Ok(v) if !v.is_empty() => {
                    cmd.env(key, v);
                }
                _ => {
                    cmd.env_remove(key);
                }
            }
        }
    }
}

/// Whether cargo sets `key` for the crate it runs or tests (unlike settings for cargo
/// itself such as `CARGO_TARGET_DIR` or `CARGO_HOME`).
fn is_cargo_run_var(key: &str) -> bool {
    key.starts_with("CARGO_PKG_")
        || key.starts_with("CARGO_BIN_EXE_")
        || matches!(
            key,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_MANIFEST_LINKS"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "OUT_DIR"
        )
}

/// Builds ACK (cached: the script returns at once when it is there) and returns its dir.
async fn build_ack(root: &Path, args: &Args) -> Result<PathBuf> {
    let dir = expand_home(&args.ack_dir);
    let script = args
        .ack_build_script
        .clone()
        .unwrap_or_else(|| root.join("../shared/peers/build-ack.sh"));
    if !dir.join("ack-ecs-controller").exists() {
        progress(&format!(
            "building ACK v1.2.1 into {} ({})",
            dir.display(),
            script.display()
        ));
    }
    let mut cmd = Command::new(&script);
    cmd.arg(&dir);
    process::run(cmd)
        .await
        .with_context(|| format!("building ACK with {}", script.display()))?;
    Ok(dir)
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// `git rev-parse HEAD` and whether `git status --porcelain` lists anything.
async fn git_state(root: &Path) -> (String, bool) {
    let git = |args: &[&str]| {
        let mut cmd = Command::new("git");
        cmd.current_dir(root).args(args);
        process::run(cmd)
    };
    let commit = git(&["rev-parse", "HEAD"])
        .await
        .map_or_else(|_| "unknown".into(), |s| s.trim().to_string());
    let dirty = git(&["status", "--porcelain"])
        .await
        .is_ok_and(|s| !s.trim().is_empty());
    (commit, dirty)
}

fn write_results(results: &Results, out: &Path) -> Result<()> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let json = serde_json::to_string_pretty(results).context("serializing the results")?;
    std::fs::write(out, json + "\n").with_context(|| format!("writing {}", out.display()))?;
    let md = out.with_extension("md");
    std::fs::write(&md, report::render(results))
        .with_context(|| format!("writing {}", md.display()))?;
    Ok(())
}

/// A file-name-safe version of a machine name.
fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if s.is_empty() {
        "machine".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_and_names() {
        assert_eq!(profile_of(Path::new("/t/debug")), "dev");
        assert_eq!(profile_of(Path::new("/t/release")), "release");
        assert_eq!(sanitize("host.local"), "host-local");
        assert_eq!(sanitize(""), "machine");
        assert_eq!(expand_home("/abs"), PathBuf::from("/abs"));
    }

    #[test]
    fn cargo_run_variables() {
        assert!(is_cargo_run_var("CARGO_MANIFEST_DIR"));
        assert!(is_cargo_run_var("CARGO_PKG_NAME"));
        assert!(is_cargo_run_var("CARGO_BIN_EXE_ecs-bench"));
        assert!(!is_cargo_run_var("CARGO_TARGET_DIR"));
        assert!(!is_cargo_run_var("CARGO_HOME"));
        assert!(!is_cargo_run_var("CARGO"));
    }

    #[test]
    fn cli_defaults() {
        let a = Args::parse_from(["ecs-bench"]);
        assert_eq!(a.n, vec![100, 1000]);
        assert_eq!(a.operators, vec![Operator::EcsOperator, Operator::Ack]);
        assert_eq!(a.modes, vec![Limits::Unlimited, Limits::AwsBuckets]);
        let a = Args::parse_from([
            "ecs-bench",
            "--n",
            "10",
            "--operators",
            "ack",
            "--modes",
            "aws-limits",
        ]);
        assert_eq!(a.n, vec![10]);
        assert_eq!(a.operators, vec![Operator::Ack]);
        assert_eq!(a.modes, vec![Limits::AwsBuckets]);
        let a = Args::parse_from([
            "ecs-bench",
            "--n",
            "10000",
            "--operators",
            "ecs-operator-fake",
        ]);
        assert_eq!(a.operators, vec![Operator::EcsOperatorFake]);
    }
}
