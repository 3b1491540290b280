//! Results: the JSON written to bench/results/, the machine it ran on, and the Markdown
//! table (one per N and bucket mode, ecs-operator next to ACK with the ratio; ecs-operator
//! on the in-memory fake AWS in a column of its own, with notes on what differs).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// Everything one invocation measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// The repository's commit (`git rev-parse HEAD`) and whether the tree had changes.
    pub git_commit: String,
    /// Uncommitted changes in the tree when it ran.
    pub git_dirty: bool,
    /// Build profile of the binaries (release or dev).
    pub profile: String,
    /// The machine.
    pub machine: Machine,
    /// The settings shared by every run.
    pub config: Config,
    /// One per operator, N and bucket mode.
    pub runs: Vec<RunResult>,
}

/// The machine it ran on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    /// Host name (or `--machine`).
    pub name: String,
    /// CPUs available.
    pub nproc: usize,
    /// MemTotal in GiB.
    pub memory_gib: f64,
    /// `model name` of /proc/cpuinfo.
    pub cpu_model: String,
    /// 1-minute load average when the benchmark started (other work slows every figure).
    pub load_at_start: f64,
}

impl Machine {
    /// Reads /proc.
    pub fn detect(name: Option<String>) -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let name = name.unwrap_or_else(|| read("/proc/sys/kernel/hostname").trim().to_string());
        let mem_kib: f64 = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        let cpu_model = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == "model name").then(|| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        Machine {
            name,
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: (mem_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            cpu_model,
            load_at_start: load_average(),
        }
    }

    /// One line for the README.
    pub fn describe(&self) -> String {
        format!(
            "{} CPUs ({}), {:.1} GiB memory, load {:.2} at start",
            self.nproc, self.cpu_model, self.memory_gib, self.load_at_start
        )
    }
}

/// The 1-minute load average.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// The settings of every run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// Reconciles at once per kind, both operators.
    pub concurrency: u32,
    /// Resync period in seconds, both operators.
    pub resync_seconds: u64,
    /// Resync periods the steady state is measured over.
    pub steady_periods: u32,
    /// Pause between convergence and the steady window.
    pub settle_seconds: u64,
    /// Task definitions edited (one after the other).
    pub edits: u32,
    /// How long an edit's services may take to roll before they count as never.
    pub edit_timeout_seconds: u64,
    /// Operator restarts whose RegisterTaskDefinition calls are counted.
    pub restarts: u32,
    /// desiredCount of every service (= moto's MOTO_ECS_SERVICE_RUNNING).
    pub desired_count: u32,
}

/// One operator at one N in one bucket mode.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunResult {
    /// `ecs-operator` or `ack`.
    pub operator: String,
    /// What `version` says (ours) or the pinned version (ACK).
    pub operator_version: String,
    /// Services.
    pub n: u32,
    /// Task definitions.
    pub task_defs: u32,
    /// Kubernetes objects (cluster + task definitions + services).
    pub objects: u32,
    /// `unlimited` or `aws-limits`.
    pub mode: String,
    /// Wall-clock seconds of the whole run (sandbox to teardown).
    pub wall_seconds: f64,
    /// 1-minute load average of the machine when the run started.
    #[serde(default)]
    pub load_at_start: f64,
    /// Why the run stopped early, if it did.
    pub error: Option<String>,
    /// Apply → all ready and in AWS.
    pub converge: Option<Converge>,
    /// At rest.
    pub steady: Option<Steady>,
    /// Peak RSS over creation, steady state and edits, MiB.
    pub peak_rss_mib: Option<f64>,
    /// Task definition edits.
    pub edit: Option<Edit>,
    /// Restarts.
    pub restarts: Option<Restarts>,
    /// On the fake AWS: the fake's memory holding the workload, measured alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fake_state: Option<FakeState>,
}

