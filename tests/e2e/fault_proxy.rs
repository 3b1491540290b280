//! tools/aws-fault-proxy driven from the end-to-end suites: started in front of the
//! sandbox's moto, its rules changed at run time, its summary and call record read back.

#![allow(dead_code)] // each test crate uses a different part

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::harness::{self, http_request, Sandbox};

/// tools/aws-fault-proxy in front of moto; SIGTERMed (it prints its table) when dropped.
pub struct FaultProxy {
    child: Child,
    port: u16,
    record: PathBuf,
}

impl FaultProxy {
    pub fn start(sb: &Sandbox, name: &str, rules: &Value, seed: u64) -> FaultProxy {
        let rules_file = sb.dir.join(format!("proxy-{name}-rules.json"));
        std::fs::write(&rules_file, rules.to_string()).expect("write proxy rules");
        let record = sb.dir.join(format!("proxy-{name}.jsonl"));
        let log =
            std::fs::File::create(sb.dir.join(format!("proxy-{name}.log"))).expect("proxy log");
        let mut child = Command::new(proxy_binary())
            .args(["--listen", "127.0.0.1:0", "--upstream", sb.aws_endpoint()])
            .arg("--rules")
            .arg(&rules_file)
            .args(["--seed", &seed.to_string()])
            .arg("--record")
            .arg(&record)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start aws-fault-proxy");
        let mut stdout = BufReader::new(child.stdout.take().expect("proxy stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read proxy stdout");
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("aws-fault-proxy did not say `listening on ADDR`: {line:?}")
            });
        // The rest of stdout (the table printed at exit) goes to a file.
        let out = sb.dir.join(format!("proxy-{name}.out"));
        std::thread::spawn(move || {
            if let Ok(mut f) = std::fs::File::create(out) {
                let _ = std::io::copy(&mut stdout, &mut f);
            }
        });
        FaultProxy {
            child,
            port,
            record,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn summary(&self) -> Value {
        let (code, body) =
            http_request(self.port, "GET", "/__proxy/summary", "").expect("GET /__proxy/summary");
        assert_eq!(code, 200, "GET /__proxy/summary: {body}");
        serde_json::from_str(&body).expect("proxy summary JSON")
    }

    pub fn set_rules(&self, rules: &Value) {
        let (code, body) = http_request(self.port, "PUT", "/__proxy/rules", &rules.to_string())
            .expect("PUT /__proxy/rules");
        assert_eq!(code, 200, "PUT /__proxy/rules: {body}");
    }

    /// Every call so far, as recorded (`--record`).
    pub fn record(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The proxy binary next to this test's (`target/<profile>/aws-fault-proxy`; `cargo test
/// --workspace` builds it). Built here when missing or older than its sources, e.g. when
/// only this test target was asked for.
pub fn proxy_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("test binary directory").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join("aws-fault-proxy");
    let src = harness::root().join("tools/aws-fault-proxy");
    let newest_source = newest_mtime(&src.join("src"))
        .into_iter()
        .chain(newest_mtime(&src.join("Cargo.toml")))
        .max();
    let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
    if built.is_none() || newest_source > built {
        let target_dir = dir.parent().expect("target dir");
        let mut cargo = Command::new(option_env!("CARGO").unwrap_or("cargo"));
        cargo
            .args(["build", "-p", "aws-fault-proxy", "--bin", "aws-fault-proxy"])
            .arg("--target-dir")
            .arg(target_dir)
            .current_dir(harness::root());
        if dir.ends_with("release") {
            cargo.arg("--release");
        }
        eprintln!("building {} ({cargo:?})", bin.display());
        let status = cargo.status().expect("run cargo build");
        assert!(status.success(), "cargo build -p aws-fault-proxy failed");
    }
    bin
}

fn newest_mtime(path: &Path) -> Option<std::time::SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_file() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| newest_mtime(&e.path()))
        .max()
}
