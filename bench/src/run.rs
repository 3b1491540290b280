//! One run: a fresh sandbox, one operator behind its own proxy (or on the in-memory fake
//! AWS), the workload applied, and the phases measured one after the other (creation,
//! steady state, edits, restarts).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, DynamicObject, PostParams};

use crate::fake::{self, FakeControl};
use crate::http;
use crate::measure::{self, ReadyTracker, Snapshot};
use crate::moto::{family_of, Moto};
use crate::operators::{LaunchSpec, Operator};
use crate::process::{self, Process};
use crate::proxy::{Limits, Proxy};
use crate::report::{percentile, Converge, Edit, Restarts, RunResult, Steady};
use crate::sandbox::Sandbox;
use crate::view::{AwsView, Calls};
use crate::workload::Workload;

/// The namespace every run's objects live in.
pub const NAMESPACE: &str = "bench";

/// Creates in flight at once while applying the workload.
const APPLY_PARALLELISM: usize = 16;

/// The binaries and files a run needs.
#[derive(Debug, Clone)]
pub struct Tools {
    /// The repository root (hack/sandbox.sh).
    pub root: PathBuf,
    /// ecs-operator.
    pub ecs_operator: PathBuf,
    /// aws-fault-proxy.
    pub proxy: PathBuf,
    /// ecs-operator-on-fake (the controllers on the in-memory fake AWS).
    pub ecs_operator_fake: PathBuf,
    /// ACK's controller and its CRDs (`crds/`), when ACK is benchmarked.
    pub ack_dir: Option<PathBuf>,
}

/// The settings of a run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Reconciles at once per kind.
    pub concurrency: u32,
    /// Resync period.
    pub resync: Duration,
    /// Resync periods of the steady window.
    pub steady_periods: u32,
    /// Pause between convergence and the steady window.
    pub settle: Duration,
    /// Task definitions edited.
    pub edits: u32,
    /// Per edit.
    pub edit_timeout: Duration,
    /// Operator restarts.
    pub restarts: u32,
    /// desiredCount of the services and moto's running count.
    pub desired_count: u32,
    /// Creation timeout; default from N.
    pub converge_timeout: Option<Duration>,
}

/// Prints a progress line on stderr.
pub fn progress(msg: &str) {
    let now = jiff::Timestamp::now().strftime("%H:%M:%S");
    eprintln!("[ecs-bench {now}] {msg}");
}

/// Runs `op` at `n` services in `limits` mode in `dir`; a failure stops the run and is
/// recorded in its result, with whatever was measured until then.
pub async fn run(
    tools: &Tools,
    settings: &Settings,
    op: Operator,
    n: u32,
    limits: Limits,
    dir: &Path,
) -> RunResult {
    let w = Workload::new(n, settings.desired_count);
    let mut result = RunResult {
        operator: op.name().into(),
        n,
        task_defs: w.task_defs,
        objects: w.objects(),
        mode: limits.name().into(),
        ..RunResult::default()
    };
    let start = Instant::now();
    result.load_at_start = crate::report::load_average();
    if let Err(e) = phases(tools, settings, op, &w, limits, dir, &mut result).await {
        progress(&format!("{op} N={n} {}: failed: {e:#}", limits.name()));
        result.error = Some(format!("{e:#}"));
    }
    result.wall_seconds = start.elapsed().as_secs_f64();
    result
}

/// An operator process with its ports.
struct Running {
    process: Process,
    spec: LaunchSpec,
    op: Operator,
    log: PathBuf,
}

impl Running {
    async fn start(op: Operator, spec: LaunchSpec, log: PathBuf) -> Result<Running> {
        let mut cmd = Command::new(&spec.binary);
        cmd.args(op.args(&spec)).env_clear().envs(op.env(&spec));
        let process = Process::spawn(op.name(), cmd, &log)?;
        let mut running = Running {
            process,
            spec,
            op,
            log,
        };
        running.wait_ready().await?;
        Ok(running)
    }