/// The fake AWS's memory holding a run's workload (one cluster, the task definitions, the
/// services with completed deployments), in a process of its own without controllers:
/// its share of ecs-operator-on-fake's peak RSS.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FakeState {
    /// Services.
    pub services: u32,
    /// Task definition families.
    pub task_defs: u32,
    /// Anonymous resident memory (RssAnon) of that process before the fake held anything,
    /// MiB.
    pub baseline_rss_mib: f64,
    /// RssAnon with the workload in the fake, MiB.
    pub rss_mib: f64,
    /// The difference, MiB.
    pub fake_mib: f64,
}

/// AWS calls, CPU and time between two moments.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Phase {
    /// Seconds.
    pub seconds: f64,
    /// Calls through the proxy (every one, STS included).
    pub aws_calls: u64,
    /// Of which writes (not Describe/List/Get).
    pub writes: u64,
    /// Calls the proxy refused because an AWS bucket was empty.
    pub throttled: u64,
    /// CPU seconds of the operator process.
    pub cpu_seconds: f64,
    /// The operator's own AWS call counter over the same time (cross-check).
    pub own_metric_calls: Option<f64>,
    /// Calls per `service:Operation`.
    pub calls_by_operation: BTreeMap<String, u64>,
}

/// Apply → all objects ready and in AWS.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Converge {
    /// Whether every object became ready and present in AWS in time.
    pub converged: bool,
    /// Seconds from the first create until all were ready (or until the timeout).
    pub seconds: f64,
    /// Objects ready at the end.
    pub ready: u32,
    /// The counters over that time.
    pub phase: Phase,
}

/// The steady state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Steady {
    /// Resync periods measured.
    pub periods: u32,
    /// AWS calls per object per resync period.
    pub calls_per_object_per_resync: f64,
    /// The counters.
    pub phase: Phase,
}

/// Task definition edit → its services on the new revision.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Edit {
    /// Task definitions edited.
    pub edits: u32,
    /// Services using them.
    pub services: u32,
    /// Latency of each service that rolled within the timeout, seconds.
    pub latencies_seconds: Vec<f64>,
    /// Services that did not roll within the timeout.
    pub not_rolled: u32,
    /// Timeout per edit, seconds.
    pub timeout_seconds: u64,
    /// Median over rolled services.
    pub p50_seconds: Option<f64>,
    /// Slowest rolled service.
    pub max_seconds: Option<f64>,
}

/// Revisions registered over operator restarts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Restarts {
    /// Restarts done.
    pub restarts: u32,
    /// RegisterTaskDefinition calls seen by the proxy during them.
    pub register_calls: u64,
    /// Of which succeeded (new revisions).
    pub revisions_registered: u64,
    /// All writes during them.
    pub writes: u64,
    /// Seconds each restart took until every task definition had been looked at again.
    pub wait_seconds: Vec<f64>,
    /// Restarts after which not every task definition was looked at within the timeout.
    pub incomplete: u32,
}

/// The `p`-th percentile (0–100, nearest rank) of `values`.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

/// `a / b` when both are there and `b` is not 0.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    }
}

/// Steady-state AWS calls per object per resync of a run on the fake, with every bulk
/// listing counted as the pages AWS would answer it in (100 items a page, as the SDK
/// adapters ask): the fake answers ListServices and ListTaskDefinitions in one call, where
/// AWS (and the proxy in front of moto) sees one request per page. Every
/// ListTaskDefinitions at rest is taken for the bulk sweep of all ACTIVE revisions.
pub fn paged_steady_calls_per_object(r: &RunResult) -> Option<f64> {
    let s = r.steady.as_ref()?;
    let pages = |items: u32| u64::from(items.div_ceil(100).max(1));
    let count = |op: &str| s.phase.calls_by_operation.get(op).copied().unwrap_or(0);
    let extra = count("ecs:ListServices") * (pages(r.n) - 1)
        + count("ecs:ListTaskDefinitions") * (pages(r.task_defs) - 1);
    Some(
        (s.phase.aws_calls + extra) as f64
            / f64::from(r.objects.max(1))
            / f64::from(s.periods.max(1)),
    )
}

