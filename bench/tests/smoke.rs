//! The benchmark's smoke runs against a real sandbox, so a broken harness shows in
//! `cargo test --workspace` and not only when someone runs the hour-long benchmark:
//! `ecs-bench --smoke` (N = 10, ecs-operator on moto, no AWS limits, short phases) and
//! `ecs-bench --smoke-fake` (N = 20, ecs-operator-on-fake with AWS's buckets, the same
//! phases; its binary is one of this package's, built for these tests). The two run at
//! the same time, each on its own sandbox, in about 30 s.
//!
//! It uses the ecs-operator and aws-fault-proxy binaries the same `cargo test --workspace`
//! build put beside ecs-bench (their packages have integration tests, so cargo builds
//! them), and lets ecs-bench build them only when they are missing or older than their
//! sources (e.g. `cargo test -p bench` alone). ACK is left out: building it takes 1.5 to
//! 4 minutes on 2 cores, more than the smoke run is worth.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

fn root() -> PathBuf {
    // `cargo test` sets it for this checkout; a cached binary may have another baked in.
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// The newest modification time of the files under `dir`.
fn newest(dir: &Path) -> Option<SystemTime> {
    let mut latest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let t = if path.is_dir() {
            newest(&path)
        } else {
            entry.metadata().and_then(|m| m.modified()).ok()
        };
        latest = latest.max(t);
    }
    latest
}

/// Whether `bin` exists and is newer than every source under `sources`.
fn fresh(bin: &Path, sources: &[PathBuf]) -> bool {
    let Ok(built) = std::fs::metadata(bin).and_then(|m| m.modified()) else {
        return false;
    };
    sources.iter().filter_map(|s| newest(s)).all(|t| t <= built)
}

#[test]
fn smoke_run_converges_and_writes_results() {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_ecs-bench"));
    let bin_dir = bench.parent().expect("ecs-bench's directory").to_path_buf();
    let root = root();
    let up_to_date = fresh(
        &bin_dir.join("ecs-operator"),
        &[root.join("src"), root.join("Cargo.toml")],
    ) && fresh(
        &bin_dir.join("aws-fault-proxy"),
        &[root.join("tools/aws-fault-proxy/src")],
    );
    let work = std::env::temp_dir().join(format!("ecs-bench-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let mut cmd = Command::new(&bench);
    cmd.arg("--smoke").arg("--work-dir").arg(&work);
    if up_to_date {
        cmd.arg("--no-build");
    }
    let status = cmd.status().expect("run ecs-bench");
    assert!(
        status.success(),
        "ecs-bench --smoke failed; logs in {}",
        work.display()
    );

    let text = std::fs::read_to_string(work.join("results.json")).expect("results.json");
    let results: serde_json::Value = serde_json::from_str(&text).expect("results JSON");
    let run = &results["runs"][0];
    assert_eq!(run["operator"], "ecs-operator");
    assert_eq!(run["objects"], 12);
    assert_eq!(run["converge"]["converged"], true);
    assert!(run["converge"]["phase"]["aws_calls"].as_u64() > Some(0));
    assert!(run["steady"]["calls_per_object_per_resync"].is_number());
    assert!(run["peak_rss_mib"].as_f64() > Some(0.0));
    assert_eq!(run["edit"]["services"], 10);
    assert_eq!(run["restarts"]["restarts"], 2);
    let md = std::fs::read_to_string(work.join("results.md")).expect("results.md");
    assert!(md.contains("| apply → all 12 objects ready and in AWS |"));
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn fake_smoke_run_converges_and_writes_results() {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_ecs-bench"));
    // cargo builds a package's binaries for its integration tests: this one is fresh.
    let fake = PathBuf::from(env!("CARGO_BIN_EXE_ecs-operator-on-fake"));
    assert_eq!(
        fake.parent(),
        bench.parent(),
        "ecs-bench looks beside itself"
    );
    let work = std::env::temp_dir().join(format!("ecs-bench-smoke-fake-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let status = Command::new(&bench)
        .arg("--smoke-fake")
        .arg("--no-build")
        .arg("--work-dir")
        .arg(&work)
        .status()
        .expect("run ecs-bench");
    assert!(
        status.success(),
        "ecs-bench --smoke-fake failed; logs in {}",
        work.display()
    );

    let text = std::fs::read_to_string(work.join("results.json")).expect("results.json");
    let results: serde_json::Value = serde_json::from_str(&text).expect("results JSON");
    let run = &results["runs"][0];
    assert_eq!(run["operator"], "ecs-operator-fake");
    assert_eq!(run["mode"], "aws-limits");
    assert_eq!(run["objects"], 23);
    assert_eq!(run["converge"]["converged"], true);
    let calls = &run["converge"]["phase"]["calls_by_operation"];
    assert_eq!(calls["ecs:CreateService"], 20, "one create per service");
    assert_eq!(
        run["converge"]["phase"]["own_metric_calls"].as_f64(),
        run["converge"]["phase"]["aws_calls"].as_f64()
    );
    assert_eq!(run["steady"]["phase"]["writes"], 0);
    assert_eq!(run["edit"]["not_rolled"], 0);
    assert_eq!(run["restarts"]["restarts"], 2);
    assert_eq!(run["restarts"]["revisions_registered"], 0);
    assert!(run["fake_state"]["fake_mib"].as_f64() > Some(0.0));
    let md = std::fs::read_to_string(work.join("results.md")).expect("results.md");
    assert!(md.contains("| figure | ecs-operator on the in-memory fake AWS |"));
    let _ = std::fs::remove_dir_all(&work);
}