    /// Polls the readiness endpoint until it answers 200.
    async fn wait_ready(&mut self) -> Result<()> {
        let url = format!(
            "http://127.0.0.1:{}{}",
            self.spec.health_port,
            self.op.readiness_path()
        );
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            self.process
                .check_running()
                .with_context(|| format!("see {}", self.log.display()))?;
            if let Ok((200, _)) = http::get(&url, Duration::from_secs(2)).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} not ready at {url} after 120 s (see {})",
                    self.op,
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The operator's own AWS call counter (0 while the metric has no samples yet; `None`
    /// when the endpoint does not answer).
    async fn own_calls(&self) -> Option<f64> {
        let url = format!("http://127.0.0.1:{}/metrics", self.spec.metrics_port);
        match http::get(&url, Duration::from_secs(10)).await {
            Ok((200, text)) => Some(http::sum_metric(&text, self.op.calls_metric()).unwrap_or(0.0)),
            _ => None,
        }
    }

    async fn snapshot(&mut self, calls: &mut Calls) -> Result<Snapshot> {
        self.process
            .check_running()
            .with_context(|| format!("see {}", self.log.display()))?;
        let at = Instant::now();
        let cpu_seconds = process::cpu_seconds(self.process.pid())?;
        let summary = calls.summary().await?;
        let own_calls = self.own_calls().await;
        Ok(Snapshot {
            at,
            proxy: summary,
            cpu_seconds,
            own_calls,
        })
    }
}