/// Seconds of AWS's DescribeServices bucket (20 a second) that ecs-operator's bulk sweep
/// of `n` services takes at its 0.8 share: one DescribeServices per 10 services, plus the
/// ListServices pages. Above one resync period the bucket never refills between sweeps.
pub fn sweep_read_seconds(n: u32) -> f64 {
    f64::from(n.div_ceil(10) + n.div_ceil(100).max(1)) / (0.8 * 20.0)
}

/// Column order: ecs-operator, ecs-operator on the fake, ACK.
fn column_rank(operator: &str) -> u8 {
    match operator {
        "ecs-operator" => 0,
        "ecs-operator-fake" => 1,
        _ => 2,
    }
}

fn column_title(operator: &str) -> &'static str {
    match operator {
        "ack" => "ACK v1.2.1",
        "ecs-operator-fake" => "ecs-operator on the in-memory fake AWS",
        _ => "ecs-operator",
    }
}

/// What differs on the fake, below every table that has a run on it.
const FAKE_NOTES: &str = "On the in-memory fake AWS (ecs-operator-on-fake): the operator's \
controllers, client-side token buckets (the operator's defaults: all of AWS's for the user's changes, half for resyncs and sweeps), batching and settings on the same \
kube-apiserver, with the fake AWS of the operator's tests in the same process instead of \
the SDK and moto. AWS calls are counted by the fake's call gate, one per operation: no SDK \
retries (a throttled call goes back to the operator), and a bulk listing counts once where \
AWS answers it in pages of 100 (the \"pages counted\" row counts them). With AWS's limits \
the gate applies aws-fault-proxy's buckets. CPU seconds and peak RSS include the fake; the \
fake's share (in brackets) is its memory holding the same workload in a process of its own \
(`ecs-operator-on-fake fake-only`). Restarts restart the controllers inside the process (new \
Kubernetes client, caches, buckets and metrics; the fake would not survive the process). The \
fake starts a deployment's tasks at once and completes it on the next DescribeServices.\n";