async fn phases(
    tools: &Tools,
    settings: &Settings,
    op: Operator,
    w: &Workload,
    limits: Limits,
    dir: &Path,
    result: &mut RunResult,
) -> Result<()> {
    let label = format!("{op} N={} {}", w.services, limits.name());
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    progress(&format!("{label}: sandbox up in {}", dir.display()));
    let sandbox = Sandbox::up(
        &tools.root,
        &dir.join("sandbox"),
        settings.desired_count,
        &dir.join("sandbox-up.log"),
    )
    .await?;
    let binary = install_crds(tools, op, &sandbox, dir).await?;
    result.operator_version = operator_version(op, &binary).await;
    sandbox.kubectl(&["create", "namespace", NAMESPACE]).await?;

    let metrics_port = free_port()?;
    // On the fake, AWS is inside the operator's process: its calls are counted and its
    // state read there (moto idles in the sandbox).
    let (mut calls, aws) = if op.on_fake() {
        let control = FakeControl::new(metrics_port);
        (Calls::Fake(control.clone()), AwsView::Fake(control))
    } else {
        let moto_url = sandbox.moto_url()?;
        let proxy = Proxy::start(&tools.proxy, &moto_url, limits, dir).await?;
        (
            Calls::Proxy(proxy),
            AwsView::Moto(Moto::new(&moto_url).await),
        )
    };
    let client = sandbox.client().await?;
    let spec = LaunchSpec {
        binary: binary.clone(),
        kubeconfig: sandbox.kubeconfig(),
        aws_endpoint: calls.endpoint(),
        enforce_aws_limits: limits == Limits::AwsBuckets,
        namespace: NAMESPACE.into(),
        concurrency: settings.concurrency,
        resync: settings.resync,
        metrics_port,
        health_port: free_port()?,
    };
    let mut operator = Running::start(op, spec.clone(), dir.join("operator.log")).await?;
    // Let it finish starting (informers, STS for ACK) before the clock starts.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Creation.
    let tracker = ReadyTracker::start(&client, NAMESPACE, op, w.objects() as usize);
    let s0 = operator.snapshot(&mut calls).await?;
    let timeout = settings
        .converge_timeout
        .unwrap_or(Duration::from_secs(300 + u64::from(w.services)));
    progress(&format!("{label}: applying {} objects", w.objects()));
    let t0 = Instant::now();
    let deadline = t0 + timeout;
    apply(&client, op, w).await?;
    let all_ready = tracker.wait_all_ready(deadline).await;
    let present = match all_ready {
        Some(_) => measure::wait_present_in_aws(&aws, w, deadline).await?,
        None => None,
    };
    let s1 = operator.snapshot(&mut calls).await?;
    // Ready, and seen in AWS by a check that started then or later.
    let converged_at = match (all_ready, present) {
        (Some(r), Some(p)) => Some(r.max(p)),
        _ => None,
    };
    let converge = Converge {
        converged: converged_at.is_some(),
        seconds: converged_at
            .unwrap_or(s1.at)
            .duration_since(t0)
            .as_secs_f64(),
        ready: u32::try_from(tracker.ready_count()).unwrap_or(u32::MAX),
        phase: measure::window(&s0, &s1),
    };
    progress(&format!(
        "{label}: {} in {:.1} s, {} AWS calls",
        if converge.converged {
            "converged"
        } else {
            "NOT converged"
        },
        converge.seconds,
        converge.phase.aws_calls
    ));
    let converged = converge.converged;
    result.converge = Some(converge);
    drop(tracker);
    if !converged {
        bail!("not every object was ready and in AWS within {timeout:?}");
    }

    // Steady state.
    tokio::time::sleep(settings.settle).await;
    let s2 = operator.snapshot(&mut calls).await?;
    progress(&format!(
        "{label}: steady state for {} × {} s",
        settings.steady_periods,
        settings.resync.as_secs()
    ));
    tokio::time::sleep(settings.resync * settings.steady_periods).await;
    let s3 = operator.snapshot(&mut calls).await?;
    let phase = measure::window(&s2, &s3);
    result.steady = Some(Steady {
        periods: settings.steady_periods,
        calls_per_object_per_resync: phase.aws_calls as f64
            / f64::from(w.objects())
            / f64::from(settings.steady_periods.max(1)),
        phase,
    });

    // Task definition edits.
    result.edit = Some(edits(&client, op, w, &aws, settings, &label).await?);
    result.peak_rss_mib = Some(process::peak_rss_mib(operator.process.pid())?);

    // Restarts.
    progress(&format!("{label}: {} restarts", settings.restarts));
    result.restarts = Some(match &calls {
        Calls::Proxy(proxy) => restarts(&mut operator, proxy, w, settings).await?,
        Calls::Fake(control) => restarts_in_process(&mut operator, control, w, settings).await?,
    });

    operator.process.stop(Duration::from_secs(10)).await?;
    calls.stop().await?;
    if op.on_fake() {
        // After the operator has gone: the fake alone, in a process of its own.
        progress(&format!("{label}: measuring the fake AWS's memory alone"));
        result.fake_state = Some(fake::measure_state(&binary, w).await?);
    }
    progress(&format!("{label}: done"));
    Ok(())
}

/// Applies the operator's CRDs and returns its binary.
async fn install_crds(
    tools: &Tools,
    op: Operator,
    sandbox: &Sandbox,
    dir: &Path,
) -> Result<PathBuf> {
    let (binary, crds) = match op {
        Operator::EcsOperator | Operator::EcsOperatorFake => {
            let binary = if op.on_fake() {
                tools.ecs_operator_fake.clone()
            } else {
                tools.ecs_operator.clone()
            };
            let mut cmd = Command::new(&binary);
            cmd.arg("crds");
            let yaml = process::run(cmd).await?;
            let file = dir.join("crds.yaml");
            std::fs::write(&file, yaml).with_context(|| format!("writing {}", file.display()))?;
            (binary, file)
        }
        Operator::Ack => {
            let ack = tools.ack_dir.as_ref().context("ACK was not built")?;
            (ack.join("ack-ecs-controller"), ack.join("crds"))
        }
    };
    let crds = crds.to_string_lossy().into_owned();
    sandbox
        .kubectl(&["apply", "--server-side", "-f", &crds])
        .await?;
    sandbox
        .kubectl(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd",
            "--all",
        ])
        .await?;
    Ok(binary)
}

async fn operator_version(op: Operator, binary: &Path) -> String {
    match op {
        Operator::EcsOperator | Operator::EcsOperatorFake => {
            let mut cmd = Command::new(binary);
            cmd.arg("version");
            process::run(cmd)
                .await
                .map_or_else(|_| "unknown".into(), |v| v.trim().to_string())
        }
        Operator::Ack => "v1.2.1".into(),
    }
}

/// Creates every object: the cluster, then the task definitions, then the services (each
/// group with several creates in flight), as a `kubectl apply` of one file would order them.
async fn apply(client: &kube::Client, op: Operator, w: &Workload) -> Result<()> {
    let manifests = w.manifests(op, NAMESPACE);
    for role in crate::operators::Role::ALL {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), NAMESPACE, &op.kind(role).api_resource());
        let objects: Vec<DynamicObject> = manifests
            .iter()
            .filter(|(r, _)| *r == role)
            .map(|(_, m)| serde_json::from_value(m.clone()))
            .collect::<Result<_, _>>()
            .context("building the objects")?;
        futures::stream::iter(objects)
            .map(|obj| {
                let api = api.clone();
                async move {
                    let name = obj.metadata.name.clone().unwrap_or_default();
                    api.create(&PostParams::default(), &obj)
                        .await
                        .with_context(|| format!("creating {name}"))
                }
            })
            .buffer_unordered(APPLY_PARALLELISM)
            .try_collect::<Vec<_>>()
            .await?;
    }
    Ok(())
}

/// Edits task definitions one after the other, spread over the families; after an edit
/// whose services never rolled, the rest are skipped (they would not either).
async fn edits(
    client: &kube::Client,
    op: Operator,
    w: &Workload,
    aws: &AwsView,
    settings: &Settings,
    label: &str,
) -> Result<Edit> {
    let count = settings.edits.clamp(1, w.task_defs);
    let mut latencies = Vec::new();
    let mut services = 0;
    let mut not_rolled = 0;
    let mut done = 0;
    for e in 0..count {
        let t = e * w.task_defs / count;
        progress(&format!(
            "{label}: editing task definition {}",
            w.task_def_name(t)
        ));
        let rolled =
            measure::edit_rollout(client, NAMESPACE, op, w, aws, t, settings.edit_timeout).await?;
        done += 1;
        services += rolled.len() as u32;
        not_rolled += rolled.iter().filter(|r| r.is_none()).count() as u32;
        let any = rolled.iter().any(Option::is_some);
        latencies.extend(rolled.into_iter().flatten());
        if !any {
            break;
        }
    }
    Ok(Edit {
        edits: done,
        services,
        p50_seconds: percentile(&latencies, 50.0),
        max_seconds: percentile(&latencies, 100.0),
        latencies_seconds: latencies,
        not_rolled,
        timeout_seconds: settings.edit_timeout.as_secs(),
    })
}