/// The ideal time for `n` new services with AWS's CreateService bucket (burst 50, refill
/// 5/s): (N − 50) / 5 seconds.
pub fn bucket_floor_seconds(n: u32) -> f64 {
    f64::from(n.saturating_sub(50)) / 5.0
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn seconds(s: f64) -> String {
    if s >= 100.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

fn ratio_text(r: Option<f64>) -> String {
    r.map_or_else(|| "–".into(), |r| format!("{r:.2}"))
}

/// One row: the figure and one cell per operator, plus the ratio.
struct Row {
    figure: String,
    cells: Vec<String>,
    ratio: Option<f64>,
}

/// The Markdown tables of `results`: one per (N, mode).
pub fn render(results: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Machine: {} ({}). Profile: {}. Commit {}{}. Concurrency {} and resync {} s for both; \
         steady state over {} resync periods; {} task definition edits; {} restarts.\n",
        results.machine.name,
        results.machine.describe(),
        results.profile,
        short(&results.git_commit),
        if results.git_dirty {
            " (with uncommitted changes)"
        } else {
            ""
        },
        results.config.concurrency,
        results.config.resync_seconds,
        results.config.steady_periods,
        results.config.edits,
        results.config.restarts,
    );
    // By N, then unlimited before aws-limits.
    let mut groups: BTreeMap<(u32, bool, String), Vec<&RunResult>> = BTreeMap::new();
    for r in &results.runs {
        groups
            .entry((r.n, r.mode == "aws-limits", r.mode.clone()))
            .or_default()
            .push(r);
    }
    for ((n, _, mode), mut runs) in groups {
        runs.sort_by_key(|r| column_rank(&r.operator));
        let on_fake = runs.iter().any(|r| r.operator == "ecs-operator-fake");
        let only_fake = runs.iter().all(|r| r.operator == "ecs-operator-fake");
        let mode_text = match (mode == "aws-limits", only_fake, on_fake) {
            (true, true, _) => format!(
                "AWS's token buckets enforced by the fake AWS (CreateService floor (N − 50)/5 = {})",
                seconds(bucket_floor_seconds(n))
            ),
            (true, false, with_fake) => format!(
                "AWS's token buckets enforced by the proxy{} (CreateService floor (N − 50)/5 = {})",
                if with_fake { " or the fake AWS" } else { "" },
                seconds(bucket_floor_seconds(n))
            ),
            (false, true, _) => "no AWS limits (the fake AWS never throttles)".to_string(),
            (false, false, _) => "no AWS limits (moto never throttles)".to_string(),
        };
        let _ = writeln!(
            out,
            "**N = {} services** over {} task definitions, {}:\n",
            thousands(u64::from(n)),
            runs.first().map_or(0, |r| r.task_defs),
            mode_text
        );
        let both = is_pair(&runs);
        let mut header = "| figure |".to_string();
        let mut rule = "|---|".to_string();
        for r in &runs {
            let title = column_title(&r.operator);
            let _ = write!(header, " {title} |");
            rule.push_str("---|");
        }
        if both {
            header.push_str(" ecs-operator ÷ ACK |");
            rule.push_str("---|");
        }
        let _ = writeln!(out, "{header}\n{rule}");
        for row in rows(&runs, &mode, results.config.restarts) {
            let _ = write!(out, "| {} |", row.figure);
            for c in &row.cells {
                let _ = write!(out, " {c} |");
            }
            if both {
                let _ = write!(out, " {} |", ratio_text(row.ratio));
            }
            out.push('\n');
        }
        out.push('\n');
        if on_fake {
            let _ = writeln!(out, "{FAKE_NOTES}");
        }
    }
    out
}

/// Whether `runs` is ecs-operator (on moto) next to ACK: the ratio column.
fn is_pair(runs: &[&RunResult]) -> bool {
    runs.len() == 2 && runs[0].operator == "ecs-operator" && runs[1].operator == "ack"
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// The rows of one table; `runs` is ecs-operator first when both are there.
fn rows(runs: &[&RunResult], mode: &str, restarts: u32) -> Vec<Row> {
    let objects = runs.first().map_or(0, |r| r.objects);
    let n = runs.first().map_or(0, |r| r.n);
    let on_fake = runs.iter().any(|r| r.operator == "ecs-operator-fake");
    let pair = |f: &dyn Fn(&RunResult) -> Option<f64>| -> Option<f64> {
        if is_pair(runs) {
            ratio(f(runs[0]), f(runs[1]))
        } else {
            None
        }
    };
    let cells = |f: &dyn Fn(&RunResult) -> String| runs.iter().map(|r| f(r)).collect::<Vec<_>>();
    let conv_secs = |r: &RunResult| {
        r.converge
            .as_ref()
            .filter(|c| c.converged)
            .map(|c| c.seconds)
    };
    let per_object = |r: &RunResult| {
        r.converge
            .as_ref()
            .filter(|c| c.converged)
            .map(|c| c.phase.aws_calls as f64 / f64::from(r.objects.max(1)))
    };
    let steady = |r: &RunResult| r.steady.as_ref().map(|s| s.calls_per_object_per_resync);
    let cpu_create = |r: &RunResult| r.converge.as_ref().map(|c| c.phase.cpu_seconds);
    let cpu_steady = |r: &RunResult| r.steady.as_ref().map(|s| s.phase.cpu_seconds);
    let p50 = |r: &RunResult| r.edit.as_ref().and_then(|e| e.p50_seconds);
    let mut rows = Vec::new();

    rows.push(Row {
        figure: format!(
            "apply → all {} objects ready and in AWS",
            thousands(u64::from(objects))
        ),
        cells: cells(&|r| match &r.converge {
            Some(c) if c.converged => seconds(c.seconds),
            Some(c) => format!("not within {} ({} ready)", seconds(c.seconds), c.ready),
            None => failed(r),
        }),
        ratio: pair(&conv_secs),
    });
    if mode == "aws-limits" {
        let floor = bucket_floor_seconds(n);
        rows.push(Row {
            figure: "… ÷ the bucket floor".into(),
            cells: cells(&|r| {
                conv_secs(r)
                    .filter(|_| floor > 0.0)
                    .map_or_else(|| "–".into(), |s| format!("{:.2}×", s / floor))
            }),
            ratio: None,
        });
        rows.push(Row {
            figure: "calls throttled by the buckets during creation".into(),
            cells: cells(&|r| {
                r.converge
                    .as_ref()
                    .map_or_else(|| "–".into(), |c| thousands(c.phase.throttled))
            }),
            ratio: None,
        });
    }
    rows.push(Row {
        figure: "AWS calls to converge (per object)".into(),
        cells: cells(&|r| match &r.converge {
            Some(c) => format!(
                "{} ({:.2})",
                thousands(c.phase.aws_calls),
                c.phase.aws_calls as f64 / f64::from(r.objects.max(1))
            ),
            None => failed(r),
        }),
        ratio: pair(&per_object),
    });
    rows.push(Row {
        figure: "steady state: AWS calls per object per resync (writes)".into(),
        cells: cells(&|r| match &r.steady {
            Some(s) if s.phase.throttled > 0 => format!(
                "{:.2} ({} writes, {} throttled)",
                s.calls_per_object_per_resync,
                thousands(s.phase.writes),
                thousands(s.phase.throttled)
            ),
            Some(s) => format!(
                "{:.2} ({} writes)",
                s.calls_per_object_per_resync,
                thousands(s.phase.writes)
            ),
            None => failed(r),
        }),
        ratio: pair(&steady),
    });
    if on_fake {
        rows.push(Row {
            figure: "… with bulk listings counted in pages of 100, as AWS answers them".into(),
            cells: cells(&|r| {
                if r.operator == "ecs-operator-fake" {
                    paged_steady_calls_per_object(r)
                        .map_or_else(|| failed(r), |x| format!("{x:.2}"))
                } else {
                    "(as above)".into()
                }
            }),
            ratio: None,
        });
    }
    let steady_secs = runs
        .iter()
        .find_map(|r| r.steady.as_ref().map(|s| s.phase.seconds))
        .unwrap_or(0.0);
    rows.push(Row {
        figure: format!("CPU seconds, creation / {} steady", seconds(steady_secs)),
        cells: cells(&|r| match (cpu_create(r), cpu_steady(r)) {
            (Some(c), Some(s)) => format!("{c:.2} / {s:.2}"),
            (Some(c), None) => format!("{c:.2} / –"),
            _ => failed(r),
        }),
        ratio: pair(&|r| Some(cpu_create(r)? + cpu_steady(r)?)),
    });
    rows.push(Row {
        figure: "peak RSS".into(),
        cells: cells(&|r| match (r.peak_rss_mib, &r.fake_state) {
            (Some(m), Some(f)) => format!("{m:.1} MiB (fake AWS's share {:.1} MiB)", f.fake_mib),
            (Some(m), None) => format!("{m:.1} MiB"),
            (None, _) => failed(r),
        }),
        ratio: pair(&|r| r.peak_rss_mib),
    });
    rows.push(Row {
        figure: "task definition edit → its services on the new revision, p50 / max".into(),
        cells: cells(&|r| match &r.edit {
            Some(e) => match (e.p50_seconds, e.max_seconds) {
                (Some(p), Some(m)) if e.not_rolled == 0 => {
                    format!("{} / {}", seconds(p), seconds(m))
                }
                (Some(p), Some(m)) => format!(
                    "{} / {} ({} of {} never within {} s)",
                    seconds(p),
                    seconds(m),
                    e.not_rolled,
                    e.services,
                    e.timeout_seconds
                ),
                _ => format!("never within {} s", e.timeout_seconds),
            },
            None => failed(r),
        }),
        ratio: pair(&p50),
    });
    rows.push(Row {
        figure: format!("revisions registered over {restarts} restarts"),
        cells: cells(&|r| match &r.restarts {
            Some(x) if x.incomplete > 0 => format!(
                "{} ({} restarts not fully re-synced)",
                thousands(x.revisions_registered),
                x.incomplete
            ),
            Some(x) => thousands(x.revisions_registered),
            None => failed(r),
        }),
        ratio: None,
    });
    rows.push(Row {
        figure: if on_fake {
            "own AWS call metric ÷ proxy's (fake's) count, creation".into()
        } else {
            "own AWS call metric ÷ proxy count, creation".into()
        },
        cells: cells(&|r| {
            r.converge
                .as_ref()
                .and_then(|c| ratio(c.phase.own_metric_calls, Some(c.phase.aws_calls as f64)))
                .map_or_else(|| "–".into(), |x| format!("{x:.2}"))
        }),
        ratio: None,
    });
    rows.push(Row {
        figure: "wall time of the run (load average at its start)".into(),
        cells: cells(&|r| {
            let m = (r.wall_seconds / 60.0).floor();
            format!(
                "{m:.0} min {:.0} s ({:.2})",
                r.wall_seconds - m * 60.0,
                r.load_at_start
            )
        }),
        ratio: None,
    });
    rows
}

fn failed(r: &RunResult) -> String {
    if r.error.is_some() {
        "failed (see JSON)".into()
    } else {
        "–".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_nearest_rank() {
        let v = [0.5, 0.1, 0.9, 0.3];
        assert_eq!(percentile(&v, 50.0), Some(0.3));
        assert_eq!(percentile(&v, 100.0), Some(0.9));
        assert_eq!(percentile(&v, 0.0), Some(0.1));
        assert_eq!(percentile(&[2.0], 50.0), Some(2.0));
        assert_eq!(percentile(&[], 50.0), None);
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&ten, 50.0), Some(5.0));
        assert_eq!(percentile(&ten, 90.0), Some(9.0));
    }

    #[test]
    fn ratios() {
        assert_eq!(ratio(Some(3.0), Some(2.0)), Some(1.5));
        assert_eq!(ratio(Some(3.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(2.0)), None);
        assert_eq!(bucket_floor_seconds(1000), 190.0);
        assert_eq!(bucket_floor_seconds(10), 0.0);
        // 1,000 DescribeServices + 100 ListServices pages at 16 a second.
        assert!((sweep_read_seconds(10_000) - 68.75).abs() < 1e-9);
        assert!(sweep_read_seconds(1_000) < 30.0);
        assert_eq!(thousands(2093), "2,093");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }

    fn run(op: &str, conv: f64, calls: u64, p50: Option<f64>) -> RunResult {
        RunResult {
            operator: op.into(),
            operator_version: "x".into(),
            n: 100,
            task_defs: 10,
            objects: 111,
            mode: "unlimited".into(),
            wall_seconds: 125.0,
            load_at_start: 0.0,
            error: None,
            converge: Some(Converge {
                converged: true,
                seconds: conv,
                ready: 111,
                phase: Phase {
                    aws_calls: calls,
                    cpu_seconds: 1.0,
                    ..Phase::default()
                },
            }),
            steady: Some(Steady {
                periods: 3,
                calls_per_object_per_resync: 0.5,
                phase: Phase {
                    seconds: 90.0,
                    cpu_seconds: 1.0,
                    ..Phase::default()
                },
            }),
            peak_rss_mib: Some(40.0),
            edit: Some(Edit {
                edits: 1,
                services: 10,
                latencies_seconds: vec![],
                not_rolled: if p50.is_some() { 0 } else { 10 },
                timeout_seconds: 60,
                p50_seconds: p50,
                max_seconds: p50,
            }),
            restarts: Some(Restarts {
                restarts: 10,
                ..Restarts::default()
            }),
            fake_state: None,
        }
    }

    fn results(runs: Vec<RunResult>) -> Results {
        Results {
            started_at: "2026-01-01T00:00:00Z".into(),
            git_commit: "0123456789abcdef".into(),
            git_dirty: false,
            profile: "release".into(),
            machine: Machine {
                name: "m".into(),
                nproc: 2,
                memory_gib: 23.0,
                cpu_model: "cpu".into(),
                load_at_start: 0.1,
            },
            config: Config {
                concurrency: 4,
                resync_seconds: 30,
                steady_periods: 3,
                settle_seconds: 5,
                edits: 1,
                edit_timeout_seconds: 60,
                restarts: 10,
                desired_count: 1,
            },
            runs,
        }
    }

    #[test]
    fn table_with_ratios() {
        let text = render(&results(vec![
            run("ack", 20.0, 222, None),
            run("ecs-operator", 10.0, 111, Some(0.5)),
        ]));
        assert!(text.contains("| figure | ecs-operator | ACK v1.2.1 | ecs-operator ÷ ACK |"));
        assert!(
            text.contains("| apply → all 111 objects ready and in AWS | 10.0 s | 20.0 s | 0.50 |")
        );
        assert!(text
            .contains("| AWS calls to converge (per object) | 111 (1.00) | 222 (2.00) | 0.50 |"));
        assert!(text.contains("| 0.5 s / 0.5 s | never within 60 s | – |"));
        assert!(text.contains(
            "| wall time of the run (load average at its start) | 2 min 5 s (0.00) | 2 min 5 s (0.00) |"
        ));
    }

    #[test]
    fn unlimited_before_aws_limits() {
        let mut limited = run("ecs-operator", 12.0, 111, Some(0.5));
        limited.mode = "aws-limits".into();
        let text = render(&results(vec![
            limited,
            run("ecs-operator", 10.0, 111, Some(0.5)),
        ]));
        let unlimited_at = text.find("no AWS limits").unwrap();
        let limited_at = text.find("token buckets enforced").unwrap();
        assert!(unlimited_at < limited_at);
        assert!(text.contains("floor (N − 50)/5 = 10.0 s"));
        assert!(text.contains("| … ÷ the bucket floor | 1.20× |"));
    }

    #[test]
    fn table_of_one_operator_has_no_ratio() {
        let text = render(&results(vec![run("ecs-operator", 10.0, 111, Some(0.5))]));
        assert!(text.contains("| figure | ecs-operator |\n|---|---|\n"));
        assert!(!text.contains("÷ ACK"));
    }

    #[test]
    fn the_fake_has_its_own_column_and_notes() {
        let mut fake = run("ecs-operator-fake", 10.0, 111, Some(0.5));
        fake.n = 1000;
        fake.task_defs = 100;
        fake.objects = 1101;
        fake.fake_state = Some(FakeState {
            fake_mib: 12.5,
            ..FakeState::default()
        });
        if let Some(s) = fake.steady.as_mut() {
            s.phase.aws_calls = 330;
            s.phase
                .calls_by_operation
                .insert("ecs:ListServices".into(), 3);
            s.phase
                .calls_by_operation
                .insert("ecs:ListTaskDefinitions".into(), 3);
        }
        // 330 + 3 × 9 + 3 × 0 = 357 calls over 1101 objects and 3 periods.
        let paged = paged_steady_calls_per_object(&fake).unwrap();
        assert!((paged - 357.0 / 1101.0 / 3.0).abs() < 1e-9);
        let mut moto = run("ecs-operator", 10.0, 111, Some(0.5));
        moto.n = 1000;
        let text = render(&results(vec![fake, moto]));
        assert!(text.contains(
            "| figure | ecs-operator | ecs-operator on the in-memory fake AWS |\n|---|---|---|\n"
        ));
        assert!(!text.contains("÷ ACK"), "no ratio between ours and ours");
        assert!(text.contains("| 40.0 MiB | 40.0 MiB (fake AWS's share 12.5 MiB) |"));
        assert!(text.contains("| (as above) | 0.11 |"));
        assert!(text.contains("On the in-memory fake AWS"));
        let only = render(&results(vec![run("ecs-operator-fake", 10.0, 111, None)]));
        assert!(only.contains("no AWS limits (the fake AWS never throttles)"));
    }

    #[test]
    fn results_round_trip() {
        let r = results(vec![run("ecs-operator", 10.0, 111, Some(0.5))]);
        let json = serde_json::to_string(&r).unwrap();
        let back: Results = serde_json::from_str(&json).unwrap();
        assert_eq!(render(&back), render(&r));
    }
}