/// Restarts the operator `settings.restarts` times. After each start, waits until every
/// task definition family has been named in an AWS call again, or listed by a bulk
/// listing (the operator looked at them: that is when a careless one registers a
/// revision), plus a grace of 3 s, or one resync period + 10 s. Counts
/// RegisterTaskDefinition calls over all of it.
async fn restarts(
    operator: &mut Running,
    proxy: &Proxy,
    w: &Workload,
    settings: &Settings,
) -> Result<Restarts> {
    let mut tail = proxy.tail()?;
    let families: std::collections::BTreeSet<String> =
        (0..w.task_defs).map(|t| w.task_def_name(t)).collect();
    let mut out = Restarts {
        restarts: settings.restarts,
        ..Restarts::default()
    };
    let count = |lines: &[crate::proxy::RecordLine], out: &mut Restarts| {
        for l in lines {
            if l.operation == "RegisterTaskDefinition" {
                out.register_calls += 1;
                if l.succeeded() {
                    out.revisions_registered += 1;
                }
            }
            if crate::proxy::is_write(&format!("x:{}", l.operation)) {
                out.writes += 1;
            }
        }
    };
    for _ in 0..settings.restarts {
        operator.process.stop(Duration::from_secs(10)).await?;
        count(&tail.read_new()?, &mut out);
        let started_ms = unix_ms();
        let started = Instant::now();
        *operator =
            Running::start(operator.op, operator.spec.clone(), operator.log.clone()).await?;
        let deadline = started + settings.resync + Duration::from_secs(10);
        let mut seen = std::collections::BTreeSet::new();
        let complete = loop {
            let lines = tail.read_new()?;
            count(&lines, &mut out);
            let mut bulk = false;
            for l in lines.iter().filter(|l| l.t_ms >= started_ms) {
                match &l.resource {
                    Some(r) if families.contains(family_of(r)) => {
                        seen.insert(family_of(r).to_string());
                    }
                    None => bulk |= is_bulk_task_def_listing(&l.operation),
                    Some(_) => {}
                }
            }
            if bulk || seen.len() == families.len() {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        out.wait_seconds.push(started.elapsed().as_secs_f64());
        if !complete {
            out.incomplete += 1;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    count(&tail.read_new()?, &mut out);
    Ok(out)
}

/// Restarts of ecs-operator-on-fake: its controllers, inside the process (the fake AWS
/// would not survive the process). The fake's call gate sees operations, not the families
/// they name, so after each start this waits until the operator has listed the revisions
/// of as many families as there are (a task definition's reconcile ends with that listing,
/// after it decided whether to register), or until its first bulk sweep (one resync period
/// after the start: the listing of every family's revisions, then ListServices, which
/// nothing else in this workload calls), plus 3 s, or at most one resync period + 10 s.
/// RegisterTaskDefinition calls and new revisions come from the fake.
async fn restarts_in_process(
    operator: &mut Running,
    control: &FakeControl,
    w: &Workload,
    settings: &Settings,
) -> Result<Restarts> {
    let count = |s: &crate::proxy::Summary, op: &str| s.calls.get(op).map_or(0, |c| c.total);
    let writes = |s: &crate::proxy::Summary| -> u64 {
        s.calls
            .iter()
            .filter(|(k, _)| crate::proxy::is_write(k))
            .map(|(_, c)| c.total)
            .sum()
    };
    let first = control.summary().await?;
    let revisions_before = control.revisions_registered().await?;
    let mut out = Restarts {
        restarts: settings.restarts,
        ..Restarts::default()
    };
    for _ in 0..settings.restarts {
        operator
            .process
            .check_running()
            .with_context(|| format!("see {}", operator.log.display()))?;
        let before = control.summary().await?;
        let started = Instant::now();
        control.restart().await?;
        let deadline = started + settings.resync + Duration::from_secs(10);
        let complete = loop {
            let now = control.summary().await?;
            let listed =
                count(&now, "ecs:ListTaskDefinitions") - count(&before, "ecs:ListTaskDefinitions");
            let swept = count(&now, "ecs:ListServices") > count(&before, "ecs:ListServices");
            if listed >= u64::from(w.task_defs) || swept {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        out.wait_seconds.push(started.elapsed().as_secs_f64());
        if !complete {
            out.incomplete += 1;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let last = control.summary().await?;
    out.register_calls =
        count(&last, "ecs:RegisterTaskDefinition") - count(&first, "ecs:RegisterTaskDefinition");
    out.revisions_registered = control
        .revisions_registered()
        .await?
        .saturating_sub(revisions_before);
    out.writes = writes(&last).saturating_sub(writes(&first));
    Ok(out)
}

/// A listing of every task definition or family of the region (no family named): an
/// operator that observes in bulk has looked at all families with it.
fn is_bulk_task_def_listing(operation: &str) -> bool {
    matches!(
        operation,
        "ListTaskDefinitions" | "ListTaskDefinitionFamilies"
    )
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A free port on 127.0.0.1 (bound and released; the operator binds it right after).
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}
